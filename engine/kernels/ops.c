/*
 * ops.c — the small vector ops of a transformer layer (dot, axpy, RMS norm, SiLU gating, softmax): their public
 * entry points, which dispatch to the instruction set chosen at run time, and their portable versions.
 *
 * Numerics follow llama.cpp's CPU backend where it matters for token-exact agreement: the sum of squares of
 * rmsnorm and the softmax denominator are accumulated in double, and rmsnorm computes (x * scale) * w.
 * Pure functions over caller memory; any thread.
 */
#include <math.h>
#include <pthread.h>

#include "kern_impl.h"

/* ---- portable versions ---------------------------------------------------------------------------------- */

float kern__dot_f32_scalar(const float *a, const float *b, int64_t n) {
    float acc[4] = {0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int j = 0; j < 4; j++)
            acc[j] += a[i + j] * b[i + j];
    for (; i < n; i++)
        acc[0] += a[i] * b[i];
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

void kern__axpy_f32_scalar(float a, const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        y[i] += a * x[i];
}

double kern__sumsq_f32_scalar(const float *x, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += (double)(x[i] * x[i]);
    return s;
}

void kern__scale_mul_f32_scalar(const float *x, const float *w, float s, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        y[i] = (x[i] * s) * w[i];
}

void kern__silu_mul_scalar(const float *gate, const float *up, float *out, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

float kern__exp_sub_sum_scalar(float *x, float m, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - m);
        s += (double)x[i];
    }
    return (float)s;
}

float kern__max_f32_scalar(const float *x, int64_t n) {
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        m = x[i] > m ? x[i] : m;
    return m;
}

/* ---- public entry points -------------------------------------------------------------------------------- */

float kern_dot_f32(const float *a, const float *b, int64_t n) {
    if (n <= 0) return 0.0f;
    return kern__isa()->dot_f32(a, b, n);
}

void kern_axpy_f32(float a, const float *x, float *y, int64_t n) {
    if (n <= 0) return;
    kern__isa()->axpy_f32(a, x, y, n);
}

void kern_rmsnorm(const float *x, const float *w, float eps, float *y, int64_t n) {
    if (n <= 0) return;
    const kern__isa_t *isa = kern__isa();
    const float mean = (float)(isa->sumsq_f32(x, n) / (double)n);
    const float scale = 1.0f / sqrtf(mean + eps);
    isa->scale_mul_f32(x, w, scale, y, n);
}

void kern_silu_mul(const float *gate, const float *up, float *out, int64_t n) {
    if (n <= 0) return;
    kern__isa()->silu_mul(gate, up, out, n);
}

/* gelu(h) for every half-precision h, rounded to half precision: the activation as llama.cpp's CPU backend
 * evaluates it (input and output through F16), so that GeGLU models agree with it token for token. */
static float kern__gelu_table[1 << 16];
static pthread_once_t kern__gelu_once = PTHREAD_ONCE_INIT;

static void kern__gelu_init(void) {
    const float a = 0.044715f, s2pi = 0.79788456080286535587989211986876f;
    for (uint32_t i = 0; i < (1u << 16); i++) {
        float x = kern_fp16_to_fp32((uint16_t)i);
        float g = 0.5f * x * (1.0f + tanhf(s2pi * x * (1.0f + a * x * x)));
        kern__gelu_table[i] = kern_fp16_to_fp32(kern_fp32_to_fp16(g));
    }
}

void kern__gelu_scalar(const float *x, const float *up, float *out, int64_t n, const float *table) {
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i];
        float g;
        if (v <= -10.0f) g = 0.0f;
        else if (v >= 10.0f || v != v) g = v; /* NaN stays NaN */
        else g = table[kern_fp32_to_fp16(v)];
        out[i] = up ? g * up[i] : g;
    }
}

void kern_gelu_mul(const float *gate, const float *up, float *out, int64_t n) {
    if (n <= 0) return;
    pthread_once(&kern__gelu_once, kern__gelu_init);
    kern__isa()->gelu(gate, up, out, n, kern__gelu_table);
}

void kern_gelu(const float *x, float *out, int64_t n) {
    if (n <= 0) return;
    pthread_once(&kern__gelu_once, kern__gelu_init);
    kern__isa()->gelu(x, NULL, out, n, kern__gelu_table);
}

void kern__layernorm_scalar(const float *x, const float *w, const float *b, float eps, float *y, int64_t n) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += x[i];
    const float mean = (float)(sum / (double)n);
    double var = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const float d = x[i] - mean;
        var += (double)d * d;
    }
    const float scale = 1.0f / sqrtf((float)(var / (double)n) + eps);
    for (int64_t i = 0; i < n; i++) y[i] = (x[i] - mean) * scale * w[i] + (b ? b[i] : 0.0f);
}

void kern_layernorm(const float *x, const float *w, const float *b, float eps, float *y, int64_t n) {
    if (n <= 0) return;
    kern__isa()->layernorm(x, w, b, eps, y, n);
}

void kern_softmax(float *x, int64_t n) {
    if (n <= 0) return;
    const kern__isa_t *isa = kern__isa();
    const float m = isa->max_f32(x, n);
    if (m == -INFINITY) { /* every entry -inf: no mass anywhere; spread it evenly rather than make NaNs */
        for (int64_t i = 0; i < n; i++)
            x[i] = 1.0f / (float)n;
        return;
    }
    const float sum = isa->exp_sub_sum(x, m, n);
    const float inv = 1.0f / sum;
    for (int64_t i = 0; i < n; i++)
        x[i] *= inv;
}

int64_t kern_first_nonfinite(const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) /* ~20 us for 150k logits: once per token, next to a forward pass */
        if (!isfinite(x[i])) return i;
    return -1;
}
