/*
 * matmul.c — Y = X @ W^T over the pool: scratch (kern_ctx_t), shape checks, the choice of a path per weight and
 * batch size, and the work split.
 *
 * Paths, per weight (thresholds measured on a 2-core Zen 4 with tests/bench/bench_kernels.c, at AVX2 capped there):
 *  - ROWDOT (small n): each row of W is read in place and dotted with every activation row; the 32-value block
 *    types use 8-bit activations (q8a), the K-quants q8k, floats use F32 activations. Rows go in chunks of 16..,
 *    one contiguous run of chunks per thread so that each streams its part of W; a thread done with its run takes
 *    the others' remaining chunks through their atomic counters, so that a descheduled thread cannot hold
 *    everyone up (mm__worker). Q8_0, Q4_0, Q4_K and Q6_K at 2 <= n <= KERN__NX_MAX_N* (at AVX2 the last three
 *    below their MULTI range) take rowdot_nx, which unpacks each weight block once for up to 4 activation rows.
 *  - MULTI (moderate n, the decode steps of continuous batching): like ROWDOT, rows of W are read in place, but
 *    the q8a activations are transposed once per call (16 rows per 64 bytes) so that each 4-byte piece of a weight
 *    row meets 16 activation rows in one vpdpbusd (AVX-512 VNNI: the 32-value block types Q8_0, Q4_0, Q4_1, Q5_0,
 *    Q5_1, IQ4_NL; KERN__MULTI_MIN_N <= n <= KERN__MULTI_MAX_N_*) or 8 rows in a few AVX2 instructions (every
 *    quantized type; KERN__MULTI_MIN_N_AVX2* <= n <= KERN__MULTI_MAX_N_AVX2), while a sub-block of W rows
 *    (MM__MULTI_L1_BYTES) stays in L1. F16 / BF16 weights take the F32 rows as they are (KERN__MULTI_*_F16, both
 *    levels). At these n repacking W for the GEMM costs about as much as the products themselves; transposing the
 *    activations costs n * K bytes of copies.
 *  - GEMM (quantized types, n >= KERN__GEMM_MIN_N and not in the MULTI range; at AVX2 above the MULTI range):
 *    panels of W are repacked and multiplied by all n q8a rows (gemm_avx512.c, gemm_avx2.c).
 *  - SGEMM (everything else with n >= KERN__BLAS_MIN_N): tiles of W are dequantized to F32 scratch (F32 weights
 *    are used in place) and multiplied with cblas_sgemm on one OpenBLAS thread per pool thread.
 * The activation quantization runs before the products: on the calling thread for small batches, spread over
 * the pool otherwise.
 *
 * Threads: a kern_ctx_t is used by one engine thread at a time (it owns the scratch the pool threads write).
 */
#include <cblas.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "kern_impl.h"

#define MM__MAX_W           8     /* weights per kern_matmul_multi call */
#define MM__TILE_ROWS       128   /* rows of W dequantized per cblas_sgemm call */
#define MM__ROWDOT_SUB      16    /* rows of W kept hot while every activation row passes over them */
#define MM__QUANT_ON_CALLER 8     /* batches up to this many rows are quantized by the calling thread */
#define MM__MULTI_L1_BYTES  16384 /* bytes of W rows a MULTI sub-block keeps hot (half of a 32 KiB L1D) */

/* Batch sizes from which the GEMM paths beat row dots (tests/bench/bench_kernels.c, one Zen 4 core): the int8
 * GEMM at n = 4 is ~1.3x the row dots of n = 3 per token; dequantize + sgemm overtakes F16 row dots at n = 3-4
 * and Q8_0 AVX2 row dots at n = 4. Overridable with -D for experiments. */
#ifndef KERN__GEMM_MIN_N
#define KERN__GEMM_MIN_N 4
#endif
/* The batch sizes at which the in-place multi-row dots (MULTI) beat the packed GEMM (tests/bench/bench_kernels.c,
 * SmolLM-135M shapes, 2 threads, Zen 4, medians of noisy runs): at n = 16 MULTI takes ~0.75x the GEMM's time
 * for both types, at n = 8 ~0.85x (Q4_0; Q8_0 about even on cached shapes, ~0.9x on the larger ones); at n = 4
 * about even on cached weights and ~0.85x on weights that come from memory (as every weight does in a decode
 * step); at n = 24-32 (two 16-row vectors) about even to ~1.1x slower, so the GEMM keeps n > 16. The kernels
 * take any n (raise these with -D to experiment). */
#ifndef KERN__MULTI_MIN_N
#define KERN__MULTI_MIN_N 4
#endif
#ifndef KERN__MULTI_MAX_N_Q8_0
#define KERN__MULTI_MAX_N_Q8_0 16
#endif
#ifndef KERN__MULTI_MAX_N_Q4_0
#define KERN__MULTI_MAX_N_Q4_0 16
#endif
/* Up to these batch sizes the row dots that share each weight load among up to 4 activation rows (rowdot_nx: Q8_0,
 * Q4_0; at AVX2 Q4_0 only below its MULTI range) run instead of MULTI. `cinder bench -B n` on SmolLM-135M Q8_0 (2
 * threads, Zen 4, best of 3 alternated runs):
 * with VNNI 1.4-1.55x the tokens/s of the row dots at n = 2-3 and 1.35x MULTI's at n = 4, but 0.8-0.87x MULTI's at
 * n = 6-8 (groups of 4 re-read each weight row, where MULTI's 16 lanes take all rows at once); at AVX2 1.4-1.5x
 * the row dots at n = 2-8, 1.17x at 11, 1.1x the signed MULTI at 12 and 0.9x at 16. Q4_0 with VNNI (SmolLM-135M
 * Q4_0, idle): 1.39x / 1.66x the row dots at n = 2 / 3, 1.58x MULTI at 4;
 * at AVX2 1.3x / 1.5x the row dots at 2 / 3, and its byte-path MULTI from 4 as before. */
/* With VNNI the K-quants have no multi-row dots: the row dots run up to this batch size, the packed GEMM above.
 * `cinder bench -B n` on a 1024-wide llama Q4_K_M (Q6_K head), 2 threads, Zen 4, best of 2 alternated runs: the
 * row dots 1.5-1.8x the GEMM's tokens/s at n = 4 (where the GEMM was a cliff: 172 against 285 at n = 2) and
 * 1.25-1.4x at 6, even at 8, 0.7-0.8x at 12-16 (the GEMM repacks W per call, which pays from about 8 rows). */
#ifndef KERN__GEMM_MIN_N_NO_MULTI
#define KERN__GEMM_MIN_N_NO_MULTI 8
#endif
/* ... and those with shared-load row dots (Q4_K, Q6_K) take them up to this batch size: the same file and runs,
 * 1.9x the GEMM's tokens/s at n = 8, 1.4x at 10, 1.25x at 12, 0.97x at 16. */
#ifndef KERN__NX_MAX_N_KQ
#define KERN__NX_MAX_N_KQ 15
#endif
#ifndef KERN__NX_MAX_N
#define KERN__NX_MAX_N 4
#endif
#ifndef KERN__NX_MAX_N_AVX2
#define KERN__NX_MAX_N_AVX2 13
#endif
/* The same on AVX2 without VNNI (multi_avx2.c, every quantized type). Measured with tests/bench/bench_kernels.c
 * -i avx2 (the SmolLM-135M shapes, 2 threads, matmul.c built with each path forced by -D) on a Zen 4 capped at
 * AVX2, so a proxy for a real AVX2 CPU, and on a shared, loaded machine (medians of noisy runs; BENCHMARKS.md has
 * the table). Below MIN_N the row dots win: they keep a 16-row sub-block of W in L1 for all n activation rows, so
 * W is read from memory once there too, and their per-row work is small. The multi-row dots win from n = 4 where
 * the weights are small unsigned integers (Q4_0, Q4_1, Q5_0, Q5_1: at n = 16 ~2-4x faster than the row dots), only
 * from n ~ 12 where they need the sign trick (Q8_0, IQ4_NL: 4 instructions per weight dword and 8 rows instead of
 * VNNI's 1 per 16) or a 16-column scale split (Q6_K; Q3_K and Q2_K share its code, not measured apart), from n = 8
 * for Q4_K and Q5_K. Above MAX_N the packed GEMM (gemm_avx2.c); between 4 and 16 it lost to both (~2-3x slower on
 * the whole model: repacking W costs more than the products at these n). */
#ifndef KERN__MULTI_MIN_N_AVX2
#define KERN__MULTI_MIN_N_AVX2 4 /* Q4_0, Q4_1, Q5_0, Q5_1 */
#endif
#ifndef KERN__MULTI_MIN_N_AVX2_SIGNED
#define KERN__MULTI_MIN_N_AVX2_SIGNED 12 /* Q8_0, IQ4_NL */
#endif
#ifndef KERN__MULTI_MIN_N_AVX2_K
#define KERN__MULTI_MIN_N_AVX2_K 8 /* Q4_K, Q5_K */
#endif
#ifndef KERN__MULTI_MIN_N_AVX2_K16
#define KERN__MULTI_MIN_N_AVX2_K16 12 /* Q6_K, Q3_K, Q2_K */
#endif
#ifndef KERN__MULTI_MAX_N_AVX2
#define KERN__MULTI_MAX_N_AVX2 16
#endif
/* At AVX2 the row dots run up to the MULTI range, not only below KERN__GEMM_MIN_N (the GEMM starts above it). */
/* F16 / BF16 weights (multi_f16_avx2.c, at both SIMD levels) against dequantizing tiles for cblas_sgemm: */
#ifndef KERN__MULTI_MIN_N_F16
#define KERN__MULTI_MIN_N_F16 2
#endif
#ifndef KERN__MULTI_MAX_N_F16
#define KERN__MULTI_MAX_N_F16 16
#endif
#ifndef KERN__BLAS_MIN_N
#define KERN__BLAS_MIN_N 4
#endif

/* One thread's share of a call's chunks: the next one to hand out (its own thread, or another that ran out). */
typedef struct {
    _Alignas(64) _Atomic int64_t next;
} mm__share_t;

struct kern_ctx {
    kern_pool_t *pool;
    int n_threads;
    int64_t max_cols, max_rows, max_batch;
    int8_t *xq;          /* (max_batch, max_cols) q8a values */
    float *xd;           /* (max_batch, max_cols/32) q8a scales */
    int32_t *xs;         /* (max_batch, max_cols/32) q8a block sums */
    uint8_t *xu;         /* (max_batch, max_cols) q8a values + 128, for the GEMM */
    int16_t *x16;        /* (max_batch, max_cols) q8a values widened to int16 for the AVX2 GEMM; NULL unless the
                            level in use at kern_ctx_create has a GEMM that reads them (gemm_widen) */
    int32_t *xh;         /* (max_batch, max_cols/32) sums of the first 16 q8a values of each block (Q2_K GEMM) */
    kern__q8k_t *xk;     /* (max_batch, max_cols/256) q8k blocks */
    float *tiles;        /* (n_threads, MM__TILE_ROWS, max_cols) dequantized W tiles */
    uint8_t *packs;      /* (n_threads, pack_bytes) int8 GEMM panels, 64-byte aligned */
    mm__share_t *shares; /* (n_threads) where each thread's run of chunks has got to */
    int8_t *xt;          /* (max_batch rounded up to 16, max_cols) q8a values transposed for MULTI (kern__q8t_t) */
    float *xtd;          /* (max_batch rounded up to 16, max_cols/32) their scales */
    int32_t *xts;        /* (max_batch rounded up to 16, max_cols/32) their block sums */
    int32_t *xth;        /* (max_batch rounded up to 16, max_cols/32) their sums of the first 16 values (xh) */
    size_t pack_bytes;
};

typedef enum { MM__ROWDOT, MM__MULTI, MM__GEMM, MM__SGEMM } mm__mode_t;

typedef struct {
    kern_ctx_t *k;
    const kern__isa_t *isa;
    const float *X;
    int64_t n, K;
    int n_w;
    const kern_weight_t *W[MM__MAX_W];
    float *Y[MM__MAX_W];
    mm__mode_t mode[MM__MAX_W];
    int64_t chunk_rows[MM__MAX_W];      /* rows of W per chunk */
    int64_t chunk_toks[MM__MAX_W];      /* activation rows per chunk (GEMM; n otherwise) */
    int64_t n_tok_groups[MM__MAX_W];    /* ceil(n / chunk_toks) */
    int64_t first_chunk[MM__MAX_W + 1]; /* chunk c belongs to weight i when first[i] <= c < first[i+1] */
    bool need_q8a, need_q8k, need_xu, need_x16, need_q8t, need_xh;
    int n_runs; /* runs the chunks are cut into: one per thread (row dots), or 1 that all share (products) */
} mm__job_t;

static void *mm__alloc(size_t n_elems, size_t elem_size) {
    if (n_elems == 0) n_elems = 1;
    if (n_elems > SIZE_MAX / elem_size) return NULL;
    size_t bytes = (n_elems * elem_size + 63) & ~(size_t)63;
    return aligned_alloc(64, bytes);
}

int kern_ctx_create(kern_pool_t *pool, int64_t max_cols, int64_t max_rows, int64_t max_batch, kern_ctx_t **out) {
    if (!out) return ERR_INVAL;
    *out = NULL;
    if (!pool || max_cols <= 0 || max_rows <= 0 || max_batch <= 0) return ERR_INVAL;
    /* generous sanity bounds so that the products below cannot overflow */
    if (max_cols > (1 << 24) || max_batch > (1 << 24) || max_cols * max_batch > ((int64_t)1 << 36)) return ERR_INVAL;
    kern_ctx_t *k = calloc(1, sizeof *k);
    if (!k) return ERR_NOMEM;
    k->pool = pool;
    k->n_threads = kern_pool_n_threads(pool);
    k->max_cols = max_cols;
    k->max_rows = max_rows;
    k->max_batch = max_batch;
    const int64_t nb32 = (max_cols + 31) / 32, nbk = (max_cols + QK_K - 1) / QK_K;
    k->pack_bytes = (kern__gemm_pack_bytes(nb32 * 32) + 63) & ~(size_t)63;
    k->xq = mm__alloc((size_t)(max_batch * nb32 * 32), 1);
    k->xd = mm__alloc((size_t)(max_batch * nb32), sizeof(float));
    k->xs = mm__alloc((size_t)(max_batch * nb32), sizeof(int32_t));
    k->xu = mm__alloc((size_t)(max_batch * nb32 * 32), 1);
    /* 2 bytes per activation value that only the AVX2 GEMM reads: made for the level in use now (the CPU's best,
     * or what CINDER_ISA / kern_cap_isa capped it to before this call); see kern_matmul_multi for a later change */
    const bool widen = kern__isa()->gemm_widen != NULL;
    if (widen) k->x16 = mm__alloc((size_t)(max_batch * nb32 * 32), sizeof(int16_t));
    k->xh = mm__alloc((size_t)(max_batch * nb32), sizeof(int32_t));
    k->xk = mm__alloc((size_t)(max_batch * nbk), sizeof(kern__q8k_t));
    k->tiles = mm__alloc((size_t)k->n_threads * MM__TILE_ROWS * (size_t)max_cols, sizeof(float));
    k->packs = mm__alloc((size_t)k->n_threads, k->pack_bytes);
    k->shares = mm__alloc((size_t)k->n_threads, sizeof(mm__share_t));
    const int64_t bt = (max_batch + 15) / 16 * 16;
    k->xt = mm__alloc((size_t)(bt * nb32 * 32), 1);
    k->xtd = mm__alloc((size_t)(bt * nb32), sizeof(float));
    k->xts = mm__alloc((size_t)(bt * nb32), sizeof(int32_t));
    k->xth = mm__alloc((size_t)(bt * nb32), sizeof(int32_t));
    if (!k->xq || !k->xd || !k->xs || !k->xu || (widen && !k->x16) || !k->xh || !k->xk || !k->tiles || !k->packs ||
        !k->shares || !k->xt || !k->xtd || !k->xts || !k->xth) {
        kern_ctx_free(k);
        return ERR_NOMEM;
    }
    /* the pool parallelises around BLAS; OpenBLAS threads on top would oversubscribe the cores */
    openblas_set_num_threads(1);
    *out = k;
    return 0;
}

void kern_ctx_free(kern_ctx_t *k) {
    if (!k) return;
    free(k->xq);
    free(k->xd);
    free(k->xs);
    free(k->xu);
    free(k->x16);
    free(k->shares);
    free(k->xh);
    free(k->xk);
    free(k->tiles);
    free(k->packs);
    free(k->xt);
    free(k->xtd);
    free(k->xts);
    free(k->xth);
    free(k);
}

kern_pool_t *kern_ctx_pool(kern_ctx_t *k) { return k ? k->pool : NULL; }

/* ---- activation quantization -------------------------------------------------------------------------------- */

static void mm__quant_rows(mm__job_t *job, int64_t j0, int64_t j1) {
    const kern_ctx_t *k = job->k;
    const int64_t K = job->K, nb = K / 32, nbk = K / QK_K;
    for (int64_t j = j0; j < j1; j++) {
        const float *x = job->X + j * K;
        if (job->need_q8a)
            job->isa->quant_q8a(x, K, k->xq + j * K, k->xd + j * nb, k->xs + j * nb,
                                job->need_xu ? k->xu + j * K : NULL);
        if (job->need_x16) /* the AVX2 GEMM's operand: widened once here, not once per panel of W */
            job->isa->gemm_widen(k->xq + j * K, k->x16 + j * K, K);
        if (job->need_xh) /* per block, the sum of its first 16 values (the second 16: s - h) */
            for (int64_t b = 0; b < nb; b++) {
                const int8_t *q = k->xq + j * K + 32 * b;
                int32_t h = 0;
                for (int i = 0; i < 16; i++)
                    h += q[i];
                k->xh[j * nb + b] = h;
            }
        if (job->need_q8k) job->isa->quant_q8k(x, K, k->xk + j * nbk);
    }
}

static void mm__quant_worker(void *arg, int ith, int nth) {
    mm__job_t *job = arg;
    const int64_t per = (job->n + nth - 1) / nth;
    const int64_t j0 = per * ith, j1 = j0 + per < job->n ? j0 + per : job->n;
    if (j0 < j1) mm__quant_rows(job, j0, j1);
}

/* The n q8a rows transposed for MULTI (layout in kern_impl.h, kern__q8t_t), with the half sums xh when made;
 * lanes past n are zeroed. */
static void mm__transpose_q8a(kern_ctx_t *k, int64_t n, int64_t K, bool with_h) {
    const int64_t nb = K / 32, nv = (n + 15) / 16;
    for (int64_t v = 0; v < nv; v++)
        for (int64_t b = 0; b < nb; b++) {
            int8_t *qt = k->xt + (v * nb + b) * 512;
            float *dt = k->xtd + (v * nb + b) * 16;
            int32_t *st = k->xts + (v * nb + b) * 16;
            int32_t *ht = k->xth + (v * nb + b) * 16;
            for (int64_t t = 0; t < 16; t++) {
                const int64_t j = 16 * v + t;
                if (j < n) {
                    const int8_t *q = k->xq + j * K + b * 32;
                    for (int g = 0; g < 8; g++)
                        memcpy(qt + g * 64 + 4 * t, q + 4 * g, 4);
                    dt[t] = k->xd[j * nb + b];
                    st[t] = k->xs[j * nb + b];
                    ht[t] = with_h ? k->xh[j * nb + b] : 0;
                } else {
                    for (int g = 0; g < 8; g++)
                        memset(qt + g * 64 + 4 * t, 0, 4);
                    dt[t] = 0.0f;
                    st[t] = 0;
                    ht[t] = 0;
                }
            }
        }
}

/* ---- the paths --------------------------------------------------------------------------------------------------- */

/* Rows [r0, r1) of weight i against all n activation rows. */
static void mm__rowdot(mm__job_t *job, int i, int64_t r0, int64_t r1) {
    const kern_weight_t *W = job->W[i];
    const kern_ctx_t *k = job->k;
    const kern__rowdot_fn dot = job->isa->rowdot[W->type];
    const kern__rowdot_nx_fn nx = job->isa->rowdot_nx[W->type];
    const int64_t K = job->K, nb = K / 32, nbk = K / QK_K;
    for (int64_t r = r0; r < r1; r += MM__ROWDOT_SUB) {
        const int64_t m = r1 - r < MM__ROWDOT_SUB ? r1 - r : MM__ROWDOT_SUB;
        const uint8_t *w = (const uint8_t *)W->data + (size_t)r * W->row_bytes;
        if (nx && job->n > 1) { /* each weight block once for up to 4 activation rows */
            const kern__q8a_t xa = {.qs = k->xq, .d = k->xd, .s = k->xs, .K = K};
            const void *x = kern__act_format(W->type) == KERN__ACT_Q8K ? (const void *)k->xk : (const void *)&xa;
            nx(w, W->row_bytes, m, x, job->n, job->Y[i] + r, W->rows);
            continue;
        }
        for (int64_t j = 0; j < job->n; j++) {
            float *y = job->Y[i] + j * W->rows + r;
            switch (kern__act_format(W->type)) {
            case KERN__ACT_Q8A: {
                const kern__q8a_t xa = {k->xq + j * K, k->xd + j * nb, k->xs + j * nb, K, NULL, NULL, NULL};
                dot(w, W->row_bytes, m, &xa, K, y);
                break;
            }
            case KERN__ACT_Q8K: dot(w, W->row_bytes, m, k->xk + j * nbk, K, y); break;
            default: dot(w, W->row_bytes, m, job->X + j * K, K, y); break;
            }
        }
    }
}

/* Rows [r0, r1) of weight i against all n (transposed) activation rows, in sub-blocks of rows that stay in L1
 * while the activation vectors pass over them. */
static void mm__multi(mm__job_t *job, int i, int64_t r0, int64_t r1) {
    const kern_weight_t *W = job->W[i];
    const kern_ctx_t *k = job->k;
    const kern__rowdot_multi_fn dot = job->isa->rowdot_multi[W->type];
    const kern__q8t_t xt = {k->xt, k->xtd, k->xts, job->need_xh ? k->xth : NULL, job->K, job->X};
    int64_t sub = MM__MULTI_L1_BYTES / (int64_t)W->row_bytes;
    sub = sub < 4 ? 4 : sub > 64 ? 64 : sub;
    for (int64_t r = r0; r < r1; r += sub) {
        const int64_t m = r1 - r < sub ? r1 - r : sub;
        const uint8_t *w = (const uint8_t *)W->data + (size_t)r * W->row_bytes;
        /* The kernels prefetch the rows one sub-block ahead of those they multiply (kern__prefetch), so memory is
         * read while they compute; the first sub-block of a run is touched here, its lines in address order:
         * independent loads the core overlaps, where the kernel would wait for each row of W (every weight of a
         * decode step comes from memory). */
        if (r == r0) {
            uint8_t touch = 0;
            for (size_t o = 0; o < (size_t)m * W->row_bytes; o += 64)
                touch ^= *(const volatile uint8_t *)(w + o);
            (void)touch;
        }
        dot(w, W->row_bytes, m, &xt, job->n, job->Y[i] + r, W->rows);
    }
}

/* Rows [r0, r1) of weight i against activation rows [j0, j1). */
static void mm__gemm(mm__job_t *job, int i, int64_t r0, int64_t r1, int64_t j0, int64_t j1, int ith) {
    const kern_weight_t *W = job->W[i];
    const kern_ctx_t *k = job->k;
    const int64_t K = job->K, nb = K / 32;
    const kern__q8a_t xa = {k->xq + j0 * K,
                            k->xd + j0 * nb,
                            k->xs + j0 * nb,
                            K,
                            job->need_xu ? k->xu + j0 * K : NULL,
                            job->need_xh ? k->xh + j0 * nb : NULL,
                            job->need_x16 ? k->x16 + j0 * K : NULL};
    job->isa->gemm_q8(W->type, (const uint8_t *)W->data + (size_t)r0 * W->row_bytes, W->row_bytes, r1 - r0, &xa,
                      j1 - j0, job->Y[i] + j0 * W->rows + r0, W->rows, k->packs + (size_t)ith * k->pack_bytes);
}

static void mm__sgemm(mm__job_t *job, int i, int64_t r0, int64_t r1, int ith) {
    const kern_weight_t *W = job->W[i];
    const kern_ctx_t *k = job->k;
    const int64_t K = job->K, m = r1 - r0;
    const uint8_t *w = (const uint8_t *)W->data + (size_t)r0 * W->row_bytes;
    const float *B;
    if (W->type == DT_F32) {
        B = (const float *)w;
    } else {
        float *tile = k->tiles + (size_t)ith * MM__TILE_ROWS * (size_t)k->max_cols;
        job->isa->dequant[W->type](w, tile, m * K); /* rows are contiguous: one call for the whole tile */
        B = tile;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)job->n, (int)m, (int)K, 1.0f, job->X, (int)K, B, (int)K,
                0.0f, job->Y[i] + r0, (int)W->rows);
}

/* Thread body. For the row dots (ROWDOT, MULTI: W streamed from memory) the chunks, weight by weight and rows in
 * order, are cut into one contiguous run per thread, so that each thread streams its own part of W; a thread that
 * finishes its run takes the next chunks of the others' runs (the shares' counters), so that one slowed down or
 * descheduled does not hold the call up. The products (GEMM, SGEMM: compute-bound) hand out all chunks from one
 * counter in order, which measured ~2.5% faster for them. */
static void mm__worker(void *arg, int ith, int nth) {
    mm__job_t *job = arg;
    const int64_t total = job->first_chunk[job->n_w];
    const int runs = job->n_runs;
    for (int v = 0; v < runs; v++) {
        const int u = (ith + v) % runs;
        const int64_t end = total * (u + 1) / runs;
        mm__share_t *sh = &job->k->shares[u];
        for (;;) {
            const int64_t c = atomic_fetch_add_explicit(&sh->next, 1, memory_order_relaxed);
            if (c >= end) break;
            int i = 0;
            while (c >= job->first_chunk[i + 1])
                i++;
            const int64_t rows = job->W[i]->rows, local = c - job->first_chunk[i];
            const int64_t r0 = local / job->n_tok_groups[i] * job->chunk_rows[i];
            const int64_t r1 = r0 + job->chunk_rows[i] < rows ? r0 + job->chunk_rows[i] : rows;
            const int64_t j0 = local % job->n_tok_groups[i] * job->chunk_toks[i];
            const int64_t j1 = j0 + job->chunk_toks[i] < job->n ? j0 + job->chunk_toks[i] : job->n;
            switch (job->mode[i]) {
            case MM__GEMM: mm__gemm(job, i, r0, r1, j0, j1, ith); break;
            case MM__SGEMM: mm__sgemm(job, i, r0, r1, ith); break;
            case MM__MULTI: mm__multi(job, i, r0, r1); break;
            default: mm__rowdot(job, i, r0, r1); break;
            }
        }
    }
}

/* ---- entry points ------------------------------------------------------------------------------------------- */

static bool mm__weight_ok(const kern_ctx_t *k, const kern_weight_t *W) {
    if (!W || !W->data || !dtype_supported(W->type)) return false;
    if (W->rows < 1 || W->cols < 1 || W->cols > k->max_cols || W->rows > INT32_MAX) return false;
    if (W->cols % dtype_block_elems(W->type) != 0) return false;
    return dtype_row_bytes(W->type, W->cols) == (int64_t)W->row_bytes;
}

static _Atomic bool mm__force_multi; /* tests: MULTI at every n where the table has multi-row dots */

/* The batch sizes [*lo, *hi] for which an ISA table's multi-row dots of type t are used (empty without them). */
static void mm__multi_range(const kern__isa_t *isa, dtype_t t, int64_t *lo, int64_t *hi) {
    *lo = 1;
    *hi = 0;
    if (!isa->rowdot_multi[t]) return;
    if (t == DT_F16 || t == DT_BF16) {
        *lo = KERN__MULTI_MIN_N_F16;
        *hi = KERN__MULTI_MAX_N_F16;
        return;
    }
    if (isa->level == KERN__ISA_AVX2) {
        switch (t) {
        case DT_Q8_0: case DT_IQ4_NL: *lo = KERN__MULTI_MIN_N_AVX2_SIGNED; break;
        case DT_Q4_K: case DT_Q5_K: *lo = KERN__MULTI_MIN_N_AVX2_K; break;
        case DT_Q6_K: case DT_Q3_K: case DT_Q2_K: *lo = KERN__MULTI_MIN_N_AVX2_K16; break;
        default: *lo = KERN__MULTI_MIN_N_AVX2; break;
        }
        *hi = KERN__MULTI_MAX_N_AVX2;
        return;
    }
    *lo = KERN__MULTI_MIN_N > KERN__GEMM_MIN_N ? KERN__MULTI_MIN_N : KERN__GEMM_MIN_N;
    switch (t) {
    case DT_Q8_0: *hi = KERN__MULTI_MAX_N_Q8_0; break;
    case DT_Q4_0: *hi = KERN__MULTI_MAX_N_Q4_0; break;
    case DT_Q4_1: case DT_Q5_0: case DT_Q5_1: case DT_IQ4_NL: *hi = KERN__MULTI_MAX_N_Q4_0; break; /* not tuned apart */
    default: break;
    }
}

static mm__mode_t mm__choose(const kern__isa_t *isa, dtype_t t, int64_t n) {
    if (isa->rowdot_multi[t] && atomic_load_explicit(&mm__force_multi, memory_order_relaxed)) return MM__MULTI;
    int64_t lo, hi;
    mm__multi_range(isa, t, &lo, &hi);
    /* at AVX2 MULTI wins from its own threshold (Q4_0's byte path, the K-quants'), Q8_0's signed one only past
     * KERN__NX_MAX_N_AVX2; with VNNI the K-quants' nx runs to KERN__NX_MAX_N_KQ */
    const bool kq = kern__act_format(t) == KERN__ACT_Q8K;
    const int64_t nx_max = isa->level != KERN__ISA_AVX2 ? (kq ? KERN__NX_MAX_N_KQ : KERN__NX_MAX_N)
                           : t == DT_Q8_0 ? KERN__NX_MAX_N_AVX2
                                          : lo - 1;
    if (isa->rowdot_nx[t] && n <= nx_max) return MM__ROWDOT;
    if (n >= lo && n <= hi) return MM__MULTI;
    if (hi > 0 && n < lo && isa->level == KERN__ISA_AVX2) return MM__ROWDOT; /* see KERN__MULTI_MIN_N_AVX2 */
    if (hi == 0 && kern__gemm_type(t) && isa->gemm_q8 && n < KERN__GEMM_MIN_N_NO_MULTI)
        return MM__ROWDOT; /* the K-quants with VNNI */
    if (kern__gemm_type(t) && isa->gemm_q8 && n >= KERN__GEMM_MIN_N) return MM__GEMM;
    if (n >= KERN__BLAS_MIN_N) return MM__SGEMM;
    return MM__ROWDOT;
}

bool kern__rowdot_path(dtype_t t, int64_t n) { return mm__choose(kern__isa(), t, n) == MM__ROWDOT; }

void kern__force_multi(bool on) { atomic_store_explicit(&mm__force_multi, on, memory_order_relaxed); }

int kern_matmul_multi(kern_ctx_t *k, const kern_weight_t *const *Ws, int n_w, const float *X, int64_t n,
                      float *const *Ys) {
    if (!k || !Ws || !Ys || !X || n_w < 1 || n_w > MM__MAX_W || n < 1 || n > k->max_batch) return ERR_INVAL;
    mm__job_t job;
    memset(&job, 0, sizeof job);
    job.k = k;
    job.isa = kern__isa();
    job.X = X;
    job.n = n;
    job.K = Ws[0] ? Ws[0]->cols : 0;
    job.n_w = n_w;
    const int nth = k->n_threads;
    int64_t total_rows = 0;
    for (int i = 0; i < n_w; i++) {
        if (!mm__weight_ok(k, Ws[i]) || Ws[i]->cols != job.K || !Ys[i]) return ERR_INVAL;
        total_rows += Ws[i]->rows;
    }
    int64_t chunks = 0;
    for (int i = 0; i < n_w; i++) {
        const kern_weight_t *W = Ws[i];
        job.W[i] = W;
        job.Y[i] = Ys[i];
        job.mode[i] = mm__choose(job.isa, W->type, n);
        if (job.mode[i] == MM__GEMM && job.isa->gemm_widen && !k->x16)
            job.mode[i] = MM__SGEMM; /* lowered to AVX2 after k was made: no int16 activations to give its GEMM */
        int64_t rows_per;
        switch (job.mode[i]) {
        case MM__GEMM: rows_per = KERN__GEMM_ROWS; break;
        case MM__SGEMM: { /* tiles of equal height, at most MM__TILE_ROWS, as many as a multiple of the threads
                             (384 rows on 2 threads: 4 of 96, not 128 x 3 with one thread doing two) */
            int64_t tiles = (W->rows + MM__TILE_ROWS - 1) / MM__TILE_ROWS;
            tiles = (tiles + nth - 1) / nth * nth;
            rows_per = (W->rows + tiles - 1) / tiles;
            rows_per = rows_per < 16 ? 16 : (rows_per + 7) / 8 * 8;
            break;
        }
        default: /* ROWDOT, MULTI: about 8 chunks per thread over the whole call, at least 16 rows, in one
                    contiguous run per thread (mm__worker). Streaming one run of W per thread, which the prefetchers
                    follow, gave 1.17-1.25x the tokens/s of 4 chunks per thread handed out in turn (`cinder bench -B`
                    on SmolLM-135M Q8_0, Zen 4, 2 threads, best of 3) at 1 row, 1.08-1.22x at 4, 1.05x at 16, at both
                    levels; the chunks within a run let a thread that is done take over from a slow one (with a busy
                    process on the other core: 1.0-1.13x one chunk per thread). */
            rows_per = (total_rows + 8 * nth - 1) / (8 * nth);
            rows_per = rows_per < MM__ROWDOT_SUB ? MM__ROWDOT_SUB : (rows_per + 15) / 16 * 16;
            break;
        }
        job.chunk_rows[i] = rows_per;
        job.chunk_toks[i] = n;
        const int64_t row_chunks = (W->rows + rows_per - 1) / rows_per;
        if (job.mode[i] == MM__GEMM && row_chunks < 8 * nth) {
            /* few panels (K/V at prefill): split the tokens too, so every thread gets several chunks; each
             * chunk repacks its panel, which costs little next to >= 32 tokens of products */
            int64_t groups = (8 * nth + row_chunks - 1) / row_chunks;
            int64_t toks = (n + groups - 1) / groups;
            toks = toks < 32 ? 32 : (toks + 3) / 4 * 4;
            job.chunk_toks[i] = toks < n ? toks : n;
        }
        job.n_tok_groups[i] = (n + job.chunk_toks[i] - 1) / job.chunk_toks[i];
        job.first_chunk[i] = chunks;
        chunks += row_chunks * job.n_tok_groups[i];
        if (job.mode[i] == MM__GEMM) {
            job.need_q8a = true;
            job.need_xu = job.isa->gemm_xu;
            job.need_x16 = job.isa->gemm_widen != NULL;
            if (W->type == DT_Q2_K) job.need_xh = true;
        } else if (job.mode[i] == MM__MULTI && kern__act_format(W->type) != KERN__ACT_F32) {
            job.need_q8a = job.need_q8t = true;
            if (W->type == DT_Q2_K || W->type == DT_Q3_K || W->type == DT_Q6_K) job.need_xh = true;
        } else if (job.mode[i] == MM__ROWDOT) {
            if (kern__act_format(W->type) == KERN__ACT_Q8A) job.need_q8a = true;
            if (kern__act_format(W->type) == KERN__ACT_Q8K) job.need_q8k = true;
        }
    }
    job.first_chunk[n_w] = chunks;
    job.n_runs = nth;
    for (int i = 0; i < n_w; i++)
        if (job.mode[i] == MM__GEMM || job.mode[i] == MM__SGEMM) job.n_runs = 1;
    for (int t = 0; t < job.n_runs; t++) /* published to the pool threads by kern_pool_run */
        atomic_store_explicit(&k->shares[t].next, chunks * t / job.n_runs, memory_order_relaxed);

    if (job.need_q8a || job.need_q8k) {
        if (n <= MM__QUANT_ON_CALLER || nth == 1)
            mm__quant_rows(&job, 0, n);
        else
            kern_pool_run(k->pool, mm__quant_worker, &job);
        if (job.need_q8t) mm__transpose_q8a(k, n, job.K, job.need_xh);
    }
    kern_pool_run(k->pool, mm__worker, &job);
    return 0;
}

int kern_matmul(kern_ctx_t *k, const kern_weight_t *W, const float *X, int64_t n, float *Y) {
    const kern_weight_t *Ws[1] = {W};
    float *Ys[1] = {Y};
    return kern_matmul_multi(k, Ws, 1, X, n, Ys);
}

/* ---- plain F32 products for other modules ------------------------------------------------------------------ */

static bool mm__gemm_dims_ok(int64_t m, int64_t n, int64_t k, int64_t lda, int64_t la, int64_t ldb, int64_t lb,
                             int64_t ldc, const void *A, const void *B, const void *C) {
    const int64_t lim = INT32_MAX;
    if (!A || !B || !C || m < 1 || n < 1 || k < 1 || m > lim || n > lim || k > lim) return false;
    return lda >= la && ldb >= lb && ldc >= n && lda <= lim && ldb <= lim && ldc <= lim;
}

int kern_sgemm_nt(int64_t m, int64_t n, int64_t k, float alpha, const float *A, int64_t lda, const float *B,
                  int64_t ldb, float *C, int64_t ldc) {
    if (!mm__gemm_dims_ok(m, n, k, lda, k, ldb, k, ldc, A, B, C)) return ERR_INVAL;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)k, alpha, A, (int)lda, B, (int)ldb, 0.0f,
                C, (int)ldc);
    return 0;
}

int kern_sgemm_nn(int64_t m, int64_t n, int64_t k, float alpha, const float *A, int64_t lda, const float *B,
                  int64_t ldb, float beta, float *C, int64_t ldc) {
    if (!mm__gemm_dims_ok(m, n, k, lda, k, ldb, n, ldc, A, B, C)) return ERR_INVAL;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, alpha, A, (int)lda, B, (int)ldb,
                beta, C, (int)ldc);
    return 0;
}
