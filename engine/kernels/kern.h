/*
 * kern.h — the compute kernels of cinder: matrix products over GGUF weights, block-format conversion, the
 * worker-thread pool that runs them, and the small vector ops of a transformer layer.
 *
 * Owns: a persistent thread pool (kern_pool_t), per-engine-thread scratch (kern_ctx_t), and every use of
 * SIMD and of BLAS in the project (this module is the only one that includes cblas.h).
 * Does not: own weights (they are borrowed, typically straight from the read-only GGUF mapping, and never
 * converted whole), allocate during kern_matmul, or know anything about models.
 *
 * Instruction sets are chosen once at run time (AVX-512 VNNI, AVX2+FMA+F16C, or portable C), so one binary runs
 * on any x86-64 machine. Results of the SIMD and portable paths agree up to float summation order; the integer
 * paths (quantized weights) quantize the activations to 8 bits first, as llama.cpp does, so they
 * differ from an F32 reference by that rounding (relative error ~1e-2 of the dot product's magnitude at worst).
 *
 * Threads: a kern_pool_t and a kern_ctx_t belong to one engine thread at a time (the one that calls
 * kern_pool_run / kern_matmul); their workers are internal. Everything else here is a pure function over
 * caller memory and may be called from any thread, including from inside a kern_pool_run job.
 */
#ifndef CINDER_KERN_H
#define CINDER_KERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dtype.h"
#include "pool.h"

/* ---- weights and matrix products ---------------------------------------------------------------------- */

typedef struct {
    dtype_t type;       /* a supported type (dtype_supported) */
    int64_t rows, cols; /* W (rows, cols) row-major; cols % block_elems(type) == 0; GGUF's ne[1], ne[0] */
    const void *data;   /* rows * row_bytes bytes, borrowed (usually inside the model's mapping) */
    size_t row_bytes;   /* bytes per row: dtype_row_bytes(type, cols) */
} kern_weight_t;

typedef struct kern_ctx kern_ctx_t; /* pool + preallocated scratch; one per engine thread */

/*
 * Allocates the scratch that kern_matmul needs for weights of up to max_cols columns and for up to max_batch
 * activation rows, so that the decode loop never allocates (max_rows, the most rows of any weight, is checked
 * for sanity only: no scratch depends on it). Scratch is about max_batch * max_cols * 4.9 bytes plus, per pool
 * thread, 128 * max_cols floats and 48 * max_cols bytes; at the AVX2 level 2 bytes more per activation value (its
 * GEMM reads them widened to int16). The scratch is sized for the instruction set in use when this is called, so
 * cap it first (kern_cap_isa); if the level is later lowered to AVX2, kern_matmul takes dequantize + sgemm where
 * the AVX2 GEMM would have run (F32 activations, slower). The pool is borrowed and must outlive the context.
 * Also pins OpenBLAS to one thread (the pool parallelises around it). Returns 0 and *out, ERR_INVAL for
 * non-positive or absurd sizes, or ERR_NOMEM.
 */
int kern_ctx_create(kern_pool_t *pool, int64_t max_cols, int64_t max_rows, int64_t max_batch, kern_ctx_t **out);

/*
 * The memory read bandwidth in GB/s (1e9 bytes/s): every thread of the pool streams through its share of a fresh
 * buffer of `bytes` (1 MiB .. 64 GiB; use far more than the caches, e.g. 1 GiB), best of reps runs after a warm-up.
 * Allocates and frees the buffer. Returns 0 and *gb_per_s, ERR_INVAL for bad arguments, ERR_NOMEM. Owner thread of
 * the pool only.
 */
int kern_read_bandwidth(kern_pool_t *pool, int64_t bytes, int reps, double *gb_per_s);

/* Frees the scratch (not the pool). kern_ctx_free(NULL) is a no-op. */
void kern_ctx_free(kern_ctx_t *k);

/* The pool the context was created with. */
kern_pool_t *kern_ctx_pool(kern_ctx_t *k);

/*
 * Y (n, W.rows) = X (n, W.cols) @ W^T, X and Y row-major F32 and not overlapping. 1 <= n <= max_batch,
 * W.cols <= max_cols.
 * Small n runs kernels that read W's blocks in place (integer dot products against 8-bit-quantized activations
 * for the quantized types, float dots for F32/F16/BF16), rows split over the pool's threads. Moderate n (up to 16:
 * decode steps of continuous batching) runs multi-row dots that share each weight load across the activation rows
 * (AVX-512 VNNI and AVX2; F16/BF16 at both levels), with per-type thresholds in matmul.c. Larger n runs an int8
 * GEMM over repacked panels (AVX-512 VNNI: vpdpbusd; AVX2: vpmaddwd / vpmaddubsw in 16 x 6 tiles) or, for float
 * types and the portable level, dequantizes tiles of W into scratch for cblas_sgemm. The result does not depend on
 * the thread count. Returns 0, or ERR_INVAL for bad shapes, a bad row_bytes,
 * NULL pointers or an unsupported type.
 */
int kern_matmul(kern_ctx_t *k, const kern_weight_t *W, const float *X, int64_t n, float *Y);

/*
 * Several products of the same input in one pass over the pool: Ys[i] (n, Ws[i].rows) = X (n, cols) @ Ws[i]^T
 * for i < n_w (at most 8), where every Ws[i] has the same cols (e.g. Q/K/V, or FFN gate/up). Cheaper than
 * n_w calls of kern_matmul at small n: X is quantized once and the threads synchronise once. Same contract and
 * results as kern_matmul otherwise.
 */
int kern_matmul_multi(kern_ctx_t *k, const kern_weight_t *const *Ws, int n_w, const float *X, int64_t n,
                      float *const *Ys);

/*
 * Plain single-threaded F32 products for other modules (attention over a batch of queries), so that only this
 * module includes cblas.h; safe to call from inside a kern_pool_run job (OpenBLAS runs on the calling thread).
 *   kern_sgemm_nt: C (m, n) = alpha * A (m, k) @ B^T, B stored (n, k)   (scores = Q @ K^T)
 *   kern_sgemm_nn: C (m, n) = alpha * A (m, k) @ B + beta * C, B stored (k, n)   (out = P @ V)
 * Row-major with leading dimensions lda, ldb, ldc (>= the row lengths). Sizes must be >= 1 and < 2^31.
 * Returns 0, or ERR_INVAL for bad sizes, leading dimensions or NULL pointers.
 */
int kern_sgemm_nt(int64_t m, int64_t n, int64_t k, float alpha, const float *A, int64_t lda, const float *B,
                  int64_t ldb, float *C, int64_t ldc);
int kern_sgemm_nn(int64_t m, int64_t n, int64_t k, float alpha, const float *A, int64_t lda, const float *B,
                  int64_t ldb, float beta, float *C, int64_t ldc);

/* ---- block formats ------------------------------------------------------------------------------------ */

/*
 * Dequantizes n values (a whole number of blocks, n >= 0) of type t from src to dst (n floats), bit-exactly as
 * llama.cpp does. Returns 0, or ERR_INVAL for an unsupported type, a partial block, or NULL pointers.
 */
int kern_dequant(dtype_t t, const void *src, float *dst, int64_t n);

/* Reads row r (0 <= r < W.rows) of W into dst (W.cols floats): the embedding lookup. 0 or ERR_INVAL. */
int kern_get_row(const kern_weight_t *W, int64_t r, float *dst);

/* IEEE half <-> single. fp32_to_fp16 rounds to nearest even (as F16C); NaN stays NaN, overflow becomes inf. */
float kern_fp16_to_fp32(uint16_t h);
uint16_t kern_fp32_to_fp16(float f);

/* bfloat16 (the top 16 bits of an IEEE single) to single: exact. */
float kern_bf16_to_fp32(uint16_t h);

/* dst (n,) = src (n,) rounded to F16 as kern_fp32_to_fp16 does (vcvtps2ph where available). n >= 0. */
void kern_f32_to_f16(const float *src, uint16_t *dst, int64_t n);

/* dst (n,) = src (n,) widened from F16, exactly (vcvtph2ps where available). n >= 0. */
void kern_f16_to_f32(const uint16_t *src, float *dst, int64_t n);

/* ---- vector ops (single-threaded, SIMD where it pays) -------------------------------------------------- */

/* a (n,) . b (n,) */
float kern_dot_f32(const float *a, const float *b, int64_t n);

/* y (n,) += a * x (n,) */
void kern_axpy_f32(float a, const float *x, float *y, int64_t n);

/* y (n,) = x / sqrt(mean(x^2) + eps) * w; y may alias x. */
void kern_rmsnorm(const float *x, const float *w, float eps, float *y, int64_t n);

/* out (n,) = silu(gate) * up, silu(g) = g / (1 + exp(-g)); out may alias gate or up. */
void kern_silu_mul(const float *gate, const float *up, float *out, int64_t n);

/* out (n,) = gelu(gate) * up with the tanh approximation of GELU, the gate rounded to F16 and gelu's value
 * too (as llama.cpp's CPU backend computes it); out may alias gate or up. */
void kern_gelu_mul(const float *gate, const float *up, float *out, int64_t n);

/* out (n,) = gelu(x) as kern_gelu_mul computes it (BERT's plain FFN); out may alias x. */
void kern_gelu(const float *x, float *out, int64_t n);

/* y (n,) = (x - mean(x)) / sqrt(var(x) + eps) * w + b (LayerNorm; b may be NULL); y may alias x. */
void kern_layernorm(const float *x, const float *w, const float *b, float eps, float *y, int64_t n);

/* x (n,) = softmax(x) in place, computed as exp(x - max) / sum. n >= 1. */
void kern_softmax(float *x, int64_t n);

/*
 * e^x for x <= 0 (x > 0 counts as 0), the same bits on every platform and ISA: only +, -, * and exact bit
 * operations, no fused multiply-add (libm's exp differs in the last place between implementations). Below
 * 2^-1021 (x <= -708, -inf, NaN) it is 0. Accurate to about 3e-13 relative.
 */
double kern_exp_det(double x);

/* The sampler's weights: p[i] = (float)kern_exp_det((double)((l[i] - m) / t)) for i < n (the subtraction and
   division in float), bit-identical at every ISA; SIMD over the vocabulary. m finite, t > 0. */
void kern_exp_weights(const float *l, int64_t n, float m, float t, float *p);

/* ---- attention over an F16 cache ------------------------------------------------------------------------ */
/*
 * One query head's scaled dot products with keys, and its value sums, where the cache holds F16 rows `stride`
 * values apart. Numerics follow llama.cpp's CPU path: scores in F32 from an F16-rounded query (kern_attn_round_f16),
 * values accumulated in F32.
 *   kern_attn_scores: scores[t] = (q . k_t) * scale for n positions; k_t = k + t*stride holds hd F16 values.
 *   kern_attn_accum:  out (hd,) += sum_t p[t] * v_t for n positions.
 * The _heads versions do the same for g query heads that share one key/value head (grouped-query attention),
 * reading each key and value row once for all of them; their results are bitwise those of the one-head calls.
 * q and out hold the g heads hd floats apart; scores and p hold head j's values at j * ss (j * ps).
 */
void kern_attn_scores(const float *q, const uint16_t *k, size_t stride, int32_t n, int32_t hd, float scale,
                      float *scores);
void kern_attn_accum(const float *p, const uint16_t *v, size_t stride, int32_t n, int32_t hd, float *out);
void kern_attn_scores_heads(const float *q, int32_t g, const uint16_t *k, size_t stride, int32_t n, int32_t hd,
                            float scale, float *scores, size_t ss);
void kern_attn_accum_heads(const float *p, size_t ps, int32_t g, const uint16_t *v, size_t stride, int32_t n,
                           int32_t hd, float *out);

/* Rounds n floats to F16 precision and back, in place (round to nearest even, like F16C). */
void kern_attn_round_f16(float *x, int32_t n);

/* The index of the first NaN or infinity in x (n,), or -1 when every value is finite: the check a caller makes
 * on logits before sampling from them (a forward pass that overflowed yields NaN, and sampling NaN is noise). */
int64_t kern_first_nonfinite(const float *x, int64_t n);

/* Whether this CPU has AVX2, FMA and F16C (what the *_avx2.c files are compiled for), whatever kern_cap_isa says. */
bool kern_cpu_has_avx2(void);

/* The instruction set the kernels run with now: "avx512vnni", "avx2" or "scalar" (static storage). */
const char *kern_isa_name(void);

/*
 * Caps the instruction set at `name` ("avx512vnni", "avx2", "scalar"; "auto" = the CPU's best) for the rest of
 * the process, to measure what CPUs without AVX-512 VNNI (or AVX2) get. Returns the name now in effect, lower
 * than the one asked for when this CPU lacks it; NULL for an unknown name (nothing changes). Call it before
 * kernels run: it is not synchronised with them.
 */
const char *kern_cap_isa(const char *name);

#endif
