/*
 * dot_avx512.c — AVX-512 VNNI row dot products (small batches) for Q8_0, Q4_0, Q4_K and Q6_K weights
 * (compiled with -mavx512f/bw/vl/dq/vnni; called only when isa.c found those instructions). The int8 GEMM for
 * large batches is in gemm_avx512.c.
 *
 * vpdpbusd multiplies unsigned by signed bytes, so one operand is made unsigned: Q8_0 weights are offset by
 * +128 (xor 0x80) and Q4_0 nibbles are used as stored (0..15, i.e. value + 8); the offset is removed with the
 * per-block activation sums s of the q8a format: dot(w, x) = dot(w + off, x) - off * s. Pure functions; any
 * thread.
 */
#include <immintrin.h>
#include <string.h>

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
#define A512__ROWDOT_BODY(BLK_T, OFF, LOAD1)                                                                           \
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
            const __m256 sc = _mm256_mul_ps(a512__scales8((const uint8_t *)&b[i].d, (int)sizeof(BLK_T)),               \
                                            _mm256_loadu_ps(xa->d + i));                                               \
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

static inline __m256i a512__q8_0_load1(const kern__blk_q8_0 *b) {
    return _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)b->qs), _mm256_set1_epi8((char)0x80));
}

static inline __m256i a512__q4_0_load1(const kern__blk_q4_0 *b) {
    const __m128i q = _mm_loadu_si128((const __m128i *)b->qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0xF));
}

void kern__rowdot_q8_0_avx512(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y) {
    A512__ROWDOT_BODY(kern__blk_q8_0, 128, a512__q8_0_load1)
}

void kern__rowdot_q4_0_avx512(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y) {
    A512__ROWDOT_BODY(kern__blk_q4_0, 8, a512__q4_0_load1)
}

/* ---- Q4_K / Q6_K against q8k: the AVX2 bodies with vpdpwssd for the int16 multiply-accumulate ---------- */

#define KQ_NAME_Q4K          kern__rowdot_q4_k_avx512
#define KQ_NAME_Q6K          kern__rowdot_q6_k_avx512
#define KQ_DPWSSD(acc, a, b) _mm256_dpwssd_epi32((acc), (a), (b))
#include "kq_body.h"
