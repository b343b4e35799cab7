/* augment.c - cost of the image task's augmentation (random crop with padding 4 and horizontal
 * flip, include/alig/vision.h): milliseconds to produce a batch of B 3x32x32 images with and
 * without it, on a synthetic CIFAR-10 directory written here. The difference is what the
 * augmentation adds to each training step; compare it with the step time of the model
 * (bench/densenet_vs_torch.sh prints both).
 * Usage: augment [B] [BATCHES]   (defaults 128, 200) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alig/task.h"
#include "bench/bench_util.h"

int main(int argc, char **argv)
{
    const int B = argc > 1 ? atoi(argv[1]) : 128, K = argc > 2 ? atoi(argv[2]) : 200;
    if (B < 1 || K < 1) return 2;
    char dir[256];
    snprintf(dir, sizeof dir, "/tmp/alig_bench_aug_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    /* 5 x 1000 training records and 100 test records of seeded pseudo-random bytes */
    unsigned long long z = 12345;
    unsigned char rec[3073];
    for (int f = 1; f <= 6; f++) {
        char p[400];
        if (f <= 5) snprintf(p, sizeof p, "%s/data_batch_%d.bin", dir, f);
        else snprintf(p, sizeof p, "%s/test_batch.bin", dir);
        FILE *fp = fopen(p, "wb");
        if (!fp) return 1;
        for (int r = 0; r < (f <= 5 ? 1000 : 100); r++) {
            for (int j = 0; j < 3073; j++) {
                z = z * 6364136223846793005ULL + 1442695040888963407ULL;
                rec[j] = (unsigned char)(z >> 56);
            }
            rec[0] %= 10;
            fwrite(rec, 1, sizeof rec, fp);
        }
        fclose(fp);
    }
    double ms[2];
    for (int aug = 0; aug < 2; aug++) {
        alig_task_image_cfg cfg = { .data = "cifar10", .data_dir = dir, .val = 500, .val_seed = 1234,
                                    .batch = (size_t)B, .augment = aug };
        alig_task *t;
        char err[1024];
        if (alig_task_image_load(&t, &cfg, err, sizeof err)) {
            fprintf(stderr, "augment: %s\n", err);
            return 1;
        }
        /* what the model does next: gather the batch into its input buffer */
        float *x = malloc((size_t)B * 3072 * sizeof *x);
        double tm[5];
        for (int rep = 0; rep < 5; rep++) {
            const double t0 = bench_now();
            for (int k = 0; k < K; k++) {
                alig_batch b;
                if (alig_task_batch(t, (uint64_t)k, &b) ||
                    alig_data_batch(b.set, b.idx, b.start, b.n, x, NULL))
                    return 1;
            }
            tm[rep] = (bench_now() - t0) * 1e3 / K;
        }
        ms[aug] = bench_median(tm, 5);
        free(x);
        alig_task_free(t);
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) return 1;
    printf("batch %d of 3x32x32: %.3f ms without augmentation, %.3f ms with, augmentation adds %.3f ms per batch\n",
           B, ms[0], ms[1], ms[1] - ms[0]);
    return 0;
}
