/*
 * attn.c — attention of query heads over keys and values cached as F16: the public kern_attn_* entry points, which
 * dispatch to the instruction set in use (kern__isa, so `--isa` applies), and their portable versions.
 *
 * Numerics follow llama.cpp's CPU path so that greedy output agrees token for token: the query is rounded to F16
 * (as ggml converts it to the cache's type before the dot product), scores are computed in F32, values accumulate
 * in F32. Pure functions over caller memory; any thread.
 */
#include "kern_impl.h"

/* ---- portable versions ---------------------------------------------------------------------------------- */

void kern__attn_round_f16_scalar(float *x, int32_t n) {
    for (int32_t i = 0; i < n; i++) x[i] = kern_fp16_to_fp32(kern_fp32_to_fp16(x[i]));
}

void kern__attn_scores_heads_scalar(const float *q, int32_t g, const uint16_t *k, size_t stride, int32_t n, int32_t hd,
                                    float scale, float *scores, size_t ss) {
    for (int32_t h = 0; h < g; h++)
        for (int32_t t = 0; t < n; t++) {
            const uint16_t *kt = k + (size_t)t * stride;
            float s = 0.0f;
            for (int32_t i = 0; i < hd; i++) s += q[(size_t)h * hd + i] * kern_fp16_to_fp32(kt[i]);
            scores[(size_t)h * ss + t] = s * scale;
        }
}

void kern__attn_accum_heads_scalar(const float *p, size_t ps, int32_t g, const uint16_t *v, size_t stride, int32_t n,
                                   int32_t hd, float *out) {
    for (int32_t h = 0; h < g; h++)
        for (int32_t t = 0; t < n; t++)
            for (int32_t i = 0; i < hd; i++)
                out[(size_t)h * hd + i] += p[(size_t)h * ps + t] * kern_fp16_to_fp32(v[(size_t)t * stride + i]);
}

/* ---- entry points --------------------------------------------------------------------------------------- */

void kern_attn_round_f16(float *x, int32_t n) {
    if (n > 0) kern__isa()->attn_round_f16(x, n);
}

void kern_attn_scores(const float *q, const uint16_t *k, size_t stride, int32_t n, int32_t hd, float scale,
                      float *scores) {
    kern__isa()->attn_scores_heads(q, 1, k, stride, n, hd, scale, scores, 0);
}

void kern_attn_accum(const float *p, const uint16_t *v, size_t stride, int32_t n, int32_t hd, float *out) {
    kern__isa()->attn_accum_heads(p, 0, 1, v, stride, n, hd, out);
}

void kern_attn_scores_heads(const float *q, int32_t g, const uint16_t *k, size_t stride, int32_t n, int32_t hd,
                            float scale, float *scores, size_t ss) {
    const kern__isa_t *isa = kern__isa();
    for (int32_t j = 0; j < g; j += 4) { /* up to 4 heads at a time: their accumulators stay in registers */
        const int32_t m = g - j < 4 ? g - j : 4;
        isa->attn_scores_heads(q + (size_t)j * hd, m, k, stride, n, hd, scale, scores + (size_t)j * ss, ss);
    }
}

void kern_attn_accum_heads(const float *p, size_t ps, int32_t g, const uint16_t *v, size_t stride, int32_t n,
                           int32_t hd, float *out) {
    const kern__isa_t *isa = kern__isa();
    for (int32_t j = 0; j < g; j += 4) {
        const int32_t m = g - j < 4 ? g - j : 4;
        isa->attn_accum_heads(p + (size_t)j * ps, ps, m, v, stride, n, hd, out + (size_t)j * hd);
    }
}
