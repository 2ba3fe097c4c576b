/*
 * gemm_rows.h — what the int8 GEMMs (gemm_avx512.c, gemm_avx2.c) share: one 32-column block of a weight row as
 * signed bytes with its scale(s) and min, for every type kern__gemm_type accepts, and which of those shapes a
 * type has. Include only from files compiled with AVX2 and F16C (the *_avx2.c and *_avx512.c files).
 */
#ifndef CINDER_GEMM_ROWS_H
#define CINDER_GEMM_ROWS_H

#include <immintrin.h>
#include <string.h>

#include "kern_impl.h"

/* Sub-blocks per 32-column block: 2 (two scales of 16 columns) for Q6_K, Q3_K and Q2_K, else 1. */
static inline int gemm__n_sub(dtype_t t) { return t == DT_Q6_K || t == DT_Q3_K || t == DT_Q2_K ? 2 : 1; }

/* Whether a block has mins (value = scale * q - min; one per sub-block): Q4_K, Q5_K, Q4_1, Q5_1, Q2_K. */
static inline bool gemm__has_min(dtype_t t) {
    return t == DT_Q4_K || t == DT_Q5_K || t == DT_Q4_1 || t == DT_Q5_1 || t == DT_Q2_K;
}

/* The 32 nibbles of 16 bytes as unsigned bytes in value order (low nibbles first). */
static inline __m256i gemm__nibbles(const uint8_t *qs) {
    const __m128i q = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0xF));
}

/* Q5_0 / Q5_1's 5th bits: 0x10 in byte i when bit i of the little-endian word at qh is set. */
static inline __m256i gemm__q5_high(const uint8_t *qh) {
    uint32_t h;
    memcpy(&h, qh, 4);
    const __m256i idx = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, /* byte i <- byte i / 8 */
                                         2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)h), idx);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), _mm256_set1_epi8(0x10));
}

/* Bit k (0..7) of each byte of v, as bit `to` of the byte (16-bit shifts; the mask drops the neighbours' bits). */
static inline __m256i gemm__bit(__m256i v, int k, int to) {
    const __m256i s =
        k <= to ? _mm256_sll_epi16(v, _mm_cvtsi32_si128(to - k)) : _mm256_srl_epi16(v, _mm_cvtsi32_si128(k - to));
    return _mm256_and_si256(s, _mm256_set1_epi8((char)(1 << to)));
}

/*
 * Column block b (32 values) of one row as signed bytes in column order, with its sub-block scale(s) and, for the
 * types with mins (gemm__has_min), the sub-block min(s) (Q4_1 / Q5_1's additive m as min = -m). The formulas are
 * the dequantization formulas of quant.c with the integer part kept apart.
 */
static inline __m256i gemm__row_block(dtype_t t, const uint8_t *row, int64_t b, float sc[2], float mn[2]) {
    const __m256i lo4 = _mm256_set1_epi8(0xF);
    switch (t) {
    case DT_Q2_K: { /* block j is group s = j % 4 of half c = j / 4, as in Q6_K; scales 2j and 2j + 1 */
        const kern__blk_q2_k *k = (const kern__blk_q2_k *)row + b / 8;
        const int j = (int)(b % 8), c = j / 4, g = j % 4;
        const float d = _cvtsh_ss(k->d), dmin = _cvtsh_ss(k->dmin);
        for (int s = 0; s < 2; s++) {
            sc[s] = d * (float)(k->scales[2 * j + s] & 0xF);
            mn[s] = dmin * (float)(k->scales[2 * j + s] >> 4);
        }
        const __m256i q = _mm256_loadu_si256((const __m256i *)(k->qs + 32 * c));
        return _mm256_and_si256(_mm256_srl_epi16(q, _mm_cvtsi32_si128(2 * g)), _mm256_set1_epi8(3));
    }
    case DT_Q4_1: {
        const kern__blk_q4_1 *k = (const kern__blk_q4_1 *)row + b;
        sc[0] = _cvtsh_ss(k->d);
        mn[0] = -_cvtsh_ss(k->m);
        return gemm__nibbles(k->qs);
    }
    case DT_Q5_0: {
        const kern__blk_q5_0 *k = (const kern__blk_q5_0 *)row + b;
        sc[0] = _cvtsh_ss(k->d);
        return _mm256_sub_epi8(_mm256_or_si256(gemm__nibbles(k->qs), gemm__q5_high(k->qh)), _mm256_set1_epi8(16));
    }
    case DT_Q5_1: {
        const kern__blk_q5_1 *k = (const kern__blk_q5_1 *)row + b;
        sc[0] = _cvtsh_ss(k->d);
        mn[0] = -_cvtsh_ss(k->m);
        return _mm256_or_si256(gemm__nibbles(k->qs), gemm__q5_high(k->qh));
    }
    case DT_IQ4_NL: {
        const kern__blk_iq4_nl *k = (const kern__blk_iq4_nl *)row + b;
        sc[0] = _cvtsh_ss(k->d);
        const __m256i tbl = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)kern__iq4nl_values));
        return _mm256_shuffle_epi8(tbl, gemm__nibbles(k->qs));
    }
    case DT_Q5_K: {
        const kern__blk_q5_k *k = (const kern__blk_q5_k *)row + b / 8;
        const int j = (int)(b % 8);
        int s, m;
        kern__q4k_scale_min(k->scales, j, &s, &m);
        sc[0] = _cvtsh_ss(k->d) * (float)s;
        mn[0] = _cvtsh_ss(k->dmin) * (float)m;
        const __m256i q = _mm256_loadu_si256((const __m256i *)(k->qs + 32 * (j / 2)));
        const __m256i nib = (j & 1) ? _mm256_and_si256(_mm256_srli_epi16(q, 4), lo4) : _mm256_and_si256(q, lo4);
        return _mm256_or_si256(nib, gemm__bit(_mm256_loadu_si256((const __m256i *)k->qh), j, 4));
    }
    case DT_Q3_K: { /* block j is group s = j % 4 of half c = j / 4, as in Q6_K */
        const kern__blk_q3_k *k = (const kern__blk_q3_k *)row + b / 8;
        const int j = (int)(b % 8), c = j / 4, g = j % 4;
        int8_t s8[16];
        kern__q3k_scales(k->scales, s8);
        const float d = _cvtsh_ss(k->d);
        sc[0] = d * (float)s8[2 * j];
        sc[1] = d * (float)s8[2 * j + 1];
        const __m256i q = _mm256_loadu_si256((const __m256i *)(k->qs + 32 * c));
        const __m256i lo = _mm256_and_si256(_mm256_srl_epi16(q, _mm_cvtsi32_si128(2 * g)), _mm256_set1_epi8(3));
        const __m256i hi = gemm__bit(_mm256_loadu_si256((const __m256i *)k->hmask), j, 2);
        return _mm256_sub_epi8(_mm256_or_si256(lo, hi), _mm256_set1_epi8(4));
    }
    case DT_Q8_0: {
        const kern__blk_q8_0 *k = (const kern__blk_q8_0 *)row + b;
        sc[0] = _cvtsh_ss(k->d);
        return _mm256_loadu_si256((const __m256i *)k->qs);
    }
    case DT_Q4_0: {
        const kern__blk_q4_0 *k = (const kern__blk_q4_0 *)row + b;
        sc[0] = _cvtsh_ss(k->d);
        const __m128i q = _mm_loadu_si128((const __m128i *)k->qs);
        const __m256i v = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), lo4);
        return _mm256_sub_epi8(v, _mm256_set1_epi8(8));
    }
    case DT_Q4_K: {
        const kern__blk_q4_k *k = (const kern__blk_q4_k *)row + b / 8;
        const int j = (int)(b % 8);
        int s, m;
        kern__q4k_scale_min(k->scales, j, &s, &m);
        sc[0] = _cvtsh_ss(k->d) * (float)s;
        mn[0] = _cvtsh_ss(k->dmin) * (float)m;
        const __m256i q = _mm256_loadu_si256((const __m256i *)(k->qs + 32 * (j / 2)));
        return (j & 1) ? _mm256_and_si256(_mm256_srli_epi16(q, 4), lo4) : _mm256_and_si256(q, lo4);
    }
    default: { /* DT_Q6_K: block j of the super-block is group k = j % 4 of half c = j / 4 */
        const kern__blk_q6_k *k = (const kern__blk_q6_k *)row + b / 8;
        const int j = (int)(b % 8), c = j / 4, g = j % 4;
        const float d = _cvtsh_ss(k->d);
        sc[0] = d * (float)k->scales[2 * j];
        sc[1] = d * (float)k->scales[2 * j + 1];
        const __m256i ql = _mm256_loadu_si256((const __m256i *)(k->ql + 64 * c + 32 * (g & 1)));
        const __m256i nib = g >= 2 ? _mm256_and_si256(_mm256_srli_epi16(ql, 4), lo4) : _mm256_and_si256(ql, lo4);
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(k->qh + 32 * c));
        const __m256i hb = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * g)), _mm256_set1_epi8(3));
        return _mm256_sub_epi8(_mm256_or_si256(nib, _mm256_slli_epi16(hb, 4)), _mm256_set1_epi8(32));
    }
    }
}

#endif
