/*
 * test_attn.c — engine/kernels/attn.c, at every instruction set: one head's scores and value sums over an F16 cache against a double-precision
 * loop, and the grouped-query versions (several query heads sharing a key/value head) bitwise equal to calling
 * the one-head functions per head, for head sizes with and without vector tails and groups split in fours.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kernels/kern_impl.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static float rnd(void) { /* uniform in [-1, 1) */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

/* A cache of n rows, `stride` F16 values apart, and g query heads of hd values. */
typedef struct {
    uint16_t *k, *v;
    float *q;
} at_data_t;

static at_data_t at_make(int32_t n, size_t stride, int32_t g, int32_t hd) {
    at_data_t d = {malloc(sizeof(uint16_t) * stride * (size_t)n), malloc(sizeof(uint16_t) * stride * (size_t)n),
                   malloc(sizeof(float) * (size_t)g * (size_t)hd)};
    assert_true(d.k && d.v && d.q);
    for (size_t i = 0; i < stride * (size_t)n; i++) {
        d.k[i] = kern_fp32_to_fp16(rnd());
        d.v[i] = kern_fp32_to_fp16(rnd());
    }
    for (int32_t i = 0; i < g * hd; i++)
        d.q[i] = rnd();
    return d;
}

static void at_free(at_data_t *d) {
    free(d->k);
    free(d->v);
    free(d->q);
}

/* attn_scores, then kern_softmax, and attn_accum against the same computation in double precision. */
static void test_one_head(void **state) {
    (void)state;
    const int32_t hd = 64, n = 37;
    const size_t stride = 3 * 64; /* rows hold 3 heads; this one starts at column 64 */
    at_data_t d = at_make(n, stride, 1, hd);
    float scores[37], out[64];
    const float scale = 0.125f;
    kern_attn_scores(d.q, d.k + 64, stride, n, hd, scale, scores);
    double ref[37], mx = -INFINITY, sum = 0.0;
    for (int32_t t = 0; t < n; t++) {
        double s = 0.0;
        for (int32_t i = 0; i < hd; i++)
            s += (double)d.q[i] * kern_fp16_to_fp32(d.k[(size_t)t * stride + 64 + (size_t)i]);
        ref[t] = s * scale;
        assert_true(fabs(scores[t] - ref[t]) <= 1e-5 * (1.0 + fabs(ref[t])));
        if (ref[t] > mx) mx = ref[t];
    }
    kern_softmax(scores, n);
    for (int32_t t = 0; t < n; t++)
        sum += exp(ref[t] - mx);
    for (int32_t t = 0; t < n; t++)
        assert_true(fabs(scores[t] - exp(ref[t] - mx) / sum) <= 1e-6);
    memset(out, 0, sizeof out);
    kern_attn_accum(scores, d.v + 64, stride, n, hd, out);
    for (int32_t i = 0; i < hd; i++) {
        double s = 0.0;
        for (int32_t t = 0; t < n; t++)
            s += (double)scores[t] * kern_fp16_to_fp32(d.v[(size_t)t * stride + 64 + (size_t)i]);
        assert_true(fabs(out[i] - s) <= 1e-5);
    }
    at_free(&d);
}

/* attn_scores_heads / attn_accum_heads == the one-head functions per head, bit for bit. */
static void test_heads_equal_per_head(void **state) {
    (void)state;
    static const int32_t hds[] = {64, 128, 80, 24, 20};
    static const int32_t ns[] = {1, 5, 16, 33};
    for (size_t hi = 0; hi < sizeof hds / sizeof hds[0]; hi++)
        for (int32_t g = 1; g <= 9; g++)
            for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
                const int32_t hd = hds[hi], n = ns[ni];
                const size_t stride = (size_t)hd * 2 + 8, ss = 40; /* scores rows 40 apart (n <= 33) */
                at_data_t d = at_make(n, stride, g, hd);
                float *s1 = calloc((size_t)g * ss, sizeof(float)), *s2 = calloc((size_t)g * ss, sizeof(float));
                float *o1 = malloc(sizeof(float) * (size_t)g * (size_t)hd);
                float *o2 = malloc(sizeof(float) * (size_t)g * (size_t)hd);
                assert_true(s1 && s2 && o1 && o2);
                const uint16_t *k = d.k + hd, *v = d.v + hd; /* the second head of the cache rows */
                for (int32_t h = 0; h < g; h++)
                    kern_attn_scores(d.q + (size_t)h * hd, k, stride, n, hd, 0.3f, s1 + (size_t)h * ss);
                kern_attn_scores_heads(d.q, g, k, stride, n, hd, 0.3f, s2, ss);
                assert_memory_equal(s1, s2, sizeof(float) * (size_t)g * ss);
                for (int32_t h = 0; h < g; h++)
                    kern_softmax(s1 + (size_t)h * ss, n);
                memcpy(s2, s1, sizeof(float) * (size_t)g * ss);
                for (int32_t i = 0; i < g * hd; i++)
                    o1[i] = o2[i] = rnd(); /* accumulates onto what is there */
                for (int32_t h = 0; h < g; h++)
                    kern_attn_accum(s1 + (size_t)h * ss, v, stride, n, hd, o1 + (size_t)h * hd);
                kern_attn_accum_heads(s2, ss, g, v, stride, n, hd, o2);
                assert_memory_equal(o1, o2, sizeof(float) * (size_t)g * (size_t)hd);
                free(s1);
                free(s2);
                free(o1);
                free(o2);
                at_free(&d);
            }
}

/* attn_round_f16 (F16C where present) == the portable conversions, including ties, tiny, huge and special values. */
static void test_round_f16(void **state) {
    (void)state;
    enum { N = 4099 };
    float *x = malloc(sizeof(float) * N), *want = malloc(sizeof(float) * N);
    assert_true(x && want);
    for (int i = 0; i < N; i++) {
        const float scale = (i % 7 == 0) ? 1e-6f : (i % 11 == 0) ? 7e4f : 3.0f;
        x[i] = rnd() * scale;
    }
    x[0] = 1.0f + 1.0f / 2048.0f; /* a tie: rounds to even (1.0) */
    x[1] = 1.0f + 3.0f / 2048.0f; /* a tie: rounds up */
    x[2] = 65520.0f;              /* overflows to infinity */
    x[3] = -0.0f;
    x[4] = INFINITY;
    x[5] = 5.9604645e-8f; /* the smallest F16 subnormal */
    for (int i = 0; i < N; i++)
        want[i] = kern_fp16_to_fp32(kern_fp32_to_fp16(x[i]));
    kern_attn_round_f16(x, N);
    assert_memory_equal(x, want, sizeof(float) * N);
    assert_true(x[0] == 1.0f && isinf(x[2]) && signbit(x[3]));
    free(x);
    free(want);
}

static int isa_level;
static int force_isa(void **state) {
    (void)state;
    return kern__force_isa(isa_level) == isa_level ? 0 : -1;
}

/* The same tests at every instruction set this CPU has (portable C, AVX2, AVX-512 VNNI tables). */
int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_head),
        cmocka_unit_test(test_heads_equal_per_head),
        cmocka_unit_test(test_round_f16),
    };
    static const char *const names[] = {"attn (scalar)", "attn (avx2)", "attn (avx512vnni)"};
    int failed = 0;
    for (isa_level = 0; isa_level <= kern__cpu_isa(); isa_level++)
        failed += cmocka_run_group_tests_name(names[isa_level], tests, force_isa, NULL);
    return failed;
}
