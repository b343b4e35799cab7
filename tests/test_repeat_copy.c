/* test_repeat_copy.c - the repeat-copy generator (include/alig/task.h) against the task's own
 * rules, checked independently of the generator's code: every batch is read back row by row,
 * L and R are recovered from the observation (where the repeat channel is set, and its value),
 * and every element of obs, targ and mask is compared with what the rules say it must be
 * (start flag, pattern rows, R/norm_max channel, zero rows, the pattern tiled R times in the
 * target, the end marker, the mask, zero padding, T = max T_b). Then the statistics (L and R
 * uniform and independent, fair bits, P(T = 9) = 1 − (3/4)^16 for the paper's setting), the
 * determinism in (seed, k), and the task row (batch k of the run is the generator's batch k,
 * whatever order the batches are asked in). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "alig/task.h"

/* Element accessors of a time-major batch. */
static float obs(const alig_seq_batch *b, int t, int s, int c) { return b->obs[((size_t)t * b->B + s) * b->in_dim + c]; }
static float targ(const alig_seq_batch *b, int t, int s, int c) { return b->targ[((size_t)t * b->B + s) * b->out_dim + c]; }
static float mask(const alig_seq_batch *b, int t, int s) { return b->mask[(size_t)t * b->B + s]; }

typedef struct stats {
    long samples, bad;
    long L_count[8], R_count[8], LR_count[8][8];
    long ones, bits;
} stats;

/* Check every element of batch b against the rules; accumulate L, R and bit counts. Returns the
 * number of violations (each also counted in st->bad). */
static long check_batch(const alig_seq_batch *b, const alig_repeat_copy_params *p, stats *st)
{
    const int W = p->num_bits;
    long bad = 0;
#define EXPECT(cond)                                                                                                   \
    do {                                                                                                               \
        if (!(cond)) bad++;                                                                                            \
    } while (0)
    EXPECT(b->B == p->batch && b->in_dim == W + 2 && b->out_dim == W + 1);
    int maxlen = 0;
    for (int s = 0; s < b->B; s++) {
        /* recover L: the one row among 1..T−1 whose repeat channel is set is row L + 1 */
        int rowR = -1, nR = 0;
        for (int t = 0; t < b->T; t++)
            if (obs(b, t, s, W + 1) != 0.0f) { rowR = t; nR++; }
        EXPECT(nR == 1 && rowR >= 2);
        if (nR != 1 || rowR < 2) continue;
        const int L = rowR - 1;
        const double rv = obs(b, rowR, s, W + 1) * p->norm_max;
        const int R = (int)lround(rv);
        EXPECT(fabs(rv - R) < 1e-5);
        EXPECT(obs(b, rowR, s, W + 1) == (float)((double)R / p->norm_max));
        EXPECT(L >= p->min_length && L <= p->max_length && R >= p->min_repeats && R <= p->max_repeats);
        const int Tb = L * (R + 1) + 3;
        EXPECT(b->len[s] == Tb);
        if (Tb > maxlen) maxlen = Tb;
        EXPECT(Tb <= b->T);
        if (Tb > b->T) continue;
        for (int t = 0; t < b->T; t++) {
            for (int c = 0; c < W + 2; c++) {
                const float v = obs(b, t, s, c);
                float want;
                if (t == 0) want = c == W ? 1.0f : 0.0f;                       /* start flag only */
                else if (t <= L) want = c < W ? v : 0.0f;                      /* pattern bits, checked below */
                else if (t == L + 1) want = c == W + 1 ? v : 0.0f;             /* repeat channel only */
                else want = 0.0f;                                              /* zero rows and padding */
                EXPECT(v == want);
                if (t >= 1 && t <= L && c < W) {
                    EXPECT(v == 0.0f || v == 1.0f);
                    st->ones += v == 1.0f;
                    st->bits++;
                }
            }
            for (int c = 0; c < W + 1; c++) {
                const float v = targ(b, t, s, c);
                float want = 0.0f;
                if (t >= L + 2 && t < L + 2 + L * R) {                         /* P tiled R times */
                    const int i = (t - (L + 2)) % L;
                    want = c < W ? obs(b, 1 + i, s, c) : 0.0f;
                } else if (t == L + 2 + L * R) {                               /* end marker */
                    want = c == W ? 1.0f : 0.0f;
                }
                EXPECT(v == want);
            }
            const float m = mask(b, t, s);
            EXPECT(m == (t >= L + 2 && t < Tb ? 1.0f : 0.0f));
        }
        st->samples++;
        if (L < 8 && R < 8) {
            st->L_count[L]++;
            st->R_count[R]++;
            st->LR_count[L][R]++;
        }
    }
    EXPECT(b->T == maxlen);                                                    /* T = max_b T_b */
#undef EXPECT
    st->bad += bad;
    return bad;
}

static void test_format_and_statistics(void)
{
    const alig_repeat_copy_params p = ALIG_REPEAT_COPY_DEFAULT;
    CU_ASSERT_EQUAL(alig_repeat_copy_max_T(&p), 9);
    alig_seq_batch b;
    CU_ASSERT_FATAL(alig_seq_batch_alloc(&b, 9, 16, 6, 5) == ALIG_SUCCESS);
    stats st = { 0 };
    const int K = 600;
    int T9 = 0;
    for (int k = 0; k < K; k++) {
        CU_ASSERT_FATAL(alig_repeat_copy_batch(&p, 7, (uint64_t)k, &b) == ALIG_SUCCESS);
        check_batch(&b, &p, &st);
        T9 += b.T == 9;
    }
    CU_ASSERT_EQUAL(st.bad, 0);
    CU_ASSERT_EQUAL(st.samples, (long)K * 16);
    /* L, R ~ U{1, 2} independently: each frequency within 5 standard deviations */
    const double N = (double)st.samples;
    for (int v = 1; v <= 2; v++) {
        CU_ASSERT(fabs(st.L_count[v] / N - 0.5) < 5 * sqrt(0.25 / N));
        CU_ASSERT(fabs(st.R_count[v] / N - 0.5) < 5 * sqrt(0.25 / N));
        for (int w = 1; w <= 2; w++) CU_ASSERT(fabs(st.LR_count[v][w] / N - 0.25) < 5 * sqrt(0.1875 / N));
    }
    CU_ASSERT(fabs((double)st.ones / (double)st.bits - 0.5) < 5 * sqrt(0.25 / (double)st.bits));
    /* P(T = 9) = 1 − (3/4)^16 ≈ 0.990: T = 9 needs one sample with L = R = 2 */
    const double q = 1.0 - pow(0.75, 16), f = (double)T9 / K;
    CU_ASSERT(fabs(f - q) < 5 * sqrt(q * (1 - q) / K) + 1e-3);
    printf("\n  %ld samples, L=1: %.4f, R=1: %.4f, bits: %.4f, P(T=9) = %.4f (expected %.4f) ", st.samples,
           st.L_count[1] / N, st.R_count[1] / N, (double)st.ones / (double)st.bits, f, q);
    alig_seq_batch_free(&b);
}

static void test_other_settings(void)
{
    /* wider patterns, longer sequences, another norm: the same rules hold, T varies */
    const alig_repeat_copy_params p = { 8, 5, 1, 5, 1, 3, 4.0 };
    const int maxT = alig_repeat_copy_max_T(&p);
    CU_ASSERT_EQUAL(maxT, 5 * 4 + 3);
    alig_seq_batch b;
    CU_ASSERT_FATAL(alig_seq_batch_alloc(&b, maxT, 5, 10, 9) == ALIG_SUCCESS);
    stats st = { 0 };
    int seenT[64] = { 0 };
    for (int k = 0; k < 400; k++) {
        CU_ASSERT_FATAL(alig_repeat_copy_batch(&p, 123456789, (uint64_t)k * 1000003u, &b) == ALIG_SUCCESS);
        check_batch(&b, &p, &st);
        seenT[b.T]++;
    }
    CU_ASSERT_EQUAL(st.bad, 0);
    for (int L = 1; L <= 5; L++) CU_ASSERT(st.L_count[L] > 0);
    for (int R = 1; R <= 3; R++) CU_ASSERT(st.R_count[R] > 0);
    int distinct = 0;
    for (int t = 0; t < 64; t++) distinct += seenT[t] > 0;
    CU_ASSERT(distinct >= 3);
    /* a negative control of the checker: a corrupted batch is caught */
    CU_ASSERT_FATAL(alig_repeat_copy_batch(&p, 1, 0, &b) == ALIG_SUCCESS);
    stats s2 = { 0 };
    b.mask[0] = 1.0f;                                       /* row 0 is never in the mask */
    CU_ASSERT(check_batch(&b, &p, &s2) > 0);
    CU_ASSERT_FATAL(alig_repeat_copy_batch(&p, 1, 0, &b) == ALIG_SUCCESS);
    b.targ[(size_t)(b.len[0] - 1) * 5 * 9 + 8] = 0.0f;      /* the end marker of sample 0 */
    stats s3 = { 0 };
    CU_ASSERT(check_batch(&b, &p, &s3) > 0);
    alig_seq_batch_free(&b);
}

static void test_determinism(void)
{
    const alig_repeat_copy_params p = ALIG_REPEAT_COPY_DEFAULT;
    alig_seq_batch a, b;
    CU_ASSERT_FATAL(alig_seq_batch_alloc(&a, 9, 16, 6, 5) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_seq_batch_alloc(&b, 12, 16, 6, 5) == ALIG_SUCCESS);   /* a larger capacity changes nothing */
    const size_t bytes = 9 * 16 * 6 * sizeof(float);
    int same_k = 0, diff_k = 0, diff_seed = 0;
    for (uint64_t k = 0; k < 50; k++) {
        alig_repeat_copy_batch(&p, 3, k, &a);
        alig_repeat_copy_batch(&p, 3, 1000 - k, &b);        /* something else in between */
        alig_repeat_copy_batch(&p, 3, k, &b);
        same_k += a.T == b.T && !memcmp(a.obs, b.obs, (size_t)a.T * 16 * 6 * sizeof(float)) &&
                  !memcmp(a.targ, b.targ, (size_t)a.T * 16 * 5 * sizeof(float)) &&
                  !memcmp(a.mask, b.mask, (size_t)a.T * 16 * sizeof(float)) && !memcmp(a.len, b.len, 16 * sizeof(int));
        alig_repeat_copy_batch(&p, 3, k + 1, &b);
        diff_k += memcmp(a.obs, b.obs, bytes) != 0;
        alig_repeat_copy_batch(&p, 4, k, &b);
        diff_seed += memcmp(a.obs, b.obs, bytes) != 0;
    }
    CU_ASSERT_EQUAL(same_k, 50);
    CU_ASSERT_EQUAL(diff_k, 50);
    CU_ASSERT_EQUAL(diff_seed, 50);
    alig_seq_batch_free(&a);
    alig_seq_batch_free(&b);
}

static void test_task_row(void)
{
    const alig_repeat_copy_params p = ALIG_REPEAT_COPY_DEFAULT;
    alig_task *t = NULL;
    CU_ASSERT_FATAL(alig_task_repeat_copy_alloc(&t, NULL, 11) == ALIG_SUCCESS);
    CU_ASSERT_PTR_EQUAL(t->type, alig_task_repeat_copy);
    CU_ASSERT_PTR_EQUAL(alig_task_type_find("repeat-copy"), alig_task_repeat_copy);
    CU_ASSERT_PTR_EQUAL(alig_task_type_find("image"), alig_task_image);
    CU_ASSERT_PTR_NULL(alig_task_type_find("copy"));
    CU_ASSERT_FALSE(t->type->finite);
    CU_ASSERT_EQUAL(t->shape.in_dim, 6);
    CU_ASSERT_EQUAL(t->shape.out_dim, 5);
    CU_ASSERT_EQUAL(t->shape.max_T, 9);
    CU_ASSERT_EQUAL(t->shape.batch, 16);
    alig_seq_batch ref;
    CU_ASSERT_FATAL(alig_seq_batch_alloc(&ref, 9, 16, 6, 5) == ALIG_SUCCESS);
    const uint64_t order[] = { 5, 2, 9, 2, 0 };
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        alig_batch bt;
        CU_ASSERT_FATAL(alig_task_batch(t, order[i], &bt) == ALIG_SUCCESS);
        CU_ASSERT_EQUAL(bt.kind, ALIG_TASK_SEQUENCE);
        CU_ASSERT_EQUAL(bt.n, 16);
        alig_repeat_copy_batch(&p, 11, order[i], &ref);
        CU_ASSERT(bt.seq->T == ref.T && !memcmp(bt.seq->obs, ref.obs, (size_t)ref.T * 16 * 6 * sizeof(float)) &&
                  !memcmp(bt.seq->targ, ref.targ, (size_t)ref.T * 16 * 5 * sizeof(float)));
    }
    char desc[512];
    CU_ASSERT(t->type->describe(t, desc, sizeof desc) < (int)sizeof desc);
    CU_ASSERT(strstr(desc, "\"num_bits\": 4") && strstr(desc, "\"seed\": 11"));
    alig_seq_batch_free(&ref);
    alig_task_free(t);
    alig_task_free(NULL);
}

static void test_errors(void)
{
    alig_repeat_copy_params p = ALIG_REPEAT_COPY_DEFAULT;
    alig_seq_batch b;
    CU_ASSERT_FATAL(alig_seq_batch_alloc(&b, 8, 16, 6, 5) == ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_repeat_copy_batch(&p, 0, 0, &b), ALIG_EBADLEN);      /* capacity 8 < 9 */
    alig_seq_batch_free(&b);
    CU_ASSERT_FATAL(alig_seq_batch_alloc(&b, 9, 16, 7, 5) == ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_repeat_copy_batch(&p, 0, 0, &b), ALIG_EBADLEN);      /* in_dim 7 != 6 */
    alig_seq_batch_free(&b);
    CU_ASSERT_EQUAL(alig_repeat_copy_batch(&p, 0, 0, NULL), ALIG_EINVAL);
    CU_ASSERT_EQUAL(alig_seq_batch_alloc(&b, 0, 16, 6, 5), ALIG_EBADLEN);
    p.min_length = 3;                                                          /* min > max */
    CU_ASSERT_EQUAL(alig_repeat_copy_check(&p), ALIG_EBADLEN);
    CU_ASSERT_EQUAL(alig_repeat_copy_max_T(&p), 0);
    alig_task *t = (alig_task *)&p;
    CU_ASSERT_EQUAL(alig_task_repeat_copy_alloc(&t, &p, 0), ALIG_EBADLEN);
    CU_ASSERT_PTR_NULL(t);
    p = (alig_repeat_copy_params)ALIG_REPEAT_COPY_DEFAULT;
    p.norm_max = 0.0;
    CU_ASSERT_EQUAL(alig_repeat_copy_check(&p), ALIG_EINVAL);
    p.norm_max = NAN;
    CU_ASSERT_EQUAL(alig_repeat_copy_check(&p), ALIG_EINVAL);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("repeat-copy", NULL, NULL);
    if (!s) { CU_cleanup_registry(); return 2; }
    CU_add_test(s, "format of 600 batches against the rules; L, R, bits, P(T=9)", test_format_and_statistics);
    CU_add_test(s, "other settings; the checker catches corruption", test_other_settings);
    CU_add_test(s, "batch k of seed s is a pure function of (s, k)", test_determinism);
    CU_add_test(s, "the task row and the task table", test_task_row);
    CU_add_test(s, "invalid settings and batch arrays", test_errors);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    const unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
