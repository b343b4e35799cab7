/**
 * @file alig.h
 * @brief Umbrella header of libalig, the ALI-G toolkit.
 *
 * ALI-G (Berrada, Zisserman & Kumar, "Training Neural Networks for and by Interpolation",
 * ICML 2020) picks its step in closed form, γ = min(ℓ(w)/(‖∇ℓ(w)‖² + δ), η), then projects
 * onto an L2 ball. This library provides:
 *   - status.h   one status enum and alig_strerror(); the library never prints or exits;
 *   - solver.h   ALI-G and baselines as const type tables over float or double vectors;
 *   - problem.h  convex finite-sum problems with exact interpolation tolerance ε;
 *   - run.h      the reference driver: one solver on one problem, every iterate observed.
 *
 * Minimal use:
 * @code
 *   #include <alig/alig.h>
 *   alig_problem *p;  alig_solver *s;
 *   alig_problem_make(&p, "smooth", &(alig_problem_spec){ .eps = 0 });
 *   alig_solver_alloc(&s, alig_solver_alig, ALIG_F64, p->dim, NULL);
 *   double *w = calloc(p->dim, sizeof *w), *g = malloc(p->dim * sizeof *g);
 *   alig_solver_set(s, w, p->radius);
 *   for (size_t t = 0; t < 1000; t++) {
 *       size_t i = t % p->n;
 *       double loss = alig_problem_batch(p, &i, 1, w, g);
 *       if (alig_solver_step(s, loss, g)) break;
 *   }
 * @endcode
 */
#ifndef ALIG_ALIG_H
#define ALIG_ALIG_H

#define ALIG_VERSION_MAJOR 0
#define ALIG_VERSION_MINOR 1
#define ALIG_VERSION_PATCH 0
#define ALIG_VERSION "0.1.0"

#include "alig/status.h"
#include "alig/solver.h"
#include "alig/problem.h"
#include "alig/run.h"
#include "alig/data.h"
#include "alig/oscillation.h"
#include "alig/ad.h"
#include "alig/analysis.h"
#include "alig/nn.h"
#include "alig/dnc.h"
#include "alig/task.h"
#include "alig/model.h"
#include "alig/train.h"

#endif
