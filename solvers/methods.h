/* methods.h - private: the type-table objects defined one per method file.
 * The public handles (alig_solver_alig, ...) point at these. */
#ifndef ALIG_SOLVERS_METHODS_H
#define ALIG_SOLVERS_METHODS_H
#include "alig/solver.h"

extern const alig_solver_type alig_type_alig;
extern const alig_solver_type alig_type_polyak;
extern const alig_solver_type alig_type_aprox;
extern const alig_solver_type alig_type_sgd;
extern const alig_solver_type alig_type_sps;

#endif
