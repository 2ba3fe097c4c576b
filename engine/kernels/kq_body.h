/*
 * kq_body.h — the bodies of the K-quant row dot products (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) against q8k
 * activations, written once for the AVX2 file and the AVX-512 VNNI file. Include it after defining:
 *   KQ_NAME_Q2K .. KQ_NAME_Q6K the function names to define
 *   KQ_NAME_Q4K_NX, KQ_NAME_Q6K_NX the shared-load nx entry points of Q4_K and Q6_K
 *   KQ_DPWSSD(acc, a, b)       acc + pairwise int16 products of a and b summed into int32 lanes
 *                              (AVX2: add(acc, madd(a, b)); VNNI: vpdpwssd)
 * and including <immintrin.h> and kern_impl.h. Compiled with at least -mavx2 -mfma -mf16c.
 *
 * Both kernels keep the whole super-block in integers: pmaddubsw multiplies the unsigned quants by the signed
 * activations into int16 pairs, and the sub-block scales, broadcast to 16-bit lanes with one pshufb each,
 * weight those pairs into int32 lanes. The offsets (Q4_K mins, Q6_K's -32) go through the activation block sums.
 */

/* pshufb controls that broadcast 16-bit lane k of each 128-bit half, k = 0..7. */
static inline __m256i kq__bcast16(int k_lo, int k_hi) {
    const __m128i lo = _mm_set1_epi16((short)((2 * k_lo) | ((2 * k_lo + 1) << 8)));
    const __m128i hi = _mm_set1_epi16((short)((2 * k_hi) | ((2 * k_hi + 1) << 8)));
    return _mm256_set_m128i(hi, lo);
}

static inline float kq__hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/*
 * Q4_K. The 12 scale bytes hold eight 6-bit (scale, min) pairs; as little-endian words a = bytes 0..3,
 * b = 4..7, c = 8..11 the definition reads: scales 0..3 = a & 0x3f (per byte), mins 0..3 = b & 0x3f,
 * scales 4..7 = (c & 0xf) | (a >> 6) << 4, mins 4..7 = (c >> 4) | (b >> 6) << 4.
 *
 * Q4_K and Q6_K are written for NX (1-4, a constant) activation rows x + a * nbk at once (kq__q4k, kq__q6k): each
 * weight's unpacking (nibbles, scales and their shuffles) is done once for all of them, and each row's operations
 * are those of NX = 1 in the same order, so the row dot (NX = 1) and the shared-load nx give the same bits.
 * Y[a * ldy + r] for row r of W.
 */
static inline __attribute__((always_inline)) void kq__q4k(const int NX, const uint8_t *w, size_t rb, int64_t nr,
                                                          const kern__q8k_t *xk, int64_t nbk, float *Y, int64_t ldy) {
    const __m256i lo4 = _mm256_set1_epi8(0xF);
    const __m256i sh0 = kq__bcast16(0, 0), sh1 = kq__bcast16(1, 1), sh2 = kq__bcast16(2, 2), sh3 = kq__bcast16(3, 3),
                  sh4 = kq__bcast16(4, 4), sh5 = kq__bcast16(5, 5), sh6 = kq__bcast16(6, 6), sh7 = kq__bcast16(7, 7);
    for (int64_t r = 0; r < nr; r++) {
        const kern__blk_q4_k *b = (const kern__blk_q4_k *)(w + r * rb);
        __m256 acc[4];
        __m128 macc[4];
#pragma GCC unroll 4
        for (int a = 0; a < NX; a++) {
            acc[a] = _mm256_setzero_ps();
            macc[a] = _mm_setzero_ps();
        }
        for (int64_t i = 0; i < nbk; i++) {
            uint32_t a0, bb, c;
            memcpy(&a0, b[i].scales, 4);
            memcpy(&bb, b[i].scales + 4, 4);
            memcpy(&c, b[i].scales + 8, 4);
            const uint32_t sc_lo = a0 & 0x3f3f3f3fu, m_lo = bb & 0x3f3f3f3fu;
            const uint32_t sc_hi = (c & 0x0f0f0f0fu) | (((a0 >> 6) & 0x03030303u) << 4);
            const uint32_t m_hi = ((c >> 4) & 0x0f0f0f0fu) | (((bb >> 6) & 0x03030303u) << 4);
            const __m256i sm = _mm256_cvtepu8_epi16(_mm_setr_epi32((int)sc_lo, (int)sc_hi, (int)m_lo, (int)m_hi));
            const float dw = _cvtsh_ss(b[i].d), dmin = _cvtsh_ss(b[i].dmin);
#pragma GCC unroll 4
            for (int a = 0; a < NX; a++) {
                /* mins: sum_j m_j * (sum of the 32 activations of sub-block j) */
                const kern__q8k_t *xa = xk + a * nbk + i;
                const __m128i bs = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)xa->bsums),
                                                  _mm_loadu_si128((const __m128i *)(xa->bsums + 8)));
                const __m128i mprod = _mm_madd_epi16(_mm256_extracti128_si256(sm, 1), bs);
                macc[a] = _mm_fmadd_ps(_mm_cvtepi32_ps(mprod), _mm_set1_ps(xa->d * dmin), macc[a]);
            }
            const __m256i sc = _mm256_broadcastsi128_si256(_mm256_castsi256_si128(sm));
            const uint8_t *q = b[i].qs;
            __m256i isum[4];
#pragma GCC unroll 4
            for (int a = 0; a < NX; a++)
                isum[a] = _mm256_setzero_si256();
#define KQ__Q4K_CHUNK(C, SHL, SHH)                                                                                     \
    {                                                                                                                  \
        const __m256i qv = _mm256_loadu_si256((const __m256i *)(q + 32 * (C)));                                        \
        const __m256i ql = _mm256_and_si256(qv, lo4), qh = _mm256_and_si256(_mm256_srli_epi16(qv, 4), lo4);           \
        const __m256i sl = _mm256_shuffle_epi8(sc, SHL), sh = _mm256_shuffle_epi8(sc, SHH);                            \
        _Pragma("GCC unroll 4") for (int a = 0; a < NX; a++) {                                                         \
            const int8_t *xq = xk[a * nbk + i].qs;                                                                     \
            const __m256i pl = _mm256_maddubs_epi16(ql, _mm256_loadu_si256((const __m256i *)(xq + 64 * (C))));        \
            const __m256i ph = _mm256_maddubs_epi16(qh, _mm256_loadu_si256((const __m256i *)(xq + 64 * (C) + 32)));   \
            isum[a] = KQ_DPWSSD(isum[a], pl, sl);                                                                      \
            isum[a] = KQ_DPWSSD(isum[a], ph, sh);                                                                      \
        }                                                                                                              \
    }
            KQ__Q4K_CHUNK(0, sh0, sh1)
            KQ__Q4K_CHUNK(1, sh2, sh3)
            KQ__Q4K_CHUNK(2, sh4, sh5)
            KQ__Q4K_CHUNK(3, sh6, sh7)
#undef KQ__Q4K_CHUNK
#pragma GCC unroll 4
            for (int a = 0; a < NX; a++)
                acc[a] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[a]), _mm256_set1_ps(xk[a * nbk + i].d * dw), acc[a]);
        }
#pragma GCC unroll 4
        for (int a = 0; a < NX; a++) {
            __m128 m = _mm_add_ps(macc[a], _mm_movehl_ps(macc[a], macc[a]));
            m = _mm_add_ss(m, _mm_movehdup_ps(m));
            Y[a * ldy + r] = kq__hsum(acc[a]) - _mm_cvtss_f32(m);
        }
    }
}

void KQ_NAME_Q4K(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y) {
    kq__q4k(1, w, rb, nr, x, K / QK_K, y, 0);
}

/*
 * Q6_K. In each 128-value half, value 32k + l (k = 0..3, l = 0..31) has its low 4 bits in ql[l + 32(k & 1)]
 * (low nibble for k < 2, high for k >= 2) and its high 2 bits at bit 2k of qh[l]; its scale is scales[v / 16].
 */
static inline __attribute__((always_inline)) void kq__q6k(const int NX, const uint8_t *w, size_t rb, int64_t nr,
                                                          const kern__q8k_t *xk, int64_t nbk, float *Y, int64_t ldy) {
    const __m256i lo4 = _mm256_set1_epi8(0xF), m30 = _mm256_set1_epi8(0x30);
    /* group k of half c uses scales 8c + 2k (first 16 values) and 8c + 2k + 1 (next 16) */
    const __m256i g0 = kq__bcast16(0, 1), g1 = kq__bcast16(2, 3), g2 = kq__bcast16(4, 5), g3 = kq__bcast16(6, 7);
    for (int64_t r = 0; r < nr; r++) {
        const kern__blk_q6_k *b = (const kern__blk_q6_k *)(w + r * rb);
        __m256 acc[4];
#pragma GCC unroll 4
        for (int a = 0; a < NX; a++)
            acc[a] = _mm256_setzero_ps();
        for (int64_t i = 0; i < nbk; i++) {
            const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b[i].scales));
            __m256i isum[4];
#pragma GCC unroll 4
            for (int a = 0; a < NX; a++) {
                /* the -32 offset: 32 * sum_g scale_g * bsum_g */
                const __m256i bias =
                    _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)xk[a * nbk + i].bsums));
                isum[a] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(bias, 5));
            }
            for (int c = 0; c < 2; c++) {
                const __m256i sc =
                    _mm256_broadcastsi128_si256(c ? _mm256_extracti128_si256(sc16, 1) : _mm256_castsi256_si128(sc16));
                const __m256i ql0 = _mm256_loadu_si256((const __m256i *)(b[i].ql + 64 * c));
                const __m256i ql1 = _mm256_loadu_si256((const __m256i *)(b[i].ql + 64 * c + 32));
                const __m256i qh = _mm256_loadu_si256((const __m256i *)(b[i].qh + 32 * c));
                /* 16-bit shifts move bits across bytes; the masks keep only each byte's own bits */
                const __m256i q0 =
                    _mm256_or_si256(_mm256_and_si256(ql0, lo4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
                const __m256i q1 =
                    _mm256_or_si256(_mm256_and_si256(ql1, lo4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
                const __m256i q2 =
                    _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), lo4), _mm256_and_si256(qh, m30));
                const __m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), lo4),
                                                   _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
                const __m256i s0 = _mm256_shuffle_epi8(sc, g0), s1 = _mm256_shuffle_epi8(sc, g1);
                const __m256i s2 = _mm256_shuffle_epi8(sc, g2), s3 = _mm256_shuffle_epi8(sc, g3);
#pragma GCC unroll 4
                for (int a = 0; a < NX; a++) {
                    const int8_t *xq = xk[a * nbk + i].qs + 128 * c;
                    isum[a] = KQ_DPWSSD(isum[a], _mm256_maddubs_epi16(q0, _mm256_loadu_si256((const __m256i *)xq)), s0);
                    isum[a] = KQ_DPWSSD(isum[a],
                                        _mm256_maddubs_epi16(q1, _mm256_loadu_si256((const __m256i *)(xq + 32))), s1);
                    isum[a] = KQ_DPWSSD(isum[a],
                                        _mm256_maddubs_epi16(q2, _mm256_loadu_si256((const __m256i *)(xq + 64))), s2);
                    isum[a] = KQ_DPWSSD(isum[a],
                                        _mm256_maddubs_epi16(q3, _mm256_loadu_si256((const __m256i *)(xq + 96))), s3);
                }
            }
            const float dw = _cvtsh_ss(b[i].d);
#pragma GCC unroll 4
            for (int a = 0; a < NX; a++)
                acc[a] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[a]), _mm256_set1_ps(xk[a * nbk + i].d * dw), acc[a]);
        }
#pragma GCC unroll 4
        for (int a = 0; a < NX; a++)
            Y[a * ldy + r] = kq__hsum(acc[a]);
    }
}

void KQ_NAME_Q6K(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y) {
    kq__q6k(1, w, rb, nr, x, K / QK_K, y, 0);
}

/* The shared-load entry points (kern__rowdot_nx_fn): the nx activation rows x (q8k, rb / block bytes blocks each)
 * in groups of 4 and the rest. */
#define KQ__NX_FN(NAME, BODY, BLK)                                                                                     \
    void NAME(const void *w, size_t rb, int64_t nr, const void *x, int64_t nx, float *Y, int64_t ldy) {                \
        const int64_t nbk = (int64_t)(rb / sizeof(BLK));                                                               \
        for (int64_t j = 0; j < nx; j += 4) {                                                                          \
            const kern__q8k_t *xj = (const kern__q8k_t *)x + j * nbk;                                                  \
            KERN__NX_SWITCH(nx - j < 4 ? nx - j : 4, BODY, w, rb, nr, xj, nbk, Y + j * ldy, ldy)                       \
        }                                                                                                              \
    }
KQ__NX_FN(KQ_NAME_Q4K_NX, kq__q4k, kern__blk_q4_k)
KQ__NX_FN(KQ_NAME_Q6K_NX, kq__q6k, kern__blk_q6_k)
#undef KQ__NX_FN

/*
 * Q5_K: Q4_K with a 5th bit per value, bit j of qh[l] for value l of sub-block j; moved to bit 4 of each byte
 * (16-bit shifts, then a mask that keeps only the byte's own bit). pmaddubsw pairs stay below 2 * 31 * 128.
 */
static inline __m256i kq__q5_high(__m256i qh, int j) {
    const __m256i v = j <= 4 ? _mm256_slli_epi16(qh, 4 - j) : _mm256_srli_epi16(qh, j - 4);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

void KQ_NAME_Q5K(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y) {
    const kern__q8k_t *xk = x;
    const __m256i lo4 = _mm256_set1_epi8(0xF);
    const __m256i sh0 = kq__bcast16(0, 0), sh1 = kq__bcast16(1, 1), sh2 = kq__bcast16(2, 2), sh3 = kq__bcast16(3, 3),
                  sh4 = kq__bcast16(4, 4), sh5 = kq__bcast16(5, 5), sh6 = kq__bcast16(6, 6), sh7 = kq__bcast16(7, 7);
    for (int64_t r = 0; r < nr; r++) {
        const kern__blk_q5_k *b = (const kern__blk_q5_k *)((const uint8_t *)w + r * rb);
        __m256 acc = _mm256_setzero_ps();
        __m128 macc = _mm_setzero_ps();
        for (int64_t i = 0; i < K / QK_K; i++) {
            uint32_t a, bb, c;
            memcpy(&a, b[i].scales, 4);
            memcpy(&bb, b[i].scales + 4, 4);
            memcpy(&c, b[i].scales + 8, 4);
            const uint32_t sc_lo = a & 0x3f3f3f3fu, m_lo = bb & 0x3f3f3f3fu;
            const uint32_t sc_hi = (c & 0x0f0f0f0fu) | (((a >> 6) & 0x03030303u) << 4);
            const uint32_t m_hi = ((c >> 4) & 0x0f0f0f0fu) | (((bb >> 6) & 0x03030303u) << 4);
            const __m256i sm = _mm256_cvtepu8_epi16(_mm_setr_epi32((int)sc_lo, (int)sc_hi, (int)m_lo, (int)m_hi));
            const __m128i bs = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)xk[i].bsums),
                                              _mm_loadu_si128((const __m128i *)(xk[i].bsums + 8)));
            const __m128i mprod = _mm_madd_epi16(_mm256_extracti128_si256(sm, 1), bs);
            const float dx = xk[i].d;
            macc = _mm_fmadd_ps(_mm_cvtepi32_ps(mprod), _mm_set1_ps(dx * _cvtsh_ss(b[i].dmin)), macc);
            const __m256i sc = _mm256_broadcastsi128_si256(_mm256_castsi256_si128(sm));
            const __m256i qh = _mm256_loadu_si256((const __m256i *)b[i].qh);
            const uint8_t *q = b[i].qs;
            const int8_t *xq = xk[i].qs;
            __m256i isum = _mm256_setzero_si256();
#define KQ__Q5K_CHUNK(C, SHL, SHH)                                                                                     \
    {                                                                                                                  \
        const __m256i qv = _mm256_loadu_si256((const __m256i *)(q + 32 * (C)));                                        \
        const __m256i ql = _mm256_or_si256(_mm256_and_si256(qv, lo4), kq__q5_high(qh, 2 * (C)));                       \
        const __m256i qu =                                                                                             \
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qv, 4), lo4), kq__q5_high(qh, 2 * (C) + 1));            \
        const __m256i pl = _mm256_maddubs_epi16(ql, _mm256_loadu_si256((const __m256i *)(xq + 64 * (C))));            \
        const __m256i ph = _mm256_maddubs_epi16(qu, _mm256_loadu_si256((const __m256i *)(xq + 64 * (C) + 32)));       \
        isum = KQ_DPWSSD(isum, pl, _mm256_shuffle_epi8(sc, SHL));                                                      \
        isum = KQ_DPWSSD(isum, ph, _mm256_shuffle_epi8(sc, SHH));                                                      \
    }
            KQ__Q5K_CHUNK(0, sh0, sh1)
            KQ__Q5K_CHUNK(1, sh2, sh3)
            KQ__Q5K_CHUNK(2, sh4, sh5)
            KQ__Q5K_CHUNK(3, sh6, sh7)
#undef KQ__Q5K_CHUNK
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(dx * _cvtsh_ss(b[i].d)), acc);
        }
        macc = _mm_add_ps(macc, _mm_movehl_ps(macc, macc));
        macc = _mm_add_ss(macc, _mm_movehdup_ps(macc));
        y[r] = kq__hsum(acc) - _mm_cvtss_f32(macc);
    }
}

/*
 * Q3_K and Q2_K share Q6_K's arrangement: in each 128-value half c, value 32s + l (s = 0..3) has its 2 low bits
 * at bits 2s of qs[32c + l], and scale 8c + 2s (l < 16) or 8c + 2s + 1. Q3_K's 3rd bit is bit 4c + s of
 * hmask[l] (moved to bit 2 as Q5_K's 5th bit is moved to bit 4); its values are q - 4 with q = 0..7, the -4 going
 * through the activation block sums as Q6_K's -32 does. Q2_K's 4-bit mins go through the sums as Q4_K's do.
 */
static inline __m256i kq__q3_high(__m256i hm, int k) {
    const __m256i v = k <= 2 ? _mm256_slli_epi16(hm, 2 - k) : _mm256_srli_epi16(hm, k - 2);
    return _mm256_and_si256(v, _mm256_set1_epi8(4));
}

static inline __m256i kq__q2_bits(__m256i qv, int s) {
    return _mm256_and_si256(_mm256_srli_epi16(qv, 2 * s), _mm256_set1_epi8(3));
}

/* The 16 scales of a Q3_K block as int8 (-32..31) in a vector; kern__q3k_scales spelled out word by word. */
static inline __m128i kq__q3k_scales(const uint8_t *s) {
    uint32_t a, b, c;
    memcpy(&a, s, 4);
    memcpy(&b, s + 4, 4);
    memcpy(&c, s + 8, 4);
    const __m128i v = _mm_setr_epi32((int)((a & 0x0f0f0f0fu) | ((c & 0x03030303u) << 4)),
                                     (int)((b & 0x0f0f0f0fu) | (((c >> 2) & 0x03030303u) << 4)),
                                     (int)(((a >> 4) & 0x0f0f0f0fu) | (((c >> 4) & 0x03030303u) << 4)),
                                     (int)(((b >> 4) & 0x0f0f0f0fu) | (((c >> 6) & 0x03030303u) << 4)));
    return _mm_sub_epi8(v, _mm_set1_epi8(32));
}

void KQ_NAME_Q3K(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y) {
    const kern__q8k_t *xk = x;
    const __m256i g0 = kq__bcast16(0, 1), g1 = kq__bcast16(2, 3), g2 = kq__bcast16(4, 5), g3 = kq__bcast16(6, 7);
    for (int64_t r = 0; r < nr; r++) {
        const kern__blk_q3_k *b = (const kern__blk_q3_k *)((const uint8_t *)w + r * rb);
        __m256 acc = _mm256_setzero_ps();
        for (int64_t i = 0; i < K / QK_K; i++) {
            const __m256i sc16 = _mm256_cvtepi8_epi16(kq__q3k_scales(b[i].scales));
            const __m256i bias = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)xk[i].bsums));
            __m256i isum = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(bias, 2));
            const __m256i hm = _mm256_loadu_si256((const __m256i *)b[i].hmask);
            const __m256i sc0 = _mm256_broadcastsi128_si256(_mm256_castsi256_si128(sc16));
            const __m256i sc1 = _mm256_broadcastsi128_si256(_mm256_extracti128_si256(sc16, 1));
            const __m256i qv0 = _mm256_loadu_si256((const __m256i *)b[i].qs);
            const __m256i qv1 = _mm256_loadu_si256((const __m256i *)(b[i].qs + 32));
            const int8_t *xq = xk[i].qs;
#define KQ__Q3K_GROUP(C, S, G)                                                                                         \
    {                                                                                                                  \
        const __m256i q = _mm256_or_si256(kq__q2_bits(qv##C, S), kq__q3_high(hm, 4 * (C) + (S)));                      \
        isum = KQ_DPWSSD(isum,                                                                                         \
                         _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)(xq + 128 * (C) + 32 * (S)))),    \
                         _mm256_shuffle_epi8(sc##C, G));                                                               \
    }
            KQ__Q3K_GROUP(0, 0, g0)
            KQ__Q3K_GROUP(0, 1, g1)
            KQ__Q3K_GROUP(0, 2, g2)
            KQ__Q3K_GROUP(0, 3, g3)
            KQ__Q3K_GROUP(1, 0, g0)
            KQ__Q3K_GROUP(1, 1, g1)
            KQ__Q3K_GROUP(1, 2, g2)
            KQ__Q3K_GROUP(1, 3, g3)
#undef KQ__Q3K_GROUP
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(xk[i].d * _cvtsh_ss(b[i].d)), acc);
        }
        y[r] = kq__hsum(acc);
    }
}

void KQ_NAME_Q2K(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y) {
    const kern__q8k_t *xk = x;
    const __m128i lo4 = _mm_set1_epi8(0xF);
    const __m256i g0 = kq__bcast16(0, 1), g1 = kq__bcast16(2, 3), g2 = kq__bcast16(4, 5), g3 = kq__bcast16(6, 7);
    for (int64_t r = 0; r < nr; r++) {
        const kern__blk_q2_k *b = (const kern__blk_q2_k *)((const uint8_t *)w + r * rb);
        __m256 acc = _mm256_setzero_ps(), macc = _mm256_setzero_ps();
        for (int64_t i = 0; i < K / QK_K; i++) {
            const __m128i sm = _mm_loadu_si128((const __m128i *)b[i].scales);
            const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(sm, lo4));
            const __m256i m16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sm, 4), lo4));
            const __m256i mprod = _mm256_madd_epi16(m16, _mm256_loadu_si256((const __m256i *)xk[i].bsums));
            const float dx = xk[i].d;
            macc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(mprod), _mm256_set1_ps(dx * _cvtsh_ss(b[i].dmin)), macc);
            __m256i isum = _mm256_setzero_si256();
            for (int c = 0; c < 2; c++) {
                const __m256i sc =
                    _mm256_broadcastsi128_si256(c ? _mm256_extracti128_si256(sc16, 1) : _mm256_castsi256_si128(sc16));
                const __m256i qv = _mm256_loadu_si256((const __m256i *)(b[i].qs + 32 * c));
                const int8_t *xq = xk[i].qs + 128 * c;
#define KQ__Q2K_GROUP(S, G)                                                                                            \
    isum = KQ_DPWSSD(isum,                                                                                             \
                     _mm256_maddubs_epi16(kq__q2_bits(qv, S), _mm256_loadu_si256((const __m256i *)(xq + 32 * (S)))),   \
                     _mm256_shuffle_epi8(sc, G));
                KQ__Q2K_GROUP(0, g0)
                KQ__Q2K_GROUP(1, g1)
                KQ__Q2K_GROUP(2, g2)
                KQ__Q2K_GROUP(3, g3)
#undef KQ__Q2K_GROUP
            }
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(dx * _cvtsh_ss(b[i].d)), acc);
        }
        y[r] = kq__hsum(acc) - kq__hsum(macc);
    }
}
