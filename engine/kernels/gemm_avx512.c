/*
 * gemm_avx512.c — the int8 GEMM for large batches with AVX-512 VNNI: Y (n, rows) = X (n, K) @ W^T for the
 * quantized weights kern__gemm_type accepts against q8a activations (compiled with
 * -mavx512f/bw/vl/dq/vnni; called only when isa.c found those instructions).
 *
 * Operands. vpdpbusd multiplies unsigned by signed bytes. Here the weights are the signed operand, as exact
 * small integers (Q8_0 q, Q4_0 q - 8, Q4_K q, Q6_K q - 32, ...; gemm_rows.h), and the activations the unsigned one, as
 * xu = q + 128 (the q8a row's xor 0x80 copy). The +128 is undone per row with the row's own sum of weights,
 * computed once at packing time: dot(w, x) = dot(w, xu) - 128 * sum(w).
 *
 * Layout. W is processed in panels of KERN__GEMM_ROWS = 32 rows, each repacked per block of 32 columns into
 *   quants:  2 halves x 8 groups x 16 rows x 4 bytes (dword i of vector g = columns 4g..4g+3 of row i), 1024 B
 *   per sub-block s (Q6_K, Q3_K and Q2_K have two of 16 columns, the others one of 32): 32 float scales, 32
 *   int32 corrections
 *   Q4_K, Q5_K, Q4_1, Q5_1, Q2_K only, per sub-block: 32 float mins (value = scale * q - min; Q2_K's use the
 *   activation sums of 16 columns, x->h)
 * read sequentially by the micro-kernel, which keeps a 32-row x C-token tile of float accumulators in registers:
 * per sub-block it runs vpdpbusd into int32 accumulators that start at the correction, then adds them into the
 * float accumulators scaled by scale_w * d_x. Pure functions; any thread.
 */
#include <immintrin.h>
#include <string.h>

#include "gemm_rows.h"
#include "kern_impl.h"

#define G__Q_BYTES       1024 /* quants of one block of a 32-row panel */
#define G__SUB_BYTES     256  /* scales + corrections of one sub-block */
#define G__MIN_BYTES     128  /* mins of one sub-block */
#define G__MAX_BLK_BYTES (G__Q_BYTES + 2 * G__SUB_BYTES + 2 * G__MIN_BYTES)

static inline int g__n_sub(dtype_t t) { return gemm__n_sub(t); }
static inline int g__blk_bytes(dtype_t t) {
    return G__Q_BYTES + g__n_sub(t) * (G__SUB_BYTES + (gemm__has_min(t) ? G__MIN_BYTES : 0));
}

size_t kern__gemm_pack_bytes(int64_t K) { return (size_t)(K / 32) * G__MAX_BLK_BYTES; }

/* ---- packing ---------------------------------------------------------------------------------------------- */

/*
 * Transposes 16 rows x 8 dwords (rows[i] holds row i's 32 bytes) into 8 vectors of 16 dwords stored at out
 * (vector g = dword g of rows 0..15): rows i and i+8 share a register, both 8 x 8 halves are transposed at once
 * with 32- and 64-bit unpacks, and a two-source qword permute puts the 128-bit pieces in place.
 */
static inline void g__transpose16x8(const __m256i rows[16], uint8_t *out) {
    __m512i z[8], t[8], u[8];
    for (int i = 0; i < 8; i++)
        z[i] = _mm512_inserti64x4(_mm512_castsi256_si512(rows[i]), rows[i + 8], 1);
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm512_unpacklo_epi32(z[i], z[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(z[i], z[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i + 0] = _mm512_unpacklo_epi64(t[i + 0], t[i + 2]);
        u[i + 1] = _mm512_unpackhi_epi64(t[i + 0], t[i + 2]);
        u[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        u[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    const __m512i lo = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13), hi = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
    for (int g = 0; g < 4; g++) {
        _mm512_store_si512((void *)(out + 64 * g), _mm512_permutex2var_epi64(u[g], lo, u[g + 4]));
        _mm512_store_si512((void *)(out + 64 * (g + 4)), _mm512_permutex2var_epi64(u[g], hi, u[g + 4]));
    }
}

/* Packs nr (<= 32) rows starting at w into the panel layout; missing rows are zero (their outputs are not
 * stored). */
static void g__pack(dtype_t t, const uint8_t *w, size_t rb, int64_t nr, int64_t nb, uint8_t *pack) {
    /* The loop below reads 16 rows at a time in column order, which leaves the hardware prefetchers behind and
     * makes every load wait for memory. Touch the panel's lines in address order first: independent loads
     * that the core overlaps, and a pattern the prefetchers follow. */
    uint8_t touch = 0;
    for (size_t o = 0; o < (size_t)nr * rb; o += 64)
        touch ^= *(const volatile uint8_t *)(w + o);
    (void)touch;
    const int ns = g__n_sub(t), bb = g__blk_bytes(t), groups = 8 / ns;
    const __m512i ones = _mm512_set1_epi8(1);
    for (int64_t b = 0; b < nb; b++) {
        uint8_t *dst = pack + b * bb;
        float *mins = (float *)(dst + G__Q_BYTES + ns * G__SUB_BYTES);
        for (int h = 0; h < 2; h++) {
            __m256i rows[16];
            float sc[16][2] = {{0}}, mn[16][2] = {{0}};
            for (int i = 0; i < 16; i++) {
                const int64_t r = 16 * h + i;
                rows[i] = r < nr ? gemm__row_block(t, w + (size_t)r * rb, b, sc[i], mn[i]) : _mm256_setzero_si256();
            }
            uint8_t *q = dst + 512 * h;
            g__transpose16x8(rows, q);
            for (int s = 0; s < ns; s++) {
                float *scale = (float *)(dst + G__Q_BYTES + s * G__SUB_BYTES) + 16 * h;
                int32_t *corr = (int32_t *)(dst + G__Q_BYTES + s * G__SUB_BYTES + 128) + 16 * h;
                __m512i wsum = _mm512_setzero_si512();
                for (int g = s * groups; g < (s + 1) * groups; g++)
                    wsum = _mm512_dpbusd_epi32(wsum, ones, _mm512_load_si512((const void *)(q + 64 * g)));
                _mm512_store_si512(corr, _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(wsum, 7)));
                for (int i = 0; i < 16; i++)
                    scale[i] = sc[i][s];
            }
            if (gemm__has_min(t))
                for (int s = 0; s < ns; s++)
                    for (int i = 0; i < 16; i++)
                        mins[32 * s + 16 * h + i] = mn[i][s];
        }
    }
}

/* ---- micro-kernel ----------------------------------------------------------------------------------------- */

/*
 * Y[j0 + c][0..nr) for c < C from a packed 32-row panel. Inlined with constant NS (sub-blocks per block),
 * MIN (Q4_K) and C so that the 2 x C float and int accumulators live in registers.
 */
static inline __attribute__((always_inline)) void g__tile(const uint8_t *pack, int64_t nb, const int NS, const int MIN,
                                                          const int C, const kern__q8a_t *x, int64_t j0, float *Y,
                                                          int64_t ldy, int64_t nr) {
    const int BB = G__Q_BYTES + NS * (G__SUB_BYTES + (MIN ? G__MIN_BYTES : 0)), G = 8 / NS;
    const int64_t K = x->K;
    __m512 accf[2][4];
    const uint8_t *xu[4];
    const float *xd[4];
    const int32_t *xs[4], *xh[4];
#pragma GCC unroll 4
    for (int c = 0; c < C; c++) {
        xu[c] = x->xu + (j0 + c) * K;
        xd[c] = x->d + (j0 + c) * (K / 32);
        xs[c] = x->s + (j0 + c) * (K / 32);
        xh[c] = MIN && NS == 2 ? x->h + (j0 + c) * (K / 32) : NULL;
        accf[0][c] = _mm512_setzero_ps();
        accf[1][c] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *pb = pack + b * BB;
#pragma GCC unroll 2
        for (int s = 0; s < NS; s++) {
            const uint8_t *meta = pb + G__Q_BYTES + s * G__SUB_BYTES;
            __m512i acci[2][4];
            const __m512i corr0 = _mm512_load_si512((const void *)(meta + 128));
            const __m512i corr1 = _mm512_load_si512((const void *)(meta + 192));
#pragma GCC unroll 4
            for (int c = 0; c < C; c++) {
                acci[0][c] = corr0;
                acci[1][c] = corr1;
            }
#pragma GCC unroll 8
            for (int g = s * G; g < (s + 1) * G; g++) {
                const __m512i w0 = _mm512_load_si512((const void *)(pb + g * 64));
                const __m512i w1 = _mm512_load_si512((const void *)(pb + 512 + g * 64));
#pragma GCC unroll 4
                for (int c = 0; c < C; c++) {
                    int32_t xv;
                    memcpy(&xv, xu[c] + b * 32 + g * 4, 4);
                    const __m512i xb = _mm512_set1_epi32(xv);
                    acci[0][c] = _mm512_dpbusd_epi32(acci[0][c], xb, w0);
                    acci[1][c] = _mm512_dpbusd_epi32(acci[1][c], xb, w1);
                }
            }
            const __m512 sc0 = _mm512_load_ps((const float *)meta), sc1 = _mm512_load_ps((const float *)meta + 16);
#pragma GCC unroll 4
            for (int c = 0; c < C; c++) {
                const __m512 dx = _mm512_set1_ps(xd[c][b]);
                accf[0][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acci[0][c]), _mm512_mul_ps(sc0, dx), accf[0][c]);
                accf[1][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acci[1][c]), _mm512_mul_ps(sc1, dx), accf[1][c]);
            }
        }
        if (MIN) { /* - min * sum(x) over each sub-block, sum(x) = d_x * (sum of the q8a values) */
#pragma GCC unroll 2
            for (int s = 0; s < NS; s++) {
                const float *mins = (const float *)(pb + G__Q_BYTES + NS * G__SUB_BYTES) + 32 * s;
                const __m512 m0 = _mm512_load_ps(mins), m1 = _mm512_load_ps(mins + 16);
#pragma GCC unroll 4
                for (int c = 0; c < C; c++) {
                    const int32_t si = NS == 1 ? xs[c][b] : s == 0 ? xh[c][b] : xs[c][b] - xh[c][b];
                    const __m512 sx = _mm512_set1_ps(xd[c][b] * (float)si);
                    accf[0][c] = _mm512_fnmadd_ps(m0, sx, accf[0][c]);
                    accf[1][c] = _mm512_fnmadd_ps(m1, sx, accf[1][c]);
                }
            }
        }
    }
#pragma GCC unroll 4
    for (int c = 0; c < C; c++) {
        float *yr = Y + (j0 + c) * ldy;
#pragma GCC unroll 2
        for (int p = 0; p < 2; p++) {
            const int64_t left = nr - 16 * p;
            if (left >= 16)
                _mm512_storeu_ps(yr + 16 * p, accf[p][c]);
            else if (left > 0)
                _mm512_mask_storeu_ps(yr + 16 * p, (__mmask16)((1u << left) - 1u), accf[p][c]);
        }
    }
}

/* All n tokens against one packed panel, 4 tokens per micro-tile and a narrower tile for the rest. */
#define G__PANEL_FN(NAME, NS, MIN)                                                                                     \
    static void NAME(const uint8_t *pack, int64_t nb, const kern__q8a_t *x, int64_t n, float *Y, int64_t ldy,          \
                     int64_t nr) {                                                                                     \
        int64_t j = 0;                                                                                                 \
        for (; j + 4 <= n; j += 4)                                                                                     \
            g__tile(pack, nb, NS, MIN, 4, x, j, Y, ldy, nr);                                                           \
        switch (n - j) {                                                                                               \
        case 3: g__tile(pack, nb, NS, MIN, 3, x, j, Y, ldy, nr); break;                                                \
        case 2: g__tile(pack, nb, NS, MIN, 2, x, j, Y, ldy, nr); break;                                                \
        case 1: g__tile(pack, nb, NS, MIN, 1, x, j, Y, ldy, nr); break;                                                \
        default: break;                                                                                                \
        }                                                                                                              \
    }

G__PANEL_FN(g__panel_plain, 1, 0) /* Q8_0, Q4_0, Q5_0, IQ4_NL */
G__PANEL_FN(g__panel_min, 1, 1)   /* Q4_K, Q5_K, Q4_1, Q5_1 */
G__PANEL_FN(g__panel_sub16, 2, 0) /* Q6_K, Q3_K */
G__PANEL_FN(g__panel_sub16_min, 2, 1) /* Q2_K */

void kern__gemm_q8_avx512(dtype_t t, const void *w, size_t row_bytes, int64_t nr, const kern__q8a_t *x, int64_t n,
                          float *Y, int64_t ldy, void *pack) {
    const int64_t nb = x->K / 32;
    for (int64_t r0 = 0; r0 < nr; r0 += KERN__GEMM_ROWS) {
        const int64_t m = nr - r0 < KERN__GEMM_ROWS ? nr - r0 : KERN__GEMM_ROWS;
        g__pack(t, (const uint8_t *)w + r0 * row_bytes, row_bytes, m, nb, pack);
        if (gemm__n_sub(t) == 2 && gemm__has_min(t))
            g__panel_sub16_min(pack, nb, x, n, Y + r0, ldy, m);
        else if (gemm__n_sub(t) == 2)
            g__panel_sub16(pack, nb, x, n, Y + r0, ldy, m);
        else if (gemm__has_min(t))
            g__panel_min(pack, nb, x, n, Y + r0, ldy, m);
        else
            g__panel_plain(pack, nb, x, n, Y + r0, ldy, m);
    }
}
