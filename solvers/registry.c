/* registry.c - the list of methods and lookup by name. A new method adds one
 * line to methods.h, one handle and one entry here. */
#include <string.h>
#include "methods.h"

const alig_solver_type *const alig_solver_alig = &alig_type_alig;
const alig_solver_type *const alig_solver_polyak = &alig_type_polyak;
const alig_solver_type *const alig_solver_aprox = &alig_type_aprox;
const alig_solver_type *const alig_solver_sgd = &alig_type_sgd;
const alig_solver_type *const alig_solver_sps = &alig_type_sps;

const alig_solver_type *const alig_solver_types[] = {
    &alig_type_alig, &alig_type_polyak, &alig_type_aprox, &alig_type_sgd, &alig_type_sps, NULL,
};

const alig_solver_type *alig_solver_type_find(const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; alig_solver_types[i]; i++)
        if (strcmp(alig_solver_types[i]->name, name) == 0) return alig_solver_types[i];
    return NULL;
}
