/*
 * gemm_rows.h — what the int8 GEMMs (gemm_avx512.c, gemm_avx2.c) share: one 32-column block of a weight row as
 * signed bytes with its scale(s), for Q8_0, Q4_0, Q4_K and Q6_K. Include only from files compiled with AVX2 and
 * F16C (the *_avx2.c and *_avx512.c files).
 */
#ifndef CINDER_GEMM_ROWS_H
#define CINDER_GEMM_ROWS_H

#include <immintrin.h>

#include "kern_impl.h"

/*
 * Column block b (32 values) of one row as signed bytes in column order, with its sub-block scale(s) and, for
 * Q4_K, its min. The formulas are the dequantization formulas of quant.c with the integer part kept apart.
 */
static inline __m256i gemm__row_block(dtype_t t, const uint8_t *row, int64_t b, float sc[2], float *mn) {
    const __m256i lo4 = _mm256_set1_epi8(0xF);
    switch (t) {
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
        *mn = _cvtsh_ss(k->dmin) * (float)m;
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
