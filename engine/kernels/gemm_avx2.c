/*
 * gemm_avx2.c — the int8 GEMM for batches on CPUs with AVX2 but without AVX-512 VNNI: Y (n, rows) = X (n, K) @
 * W^T for the quantized weights kern__gemm_type accepts against q8a activations (compiled with
 * -mavx2 -mfma -mf16c; isa.c installs it on such CPUs). The AVX-512 version is gemm_avx512.c; both replace dequantizing
 * W into floats for cblas_sgemm.
 *
 * Operands. AVX2 has no byte dot product that accumulates into int32 (vpdpbusd); vpmaddubsw multiplies bytes but
 * saturates its 16-bit pair sums. So both operands are widened to int16 and vpmaddwd does the work: per 32-bit
 * lane, w[2k] * x[2k] + w[2k+1] * x[2k+1] into int32, 16 products per instruction, exact (|w| <= 128,
 * |x| <= 127). Weights are the exact small integers of gemm_rows.h; activations the q8a row's signed qs, widened to
 * int16 once per matmul (x->x16, kern__widen_i8_avx2, run by matmul.c while it quantizes).
 *
 * Layout. W is processed in panels of G2__ROWS = 16 rows, each repacked per block of 32 columns into
 *   quants:  16 column pairs x 2 halves x 8 rows x 2 int16 (dword i of vector (k, h) = columns 2k, 2k+1 of row
 *            8h + i), 1024 B
 *   per sub-block s (Q6_K, Q3_K and Q2_K have two of 16 columns, the others one of 32): 16 float scales
 *   Q5_K, Q5_1, Q2_K, per sub-block: 16 float mins (value = scale * q - min; Q2_K's use the activation sums of
 *   16 columns, x->h)
 * The micro-kernel covers 16 rows x G2__TOK = 6 tokens: per column pair, 2 weight vectors, 6 activation pairs
 * broadcast straight from x16, 12 vpmaddwd + 12 vpaddd into 12 int32 accumulators that live in registers for a
 * sub-block (16 of AVX2's 16 registers with the operands, so that loop is inline assembly: GCC 12 spilled them).
 * Once per sub-block they are converted and added into float sums scaled by scale_w * d_x; those float sums live
 * in a 6 x 16 tile in L1, not in registers. A narrower tile (intrinsics) takes the last n % 6 tokens. Measured
 * against the previous 16 x 3 tile with float and int sums in registers (spilled, and the activations widened per
 * panel): 1.1-1.3x the Gop/s per thread (BENCHMARKS.md), results bitwise unchanged (every float sum sees the same
 * operations in the same order).
 *
 * Q4_0, Q4_K and Q4_1 take a byte path at twice the rate: their weights as unsigned nibbles q in 0..15 (Q4_0's
 * q - 8 becomes q, and 8 * sum(x) of the block is subtracted afterwards) multiply the signed activation bytes
 * with vpmaddubsw, whose 16-bit pair sums (at most 2 * 15 * 127) add up over a whole block of 32 columns in
 * 16 bits without overflow (8 * 3810 < 32768); one vpmaddwd by ones per block widens them. Their panels hold
 *   quants:  8 groups of 4 columns x 2 halves x 8 rows x 4 bytes, 512 B per block
 *   16 float scales; Q4_K: 16 float mins.
 * The same 16 x 6 tiling (int16 sums of a block in 12 registers, assembly; float sums in L1; mins folded into the
 * same pass), 3-token tiles of intrinsics for the rest.
 * Pure functions; any thread.
 */
#include <immintrin.h>
#include <string.h>

#include "gemm_rows.h"
#include "kern_impl.h"

#define G2__ROWS    16
#define G2__Q_BYTES 1024 /* quants of one block of a panel */
#define G2__TOK     6    /* tokens per micro-tile of the 16-bit path */

static inline int g2__n_sub(dtype_t t) { return gemm__n_sub(t); }

/* Bytes per block of a 16-bit-path panel: quants, 16 scales per sub-block, and 16 mins per sub-block for the
 * types with mins. */
static inline int g2__blk_bytes(dtype_t t) { return G2__Q_BYTES + g2__n_sub(t) * (gemm__has_min(t) ? 128 : 64); }

/* ---- packing ---------------------------------------------------------------------------------------------- */

/*
 * 8 rows of 32 signed bytes (v[i] = row i) into the 16 vectors of column pairs: the rows are transposed as 8 x 8
 * matrices of 16-bit elements (byte pairs), one per 128-bit lane, so that afterwards lane 0 of vector k holds
 * pair k of rows 0..7 and lane 1 pair k + 8; each lane is then sign-extended to 8 int16 pairs and stored at
 * out + 64 * pair (the second half of a panel is out + 32).
 */
static inline void g2__pack8(const __m256i v[8], uint8_t *out) {
    __m256i a[8], b[8], c[8];
    for (int i = 0; i < 8; i += 2) {
        a[i] = _mm256_unpacklo_epi16(v[i], v[i + 1]);
        a[i + 1] = _mm256_unpackhi_epi16(v[i], v[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        b[i + 0] = _mm256_unpacklo_epi32(a[i + 0], a[i + 2]);
        b[i + 1] = _mm256_unpackhi_epi32(a[i + 0], a[i + 2]);
        b[i + 2] = _mm256_unpacklo_epi32(a[i + 1], a[i + 3]);
        b[i + 3] = _mm256_unpackhi_epi32(a[i + 1], a[i + 3]);
    }
    for (int i = 0; i < 4; i++) {
        c[2 * i] = _mm256_unpacklo_epi64(b[i], b[i + 4]);
        c[2 * i + 1] = _mm256_unpackhi_epi64(b[i], b[i + 4]);
    }
    /* c[j]: lane 0 = pair j of rows 0..7, lane 1 = pair j + 8 */
    for (int j = 0; j < 8; j++) {
        _mm256_store_si256((__m256i *)(out + 64 * j), _mm256_cvtepi8_epi16(_mm256_castsi256_si128(c[j])));
        _mm256_store_si256((__m256i *)(out + 64 * (j + 8)), _mm256_cvtepi8_epi16(_mm256_extracti128_si256(c[j], 1)));
    }
}

/* Packs nr (<= 16) rows of a 16-bit-path type starting at w into the 16-bit layout; missing rows are zero
 * (their outputs are not stored). */
static inline __attribute__((always_inline)) void g2__pack_t(const dtype_t t, const uint8_t *w, size_t rb, int64_t nr,
                                                             int64_t nb, uint8_t *pack) {
    const int ns = g2__n_sub(t), bb = g2__blk_bytes(t);
    for (int64_t b = 0; b < nb; b++) {
        uint8_t *dst = pack + b * bb;
        for (int h = 0; h < 2; h++) {
            __m256i rows[8];
            float sc[8][2] = {{0}}, mn[8][2] = {{0}};
            for (int i = 0; i < 8; i++) {
                const int64_t r = 8 * h + i;
                rows[i] = r < nr ? gemm__row_block(t, w + (size_t)r * rb, b, sc[i], mn[i]) : _mm256_setzero_si256();
            }
            g2__pack8(rows, dst + 32 * h);
            for (int s = 0; s < ns; s++) {
                float *scale = (float *)(dst + G2__Q_BYTES + s * 64) + 8 * h;
                for (int i = 0; i < 8; i++)
                    scale[i] = sc[i][s];
            }
            if (gemm__has_min(t))
                for (int s = 0; s < ns; s++) {
                    float *mins = (float *)(dst + G2__Q_BYTES + ns * 64 + s * 64) + 8 * h;
                    for (int i = 0; i < 8; i++)
                        mins[i] = mn[i][s];
                }
        }
    }
}

/*
 * The byte layout: 8 rows of 32 unsigned nibbles (v[i] = row i) as 8 vectors of 4-column groups (dword i of
 * vector g = columns 4g..4g+3 of row i), an 8 x 8 transpose of dwords stored at out + 64 * g.
 */
static inline void g2__pack8_bytes(const __m256i v[8], uint8_t *out) {
    __m256i a[8], b[8];
    for (int i = 0; i < 8; i += 2) {
        a[i] = _mm256_unpacklo_epi32(v[i], v[i + 1]);
        a[i + 1] = _mm256_unpackhi_epi32(v[i], v[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        b[i + 0] = _mm256_unpacklo_epi64(a[i + 0], a[i + 2]);
        b[i + 1] = _mm256_unpackhi_epi64(a[i + 0], a[i + 2]);
        b[i + 2] = _mm256_unpacklo_epi64(a[i + 1], a[i + 3]);
        b[i + 3] = _mm256_unpackhi_epi64(a[i + 1], a[i + 3]);
    }
    /* b[j] (j < 4, from rows 0..3) and b[j + 4] (rows 4..7): lane 0 = group j, lane 1 = group j + 4 */
    for (int j = 0; j < 4; j++) {
        _mm256_store_si256((__m256i *)(out + 64 * j), _mm256_permute2x128_si256(b[j], b[j + 4], 0x20));
        _mm256_store_si256((__m256i *)(out + 64 * (j + 4)), _mm256_permute2x128_si256(b[j], b[j + 4], 0x31));
    }
}

/* Q4_0 / Q4_K / Q4_1 rows into the byte layout (512 B of quants, 16 scales, Q4_K and Q4_1: 16 mins per block). */
static inline __attribute__((always_inline)) void g2__pack_bytes_t(const dtype_t t, const uint8_t *w, size_t rb,
                                                                   int64_t nr, int64_t nb, uint8_t *pack) {
    const int bb = 512 + (gemm__has_min(t) ? 128 : 64);
    const __m256i eight = _mm256_set1_epi8(t == DT_Q4_0 ? 8 : 0);
    for (int64_t b = 0; b < nb; b++) {
        uint8_t *dst = pack + b * bb;
        float *scale = (float *)(dst + 512), *mins = (float *)(dst + 576);
        for (int h = 0; h < 2; h++) {
            __m256i rows[8];
            float sc[8][2] = {{0}}, mn[8][2] = {{0}};
            for (int i = 0; i < 8; i++) {
                const int64_t r = 8 * h + i;
                rows[i] = r < nr ? _mm256_add_epi8(gemm__row_block(t, w + (size_t)r * rb, b, sc[i], mn[i]), eight)
                                 : _mm256_setzero_si256();
            }
            g2__pack8_bytes(rows, dst + 32 * h);
            for (int i = 0; i < 8; i++) {
                scale[8 * h + i] = sc[i][0];
                if (gemm__has_min(t)) mins[8 * h + i] = mn[i][0];
            }
        }
    }
}

/* The packing functions specialised per type, so that gemm__row_block's switch folds away and it is inlined (as a
 * call per row and block it took 4% of a Q8_0 prompt). */
static void g2__pack(dtype_t t, const uint8_t *w, size_t rb, int64_t nr, int64_t nb, uint8_t *pack) {
    switch (t) {
    case DT_Q8_0: g2__pack_t(DT_Q8_0, w, rb, nr, nb, pack); break;
    case DT_Q5_0: g2__pack_t(DT_Q5_0, w, rb, nr, nb, pack); break;
    case DT_IQ4_NL: g2__pack_t(DT_IQ4_NL, w, rb, nr, nb, pack); break;
    case DT_Q6_K: g2__pack_t(DT_Q6_K, w, rb, nr, nb, pack); break;
    case DT_Q3_K: g2__pack_t(DT_Q3_K, w, rb, nr, nb, pack); break;
    case DT_Q5_K: g2__pack_t(DT_Q5_K, w, rb, nr, nb, pack); break;
    case DT_Q5_1: g2__pack_t(DT_Q5_1, w, rb, nr, nb, pack); break;
    default: g2__pack_t(DT_Q2_K, w, rb, nr, nb, pack); break;
    }
}

static void g2__pack_bytes(dtype_t t, const uint8_t *w, size_t rb, int64_t nr, int64_t nb, uint8_t *pack) {
    switch (t) {
    case DT_Q4_0: g2__pack_bytes_t(DT_Q4_0, w, rb, nr, nb, pack); break;
    case DT_Q4_1: g2__pack_bytes_t(DT_Q4_1, w, rb, nr, nb, pack); break;
    default: g2__pack_bytes_t(DT_Q4_K, w, rb, nr, nb, pack); break;
    }
}

/* ---- micro-kernels ---------------------------------------------------------------------------------------- */

/* Stores a tile's 16 x C accumulators as Y[j0 + c][0..nr). */
static inline __attribute__((always_inline)) void g2__store(__m256 accf[2][3], const int C, float *Y, int64_t j0,
                                                            int64_t ldy, int64_t nr) {
#pragma GCC unroll 3
    for (int c = 0; c < C; c++) {
        float *yr = Y + (j0 + c) * ldy;
#pragma GCC unroll 2
        for (int p = 0; p < 2; p++) {
            const int64_t left = nr - 8 * p;
            if (left >= 8) {
                _mm256_storeu_ps(yr + 8 * p, accf[p][c]);
            } else if (left > 0) {
                const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
                const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)left), idx);
                _mm256_maskstore_ps(yr + 8 * p, mask, accf[p][c]);
            }
        }
    }
}

/* Stores a float tile acc[c][0..16) as Y[j0 + c][0..nr) for c < C (vector stores: a memcpy of nr floats became
 * `rep movsq`, 4% of a prompt's time). */
static inline __attribute__((always_inline)) void g2__store_tile(const float acc[][16], const int C, float *Y,
                                                                 int64_t j0, int64_t ldy, int64_t nr) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i mask0 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(nr < 16 ? nr : 16)), idx);
    const __m256i mask1 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(nr < 16 ? nr : 16) - 8), idx);
    for (int c = 0; c < C; c++) {
        float *yr = Y + (j0 + c) * ldy;
        if (nr >= 16) {
            _mm256_storeu_ps(yr, _mm256_load_ps(acc[c]));
            _mm256_storeu_ps(yr + 8, _mm256_load_ps(acc[c] + 8));
        } else {
            _mm256_maskstore_ps(yr, mask0, _mm256_load_ps(acc[c]));
            _mm256_maskstore_ps(yr + 8, mask1, _mm256_load_ps(acc[c] + 8));
        }
    }
}

/*
 * The byte path's tile: Y[j0 + c][0..nr) for c < C from a packed 16-row panel of Q4_0 (Q40 = 1: subtract 8 *
 * sum(x)) or Q4_K (mins).
 */
static inline __attribute__((always_inline)) void g2__tile_bytes(const uint8_t *pack, int64_t nb, const int Q40,
                                                                 const int C, const kern__q8a_t *x, int64_t j0,
                                                                 float *Y, int64_t ldy, int64_t nr) {
    const int BB = 512 + (Q40 ? 64 : 128);
    const int64_t K = x->K;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 accf[2][3];
    const int8_t *xq[3];
    const float *xd[3];
    const int32_t *xs[3];
#pragma GCC unroll 3
    for (int c = 0; c < C; c++) {
        xq[c] = x->qs + (j0 + c) * K;
        xd[c] = x->d + (j0 + c) * (K / 32);
        xs[c] = x->s + (j0 + c) * (K / 32);
        accf[0][c] = _mm256_setzero_ps();
        accf[1][c] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *pb = pack + b * BB;
        __m256i acc[2][3];
#pragma GCC unroll 3
        for (int c = 0; c < C; c++) {
            acc[0][c] = _mm256_setzero_si256();
            acc[1][c] = _mm256_setzero_si256();
        }
#pragma GCC unroll 2
        for (int g = 0; g < 8; g++) {
            const __m256i w0 = _mm256_load_si256((const __m256i *)(pb + 64 * g));
            const __m256i w1 = _mm256_load_si256((const __m256i *)(pb + 64 * g + 32));
#pragma GCC unroll 3
            for (int c = 0; c < C; c++) {
                int32_t quad;
                memcpy(&quad, xq[c] + b * 32 + 4 * g, 4);
                const __m256i xb = _mm256_set1_epi32(quad);
                acc[0][c] = _mm256_add_epi16(acc[0][c], _mm256_maddubs_epi16(w0, xb));
                acc[1][c] = _mm256_add_epi16(acc[1][c], _mm256_maddubs_epi16(w1, xb));
            }
        }
        const float *scale = (const float *)(pb + 512);
        const __m256 sc0 = _mm256_load_ps(scale), sc1 = _mm256_load_ps(scale + 8);
#pragma GCC unroll 3
        for (int c = 0; c < C; c++) {
            const __m256 dx = _mm256_set1_ps(xd[c][b]);
            __m256i i0 = _mm256_madd_epi16(acc[0][c], ones), i1 = _mm256_madd_epi16(acc[1][c], ones);
            if (Q40) { /* the weights were q, not q - 8 */
                const __m256i corr = _mm256_set1_epi32(8 * xs[c][b]);
                i0 = _mm256_sub_epi32(i0, corr);
                i1 = _mm256_sub_epi32(i1, corr);
            }
            accf[0][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i0), _mm256_mul_ps(sc0, dx), accf[0][c]);
            accf[1][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i1), _mm256_mul_ps(sc1, dx), accf[1][c]);
        }
        if (!Q40) { /* Q4_K: - min * sum(x) over the block, sum(x) = d_x * s_x */
            const float *mins = (const float *)(pb + 576);
            const __m256 m0 = _mm256_load_ps(mins), m1 = _mm256_load_ps(mins + 8);
#pragma GCC unroll 3
            for (int c = 0; c < C; c++) {
                const __m256 sx = _mm256_set1_ps(xd[c][b] * (float)xs[c][b]);
                accf[0][c] = _mm256_fnmadd_ps(m0, sx, accf[0][c]);
                accf[1][c] = _mm256_fnmadd_ps(m1, sx, accf[1][c]);
            }
        }
    }
    g2__store(accf, C, Y, j0, ldy, nr);
}

/*
 * One block (8 groups of 4 columns) of a 16-row x 6-token tile of the byte path: a0c = sum over groups g of
 * maddubs(w[g] rows 0..7, quad g of token c) in int16 (at most 8 * 3810, no overflow), a1c likewise for rows 8..15,
 * where w is the block's panel at pw (64 bytes per group) and token c's q8a values start at px + c * K. Assembly for
 * the reason given at g2__steps6; the registers are used the same way.
 */
static inline __attribute__((always_inline)) void g2__block_bytes6(const uint8_t *pw, const int8_t *px, int64_t K,
                                                                   __m256i *a00, __m256i *a01, __m256i *a02,
                                                                   __m256i *a03, __m256i *a04, __m256i *a05,
                                                                   __m256i *a10, __m256i *a11, __m256i *a12,
                                                                   __m256i *a13, __m256i *a14, __m256i *a15) {
    /* clang-format off */
#define G2__ASM_TOK(addr, A0, A1)                                                                                      \
    "vpbroadcastd " addr ", %%ymm14\n\t"                                                                               \
    "vpmaddubsw %%ymm14, %%ymm12, %%ymm15\n\t"                                                                          \
    "vpaddw %%ymm15, %[" A0 "], %[" A0 "]\n\t"                                                                          \
    "vpmaddubsw %%ymm14, %%ymm13, %%ymm15\n\t"                                                                          \
    "vpaddw %%ymm15, %[" A1 "], %[" A1 "]\n\t"
#define G2__ASM_TOK0(addr, A0, A1) /* the first group sets the sums */                                                 \
    "vpbroadcastd " addr ", %%ymm14\n\t"                                                                               \
    "vpmaddubsw %%ymm14, %%ymm12, %[" A0 "]\n\t"                                                                        \
    "vpmaddubsw %%ymm14, %%ymm13, %[" A1 "]\n\t"
#define G2__ASM_GROUP(TOK, g)                                                                                          \
    "vmovdqa 64*" #g "(%[pw]), %%ymm12\n\t"                                                                            \
    "vmovdqa 64*" #g "+32(%[pw]), %%ymm13\n\t"                                                                         \
    TOK("4*" #g "(%[x0])", "a00", "a10")                                                                               \
    TOK("4*" #g "(%[x0],%[ld])", "a01", "a11")                                                                         \
    TOK("4*" #g "(%[x0],%[ld],2)", "a02", "a12")                                                                       \
    TOK("4*" #g "(%%r11)", "a03", "a13")                                                                               \
    TOK("4*" #g "(%%r11,%[ld])", "a04", "a14")                                                                         \
    TOK("4*" #g "(%%r11,%[ld],2)", "a05", "a15")
    __asm__("lea (%[x0],%[ld],2), %%r11\n\t"
            "add %[ld], %%r11\n\t" G2__ASM_GROUP(G2__ASM_TOK0, 0) G2__ASM_GROUP(G2__ASM_TOK, 1)
                G2__ASM_GROUP(G2__ASM_TOK, 2) G2__ASM_GROUP(G2__ASM_TOK, 3) G2__ASM_GROUP(G2__ASM_TOK, 4)
                    G2__ASM_GROUP(G2__ASM_TOK, 5) G2__ASM_GROUP(G2__ASM_TOK, 6) G2__ASM_GROUP(G2__ASM_TOK, 7)
            : [a00] "=&x"(*a00), [a01] "=&x"(*a01), [a02] "=&x"(*a02), [a03] "=&x"(*a03), [a04] "=&x"(*a04),
              [a05] "=&x"(*a05), [a10] "=&x"(*a10), [a11] "=&x"(*a11), [a12] "=&x"(*a12), [a13] "=&x"(*a13),
              [a14] "=&x"(*a14), [a15] "=&x"(*a15)
            : [pw] "r"(pw), [x0] "r"(px), [ld] "r"(K)
            : "xmm12", "xmm13", "xmm14", "xmm15", "r11", "cc", "memory");
#undef G2__ASM_GROUP
#undef G2__ASM_TOK0
#undef G2__ASM_TOK
    /* clang-format on */
}

/*
 * The byte path's tile for 6 tokens (Q40 as in g2__tile_bytes): the int16 sums of a block in registers
 * (g2__block_bytes6), widened, converted and added into float sums kept in L1, with the same operations in the same
 * order per output as g2__tile_bytes, so the results are bitwise those of the 3-token tile.
 */
static inline __attribute__((always_inline)) void g2__tile_bytes6(const uint8_t *pack, int64_t nb, const int Q40,
                                                                  const kern__q8a_t *x, int64_t j0, float *Y,
                                                                  int64_t ldy, int64_t nr) {
    const int BB = 512 + (Q40 ? 64 : 128);
    const int64_t K = x->K, nbx = K / 32;
    const int8_t *xq = x->qs + j0 * K;
    const float *xd = x->d + j0 * nbx;
    const int32_t *xs = x->s + j0 * nbx;
    const __m256i ones = _mm256_set1_epi16(1);
    float accf[G2__TOK][16] __attribute__((aligned(32)));
    for (int c = 0; c < G2__TOK; c++) {
        _mm256_store_ps(accf[c], _mm256_setzero_ps());
        _mm256_store_ps(accf[c] + 8, _mm256_setzero_ps());
    }
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *pb = pack + b * BB;
        __m256i a00, a01, a02, a03, a04, a05, a10, a11, a12, a13, a14, a15;
        g2__block_bytes6(pb, xq + b * 32, K, &a00, &a01, &a02, &a03, &a04, &a05, &a10, &a11, &a12, &a13, &a14, &a15);
        const float *scale = (const float *)(pb + 512), *mins = (const float *)(pb + 576); /* mins: not Q4_0 */
        const __m256 sc0 = _mm256_load_ps(scale), sc1 = _mm256_load_ps(scale + 8);
        const __m256 m0 = Q40 ? sc0 : _mm256_load_ps(mins), m1 = Q40 ? sc1 : _mm256_load_ps(mins + 8);
#define G2__FLUSH(c, A0, A1)                                                                                           \
    {                                                                                                                  \
        const __m256 dx = _mm256_set1_ps(xd[c * nbx + b]);                                                             \
        __m256i i0 = _mm256_madd_epi16(A0, ones), i1 = _mm256_madd_epi16(A1, ones);                                    \
        if (Q40) { /* the weights were q, not q - 8 */                                                                 \
            const __m256i corr = _mm256_set1_epi32(8 * xs[c * nbx + b]);                                               \
            i0 = _mm256_sub_epi32(i0, corr);                                                                           \
            i1 = _mm256_sub_epi32(i1, corr);                                                                           \
        }                                                                                                              \
        __m256 f0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i0), _mm256_mul_ps(sc0, dx), _mm256_load_ps(accf[c]));          \
        __m256 f1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i1), _mm256_mul_ps(sc1, dx), _mm256_load_ps(accf[c] + 8));      \
        if (!Q40) { /* Q4_K, Q4_1: - min * sum(x) over the block, sum(x) = d_x * s_x */                                \
            const __m256 sx = _mm256_set1_ps(xd[c * nbx + b] * (float)xs[c * nbx + b]);                                \
            f0 = _mm256_fnmadd_ps(m0, sx, f0);                                                                         \
            f1 = _mm256_fnmadd_ps(m1, sx, f1);                                                                         \
        }                                                                                                              \
        _mm256_store_ps(accf[c], f0);                                                                                  \
        _mm256_store_ps(accf[c] + 8, f1);                                                                              \
    }
        G2__FLUSH(0, a00, a10)
        G2__FLUSH(1, a01, a11)
        G2__FLUSH(2, a02, a12)
        G2__FLUSH(3, a03, a13)
        G2__FLUSH(4, a04, a14)
        G2__FLUSH(5, a05, a15)
#undef G2__FLUSH
    }
    g2__store_tile(accf, G2__TOK, Y, j0, ldy, nr);
}

/*
 * P column pairs (P even) of a 16-row x 6-token tile of the 16-bit path: for k < P, a0c += madd(w[k] rows 0..7,
 * pair k of token c) and a1c likewise for rows 8..15, where w is the panel at pw (64 bytes per pair) and token c's
 * widened activations start at px + c * K. In assembly because GCC 12 does not keep these 12 accumulators, the two
 * weight vectors, a broadcast and a product in AVX2's 16 registers: its code spilled and copied accumulators inside
 * the loop (seen in the assembly of intrinsic versions). Two pairs per iteration; tokens 3..5 are addressed from a
 * second base so that every broadcast is one instruction.
 */
static inline __attribute__((always_inline)) void g2__steps6(const uint8_t *pw, const int16_t *px, int64_t K, int P,
                                                             __m256i *a00, __m256i *a01, __m256i *a02, __m256i *a03,
                                                             __m256i *a04, __m256i *a05, __m256i *a10, __m256i *a11,
                                                             __m256i *a12, __m256i *a13, __m256i *a14, __m256i *a15) {
    const int64_t ld = 2 * K; /* bytes between tokens */
    const uint8_t *end = pw + 64 * P;
    /* clang-format off */
    /* w0, w1 = ymm12, ymm13; the broadcast ymm14, the product ymm15; token 3's base r11 */
#define G2__ASM_TOK(addr, A0, A1)                                                                                      \
    "vpbroadcastd " addr ", %%ymm14\n\t"                                                                               \
    "vpmaddwd %%ymm14, %%ymm12, %%ymm15\n\t"                                                                            \
    "vpaddd %%ymm15, %[" A0 "], %[" A0 "]\n\t"                                                                          \
    "vpmaddwd %%ymm14, %%ymm13, %%ymm15\n\t"                                                                            \
    "vpaddd %%ymm15, %[" A1 "], %[" A1 "]\n\t"
#define G2__ASM_TOK0(addr, A0, A1) /* the first pair sets the sums */                                                  \
    "vpbroadcastd " addr ", %%ymm14\n\t"                                                                               \
    "vpmaddwd %%ymm14, %%ymm12, %[" A0 "]\n\t"                                                                          \
    "vpmaddwd %%ymm14, %%ymm13, %[" A1 "]\n\t"
#define G2__ASM_PAIR(TOK, off, xoff)                                                                                   \
    "vmovdqa " #off "(%[pw]), %%ymm12\n\t"                                                                             \
    "vmovdqa " #off "+32(%[pw]), %%ymm13\n\t"                                                                          \
    TOK(#xoff "(%[x0])", "a00", "a10")                                                                                 \
    TOK(#xoff "(%[x0],%[ld])", "a01", "a11")                                                                           \
    TOK(#xoff "(%[x0],%[ld],2)", "a02", "a12")                                                                         \
    TOK(#xoff "(%%r11)", "a03", "a13")                                                                                 \
    TOK(#xoff "(%%r11,%[ld])", "a04", "a14")                                                                           \
    TOK(#xoff "(%%r11,%[ld],2)", "a05", "a15")
    __asm__("lea (%[x0],%[ld],2), %%r11\n\t"
            "add %[ld], %%r11\n\t" G2__ASM_PAIR(G2__ASM_TOK0, 0, 0) G2__ASM_PAIR(G2__ASM_TOK, 64, 4)
            "jmp 2f\n\t"
            "1:\n\t" G2__ASM_PAIR(G2__ASM_TOK, 0, 0) G2__ASM_PAIR(G2__ASM_TOK, 64, 4)
            "2:\n\t"
            "add $8, %[x0]\n\t"
            "add $8, %%r11\n\t"
            "add $128, %[pw]\n\t"
            "cmp %[end], %[pw]\n\t"
            "jne 1b\n\t"
            : [a00] "=&x"(*a00), [a01] "=&x"(*a01), [a02] "=&x"(*a02), [a03] "=&x"(*a03), [a04] "=&x"(*a04),
              [a05] "=&x"(*a05), [a10] "=&x"(*a10), [a11] "=&x"(*a11), [a12] "=&x"(*a12), [a13] "=&x"(*a13),
              [a14] "=&x"(*a14), [a15] "=&x"(*a15), [pw] "+r"(pw), [x0] "+r"(px)
            : [end] "r"(end), [ld] "r"(ld)
            : "xmm12", "xmm13", "xmm14", "xmm15", "r11", "cc", "memory");
#undef G2__ASM_TOK0
#undef G2__ASM_PAIR
#undef G2__ASM_TOK
    /* clang-format on */
}

/*
 * The 16-bit path's tile (Q8_0, Q6_K, Q5_0, IQ4_NL, Q3_K; with MIN: Q5_K, Q5_1, Q2_K): Y[j0 + c][0..nr) for c < C
 * (C <= G2__TOK) from a packed 16-row panel. Inlined with constant NS (sub-blocks per block), MIN and C.
 * The registers hold only the 2 x C int32 sums of a sub-block (12 at C = 6; with two weight vectors, a broadcast
 * and a product all 16 of AVX2's), so that every column pair costs 2 weight loads, C broadcasts straight from the
 * widened activations (x->x16) and 2C vpmaddwd + 2C vpaddd, nothing else; the float sums live in a small tile in
 * L1, read and written once per sub-block. Each float sum sees the same operations in the same order as before
 * this layout (fma(int sum, scale_w * d_x) per sub-block, then the mins), so the results are bitwise unchanged.
 */
static inline __attribute__((always_inline)) void g2__tile(const uint8_t *pack, int64_t nb, const int NS, const int MIN,
                                                           const int C, const kern__q8a_t *x, int64_t j0, float *Y,
                                                           int64_t ldy, int64_t nr) {
    const int BB = G2__Q_BYTES + NS * (MIN ? 128 : 64), P = 16 / NS; /* column pairs per sub-block */
    const int64_t K = x->K, nbx = K / 32;
    const int16_t *xw = x->x16 + j0 * K;
    const float *xd = x->d + j0 * nbx;
    const int32_t *xs = x->s + j0 * nbx, *xh = MIN && NS == 2 ? x->h + j0 * nbx : NULL;
    float accf[G2__TOK][16] __attribute__((aligned(32)));
#pragma GCC unroll 6
    for (int c = 0; c < C; c++) {
        _mm256_store_ps(accf[c], _mm256_setzero_ps());
        _mm256_store_ps(accf[c] + 8, _mm256_setzero_ps());
    }
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *pb = pack + b * BB;
        const int16_t *xb0 = xw + b * 32;
#pragma GCC unroll 2
        for (int s = 0; s < NS; s++) {
            /* named accumulators, not an array: GCC keeps an array of vectors partly in memory */
            __m256i a00, a01, a02, a03, a04, a05, a10, a11, a12, a13, a14, a15;
            const uint8_t *pw = pb + 64 * s * P;
            const int16_t *px = xb0 + 2 * s * P;
            if (C == G2__TOK) {
                g2__steps6(pw, px, K, P, &a00, &a01, &a02, &a03, &a04, &a05, &a10, &a11, &a12, &a13, &a14, &a15);
            } else {
                a00 = a01 = a02 = a03 = a04 = a05 = a10 = a11 = a12 = a13 = a14 = a15 = _mm256_setzero_si256();
                for (int k = 0; k < P; k++, pw += 64, px += 2) {
                    const __m256i w0 = _mm256_load_si256((const __m256i *)pw);
                    const __m256i w1 = _mm256_load_si256((const __m256i *)(pw + 32));
#define G2__STEP(c, A0, A1)                                                                                            \
    if (C > c) {                                                                                                       \
        int32_t pair;                                                                                                  \
        memcpy(&pair, px + c * K, 4);                                                                                  \
        __m256i xv = _mm256_set1_epi32(pair);                                                                          \
        __asm__ volatile("" : "+x"(xv)); /* one broadcast live at a time: GCC would hoist all C and spill */           \
        A0 = _mm256_add_epi32(A0, _mm256_madd_epi16(w0, xv));                                                          \
        A1 = _mm256_add_epi32(A1, _mm256_madd_epi16(w1, xv));                                                          \
    }
                    G2__STEP(0, a00, a10)
                    G2__STEP(1, a01, a11)
                    G2__STEP(2, a02, a12)
                    G2__STEP(3, a03, a13)
                    G2__STEP(4, a04, a14)
                    G2__STEP(5, a05, a15)
#undef G2__STEP
                }
            }
            const float *scale = (const float *)(pb + G2__Q_BYTES + s * 64);
            const __m256 sc0 = _mm256_load_ps(scale), sc1 = _mm256_load_ps(scale + 8);
#define G2__FLUSH(c, A0, A1)                                                                                           \
    if (C > c) {                                                                                                       \
        const __m256 dx = _mm256_set1_ps(xd[c * nbx + b]);                                                             \
        _mm256_store_ps(accf[c],                                                                                       \
                        _mm256_fmadd_ps(_mm256_cvtepi32_ps(A0), _mm256_mul_ps(sc0, dx), _mm256_load_ps(accf[c])));     \
        _mm256_store_ps(accf[c] + 8,                                                                                   \
                        _mm256_fmadd_ps(_mm256_cvtepi32_ps(A1), _mm256_mul_ps(sc1, dx), _mm256_load_ps(accf[c] + 8))); \
    }
            G2__FLUSH(0, a00, a10)
            G2__FLUSH(1, a01, a11)
            G2__FLUSH(2, a02, a12)
            G2__FLUSH(3, a03, a13)
            G2__FLUSH(4, a04, a14)
            G2__FLUSH(5, a05, a15)
#undef G2__FLUSH
        }
        if (MIN) { /* - min * sum(x) over each sub-block, sum(x) = d_x * (sum of the q8a values) */
#pragma GCC unroll 2
            for (int s = 0; s < NS; s++) {
                const float *mins = (const float *)(pb + G2__Q_BYTES + NS * 64 + s * 64);
                const __m256 m0 = _mm256_load_ps(mins), m1 = _mm256_load_ps(mins + 8);
#pragma GCC unroll 6
                for (int c = 0; c < C; c++) {
                    const int64_t i = c * nbx + b;
                    const int32_t si = NS == 1 ? xs[i] : s == 0 ? xh[i] : xs[i] - xh[i];
                    const __m256 sx = _mm256_set1_ps(xd[i] * (float)si);
                    _mm256_store_ps(accf[c], _mm256_fnmadd_ps(m0, sx, _mm256_load_ps(accf[c])));
                    _mm256_store_ps(accf[c] + 8, _mm256_fnmadd_ps(m1, sx, _mm256_load_ps(accf[c] + 8)));
                }
            }
        }
    }
    g2__store_tile(accf, C, Y, j0, ldy, nr);
}

/* All n tokens against one packed panel of the 16-bit path, G2__TOK tokens per micro-tile and one narrower tile for
 * the rest. */
#define G2__PANEL16_FN(NAME, NS, MIN)                                                                                  \
    static void NAME(const uint8_t *pack, int64_t nb, const kern__q8a_t *x, int64_t n, float *Y, int64_t ldy,          \
                     int64_t nr) {                                                                                     \
        int64_t j = 0;                                                                                                 \
        for (; j + G2__TOK <= n; j += G2__TOK)                                                                         \
            g2__tile(pack, nb, NS, MIN, G2__TOK, x, j, Y, ldy, nr);                                                    \
        switch (n - j) {                                                                                               \
        case 5: g2__tile(pack, nb, NS, MIN, 5, x, j, Y, ldy, nr); break;                                               \
        case 4: g2__tile(pack, nb, NS, MIN, 4, x, j, Y, ldy, nr); break;                                               \
        case 3: g2__tile(pack, nb, NS, MIN, 3, x, j, Y, ldy, nr); break;                                               \
        case 2: g2__tile(pack, nb, NS, MIN, 2, x, j, Y, ldy, nr); break;                                               \
        case 1: g2__tile(pack, nb, NS, MIN, 1, x, j, Y, ldy, nr); break;                                               \
        default: break;                                                                                                \
        }                                                                                                              \
    }

/* All n tokens against one packed panel, 3 tokens per micro-tile and a narrower tile for the rest. */
#define G2__PANEL_FN(NAME, TILE)                                                                                       \
    static void NAME(const uint8_t *pack, int64_t nb, const kern__q8a_t *x, int64_t n, float *Y, int64_t ldy,          \
                     int64_t nr) {                                                                                     \
        int64_t j = 0;                                                                                                 \
        for (; j + 3 <= n; j += 3) {                                                                                   \
            enum { C_ = 3 };                                                                                           \
            TILE;                                                                                                      \
        }                                                                                                              \
        if (n - j == 2) {                                                                                              \
            enum { C_ = 2 };                                                                                           \
            TILE;                                                                                                      \
        } else if (n - j == 1) {                                                                                       \
            enum { C_ = 1 };                                                                                           \
            TILE;                                                                                                      \
        }                                                                                                              \
    }

G2__PANEL16_FN(g2__panel_q8_0, 1, 0)                                           /* Q8_0, Q5_0, IQ4_NL */
G2__PANEL16_FN(g2__panel_q6_k, 2, 0)                                           /* Q6_K, Q3_K */
G2__PANEL16_FN(g2__panel_min16, 1, 1)                                          /* Q5_K, Q5_1 */
G2__PANEL16_FN(g2__panel_q2_k, 2, 1)                                           /* Q2_K */
G2__PANEL_FN(g2__rest_q4_0, g2__tile_bytes(pack, nb, 1, C_, x, j, Y, ldy, nr)) /* Q4_0 */
G2__PANEL_FN(g2__rest_q4_k, g2__tile_bytes(pack, nb, 0, C_, x, j, Y, ldy, nr)) /* Q4_K */

/* All n tokens against one packed panel of the byte path: 6-token tiles, the rest (< 6) in 3-token tiles. */
static void g2__panel_q4_0(const uint8_t *pack, int64_t nb, const kern__q8a_t *x, int64_t n, float *Y, int64_t ldy,
                           int64_t nr) {
    int64_t j = 0;
    for (; j + G2__TOK <= n; j += G2__TOK)
        g2__tile_bytes6(pack, nb, 1, x, j, Y, ldy, nr);
    const kern__q8a_t rest = {x->qs + j * x->K, x->d + j * (x->K / 32), x->s + j * (x->K / 32), x->K, NULL, NULL, NULL};
    if (j < n) g2__rest_q4_0(pack, nb, &rest, n - j, Y + j * ldy, ldy, nr);
}

static void g2__panel_q4_k(const uint8_t *pack, int64_t nb, const kern__q8a_t *x, int64_t n, float *Y, int64_t ldy,
                           int64_t nr) {
    int64_t j = 0;
    for (; j + G2__TOK <= n; j += G2__TOK)
        g2__tile_bytes6(pack, nb, 0, x, j, Y, ldy, nr);
    const kern__q8a_t rest = {x->qs + j * x->K, x->d + j * (x->K / 32), x->s + j * (x->K / 32), x->K, NULL, NULL, NULL};
    if (j < n) g2__rest_q4_k(pack, nb, &rest, n - j, Y + j * ldy, ldy, nr);
}

void kern__widen_i8_avx2(const int8_t *src, int16_t *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(src + i))));
    for (; i < n; i++)
        dst[i] = src[i];
}

void kern__gemm_q8_avx2(dtype_t t, const void *w, size_t row_bytes, int64_t nr, const kern__q8a_t *x, int64_t n,
                        float *Y, int64_t ldy, void *pack) {
    const int64_t nb = x->K / 32;
    for (int64_t r0 = 0; r0 < nr; r0 += G2__ROWS) {
        const int64_t m = nr - r0 < G2__ROWS ? nr - r0 : G2__ROWS;
        const uint8_t *wr = (const uint8_t *)w + r0 * row_bytes;
        float *yr = Y + r0;
        switch (t) {
        case DT_Q4_0:
            g2__pack_bytes(t, wr, row_bytes, m, nb, pack);
            g2__panel_q4_0(pack, nb, x, n, yr, ldy, m);
            break;
        case DT_Q4_K:
        case DT_Q4_1:
            g2__pack_bytes(t, wr, row_bytes, m, nb, pack);
            g2__panel_q4_k(pack, nb, x, n, yr, ldy, m);
            break;
        case DT_Q6_K:
        case DT_Q3_K:
            g2__pack(t, wr, row_bytes, m, nb, pack);
            g2__panel_q6_k(pack, nb, x, n, yr, ldy, m);
            break;
        case DT_Q5_K:
        case DT_Q5_1:
            g2__pack(t, wr, row_bytes, m, nb, pack);
            g2__panel_min16(pack, nb, x, n, yr, ldy, m);
            break;
        case DT_Q2_K:
            g2__pack(t, wr, row_bytes, m, nb, pack);
            g2__panel_q2_k(pack, nb, x, n, yr, ldy, m);
            break;
        default: /* DT_Q8_0, DT_Q5_0, DT_IQ4_NL */
            g2__pack(t, wr, row_bytes, m, nb, pack);
            g2__panel_q8_0(pack, nb, x, n, yr, ldy, m);
            break;
        }
    }
}
