/*
 * dot_avx2.c — AVX2+FMA+F16C versions of the block-format kernels of quant.c: activation quantization,
 * dequantization, and dot products of weight rows with activations (compiled with -mavx2 -mfma -mf16c; called
 * only when isa.c found those instructions).
 *
 * Quantization and dequantization give bit-identical results to quant.c; dot products differ from it only in
 * the order of float additions. Integer dots use pmaddubsw (unsigned x signed bytes): Q4_0/Q4_K/Q6_K weights are
 * unsigned as stored and their offsets (-8, mins, -32) are applied through the activation sums; Q8_0 weights
 * take the usual abs/sign trick. Pure functions; any thread.
 */
#include <immintrin.h>
#include <string.h>

#include "gemm_rows.h"
#include "kern_impl.h"

static inline float avx2__hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline int32_t avx2__hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

static inline float avx2__amax(__m256 a) { /* max of 8 non-negative floats */
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

static inline float avx2__fp16(uint16_t h) { return _cvtsh_ss(h); }

/* Packs 32 int32 (four vectors, in order) into 32 int8 (values are within [-127, 127], no saturation). */
static inline __m256i avx2__pack32(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
    const __m256i abcd = _mm256_packs_epi16(ab, cd);
    /* the two packs interleave 128-bit lanes: dwords come out as a0 b0 c0 d0 a1 b1 c1 d1 (4 bytes each) */
    return _mm256_permutevar8x32_epi32(abcd, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* ---- activation quantization ---------------------------------------------------------------------------- */

/* NaN lanes as 0 (so that amax and the scaled values ignore them, as fmaxf and quant.c's clamp do). */
static inline __m256 avx2__nan0(__m256 v) { return _mm256_and_ps(v, _mm256_cmp_ps(v, v, _CMP_ORD_Q)); }

/*
 * round(v * id) as int32, with v * id first clamped to [-127, 127] and NaN taken as 0, exactly as quant.c's
 * quant__rne: an inf in the activations (amax inf, id 0, inf * 0 = NaN) or a denormal amax (id inf) must not
 * reach cvtps2dq, whose "integer indefinite" result would then overflow the block sums.
 */
static inline __m256i avx2__q8(__m256 v, __m256 id) {
    const __m256 x = avx2__nan0(_mm256_mul_ps(v, id));
    return _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f)));
}

void kern__quant_q8a_avx2(const float *x, int64_t K, int8_t *qs, float *d, int32_t *s, uint8_t *xu) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (int64_t b = 0; b < K / 32; b++, x += 32, qs += 32) {
        __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
        __m256 v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
        const __m256 a0 = avx2__nan0(_mm256_and_ps(v0, absmask)), a1 = avx2__nan0(_mm256_and_ps(v1, absmask));
        const __m256 a2 = avx2__nan0(_mm256_and_ps(v2, absmask)), a3 = avx2__nan0(_mm256_and_ps(v3, absmask));
        __m256 m = _mm256_max_ps(_mm256_max_ps(a0, a1), _mm256_max_ps(a2, a3));
        const float amax = avx2__amax(m);
        const float db = amax / 127.0f, id = db != 0.0f ? 1.0f / db : 0.0f;
        const __m256 vid = _mm256_set1_ps(id);
        const __m256i i0 = avx2__q8(v0, vid), i1 = avx2__q8(v1, vid);
        const __m256i i2 = avx2__q8(v2, vid), i3 = avx2__q8(v3, vid);
        const __m256i packed = avx2__pack32(i0, i1, i2, i3);
        _mm256_storeu_si256((__m256i *)qs, packed);
        if (xu) _mm256_storeu_si256((__m256i *)(xu + 32 * b), _mm256_xor_si256(packed, _mm256_set1_epi8((char)0x80)));
        d[b] = db;
        s[b] = avx2__hsum_i32(_mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3)));
    }
}

void kern__quant_q8k_avx2(const float *x, int64_t K, kern__q8k_t *y) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (int64_t b = 0; b < K / QK_K; b++, x += QK_K) {
        __m256 m = _mm256_setzero_ps();
        for (int i = 0; i < QK_K; i += 8)
            m = _mm256_max_ps(m, avx2__nan0(_mm256_and_ps(_mm256_loadu_ps(x + i), absmask)));
        const float amax = avx2__amax(m);
        const float db = amax / 127.0f, id = db != 0.0f ? 1.0f / db : 0.0f;
        const __m256 vid = _mm256_set1_ps(id);
        y[b].d = db;
        for (int i = 0; i < QK_K; i += 32) {
            const __m256i i0 = avx2__q8(_mm256_loadu_ps(x + i), vid);
            const __m256i i1 = avx2__q8(_mm256_loadu_ps(x + i + 8), vid);
            const __m256i i2 = avx2__q8(_mm256_loadu_ps(x + i + 16), vid);
            const __m256i i3 = avx2__q8(_mm256_loadu_ps(x + i + 24), vid);
            _mm256_storeu_si256((__m256i *)(y[b].qs + i), avx2__pack32(i0, i1, i2, i3));
            y[b].bsums[i / 16] = (int16_t)avx2__hsum_i32(_mm256_add_epi32(i0, i1));
            y[b].bsums[i / 16 + 1] = (int16_t)avx2__hsum_i32(_mm256_add_epi32(i2, i3));
        }
    }
}

void kern__f32_to_f16_avx2(const float *src, uint16_t *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        dst[i] = kern_fp32_to_fp16(src[i]);
}

/* ---- dequantization ------------------------------------------------------------------------------------- */

void kern__dequant_f16_avx2(const void *src, float *dst, int64_t n) {
    const uint16_t *p = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + i))));
    for (; i < n; i++)
        dst[i] = kern_fp16_to_fp32(p[i]);
}

void kern__dequant_bf16_avx2(const void *src, float *dst, int64_t n) {
    const uint16_t *p = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p + i)));
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
    }
    for (; i < n; i++)
        dst[i] = kern_bf16_to_fp32(p[i]);
}

void kern__dequant_q8_0_avx2(const void *src, float *dst, int64_t n) {
    const kern__blk_q8_0 *b = src;
    for (int64_t i = 0; i < n / QK8_0; i++, dst += QK8_0) {
        const __m256 d = _mm256_set1_ps(avx2__fp16(b[i].d));
        for (int j = 0; j < QK8_0; j += 8) {
            const __m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b[i].qs + j)));
            _mm256_storeu_ps(dst + j, _mm256_mul_ps(_mm256_cvtepi32_ps(q), d));
        }
    }
}

void kern__dequant_q4_0_avx2(const void *src, float *dst, int64_t n) {
    const kern__blk_q4_0 *b = src;
    const __m128i lo4 = _mm_set1_epi8(0xF), eight = _mm_set1_epi8(8);
    for (int64_t i = 0; i < n / QK4_0; i++, dst += QK4_0) {
        const __m256 d = _mm256_set1_ps(avx2__fp16(b[i].d));
        const __m128i q = _mm_loadu_si128((const __m128i *)b[i].qs);
        const __m128i lo = _mm_sub_epi8(_mm_and_si128(q, lo4), eight);
        const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), lo4), eight);
        _mm256_storeu_ps(dst + 0, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)), d));
        _mm256_storeu_ps(dst + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))), d));
        _mm256_storeu_ps(dst + 16, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)), d));
        _mm256_storeu_ps(dst + 24, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))), d));
    }
}

/* ---- float weights -------------------------------------------------------------------------------------- */

void kern__rowdot_f32_avx2(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y) {
    for (int64_t r = 0; r < nr; r++)
        y[r] = kern__dot_f32_avx2((const float *)((const uint8_t *)w + r * rb), x, K);
}

/*
 * One row at a time with four accumulators. (Interleaving two rows to share the activation loads looks cheaper
 * but halves the speed from DRAM on Zen 4: the two streams defeat the hardware prefetcher.) `load` turns 8
 * stored values into 8 floats.
 */
#define AVX2__ROWDOT_16BIT(name, load, scalar_cvt)                                                                     \
    void name(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y) {                              \
        const float *xf = x;                                                                                           \
        for (int64_t r = 0; r < nr; r++) {                                                                             \
            const uint16_t *a = (const uint16_t *)((const uint8_t *)w + r * rb);                                       \
            __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();                                                 \
            __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();                                                 \
            int64_t i = 0;                                                                                             \
            for (; i + 32 <= K; i += 32) {                                                                             \
                s0 = _mm256_fmadd_ps(load(a + i), _mm256_loadu_ps(xf + i), s0);                                        \
                s1 = _mm256_fmadd_ps(load(a + i + 8), _mm256_loadu_ps(xf + i + 8), s1);                                \
                s2 = _mm256_fmadd_ps(load(a + i + 16), _mm256_loadu_ps(xf + i + 16), s2);                              \
                s3 = _mm256_fmadd_ps(load(a + i + 24), _mm256_loadu_ps(xf + i + 24), s3);                              \
            }                                                                                                          \
            for (; i + 8 <= K; i += 8)                                                                                 \
                s0 = _mm256_fmadd_ps(load(a + i), _mm256_loadu_ps(xf + i), s0);                                        \
            float sa = avx2__hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));                        \
            for (; i < K; i++)                                                                                         \
                sa += scalar_cvt(a[i]) * xf[i];                                                                        \
            y[r] = sa;                                                                                                 \
        }                                                                                                              \
    }

static inline __m256 avx2__load_f16(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

static inline __m256 avx2__load_bf16(const uint16_t *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}

AVX2__ROWDOT_16BIT(kern__rowdot_f16_avx2, avx2__load_f16, kern_fp16_to_fp32)
AVX2__ROWDOT_16BIT(kern__rowdot_bf16_avx2, avx2__load_bf16, kern_bf16_to_fp32)

/* ---- Q8_0 / Q4_0 against q8a ---------------------------------------------------------------------------- */

void kern__rowdot_q8_0_avx2(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y) {
    const kern__q8a_t *xa = x;
    const __m256i ones = _mm256_set1_epi16(1);
    const int64_t nb = K / QK8_0;
    for (int64_t r = 0; r < nr; r++) {
        const kern__blk_q8_0 *b = (const kern__blk_q8_0 *)((const uint8_t *)w + r * rb);
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
        int64_t i = 0;
        for (; i + 2 <= nb; i += 2) {
            const __m256i w0 = _mm256_loadu_si256((const __m256i *)b[i].qs);
            const __m256i w1 = _mm256_loadu_si256((const __m256i *)b[i + 1].qs);
            const __m256i x0 = _mm256_loadu_si256((const __m256i *)(xa->qs + i * 32));
            const __m256i x1 = _mm256_loadu_si256((const __m256i *)(xa->qs + i * 32 + 32));
            const __m256i p0 =
                _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w0, w0), _mm256_sign_epi8(x0, w0)), ones);
            const __m256i p1 =
                _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w1, w1), _mm256_sign_epi8(x1, w1)), ones);
            acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), _mm256_set1_ps(avx2__fp16(b[i].d) * xa->d[i]), acc0);
            acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p1), _mm256_set1_ps(avx2__fp16(b[i + 1].d) * xa->d[i + 1]), acc1);
        }
        for (; i < nb; i++) {
            const __m256i w0 = _mm256_loadu_si256((const __m256i *)b[i].qs);
            const __m256i x0 = _mm256_loadu_si256((const __m256i *)(xa->qs + i * 32));
            const __m256i p0 =
                _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w0, w0), _mm256_sign_epi8(x0, w0)), ones);
            acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), _mm256_set1_ps(avx2__fp16(b[i].d) * xa->d[i]), acc0);
        }
        y[r] = avx2__hsum(_mm256_add_ps(acc0, acc1));
    }
}

/* The 32 nibbles of a Q4_0 block as unsigned bytes in value order (low nibbles first). */
static inline __m256i avx2__q4_0_bytes(const uint8_t *qs) {
    const __m128i q = _mm_loadu_si128((const __m128i *)qs);
    const __m256i v = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
    return _mm256_and_si256(v, _mm256_set1_epi8(0xF));
}

void kern__rowdot_q4_0_avx2(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y) {
    const kern__q8a_t *xa = x;
    const __m256i ones = _mm256_set1_epi16(1);
    const int64_t nb = K / QK4_0;
    for (int64_t r = 0; r < nr; r++) {
        const kern__blk_q4_0 *b = (const kern__blk_q4_0 *)((const uint8_t *)w + r * rb);
        __m256 acc = _mm256_setzero_ps();
        float corr = 0.0f; /* sum of scale * 8 * sum(x): the -8 offset of every nibble */
        for (int64_t i = 0; i < nb; i++) {
            const __m256i q = avx2__q4_0_bytes(b[i].qs);
            const __m256i xv = _mm256_loadu_si256((const __m256i *)(xa->qs + i * 32));
            const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(q, xv), ones);
            const float sc = avx2__fp16(b[i].d) * xa->d[i];
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(sc), acc);
            corr += sc * (float)xa->s[i];
        }
        y[r] = avx2__hsum(acc) - 8.0f * corr;
    }
}

/*
 * NX (1-4) consecutive q8a rows against the nr rows at w of Q8_0 (Q4 = 0) or Q4_0 (Q4 = 1), both constants after
 * inlining: the row dots above with each weight block loaded and made ready (Q8_0: its absolute value; Q4_0: its
 * nibbles as unsigned bytes) and its scale read once for all NX activation rows; one accumulator per activation
 * row (the NX chains are independent). Y[a * ldy + r] = dot(row r, activation row a). For batches below the
 * multi-row kernels' range (KERN__MULTI_MIN_N_AVX2*), where the row dots would redo the weight work per row.
 */
static inline __attribute__((always_inline)) void avx2__nx(const int NX, const int Q4, const uint8_t *w, size_t rb,
                                                           int64_t nr, const kern__q8a_t *x, float *Y, int64_t ldy) {
    const __m256i ones = _mm256_set1_epi16(1);
    const int64_t K = x->K, nb = K / 32;
    const size_t stride = Q4 ? sizeof(kern__blk_q4_0) : sizeof(kern__blk_q8_0);
    for (int64_t r = 0; r < nr; r++) {
        const uint8_t *row = w + (size_t)r * rb;
        __m256 acc[4];
        float corr[4]; /* Q4_0: sum of scale * sum(x), for the -8 offset of every nibble */
#pragma GCC unroll 4
        for (int a = 0; a < NX; a++) {
            acc[a] = _mm256_setzero_ps();
            corr[a] = 0.0f;
        }
        for (int64_t i = 0; i < nb; i++) {
            const uint8_t *bk = row + (size_t)i * stride;
            uint16_t dh;
            memcpy(&dh, bk, 2);
            const __m256i w0 = Q4 ? avx2__q4_0_bytes(bk + 2) : _mm256_loadu_si256((const __m256i *)(bk + 2));
            const __m256i aw = Q4 ? w0 : _mm256_sign_epi8(w0, w0);
            const float dw = avx2__fp16(dh);
#pragma GCC unroll 4
            for (int a = 0; a < NX; a++) {
                const __m256i x0 = _mm256_loadu_si256((const __m256i *)(x->qs + a * K + i * 32));
                const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, Q4 ? x0 : _mm256_sign_epi8(x0, w0)), ones);
                const float sc = dw * x->d[a * nb + i];
                acc[a] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(sc), acc[a]);
                if (Q4) corr[a] += sc * (float)x->s[a * nb + i];
            }
        }
#pragma GCC unroll 4
        for (int a = 0; a < NX; a++)
            Y[a * ldy + r] = avx2__hsum(acc[a]) - (Q4 ? 8.0f * corr[a] : 0.0f);
    }
}

KERN__NX_FN(kern__rowdot_nx_q8_0_avx2, avx2__nx, 0)
KERN__NX_FN(kern__rowdot_nx_q4_0_avx2, avx2__nx, 1)

/* ---- K-quants (Q2_K..Q6_K) against q8k ------------------------------------------------------------------ */

#define KQ_NAME_Q4K          kern__rowdot_q4_k_avx2
#define KQ_NAME_Q6K          kern__rowdot_q6_k_avx2
#define KQ_NAME_Q4K_NX       kern__rowdot_nx_q4_k_avx2
#define KQ_NAME_Q6K_NX       kern__rowdot_nx_q6_k_avx2
#define KQ_NAME_Q2K          kern__rowdot_q2_k_avx2
#define KQ_NAME_Q3K          kern__rowdot_q3_k_avx2
#define KQ_NAME_Q5K          kern__rowdot_q5_k_avx2
#define KQ_DPWSSD(acc, a, b) _mm256_add_epi32((acc), _mm256_madd_epi16((a), (b)))
#include "kq_body.h"

/* ---- Q4_1 / Q5_0 / Q5_1 / IQ4_NL against q8a ---------------------------------------------------------- */

#define Q32_NAME_Q4_1   kern__rowdot_q4_1_avx2
#define Q32_NAME_Q5_0   kern__rowdot_q5_0_avx2
#define Q32_NAME_Q5_1   kern__rowdot_q5_1_avx2
#define Q32_NAME_IQ4_NL kern__rowdot_iq4_nl_avx2
#define Q32_DOT(u, s)   _mm256_madd_epi16(_mm256_maddubs_epi16((u), (s)), _mm256_set1_epi16(1))
#include "q32_body.h"
