/*
 * test_kernels_ops.c — engine/kernels' thread pool and vector ops: dot, axpy, RMSNorm, SiLU, GELU, LayerNorm and
 * softmax at every ISA against double-precision loops, and the sampler's deterministic exp (kern_exp_det,
 * kern_exp_weights).
 */
#include "kern_fixture.h"

#include <stdatomic.h>
#include <time.h>

/* ---- thread pool -------------------------------------------------------------------------------------------- */

typedef struct {
    _Atomic int64_t sum;
    int seen[8];
    int nth_seen;
    int64_t round;
} pool_job_t;

static void pool_fn(void *arg, int ith, int nth) {
    pool_job_t *j = arg;
    j->seen[ith]++; /* each thread writes only its own slot */
    if (ith == 0) j->nth_seen = nth;
    atomic_fetch_add(&j->sum, j->round * (ith + 1));
}

static void test_pool(void **state) {
    (void)state;
    kern_pool_t *p = NULL;
    assert_int_equal(kern_pool_create(0, &p), ERR_INVAL);
    assert_int_equal(kern_pool_create(257, &p), ERR_INVAL);
    kern_pool_free(NULL);
    for (int nth = 1; nth <= 4; nth++) {
        assert_int_equal(kern_pool_create(nth, &p), 0);
        assert_int_equal(kern_pool_n_threads(p), nth);
        pool_job_t j;
        memset(&j, 0, sizeof j);
        int64_t want = 0;
        for (int64_t round = 1; round <= 2000; round++) {
            j.round = round;
            kern_pool_run(p, pool_fn, &j);
            want += round * nth * (nth + 1) / 2;
            assert_int_equal(atomic_load(&j.sum), want); /* every call finished before run returned */
        }
        for (int i = 0; i < nth; i++)
            assert_int_equal(j.seen[i], 2000);
        assert_int_equal(j.nth_seen, nth);
        /* after the spin period the workers sleep; a run must still wake them all */
        struct timespec ts = {0, (long)(KERN_POOL_SPIN_US * 3 + 2000) * 1000};
        nanosleep(&ts, NULL);
        j.round = 1;
        kern_pool_run(p, pool_fn, &j);
        for (int i = 0; i < nth; i++)
            assert_int_equal(j.seen[i], 2001);
        kern_pool_free(p);
    }
}

/* ---- vector ops --------------------------------------------------------------------------------------------- */

static void check_ops(int level) {
    static const int64_t sizes[] = {1, 7, 8, 33, 100, 576};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        const int64_t n = sizes[si];
        float a[576], b[576], y[576], y2[576], w[576];
        for (int64_t i = 0; i < n; i++) {
            a[i] = rnd_normalish() * 3.0f;
            b[i] = rnd_normalish();
            w[i] = rnd_f(0.5f, 1.5f);
        }
        double dot = 0, mag = 0, ss = 0;
        for (int64_t i = 0; i < n; i++) {
            dot += (double)a[i] * b[i];
            mag += fabs((double)a[i] * b[i]);
            ss += (double)a[i] * a[i];
        }
        assert_true(fabs(kern_dot_f32(a, b, n) - dot) <= 1e-6 * mag + 1e-30);
        memcpy(y, b, sizeof(float) * (size_t)n);
        kern_axpy_f32(0.75f, a, y, n);
        for (int64_t i = 0; i < n; i++)
            assert_true(fabsf(y[i] - (b[i] + 0.75f * a[i])) <= 1e-6f * (fabsf(a[i]) + fabsf(b[i])));
        kern_rmsnorm(a, w, 1e-5f, y, n);
        const double scale = 1.0 / sqrt(ss / (double)n + 1e-5);
        for (int64_t i = 0; i < n; i++)
            assert_true(fabs(y[i] - a[i] * scale * w[i]) <= 1e-5 * fabs(a[i] * scale * w[i]) + 1e-7);
        memcpy(y2, a, sizeof(float) * (size_t)n);
        kern_rmsnorm(y2, w, 1e-5f, y2, n); /* in place */
        assert_memory_equal(y2, y, sizeof(float) * (size_t)n);
        kern_silu_mul(a, b, y, n);
        for (int64_t i = 0; i < n; i++) {
            const double want = a[i] / (1.0 + exp(-(double)a[i])) * b[i];
            assert_true(fabs(y[i] - want) <= 1e-6 * fabs(want) + 1e-30);
        }
        memcpy(y2, a, sizeof(float) * (size_t)n);
        kern_silu_mul(y2, b, y2, n); /* out aliases gate */
        assert_memory_equal(y2, y, sizeof(float) * (size_t)n);
        memcpy(y, a, sizeof(float) * (size_t)n);
        if (n > 3) y[2] = -INFINITY; /* a masked position */
        kern_softmax(y, n);
        double mx = -INFINITY, den = 0, total = 0;
        for (int64_t i = 0; i < n; i++)
            if (!(n > 3 && i == 2)) mx = fmax(mx, a[i]);
        for (int64_t i = 0; i < n; i++)
            if (!(n > 3 && i == 2)) den += exp((double)a[i] - mx);
        for (int64_t i = 0; i < n; i++) {
            const double want = (n > 3 && i == 2) ? 0.0 : exp((double)a[i] - mx) / den;
            assert_true(fabs(y[i] - want) <= 1e-6 * want + 1e-30);
            total += y[i];
        }
        assert_true(fabs(total - 1.0) < 1e-5);
        (void)level;
    }
    /* silu and exp at the extremes: no NaN, exact zeros below the float range */
    float g[16] = {-200, -100, -88, -87, -20, -1e-3f, 0, 1e-3f, 1, 20, 88, 89, 100, 200, -0.0f, 5};
    float one[16], out[16];
    for (int i = 0; i < 16; i++)
        one[i] = 1.0f;
    kern_silu_mul(g, one, out, 16);
    for (int i = 0; i < 16; i++) {
        const double want = g[i] / (1.0 + exp(-(double)g[i]));
        assert_true(fabs(out[i] - want) <= 1e-6 * fabs(want) + 1e-30);
    }
    float all_masked[9];
    for (int i = 0; i < 9; i++)
        all_masked[i] = -INFINITY;
    kern_softmax(all_masked, 9);
    for (int i = 0; i < 9; i++)
        assert_true(all_masked[i] == 1.0f / 9.0f);
}

/* kern_gelu / kern_gelu_mul at every ISA: bitwise the F16 table's value (the input and gelu's value rounded to
 * F16, as llama.cpp), 0 at or below -10, the input itself at or above 10 and for NaN; in place; vector tails. */
static float gelu_want(float x) {
    if (x <= -10.0f) return 0.0f;
    if (x >= 10.0f || x != x) return x;
    const float h = kern_fp16_to_fp32(kern_fp32_to_fp16(x));
    const float g = 0.5f * h * (1.0f + tanhf(0.79788456080286535587989211986876f * h * (1.0f + 0.044715f * h * h)));
    return kern_fp16_to_fp32(kern_fp32_to_fp16(g));
}

static void check_gelu(int level) {
    (void)level;
    enum { N = 301 };
    float x[N], up[N], y[N], y2[N];
    static const float special[] = {-10.0f, 10.0f, -9.999f, 9.999f, -10.001f, 10.001f, 0.0f, -0.0f, 1e-8f, -1e-8f,
                                    6e-5f, 65504.0f, -65520.0f, 1e30f, -1e30f, INFINITY, -INFINITY, NAN};
    for (int i = 0; i < N; i++) {
        x[i] = i < (int)(sizeof special / sizeof special[0]) ? special[i] : rnd_normalish() * 4.0f;
        up[i] = rnd_normalish();
    }
    for (int n = 1; n <= N; n += n < 20 ? 1 : 37) {
        kern_gelu(x, y, n);
        kern_gelu_mul(x, up, y2, n);
        for (int i = 0; i < n; i++) {
            const float w = gelu_want(x[i]);
            if (w != w) {
                assert_true(y[i] != y[i] && y2[i] != y2[i]);
                continue;
            }
            assert_memory_equal(&y[i], &w, sizeof w);
            const float wm = w * up[i];
            assert_memory_equal(&y2[i], &wm, sizeof wm);
        }
        memcpy(y2, x, sizeof(float) * (size_t)n);
        kern_gelu(y2, y2, n); /* in place */
        assert_memory_equal(y2, y, sizeof(float) * (size_t)n);
    }
}

static void test_gelu(void **state) {
    (void)state;
    for_each_isa(check_gelu);
}

/* kern_layernorm at every ISA against a double-precision LayerNorm, with and without a bias, in place too. */
static void check_layernorm(int level) {
    (void)level;
    static const int64_t sizes[] = {1, 7, 8, 33, 384, 769};
    static float x[769], w[769], b[769], y[769], y2[769];
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        const int64_t n = sizes[si];
        for (int64_t i = 0; i < n; i++) {
            x[i] = rnd_normalish() * 2.0f + 0.5f;
            w[i] = rnd_f(0.5f, 1.5f);
            b[i] = rnd_normalish() * 0.1f;
        }
        double mean = 0, var = 0;
        for (int64_t i = 0; i < n; i++) mean += x[i];
        mean /= (double)n;
        for (int64_t i = 0; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
        const double inv = 1.0 / sqrt(var / (double)n + 1e-5);
        for (int with_b = 0; with_b < 2; with_b++) {
            kern_layernorm(x, w, with_b ? b : NULL, 1e-5f, y, n);
            for (int64_t i = 0; i < n; i++) {
                const double want = (x[i] - mean) * inv * w[i] + (with_b ? b[i] : 0.0);
                assert_true(fabs(y[i] - want) <= 1e-5 * (fabs((x[i] - mean) * inv * w[i]) + 1.0));
            }
            memcpy(y2, x, sizeof(float) * (size_t)n);
            kern_layernorm(y2, w, with_b ? b : NULL, 1e-5f, y2, n); /* in place */
            assert_memory_equal(y2, y, sizeof(float) * (size_t)n);
        }
    }
}

static void test_layernorm(void **state) {
    (void)state;
    for_each_isa(check_layernorm);
}

static void test_ops(void **state) {
    (void)state;
    for_each_isa(check_ops);
}

/* kern_softmax (attention's softmax; a polynomial exp with SIMD) within a few float ulps of exp with a double sum,
 * at every ISA, over score ranges from flat to peaked, lengths with and without vector tails; the probabilities add
 * up to 1. */
static void check_softmax_ranges(int level) {
    (void)level;
    static const float spreads[] = {0.01f, 1.0f, 10.0f, 60.0f, 200.0f};
    static const int32_t lens[] = {1, 7, 8, 33, 1000};
    for (size_t si = 0; si < sizeof spreads / sizeof spreads[0]; si++)
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            const int32_t n = lens[li];
            float *x = malloc(sizeof(float) * (size_t)n);
            double *want = malloc(sizeof(double) * (size_t)n);
            assert_true(x && want);
            float mx = -INFINITY;
            double sum = 0.0, got_sum = 0.0;
            for (int32_t t = 0; t < n; t++) {
                x[t] = rnd_f(-1, 1) * spreads[si];
                if (x[t] > mx) mx = x[t];
            }
            for (int32_t t = 0; t < n; t++) /* x - max rounded to float, as in the code under test */
                sum += (want[t] = exp((double)(x[t] - mx)));
            kern_softmax(x, n);
            for (int32_t t = 0; t < n; t++) {
                const double w = want[t] / sum;
                got_sum += x[t];
                if (w > 1e-30)
                    assert_true(fabs(x[t] - w) <= 5e-7 * w + 1e-38);
                else
                    assert_true(x[t] >= 0.0f && x[t] <= 1.001e-30); /* below the float range: 0 */
            }
            assert_true(fabs(got_sum - 1.0) <= 1e-5);
            free(x);
            free(want);
        }
}

static void test_softmax_ranges(void **state) {
    (void)state;
    for_each_isa(check_softmax_ranges);
}

/*
 * kern_exp_det / kern_exp_weights (the sampler's weights): kern_exp_det within 1e-12 relative of libm's exp over
 * (-708, 0], 0 at and below -708 and for -inf and NaN, exactly 1 at 0 and for x > 0; kern_exp_weights equal to
 * the portable version bit for bit at every ISA, over random and edge arguments and lengths with vector tails.
 */
static float *g_ew_l, *g_ew_want;
static int64_t g_ew_n;
static void check_exp_weights(int level) {
    (void)level;
    float *got = malloc(sizeof(float) * (size_t)g_ew_n);
    assert_non_null(got);
    const float ms[] = {0.0f, 3.5f, -2.0f};
    const float ts[] = {1.0f, 0.8f, 0.013f, 7.0f};
    for (size_t mi = 0; mi < 3; mi++)
        for (size_t ti = 0; ti < 4; ti++) {
            for (int64_t len = g_ew_n; len >= g_ew_n - 9; len--) { /* every tail length */
                kern_exp_weights(g_ew_l, len, ms[mi], ts[ti], got);
                kern__exp_weights_scalar(g_ew_l, len, ms[mi], ts[ti], g_ew_want);
                for (int64_t i = 0; i < len; i++)
                    if (memcmp(&got[i], &g_ew_want[i], sizeof(float)) != 0)
                        fail_msg("isa %s: l %a m %g t %g: %a, portable %a", kern_isa_name(), (double)g_ew_l[i],
                                 (double)ms[mi], (double)ts[ti], (double)got[i], (double)g_ew_want[i]);
            }
        }
    free(got);
}

static void test_exp_det(void **state) {
    (void)state;
    for (int i = 0; i < 200000; i++) {
        const double x = -708.0 * (double)i / 200000.0 - rnd_f(0, 1) * 1e-3;
        if (!(x > -708.0)) continue;
        const double want = exp(x), got = kern_exp_det(x);
        if (!(fabs(got - want) <= 1e-12 * want)) fail_msg("exp(%a): %a, libm %a", x, got, want);
    }
    assert_true(kern_exp_det(0.0) == 1.0);
    assert_true(kern_exp_det(-0.0) == 1.0);
    assert_true(kern_exp_det(3.0) == 1.0);
    assert_true(kern_exp_det(-708.0) == 0.0);
    assert_true(kern_exp_det(-1e300) == 0.0);
    assert_true(kern_exp_det(-INFINITY) == 0.0);
    assert_true(kern_exp_det(NAN) == 0.0);
    assert_true(kern_exp_det(-707.9) > 0.0);

    g_ew_n = 4099;
    g_ew_l = malloc(sizeof(float) * (size_t)g_ew_n);
    g_ew_want = malloc(sizeof(float) * (size_t)g_ew_n);
    assert_true(g_ew_l && g_ew_want);
    const float edges[] = {0.0f,     -0.0f,   3.5f,     -2.0f, -INFINITY, NAN,     1e-40f,  -1e-40f,
                           -5000.0f, -708.0f, -707.99f, -9.2f, 100.0f,    -100.0f, 3.4e38f, -3.4e38f};
    for (int64_t i = 0; i < g_ew_n; i++)
        g_ew_l[i] = i < (int64_t)(sizeof edges / sizeof edges[0]) ? edges[i] : i % 3 ? rnd_f(-30, 4) : rnd_f(-800, 4);
    for_each_isa(check_exp_weights);
    free(g_ew_l);
    free(g_ew_want);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool),
        cmocka_unit_test(test_ops),
        cmocka_unit_test(test_gelu),
        cmocka_unit_test(test_layernorm),
        cmocka_unit_test(test_softmax_ranges),
        cmocka_unit_test(test_exp_det),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
