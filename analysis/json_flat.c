/* json_flat.c - the scanner of flat JSON objects that alig's own files hold (see json_flat.h). */
#include "json_flat.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void alig_json_skip_ws(const char **p)
{
    while (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r') (*p)++;
}

static int json_string(const char **p, char *out, size_t cap)
{
    if (**p != '"') return -1;
    (*p)++;
    size_t n = 0;
    for (;;) {
        char c = **p;
        if (!c) return -1;
        (*p)++;
        if (c == '"') break;
        if (c == '\\') {
            char e = **p;
            if (!e) return -1;
            (*p)++;
            switch (e) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u': {
                unsigned v = 0;
                for (int k = 0; k < 4; k++) {
                    char h = **p;
                    if (!isxdigit((unsigned char)h)) return -1;
                    v = v * 16 + (unsigned)(isdigit((unsigned char)h) ? h - '0' : tolower((unsigned char)h) - 'a' + 10);
                    (*p)++;
                }
                c = v < 128 ? (char)v : '?';
                break;
            }
            default: c = e;
            }
        }
        if (n + 1 < cap) out[n++] = c;
    }
    if (cap) out[n] = 0;
    return 0;
}

/* Skip a value that is not a number or null: a string, true, false, an object or an array (nested
 * brackets counted, strings inside skipped whole). 0, or -1 when malformed. */
static int json_skip_value(const char **p)
{
    alig_json_skip_ws(p);
    char tmp[8];
    if (**p == '"') return json_string(p, tmp, sizeof tmp);
    if (**p == '{' || **p == '[') {
        int depth = 0;
        do {
            if (**p == '"') {
                if (json_string(p, tmp, sizeof tmp)) return -1;
                continue;
            }
            if (!**p) return -1;
            if (**p == '{' || **p == '[') depth++;
            if (**p == '}' || **p == ']') depth--;
            (*p)++;
        } while (depth > 0);
        return 0;
    }
    if (!strncmp(*p, "true", 4) || !strncmp(*p, "false", 5)) {
        *p += **p == 't' ? 4 : 5;
        return 0;
    }
    return -1;
}

int alig_json_object(const char **p, alig_json_cb cb, void *ctx)
{
    alig_json_skip_ws(p);
    if (**p != '{') return -1;
    (*p)++;
    alig_json_skip_ws(p);
    if (**p == '}') {
        (*p)++;
        return 0;
    }
    for (;;) {
        char key[64], str[256];
        alig_json_skip_ws(p);
        if (json_string(p, key, sizeof key)) return -1;
        alig_json_skip_ws(p);
        if (**p != ':') return -1;
        (*p)++;
        alig_json_skip_ws(p);
        if (**p == '"') {
            if (json_string(p, str, sizeof str)) return -1;
            cb(key, NAN, str, ctx);
        } else if (!strncmp(*p, "null", 4)) {
            *p += 4;
            cb(key, NAN, NULL, ctx);
        } else if (**p == '-' || isdigit((unsigned char)**p)) {
            char *end;
            double v = strtod(*p, &end);
            if (end == *p) return -1;
            *p = end;
            cb(key, v, NULL, ctx);
        } else if (json_skip_value(p))
            return -1;
        alig_json_skip_ws(p);
        if (**p == ',') {
            (*p)++;
            continue;
        }
        if (**p == '}') {
            (*p)++;
            return 0;
        }
        return -1;
    }
}
