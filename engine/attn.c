/* attn.c — attention of one head over an F16 cache; scalar code with an AVX2/F16C path chosen at run time. */
#include "attn.h"

#include "kernels/kern.h"

/* attn_avx2.c */
void attn__round_f16_avx2(float *x, int32_t n);
void attn__scores_heads_avx2(const float *q, int32_t g, const uint16_t *k, size_t stride, int32_t n, int32_t hd,
                             float scale, float *scores, size_t ss);
void attn__accum_heads_avx2(const float *p, size_t ps, int32_t g, const uint16_t *v, size_t stride, int32_t n,
                            int32_t hd, float *out);

static int attn__has_avx2(void) {
    static int cached = -1; /* benign race: every thread computes the same value */
    if (cached < 0) {
        cached = kern_cpu_has_avx2();
    }
    return cached;
}

static float attn__dot_f16(const float *q, const uint16_t *k, int32_t n) {
    float s = 0.0f;
    for (int32_t i = 0; i < n; i++)
        s += q[i] * kern_fp16_to_fp32(k[i]);
    return s;
}

static void attn__axpy_f16(float a, const uint16_t *v, float *out, int32_t n) {
    for (int32_t i = 0; i < n; i++)
        out[i] += a * kern_fp16_to_fp32(v[i]);
}

void attn_round_f16(float *x, int32_t n) {
    if (attn__has_avx2()) {
        attn__round_f16_avx2(x, n);
        return;
    }
    for (int32_t i = 0; i < n; i++)
        x[i] = kern_fp16_to_fp32(kern_fp32_to_fp16(x[i]));
}

void attn_scores(const float *q, const uint16_t *k, size_t stride, int32_t n, int32_t hd, float scale, float *scores) {
    if (attn__has_avx2()) {
        attn__scores_heads_avx2(q, 1, k, stride, n, hd, scale, scores, 0);
        return;
    }
    for (int32_t t = 0; t < n; t++)
        scores[t] = attn__dot_f16(q, k + (size_t)t * stride, hd) * scale;
}

void attn_accum(const float *p, const uint16_t *v, size_t stride, int32_t n, int32_t hd, float *out) {
    if (attn__has_avx2()) {
        attn__accum_heads_avx2(p, 0, 1, v, stride, n, hd, out);
        return;
    }
    for (int32_t t = 0; t < n; t++)
        attn__axpy_f16(p[t], v + (size_t)t * stride, out, hd);
}

void attn_scores_heads(const float *q, int32_t g, const uint16_t *k, size_t stride, int32_t n, int32_t hd, float scale,
                       float *scores, size_t ss) {
    for (int32_t j = 0; j < g; j += 4) { /* up to 4 heads at a time: their accumulators stay in registers */
        const int32_t m = g - j < 4 ? g - j : 4;
        if (attn__has_avx2())
            attn__scores_heads_avx2(q + (size_t)j * hd, m, k, stride, n, hd, scale, scores + (size_t)j * ss, ss);
        else
            for (int32_t h = j; h < j + m; h++)
                attn_scores(q + (size_t)h * hd, k, stride, n, hd, scale, scores + (size_t)h * ss);
    }
}

void attn_accum_heads(const float *p, size_t ps, int32_t g, const uint16_t *v, size_t stride, int32_t n, int32_t hd,
                      float *out) {
    for (int32_t j = 0; j < g; j += 4) {
        const int32_t m = g - j < 4 ? g - j : 4;
        if (attn__has_avx2())
            attn__accum_heads_avx2(p + (size_t)j * ps, ps, m, v, stride, n, hd, out + (size_t)j * hd);
        else
            for (int32_t h = j; h < j + m; h++)
                attn_accum(p + (size_t)h * ps, v, stride, n, hd, out + (size_t)h * hd);
    }
}
