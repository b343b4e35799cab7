/* json_flat.h - a scanner of the flat JSON objects alig writes (a sweep cell's result.json, the
 * records of a training run's log.jsonl). Internal to the library: not installed, not exported. */
#ifndef ALIG_JSON_FLAT_H
#define ALIG_JSON_FLAT_H

/* Called for every member of the object's top level: for a number or null, num holds it (NAN for
 * null) and str is NULL; for a string, str holds it unescaped (at most 255 bytes kept). Members
 * whose value is true, false, an object or an array are skipped without a call. */
typedef void (*alig_json_cb)(const char *key, double num, const char *str, void *ctx);

/* Scan one JSON object at *p (leading white space skipped), calling cb per member. 0 on a
 * well-formed object, -1 otherwise; *p is left after the object. */
int alig_json_object(const char **p, alig_json_cb cb, void *ctx);

/* Advance *p over spaces, tabs, carriage returns and line feeds. */
void alig_json_skip_ws(const char **p);

#endif
