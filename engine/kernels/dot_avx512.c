/*
 * dot_avx512.c — AVX-512 VNNI row dot products (small batches) for every quantized weight type
 * (compiled with -mavx512f/bw/vl/dq/vnni; called only when isa.c found those instructions). The int8 GEMM for
 * large batches is in gemm_avx512.c.
 *
 * vpdpbusd multiplies unsigned by signed bytes, so one operand is made unsigned: Q8_0 weights and IQ4_NL table
 * values are offset by +128 (xor 0x80) and Q4_0 nibbles are used as stored (0..15, i.e. value + 8); the offset is
 * removed with the per-block activation sums s of the q8a format: dot(w, x) = dot(w + off, x) - off * s. The
 * multi-row variants (moderate batches; the 32-value block types) take transposed activations (kern__q8t_t) so
 * that each weight dword serves 16 rows. Pure functions; any thread.
 */
#include <immintrin.h>
#include <string.h>

#include "gemm_rows.h"
#include "kern_impl.h"

static inline float a512__fp16(uint16_t h) { return _cvtsh_ss(h); }

/* ---- row dot products (small batch) --------------------------------------------------------------------- */

/* The fp16 scales of 8 consecutive blocks `stride` bytes apart (first at p), as floats. One gather of the
 * dwords that start at each scale (the upper halves belong to the blocks' quants and are dropped). */
static inline __m256 a512__scales8(const uint8_t *p, int stride) {
    const __m256i off = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(stride));
    const __m256i v = _mm256_i32gather_epi32((const int *)p, off, 1);
    return _mm256_cvtph_ps(_mm256_cvtepi32_epi16(v));
}

/* The fp16 scales of the 8 consecutive 18-byte blocks (IQ4_NL, Q4_0) that start at p, as floats: two 64-byte
 * loads and one vpermt2w picking words 0, 9, .., 63. On Zen 4 this costs a few uops where the gather of
 * a512__scales8 costs ~20 and was the IQ4_NL row dot's largest single cost. Reads p[0, 128), inside the 144 bytes
 * of the 8 blocks. */
static inline __m256 a512__scales8_b18(const uint8_t *p) {
    const __m512i idx = _mm512_zextsi128_si512(_mm_setr_epi16(0, 9, 18, 27, 36, 45, 54, 63));
    const __m512i lo = _mm512_loadu_si512((const void *)p), hi = _mm512_loadu_si512((const void *)(p + 64));
    return _mm256_cvtph_ps(_mm512_castsi512_si128(_mm512_permutex2var_epi16(lo, idx, hi)));
}

static inline float a512__hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/*
 * Shared body of the Q8_0 and Q4_0 row dots, one 256-bit vpdpbusd per block (on Zen 4 a 512-bit op costs two
 * 256-bit ones, so pairing blocks in 512 bits only adds shuffles). Per group of 8 blocks the scales d_w*d_x are
 * made with one gather and one multiply and parked on the stack, so that each block's scale is a broadcast
 * load folded into its FMA. The last nb % 8 blocks build their scales one by one. LOAD1(b) yields the unsigned
 * bytes (value + OFF) of block b[0].
 */
#define A512__ROWDOT_BODY(BLK_T, OFF, LOAD1, SCALES8)                                                                  \
    const kern__q8a_t *xa = x;                                                                                         \
    const int64_t nb = K / 32, nb8 = nb & ~(int64_t)7;                                                                 \
    _Alignas(32) float scale[8];                                                                                       \
    for (int64_t r = 0; r < nr; r++) {                                                                                 \
        const BLK_T *b = (const BLK_T *)((const uint8_t *)w + r * rb);                                                 \
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), cacc = _mm256_setzero_ps();                     \
        __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();                                                 \
        float tail_corr = 0.0f;                                                                                        \
        const __m256i z = _mm256_setzero_si256();                                                                      \
        for (int64_t i = 0; i < nb8; i += 8) {                                                                         \
            const __m256 sc = _mm256_mul_ps(SCALES8((const uint8_t *)&b[i].d), _mm256_loadu_ps(xa->d + i));            \
            _mm256_store_ps(scale, sc);                                                                                \
            cacc = _mm256_fmadd_ps(sc, _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(xa->s + i))), cacc);    \
            const int8_t *xq = xa->qs + i * 32;                                                                        \
            for (int k = 0; k < 8; k += 4) {                                                                           \
                const __m256i p0 =                                                                                     \
                    _mm256_dpbusd_epi32(z, LOAD1(b + i + k), _mm256_loadu_si256((const __m256i *)(xq + 32 * k)));      \
                const __m256i p1 = _mm256_dpbusd_epi32(z, LOAD1(b + i + k + 1),                                        \
                                                       _mm256_loadu_si256((const __m256i *)(xq + 32 * k + 32)));       \
                const __m256i p2 = _mm256_dpbusd_epi32(z, LOAD1(b + i + k + 2),                                        \
                                                       _mm256_loadu_si256((const __m256i *)(xq + 32 * k + 64)));       \
                const __m256i p3 = _mm256_dpbusd_epi32(z, LOAD1(b + i + k + 3),                                        \
                                                       _mm256_loadu_si256((const __m256i *)(xq + 32 * k + 96)));       \
                acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), _mm256_set1_ps(scale[k]), acc0);                        \
                acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p1), _mm256_set1_ps(scale[k + 1]), acc1);                    \
                acc2 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p2), _mm256_set1_ps(scale[k + 2]), acc2);                    \
                acc3 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p3), _mm256_set1_ps(scale[k + 3]), acc3);                    \
            }                                                                                                          \
        }                                                                                                              \
        for (int64_t i = nb8; i < nb; i++) {                                                                           \
            const __m256i p =                                                                                          \
                _mm256_dpbusd_epi32(z, LOAD1(b + i), _mm256_loadu_si256((const __m256i *)(xa->qs + i * 32)));          \
            const float sc = a512__fp16(b[i].d) * xa->d[i];                                                            \
            acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(sc), acc0);                                   \
            tail_corr += sc * (float)xa->s[i];                                                                         \
        }                                                                                                              \
        y[r] = a512__hsum256(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3))) -                    \
               (float)(OFF) * (a512__hsum256(cacc) + tail_corr);                                                       \
    }

/* The scales of 8 consecutive Q8_0 blocks (34 bytes apart: words 0, 17, .., 119 from p) without a gather: four
 * 64-byte loads, a vpermt2w per pair for words 0-51 and 68-119, and a blend. Reads p[0, 256), inside the 272 bytes
 * of the 8 blocks. */
static inline __m256 a512__scales8_b34(const uint8_t *p) {
    const __m512i i0 = _mm512_zextsi128_si512(_mm_setr_epi16(0, 17, 34, 51, 0, 0, 0, 0));
    const __m512i i1 = _mm512_zextsi128_si512(_mm_setr_epi16(0, 0, 0, 0, 4, 21, 38, 55));
    const __m512i a = _mm512_permutex2var_epi16(_mm512_loadu_si512((const void *)p), i0,
                                                _mm512_loadu_si512((const void *)(p + 64)));
    const __m512i b = _mm512_permutex2var_epi16(_mm512_loadu_si512((const void *)(p + 128)), i1,
                                                _mm512_loadu_si512((const void *)(p + 192)));
    return _mm256_cvtph_ps(_mm_blend_epi16(_mm512_castsi512_si128(a), _mm512_castsi512_si128(b), 0xF0));
}

static inline __m256i a512__q8_0_load1(const kern__blk_q8_0 *b) {
    return _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)b->qs), _mm256_set1_epi8((char)0x80));
}

static inline __m256i a512__q4_0_load1(const kern__blk_q4_0 *b) {
    const __m128i q = _mm_loadu_si128((const __m128i *)b->qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0xF));
}

void kern__rowdot_q8_0_avx512(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y) {
    A512__ROWDOT_BODY(kern__blk_q8_0, 128, a512__q8_0_load1, a512__scales8_b34)
}

void kern__rowdot_q4_0_avx512(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y) {
    A512__ROWDOT_BODY(kern__blk_q4_0, 8, a512__q4_0_load1, a512__scales8_b18)
}

/* ---- a few activation rows sharing each weight load (small batches) ------------------------------------- */

/*
 * NX (1-4) consecutive q8a rows against the nr rows at w of Q8_0 (Q4 = 0) or Q4_0 (Q4 = 1), both constants after
 * inlining: the row dot above, with each weight block loaded and made unsigned, and each group's 8 weight scales
 * read, once for all NX activation rows (two accumulators per activation row). Y[a * ldy + r] = dot(row r,
 * activation row a). For batches of 2-4: the row dots would redo the weight work per activation row, and the
 * multi-row kernel would fill few of its 16 lanes.
 */
static inline __attribute__((always_inline)) void a512__nx(const int NX, const int Q4, const uint8_t *w, size_t rb,
                                                           int64_t nr, const kern__q8a_t *x, float *Y, int64_t ldy) {
    const int64_t K = x->K, nb = K / 32, nb8 = nb & ~(int64_t)7;
    const size_t stride = Q4 ? sizeof(kern__blk_q4_0) : sizeof(kern__blk_q8_0);
    const float off = Q4 ? 8.0f : 128.0f;
    _Alignas(32) float scale[4][8];
    const __m256i z = _mm256_setzero_si256();
    for (int64_t r = 0; r < nr; r++) {
        const uint8_t *row = w + (size_t)r * rb;
        __m256 acc[4][2], cacc[4];
        float tail[4];
#pragma GCC unroll 4
        for (int a = 0; a < NX; a++) {
            acc[a][0] = acc[a][1] = cacc[a] = _mm256_setzero_ps();
            tail[a] = 0.0f;
        }
        for (int64_t i = 0; i < nb8; i += 8) {
            const uint8_t *blk = row + (size_t)i * stride;
            const __m256 sw = Q4 ? a512__scales8_b18(blk) : a512__scales8_b34(blk);
#pragma GCC unroll 4
            for (int a = 0; a < NX; a++) {
                const __m256 sc = _mm256_mul_ps(sw, _mm256_loadu_ps(x->d + a * nb + i));
                _mm256_store_ps(scale[a], sc);
                cacc[a] = _mm256_fmadd_ps(
                    sc, _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(x->s + a * nb + i))), cacc[a]);
            }
#pragma GCC unroll 8
            for (int k = 0; k < 8; k++) {
                const uint8_t *bk = blk + (size_t)k * stride;
                const __m256i wv =
                    Q4 ? a512__q4_0_load1((const kern__blk_q4_0 *)bk) : a512__q8_0_load1((const kern__blk_q8_0 *)bk);
#pragma GCC unroll 4
                for (int a = 0; a < NX; a++) {
                    const __m256i p =
                        _mm256_dpbusd_epi32(z, wv, _mm256_loadu_si256((const __m256i *)(x->qs + a * K + (i + k) * 32)));
                    acc[a][k & 1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(scale[a][k]), acc[a][k & 1]);
                }
            }
        }
        for (int64_t i = nb8; i < nb; i++) {
            const uint8_t *bk = row + (size_t)i * stride;
            const __m256i wv =
                Q4 ? a512__q4_0_load1((const kern__blk_q4_0 *)bk) : a512__q8_0_load1((const kern__blk_q8_0 *)bk);
            uint16_t dh;
            memcpy(&dh, bk, 2);
            const float dw = a512__fp16(dh);
#pragma GCC unroll 4
            for (int a = 0; a < NX; a++) {
                const __m256i p =
                    _mm256_dpbusd_epi32(z, wv, _mm256_loadu_si256((const __m256i *)(x->qs + a * K + i * 32)));
                const float sc = dw * x->d[a * nb + i];
                acc[a][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(sc), acc[a][0]);
                tail[a] += sc * (float)x->s[a * nb + i];
            }
        }
#pragma GCC unroll 4
        for (int a = 0; a < NX; a++)
            Y[a * ldy + r] =
                a512__hsum256(_mm256_add_ps(acc[a][0], acc[a][1])) - off * (a512__hsum256(cacc[a]) + tail[a]);
    }
}

KERN__NX_FN(kern__rowdot_nx_q8_0_avx512, a512__nx, 0)
KERN__NX_FN(kern__rowdot_nx_q4_0_avx512, a512__nx, 1)

/* ---- IQ4_NL row dots ------------------------------------------------------------------------------------- */

/*
 * R (4 or 1, a constant after inlining) IQ4_NL rows rb bytes apart, starting at w, against one q8a row: y[0..R).
 * The table values are looked up (pshufb) as unsigned bytes value + 128 (xor 0x80), so one vpdpbusd per block
 * takes them with the signed activations as they are, and the offset comes off once per row through the
 * activation block sums: dot(w, x) = dot(w + 128, x) - 128 * s. Each activation block is loaded once for the R
 * rows; per 8 blocks each row's scales d_w * d_x come from a512__scales8_b18 and one multiply, parked on the
 * stack so that each block's scale is a broadcast folded into its FMA. While a group of R rows is read, the same
 * bytes of the next R rows are prefetched: R interleaved row streams otherwise wait for memory (measured with
 * the weights out of cache, as in a decode step). The last nb % 8 blocks build their scales one by one.
 */
static inline __attribute__((always_inline)) void a512__iq4nl_rows(const int R, const uint8_t *w, size_t rb,
                                                                   const kern__q8a_t *xa, int64_t K, float *y) {
    const int64_t nb = K / 32, nb8 = nb & ~(int64_t)7;
    const __m256i tbl =
        _mm256_xor_si256(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)kern__iq4nl_values)),
                         _mm256_set1_epi8((char)0x80));
    const __m256i lo4 = _mm256_set1_epi8(0xF), z = _mm256_setzero_si256();
    _Alignas(32) float scale[4][8];
    __m256 acc[4], cacc[4];
    float tail[4];
#pragma GCC unroll 4
    for (int q = 0; q < R; q++) {
        acc[q] = cacc[q] = _mm256_setzero_ps();
        tail[q] = 0.0f;
    }
    for (int64_t i = 0; i < nb8; i += 8) {
        const __m256 dx = _mm256_loadu_ps(xa->d + i);
        const __m256 sx = _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(xa->s + i)));
#pragma GCC unroll 4
        for (int q = 0; q < R; q++) {
            const uint8_t *p = w + (size_t)q * rb + i * 18;
            _mm_prefetch((const char *)(p + R * rb), _MM_HINT_T0);
            _mm_prefetch((const char *)(p + R * rb + 64), _MM_HINT_T0);
            _mm_prefetch((const char *)(p + R * rb + 128), _MM_HINT_T0);
            const __m256 sc = _mm256_mul_ps(a512__scales8_b18(p), dx);
            _mm256_store_ps(scale[q], sc);
            cacc[q] = _mm256_fmadd_ps(sc, sx, cacc[q]);
        }
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) {
            const __m256i xv = _mm256_loadu_si256((const __m256i *)(xa->qs + (i + k) * 32));
#pragma GCC unroll 4
            for (int q = 0; q < R; q++) {
                const __m128i qs = _mm_loadu_si128((const __m128i *)(w + (size_t)q * rb + (i + k) * 18 + 2));
                const __m256i u =
                    _mm256_shuffle_epi8(tbl, _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(qs, 4), qs), lo4));
                acc[q] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_dpbusd_epi32(z, u, xv)), _mm256_set1_ps(scale[q][k]),
                                         acc[q]);
            }
        }
    }
    for (int64_t i = nb8; i < nb; i++) {
        const __m256i xv = _mm256_loadu_si256((const __m256i *)(xa->qs + i * 32));
#pragma GCC unroll 4
        for (int q = 0; q < R; q++) {
            const kern__blk_iq4_nl *b = (const kern__blk_iq4_nl *)(w + (size_t)q * rb) + i;
            const __m128i qs = _mm_loadu_si128((const __m128i *)b->qs);
            const __m256i u =
                _mm256_shuffle_epi8(tbl, _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(qs, 4), qs), lo4));
            const float sc = a512__fp16(b->d) * xa->d[i];
            acc[q] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_dpbusd_epi32(z, u, xv)), _mm256_set1_ps(sc), acc[q]);
            tail[q] += sc * (float)xa->s[i];
        }
    }
#pragma GCC unroll 4
    for (int q = 0; q < R; q++)
        y[q] = a512__hsum256(acc[q]) - 128.0f * (a512__hsum256(cacc[q]) + tail[q]);
}

void kern__rowdot_iq4_nl_avx512(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y) {
    int64_t r = 0;
    for (; r + 4 <= nr; r += 4)
        a512__iq4nl_rows(4, (const uint8_t *)w + (size_t)r * rb, rb, x, K, y + r);
    for (; r < nr; r++)
        a512__iq4nl_rows(1, (const uint8_t *)w + (size_t)r * rb, rb, x, K, y + r);
}

/* ---- many activation rows per pass over the weight rows (moderate batches) ------------------------------ */

/*
 * Lanes are activation rows: the q8a rows come transposed (kern__q8t_t: per block and 4-column group, one dword
 * per row, 16 rows per vector), so one vpdpbusd multiplies 4 columns of one weight row (broadcast) by 16
 * activation rows, and the int32 lanes need no horizontal sum. The weight dword is the unsigned operand, the
 * activations the signed one: Q8_0 xor 0x80 (q + 128), Q4_0 the nibbles as stored (q + 8), Q5_0 nibbles with
 * the 5th bit (q + 16), IQ4_NL the table value xor 0x80 (value + 128), Q4_1 / Q5_1 their unsigned q (value =
 * d * q + m). The int32 accumulator of each block starts at -OFF * s (the activation block sums), so that it ends
 * at the exact dot product; it is then scaled by d_w * d_x into float accumulators, and Q4_1 / Q5_1 add
 * m * d_x * s. 4 weight rows are done at once (R, then 1 for the rest) so that each activation vector loaded
 * serves 4 rows. T (an A512__T_* type), R and NV (vectors of 16 rows, 1 or 2) are constants after inlining.
 */
enum { A512__T_Q8_0, A512__T_Q4_0, A512__T_Q4_1, A512__T_Q5_0, A512__T_Q5_1, A512__T_IQ4_NL };

static inline int a512__t_stride(const int T) {
    static const int bytes[] = {34, 18, 20, 22, 24, 18};
    return bytes[T];
}
static inline int a512__t_off(const int T) { /* the unsigned operand's offset: 128, 8, 16 or none */
    return T == A512__T_Q8_0 || T == A512__T_IQ4_NL ? 128 : T == A512__T_Q4_0 ? 8 : T == A512__T_Q5_0 ? 16 : 0;
}
static inline int a512__t_min(const int T) { return T == A512__T_Q4_1 || T == A512__T_Q5_1; }

static inline __attribute__((always_inline)) __m512i a512__wdword(const int T, const uint8_t *blk, int g) {
    int32_t v;
    if (T == A512__T_Q8_0) {
        memcpy(&v, blk + 2 + 4 * g, 4);
        return _mm512_xor_si512(_mm512_set1_epi32(v), _mm512_set1_epi8((char)0x80));
    }
    /* values 4g..4g+3: low nibbles of qs[4g..] for g < 4, high nibbles of qs[4(g-4)..] for g >= 4 */
    const int qs = T == A512__T_Q4_1 ? 4 : T == A512__T_Q5_0 ? 6 : T == A512__T_Q5_1 ? 8 : 2;
    memcpy(&v, blk + qs + 4 * (g & 3), 4);
    uint32_t u = ((g < 4 ? (uint32_t)v : (uint32_t)v >> 4) & 0x0f0f0f0fu);
    if (T == A512__T_Q5_0 || T == A512__T_Q5_1) { /* bits 4g..4g+3 of qh, one to bit 4 of each byte */
        uint32_t h;
        memcpy(&h, blk + qs - 4, 4);
        u |= ((((h >> (4 * g)) & 0xfu) * 0x00204081u) & 0x01010101u) << 4;
    }
    const __m512i q = _mm512_set1_epi32((int)u);
    if (T == A512__T_IQ4_NL) {
        const __m512i tbl = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)kern__iq4nl_values));
        return _mm512_xor_si512(_mm512_shuffle_epi8(tbl, q), _mm512_set1_epi8((char)0x80));
    }
    return q;
}

static inline __attribute__((always_inline)) void a512__multi_blk(const int T, const int R, const int NV,
                                                                  const uint8_t *const *rows, const float *dw,
                                                                  const float *mw, const kern__q8t_t *x, int64_t b,
                                                                  __m512 acc[][2]) {
    const int64_t nb = x->K / 32;
    const int stride = a512__t_stride(T), off = a512__t_off(T);
    __m512i ia[4][2];
    __m512i sv[2];
#pragma GCC unroll 2
    for (int v = 0; v < NV; v++) {
        sv[v] = _mm512_loadu_si512((const void *)(x->st + (v * nb + b) * 16));
        const int sh = off == 128 ? 7 : off == 16 ? 4 : 3; /* -off * s */
        const __m512i c =
            off ? _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(sv[v], sh)) : _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int q = 0; q < R; q++)
            ia[q][v] = c;
    }
#pragma GCC unroll 8
    for (int g = 0; g < 8; g++) {
        __m512i xv[2];
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++)
            xv[v] = _mm512_loadu_si512((const void *)(x->qt + ((v * nb + b) * 8 + g) * 64));
#pragma GCC unroll 4
        for (int q = 0; q < R; q++) {
            const __m512i wv = a512__wdword(T, rows[q] + b * stride, g);
#pragma GCC unroll 2
            for (int v = 0; v < NV; v++)
                ia[q][v] = _mm512_dpbusd_epi32(ia[q][v], wv, xv[v]);
        }
    }
#pragma GCC unroll 2
    for (int v = 0; v < NV; v++) {
        const __m512 dx = _mm512_loadu_ps(x->dt + (v * nb + b) * 16);
        const __m512 sx = a512__t_min(T) ? _mm512_mul_ps(_mm512_cvtepi32_ps(sv[v]), dx) : dx;
#pragma GCC unroll 4
        for (int q = 0; q < R; q++) {
            acc[q][v] =
                _mm512_fmadd_ps(_mm512_cvtepi32_ps(ia[q][v]), _mm512_mul_ps(_mm512_set1_ps(dw[q]), dx), acc[q][v]);
            if (a512__t_min(T)) acc[q][v] = _mm512_fmadd_ps(_mm512_set1_ps(mw[q]), sx, acc[q][v]);
        }
    }
}

static inline __attribute__((always_inline)) void a512__multi_rows(const int T, const int R, const int NV,
                                                                   const void *w, size_t rb, int64_t r0,
                                                                   size_t ahead, const kern__q8t_t *x, int64_t nx,
                                                                   float *Y, int64_t ldy) {
    const int64_t nb = x->K / 32, nb8 = nb & ~(int64_t)7;
    const int stride = a512__t_stride(T);
    _Alignas(32) float dws[4][8], mws[4][8];
    const uint8_t *rows[4];
    __m512 acc[4][2];
#pragma GCC unroll 4
    for (int q = 0; q < R; q++) {
        rows[q] = (const uint8_t *)w + (r0 + q) * rb;
        kern__prefetch(rows[q] + ahead, rb); /* the row one sub-block ahead (mm__multi) */
        acc[q][0] = acc[q][1] = _mm512_setzero_ps();
    }
    for (int64_t i = 0; i < nb8; i += 8) {
#pragma GCC unroll 4
        for (int q = 0; q < R; q++) {
            _mm256_store_ps(dws[q], a512__scales8(rows[q] + i * stride, stride));
            if (a512__t_min(T)) _mm256_store_ps(mws[q], a512__scales8(rows[q] + i * stride + 2, stride));
        }
#pragma GCC unroll 8
        for (int u = 0; u < 8; u++) {
            float dw[4], mw[4];
#pragma GCC unroll 4
            for (int q = 0; q < R; q++) {
                dw[q] = dws[q][u];
                mw[q] = a512__t_min(T) ? mws[q][u] : 0.0f;
            }
            a512__multi_blk(T, R, NV, rows, dw, mw, x, i + u, acc);
        }
    }
    for (int64_t i = nb8; i < nb; i++) {
        float dw[4], mw[4];
#pragma GCC unroll 4
        for (int q = 0; q < R; q++) {
            uint16_t dh;
            memcpy(&dh, rows[q] + i * stride, 2);
            dw[q] = a512__fp16(dh);
            memcpy(&dh, rows[q] + i * stride + 2, 2);
            mw[q] = a512__t_min(T) ? a512__fp16(dh) : 0.0f;
        }
        a512__multi_blk(T, R, NV, rows, dw, mw, x, i, acc);
    }
#pragma GCC unroll 4
    for (int q = 0; q < R; q++) {
        _Alignas(64) float out[32];
        _mm512_store_ps(out, acc[q][0]);
        if (NV > 1) _mm512_store_ps(out + 16, acc[q][1]);
        for (int64_t j = 0; j < nx; j++)
            Y[j * ldy + r0 + q] = out[j];
    }
}

static inline __attribute__((always_inline)) void a512__multi_nv(const int T, const int NV, const void *w, size_t rb,
                                                                 int64_t nr, const kern__q8t_t *x, int64_t nx, float *Y,
                                                                 int64_t ldy) {
    int64_t r = 0;
    for (; r + 4 <= nr; r += 4)
        a512__multi_rows(T, 4, NV, w, rb, r, nr * rb, x, nx, Y, ldy);
    for (; r < nr; r++)
        a512__multi_rows(T, 1, NV, w, rb, r, nr * rb, x, nx, Y, ldy);
}

/* Up to 32 activation rows per pass over the nr weight rows (the caller sizes nr to stay in L1). */
#define A512__MULTI_FN(NAME, T)                                                                                        \
    void NAME(const void *w, size_t rb, int64_t nr, const kern__q8t_t *x, int64_t nx, float *Y, int64_t ldy) {         \
        const int64_t nb = x->K / 32;                                                                                  \
        for (int64_t j = 0; j < nx; j += 32) {                                                                         \
            const int64_t m = nx - j < 32 ? nx - j : 32;                                                               \
            const kern__q8t_t xj = {x->qt + j * x->K, x->dt + j * nb, x->st + j * nb, NULL, x->K, NULL};               \
            if (m > 16)                                                                                                \
                a512__multi_nv(T, 2, w, rb, nr, &xj, m, Y + j * ldy, ldy);                                             \
            else                                                                                                       \
                a512__multi_nv(T, 1, w, rb, nr, &xj, m, Y + j * ldy, ldy);                                             \
        }                                                                                                              \
    }

A512__MULTI_FN(kern__rowdot_multi_q8_0_avx512, A512__T_Q8_0)
A512__MULTI_FN(kern__rowdot_multi_q4_0_avx512, A512__T_Q4_0)
A512__MULTI_FN(kern__rowdot_multi_q4_1_avx512, A512__T_Q4_1)
A512__MULTI_FN(kern__rowdot_multi_q5_0_avx512, A512__T_Q5_0)
A512__MULTI_FN(kern__rowdot_multi_q5_1_avx512, A512__T_Q5_1)
A512__MULTI_FN(kern__rowdot_multi_iq4_nl_avx512, A512__T_IQ4_NL)

/* ---- K-quants against q8k: the AVX2 bodies with vpdpwssd for the int16 multiply-accumulate ------------- */

#define KQ_NAME_Q4K          kern__rowdot_q4_k_avx512
#define KQ_NAME_Q6K          kern__rowdot_q6_k_avx512
#define KQ_NAME_Q4K_NX       kern__rowdot_nx_q4_k_avx512
#define KQ_NAME_Q6K_NX       kern__rowdot_nx_q6_k_avx512
#define KQ_NAME_Q2K          kern__rowdot_q2_k_avx512
#define KQ_NAME_Q3K          kern__rowdot_q3_k_avx512
#define KQ_NAME_Q5K          kern__rowdot_q5_k_avx512
#define KQ_DPWSSD(acc, a, b) _mm256_dpwssd_epi32((acc), (a), (b))
#include "kq_body.h"

/* ---- Q4_1 / Q5_0 / Q5_1 against q8a (IQ4_NL's row dot is above) ----------------------------------------- */

#define Q32_NAME_Q4_1 kern__rowdot_q4_1_avx512
#define Q32_NAME_Q5_0 kern__rowdot_q5_0_avx512
#define Q32_NAME_Q5_1 kern__rowdot_q5_1_avx512
#define Q32_DOT(u, s) _mm256_dpbusd_epi32(_mm256_setzero_si256(), (u), (s))
#include "q32_body.h"
