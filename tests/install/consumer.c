/* A ten-line program built out of tree against the installed alig package. */
#include <alig/alig.h>
#include <alig/vision.h>
#include <stdio.h>
#include <stdlib.h>
int main(void)
{
    alig_problem *p; alig_solver *s; alig_problem_spec spec = { .eps = 0.0, .seed = 7 };
    if (alig_problem_make(&p, "smooth", &spec)) return 1;
    alig_run_spec rs = { .iters = 2000, .batch = 1, .seed = 1 };
    double *w = calloc(p->dim, sizeof *w);
    int rc = alig_run(p, alig_solver_alig, NULL, &rs, NULL, NULL, w);
    double gap = alig_problem_full(p, w, NULL) - p->f_star, gap0 = alig_problem_full(p, (double[64]){ 0 }, NULL) - p->f_star;
    if (alig_solver_alloc(&s, alig_solver_alig, ALIG_F32, 4, NULL) != ALIG_SUCCESS) return 1;
    /* the model table and the SVHN reader (libmatio: a static link needs alig.pc's Requires.private) */
    char err[256];
    alig_image_set set;
    if (alig_model_type_find("densenet-bc-40-12") != alig_model_densenet) return 1;
    if (alig_svhn_read("no-such-file.mat", &set, err, sizeof err) == ALIG_SUCCESS) return 1;
    printf("alig %s: rc=%d (%s), f gap %.3g -> %.3g\n", ALIG_VERSION, rc, alig_strerror(rc), gap0, gap);
    alig_solver_free(s); alig_problem_free(p); free(w);
    return rc != ALIG_SUCCESS || !(gap < 1e-3 * gap0);
}
