/*
 * exp_det.c — a deterministic e^x for the sampler (kern_exp_det) and its vector entry point kern_exp_weights:
 * the portable versions and the dispatch. The AVX2 version (exp_det_avx2.c) performs the same double operations
 * in the same order, lane by lane, so every ISA gives the same bits as this file, and a seeded draw picks the same
 * token on every machine.
 *
 * x = k ln2 + r with |r| <= ln2/2 (k rounded to nearest by the 1.5 * 2^52 shifter; ln2 split Cody-Waite style so
 * k * ln2_hi is exact), e^r by its Taylor series to degree 10 in Estrin's scheme (truncation < 3e-13 relative, far
 * below the float the callers round to), then the exact scaling by 2^k: the exponent field is (k + 1023) << 52,
 * and with -1021 <= k <= 0 that is the low 12 bits of the shifted sum's bit pattern plus 1023, shifted. Results
 * below 2^-1021 (x <= -708) are 0. Pure functions; any thread.
 */
#include <string.h>

#include "kern_impl.h"

/* Bit-for-bit results across platforms: no fused multiply-add in this file, whatever the build flags. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

double kern_exp_det(double x) {
    if (!(x > -708.0)) return 0.0; /* also -inf and NaN */
    if (x > 0.0) x = 0.0;          /* callers pass x <= 0; keep 2^k in range regardless */
    double kd = x * KERN__EXP_LOG2E + KERN__EXP_SHIFTER;
    uint64_t kbits;
    memcpy(&kbits, &kd, sizeof kbits);
    kd -= KERN__EXP_SHIFTER;
    double r = (x - kd * KERN__EXP_LN2_HI) - kd * KERN__EXP_LN2_LO;
    double r2 = r * r, r4 = r2 * r2;
    double q = (1.0 + r) + r2 * (1.0 / 2 + r * (1.0 / 6)) +
               r4 * ((1.0 / 24 + r * (1.0 / 120)) + r2 * (1.0 / 720 + r * (1.0 / 5040))) +
               (r4 * r4) * ((1.0 / 40320 + r * (1.0 / 362880)) + r2 * (1.0 / 3628800));
    uint64_t bits = (kbits + 1023u) << 52; /* (k + 1023) << 52: see the header */
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    return q * scale;
}

void kern__exp_weights_scalar(const float *l, int64_t n, float m, float t, float *p) {
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)kern_exp_det((double)((l[i] - m) / t));
}

void kern_exp_weights(const float *l, int64_t n, float m, float t, float *p) {
    if (n > 0) kern__isa()->exp_weights(l, n, m, t, p);
}
