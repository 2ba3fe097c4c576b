/*
 * multi_avx2.c — the multi-row dots (MULTI, moderate batches: decode steps of several sequences) for CPUs with
 * AVX2 and no AVX-512 VNNI, for every quantized weight type (compiled with -mavx2 -mfma -mf16c; isa.c installs
 * them on such CPUs). The VNNI version of the 32-value block types is in dot_avx512.c.
 *
 * Lanes are activation rows, as in the VNNI kernels: the q8a rows come transposed (kern__q8t_t, one dword of 4
 * columns per row, 16 rows per 64 bytes, read here as two vectors of 8 rows), so each 4-column piece of a weight
 * row is broadcast and multiplied by 8 activation rows at once, and the int32 lanes need no horizontal sum. Each
 * 32-column block of a weight row is unpacked once (gemm__row_block: signed integer weights, sub-block scales and
 * mins) and then serves every activation row of the batch; W is read in place, never repacked.
 *
 * AVX2 has no vpdpbusd; vpmaddubsw multiplies unsigned by signed bytes into saturating 16-bit pair sums. Two
 * operand schemes keep it exact:
 *  - small weights (every type but Q8_0 and IQ4_NL): the weight made unsigned, u = w + OFF in 0..63 (Q4_0 +8,
 *    Q5_0 +16, Q6_K +32, Q3_K +4; the types with mins are unsigned already), times the signed activations. A pair
 *    sum is at most 2 * 63 * 127, so GPM groups of 4 columns add up in 16 bits before vpmaddwd widens them (8 for
 *    4-bit weights, 4 for 5-bit, 2 for 6-bit); OFF comes back out through the activation block sums (-OFF * s).
 *  - Q8_0 and IQ4_NL (|w| up to 128): the sign trick, |w| times x with w's sign, widened after every group.
 * Q6_K, Q3_K and Q2_K have a scale (and Q2_K a min) per 16 columns: their two halves are kept apart, with the
 * activation sums of the first 16 columns (kern__q8t_t.ht) and s - ht for the second.
 * Pure functions; any thread.
 */
#include <immintrin.h>
#include <string.h>

#include "gemm_rows.h"
#include "kern_impl.h"

/* The unsigned operand's offset for the small-weight scheme (0 for the types whose weights are >= 0). */
static inline int m2__off(dtype_t t) {
    switch (t) {
    case DT_Q4_0: return 8;
    case DT_Q5_0: return 16;
    case DT_Q6_K: return 32;
    case DT_Q3_K: return 4;
    default: return 0;
    }
}

/* Groups of 4 columns whose 16-bit pair sums add up without overflow: 2 * max(u) * 127 * GPM < 32768. */
static inline int m2__gpm(dtype_t t) {
    switch (t) {
    case DT_Q4_0:
    case DT_Q4_1:
    case DT_Q4_K: return 8; /* 8 * 2 * 15 * 127 = 30480 */
    case DT_Q3_K:
    case DT_Q2_K: return 4; /* a half of 16 columns: its own scale */
    case DT_Q5_0:
    case DT_Q5_1:
    case DT_Q5_K: return 4;
    case DT_Q6_K: return 2;
    default: return 1; /* the sign trick */
    }
}

static inline bool m2__signed(dtype_t t) { return t == DT_Q8_0 || t == DT_IQ4_NL; }

/*
 * Block b of one weight row (at row) against NV (1 or 2) vectors of 8 transposed activation rows of the 16-row
 * group at x (vector v = rows 8v..8v+7), into the float accumulators acc[v]. T and NV are constants after
 * inlining, so the type's switch folds away.
 */
static inline __attribute__((always_inline)) void m2__blk(const dtype_t T, const int NV, const uint8_t *row,
                                                          const kern__q8t_t *x, int64_t b, __m256 acc[2]) {
    const int ns = gemm__n_sub(T), gpm = m2__gpm(T), off = m2__off(T);
    float sc[2] = {0, 0}, mn[2] = {0, 0};
    const __m256i wv = gemm__row_block(T, row, b, sc, mn);
    _Alignas(32) int32_t wd[8], ws[8];
    if (T == DT_Q8_0) {
        (void)wv; /* its 4-byte pieces are broadcast from W itself, below */
    } else if (m2__signed(T)) {
        _mm256_store_si256((__m256i *)wd, _mm256_abs_epi8(wv));
        _mm256_store_si256((__m256i *)ws, wv);
    } else {
        _mm256_store_si256((__m256i *)wd, off ? _mm256_add_epi8(wv, _mm256_set1_epi8((char)off)) : wv);
    }
    const __m256i ones = _mm256_set1_epi16(1);
    const int8_t *qt = x->qt + b * 512;
    __m256i ia[2][2]; /* [sub-block][vector] */
#pragma GCC unroll 2
    for (int v = 0; v < NV; v++)
        ia[0][v] = ia[1][v] = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int g0 = 0; g0 < 8; g0 += gpm) {
        const int s = ns == 2 && g0 >= 4;
        __m256i p[2];
#pragma GCC unroll 8
        for (int g = g0; g < g0 + gpm; g++) {
            /* Q8_0: a load (vpbroadcastd m32) and vpabsb, where taking the dwords out of wv would cost two
             * shuffles each on the pipes the products need (1.1x at 16 rows) */
            int32_t w4 = 0;
            if (T == DT_Q8_0) memcpy(&w4, ((const kern__blk_q8_0 *)row + b)->qs + 4 * g, 4);
            const __m256i wsg = _mm256_set1_epi32(T == DT_Q8_0 ? w4 : ws[g]);
            const __m256i wb = T == DT_Q8_0 ? _mm256_abs_epi8(wsg) : _mm256_set1_epi32(wd[g]);
#pragma GCC unroll 2
            for (int v = 0; v < NV; v++) {
                __m256i xv = _mm256_load_si256((const __m256i *)(qt + g * 64 + 32 * v));
                if (m2__signed(T)) xv = _mm256_sign_epi8(xv, wsg);
                const __m256i pg = _mm256_maddubs_epi16(wb, xv);
                p[v] = g == g0 ? pg : _mm256_add_epi16(p[v], pg);
            }
        }
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++)
            ia[s][v] = _mm256_add_epi32(ia[s][v], _mm256_madd_epi16(p[v], ones));
    }
#pragma GCC unroll 2
    for (int v = 0; v < NV; v++) {
        const __m256 dx = _mm256_load_ps(x->dt + b * 16 + 8 * v);
        const __m256i st = _mm256_load_si256((const __m256i *)(x->st + b * 16 + 8 * v));
        __m256i sum[2] = {st, st};
        if (ns == 2) {
            sum[0] = _mm256_load_si256((const __m256i *)(x->ht + b * 16 + 8 * v));
            sum[1] = _mm256_sub_epi32(st, sum[0]);
        }
#pragma GCC unroll 2
        for (int s = 0; s < ns; s++) {
            __m256i is = ia[s][v];
            if (off) is = _mm256_sub_epi32(is, _mm256_mullo_epi32(sum[s], _mm256_set1_epi32(off)));
            acc[v] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is), _mm256_mul_ps(_mm256_set1_ps(sc[s]), dx), acc[v]);
            if (gemm__has_min(T))
                acc[v] = _mm256_fnmadd_ps(_mm256_set1_ps(mn[s]), _mm256_mul_ps(_mm256_cvtepi32_ps(sum[s]), dx), acc[v]);
        }
    }
}

/* Rows [0, nr) of W against the nx (<= 16) activation rows of one 16-row group. */
static inline __attribute__((always_inline)) void m2__group(const dtype_t T, const int NV, const void *w, size_t rb,
                                                            int64_t nr, const kern__q8t_t *x, int64_t nx, float *Y,
                                                            int64_t ldy) {
    const int64_t nb = x->K / 32;
    for (int64_t r = 0; r < nr; r++) {
        const uint8_t *row = (const uint8_t *)w + (size_t)r * rb;
        kern__prefetch(row + (size_t)nr * rb, rb); /* the row one sub-block ahead (mm__multi) */
        __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
        for (int64_t b = 0; b < nb; b++)
            m2__blk(T, NV, row, x, b, acc);
        _Alignas(32) float out[16];
        _mm256_store_ps(out, acc[0]);
        if (NV > 1) _mm256_store_ps(out + 8, acc[1]);
        for (int64_t j = 0; j < nx; j++)
            Y[j * ldy + r] = out[j];
    }
}

/*
 * Any number of activation rows, 16 per pass over the nr weight rows (the caller sizes nr to stay in L1). The
 * transposed arrays of group v start at qt + v * nb * 512, dt / st / ht + v * nb * 16.
 */
#define M2__FN(NAME, T)                                                                                                \
    void NAME(const void *w, size_t rb, int64_t nr, const kern__q8t_t *x, int64_t nx, float *Y, int64_t ldy) {         \
        const int64_t nb = x->K / 32;                                                                                  \
        for (int64_t j = 0; j < nx; j += 16) {                                                                         \
            const int64_t m = nx - j < 16 ? nx - j : 16, v = j / 16;                                                   \
            const kern__q8t_t xj = {x->qt + v * nb * 512,                                                              \
                                    x->dt + v * nb * 16,                                                               \
                                    x->st + v * nb * 16,                                                               \
                                    x->ht ? x->ht + v * nb * 16 : NULL,                                                \
                                    x->K,                                                                              \
                                    NULL};                                                                             \
            if (m > 8)                                                                                                 \
                m2__group(T, 2, w, rb, nr, &xj, m, Y + j * ldy, ldy);                                                  \
            else                                                                                                       \
                m2__group(T, 1, w, rb, nr, &xj, m, Y + j * ldy, ldy);                                                  \
        }                                                                                                              \
    }

M2__FN(kern__rowdot_multi_q8_0_avx2, DT_Q8_0)
M2__FN(kern__rowdot_multi_q4_0_avx2, DT_Q4_0)
M2__FN(kern__rowdot_multi_q4_1_avx2, DT_Q4_1)
M2__FN(kern__rowdot_multi_q5_0_avx2, DT_Q5_0)
M2__FN(kern__rowdot_multi_q5_1_avx2, DT_Q5_1)
M2__FN(kern__rowdot_multi_iq4_nl_avx2, DT_IQ4_NL)
M2__FN(kern__rowdot_multi_q2_k_avx2, DT_Q2_K)
M2__FN(kern__rowdot_multi_q3_k_avx2, DT_Q3_K)
M2__FN(kern__rowdot_multi_q4_k_avx2, DT_Q4_K)
M2__FN(kern__rowdot_multi_q5_k_avx2, DT_Q5_K)
M2__FN(kern__rowdot_multi_q6_k_avx2, DT_Q6_K)
