/*
 * quant.c — the block formats in portable C: fp16/bf16 conversion, dequantization of every supported type,
 * quantization of activations to the q8a / q8k formats, and the scalar dot products of weight rows with them
 * (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL against q8a; Q2_K..Q6_K against q8k).
 *
 * These are the reference definitions the SIMD files must agree with (bit-exactly for dequantization and
 * activation quantization, up to float summation order for dot products), and the fallback on CPUs without
 * AVX2. Dequantization follows ggml's formulas operation by operation so that it reproduces llama.cpp's values.
 * Pure functions; any thread.
 */
#include <math.h>
#include <string.h>

#include "err.h"
#include "kern_impl.h"

/* ---- scalar conversions ------------------------------------------------------------------------------- */

static inline float quant__f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint32_t quant__bits_from_f32(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* Half to single: exact for every input, subnormals and NaN payloads included. */
float kern_fp16_to_fp32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    if (exp == 0x1f) /* inf, or NaN made quiet (as vcvtph2ps does) */
        return quant__f32_from_bits(sign | 0x7f800000u | (mant << 13) | (mant ? 0x400000u : 0u));
    if (exp == 0) {
        float v = (float)mant * 0x1p-24f; /* exact: mant < 2^10 */
        return quant__f32_from_bits(sign | quant__bits_from_f32(v));
    }
    return quant__f32_from_bits(sign | ((exp + 112u) << 23) | (mant << 13));
}

/* Single to half, rounding to nearest even (the result F16C's vcvtps2ph gives in the default mode). */
uint16_t kern_fp32_to_fp16(float f) {
    uint32_t x = quant__bits_from_f32(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) /* inf or NaN (kept quiet, top payload bits kept) */
        return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u | ((ax >> 13) & 0x3ffu) : 0u));
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520 rounds to inf */
    if (ax >= 0x38800000u) {                                  /* normal half */
        uint32_t h = (ax - 0x38000000u) >> 13, rem = ax & 0x1fffu;
        if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;
        return (uint16_t)(sign | h);
    }
    if (ax <= 0x33000000u) return sign; /* <= 2^-25: rounds to zero (a tie goes to even 0) */
    uint32_t e = ax >> 23, mant = (ax & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126u - e; /* 14..24: the half's unit is 2^-24 */
    uint32_t h = mant >> shift, rem = mant & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (h & 1u))) h++;
    return (uint16_t)(sign | h);
}

float kern_bf16_to_fp32(uint16_t h) { return quant__f32_from_bits((uint32_t)h << 16); }

void kern__f32_to_f16_scalar(const float *src, uint16_t *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        dst[i] = kern_fp32_to_fp16(src[i]);
}

void kern_f32_to_f16(const float *src, uint16_t *dst, int64_t n) {
    if (n > 0) kern__isa()->f32_to_f16(src, dst, n);
}

void kern_f16_to_f32(const uint16_t *src, float *dst, int64_t n) {
    if (n > 0) kern__isa()->dequant[DT_F16](src, dst, n);
}

static inline uint16_t quant__rd16(const void *p) {
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* ---- dequantization (n is a whole number of blocks; checked by the callers) ------------------------------ */

void kern__dequant_f32(const void *src, float *dst, int64_t n) { memcpy(dst, src, (size_t)n * sizeof(float)); }

void kern__dequant_f16_scalar(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = kern_fp16_to_fp32(quant__rd16(p + 2 * i));
}

void kern__dequant_bf16_scalar(const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = kern_bf16_to_fp32(quant__rd16(p + 2 * i));
}

void kern__dequant_q8_0_scalar(const void *src, float *dst, int64_t n) {
    const kern__blk_q8_0 *b = src;
    for (int64_t i = 0; i < n / QK8_0; i++, dst += QK8_0) {
        const float d = kern_fp16_to_fp32(b[i].d);
        for (int j = 0; j < QK8_0; j++)
            dst[j] = (float)b[i].qs[j] * d;
    }
}

void kern__dequant_q4_0_scalar(const void *src, float *dst, int64_t n) {
    const kern__blk_q4_0 *b = src;
    for (int64_t i = 0; i < n / QK4_0; i++, dst += QK4_0) {
        const float d = kern_fp16_to_fp32(b[i].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            dst[j] = (float)((b[i].qs[j] & 0xF) - 8) * d;
            dst[j + QK4_0 / 2] = (float)((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

void kern__dequant_q4_k_scalar(const void *src, float *dst, int64_t n) {
    const kern__blk_q4_k *b = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = kern_fp16_to_fp32(b[i].d), dmin = kern_fp16_to_fp32(b[i].dmin);
        const uint8_t *q = b[i].qs;
        for (int c = 0; c < 4; c++, q += 32) { /* 64-value chunks: sub-blocks 2c (low nibbles), 2c+1 (high) */
            int sc, m;
            kern__q4k_scale_min(b[i].scales, 2 * c, &sc, &m);
            const float d1 = d * (float)sc, m1 = dmin * (float)m;
            kern__q4k_scale_min(b[i].scales, 2 * c + 1, &sc, &m);
            const float d2 = d * (float)sc, m2 = dmin * (float)m;
            for (int l = 0; l < 32; l++)
                *dst++ = d1 * (float)(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++)
                *dst++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

void kern__dequant_q6_k_scalar(const void *src, float *dst, int64_t n) {
    const kern__blk_q6_k *b = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = kern_fp16_to_fp32(b[i].d);
        const uint8_t *ql = b[i].ql, *qh = b[i].qh;
        const int8_t *sc = b[i].scales;
        for (int c = 0; c < 2; c++, ql += 64, qh += 32, sc += 8, dst += 128) { /* 128-value halves */
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                dst[l] = d * (float)sc[is] * (float)q1;
                dst[l + 32] = d * (float)sc[is + 2] * (float)q2;
                dst[l + 64] = d * (float)sc[is + 4] * (float)q3;
                dst[l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
        }
    }
}

/* The 5th bits of a Q5_0 / Q5_1 block (bit i of the little-endian word belongs to value i). */
static inline uint32_t quant__q5_high(const uint8_t qh[4]) {
    uint32_t h;
    memcpy(&h, qh, 4);
    return h;
}

void kern__dequant_q4_1_scalar(const void *src, float *dst, int64_t n) {
    const kern__blk_q4_1 *b = src;
    for (int64_t i = 0; i < n / QK4_1; i++, dst += QK4_1) {
        const float d = kern_fp16_to_fp32(b[i].d), m = kern_fp16_to_fp32(b[i].m);
        for (int j = 0; j < QK4_1 / 2; j++) {
            dst[j] = d * (float)(b[i].qs[j] & 0xF) + m;
            dst[j + QK4_1 / 2] = d * (float)(b[i].qs[j] >> 4) + m;
        }
    }
}

void kern__dequant_q5_0_scalar(const void *src, float *dst, int64_t n) {
    const kern__blk_q5_0 *b = src;
    for (int64_t i = 0; i < n / QK5_0; i++, dst += QK5_0) {
        const float d = kern_fp16_to_fp32(b[i].d);
        const uint32_t h = quant__q5_high(b[i].qh);
        for (int j = 0; j < QK5_0 / 2; j++) {
            const int lo = (b[i].qs[j] & 0xF) | (int)((h >> j) & 1u) << 4;
            const int hi = (b[i].qs[j] >> 4) | (int)((h >> (j + 16)) & 1u) << 4;
            dst[j] = d * (float)(lo - 16);
            dst[j + QK5_0 / 2] = d * (float)(hi - 16);
        }
    }
}

void kern__dequant_q5_1_scalar(const void *src, float *dst, int64_t n) {
    const kern__blk_q5_1 *b = src;
    for (int64_t i = 0; i < n / QK5_1; i++, dst += QK5_1) {
        const float d = kern_fp16_to_fp32(b[i].d), m = kern_fp16_to_fp32(b[i].m);
        const uint32_t h = quant__q5_high(b[i].qh);
        for (int j = 0; j < QK5_1 / 2; j++) {
            const int lo = (b[i].qs[j] & 0xF) | (int)((h >> j) & 1u) << 4;
            const int hi = (b[i].qs[j] >> 4) | (int)((h >> (j + 16)) & 1u) << 4;
            dst[j] = d * (float)lo + m;
            dst[j + QK5_1 / 2] = d * (float)hi + m;
        }
    }
}

void kern__dequant_iq4_nl_scalar(const void *src, float *dst, int64_t n) {
    const kern__blk_iq4_nl *b = src;
    for (int64_t i = 0; i < n / QK4_NL; i++, dst += QK4_NL) {
        const float d = kern_fp16_to_fp32(b[i].d);
        for (int j = 0; j < QK4_NL / 2; j++) {
            dst[j] = d * (float)kern__iq4nl_values[b[i].qs[j] & 0xF];
            dst[j + QK4_NL / 2] = d * (float)kern__iq4nl_values[b[i].qs[j] >> 4];
        }
    }
}

void kern__dequant_q2_k_scalar(const void *src, float *dst, int64_t n) {
    const kern__blk_q2_k *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K) {
        const float d = kern_fp16_to_fp32(b[i].d), dmin = kern_fp16_to_fp32(b[i].dmin);
        for (int e = 0; e < QK_K; e++) { /* e = 128h + 32s + l */
            const int h = e / 128, s = (e / 32) % 4, l = e % 32, g = e / 16;
            const float dl = d * (float)(b[i].scales[g] & 0xF), ml = dmin * (float)(b[i].scales[g] >> 4);
            dst[e] = dl * (float)((b[i].qs[32 * h + l] >> (2 * s)) & 3) - ml;
        }
    }
}

void kern__dequant_q3_k_scalar(const void *src, float *dst, int64_t n) {
    const kern__blk_q3_k *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K) {
        const float d = kern_fp16_to_fp32(b[i].d);
        int8_t sc[16];
        kern__q3k_scales(b[i].scales, sc);
        for (int e = 0; e < QK_K; e++) {
            const int h = e / 128, s = (e / 32) % 4, l = e % 32;
            const int q = ((b[i].qs[32 * h + l] >> (2 * s)) & 3) - (((b[i].hmask[l] >> (e / 32)) & 1) ? 0 : 4);
            dst[e] = d * (float)sc[e / 16] * (float)q;
        }
    }
}

void kern__dequant_q5_k_scalar(const void *src, float *dst, int64_t n) {
    const kern__blk_q5_k *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K) {
        const float d = kern_fp16_to_fp32(b[i].d), dmin = kern_fp16_to_fp32(b[i].dmin);
        for (int j = 0; j < 8; j++) { /* sub-blocks of 32: nibbles of qs[32 (j / 2)..], low for even j */
            int sc, m;
            kern__q4k_scale_min(b[i].scales, j, &sc, &m);
            const float dl = d * (float)sc, ml = dmin * (float)m;
            const uint8_t *q = b[i].qs + 32 * (j / 2);
            for (int l = 0; l < 32; l++) {
                const int v = ((q[l] >> (4 * (j & 1))) & 0xF) | ((b[i].qh[l] >> j) & 1) << 4;
                dst[32 * j + l] = dl * (float)v - ml;
            }
        }
    }
}

int kern_dequant(dtype_t t, const void *src, float *dst, int64_t n) {
    int64_t be = dtype_block_elems(t);
    if (!dtype_supported(t) || be <= 0 || n < 0 || n % be != 0 || (n > 0 && (!src || !dst))) return ERR_INVAL;
    if (n == 0) return 0;
    kern__isa()->dequant[t](src, dst, n);
    return 0;
}

int kern_get_row(const kern_weight_t *W, int64_t r, float *dst) {
    if (!W || !dst || !W->data || r < 0 || r >= W->rows) return ERR_INVAL;
    if (dtype_row_bytes(W->type, W->cols) != (int64_t)W->row_bytes) return ERR_INVAL;
    return kern_dequant(W->type, (const uint8_t *)W->data + (size_t)r * W->row_bytes, dst, W->cols);
}

/* ---- activation quantization ---------------------------------------------------------------------------- */

/*
 * Round to nearest even without libm (the SIMD paths use the same mode via cvtps2dq). Inputs are within
 * [-127.5, 127.5] for finite activations; NaN or out-of-range values (an inf in the activations) are clamped
 * first, because converting them to int would be undefined behaviour.
 */
static inline int quant__rne(float v) {
    const float magic = 12582912.0f; /* 1.5 * 2^23 */
    if (!(v >= -127.0f)) v = v != v ? 0.0f : -127.0f;
    if (v > 127.0f) v = 127.0f;
    return (int)((v + magic) - magic);
}

void kern__quant_q8a_scalar(const float *x, int64_t K, int8_t *qs, float *d, int32_t *s, uint8_t *xu) {
    for (int64_t b = 0; b < K / 32; b++, x += 32, qs += 32) {
        float amax = 0.0f;
        for (int i = 0; i < 32; i++)
            amax = fmaxf(amax, fabsf(x[i]));
        const float db = amax / 127.0f, id = db != 0.0f ? 1.0f / db : 0.0f;
        int32_t sum = 0;
        for (int i = 0; i < 32; i++) {
            int q = quant__rne(x[i] * id);
            qs[i] = (int8_t)q;
            sum += q;
        }
        d[b] = db;
        s[b] = sum;
        if (xu) {
            for (int i = 0; i < 32; i++)
                xu[i] = (uint8_t)qs[i] ^ 0x80u;
            xu += 32;
        }
    }
}

void kern__quant_q8k_scalar(const float *x, int64_t K, kern__q8k_t *y) {
    for (int64_t b = 0; b < K / QK_K; b++, x += QK_K) {
        float amax = 0.0f;
        for (int i = 0; i < QK_K; i++)
            amax = fmaxf(amax, fabsf(x[i]));
        const float db = amax / 127.0f, id = db != 0.0f ? 1.0f / db : 0.0f;
        y[b].d = db;
        for (int g = 0; g < QK_K / 16; g++) {
            int sum = 0;
            for (int i = 16 * g; i < 16 * g + 16; i++) {
                int q = quant__rne(x[i] * id);
                y[b].qs[i] = (int8_t)q;
                sum += q;
            }
            y[b].bsums[g] = (int16_t)sum;
        }
    }
}

/* ---- scalar dot products of weight rows with activations ------------------------------------------------ */

void kern__rowdot_f32_scalar(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y) {
    for (int64_t r = 0; r < nr; r++) {
        const float *row = (const float *)((const uint8_t *)w + (size_t)r * rb);
        y[r] = kern__dot_f32_scalar(row, x, K);
    }
}

void kern__rowdot_f16_scalar(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y) {
    const float *xf = x;
    for (int64_t r = 0; r < nr; r++) {
        const uint8_t *row = (const uint8_t *)w + (size_t)r * rb;
        float acc[4] = {0};
        int64_t i = 0;
        for (; i + 4 <= K; i += 4)
            for (int j = 0; j < 4; j++)
                acc[j] += kern_fp16_to_fp32(quant__rd16(row + 2 * (i + j))) * xf[i + j];
        for (; i < K; i++)
            acc[0] += kern_fp16_to_fp32(quant__rd16(row + 2 * i)) * xf[i];
        y[r] = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    }
}

void kern__rowdot_bf16_scalar(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y) {
    const float *xf = x;
    for (int64_t r = 0; r < nr; r++) {
        const uint8_t *row = (const uint8_t *)w + (size_t)r * rb;
        float acc[4] = {0};
        int64_t i = 0;
        for (; i + 4 <= K; i += 4)
            for (int j = 0; j < 4; j++)
                acc[j] += kern_bf16_to_fp32(quant__rd16(row + 2 * (i + j))) * xf[i + j];
        for (; i < K; i++)
            acc[0] += kern_bf16_to_fp32(quant__rd16(row + 2 * i)) * xf[i];
        y[r] = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    }
}

void kern__rowdot_q8_0_scalar(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y) {
    const kern__q8a_t *xa = x;
    for (int64_t r = 0; r < nr; r++) {
        const kern__blk_q8_0 *b = (const kern__blk_q8_0 *)((const uint8_t *)w + (size_t)r * rb);
        float sum = 0.0f;
        for (int64_t i = 0; i < K / QK8_0; i++) {
            const int8_t *xq = xa->qs + i * QK8_0;
            int32_t isum = 0;
            for (int j = 0; j < QK8_0; j++)
                isum += (int32_t)b[i].qs[j] * xq[j];
            sum += kern_fp16_to_fp32(b[i].d) * xa->d[i] * (float)isum;
        }
        y[r] = sum;
    }
}

void kern__rowdot_q4_0_scalar(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y) {
    const kern__q8a_t *xa = x;
    for (int64_t r = 0; r < nr; r++) {
        const kern__blk_q4_0 *b = (const kern__blk_q4_0 *)((const uint8_t *)w + (size_t)r * rb);
        float sum = 0.0f;
        for (int64_t i = 0; i < K / QK4_0; i++) {
            const int8_t *xq = xa->qs + i * QK4_0;
            int32_t isum = 0;
            for (int j = 0; j < QK4_0 / 2; j++)
                isum += ((b[i].qs[j] & 0xF) - 8) * xq[j] + ((b[i].qs[j] >> 4) - 8) * xq[j + QK4_0 / 2];
            sum += kern_fp16_to_fp32(b[i].d) * xa->d[i] * (float)isum;
        }
        y[r] = sum;
    }
}

/*
 * Q4_K: value e of a block is d*sc[e/32]*q_e - dmin*m[e/32], so its dot with x = dx*qx is
 * dx * (d * sum_j sc_j * sum_{e in j} q_e*qx_e  -  dmin * sum_j m_j * sum_{e in j} qx_e).
 */
void kern__rowdot_q4_k_scalar(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y) {
    const kern__q8k_t *xk = x;
    for (int64_t r = 0; r < nr; r++) {
        const kern__blk_q4_k *b = (const kern__blk_q4_k *)((const uint8_t *)w + (size_t)r * rb);
        float sum = 0.0f;
        for (int64_t i = 0; i < K / QK_K; i++) {
            int32_t isum = 0, msum = 0;
            for (int j = 0; j < 8; j++) {
                int sc, m;
                kern__q4k_scale_min(b[i].scales, j, &sc, &m);
                const uint8_t *q = b[i].qs + 32 * (j / 2);
                const int8_t *xq = xk[i].qs + 32 * j;
                const int shift = 4 * (j & 1);
                int32_t s = 0;
                for (int l = 0; l < 32; l++)
                    s += ((q[l] >> shift) & 0xF) * xq[l];
                isum += sc * s;
                msum += m * (xk[i].bsums[2 * j] + xk[i].bsums[2 * j + 1]);
            }
            const float dx = xk[i].d;
            sum += dx * kern_fp16_to_fp32(b[i].d) * (float)isum - dx * kern_fp16_to_fp32(b[i].dmin) * (float)msum;
        }
        y[r] = sum;
    }
}

/* Q6_K: value e is d*sc[e/16]*(q_e - 32) with q_e a 6-bit unsigned value split over ql and qh. */
void kern__rowdot_q6_k_scalar(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y) {
    const kern__q8k_t *xk = x;
    for (int64_t r = 0; r < nr; r++) {
        const kern__blk_q6_k *b = (const kern__blk_q6_k *)((const uint8_t *)w + (size_t)r * rb);
        float sum = 0.0f;
        for (int64_t i = 0; i < K / QK_K; i++) {
            int32_t q[QK_K];
            for (int c = 0; c < 2; c++) {
                const uint8_t *ql = b[i].ql + 64 * c, *qh = b[i].qh + 32 * c;
                int32_t *qc = q + 128 * c;
                for (int l = 0; l < 32; l++) {
                    qc[l] = (ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4);
                    qc[l + 32] = (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4);
                    qc[l + 64] = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
                    qc[l + 96] = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
                }
            }
            int32_t isum = 0;
            for (int g = 0; g < QK_K / 16; g++) {
                int32_t s = 0;
                for (int l = 16 * g; l < 16 * g + 16; l++)
                    s += q[l] * xk[i].qs[l];
                isum += b[i].scales[g] * (s - 32 * xk[i].bsums[g]);
            }
            sum += xk[i].d * kern_fp16_to_fp32(b[i].d) * (float)isum;
        }
        y[r] = sum;
    }
}


/* ---- the other 32-value block types against q8a ------------------------------------------------------------- */

/*
 * The 32 values of a Q4_1 / Q5_0 / Q5_1 block as unsigned integers (0..15 or 0..31), in value order. The weight
 * is d * q + m (Q4_1, Q5_1) or d * (q - 16) (Q5_0), so with x = dx * qx a block's dot is
 * d * dx * sum(q * qx) + m * dx * s, or d * dx * (sum(q * qx) - 16 * s), where s = sum(qx).
 */
static inline void quant__unpack32(const uint8_t qs[16], uint32_t h, int q[32]) {
    for (int j = 0; j < 16; j++) {
        q[j] = (qs[j] & 0xF) | (int)((h >> j) & 1u) << 4;
        q[j + 16] = (qs[j] >> 4) | (int)((h >> (j + 16)) & 1u) << 4;
    }
}

static inline int32_t quant__dot32(const int q[32], const int8_t *xq) {
    int32_t s = 0;
    for (int j = 0; j < 32; j++)
        s += q[j] * xq[j];
    return s;
}

void kern__rowdot_q4_1_scalar(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y) {
    const kern__q8a_t *xa = x;
    for (int64_t r = 0; r < nr; r++) {
        const kern__blk_q4_1 *b = (const kern__blk_q4_1 *)((const uint8_t *)w + (size_t)r * rb);
        float sum = 0.0f;
        for (int64_t i = 0; i < K / 32; i++) {
            int q[32];
            quant__unpack32(b[i].qs, 0, q);
            const int32_t isum = quant__dot32(q, xa->qs + i * 32);
            sum += kern_fp16_to_fp32(b[i].d) * xa->d[i] * (float)isum +
                   kern_fp16_to_fp32(b[i].m) * xa->d[i] * (float)xa->s[i];
        }
        y[r] = sum;
    }
}

void kern__rowdot_q5_0_scalar(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y) {
    const kern__q8a_t *xa = x;
    for (int64_t r = 0; r < nr; r++) {
        const kern__blk_q5_0 *b = (const kern__blk_q5_0 *)((const uint8_t *)w + (size_t)r * rb);
        float sum = 0.0f;
        for (int64_t i = 0; i < K / 32; i++) {
            int q[32];
            quant__unpack32(b[i].qs, quant__q5_high(b[i].qh), q);
            const int32_t isum = quant__dot32(q, xa->qs + i * 32) - 16 * xa->s[i];
            sum += kern_fp16_to_fp32(b[i].d) * xa->d[i] * (float)isum;
        }
        y[r] = sum;
    }
}

void kern__rowdot_q5_1_scalar(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y) {
    const kern__q8a_t *xa = x;
    for (int64_t r = 0; r < nr; r++) {
        const kern__blk_q5_1 *b = (const kern__blk_q5_1 *)((const uint8_t *)w + (size_t)r * rb);
        float sum = 0.0f;
        for (int64_t i = 0; i < K / 32; i++) {
            int q[32];
            quant__unpack32(b[i].qs, quant__q5_high(b[i].qh), q);
            const int32_t isum = quant__dot32(q, xa->qs + i * 32);
            sum += kern_fp16_to_fp32(b[i].d) * xa->d[i] * (float)isum +
                   kern_fp16_to_fp32(b[i].m) * xa->d[i] * (float)xa->s[i];
        }
        y[r] = sum;
    }
}

void kern__rowdot_iq4_nl_scalar(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y) {
    const kern__q8a_t *xa = x;
    for (int64_t r = 0; r < nr; r++) {
        const kern__blk_iq4_nl *b = (const kern__blk_iq4_nl *)((const uint8_t *)w + (size_t)r * rb);
        float sum = 0.0f;
        for (int64_t i = 0; i < K / 32; i++) {
            int q[32];
            quant__unpack32(b[i].qs, 0, q);
            for (int j = 0; j < 32; j++)
                q[j] = kern__iq4nl_values[q[j]];
            sum += kern_fp16_to_fp32(b[i].d) * xa->d[i] * (float)quant__dot32(q, xa->qs + i * 32);
        }
        y[r] = sum;
    }
}

/* ---- the other K-quants against q8k ------------------------------------------------------------------------- */

/* Q2_K: value e is d * sc[e/16] * q_e - dmin * m[e/16] (4-bit sc, m; 2-bit q). */
void kern__rowdot_q2_k_scalar(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y) {
    const kern__q8k_t *xk = x;
    for (int64_t r = 0; r < nr; r++) {
        const kern__blk_q2_k *b = (const kern__blk_q2_k *)((const uint8_t *)w + (size_t)r * rb);
        float sum = 0.0f;
        for (int64_t i = 0; i < K / QK_K; i++) {
            int32_t isum = 0, msum = 0;
            for (int g = 0; g < 16; g++) {
                int32_t s = 0;
                for (int e = 16 * g; e < 16 * g + 16; e++)
                    s += ((b[i].qs[32 * (e / 128) + e % 32] >> (2 * ((e / 32) % 4))) & 3) * xk[i].qs[e];
                isum += (b[i].scales[g] & 0xF) * s;
                msum += (b[i].scales[g] >> 4) * xk[i].bsums[g];
            }
            const float dx = xk[i].d;
            sum += dx * kern_fp16_to_fp32(b[i].d) * (float)isum - dx * kern_fp16_to_fp32(b[i].dmin) * (float)msum;
        }
        y[r] = sum;
    }
}

/* Q3_K: value e is d * sc[e/16] * (q_e - 4), q_e = 2 low bits | 3rd bit << 2 (0..7), sc 6-bit signed. */
void kern__rowdot_q3_k_scalar(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y) {
    const kern__q8k_t *xk = x;
    for (int64_t r = 0; r < nr; r++) {
        const kern__blk_q3_k *b = (const kern__blk_q3_k *)((const uint8_t *)w + (size_t)r * rb);
        float sum = 0.0f;
        for (int64_t i = 0; i < K / QK_K; i++) {
            int8_t sc[16];
            kern__q3k_scales(b[i].scales, sc);
            int32_t isum = 0;
            for (int g = 0; g < 16; g++) {
                int32_t s = 0;
                for (int e = 16 * g; e < 16 * g + 16; e++) {
                    const int q = ((b[i].qs[32 * (e / 128) + e % 32] >> (2 * ((e / 32) % 4))) & 3) |
                                  ((b[i].hmask[e % 32] >> (e / 32)) & 1) << 2;
                    s += q * xk[i].qs[e];
                }
                isum += sc[g] * (s - 4 * xk[i].bsums[g]);
            }
            sum += xk[i].d * kern_fp16_to_fp32(b[i].d) * (float)isum;
        }
        y[r] = sum;
    }
}

/* Q5_K: as Q4_K with a 5th bit per value. */
void kern__rowdot_q5_k_scalar(const void *w, size_t rb, int64_t nr, const void *x, int64_t K, float *y) {
    const kern__q8k_t *xk = x;
    for (int64_t r = 0; r < nr; r++) {
        const kern__blk_q5_k *b = (const kern__blk_q5_k *)((const uint8_t *)w + (size_t)r * rb);
        float sum = 0.0f;
        for (int64_t i = 0; i < K / QK_K; i++) {
            int32_t isum = 0, msum = 0;
            for (int j = 0; j < 8; j++) {
                int sc, m;
                kern__q4k_scale_min(b[i].scales, j, &sc, &m);
                const uint8_t *q = b[i].qs + 32 * (j / 2);
                const int8_t *xq = xk[i].qs + 32 * j;
                int32_t s = 0;
                for (int l = 0; l < 32; l++)
                    s += (((q[l] >> (4 * (j & 1))) & 0xF) | ((b[i].qh[l] >> j) & 1) << 4) * xq[l];
                isum += sc * s;
                msum += m * (xk[i].bsums[2 * j] + xk[i].bsums[2 * j + 1]);
            }
            const float dx = xk[i].d;
            sum += dx * kern_fp16_to_fp32(b[i].d) * (float)isum - dx * kern_fp16_to_fp32(b[i].dmin) * (float)msum;
        }
        y[r] = sum;
    }
}
