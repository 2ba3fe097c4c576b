/* attn_avx2.c — AVX2/FMA/F16C inner loops of attention over an F16 cache (attn.c), in the AVX2 and AVX-512 tables of
 * isa.c (compiled with -mavx2 -mfma -mf16c). */
#include <immintrin.h>

#include "kern_impl.h"

static inline float attn__hsum(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

void kern__attn_round_f16_avx2(float *x, int32_t n) {
    int32_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
    for (; i < n; i++)
        x[i] = _cvtsh_ss(_cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT));
}

/*
 * Scores and value sums of G query heads that share a key/value head (G <= 4, inlined as a constant; one head is
 * G = 1): each key and value row is loaded and widened once for all of them, and each head's operations are the
 * same, in the same order, whatever G is, so the results do not depend on how heads are grouped.
 */
static inline __attribute__((always_inline)) void attn__scores_g(const float *q, const int G, const uint16_t *k,
                                                                 size_t stride, int32_t n, int32_t hd, float scale,
                                                                 float *scores, size_t ss) {
    for (int32_t t = 0; t < n; t++) {
        const uint16_t *kt = k + (size_t)t * stride;
        __m256 a0[4], a1[4];
#pragma GCC unroll 4
        for (int g = 0; g < G; g++)
            a0[g] = a1[g] = _mm256_setzero_ps();
        int32_t i = 0;
        for (; i + 16 <= hd; i += 16) {
            const __m256 k0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kt + i)));
            const __m256 k1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kt + i + 8)));
#pragma GCC unroll 4
            for (int g = 0; g < G; g++) {
                a0[g] = _mm256_fmadd_ps(_mm256_loadu_ps(q + (size_t)g * hd + i), k0, a0[g]);
                a1[g] = _mm256_fmadd_ps(_mm256_loadu_ps(q + (size_t)g * hd + i + 8), k1, a1[g]);
            }
        }
        for (; i + 8 <= hd; i += 8) {
            const __m256 k0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kt + i)));
#pragma GCC unroll 4
            for (int g = 0; g < G; g++)
                a0[g] = _mm256_fmadd_ps(_mm256_loadu_ps(q + (size_t)g * hd + i), k0, a0[g]);
        }
#pragma GCC unroll 4
        for (int g = 0; g < G; g++) {
            float s = attn__hsum(_mm256_add_ps(a0[g], a1[g]));
            for (int32_t j = i; j < hd; j++)
                s += q[(size_t)g * hd + j] * _cvtsh_ss(kt[j]);
            scores[(size_t)g * ss + t] = s * scale;
        }
    }
}

void kern__attn_scores_heads_avx2(const float *q, int32_t g, const uint16_t *k, size_t stride, int32_t n, int32_t hd,
                             float scale, float *scores, size_t ss) {
    switch (g) {
    case 1: attn__scores_g(q, 1, k, stride, n, hd, scale, scores, ss); break;
    case 2: attn__scores_g(q, 2, k, stride, n, hd, scale, scores, ss); break;
    case 3: attn__scores_g(q, 3, k, stride, n, hd, scale, scores, ss); break;
    default: attn__scores_g(q, 4, k, stride, n, hd, scale, scores, ss); break;
    }
}

/*
 * out[g][i] += p[g][t] * v_t[i] over t in order, S slabs of 8 columns at a time kept in registers across the rows.
 * Each (head, slab) is one chain of FMAs over t, 4 cycles per link, and the FMA unit takes 2 a cycle, so one slab
 * per head (G chains) left it waiting: S = 8 / G (at least 2) slabs, G x S accumulators, G broadcasts and one
 * widened slab at a time in the 16 registers. Decode attention at 16 rows, G = 3: 0.8x the time of one slab; 3 slabs
 * measured the same as 2. The order over t is the same whatever S is: the same bits.
 */
static inline __attribute__((always_inline)) void attn__accum_cols(const float *p, size_t ps, const int G, const int S,
                                                                   const uint16_t *v, size_t stride, int32_t n,
                                                                   int32_t hd, int32_t i, float *out) {
    __m256 o[4][8];
#pragma GCC unroll 4
    for (int g = 0; g < G; g++)
#pragma GCC unroll 8
        for (int c = 0; c < S; c++)
            o[g][c] = _mm256_loadu_ps(out + (size_t)g * hd + i + 8 * c);
    for (int32_t t = 0; t < n; t++) {
        __m256 pg[4];
#pragma GCC unroll 4
        for (int g = 0; g < G; g++)
            pg[g] = _mm256_set1_ps(p[(size_t)g * ps + t]);
#pragma GCC unroll 8
        for (int c = 0; c < S; c++) {
            const __m256 x = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + (size_t)t * stride + i + 8 * c)));
#pragma GCC unroll 4
            for (int g = 0; g < G; g++)
                o[g][c] = _mm256_fmadd_ps(pg[g], x, o[g][c]);
        }
    }
#pragma GCC unroll 4
    for (int g = 0; g < G; g++)
#pragma GCC unroll 8
        for (int c = 0; c < S; c++)
            _mm256_storeu_ps(out + (size_t)g * hd + i + 8 * c, o[g][c]);
}

static inline __attribute__((always_inline)) void attn__accum_g(const float *p, size_t ps, const int G,
                                                                const uint16_t *v, size_t stride, int32_t n, int32_t hd,
                                                                float *out) {
    const int S = 8 / G > 1 ? 8 / G : 2;
    int32_t i = 0;
    for (; i + 8 * S <= hd; i += 8 * S)
        attn__accum_cols(p, ps, G, S, v, stride, n, hd, i, out);
    if (S > 2 && i + 16 <= hd) {
        attn__accum_cols(p, ps, G, 2, v, stride, n, hd, i, out);
        i += 16;
    }
    for (; i + 8 <= hd; i += 8)
        attn__accum_cols(p, ps, G, 1, v, stride, n, hd, i, out);
    for (int32_t t = 0; t < n; t++)
#pragma GCC unroll 4
        for (int g = 0; g < G; g++)
            for (int32_t j = i; j < hd; j++)
                out[(size_t)g * hd + j] += p[(size_t)g * ps + t] * _cvtsh_ss(v[(size_t)t * stride + j]);
}

void kern__attn_accum_heads_avx2(const float *p, size_t ps, int32_t g, const uint16_t *v, size_t stride, int32_t n,
                            int32_t hd, float *out) {
    switch (g) {
    case 1: attn__accum_g(p, ps, 1, v, stride, n, hd, out); break;
    case 2: attn__accum_g(p, ps, 2, v, stride, n, hd, out); break;
    case 3: attn__accum_g(p, ps, 3, v, stride, n, hd, out); break;
    default: attn__accum_g(p, ps, 4, v, stride, n, hd, out); break;
    }
}
