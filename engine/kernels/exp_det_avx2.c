/*
 * exp_det_avx2.c — kern_exp_weights with AVX2 (compiled with -mavx2 -mfma -mf16c; called only when isa.c found
 * those instructions): four doubles per vector, two vectors per step, each lane computing exactly what
 * exp_det.c's kern_exp_det computes (the same operations in the same order, never a fused multiply-add: this file
 * uses no FMA intrinsic and C11 mode does not contract), so the bits equal the portable version's. Lanes that
 * kern_exp_det returns 0 for (x <= -708, -inf, NaN) compute on 0 and are zeroed at the end. Pure; any thread.
 */
#include <immintrin.h>

#include "kern_impl.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* kern_exp_det of 4 doubles. */
static inline __m256d ed2__exp(__m256d x) {
    const __m256d zero = _mm256_setzero_pd(), shifter = _mm256_set1_pd(KERN__EXP_SHIFTER);
    const __m256d keep = _mm256_cmp_pd(x, _mm256_set1_pd(-708.0), _CMP_GT_OQ); /* false for NaN too */
    x = _mm256_and_pd(x, keep);                                                /* dropped lanes: 0 */
    x = _mm256_blendv_pd(x, zero, _mm256_cmp_pd(x, zero, _CMP_GT_OQ));         /* x > 0 counts as 0 */
    __m256d kd = _mm256_add_pd(_mm256_mul_pd(x, _mm256_set1_pd(KERN__EXP_LOG2E)), shifter);
    const __m256i kbits = _mm256_castpd_si256(kd);
    kd = _mm256_sub_pd(kd, shifter);
    const __m256d r = _mm256_sub_pd(_mm256_sub_pd(x, _mm256_mul_pd(kd, _mm256_set1_pd(KERN__EXP_LN2_HI))),
                                    _mm256_mul_pd(kd, _mm256_set1_pd(KERN__EXP_LN2_LO)));
    const __m256d r2 = _mm256_mul_pd(r, r), r4 = _mm256_mul_pd(r2, r2);
#define ED2__C(v) _mm256_set1_pd(v)
#define ED2__ADD  _mm256_add_pd
#define ED2__MUL  _mm256_mul_pd
    /* (1 + r) + r2 (1/2 + r/6) + r4 ((1/24 + r/120) + r2 (1/720 + r/5040)) + r4^2 ((1/40320 + r/362880) + r2/3628800),
       summed left to right as the scalar expression is */
    const __m256d t0 = ED2__ADD(ED2__C(1.0), r);
    const __m256d t1 = ED2__MUL(r2, ED2__ADD(ED2__C(1.0 / 2), ED2__MUL(r, ED2__C(1.0 / 6))));
    const __m256d t2 =
        ED2__MUL(r4, ED2__ADD(ED2__ADD(ED2__C(1.0 / 24), ED2__MUL(r, ED2__C(1.0 / 120))),
                              ED2__MUL(r2, ED2__ADD(ED2__C(1.0 / 720), ED2__MUL(r, ED2__C(1.0 / 5040))))));
    const __m256d t3 =
        ED2__MUL(ED2__MUL(r4, r4), ED2__ADD(ED2__ADD(ED2__C(1.0 / 40320), ED2__MUL(r, ED2__C(1.0 / 362880))),
                                            ED2__MUL(r2, ED2__C(1.0 / 3628800))));
#undef ED2__C
#undef ED2__ADD
#undef ED2__MUL
    const __m256d q = _mm256_add_pd(_mm256_add_pd(_mm256_add_pd(t0, t1), t2), t3);
    const __m256i bits = _mm256_slli_epi64(_mm256_add_epi64(kbits, _mm256_set1_epi64x(1023)), 52);
    return _mm256_and_pd(_mm256_mul_pd(q, _mm256_castsi256_pd(bits)), keep);
}

/* (double)((l - m) / t) for 4 floats: the float subtraction and division first, as the scalar version. */
static inline __m256d ed2__arg(const float *l, __m128 m, __m128 t) {
    return _mm256_cvtps_pd(_mm_div_ps(_mm_sub_ps(_mm_loadu_ps(l), m), t));
}

void kern__exp_weights_avx2(const float *l, int64_t n, float m, float t, float *p) {
    const __m128 mv = _mm_set1_ps(m), tv = _mm_set1_ps(t);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256d a = ed2__exp(ed2__arg(l + i, mv, tv)), b = ed2__exp(ed2__arg(l + i + 4, mv, tv));
        _mm_storeu_ps(p + i, _mm256_cvtpd_ps(a));
        _mm_storeu_ps(p + i + 4, _mm256_cvtpd_ps(b));
    }
    if (i < n) kern__exp_weights_scalar(l + i, n - i, m, t, p + i);
}
