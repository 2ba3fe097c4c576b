/*
 * multi_f16_avx2.c — the multi-row dots (MULTI, moderate batches) of F16 and BF16 weights against F32 activation
 * rows, with AVX2 + FMA + F16C (compiled with -mavx2 -mfma -mf16c; isa.c installs them on CPUs with AVX2, VNNI or
 * not: there is no integer arithmetic to gain here).
 *
 * Each 8-column piece of a weight row is widened to floats once and multiplied into up to M2F__J activation rows,
 * two weight rows at a time, so a register tile of 2 x J float accumulators takes 2 widenings and J activation
 * loads per 2 * J FMAs; the row dots (dot_avx2.c) widen every piece again for every activation row. The weight
 * rows stay in L1 (the caller sizes nr) while the tiles of activation rows pass over them. Row sums are exact float
 * FMAs; only the summation order differs from the row dots. Pure functions; any thread.
 */
#include <immintrin.h>
#include <string.h>

#include "kern_impl.h"

#define M2F__J 6 /* activation rows per register tile: 2 x 6 accumulators + 2 weights + 1 activation <= 16 */

static inline float m2f__hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* 8 weights from column c of a row: F16 (BF = 0) or BF16 (BF = 1). */
static inline __attribute__((always_inline)) __m256 m2f__load8(const int BF, const uint16_t *row, int64_t c) {
    const __m128i h = _mm_loadu_si128((const __m128i *)(row + c));
    if (BF) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    return _mm256_cvtph_ps(h);
}

static inline __attribute__((always_inline)) float m2f__one(const int BF, uint16_t h) {
    if (BF) {
        const uint32_t u = (uint32_t)h << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    return _cvtsh_ss(h);
}

/*
 * R (1 or 2) weight rows from w0 (row_bytes rb apart) against J activation rows from x (K floats apart):
 * Y[j * ldy + q] for q < R, j < J. K % 8 columns at the end go one by one.
 */
static inline __attribute__((always_inline)) void m2f__tile(const int BF, const int R, const int J, const uint16_t *w0,
                                                            size_t rb, const float *x, int64_t K, float *Y,
                                                            int64_t ldy) {
    const uint16_t *w1 = (const uint16_t *)((const uint8_t *)w0 + rb);
    __m256 acc[2][M2F__J];
#pragma GCC unroll 6
    for (int j = 0; j < J; j++)
        acc[0][j] = acc[1][j] = _mm256_setzero_ps();
    const int64_t K8 = K & ~(int64_t)7;
    for (int64_t c = 0; c < K8; c += 8) {
        const __m256 a = m2f__load8(BF, w0, c);
        const __m256 b = R > 1 ? m2f__load8(BF, w1, c) : a;
#pragma GCC unroll 6
        for (int j = 0; j < J; j++) {
            const __m256 xv = _mm256_loadu_ps(x + j * K + c);
            acc[0][j] = _mm256_fmadd_ps(a, xv, acc[0][j]);
            if (R > 1) acc[1][j] = _mm256_fmadd_ps(b, xv, acc[1][j]);
        }
    }
#pragma GCC unroll 6
    for (int j = 0; j < J; j++)
#pragma GCC unroll 2
        for (int q = 0; q < R; q++) {
            float s = m2f__hsum(acc[q][j]);
            const uint16_t *wq = q ? w1 : w0;
            for (int64_t c = K8; c < K; c++)
                s += m2f__one(BF, wq[c]) * x[j * K + c];
            Y[j * ldy + q] = s;
        }
}

/* Tiles of up to 6 activation rows; J is made a constant for each case. */
static inline __attribute__((always_inline)) void m2f__rows(const int BF, const int R, const uint16_t *w, size_t rb,
                                                            const float *x, int64_t nx, int64_t K, float *Y,
                                                            int64_t ldy) {
    for (int64_t j = 0; j < nx; j += M2F__J) {
        const float *xj = x + j * K;
        float *Yj = Y + j * ldy;
        switch (nx - j < M2F__J ? nx - j : M2F__J) {
        case 1: m2f__tile(BF, R, 1, w, rb, xj, K, Yj, ldy); break;
        case 2: m2f__tile(BF, R, 2, w, rb, xj, K, Yj, ldy); break;
        case 3: m2f__tile(BF, R, 3, w, rb, xj, K, Yj, ldy); break;
        case 4: m2f__tile(BF, R, 4, w, rb, xj, K, Yj, ldy); break;
        case 5: m2f__tile(BF, R, 5, w, rb, xj, K, Yj, ldy); break;
        default: m2f__tile(BF, R, 6, w, rb, xj, K, Yj, ldy); break;
        }
    }
}

static inline __attribute__((always_inline)) void m2f__multi(const int BF, const void *w, size_t rb, int64_t nr,
                                                             const kern__q8t_t *x, int64_t nx, float *Y, int64_t ldy) {
    int64_t r = 0;
    for (; r + 2 <= nr; r += 2) {
        kern__prefetch((const uint8_t *)w + (size_t)(nr + r) * rb, 2 * rb); /* one sub-block ahead (mm__multi) */
        m2f__rows(BF, 2, (const uint16_t *)((const uint8_t *)w + (size_t)r * rb), rb, x->xf, nx, x->K, Y + r, ldy);
    }
    if (r < nr) {
        kern__prefetch((const uint8_t *)w + (size_t)(nr + r) * rb, rb);
        m2f__rows(BF, 1, (const uint16_t *)((const uint8_t *)w + (size_t)r * rb), rb, x->xf, nx, x->K, Y + r, ldy);
    }
}

void kern__rowdot_multi_f16_avx2(const void *w, size_t rb, int64_t nr, const kern__q8t_t *x, int64_t nx, float *Y,
                                 int64_t ldy) {
    m2f__multi(0, w, rb, nr, x, nx, Y, ldy);
}

void kern__rowdot_multi_bf16_avx2(const void *w, size_t rb, int64_t nr, const kern__q8t_t *x, int64_t nx, float *Y,
                                  int64_t ldy) {
    m2f__multi(1, w, rb, nr, x, nx, Y, ldy);
}
