/*
 * test_kernels_matmul.c — engine/kernels' matrix products: every kern_matmul path (row dots, multi-row dots, the
 * int8 GEMMs, dequantize + BLAS) at every ISA against a naive loop over the dequantized weight, non-finite
 * activations, kern_matmul_multi, the row dots of the 18-byte block types called directly, argument checks, and
 * the plain F32 GEMM wrappers.
 */
#include "kern_fixture.h"

static const dtype_t all_types[] = {DT_F32,  DT_F16,  DT_BF16, DT_Q8_0,   DT_Q4_0, DT_Q4_K, DT_Q6_K, DT_Q4_1,
                                    DT_Q5_0, DT_Q5_1, DT_IQ4_NL, DT_Q2_K, DT_Q3_K, DT_Q5_K};
#define N_TYPES (sizeof all_types / sizeof all_types[0])

static bool is_quant(dtype_t t) { return kern__act_format(t) != KERN__ACT_F32; }

static bool is_kquant(dtype_t t) { return kern__act_format(t) == KERN__ACT_Q8K; }

/* An fp16 value of size within [lo, hi), negative when neg. */
static uint16_t rnd_h(float lo, float hi, bool neg) { return kern_fp32_to_fp16(neg ? -rnd_f(lo, hi) : rnd_f(lo, hi)); }

/* Fills n values' worth of valid data of type t (finite scales of realistic size, random quants). */
static void fill_random(dtype_t t, void *dst, int64_t n) {
    uint8_t *p = dst;
    const int64_t bytes = dtype_row_bytes(t, n);
    for (int64_t i = 0; i < bytes; i++)
        p[i] = (uint8_t)rnd_u32();
    switch (t) {
    case DT_F32:
        for (int64_t i = 0; i < n; i++)
            ((float *)dst)[i] = rnd_normalish() * 0.05f;
        break;
    case DT_F16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = kern_fp32_to_fp16(rnd_normalish() * 0.05f);
            memcpy(p + 2 * i, &h, 2);
        }
        break;
    case DT_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = (uint16_t)(bits_from_f(rnd_normalish() * 0.05f) >> 16);
            memcpy(p + 2 * i, &h, 2);
        }
        break;
    case DT_Q8_0:
        for (int64_t b = 0; b < n / 32; b++)
            ((kern__blk_q8_0 *)dst)[b].d = kern_fp32_to_fp16(rnd_f(1e-4f, 1e-3f));
        break;
    case DT_Q4_0:
        for (int64_t b = 0; b < n / 32; b++)
            ((kern__blk_q4_0 *)dst)[b].d = kern_fp32_to_fp16(rnd_f(1e-3f, 1e-2f));
        break;
    case DT_Q4_K:
        for (int64_t b = 0; b < n / 256; b++) {
            ((kern__blk_q4_k *)dst)[b].d = kern_fp32_to_fp16(rnd_f(1e-4f, 1e-3f));
            ((kern__blk_q4_k *)dst)[b].dmin = kern_fp32_to_fp16(rnd_f(1e-4f, 1e-3f));
        }
        break;
    case DT_Q6_K:
        for (int64_t b = 0; b < n / 256; b++)
            ((kern__blk_q6_k *)dst)[b].d = kern_fp32_to_fp16(rnd_f(1e-5f, 1e-4f));
        break;
    case DT_Q4_1: /* min = about -8 scales, as a quantizer makes for a centred block */
        for (int64_t b = 0; b < n / 32; b++) {
            kern__blk_q4_1 *k = (kern__blk_q4_1 *)dst + b;
            k->d = rnd_h(1e-3f, 1e-2f, false);
            k->m = kern_fp32_to_fp16(-kern_fp16_to_fp32(k->d) * rnd_f(4, 12));
        }
        break;
    case DT_Q5_0:
        for (int64_t b = 0; b < n / 32; b++)
            ((kern__blk_q5_0 *)dst)[b].d = rnd_h(1e-4f, 1e-3f, rnd_u32() & 1);
        break;
    case DT_Q5_1:
        for (int64_t b = 0; b < n / 32; b++) {
            kern__blk_q5_1 *k = (kern__blk_q5_1 *)dst + b;
            k->d = rnd_h(1e-4f, 1e-3f, false);
            k->m = kern_fp32_to_fp16(-kern_fp16_to_fp32(k->d) * rnd_f(8, 24));
        }
        break;
    case DT_IQ4_NL:
        for (int64_t b = 0; b < n / 32; b++)
            ((kern__blk_iq4_nl *)dst)[b].d = rnd_h(1e-5f, 1e-4f, rnd_u32() & 1);
        break;
    case DT_Q2_K:
        for (int64_t b = 0; b < n / 256; b++) {
            ((kern__blk_q2_k *)dst)[b].d = rnd_h(1e-4f, 1e-3f, false);
            ((kern__blk_q2_k *)dst)[b].dmin = rnd_h(1e-4f, 1e-3f, false);
        }
        break;
    case DT_Q3_K:
        for (int64_t b = 0; b < n / 256; b++)
            ((kern__blk_q3_k *)dst)[b].d = rnd_h(1e-5f, 1e-4f, rnd_u32() & 1);
        break;
    case DT_Q5_K:
        for (int64_t b = 0; b < n / 256; b++) {
            ((kern__blk_q5_k *)dst)[b].d = rnd_h(1e-5f, 1e-4f, false);
            ((kern__blk_q5_k *)dst)[b].dmin = rnd_h(1e-4f, 1e-3f, false);
        }
        break;
    default: break;
    }
}

/* ---- matmul ------------------------------------------------------------------------------------------------- */

typedef struct {
    kern_weight_t W;
    void *data;
    float *deq; /* (rows, cols) */
} test_weight_t;

static void make_weight(test_weight_t *tw, dtype_t t, int64_t rows, int64_t cols) {
    const size_t rb = (size_t)dtype_row_bytes(t, cols);
    tw->data = malloc(rb * (size_t)rows);
    tw->deq = malloc(sizeof(float) * (size_t)(rows * cols));
    assert_non_null(tw->data);
    assert_non_null(tw->deq);
    for (int64_t r = 0; r < rows; r++)
        fill_random(t, (uint8_t *)tw->data + r * rb, cols);
    tw->W = (kern_weight_t){t, rows, cols, tw->data, rb};
    kern__force_isa(KERN__ISA_SCALAR);
    assert_int_equal(kern_dequant(t, tw->data, tw->deq, rows * cols), 0);
    kern__force_isa(kern__cpu_isa());
}

static void free_weight(test_weight_t *tw) {
    free(tw->data);
    free(tw->deq);
}

/*
 * One context per instruction set this CPU has, ks[level] made while that level is in use: kern_ctx_create sizes
 * the scratch for the level (the AVX2 GEMM's int16 activations at AVX2 only), so each level runs its own paths.
 */
static void make_ctxs(kern_pool_t *pool, int64_t max_cols, int64_t max_rows, int64_t max_batch,
                      kern_ctx_t *ks[KERN__ISA_AVX512 + 1]) {
    const int best = kern__cpu_isa();
    for (int level = 0; level <= KERN__ISA_AVX512; level++) {
        ks[level] = NULL;
        if (level > best) continue;
        assert_int_equal(kern__force_isa(level), level);
        assert_int_equal(kern_ctx_create(pool, max_cols, max_rows, max_batch, &ks[level]), 0);
        assert_ptr_equal(kern_ctx_pool(ks[level]), pool);
    }
    kern__force_isa(best);
}

static void free_ctxs(kern_ctx_t *ks[KERN__ISA_AVX512 + 1]) {
    for (int level = 0; level <= KERN__ISA_AVX512; level++)
        kern_ctx_free(ks[level]);
}

/*
 * Checks Y (n, rows) against a double-precision loop over the dequantized weight. The tolerance allows float
 * rounding (relative to sum |w||x| plus the offsets the integer kernels carry) and, for the quantized types,
 * the 8-bit rounding of the activations: |x - d q| <= d/2 with d = amax(block)/127, blocks of 32 (Q8_0, Q4_0)
 * or 256 (Q4_K, Q6_K).
 */
static void check_against_naive(const test_weight_t *tw, const float *X, int64_t n, const float *Y, const char *what,
                                double *mag_out) {
    const kern_weight_t *W = &tw->W;
    const int64_t K = W->cols, qb = is_kquant(W->type) ? 256 : 32;
    for (int64_t j = 0; j < n; j++) {
        const float *x = X + j * K;
        for (int64_t r = 0; r < W->rows; r++) {
            const float *w = tw->deq + r * K;
            double ref = 0, mag = 0, qerr = 0;
            for (int64_t b = 0; b < K; b += 32) { /* per 32 values: the weight block's largest magnitude */
                float wmax = 0;
                for (int64_t i = b; i < b + 32 && i < K; i++)
                    wmax = fmaxf(wmax, fabsf(w[i]));
                for (int64_t i = b; i < b + 32 && i < K; i++) {
                    ref += (double)w[i] * x[i];
                    mag += ((double)fabsf(w[i]) + (is_quant(W->type) ? 2.0 * wmax : 0.0)) * fabs((double)x[i]);
                }
            }
            if (is_quant(W->type)) {
                for (int64_t b = 0; b < K; b += qb) {
                    float amax = 0;
                    for (int64_t i = b; i < b + qb; i++)
                        amax = fmaxf(amax, fabsf(x[i]));
                    for (int64_t i = b; i < b + qb; i++)
                        qerr += fabs((double)w[i]) * amax / 127.0 * 0.5;
                }
            }
            const double tol = 2e-5 * mag + qerr * 1.001 + 1e-7;
            if (mag_out) mag_out[j * W->rows + r] = mag;
            const double got = Y[j * W->rows + r];
            if (!(fabs(got - ref) <= tol)) {
                print_error("%s: type %s n %lld rows %lld cols %lld: Y[%lld][%lld] = %.9g, want %.9g (tol %.3g)\n",
                            what, dtype_name(W->type), (long long)n, (long long)W->rows, (long long)K, (long long)j,
                            (long long)r, got, ref, tol);
                fail();
            }
        }
    }
}

static void run_matmul_matrix(int n_threads) {
    kern_pool_t *pool = NULL;
    kern_ctx_t *ks[KERN__ISA_AVX512 + 1];
    assert_int_equal(kern_pool_create(n_threads, &pool), 0);
    make_ctxs(pool, 512, 1000, 40, ks);
    static const int64_t rows_list[] = {1, 7, 33, 70};
    static const int64_t n_list[] = {1, 2, 3, 4, 5, 16, 17, 40};
    const int best = kern__cpu_isa();
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const dtype_t t = all_types[ti];
        const int64_t cols = is_kquant(t)                                   ? 512
                             : (t == DT_F32 || t == DT_F16 || t == DT_BF16) ? 100
                                                                            : 96;
        for (size_t ri = 0; ri < sizeof rows_list / sizeof rows_list[0]; ri++) {
            const int64_t rows = rows_list[ri];
            test_weight_t tw;
            make_weight(&tw, t, rows, cols);
            float *X = malloc(sizeof(float) * 40 * (size_t)cols);
            float *Y = malloc(sizeof(float) * 40 * (size_t)rows);
            float *Y0 = malloc(sizeof(float) * 40 * (size_t)rows);
            double *mag = malloc(sizeof(double) * 40 * (size_t)rows);
            for (int64_t i = 0; i < 40 * cols; i++)
                X[i] = rnd_normalish() * (i % 53 == 0 ? 8.0f : 1.0f);
            for (size_t ni = 0; ni < sizeof n_list / sizeof n_list[0]; ni++) {
                const int64_t n = n_list[ni];
                for (int level = 0; level <= best; level++) {
                    kern__force_isa(level);
                    for (int64_t i = 0; i < n * rows; i++)
                        Y[i] = NAN;
                    assert_int_equal(kern_matmul(ks[level], &tw.W, X, n, Y), 0);
                    char what[64];
                    snprintf(what, sizeof what, "isa %s threads %d", kern_isa_name(), n_threads);
                    check_against_naive(&tw, X, n, Y, what, mag);
                    if (level == 0) {
                        memcpy(Y0, Y, sizeof(float) * (size_t)(n * rows));
                    } else if (n < 4 && !(is_kquant(t) && !kern__rowdot_path(t, n))) {
                        /* same activation quantization (row dots, or AVX2's multi-row dots of the 32-value types
                         * on q8a as well): the SIMD result may differ from the portable one by float summation
                         * order only. AVX2's K-quant multi-row dots take q8a rows where the row dots take q8k. */
                        for (int64_t i = 0; i < n * rows; i++) {
                            const double tol = 1e-5 * mag[i] + 1e-9;
                            if (!(fabs((double)Y[i] - Y0[i]) <= tol)) {
                                print_error("%s %s n %lld: scalar %.9g simd %.9g\n", what, dtype_name(t), (long long)n,
                                            Y0[i], Y[i]);
                                fail();
                            }
                        }
                    }
                }
            }
            kern__force_isa(best);
            free(X);
            free(Y);
            free(Y0);
            free(mag);
            free_weight(&tw);
        }
    }
    free_ctxs(ks);
    kern_pool_free(pool);
}

static void test_matmul_1_thread(void **state) {
    (void)state;
    run_matmul_matrix(1);
}

static void test_matmul_2_threads(void **state) {
    (void)state;
    run_matmul_matrix(2);
}

/*
 * Activation rows poisoned with NaN, inf and huge values through every matmul path (row dots, GEMMs, BLAS) at
 * every ISA: no undefined behaviour (UBSan runs this), and the clean rows of the same batch come out exactly as
 * when no row is poisoned (the paths keep tokens apart; the rows' split over threads does not depend on values).
 */
static void test_matmul_nonfinite(void **state) {
    (void)state;
    kern_pool_t *pool = NULL;
    kern_ctx_t *ks[KERN__ISA_AVX512 + 1];
    assert_int_equal(kern_pool_create(2, &pool), 0);
    make_ctxs(pool, 512, 100, 40, ks);
    static const int64_t n_list[] = {1, 3, 5, 16, 40};
    const int best = kern__cpu_isa();
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const dtype_t t = all_types[ti];
        const int64_t cols = 512, rows = 37;
        test_weight_t tw;
        make_weight(&tw, t, rows, cols);
        float *X = malloc(sizeof(float) * 40 * cols), *Xc = malloc(sizeof(float) * 40 * cols);
        float *Y = malloc(sizeof(float) * 40 * rows), *Yc = malloc(sizeof(float) * 40 * rows);
        assert_true(X && Xc && Y && Yc);
        for (int64_t i = 0; i < 40 * cols; i++)
            Xc[i] = X[i] = rnd_normalish();
        static const float poison[] = {NAN, INFINITY, -INFINITY, 3.0e38f, -3.0e38f};
        for (int64_t j = 1; j < 40; j += 2) /* odd rows: one or several poisoned values */
            for (int64_t c = j % 7; c < cols; c += 37 + j)
                X[j * cols + c] = poison[(j + c) % 5];
        for (size_t ni = 0; ni < sizeof n_list / sizeof n_list[0]; ni++) {
            const int64_t n = n_list[ni];
            for (int level = 0; level <= best; level++) {
                kern__force_isa(level);
                assert_int_equal(kern_matmul(ks[level], &tw.W, X, n, Y), 0);
                assert_int_equal(kern_matmul(ks[level], &tw.W, Xc, n, Yc), 0);
                for (int64_t j = 0; j < n; j += 2)
                    if (memcmp(Y + j * rows, Yc + j * rows, sizeof(float) * rows) != 0)
                        fail_msg("%s isa %s n %lld: clean row %lld changed by poisoned rows", dtype_name(t),
                                 kern_isa_name(), (long long)n, (long long)j);
            }
            kern__force_isa(best);
        }
        free(X);
        free(Xc);
        free(Y);
        free(Yc);
        free_weight(&tw);
    }
    free_ctxs(ks);
    kern_pool_free(pool);
}

/*
 * A wide weight over several GEMM panels and BLAS tiles, uneven row count, 3 threads (the GEMM also splits the
 * tokens then); the result must be bit-identical to a 1-thread run.
 */
static void test_matmul_large(void **state) {
    (void)state;
    kern_pool_t *pool = NULL, *pool1 = NULL;
    kern_ctx_t *k = NULL, *k1 = NULL;
    assert_int_equal(kern_pool_create(3, &pool), 0);
    assert_int_equal(kern_ctx_create(pool, 768, 300, 70, &k), 0);
    assert_int_equal(kern_pool_create(1, &pool1), 0);
    assert_int_equal(kern_ctx_create(pool1, 768, 300, 70, &k1), 0);
    const dtype_t types[] = {DT_Q8_0, DT_Q4_0, DT_F16, DT_Q6_K, DT_Q5_K, DT_Q3_K, DT_Q5_1, DT_IQ4_NL, DT_Q2_K};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        test_weight_t tw;
        make_weight(&tw, types[ti], 291, 768);
        const int64_t n = 70;
        float *X = malloc(sizeof(float) * (size_t)(n * 768));
        float *Y = malloc(sizeof(float) * (size_t)(n * 291)), *Y1 = malloc(sizeof(float) * (size_t)(n * 291));
        for (int64_t i = 0; i < n * 768; i++)
            X[i] = rnd_normalish();
        assert_int_equal(kern_matmul(k, &tw.W, X, n, Y), 0);
        check_against_naive(&tw, X, n, Y, "large", NULL);
        assert_int_equal(kern_matmul(k1, &tw.W, X, n, Y1), 0);
        assert_memory_equal(Y, Y1, sizeof(float) * (size_t)(n * 291));
        free(Y1);
        assert_int_equal(kern_matmul(k, &tw.W, X, 1, Y), 0);
        check_against_naive(&tw, X, 1, Y, "large n=1", NULL);
        free(X);
        free(Y);
        free_weight(&tw);
    }
    kern_ctx_free(k);
    kern_pool_free(pool);
    kern_ctx_free(k1);
    kern_pool_free(pool1);
}

/*
 * Moderate batches (n = 2..40, where the multi-row paths run: every quantized type with AVX2, the 32-value block
 * types with AVX-512 VNNI, F16 and BF16 with both; the packed GEMM or BLAS above their thresholds): every n against the
 * naive loop, for several row counts and widths (odd and even block counts; blocks in groups of 8 and a tail), 1-3
 * threads, every ISA; each row against the same row in a batch of 40 (the GEMM, same q8a activations; BLAS for F16 /
 * BF16) within float summation order; and, but for the K-quants, each activation row against the same row computed
 * alone (n = 1, the row dots).
 */
static void test_matmul_moderate_n(void **state) {
    (void)state;
    const uint64_t saved_rng = rng_state; /* the tests after this one keep their inputs */
    rng_state = 0x2545F4914F6CDD1Dull;
    static const dtype_t types[] = {DT_Q8_0, DT_Q4_0, DT_Q4_1, DT_Q5_0, DT_Q5_1, DT_IQ4_NL,
                                    DT_Q2_K, DT_Q3_K, DT_Q4_K, DT_Q5_K, DT_Q6_K, DT_F16,  DT_BF16};
    static const int64_t rows_list[] = {1, 7, 33, 70};
    static const int64_t cols_list[] = {96, 320}, kcols_list[] = {256, 768}, fcols_list[] = {100, 320};
    const int best = kern__cpu_isa();
    for (int n_threads = 1; n_threads <= 3; n_threads++) {
        kern_pool_t *pool = NULL;
        kern_ctx_t *ks[KERN__ISA_AVX512 + 1];
        assert_int_equal(kern_pool_create(n_threads, &pool), 0);
        make_ctxs(pool, 768, 100, 41, ks);
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++)
            for (size_t ci = 0; ci < sizeof cols_list / sizeof cols_list[0]; ci++)
                for (size_t ri = 0; ri < sizeof rows_list / sizeof rows_list[0]; ri++) {
                    const int64_t rows = rows_list[ri];
                    const int64_t cols = is_kquant(types[ti])  ? kcols_list[ci]
                                         : is_quant(types[ti]) ? cols_list[ci]
                                                               : fcols_list[ci];
                    if (n_threads != 2 && ri % 2 == 1) continue; /* keep the run short: all shapes on 2 threads */
                    test_weight_t tw;
                    make_weight(&tw, types[ti], rows, cols);
                    float *X = malloc(sizeof(float) * 41 * (size_t)cols);
                    float *Y = malloc(sizeof(float) * 41 * (size_t)rows);
                    float *Y1 = malloc(sizeof(float) * (size_t)rows);
                    float *Y40 = malloc(sizeof(float) * 40 * (size_t)rows);
                    double *mag = malloc(sizeof(double) * 41 * (size_t)rows);
                    assert_true(X && Y && Y1 && Y40 && mag);
                    for (int64_t i = 0; i < 41 * cols; i++)
                        X[i] = rnd_normalish() * (i % 37 == 0 ? 8.0f : 1.0f);
                    for (int level = 0; level <= best; level++) {
                        kern__force_isa(level);
                        kern_ctx_t *k = ks[level];
                        /* with VNNI every n here quantizes the activations as n = 1 does, whatever the path
                         * (multi-row dots up to the threshold, packed GEMM above): only float order differs */
                        const bool int8_paths = kern__isa()->gemm_q8 != NULL;
                        assert_int_equal(kern_matmul(k, &tw.W, X, 40, Y40), 0);
                        const bool alone = int8_paths && !is_kquant(types[ti]); /* n = 1 takes q8k rows */
                        /* every n of the multi-row ranges at the SIMD levels; a sample of the rest */
                        for (int64_t n = 2; n <= 40; n += (level > 0 && n < 17) || n < 4 ? 1 : 9) {
                            for (int64_t i = 0; i < n * rows; i++)
                                Y[i] = NAN;
                            assert_int_equal(kern_matmul(k, &tw.W, X, n, Y), 0);
                            char what[96];
                            snprintf(what, sizeof what, "moderate n: isa %s threads %d", kern_isa_name(), n_threads);
                            check_against_naive(&tw, X, n, Y, what, mag);
                            /* the K-quants' row dots take q8k rows, their other paths q8a */
                            const bool same_q =
                                int8_paths && !(is_kquant(types[ti]) && kern__rowdot_path(types[ti], n));
                            for (int64_t j = 0; j < n && same_q; j++)
                                for (int64_t r = 0; r < rows; r++) {
                                    const double tol = 1e-5 * mag[j * rows + r] + 1e-9;
                                    if (!(fabs((double)Y[j * rows + r] - Y40[j * rows + r]) <= tol)) {
                                        print_error("%s %s n %lld row %lld: %.9g, at n = 40 %.9g\n", what,
                                                    dtype_name(types[ti]), (long long)n, (long long)j, Y[j * rows + r],
                                                    Y40[j * rows + r]);
                                        fail();
                                    }
                                }
                            for (int64_t j = 0; j < n && alone; j += (n > 8 ? 5 : 1)) { /* rows alone */
                                assert_int_equal(kern_matmul(k, &tw.W, X + j * cols, 1, Y1), 0);
                                for (int64_t r = 0; r < rows; r++) {
                                    const double tol = 1e-5 * mag[j * rows + r] + 1e-9;
                                    if (!(fabs((double)Y[j * rows + r] - Y1[r]) <= tol)) {
                                        print_error("%s %s n %lld row %lld: batched %.9g alone %.9g\n", what,
                                                    dtype_name(types[ti]), (long long)n, (long long)j, Y[j * rows + r],
                                                    Y1[r]);
                                        fail();
                                    }
                                }
                            }
                        }
                    }
                    kern__force_isa(best);
                    free(X);
                    free(Y);
                    free(Y1);
                    free(Y40);
                    free(mag);
                    free_weight(&tw);
                }
        free_ctxs(ks);
        kern_pool_free(pool);
    }
    rng_state = saved_rng;
}

/*
 * The multi-row dots at every batch size, whatever the thresholds pick (kern__force_multi): each type that has them
 * at an ISA level, for 1..40 activation rows (partial vectors of 8 and 16 rows, several groups of 16), odd and even
 * row counts and block counts, 1 and 2 threads, against the naive loop.
 */
static void test_matmul_multi_forced(void **state) {
    (void)state;
    const uint64_t saved_rng = rng_state;
    rng_state = 0x9E3779B97F4A7C15ull;
    static const int64_t n_list[] = {1, 2, 3, 5, 7, 8, 9, 13, 16, 17, 24, 33, 40};
    static const int64_t rows_list[] = {1, 7, 34};
    const int best = kern__cpu_isa();
    for (int n_threads = 1; n_threads <= 2; n_threads++) {
        kern_pool_t *pool = NULL;
        kern_ctx_t *k = NULL;
        assert_int_equal(kern_pool_create(n_threads, &pool), 0);
        assert_int_equal(kern_ctx_create(pool, 768, 100, 40, &k), 0);
        for (size_t ti = 0; ti < N_TYPES; ti++) {
            const dtype_t t = all_types[ti];
            for (int wide = 0; wide < 2; wide++)
                for (size_t ri = 0; ri < sizeof rows_list / sizeof rows_list[0]; ri++) {
                    const int64_t rows = rows_list[ri];
                    const int64_t cols = is_kquant(t) ? (wide ? 768 : 256) : is_quant(t) ? (wide ? 352 : 96)
                                                                                         : (wide ? 300 : 100);
                    test_weight_t tw;
                    make_weight(&tw, t, rows, cols);
                    float *X = malloc(sizeof(float) * 40 * (size_t)cols),
                          *Y = malloc(sizeof(float) * 40 * (size_t)rows);
                    assert_true(X && Y);
                    for (int64_t i = 0; i < 40 * cols; i++)
                        X[i] = rnd_normalish() * (i % 41 == 0 ? 8.0f : 1.0f);
                    for (int level = 1; level <= best; level++) {
                        kern__force_isa(level);
                        if (!kern__isa()->rowdot_multi[t]) continue;
                        kern__force_multi(true);
                        for (size_t ni = 0; ni < sizeof n_list / sizeof n_list[0]; ni++) {
                            const int64_t n = n_list[ni];
                            for (int64_t i = 0; i < n * rows; i++)
                                Y[i] = NAN;
                            assert_int_equal(kern_matmul(k, &tw.W, X, n, Y), 0);
                            char what[96];
                            snprintf(what, sizeof what, "forced multi: isa %s threads %d", kern_isa_name(), n_threads);
                            check_against_naive(&tw, X, n, Y, what, NULL);
                        }
                        kern__force_multi(false);
                    }
                    kern__force_isa(best);
                    free(X);
                    free(Y);
                    free_weight(&tw);
                }
        }
        kern_ctx_free(k);
        kern_pool_free(pool);
    }
    rng_state = saved_rng;
}

static void test_matmul_multi(void **state) {
    (void)state;
    kern_pool_t *pool = NULL;
    kern_ctx_t *k = NULL;
    assert_int_equal(kern_pool_create(2, &pool), 0);
    assert_int_equal(kern_ctx_create(pool, 256, 200, 20, &k), 0);
    const dtype_t types[] = {DT_Q8_0, DT_Q6_K, DT_Q4_K, DT_F16, DT_Q4_0};
    enum { NW = 5 };
    test_weight_t tw[NW];
    const kern_weight_t *Ws[NW];
    float *Ys[NW], *Y1[NW];
    const int64_t rows[NW] = {64, 20, 33, 17, 200};
    for (int i = 0; i < NW; i++) {
        make_weight(&tw[i], types[i], rows[i], 256);
        Ws[i] = &tw[i].W;
        Ys[i] = malloc(sizeof(float) * 20 * (size_t)rows[i]);
        Y1[i] = malloc(sizeof(float) * 20 * (size_t)rows[i]);
    }
    float X[20 * 256];
    for (int i = 0; i < 20 * 256; i++)
        X[i] = rnd_normalish();
    static const int64_t n_list[] = {1, 3, 6, 20};
    for (size_t ni = 0; ni < 4; ni++) {
        const int64_t n = n_list[ni];
        assert_int_equal(kern_matmul_multi(k, Ws, NW, X, n, Ys), 0);
        for (int i = 0; i < NW; i++) {
            check_against_naive(&tw[i], X, n, Ys[i], "multi", NULL);
            assert_int_equal(kern_matmul(k, Ws[i], X, n, Y1[i]), 0);
            assert_memory_equal(Ys[i], Y1[i], sizeof(float) * (size_t)(n * rows[i]));
        }
    }
    /* mismatched cols and too many weights are refused */
    test_weight_t other;
    make_weight(&other, DT_Q8_0, 4, 128);
    const kern_weight_t *bad[2] = {Ws[0], &other.W};
    assert_int_equal(kern_matmul_multi(k, bad, 2, X, 1, Ys), ERR_INVAL);
    assert_int_equal(kern_matmul_multi(k, Ws, 9, X, 1, Ys), ERR_INVAL);
    assert_int_equal(kern_matmul_multi(k, Ws, 0, X, 1, Ys), ERR_INVAL);
    free_weight(&other);
    for (int i = 0; i < NW; i++) {
        free_weight(&tw[i]);
        free(Ys[i]);
        free(Y1[i]);
    }
    kern_ctx_free(k);
    kern_pool_free(pool);
}

/*
 * A context's scratch is sized for the instruction set in use when it is made (the AVX2 GEMM's int16 activations at
 * AVX2 only). Used at AVX2 after it was made at another level (the portable one here, and the CPU's best, as when
 * a process caps the level after making its contexts), kern_matmul takes dequantize + sgemm where the AVX2 GEMM
 * would run: the bits of the portable level's sgemm (the same dequantized tiles and BLAS call), not those of the
 * int8 GEMM that a context made at AVX2 runs; both against the naive loop.
 */
static void test_matmul_ctx_level(void **state) {
    (void)state;
    const int best = kern__cpu_isa();
    if (best < KERN__ISA_AVX2) skip();
    enum { N = 40, ROWS = 70, COLS = 512 };
    kern_pool_t *pool = NULL;
    kern_ctx_t *k0 = NULL, *k2 = NULL, *kb = NULL;
    assert_int_equal(kern_pool_create(2, &pool), 0);
    assert_int_equal(kern__force_isa(KERN__ISA_SCALAR), KERN__ISA_SCALAR);
    assert_int_equal(kern_ctx_create(pool, COLS, ROWS, N, &k0), 0);
    assert_int_equal(kern__force_isa(KERN__ISA_AVX2), KERN__ISA_AVX2);
    assert_int_equal(kern_ctx_create(pool, COLS, ROWS, N, &k2), 0);
    kern__force_isa(best);
    assert_int_equal(kern_ctx_create(pool, COLS, ROWS, N, &kb), 0);
    static const dtype_t types[] = {DT_Q8_0, DT_Q4_0, DT_Q4_K, DT_Q6_K};
    static float X[N * COLS], Ys[N * ROWS], Yg[N * ROWS], Y[N * ROWS];
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        test_weight_t tw;
        make_weight(&tw, types[ti], ROWS, COLS);
        for (int i = 0; i < N * COLS; i++)
            X[i] = rnd_normalish();
        kern__force_isa(KERN__ISA_SCALAR); /* no int8 GEMM: dequantize + sgemm */
        assert_int_equal(kern_matmul(k0, &tw.W, X, N, Ys), 0);
        check_against_naive(&tw, X, N, Ys, "ctx level: scalar", NULL);
        kern__force_isa(KERN__ISA_AVX2);
        assert_int_equal(kern_matmul(k2, &tw.W, X, N, Yg), 0); /* the AVX2 GEMM */
        check_against_naive(&tw, X, N, Yg, "ctx level: avx2", NULL);
        assert_true(memcmp(Yg, Ys, sizeof Ys) != 0);
        assert_int_equal(kern_matmul(k0, &tw.W, X, N, Y), 0); /* made at scalar, used at AVX2 */
        assert_memory_equal(Y, Ys, sizeof Ys);
        assert_int_equal(kern_matmul(kb, &tw.W, X, N, Y), 0); /* made at the best level, used at AVX2 */
        assert_memory_equal(Y, best == KERN__ISA_AVX2 ? Yg : Ys, sizeof Ys);
        kern__force_isa(best);
        free_weight(&tw);
    }
    kern_ctx_free(k0);
    kern_ctx_free(k2);
    kern_ctx_free(kb);
    kern_pool_free(pool);
}

/*
 * The row dots of the 18-byte block types (IQ4_NL, Q4_0) called directly, at every ISA level, against a double
 * loop over the dequantized weights and the dequantized q8a activations (d * q), so that only float rounding
 * separates them: widths with 8-block groups and a tail (1, 7, 8, 9, 17, 24, 27 blocks) and 1..9 rows per call
 * (AVX-512 VNNI does IQ4_NL rows 4 at a time, then 1). Also: a call over nr rows gives each row bit for bit what
 * a call over that row alone gives (rows done together share nothing but the activations).
 */
static void test_rowdot_b18(void **state) {
    (void)state;
    const uint64_t saved_rng = rng_state;
    rng_state = 0xD1B54A32D192ED03ull;
    static const dtype_t types[] = {DT_IQ4_NL, DT_Q4_0};
    static const int64_t nb_list[] = {1, 7, 8, 9, 17, 24, 27};
    enum { MAX_NB = 27, MAX_R = 9 };
    static uint8_t wq[MAX_R * MAX_NB * 18];
    static float wd[MAX_R * MAX_NB * 32], x[MAX_NB * 32], xd[MAX_NB], y[MAX_R], y1[1];
    static int8_t qs[MAX_NB * 32];
    static int32_t xs[MAX_NB];
    const int best = kern__cpu_isa();
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++)
        for (size_t ki = 0; ki < sizeof nb_list / sizeof nb_list[0]; ki++) {
            const int64_t nb = nb_list[ki], K = 32 * nb;
            const size_t rb = (size_t)dtype_row_bytes(types[ti], K);
            assert_int_equal(rb, (size_t)nb * 18);
            for (int64_t r = 0; r < MAX_R; r++)
                fill_random(types[ti], wq + r * rb, K);
            assert_int_equal(kern_dequant(types[ti], wq, wd, MAX_R * K), 0);
            for (int64_t i = 0; i < K; i++)
                x[i] = rnd_normalish() * (i % 29 == 0 ? 6.0f : 1.0f);
            kern__quant_q8a_scalar(x, K, qs, xd, xs, NULL);
            const kern__q8a_t xa = {.qs = qs, .d = xd, .s = xs, .K = K}; /* no xu, h or x16: the row dots read qs */
            for (int level = 0; level <= best; level++) {
                assert_int_equal(kern__force_isa(level), level);
                const kern__rowdot_fn dot = kern__isa()->rowdot[types[ti]];
                for (int64_t nr = 1; nr <= MAX_R; nr++) {
                    for (int64_t r = 0; r < MAX_R; r++)
                        y[r] = NAN;
                    dot(wq, rb, nr, &xa, K, y);
                    for (int64_t r = 0; r < MAX_R; r++) {
                        if (r >= nr) { /* rows past nr are not written */
                            assert_true(isnan(y[r]));
                            continue;
                        }
                        double ref = 0, mag = 0;
                        for (int64_t b = 0; b < nb; b++) {
                            uint16_t dh;
                            memcpy(&dh, wq + r * rb + 18 * b, 2);
                            const double dw = fabs((double)kern_fp16_to_fp32(dh));
                            for (int64_t i = 32 * b; i < 32 * b + 32; i++) {
                                const double xi = (double)xd[b] * qs[i];
                                ref += (double)wd[r * K + i] * xi;
                                mag += (fabs((double)wd[r * K + i]) + 256.0 * dw) * fabs(xi); /* offsets up to 128 */
                            }
                        }
                        if (!(fabs((double)y[r] - ref) <= 1e-5 * mag + 1e-12)) {
                            print_error("rowdot %s isa %s K %lld nr %lld row %lld: %.9g, want %.9g (mag %.3g)\n",
                                        dtype_name(types[ti]), kern_isa_name(), (long long)K, (long long)nr,
                                        (long long)r, y[r], ref, mag);
                            fail();
                        }
                        y1[0] = NAN;
                        dot(wq + r * rb, rb, 1, &xa, K, y1);
                        assert_memory_equal(&y1[0], &y[r], sizeof(float));
                    }
                }
            }
            kern__force_isa(best);
        }
    rng_state = saved_rng;
}

/*
 * The row dots that share each weight load among activation rows (rowdot_nx: Q8_0 and Q4_0 on q8a activations,
 * Q4_K and Q6_K on q8k) at every ISA that has one: 1-9 activation rows (groups of 4 and the rest), 1-5 weight rows,
 * block counts around the 8-block groups (1-3 super-blocks for the K-quants), against a double-precision reference
 * of the same quantized activations, and each output against the ISA's plain row dot of that activation row: within
 * rounding for Q8_0 / Q4_0 (their float sums run in another order), bit for bit for the K-quants (each row's
 * operations are the row dot's, which keeps a sequence's logits independent of the batch it decodes in). Rows and
 * columns past nr / nx are not written.
 */
static void test_rowdot_nx(void **state) {
    (void)state;
    const uint64_t saved_rng = rng_state;
    rng_state = 0x94D049BB133111EBull;
    static const dtype_t types[] = {DT_Q8_0, DT_Q4_0, DT_Q4_K, DT_Q6_K};
    static const int64_t nb_list[] = {1, 7, 8, 9, 17, 27}, nbk_list[] = {1, 2, 3};
    enum { MAX_NB = 27, MAX_R = 5, MAX_X = 9, LDY = 8, NT = sizeof types / sizeof types[0] };
    static uint8_t wq[MAX_R * MAX_NB * 34];
    static float wd[MAX_R * MAX_NB * 32], x[MAX_X * MAX_NB * 32], xv[MAX_X * MAX_NB * 32], xd[MAX_X * MAX_NB];
    static float Y[(MAX_X + 1) * LDY], y1[MAX_R];
    static int8_t qs[MAX_X * MAX_NB * 32];
    static int32_t xs[MAX_X * MAX_NB];
    static kern__q8k_t xk[MAX_X * MAX_NB * 32 / QK_K];
    const int best = kern__cpu_isa();
    int tested[NT] = {0};
    for (size_t ti = 0; ti < NT; ti++) {
        const dtype_t t = types[ti];
        const bool kq = kern__act_format(t) == KERN__ACT_Q8K;
        for (size_t ki = 0; ki < (kq ? 3 : sizeof nb_list / sizeof nb_list[0]); ki++) {
            const int64_t K = kq ? QK_K * nbk_list[ki] : 32 * nb_list[ki], nb = K / 32, nbk = K / QK_K;
            const size_t rb = (size_t)dtype_row_bytes(t, K);
            for (int64_t r = 0; r < MAX_R; r++)
                fill_random(t, wq + r * rb, K);
            assert_int_equal(kern_dequant(t, wq, wd, MAX_R * K), 0);
            for (int64_t i = 0; i < MAX_X * K; i++)
                x[i] = rnd_normalish() * (i % 29 == 0 ? 6.0f : 1.0f);
            for (int64_t j = 0; j < MAX_X; j++) /* the quantized activations, and xv: the values they stand for */
                if (kq) {
                    kern__quant_q8k_scalar(x + j * K, K, xk + j * nbk);
                    for (int64_t i = 0; i < K; i++)
                        xv[j * K + i] = xk[j * nbk + i / QK_K].d * xk[j * nbk + i / QK_K].qs[i % QK_K];
                } else {
                    kern__quant_q8a_scalar(x + j * K, K, qs + j * K, xd + j * nb, xs + j * nb, NULL);
                    for (int64_t i = 0; i < K; i++)
                        xv[j * K + i] = xd[j * nb + i / 32] * qs[j * K + i];
                }
            const kern__q8a_t xa = {.qs = qs, .d = xd, .s = xs, .K = K};
            for (int level = 0; level <= best; level++) {
                assert_int_equal(kern__force_isa(level), level);
                const kern__rowdot_nx_fn nx = kern__isa()->rowdot_nx[t];
                if (!nx) continue;
                tested[ti]++;
                for (int64_t n = 1; n <= MAX_X; n++)
                    for (int64_t nr = 1; nr <= MAX_R; nr++) {
                        for (int64_t i = 0; i < (MAX_X + 1) * LDY; i++)
                            Y[i] = NAN;
                        nx(wq, rb, nr, kq ? (const void *)xk : (const void *)&xa, n, Y, LDY);
                        for (int64_t j = 0; j <= MAX_X; j++) {
                            const kern__q8a_t xj = {.qs = qs + j * K, .d = xd + j * nb, .s = xs + j * nb, .K = K};
                            if (j < n)
                                kern__isa()->rowdot[t](wq, rb, nr, kq ? (const void *)(xk + j * nbk) : &xj, K, y1);
                            for (int64_t r = 0; r < LDY; r++) {
                                const float got = Y[j * LDY + r];
                                if (j >= n || r >= nr) {
                                    assert_true(isnan(got));
                                    continue;
                                }
                                /* mag: what rounding scales with; the unsigned quants and offsets (Q4_0's -8,
                                 * the K-quants' mins) reach about twice the largest |w| of the row */
                                double ref = 0, mag = 0, wmax = 0;
                                for (int64_t i = 0; i < K; i++)
                                    wmax = fmax(wmax, fabs((double)wd[r * K + i]));
                                for (int64_t i = 0; i < K; i++) {
                                    ref += (double)wd[r * K + i] * xv[j * K + i];
                                    mag += (fabs((double)wd[r * K + i]) + 2 * wmax) * fabs((double)xv[j * K + i]);
                                }
                                const bool near = fabs((double)got - ref) <= 1e-5 * mag + 1e-12;
                                const bool same = kq ? bits_from_f(got) == bits_from_f(y1[r])
                                                     : fabs((double)got - y1[r]) <= 1e-5 * mag + 1e-12;
                                if (!near || !same) {
                                    print_error("rowdot_nx %s isa %s K %lld n %lld nr %lld [%lld][%lld]: %.9g, want "
                                                "%.9g, row dot %.9g\n",
                                                dtype_name(t), kern_isa_name(), (long long)K, (long long)n,
                                                (long long)nr, (long long)j, (long long)r, got, ref, y1[r]);
                                    fail();
                                }
                            }
                        }
                    }
            }
            kern__force_isa(best);
        }
    }
    if (best >= KERN__ISA_AVX2)
        for (size_t ti = 0; ti < NT; ti++)
            assert_true(tested[ti] > 0);
    rng_state = saved_rng;
}

static void test_matmul_invalid(void **state) {
    (void)state;
    kern_pool_t *pool = NULL;
    kern_ctx_t *k = NULL;
    assert_int_equal(kern_pool_create(1, &pool), 0);
    assert_int_equal(kern_ctx_create(NULL, 64, 8, 4, &k), ERR_INVAL);
    assert_int_equal(kern_ctx_create(pool, 0, 8, 4, &k), ERR_INVAL);
    assert_int_equal(kern_ctx_create(pool, 64, 8, 0, &k), ERR_INVAL);
    assert_int_equal(kern_ctx_create(pool, 64, 8, 4, &k), 0);
    test_weight_t tw;
    make_weight(&tw, DT_Q8_0, 8, 64);
    float X[5 * 128] = {0}, Y[5 * 8];
    kern_weight_t W = tw.W;
    assert_int_equal(kern_matmul(k, &W, X, 0, Y), ERR_INVAL);
    assert_int_equal(kern_matmul(k, &W, X, 5, Y), ERR_INVAL); /* above max_batch */
    assert_int_equal(kern_matmul(k, &W, NULL, 1, Y), ERR_INVAL);
    assert_int_equal(kern_matmul(k, &W, X, 1, NULL), ERR_INVAL);
    assert_int_equal(kern_matmul(NULL, &W, X, 1, Y), ERR_INVAL);
    W.row_bytes = 33;
    assert_int_equal(kern_matmul(k, &W, X, 1, Y), ERR_INVAL);
    W = tw.W;
    W.cols = 48; /* not a whole number of blocks */
    assert_int_equal(kern_matmul(k, &W, X, 1, Y), ERR_INVAL);
    W = tw.W;
    W.cols = 128; /* above max_cols */
    W.row_bytes = (size_t)dtype_row_bytes(DT_Q8_0, 128);
    assert_int_equal(kern_matmul(k, &W, X, 1, Y), ERR_INVAL);
    W = tw.W;
    W.type = (dtype_t)16; /* IQ2_XXS */
    assert_int_equal(kern_matmul(k, &W, X, 1, Y), ERR_INVAL);
    W = tw.W;
    W.data = NULL;
    assert_int_equal(kern_matmul(k, &W, X, 1, Y), ERR_INVAL);
    W = tw.W;
    W.rows = 0;
    assert_int_equal(kern_matmul(k, &W, X, 1, Y), ERR_INVAL);
    assert_int_equal(kern_matmul(k, &tw.W, X, 4, Y), 0);
    free_weight(&tw);
    kern_ctx_free(k);
    kern_ctx_free(NULL);
    kern_pool_free(pool);
}

static void test_sgemm_wrappers(void **state) {
    (void)state;
    enum { M = 5, N = 7, KK = 9, LDA = 11, LDB = 10, LDC = 8 };
    float A[M * LDA], Bt[N * LDB], B[KK * LDB], C[M * LDC], C0[M * LDC];
    for (int i = 0; i < M * LDA; i++)
        A[i] = rnd_normalish();
    for (int i = 0; i < N * LDB; i++)
        Bt[i] = rnd_normalish();
    for (int i = 0; i < KK * LDB; i++)
        B[i] = rnd_normalish();
    for (int i = 0; i < M * LDC; i++)
        C[i] = C0[i] = rnd_normalish();
    assert_int_equal(kern_sgemm_nt(M, N, KK, 0.5f, A, LDA, Bt, LDB, C, LDC), 0);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int l = 0; l < KK; l++)
                s += (double)A[i * LDA + l] * Bt[j * LDB + l];
            assert_true(fabs(C[i * LDC + j] - 0.5 * s) < 1e-5);
        }
    assert_true(C[LDC - 1] == C0[LDC - 1]); /* column N, in the ldc padding, is untouched */
    memcpy(C, C0, sizeof C);
    assert_int_equal(kern_sgemm_nn(M, N, KK, 2.0f, A, LDA, B, LDB, 1.0f, C, LDC), 0);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int l = 0; l < KK; l++)
                s += (double)A[i * LDA + l] * B[l * LDB + j];
            assert_true(fabs(C[i * LDC + j] - (2.0 * s + C0[i * LDC + j])) < 1e-5);
        }
    assert_int_equal(kern_sgemm_nt(M, N, KK, 1.0f, A, KK - 1, Bt, LDB, C, LDC), ERR_INVAL);     /* lda < k */
    assert_int_equal(kern_sgemm_nn(M, N, KK, 1.0f, A, LDA, B, N - 1, 0.0f, C, LDC), ERR_INVAL); /* ldb < n */
    assert_int_equal(kern_sgemm_nt(0, N, KK, 1.0f, A, LDA, Bt, LDB, C, LDC), ERR_INVAL);
    assert_int_equal(kern_sgemm_nt(M, N, KK, 1.0f, NULL, LDA, Bt, LDB, C, LDC), ERR_INVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul_1_thread),
        cmocka_unit_test(test_matmul_2_threads),
        cmocka_unit_test(test_matmul_nonfinite),
        cmocka_unit_test(test_matmul_large),
        cmocka_unit_test(test_matmul_moderate_n),
        cmocka_unit_test(test_matmul_multi_forced),
        cmocka_unit_test(test_matmul_multi),
        cmocka_unit_test(test_matmul_ctx_level),
        cmocka_unit_test(test_rowdot_b18),
        cmocka_unit_test(test_rowdot_nx),
        cmocka_unit_test(test_matmul_invalid),
        cmocka_unit_test(test_sgemm_wrappers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
