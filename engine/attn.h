/*
 * attn.h — scaled dot-product attention of one query head over keys and values cached as F16.
 *
 * Owns nothing: pure functions over caller memory; the caller walks a sequence's cache blocks and calls
 * attn_scores / attn_accum once per block. Numerics follow llama.cpp's CPU path so that greedy output
 * agrees token for token: the query is rounded to F16 (as ggml converts it to the cache's type before the dot
 * product), scores are computed in F32, the softmax between attn_scores and attn_accum is the kernels'
 * kern_softmax (F32 with a double-precision sum), values accumulate in F32.
 * Thread-safe: callers give each thread its own scores buffer.
 */
#ifndef CINDER_ATTN_H
#define CINDER_ATTN_H

#include <stdint.h>
#include <stddef.h>

/* scores[t] = (q . k_t) * scale for n positions; k_t = k + t*stride holds hd F16 values. */
void attn_scores(const float *q, const uint16_t *k, size_t stride, int32_t n, int32_t hd, float scale, float *scores);

/* out (hd,) += sum_t p[t] * v_t for n positions; v_t = v + t*stride holds hd F16 values. */
void attn_accum(const float *p, const uint16_t *v, size_t stride, int32_t n, int32_t hd, float *out);

/*
 * The same for g query heads that share one key/value head (grouped-query attention), reading each key and value
 * row once for all of them; the results are bitwise those of attn_scores / attn_accum called per head.
 * q and out hold the g heads hd floats apart; scores and p hold head j's values at j * ss (j * ps).
 */
void attn_scores_heads(const float *q, int32_t g, const uint16_t *k, size_t stride, int32_t n, int32_t hd, float scale,
                       float *scores, size_t ss);
void attn_accum_heads(const float *p, size_t ps, int32_t g, const uint16_t *v, size_t stride, int32_t n, int32_t hd,
                      float *out);

/* Rounds n floats to F16 precision and back, in place (round to nearest even, like F16C). */
void attn_round_f16(float *x, int32_t n);

#endif
