/*
 * attn.h — scaled dot-product attention of one query head over keys and values cached as F16.
 *
 * Owns nothing: pure functions over caller memory. Numerics follow llama.cpp's CPU path so that greedy output
 * agrees token for token: the query is rounded to F16 (as ggml converts it to the cache's type before the dot
 * product), scores and softmax are computed in F32 with a double-precision sum, values accumulate in F32.
 * Thread-safe: callers give each thread its own scores buffer.
 */
#ifndef CINDER_ATTN_H
#define CINDER_ATTN_H

#include <stdint.h>
#include <stddef.h>

/*
 * One head: q (hd,) against n_pos cached positions. The key of position t is k + t*stride (hd F16 values),
 * its value v + t*stride. scores is scratch of n_pos floats. Writes out (hd,) = softmax(q.K^T * scale) @ V.
 */
void attn_head(const float *q, const uint16_t *k, const uint16_t *v, size_t stride, int32_t n_pos, int32_t hd,
               float scale, float *scores, float *out);

/* Rounds n floats to F16 precision and back, in place (round to nearest even, like F16C). */
void attn_round_f16(float *x, int32_t n);

/* Converts n floats to F16 (dst) with round-to-nearest-even. */
void attn_store_f16(const float *x, uint16_t *dst, int32_t n);

#endif
