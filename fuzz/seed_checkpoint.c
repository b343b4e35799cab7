/* seed_checkpoint.c - writes valid checkpoints of tiny models, the seed corpus of fuzz_checkpoint:
 *   fuzz_seed_checkpoint DIR   →  DIR/mlp-alig.ckpt (2x2 input, one hidden layer of 3, ALI-G with
 *   momentum, a 16-byte user block) and DIR/mlp0-sgd.ckpt (a linear model, SGD).
 * Uses the public API only (alig_nn_checkpoint_save); the files are a few hundred bytes. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alig/alig.h"
#include "alig/nn.h"

static int write_one(const char *dir, const char *name, int n_hidden, const alig_solver_type *type, const void *params)
{
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    alig_nn_spec spec;
    const int hidden[1] = { 3 };
    alig_nn_net *net = NULL;
    alig_solver *s = NULL;
    int rc = 1;
    if (alig_nn_mlp(&spec, 1, 2, 2, 2, n_hidden, hidden)) goto done;
    if (alig_nn_net_alloc(&net, &spec, 2, 2, 7, err, sizeof err)) { fprintf(stderr, "%s\n", err); goto done; }
    if (alig_solver_alloc(&s, type, ALIG_F32, alig_nn_net_n(net), params)) goto done;
    if (alig_solver_set(s, alig_nn_net_x(net), INFINITY)) goto done;
    const char user[16] = "epoch=3;seed=7;";
    if (alig_nn_checkpoint_save(path, net, s, params, user, sizeof user, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        goto done;
    }
    rc = 0;
done:
    alig_solver_free(s);
    alig_nn_net_free(net);
    if (rc) fprintf(stderr, "fuzz_seed_checkpoint: cannot write %s\n", path);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_seed_checkpoint DIR\n");
        return 2;
    }
    alig_params_alig pa = ALIG_PARAMS_ALIG_DEFAULT;
    pa.eta = 0.1;
    pa.momentum = 0.9;
    alig_params_sgd ps = ALIG_PARAMS_SGD_DEFAULT;
    return write_one(argv[1], "mlp-alig.ckpt", 1, alig_solver_alig, &pa) ||
           write_one(argv[1], "mlp0-sgd.ckpt", 0, alig_solver_sgd, &ps);
}
