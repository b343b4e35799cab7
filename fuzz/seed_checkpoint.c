/* seed_checkpoint.c - writes valid training checkpoints of tiny runs, the seed corpus of
 * fuzz_checkpoint (the public API only: a task, a model, a solver and alig_train):
 *   fuzz_seed_checkpoint DIR  ->  DIR/mlp-epoch-alig.ckpt (epoch mode: a 16-3-2 MLP, two epochs of
 *   ALI-G with momentum on 12 random 4x4 images written as IDX files, with a 16-byte caller's
 *   block) and DIR/dnc-step-sgd.ckpt (step mode: a DNC with 4 hidden units, 2 memory slots of width
 *   2 and one read head on the repeat-copy task, 3 steps of SGD, a log record every 2 steps). The
 *   v1-*.ckpt seeds beside them are the same runs written by a build of checkpoint format 1. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alig/alig.h"
#include "alig/train.h"

static int write_idx(const char *path, int images, int n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return 1;
    const unsigned char hdr_img[16] = { 0, 0, 8, 3, 0, 0, 0, (unsigned char)n, 0, 0, 0, 4, 0, 0, 0, 4 };
    const unsigned char hdr_lab[8] = { 0, 0, 8, 1, 0, 0, 0, (unsigned char)n };
    fwrite(images ? hdr_img : hdr_lab, 1, images ? 16 : 8, f);
    for (int i = 0; i < n * (images ? 16 : 1); i++) fputc(images ? (i * 37 + 11) % 256 : i % 2, f);
    return fclose(f) != 0;
}

static int run(const char *dir, const char *name, alig_task *task, const char *model_name,
               const alig_solver_type *type, const void *params, const alig_train_params *tp_in)
{
    char err[1024], run_dir[512], from[600], to[600];
    snprintf(run_dir, sizeof run_dir, "%s/run-%s", dir, name);
    snprintf(from, sizeof from, "%s/checkpoint.bin", run_dir);
    snprintf(to, sizeof to, "%s/%s", dir, name);
    alig_model *model = NULL;
    alig_solver *s = NULL;
    int rc = 1;
    if (!task) goto done;
    if (alig_model_alloc(&model, model_name, NULL, task, 7, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        goto done;
    }
    if (alig_solver_alloc(&s, type, ALIG_F32, alig_model_n(model), params) ||
        alig_solver_set(s, alig_model_x(model), INFINITY))
        goto done;
    char cmd[700];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", run_dir);
    if (system(cmd) != 0) goto done;
    alig_train_params tp = *tp_in;
    tp.dir = run_dir;
    alig_train_result res;
    alig_status st = alig_train(model, task, s, params, &tp, NULL, NULL, NULL, &res);
    if (st) {
        fprintf(stderr, "%s: %s\n", alig_strerror(st), res.error);
        goto done;
    }
    rc = rename(from, to) != 0;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", run_dir);
    if (system(cmd) != 0) rc = 1;
done:
    alig_solver_free(s);
    alig_model_free(model);
    alig_task_free(task);
    if (rc) fprintf(stderr, "fuzz_seed_checkpoint: cannot write %s\n", to);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_seed_checkpoint DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    char p[4][512], err[1024];
    const char *names[4] = { "tri", "trl", "tei", "tel" };
    for (int k = 0; k < 4; k++) {
        snprintf(p[k], sizeof p[k], "%s/%s.idx", dir, names[k]);
        if (write_idx(p[k], k % 2 == 0, k < 2 ? 12 : 4)) return 1;
    }
    alig_task_image_cfg ic = { .train_images = p[0], .train_labels = p[1], .test_images = p[2], .test_labels = p[3],
                               .val = 2, .val_seed = 1, .batch = 5, .seed = 3 };
    alig_task *img = NULL;
    if (alig_task_image_load(&img, &ic, err, sizeof err)) fprintf(stderr, "%s\n", err);
    for (int k = 0; k < 4; k++) unlink(p[k]);
    alig_params_alig pa = ALIG_PARAMS_ALIG_DEFAULT;
    pa.eta = 0.1;
    pa.momentum = 0.9;
    alig_train_params te = ALIG_TRAIN_PARAMS_DEFAULT;
    te.epochs = 2;
    const char user[16] = "epoch=2;seed=3;";
    te.user = user;
    te.user_bytes = sizeof user;
    if (run(dir, "mlp-epoch-alig.ckpt", img, "mlp-3", alig_solver_alig, &pa, &te)) return 1;

    alig_task *rc = NULL;
    alig_repeat_copy_params rp = ALIG_REPEAT_COPY_DEFAULT;
    rp.batch = 2;
    if (alig_task_repeat_copy_alloc(&rc, &rp, 5)) return 1;
    alig_params_sgd ps = ALIG_PARAMS_SGD_DEFAULT;
    alig_train_params ts = ALIG_TRAIN_PARAMS_DEFAULT;
    ts.steps = 3;
    ts.log_every = 2;
    ts.checkpoint_every = 2;
    return run(dir, "dnc-step-sgd.ckpt", rc, "dnc-4-2-2-1", alig_solver_sgd, &ps, &ts);
}
