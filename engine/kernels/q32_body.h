/*
 * q32_body.h — the bodies of the Q4_1, Q5_0, Q5_1 and IQ4_NL row dot products against q8a activations, written
 * once for the AVX2 file and the AVX-512 VNNI file. Include it after defining:
 *   Q32_NAME_Q4_1, Q32_NAME_Q5_0, Q32_NAME_Q5_1   the function names to define, and optionally Q32_NAME_IQ4_NL
 *                   (the AVX-512 file has its own IQ4_NL row dot)
 *   Q32_DOT(u, s)   the 8 int32 lanes of sums of 4 products of unsigned bytes u and signed bytes s
 *                   (AVX2: pmaddubsw then pmaddwd by ones; VNNI: vpdpbusd)
 * and including <immintrin.h> and gemm_rows.h (whose helpers unpack the blocks). Compiled with at least
 * -mavx2 -mfma -mf16c.
 *
 * Each block's 32 weights are made unsigned bytes in value order: Q4_1 nibbles (0..15), Q5_0/Q5_1 nibbles with
 * the 5th bit (0..31; pmaddubsw pairs stay below 2 * 31 * 128), and IQ4_NL table values (signed, -127..113)
 * through the sign trick: |w| times x with w's sign. The offsets go through the activation block sums s:
 * Q5_0's -16 as -16 * d_w * d_x * s, Q4_1/Q5_1's min m as + m * d_x * s. Two blocks per step with separate
 * accumulators, the last odd block alone.
 */

static inline float q32__hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/*
 * The loop over rows and blocks. UNSIGNED(b) yields the block's unsigned bytes, DOTB(b, xv) its int32 lanes
 * against activation bytes xv, SCALE(b) its float weight scale and CORR(b) the float factor of d_x * s added per
 * block (0 for none).
 */
#define Q32__BODY(BLK_T, DOTB, SCALE, CORR)                                                                            \
    const kern__q8a_t *xa = x;                                                                                         \
    const int64_t nb = K / 32;                                                                                         \
    for (int64_t r = 0; r < nr; r++) {                                                                                 \
        const BLK_T *b = (const BLK_T *)((const uint8_t *)w + r * rb);                                                 \
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                                                 \
        float corr0 = 0.0f, corr1 = 0.0f;                                                                              \
        int64_t i = 0;                                                                                                 \
        for (; i + 2 <= nb; i += 2) {                                                                                  \
            const __m256i p0 = DOTB(&b[i], _mm256_loadu_si256((const __m256i *)(xa->qs + i * 32)));                    \
            const __m256i p1 = DOTB(&b[i + 1], _mm256_loadu_si256((const __m256i *)(xa->qs + i * 32 + 32)));           \
            acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), _mm256_set1_ps(SCALE(&b[i]) * xa->d[i]), acc0);             \
            acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p1), _mm256_set1_ps(SCALE(&b[i + 1]) * xa->d[i + 1]), acc1);     \
            corr0 += CORR(&b[i]) * xa->d[i] * (float)xa->s[i];                                                         \
            corr1 += CORR(&b[i + 1]) * xa->d[i + 1] * (float)xa->s[i + 1];                                             \
        }                                                                                                              \
        for (; i < nb; i++) {                                                                                          \
            const __m256i p0 = DOTB(&b[i], _mm256_loadu_si256((const __m256i *)(xa->qs + i * 32)));                    \
            acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), _mm256_set1_ps(SCALE(&b[i]) * xa->d[i]), acc0);             \
            corr0 += CORR(&b[i]) * xa->d[i] * (float)xa->s[i];                                                         \
        }                                                                                                              \
        y[r] = q32__hsum(_mm256_add_ps(acc0, acc1)) + (corr0 + corr1);                                                 \
    }

static inline __m256i q32__dot_q4_1(const kern__blk_q4_1 *b, __m256i xv) { return Q32_DOT(gemm__nibbles(b->qs), xv); }
static inline __m256i q32__dot_q5_0(const kern__blk_q5_0 *b, __m256i xv) {
    return Q32_DOT(_mm256_or_si256(gemm__nibbles(b->qs), gemm__q5_high(b->qh)), xv);
}
static inline __m256i q32__dot_q5_1(const kern__blk_q5_1 *b, __m256i xv) {
    return Q32_DOT(_mm256_or_si256(gemm__nibbles(b->qs), gemm__q5_high(b->qh)), xv);
}
#ifdef Q32_NAME_IQ4_NL
static inline __m256i q32__dot_iq4_nl(const kern__blk_iq4_nl *b, __m256i xv) {
    const __m256i tbl = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)kern__iq4nl_values));
    const __m256i v = _mm256_shuffle_epi8(tbl, gemm__nibbles(b->qs));
    return Q32_DOT(_mm256_abs_epi8(v), _mm256_sign_epi8(xv, v));
}
#endif

#define Q32__D(b)      _cvtsh_ss((b)->d)
#define Q32__M(b)      _cvtsh_ss((b)->m)
#define Q32__M16(b)    (-16.0f * _cvtsh_ss((b)->d))
#define Q32__NONE(b)   0.0f

void Q32_NAME_Q4_1(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y) {
    Q32__BODY(kern__blk_q4_1, q32__dot_q4_1, Q32__D, Q32__M)
}

void Q32_NAME_Q5_0(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y) {
    Q32__BODY(kern__blk_q5_0, q32__dot_q5_0, Q32__D, Q32__M16)
}

void Q32_NAME_Q5_1(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y) {
    Q32__BODY(kern__blk_q5_1, q32__dot_q5_1, Q32__D, Q32__M)
}

#ifdef Q32_NAME_IQ4_NL
void Q32_NAME_IQ4_NL(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y) {
    Q32__BODY(kern__blk_iq4_nl, q32__dot_iq4_nl, Q32__D, Q32__NONE)
}
#endif
