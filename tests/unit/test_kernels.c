/*
 * test_kernels.c — engine/kernels: block formats against their definitions and llama.cpp's dequantized
 * tensors, every matmul path against a naive loop over the dequantized weight, scalar against SIMD paths,
 * the thread pool, and the vector ops.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "gguf.h"
#include "kernels/kern.h"
#include "kernels/kern_impl.h"

#ifndef TEST_SHARED_DIR
#define TEST_SHARED_DIR "/work/shared"
#endif
#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "tests/data"
#endif

/* ---- helpers ------------------------------------------------------------------------------------------------ */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rnd_u32(void) { /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

static float rnd_f(float lo, float hi) { return lo + (hi - lo) * (float)(rnd_u32() >> 8) * (1.0f / 16777216.0f); }

static float rnd_normalish(void) { return rnd_f(-1, 1) + rnd_f(-1, 1) + rnd_f(-1, 1); }

static uint32_t bits_from_f(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static const dtype_t all_types[] = {DT_F32,  DT_F16,  DT_BF16, DT_Q8_0,   DT_Q4_0, DT_Q4_K, DT_Q6_K, DT_Q4_1,
                                    DT_Q5_0, DT_Q5_1, DT_IQ4_NL, DT_Q2_K, DT_Q3_K, DT_Q5_K};
#define N_TYPES (sizeof all_types / sizeof all_types[0])

static bool is_quant(dtype_t t) { return kern__act_format(t) != KERN__ACT_F32; }

static bool is_kquant(dtype_t t) { return kern__act_format(t) == KERN__ACT_Q8K; }

/* An fp16 value of size within [lo, hi), negative when neg. */
static uint16_t rnd_h(float lo, float hi, bool neg) { return kern_fp32_to_fp16(neg ? -rnd_f(lo, hi) : rnd_f(lo, hi)); }

/* Fills n values' worth of valid data of type t (finite scales of realistic size, random quants). */
static void fill_random(dtype_t t, void *dst, int64_t n) {
    uint8_t *p = dst;
    const int64_t bytes = dtype_row_bytes(t, n);
    for (int64_t i = 0; i < bytes; i++)
        p[i] = (uint8_t)rnd_u32();
    switch (t) {
    case DT_F32:
        for (int64_t i = 0; i < n; i++)
            ((float *)dst)[i] = rnd_normalish() * 0.05f;
        break;
    case DT_F16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = kern_fp32_to_fp16(rnd_normalish() * 0.05f);
            memcpy(p + 2 * i, &h, 2);
        }
        break;
    case DT_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = (uint16_t)(bits_from_f(rnd_normalish() * 0.05f) >> 16);
            memcpy(p + 2 * i, &h, 2);
        }
        break;
    case DT_Q8_0:
        for (int64_t b = 0; b < n / 32; b++)
            ((kern__blk_q8_0 *)dst)[b].d = kern_fp32_to_fp16(rnd_f(1e-4f, 1e-3f));
        break;
    case DT_Q4_0:
        for (int64_t b = 0; b < n / 32; b++)
            ((kern__blk_q4_0 *)dst)[b].d = kern_fp32_to_fp16(rnd_f(1e-3f, 1e-2f));
        break;
    case DT_Q4_K:
        for (int64_t b = 0; b < n / 256; b++) {
            ((kern__blk_q4_k *)dst)[b].d = kern_fp32_to_fp16(rnd_f(1e-4f, 1e-3f));
            ((kern__blk_q4_k *)dst)[b].dmin = kern_fp32_to_fp16(rnd_f(1e-4f, 1e-3f));
        }
        break;
    case DT_Q6_K:
        for (int64_t b = 0; b < n / 256; b++)
            ((kern__blk_q6_k *)dst)[b].d = kern_fp32_to_fp16(rnd_f(1e-5f, 1e-4f));
        break;
    case DT_Q4_1: /* min = about -8 scales, as a quantizer makes for a centred block */
        for (int64_t b = 0; b < n / 32; b++) {
            kern__blk_q4_1 *k = (kern__blk_q4_1 *)dst + b;
            k->d = rnd_h(1e-3f, 1e-2f, false);
            k->m = kern_fp32_to_fp16(-kern_fp16_to_fp32(k->d) * rnd_f(4, 12));
        }
        break;
    case DT_Q5_0:
        for (int64_t b = 0; b < n / 32; b++)
            ((kern__blk_q5_0 *)dst)[b].d = rnd_h(1e-4f, 1e-3f, rnd_u32() & 1);
        break;
    case DT_Q5_1:
        for (int64_t b = 0; b < n / 32; b++) {
            kern__blk_q5_1 *k = (kern__blk_q5_1 *)dst + b;
            k->d = rnd_h(1e-4f, 1e-3f, false);
            k->m = kern_fp32_to_fp16(-kern_fp16_to_fp32(k->d) * rnd_f(8, 24));
        }
        break;
    case DT_IQ4_NL:
        for (int64_t b = 0; b < n / 32; b++)
            ((kern__blk_iq4_nl *)dst)[b].d = rnd_h(1e-5f, 1e-4f, rnd_u32() & 1);
        break;
    case DT_Q2_K:
        for (int64_t b = 0; b < n / 256; b++) {
            ((kern__blk_q2_k *)dst)[b].d = rnd_h(1e-4f, 1e-3f, false);
            ((kern__blk_q2_k *)dst)[b].dmin = rnd_h(1e-4f, 1e-3f, false);
        }
        break;
    case DT_Q3_K:
        for (int64_t b = 0; b < n / 256; b++)
            ((kern__blk_q3_k *)dst)[b].d = rnd_h(1e-5f, 1e-4f, rnd_u32() & 1);
        break;
    case DT_Q5_K:
        for (int64_t b = 0; b < n / 256; b++) {
            ((kern__blk_q5_k *)dst)[b].d = rnd_h(1e-5f, 1e-4f, false);
            ((kern__blk_q5_k *)dst)[b].dmin = rnd_h(1e-4f, 1e-3f, false);
        }
        break;
    default: break;
    }
}

/* ---- fp16 / bf16 -------------------------------------------------------------------------------------------- */

static void test_fp16_roundtrip_all(void **state) {
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        const float f = kern_fp16_to_fp32((uint16_t)h);
        const bool nan = ((h >> 10) & 0x1f) == 0x1f && (h & 0x3ff) != 0;
        if (nan) {
            assert_true(isnan(f));
            const uint16_t back = kern_fp32_to_fp16(f);
            assert_true((back & 0x7c00) == 0x7c00 && (back & 0x3ff) != 0);
        } else {
            assert_int_equal(kern_fp32_to_fp16(f), h);
        }
    }
    /* values from the definition: 1, -2, 65504, smallest subnormal, smallest normal, inf */
    assert_true(kern_fp16_to_fp32(0x3c00) == 1.0f);
    assert_true(kern_fp16_to_fp32(0xc000) == -2.0f);
    assert_true(kern_fp16_to_fp32(0x7bff) == 65504.0f);
    assert_true(kern_fp16_to_fp32(0x0001) == ldexpf(1.0f, -24));
    assert_true(kern_fp16_to_fp32(0x0400) == ldexpf(1.0f, -14));
    assert_true(isinf(kern_fp16_to_fp32(0x7c00)));
}

static void test_fp16_rounding(void **state) {
    (void)state;
    for (uint32_t h = 0; h < 0x7bff; h++) { /* every pair of adjacent positive finite halves */
        const float lo = kern_fp16_to_fp32((uint16_t)h), hi = kern_fp16_to_fp32((uint16_t)(h + 1));
        const float mid = (lo + hi) * 0.5f; /* exact: needs 12 significant bits */
        const uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        assert_int_equal(kern_fp32_to_fp16(mid), even);
        assert_int_equal(kern_fp32_to_fp16(-mid), even | 0x8000);
        assert_int_equal(kern_fp32_to_fp16(nextafterf(mid, INFINITY)), h + 1);
        assert_int_equal(kern_fp32_to_fp16(nextafterf(mid, 0.0f)), h);
    }
    assert_int_equal(kern_fp32_to_fp16(65519.99f), 0x7bff);
    assert_int_equal(kern_fp32_to_fp16(65520.0f), 0x7c00);
    assert_int_equal(kern_fp32_to_fp16(-1e9f), 0xfc00);
    assert_int_equal(kern_fp32_to_fp16(ldexpf(1.0f, -25)), 0x0000); /* tie with 0 -> even */
    assert_int_equal(kern_fp32_to_fp16(ldexpf(1.5f, -25)), 0x0001);
    assert_int_equal(kern_fp32_to_fp16(ldexpf(1.0f, -30)), 0x0000);
}

/* The bulk conversions (F16C where available) agree bit for bit with the scalar ones, NaN payloads included. */
static void test_fp16_bulk(void **state) {
    (void)state;
    enum { N = 65536 + 4096 };
    uint16_t *h = malloc(N * sizeof *h), *h2 = malloc(N * sizeof *h2);
    float *f = malloc(N * sizeof *f), *f2 = malloc(N * sizeof *f2);
    assert_true(h && h2 && f && f2);
    for (int i = 0; i < 65536; i++)
        h[i] = (uint16_t)i;
    for (int i = 65536; i < N; i++)
        h[i] = (uint16_t)rnd_u32();
    const int best = kern__cpu_isa();
    for (int level = 0; level <= best; level++) {
        kern__force_isa(level);
        kern_f16_to_f32(h, f, N);
        for (int i = 0; i < N; i++) {
            const float want = kern_fp16_to_fp32(h[i]);
            assert_int_equal(bits_from_f(f[i]), bits_from_f(want));
        }
    }
    /* floats around every half, between halves, tiny, huge, NaNs with payloads */
    for (int i = 0; i < N; i++) {
        uint32_t u;
        switch (i % 4) {
        case 0: u = bits_from_f(kern_fp16_to_fp32((uint16_t)(i / 4))); break;
        case 1: u = bits_from_f(kern_fp16_to_fp32((uint16_t)(i / 4))) + 0x1000u; break; /* half-way points */
        case 2: u = rnd_u32(); break;                                                   /* anything, NaNs too */
        default: u = bits_from_f(kern_fp16_to_fp32((uint16_t)(i / 4))) + (rnd_u32() & 0x1fffu); break;
        }
        memcpy(&f[i], &u, 4);
    }
    for (int level = 0; level <= best; level++) {
        kern__force_isa(level);
        kern_f32_to_f16(f, h2, N);
        for (int i = 0; i < N; i++)
            assert_int_equal(h2[i], kern_fp32_to_fp16(f[i]));
    }
    kern__force_isa(best);
    kern_f32_to_f16(f, h2, 0); /* n = 0: nothing */
    free(h);
    free(h2);
    free(f);
    free(f2);
}

static void test_bf16(void **state) {
    (void)state;
    for (uint32_t h = 0; h < 65536; h += 7)
        assert_int_equal(bits_from_f(kern_bf16_to_fp32((uint16_t)h)), h << 16);
    assert_true(kern_bf16_to_fp32(0x3f80) == 1.0f);
    assert_true(kern_bf16_to_fp32(0xc040) == -3.0f);
}

/* ---- dequantization from the definitions -------------------------------------------------------------------- */

/* Runs fn once per instruction set this CPU has, then restores the best one. */
static void for_each_isa(void (*fn)(int level)) {
    const int best = kern__cpu_isa();
    for (int level = 0; level <= best; level++) {
        assert_int_equal(kern__force_isa(level), level);
        fn(level);
    }
    kern__force_isa(best);
}

static void check_q8_0_q4_0(int level) {
    (void)level;
    kern__blk_q8_0 b8[2];
    kern__blk_q4_0 b4[2];
    float out[64];
    for (int k = 0; k < 2; k++) {
        b8[k].d = 0x3800 + k; /* 0.5 and the next half up */
        b4[k].d = 0xb400 + k; /* -0.25 and the next */
        for (int i = 0; i < 32; i++)
            b8[k].qs[i] = (int8_t)(i * 9 - 128 + k);
        for (int i = 0; i < 16; i++)
            b4[k].qs[i] = (uint8_t)((i + k) & 15) | (uint8_t)((15 - i) << 4);
    }
    assert_int_equal(kern_dequant(DT_Q8_0, b8, out, 64), 0);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 32; i++)
            assert_true(out[32 * k + i] == (float)(int8_t)(i * 9 - 128 + k) * kern_fp16_to_fp32(b8[k].d));
    assert_int_equal(kern_dequant(DT_Q4_0, b4, out, 64), 0);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 16; i++) {
            const float d = kern_fp16_to_fp32(b4[k].d);
            assert_true(out[32 * k + i] == (float)(((i + k) & 15) - 8) * d);
            assert_true(out[32 * k + 16 + i] == (float)((15 - i) - 8) * d);
        }
}

static void test_dequant_q8_0_q4_0_definition(void **state) {
    (void)state;
    for_each_isa(check_q8_0_q4_0);
}

/* Packs 8 (scale, min) pairs of 6 bits into the 12 bytes of a Q4_K block, as the format defines. */
static void pack_q4k_scales(const int sc[8], const int m[8], uint8_t out[12]) {
    memset(out, 0, 12);
    for (int j = 0; j < 4; j++) {
        out[j] = (uint8_t)(sc[j] | ((sc[j + 4] >> 4) << 6));
        out[j + 4] = (uint8_t)(m[j] | ((m[j + 4] >> 4) << 6));
        out[j + 8] = (uint8_t)((sc[j + 4] & 15) | ((m[j + 4] & 15) << 4));
    }
}

static void check_kquants(int level) {
    (void)level;
    kern__blk_q4_k k4[2];
    kern__blk_q6_k k6[2];
    int sc[2][8], mn[2][8];
    float out[512];
    for (int b = 0; b < 2; b++) {
        k4[b].d = kern_fp32_to_fp16(0.0123f * (float)(b + 1));
        k4[b].dmin = kern_fp32_to_fp16(0.0071f * (float)(b + 1));
        for (int j = 0; j < 8; j++) {
            sc[b][j] = (int)(rnd_u32() & 63);
            mn[b][j] = (int)(rnd_u32() & 63);
        }
        sc[b][7] = 63;
        mn[b][6] = 63;
        pack_q4k_scales(sc[b], mn[b], k4[b].scales);
        for (int i = 0; i < 128; i++)
            k4[b].qs[i] = (uint8_t)rnd_u32();
        k6[b].d = kern_fp32_to_fp16(0.00321f * (float)(b + 1));
        for (int i = 0; i < 128; i++)
            k6[b].ql[i] = (uint8_t)rnd_u32();
        for (int i = 0; i < 64; i++)
            k6[b].qh[i] = (uint8_t)rnd_u32();
        for (int i = 0; i < 16; i++)
            k6[b].scales[i] = (int8_t)(rnd_u32() & 0xff);
        k6[b].scales[3] = -128;
    }
    assert_int_equal(kern_dequant(DT_Q4_K, k4, out, 512), 0);
    for (int b = 0; b < 2; b++) {
        const float d = kern_fp16_to_fp32(k4[b].d), dmin = kern_fp16_to_fp32(k4[b].dmin);
        for (int e = 0; e < 256; e++) {
            const int j = e / 32; /* sub-block */
            const uint8_t byte = k4[b].qs[32 * (e / 64) + e % 32];
            const int q = (j & 1) ? byte >> 4 : byte & 15;
            const float want = d * (float)sc[b][j] * (float)q - dmin * (float)mn[b][j];
            assert_true(out[256 * b + e] == want);
        }
    }
    assert_int_equal(kern_dequant(DT_Q6_K, k6, out, 512), 0);
    for (int b = 0; b < 2; b++) {
        const float d = kern_fp16_to_fp32(k6[b].d);
        for (int e = 0; e < 256; e++) {
            const int half = e / 128, l = e % 32, k = (e % 128) / 32;
            const uint8_t lb = k6[b].ql[64 * half + l + 32 * (k & 1)];
            const int low = k >= 2 ? lb >> 4 : lb & 15;
            const int high = (k6[b].qh[32 * half + l] >> (2 * k)) & 3;
            const float want = d * (float)k6[b].scales[e / 16] * (float)((low | (high << 4)) - 32);
            assert_true(out[256 * b + e] == want);
        }
    }
}

static void test_dequant_kquants_definition(void **state) {
    (void)state;
    for_each_isa(check_kquants);
}

static void test_dequant_float_types(void **state) {
    (void)state;
    uint16_t h[19];
    float f[19], out[19];
    for (int i = 0; i < 19; i++) {
        f[i] = rnd_normalish();
        h[i] = kern_fp32_to_fp16(f[i]);
    }
    const int best = kern__cpu_isa();
    for (int level = 0; level <= best; level++) {
        kern__force_isa(level);
        assert_int_equal(kern_dequant(DT_F16, h, out, 19), 0);
        for (int i = 0; i < 19; i++)
            assert_true(out[i] == kern_fp16_to_fp32(h[i]));
        assert_int_equal(kern_dequant(DT_BF16, h, out, 19), 0);
        for (int i = 0; i < 19; i++)
            assert_true(out[i] == kern_bf16_to_fp32(h[i]));
        assert_int_equal(kern_dequant(DT_F32, f, out, 19), 0);
        assert_memory_equal(out, f, sizeof f);
    }
    kern__force_isa(best);
}

static void test_dequant_invalid(void **state) {
    (void)state;
    uint8_t buf[256] = {0};
    float out[64];
    assert_int_equal(kern_dequant(DT_Q8_0, buf, out, 31), ERR_INVAL);
    assert_int_equal(kern_dequant(DT_Q4_K, buf, out, 32), ERR_INVAL);
    assert_int_equal(kern_dequant((dtype_t)16, buf, out, 256), ERR_INVAL); /* IQ2_XXS: unsupported */
    assert_int_equal(kern_dequant(DT_Q5_K, buf, out, 32), ERR_INVAL);
    assert_int_equal(kern_dequant(DT_Q8_0, NULL, out, 32), ERR_INVAL);
    assert_int_equal(kern_dequant(DT_Q8_0, buf, out, -32), ERR_INVAL);
    assert_int_equal(kern_dequant(DT_Q8_0, buf, out, 0), 0);
}

/* ---- dequantization against llama.cpp ----------------------------------------------------------------------- */

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) buf[n] = 0;
    if (len) *len = (size_t)n;
    return buf;
}

static void check_reference(int level) {
    const char *dir = TEST_SHARED_DIR "/models/reference/dequant";
    char path[512];
    snprintf(path, sizeof path, "%s/index.json", dir);
    char *json = read_file(path, NULL);
    assert_non_null(json);
    cJSON *root = cJSON_Parse(json);
    assert_non_null(root);
    int checked = 0;
    cJSON *e;
    cJSON_ArrayForEach(e, root) {
        const char *model = cJSON_GetStringValue(cJSON_GetObjectItem(e, "model"));
        const char *tensor = cJSON_GetStringValue(cJSON_GetObjectItem(e, "tensor"));
        const char *file = cJSON_GetStringValue(cJSON_GetObjectItem(e, "file"));
        const double n = cJSON_GetNumberValue(cJSON_GetObjectItem(e, "n"));
        assert_true(model && tensor && file && n > 0);
        snprintf(path, sizeof path, "%s/models/%s", TEST_SHARED_DIR, model);
        gguf_t *g = NULL;
        char err[256];
        assert_int_equal(gguf_open(path, &g, err, sizeof err), 0);
        const gguf_tensor_t *t = gguf_find_tensor(g, tensor);
        assert_non_null(t);
        assert_string_equal(dtype_name(t->type), cJSON_GetStringValue(cJSON_GetObjectItem(e, "type")));
        const int64_t ne = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        assert_int_equal(ne, (int64_t)n);
        snprintf(path, sizeof path, "%s/%s", dir, file);
        size_t len = 0;
        float *want = (float *)read_file(path, &len);
        assert_non_null(want);
        assert_int_equal(len, (size_t)ne * 4);
        float *got = malloc((size_t)ne * sizeof(float));
        assert_int_equal(kern_dequant(t->type, t->data, got, ne), 0);
        int64_t mismatches = 0;
        for (int64_t i = 0; i < ne; i++) {
            /* the same float operations in the same order: bit-identical */
            if (bits_from_f(got[i]) != bits_from_f(want[i])) {
                if (mismatches++ < 3)
                    print_error("isa %d %s %s [%lld]: got %.9g want %.9g\n", level, model, tensor, (long long)i, got[i],
                                want[i]);
            }
        }
        assert_int_equal(mismatches, 0);
        /* kern_get_row agrees with the bulk dequantization */
        kern_weight_t W = {t->type, t->ne[1], t->ne[0], t->data, (size_t)dtype_row_bytes(t->type, t->ne[0])};
        const int64_t r = W.rows / 2;
        assert_int_equal(kern_get_row(&W, r, got), 0);
        assert_memory_equal(got, want + r * W.cols, (size_t)W.cols * sizeof(float));
        assert_int_equal(kern_get_row(&W, W.rows, got), ERR_INVAL);
        assert_int_equal(kern_get_row(&W, -1, got), ERR_INVAL);
        free(got);
        free(want);
        gguf_close(g);
        checked++;
    }
    assert_true(checked >= 8);
    cJSON_Delete(root);
    free(json);
}

static void test_dequant_reference(void **state) {
    (void)state;
    for_each_isa(check_reference);
}

/*
 * tests/data/quant: blocks of every quantized type (random bytes with finite scales, and blocks of
 * llama-quantize's files) with gguf-py's dequantization of them (tests/data/quant/README.md). Bit-identical.
 */
static void check_quant_ref(int level) {
    const char *dir = TEST_DATA_DIR "/quant";
    char path[512];
    snprintf(path, sizeof path, "%s/index.json", dir);
    char *json = read_file(path, NULL);
    assert_non_null(json);
    cJSON *root = cJSON_Parse(json);
    assert_non_null(root);
    int checked = 0;
    cJSON *e;
    cJSON_ArrayForEach(e, root) {
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(e, "type"));
        const char *blocks = cJSON_GetStringValue(cJSON_GetObjectItem(e, "blocks"));
        const char *values = cJSON_GetStringValue(cJSON_GetObjectItem(e, "values"));
        const int64_t nblk = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(e, "n_blocks"));
        assert_true(type && blocks && values && nblk > 0);
        dtype_t t = DT_COUNT;
        for (uint32_t id = 0; id < DT_COUNT; id++)
            if (!strcmp(dtype_name(id), type)) t = (dtype_t)id;
        assert_true(t != DT_COUNT && dtype_supported(t));
        size_t len = 0, vlen = 0;
        snprintf(path, sizeof path, "%s/%s", dir, blocks);
        uint8_t *raw = (uint8_t *)read_file(path, &len);
        snprintf(path, sizeof path, "%s/%s", dir, values);
        float *want = (float *)read_file(path, &vlen);
        assert_true(raw && want);
        const int64_t n = nblk * dtype_block_elems(t);
        assert_int_equal(len, (size_t)(nblk * dtype_block_bytes(t)));
        assert_int_equal(vlen, (size_t)n * sizeof(float));
        float *got = malloc((size_t)n * sizeof(float));
        assert_non_null(got);
        assert_int_equal(kern_dequant(t, raw, got, n), 0);
        int64_t mismatches = 0;
        for (int64_t i = 0; i < n; i++)
            if (bits_from_f(got[i]) != bits_from_f(want[i]) && mismatches++ < 3)
                print_error("isa %d %s [%lld] (block %lld): got %.9g want %.9g\n", level, type, (long long)i,
                            (long long)(i / dtype_block_elems(t)), got[i], want[i]);
        assert_int_equal(mismatches, 0);
        free(got);
        free(raw);
        free(want);
        checked++;
    }
    assert_true(checked >= 11);
    cJSON_Delete(root);
    free(json);
}

static void test_dequant_quant_ref(void **state) {
    (void)state;
    for_each_isa(check_quant_ref);
}

/* ---- activation quantization -------------------------------------------------------------------------------- */

static void test_quant_activations(void **state) {
    (void)state;
    enum { K = 512 };
    float x[K];
    for (int i = 0; i < K; i++)
        x[i] = rnd_normalish() * (i % 97 == 0 ? 20.0f : 1.0f);
    for (int i = 64; i < 96; i++)
        x[i] = 0.0f; /* an all-zero block */
    int8_t qs[3][K];
    float d[3][K / 32];
    int32_t s[3][K / 32];
    uint8_t xu[3][K];
    static kern__q8k_t xk[3][K / QK_K];
    const int best = kern__cpu_isa();
    for (int level = 0; level <= best; level++) {
        kern__force_isa(level);
        kern__isa()->quant_q8a(x, K, qs[level], d[level], s[level], xu[level]);
        kern__isa()->quant_q8k(x, K, xk[level]);
    }
    kern__force_isa(best);
    for (int b = 0; b < K / 32; b++) {
        int32_t sum = 0;
        for (int i = 32 * b; i < 32 * b + 32; i++) {
            assert_true(qs[0][i] >= -127 && qs[0][i] <= 127);
            assert_true(fabsf(x[i] - d[0][b] * (float)qs[0][i]) <= d[0][b] * 0.5001f + 1e-30f);
            sum += qs[0][i];
        }
        assert_int_equal(sum, s[0][b]);
        for (int i = 32 * b; i < 32 * b + 32; i++)
            assert_int_equal(xu[0][i], qs[0][i] + 128);
    }
    assert_true(d[0][2] == 0.0f);
    for (int b = 0; b < K / QK_K; b++)
        for (int g = 0; g < 16; g++) {
            int32_t sum = 0;
            for (int i = 16 * g; i < 16 * g + 16; i++) {
                assert_true(fabsf(x[b * QK_K + i] - xk[0][b].d * (float)xk[0][b].qs[i]) <= xk[0][b].d * 0.5001f);
                sum += xk[0][b].qs[i];
            }
            assert_int_equal(sum, xk[0][b].bsums[g]);
        }
    for (int level = 1; level <= best; level++) { /* SIMD: bit-identical to the portable code */
        assert_memory_equal(qs[level], qs[0], sizeof qs[0]);
        assert_memory_equal(d[level], d[0], sizeof d[0]);
        assert_memory_equal(s[level], s[0], sizeof s[0]);
        assert_memory_equal(xk[level], xk[0], sizeof xk[0]);
        assert_memory_equal(xu[level], xu[0], sizeof xu[0]);
    }
}

/*
 * NaN, inf, huge and denormal activations: every ISA's quantizer clamps like the portable one (NaN as 0, then
 * [-127, 127] before rounding), so results stay bit-identical to it, the codes in range and the block sums
 * consistent, and no float->int conversion sees a non-finite value (UBSan runs this too).
 */
static void test_quant_nonfinite(void **state) {
    (void)state;
    enum { K = 1024 };
    static float x[K];
    for (int i = 0; i < K; i++)
        x[i] = rnd_normalish();
    /* block by block (32 values; K-quant blocks are 256): one poison each, then whole poisoned blocks */
    x[3] = NAN;
    x[32 + 7] = INFINITY;
    x[64 + 31] = -INFINITY;
    x[96] = 3.0e38f;
    x[96 + 5] = -3.0e38f;
    x[128 + 2] = 1e-40f; /* a block of denormals: amax / 127 underflows, or 1 / d overflows */
    for (int i = 160; i < 192; i++)
        x[i] = (i % 2 ? 1 : -1) * 1e-39f * (float)(i - 159);
    for (int i = 192; i < 224; i++)
        x[i] = NAN;
    for (int i = 224; i < 256; i++)
        x[i] = i % 3 ? INFINITY : -INFINITY;
    for (int i = 288; i < 320; i++)
        x[i] = rnd_f(-0.5f, 0.5f);
    x[300] = NAN;
    x[301] = 1.0f;
    x[600] = INFINITY;
    static int8_t qs[3][K];
    static float d[3][K / 32];
    static int32_t s[3][K / 32];
    static uint8_t xu[3][K];
    static kern__q8k_t xk[3][K / QK_K];
    const int best = kern__cpu_isa();
    for (int level = 0; level <= best; level++) {
        kern__force_isa(level);
        kern__isa()->quant_q8a(x, K, qs[level], d[level], s[level], xu[level]);
        kern__isa()->quant_q8k(x, K, xk[level]);
    }
    kern__force_isa(best);
    for (int b = 0; b < K / 32; b++) {
        int32_t sum = 0;
        for (int i = 32 * b; i < 32 * b + 32; i++) {
            assert_true(qs[0][i] >= -127 && qs[0][i] <= 127);
            if (isnan(x[i])) assert_int_equal(qs[0][i], 0);
            sum += qs[0][i];
        }
        assert_int_equal(sum, s[0][b]);
    }
    assert_int_equal(qs[0][301], 127); /* the NaN beside it does not count in the block's amax */
    assert_true(d[0][1] == INFINITY && d[0][6] == 0.0f);
    for (int b = 0; b < K / QK_K; b++)
        for (int g = 0; g < 16; g++) {
            int32_t sum = 0;
            for (int i = 16 * g; i < 16 * g + 16; i++) {
                assert_true(xk[0][b].qs[i] >= -127 && xk[0][b].qs[i] <= 127);
                sum += xk[0][b].qs[i];
            }
            assert_int_equal(sum, xk[0][b].bsums[g]);
        }
    for (int level = 1; level <= best; level++) {
        assert_memory_equal(qs[level], qs[0], sizeof qs[0]);
        assert_memory_equal(d[level], d[0], sizeof d[0]);
        assert_memory_equal(s[level], s[0], sizeof s[0]);
        assert_memory_equal(xk[level], xk[0], sizeof xk[0]);
        assert_memory_equal(xu[level], xu[0], sizeof xu[0]);
    }
}

/* ---- matmul ------------------------------------------------------------------------------------------------- */

typedef struct {
    kern_weight_t W;
    void *data;
    float *deq; /* (rows, cols) */
} test_weight_t;

static void make_weight(test_weight_t *tw, dtype_t t, int64_t rows, int64_t cols) {
    const size_t rb = (size_t)dtype_row_bytes(t, cols);
    tw->data = malloc(rb * (size_t)rows);
    tw->deq = malloc(sizeof(float) * (size_t)(rows * cols));
    assert_non_null(tw->data);
    assert_non_null(tw->deq);
    for (int64_t r = 0; r < rows; r++)
        fill_random(t, (uint8_t *)tw->data + r * rb, cols);
    tw->W = (kern_weight_t){t, rows, cols, tw->data, rb};
    kern__force_isa(KERN__ISA_SCALAR);
    assert_int_equal(kern_dequant(t, tw->data, tw->deq, rows * cols), 0);
    kern__force_isa(kern__cpu_isa());
}

static void free_weight(test_weight_t *tw) {
    free(tw->data);
    free(tw->deq);
}

/*
 * Checks Y (n, rows) against a double-precision loop over the dequantized weight. The tolerance allows float
 * rounding (relative to sum |w||x| plus the offsets the integer kernels carry) and, for the quantized types,
 * the 8-bit rounding of the activations: |x - d q| <= d/2 with d = amax(block)/127, blocks of 32 (Q8_0, Q4_0)
 * or 256 (Q4_K, Q6_K).
 */
static void check_against_naive(const test_weight_t *tw, const float *X, int64_t n, const float *Y, const char *what,
                                double *mag_out) {
    const kern_weight_t *W = &tw->W;
    const int64_t K = W->cols, qb = is_kquant(W->type) ? 256 : 32;
    for (int64_t j = 0; j < n; j++) {
        const float *x = X + j * K;
        for (int64_t r = 0; r < W->rows; r++) {
            const float *w = tw->deq + r * K;
            double ref = 0, mag = 0, qerr = 0;
            for (int64_t b = 0; b < K; b += 32) { /* per 32 values: the weight block's largest magnitude */
                float wmax = 0;
                for (int64_t i = b; i < b + 32 && i < K; i++)
                    wmax = fmaxf(wmax, fabsf(w[i]));
                for (int64_t i = b; i < b + 32 && i < K; i++) {
                    ref += (double)w[i] * x[i];
                    mag += ((double)fabsf(w[i]) + (is_quant(W->type) ? 2.0 * wmax : 0.0)) * fabs((double)x[i]);
                }
            }
            if (is_quant(W->type)) {
                for (int64_t b = 0; b < K; b += qb) {
                    float amax = 0;
                    for (int64_t i = b; i < b + qb; i++)
                        amax = fmaxf(amax, fabsf(x[i]));
                    for (int64_t i = b; i < b + qb; i++)
                        qerr += fabs((double)w[i]) * amax / 127.0 * 0.5;
                }
            }
            const double tol = 2e-5 * mag + qerr * 1.001 + 1e-7;
            if (mag_out) mag_out[j * W->rows + r] = mag;
            const double got = Y[j * W->rows + r];
            if (!(fabs(got - ref) <= tol)) {
                print_error("%s: type %s n %lld rows %lld cols %lld: Y[%lld][%lld] = %.9g, want %.9g (tol %.3g)\n",
                            what, dtype_name(W->type), (long long)n, (long long)W->rows, (long long)K, (long long)j,
                            (long long)r, got, ref, tol);
                fail();
            }
        }
    }
}

static void run_matmul_matrix(int n_threads) {
    kern_pool_t *pool = NULL;
    kern_ctx_t *k = NULL;
    assert_int_equal(kern_pool_create(n_threads, &pool), 0);
    assert_int_equal(kern_ctx_create(pool, 512, 1000, 40, &k), 0);
    assert_ptr_equal(kern_ctx_pool(k), pool);
    static const int64_t rows_list[] = {1, 7, 33, 70};
    static const int64_t n_list[] = {1, 2, 3, 4, 5, 16, 17, 40};
    const int best = kern__cpu_isa();
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const dtype_t t = all_types[ti];
        const int64_t cols = is_kquant(t)                                   ? 512
                             : (t == DT_F32 || t == DT_F16 || t == DT_BF16) ? 100
                                                                            : 96;
        for (size_t ri = 0; ri < sizeof rows_list / sizeof rows_list[0]; ri++) {
            const int64_t rows = rows_list[ri];
            test_weight_t tw;
            make_weight(&tw, t, rows, cols);
            float *X = malloc(sizeof(float) * 40 * (size_t)cols);
            float *Y = malloc(sizeof(float) * 40 * (size_t)rows);
            float *Y0 = malloc(sizeof(float) * 40 * (size_t)rows);
            double *mag = malloc(sizeof(double) * 40 * (size_t)rows);
            for (int64_t i = 0; i < 40 * cols; i++)
                X[i] = rnd_normalish() * (i % 53 == 0 ? 8.0f : 1.0f);
            for (size_t ni = 0; ni < sizeof n_list / sizeof n_list[0]; ni++) {
                const int64_t n = n_list[ni];
                for (int level = 0; level <= best; level++) {
                    kern__force_isa(level);
                    for (int64_t i = 0; i < n * rows; i++)
                        Y[i] = NAN;
                    assert_int_equal(kern_matmul(k, &tw.W, X, n, Y), 0);
                    char what[64];
                    snprintf(what, sizeof what, "isa %s threads %d", kern_isa_name(), n_threads);
                    check_against_naive(&tw, X, n, Y, what, mag);
                    if (level == 0) {
                        memcpy(Y0, Y, sizeof(float) * (size_t)(n * rows));
                    } else if (n < 4 && !(is_kquant(t) && !kern__rowdot_path(t, n))) {
                        /* same activation quantization (row dots, or AVX2's multi-row dots of the 32-value types
                         * on q8a as well): the SIMD result may differ from the portable one by float summation
                         * order only. AVX2's K-quant multi-row dots take q8a rows where the row dots take q8k. */
                        for (int64_t i = 0; i < n * rows; i++) {
                            const double tol = 1e-5 * mag[i] + 1e-9;
                            if (!(fabs((double)Y[i] - Y0[i]) <= tol)) {
                                print_error("%s %s n %lld: scalar %.9g simd %.9g\n", what, dtype_name(t), (long long)n,
                                            Y0[i], Y[i]);
                                fail();
                            }
                        }
                    }
                }
            }
            kern__force_isa(best);
            free(X);
            free(Y);
            free(Y0);
            free(mag);
            free_weight(&tw);
        }
    }
    kern_ctx_free(k);
    kern_pool_free(pool);
}

static void test_matmul_1_thread(void **state) {
    (void)state;
    run_matmul_matrix(1);
}

static void test_matmul_2_threads(void **state) {
    (void)state;
    run_matmul_matrix(2);
}

/*
 * Activation rows poisoned with NaN, inf and huge values through every matmul path (row dots, GEMMs, BLAS) at
 * every ISA: no undefined behaviour (UBSan runs this), and the clean rows of the same batch come out exactly as
 * when no row is poisoned (the paths keep tokens apart; the rows' split over threads does not depend on values).
 */
static void test_matmul_nonfinite(void **state) {
    (void)state;
    kern_pool_t *pool = NULL;
    kern_ctx_t *k = NULL;
    assert_int_equal(kern_pool_create(2, &pool), 0);
    assert_int_equal(kern_ctx_create(pool, 512, 100, 40, &k), 0);
    static const int64_t n_list[] = {1, 3, 5, 16, 40};
    const int best = kern__cpu_isa();
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const dtype_t t = all_types[ti];
        const int64_t cols = 512, rows = 37;
        test_weight_t tw;
        make_weight(&tw, t, rows, cols);
        float *X = malloc(sizeof(float) * 40 * cols), *Xc = malloc(sizeof(float) * 40 * cols);
        float *Y = malloc(sizeof(float) * 40 * rows), *Yc = malloc(sizeof(float) * 40 * rows);
        assert_true(X && Xc && Y && Yc);
        for (int64_t i = 0; i < 40 * cols; i++)
            Xc[i] = X[i] = rnd_normalish();
        static const float poison[] = {NAN, INFINITY, -INFINITY, 3.0e38f, -3.0e38f};
        for (int64_t j = 1; j < 40; j += 2) /* odd rows: one or several poisoned values */
            for (int64_t c = j % 7; c < cols; c += 37 + j)
                X[j * cols + c] = poison[(j + c) % 5];
        for (size_t ni = 0; ni < sizeof n_list / sizeof n_list[0]; ni++) {
            const int64_t n = n_list[ni];
            for (int level = 0; level <= best; level++) {
                kern__force_isa(level);
                assert_int_equal(kern_matmul(k, &tw.W, X, n, Y), 0);
                assert_int_equal(kern_matmul(k, &tw.W, Xc, n, Yc), 0);
                for (int64_t j = 0; j < n; j += 2)
                    if (memcmp(Y + j * rows, Yc + j * rows, sizeof(float) * rows) != 0)
                        fail_msg("%s isa %s n %lld: clean row %lld changed by poisoned rows", dtype_name(t),
                                 kern_isa_name(), (long long)n, (long long)j);
            }
            kern__force_isa(best);
        }
        free(X);
        free(Xc);
        free(Y);
        free(Yc);
        free_weight(&tw);
    }
    kern_ctx_free(k);
    kern_pool_free(pool);
}

/*
 * A wide weight over several GEMM panels and BLAS tiles, uneven row count, 3 threads (the GEMM also splits the
 * tokens then); the result must be bit-identical to a 1-thread run.
 */
static void test_matmul_large(void **state) {
    (void)state;
    kern_pool_t *pool = NULL, *pool1 = NULL;
    kern_ctx_t *k = NULL, *k1 = NULL;
    assert_int_equal(kern_pool_create(3, &pool), 0);
    assert_int_equal(kern_ctx_create(pool, 768, 300, 70, &k), 0);
    assert_int_equal(kern_pool_create(1, &pool1), 0);
    assert_int_equal(kern_ctx_create(pool1, 768, 300, 70, &k1), 0);
    const dtype_t types[] = {DT_Q8_0, DT_Q4_0, DT_F16, DT_Q6_K, DT_Q5_K, DT_Q3_K, DT_Q5_1, DT_IQ4_NL, DT_Q2_K};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        test_weight_t tw;
        make_weight(&tw, types[ti], 291, 768);
        const int64_t n = 70;
        float *X = malloc(sizeof(float) * (size_t)(n * 768));
        float *Y = malloc(sizeof(float) * (size_t)(n * 291)), *Y1 = malloc(sizeof(float) * (size_t)(n * 291));
        for (int64_t i = 0; i < n * 768; i++)
            X[i] = rnd_normalish();
        assert_int_equal(kern_matmul(k, &tw.W, X, n, Y), 0);
        check_against_naive(&tw, X, n, Y, "large", NULL);
        assert_int_equal(kern_matmul(k1, &tw.W, X, n, Y1), 0);
        assert_memory_equal(Y, Y1, sizeof(float) * (size_t)(n * 291));
        free(Y1);
        assert_int_equal(kern_matmul(k, &tw.W, X, 1, Y), 0);
        check_against_naive(&tw, X, 1, Y, "large n=1", NULL);
        free(X);
        free(Y);
        free_weight(&tw);
    }
    kern_ctx_free(k);
    kern_pool_free(pool);
    kern_ctx_free(k1);
    kern_pool_free(pool1);
}

/*
 * Moderate batches (n = 2..40, where the multi-row paths run: every quantized type with AVX2, the 32-value block
 * types with AVX-512 VNNI, F16 and BF16 with both; the packed GEMM or BLAS above their thresholds): every n against the naive loop, for several
 * row counts and widths (odd and even block counts; blocks in groups of 8 and a tail), 1-3 threads, every ISA; each
 * row against the same row in a batch of 40 (the GEMM, same q8a activations; BLAS for F16 / BF16) within float
 * summation order; and, but for the K-quants, each activation row against the same row computed alone (n = 1, the
 * row dots).
 */
static void test_matmul_moderate_n(void **state) {
    (void)state;
    const uint64_t saved_rng = rng_state; /* the tests after this one keep their inputs */
    rng_state = 0x2545F4914F6CDD1Dull;
    static const dtype_t types[] = {DT_Q8_0, DT_Q4_0, DT_Q4_1, DT_Q5_0, DT_Q5_1, DT_IQ4_NL,
                                    DT_Q2_K, DT_Q3_K, DT_Q4_K, DT_Q5_K, DT_Q6_K, DT_F16,  DT_BF16};
    static const int64_t rows_list[] = {1, 7, 33, 70};
    static const int64_t cols_list[] = {96, 320}, kcols_list[] = {256, 768}, fcols_list[] = {100, 320};
    const int best = kern__cpu_isa();
    for (int n_threads = 1; n_threads <= 3; n_threads++) {
        kern_pool_t *pool = NULL;
        kern_ctx_t *k = NULL;
        assert_int_equal(kern_pool_create(n_threads, &pool), 0);
        assert_int_equal(kern_ctx_create(pool, 768, 100, 41, &k), 0);
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++)
            for (size_t ci = 0; ci < sizeof cols_list / sizeof cols_list[0]; ci++)
                for (size_t ri = 0; ri < sizeof rows_list / sizeof rows_list[0]; ri++) {
                    const int64_t rows = rows_list[ri];
                    const int64_t cols = is_kquant(types[ti])  ? kcols_list[ci]
                                         : is_quant(types[ti]) ? cols_list[ci]
                                                               : fcols_list[ci];
                    if (n_threads != 2 && ri % 2 == 1) continue; /* keep the run short: all shapes on 2 threads */
                    test_weight_t tw;
                    make_weight(&tw, types[ti], rows, cols);
                    float *X = malloc(sizeof(float) * 41 * (size_t)cols);
                    float *Y = malloc(sizeof(float) * 41 * (size_t)rows);
                    float *Y1 = malloc(sizeof(float) * (size_t)rows);
                    float *Y40 = malloc(sizeof(float) * 40 * (size_t)rows);
                    double *mag = malloc(sizeof(double) * 41 * (size_t)rows);
                    assert_true(X && Y && Y1 && Y40 && mag);
                    for (int64_t i = 0; i < 41 * cols; i++)
                        X[i] = rnd_normalish() * (i % 37 == 0 ? 8.0f : 1.0f);
                    for (int level = 0; level <= best; level++) {
                        kern__force_isa(level);
                        /* with VNNI every n here quantizes the activations as n = 1 does, whatever the path
                         * (multi-row dots up to the threshold, packed GEMM above): only float order differs */
                        const bool int8_paths = kern__isa()->gemm_q8 != NULL;
                        assert_int_equal(kern_matmul(k, &tw.W, X, 40, Y40), 0);
                        const bool alone = int8_paths && !is_kquant(types[ti]); /* n = 1 takes q8k rows */
                        /* every n of the multi-row ranges at the SIMD levels; a sample of the rest */
                        for (int64_t n = 2; n <= 40; n += (level > 0 && n < 17) || n < 4 ? 1 : 9) {
                            for (int64_t i = 0; i < n * rows; i++)
                                Y[i] = NAN;
                            assert_int_equal(kern_matmul(k, &tw.W, X, n, Y), 0);
                            char what[96];
                            snprintf(what, sizeof what, "moderate n: isa %s threads %d", kern_isa_name(), n_threads);
                            check_against_naive(&tw, X, n, Y, what, mag);
                            /* the K-quants' row dots take q8k rows, their other paths q8a */
                            const bool same_q = int8_paths && !(is_kquant(types[ti]) && kern__rowdot_path(types[ti], n));
                            for (int64_t j = 0; j < n && same_q; j++)
                                for (int64_t r = 0; r < rows; r++) {
                                    const double tol = 1e-5 * mag[j * rows + r] + 1e-9;
                                    if (!(fabs((double)Y[j * rows + r] - Y40[j * rows + r]) <= tol)) {
                                        print_error("%s %s n %lld row %lld: %.9g, at n = 40 %.9g\n", what,
                                                    dtype_name(types[ti]), (long long)n, (long long)j, Y[j * rows + r],
                                                    Y40[j * rows + r]);
                                        fail();
                                    }
                                }
                            for (int64_t j = 0; j < n && alone; j += (n > 8 ? 5 : 1)) { /* rows alone */
                                assert_int_equal(kern_matmul(k, &tw.W, X + j * cols, 1, Y1), 0);
                                for (int64_t r = 0; r < rows; r++) {
                                    const double tol = 1e-5 * mag[j * rows + r] + 1e-9;
                                    if (!(fabs((double)Y[j * rows + r] - Y1[r]) <= tol)) {
                                        print_error("%s %s n %lld row %lld: batched %.9g alone %.9g\n", what,
                                                    dtype_name(types[ti]), (long long)n, (long long)j, Y[j * rows + r],
                                                    Y1[r]);
                                        fail();
                                    }
                                }
                            }
                        }
                    }
                    kern__force_isa(best);
                    free(X);
                    free(Y);
                    free(Y1);
                    free(Y40);
                    free(mag);
                    free_weight(&tw);
                }
        kern_ctx_free(k);
        kern_pool_free(pool);
    }
    rng_state = saved_rng;
}

/*
 * The multi-row dots at every batch size, whatever the thresholds pick (kern__force_multi): each type that has them
 * at an ISA level, for 1..40 activation rows (partial vectors of 8 and 16 rows, several groups of 16), odd and even
 * row counts and block counts, 1 and 2 threads, against the naive loop.
 */
static void test_matmul_multi_forced(void **state) {
    (void)state;
    const uint64_t saved_rng = rng_state;
    rng_state = 0x9E3779B97F4A7C15ull;
    static const int64_t n_list[] = {1, 2, 3, 5, 7, 8, 9, 13, 16, 17, 24, 33, 40};
    static const int64_t rows_list[] = {1, 7, 34};
    const int best = kern__cpu_isa();
    for (int n_threads = 1; n_threads <= 2; n_threads++) {
        kern_pool_t *pool = NULL;
        kern_ctx_t *k = NULL;
        assert_int_equal(kern_pool_create(n_threads, &pool), 0);
        assert_int_equal(kern_ctx_create(pool, 768, 100, 40, &k), 0);
        for (size_t ti = 0; ti < N_TYPES; ti++) {
            const dtype_t t = all_types[ti];
            for (int wide = 0; wide < 2; wide++)
                for (size_t ri = 0; ri < sizeof rows_list / sizeof rows_list[0]; ri++) {
                    const int64_t rows = rows_list[ri];
                    const int64_t cols = is_kquant(t) ? (wide ? 768 : 256) : is_quant(t) ? (wide ? 352 : 96)
                                                                                         : (wide ? 300 : 100);
                    test_weight_t tw;
                    make_weight(&tw, t, rows, cols);
                    float *X = malloc(sizeof(float) * 40 * (size_t)cols), *Y = malloc(sizeof(float) * 40 * (size_t)rows);
                    assert_true(X && Y);
                    for (int64_t i = 0; i < 40 * cols; i++)
                        X[i] = rnd_normalish() * (i % 41 == 0 ? 8.0f : 1.0f);
                    for (int level = 1; level <= best; level++) {
                        kern__force_isa(level);
                        if (!kern__isa()->rowdot_multi[t]) continue;
                        kern__force_multi(true);
                        for (size_t ni = 0; ni < sizeof n_list / sizeof n_list[0]; ni++) {
                            const int64_t n = n_list[ni];
                            for (int64_t i = 0; i < n * rows; i++)
                                Y[i] = NAN;
                            assert_int_equal(kern_matmul(k, &tw.W, X, n, Y), 0);
                            char what[96];
                            snprintf(what, sizeof what, "forced multi: isa %s threads %d", kern_isa_name(), n_threads);
                            check_against_naive(&tw, X, n, Y, what, NULL);
                        }
                        kern__force_multi(false);
                    }
                    kern__force_isa(best);
                    free(X);
                    free(Y);
                    free_weight(&tw);
                }
        }
        kern_ctx_free(k);
        kern_pool_free(pool);
    }
    rng_state = saved_rng;
}

static void test_matmul_multi(void **state) {
    (void)state;
    kern_pool_t *pool = NULL;
    kern_ctx_t *k = NULL;
    assert_int_equal(kern_pool_create(2, &pool), 0);
    assert_int_equal(kern_ctx_create(pool, 256, 200, 20, &k), 0);
    const dtype_t types[] = {DT_Q8_0, DT_Q6_K, DT_Q4_K, DT_F16, DT_Q4_0};
    enum { NW = 5 };
    test_weight_t tw[NW];
    const kern_weight_t *Ws[NW];
    float *Ys[NW], *Y1[NW];
    const int64_t rows[NW] = {64, 20, 33, 17, 200};
    for (int i = 0; i < NW; i++) {
        make_weight(&tw[i], types[i], rows[i], 256);
        Ws[i] = &tw[i].W;
        Ys[i] = malloc(sizeof(float) * 20 * (size_t)rows[i]);
        Y1[i] = malloc(sizeof(float) * 20 * (size_t)rows[i]);
    }
    float X[20 * 256];
    for (int i = 0; i < 20 * 256; i++)
        X[i] = rnd_normalish();
    static const int64_t n_list[] = {1, 3, 6, 20};
    for (size_t ni = 0; ni < 4; ni++) {
        const int64_t n = n_list[ni];
        assert_int_equal(kern_matmul_multi(k, Ws, NW, X, n, Ys), 0);
        for (int i = 0; i < NW; i++) {
            check_against_naive(&tw[i], X, n, Ys[i], "multi", NULL);
            assert_int_equal(kern_matmul(k, Ws[i], X, n, Y1[i]), 0);
            assert_memory_equal(Ys[i], Y1[i], sizeof(float) * (size_t)(n * rows[i]));
        }
    }
    /* mismatched cols and too many weights are refused */
    test_weight_t other;
    make_weight(&other, DT_Q8_0, 4, 128);
    const kern_weight_t *bad[2] = {Ws[0], &other.W};
    assert_int_equal(kern_matmul_multi(k, bad, 2, X, 1, Ys), ERR_INVAL);
    assert_int_equal(kern_matmul_multi(k, Ws, 9, X, 1, Ys), ERR_INVAL);
    assert_int_equal(kern_matmul_multi(k, Ws, 0, X, 1, Ys), ERR_INVAL);
    free_weight(&other);
    for (int i = 0; i < NW; i++) {
        free_weight(&tw[i]);
        free(Ys[i]);
        free(Y1[i]);
    }
    kern_ctx_free(k);
    kern_pool_free(pool);
}

/*
 * The row dots of the 18-byte block types (IQ4_NL, Q4_0) called directly, at every ISA level, against a double
 * loop over the dequantized weights and the dequantized q8a activations (d * q), so that only float rounding
 * separates them: widths with 8-block groups and a tail (1, 7, 8, 9, 17, 24, 27 blocks) and 1..9 rows per call
 * (AVX-512 VNNI does IQ4_NL rows 4 at a time, then 1). Also: a call over nr rows gives each row bit for bit what
 * a call over that row alone gives (rows done together share nothing but the activations).
 */
static void test_rowdot_b18(void **state) {
    (void)state;
    const uint64_t saved_rng = rng_state;
    rng_state = 0xD1B54A32D192ED03ull;
    static const dtype_t types[] = {DT_IQ4_NL, DT_Q4_0};
    static const int64_t nb_list[] = {1, 7, 8, 9, 17, 24, 27};
    enum { MAX_NB = 27, MAX_R = 9 };
    static uint8_t wq[MAX_R * MAX_NB * 18];
    static float wd[MAX_R * MAX_NB * 32], x[MAX_NB * 32], xd[MAX_NB], y[MAX_R], y1[1];
    static int8_t qs[MAX_NB * 32];
    static int32_t xs[MAX_NB];
    const int best = kern__cpu_isa();
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++)
        for (size_t ki = 0; ki < sizeof nb_list / sizeof nb_list[0]; ki++) {
            const int64_t nb = nb_list[ki], K = 32 * nb;
            const size_t rb = (size_t)dtype_row_bytes(types[ti], K);
            assert_int_equal(rb, (size_t)nb * 18);
            for (int64_t r = 0; r < MAX_R; r++)
                fill_random(types[ti], wq + r * rb, K);
            assert_int_equal(kern_dequant(types[ti], wq, wd, MAX_R * K), 0);
            for (int64_t i = 0; i < K; i++)
                x[i] = rnd_normalish() * (i % 29 == 0 ? 6.0f : 1.0f);
            kern__quant_q8a_scalar(x, K, qs, xd, xs, NULL);
            const kern__q8a_t xa = {qs, xd, xs, K, NULL, NULL};
            for (int level = 0; level <= best; level++) {
                assert_int_equal(kern__force_isa(level), level);
                const kern__rowdot_fn dot = kern__isa()->rowdot[types[ti]];
                for (int64_t nr = 1; nr <= MAX_R; nr++) {
                    for (int64_t r = 0; r < MAX_R; r++)
                        y[r] = NAN;
                    dot(wq, rb, nr, &xa, K, y);
                    for (int64_t r = 0; r < MAX_R; r++) {
                        if (r >= nr) { /* rows past nr are not written */
                            assert_true(isnan(y[r]));
                            continue;
                        }
                        double ref = 0, mag = 0;
                        for (int64_t b = 0; b < nb; b++) {
                            uint16_t dh;
                            memcpy(&dh, wq + r * rb + 18 * b, 2);
                            const double dw = fabs((double)kern_fp16_to_fp32(dh));
                            for (int64_t i = 32 * b; i < 32 * b + 32; i++) {
                                const double xi = (double)xd[b] * qs[i];
                                ref += (double)wd[r * K + i] * xi;
                                mag += (fabs((double)wd[r * K + i]) + 256.0 * dw) * fabs(xi); /* offsets up to 128 */
                            }
                        }
                        if (!(fabs((double)y[r] - ref) <= 1e-5 * mag + 1e-12)) {
                            print_error("rowdot %s isa %s K %lld nr %lld row %lld: %.9g, want %.9g (mag %.3g)\n",
                                        dtype_name(types[ti]), kern_isa_name(), (long long)K, (long long)nr,
                                        (long long)r, y[r], ref, mag);
                            fail();
                        }
                        y1[0] = NAN;
                        dot(wq + r * rb, rb, 1, &xa, K, y1);
                        assert_memory_equal(&y1[0], &y[r], sizeof(float));
                    }
                }
            }
            kern__force_isa(best);
        }
    rng_state = saved_rng;
}

static void test_matmul_invalid(void **state) {
    (void)state;
    kern_pool_t *pool = NULL;
    kern_ctx_t *k = NULL;
    assert_int_equal(kern_pool_create(1, &pool), 0);
    assert_int_equal(kern_ctx_create(NULL, 64, 8, 4, &k), ERR_INVAL);
    assert_int_equal(kern_ctx_create(pool, 0, 8, 4, &k), ERR_INVAL);
    assert_int_equal(kern_ctx_create(pool, 64, 8, 0, &k), ERR_INVAL);
    assert_int_equal(kern_ctx_create(pool, 64, 8, 4, &k), 0);
    test_weight_t tw;
    make_weight(&tw, DT_Q8_0, 8, 64);
    float X[5 * 128] = {0}, Y[5 * 8];
    kern_weight_t W = tw.W;
    assert_int_equal(kern_matmul(k, &W, X, 0, Y), ERR_INVAL);
    assert_int_equal(kern_matmul(k, &W, X, 5, Y), ERR_INVAL); /* above max_batch */
    assert_int_equal(kern_matmul(k, &W, NULL, 1, Y), ERR_INVAL);
    assert_int_equal(kern_matmul(k, &W, X, 1, NULL), ERR_INVAL);
    assert_int_equal(kern_matmul(NULL, &W, X, 1, Y), ERR_INVAL);
    W.row_bytes = 33;
    assert_int_equal(kern_matmul(k, &W, X, 1, Y), ERR_INVAL);
    W = tw.W;
    W.cols = 48; /* not a whole number of blocks */
    assert_int_equal(kern_matmul(k, &W, X, 1, Y), ERR_INVAL);
    W = tw.W;
    W.cols = 128; /* above max_cols */
    W.row_bytes = (size_t)dtype_row_bytes(DT_Q8_0, 128);
    assert_int_equal(kern_matmul(k, &W, X, 1, Y), ERR_INVAL);
    W = tw.W;
    W.type = (dtype_t)16; /* IQ2_XXS */
    assert_int_equal(kern_matmul(k, &W, X, 1, Y), ERR_INVAL);
    W = tw.W;
    W.data = NULL;
    assert_int_equal(kern_matmul(k, &W, X, 1, Y), ERR_INVAL);
    W = tw.W;
    W.rows = 0;
    assert_int_equal(kern_matmul(k, &W, X, 1, Y), ERR_INVAL);
    assert_int_equal(kern_matmul(k, &tw.W, X, 4, Y), 0);
    free_weight(&tw);
    kern_ctx_free(k);
    kern_ctx_free(NULL);
    kern_pool_free(pool);
}

static void test_sgemm_wrappers(void **state) {
    (void)state;
    enum { M = 5, N = 7, KK = 9, LDA = 11, LDB = 10, LDC = 8 };
    float A[M * LDA], Bt[N * LDB], B[KK * LDB], C[M * LDC], C0[M * LDC];
    for (int i = 0; i < M * LDA; i++)
        A[i] = rnd_normalish();
    for (int i = 0; i < N * LDB; i++)
        Bt[i] = rnd_normalish();
    for (int i = 0; i < KK * LDB; i++)
        B[i] = rnd_normalish();
    for (int i = 0; i < M * LDC; i++)
        C[i] = C0[i] = rnd_normalish();
    assert_int_equal(kern_sgemm_nt(M, N, KK, 0.5f, A, LDA, Bt, LDB, C, LDC), 0);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int l = 0; l < KK; l++)
                s += (double)A[i * LDA + l] * Bt[j * LDB + l];
            assert_true(fabs(C[i * LDC + j] - 0.5 * s) < 1e-5);
        }
    assert_true(C[LDC - 1] == C0[LDC - 1]); /* column N, in the ldc padding, is untouched */
    memcpy(C, C0, sizeof C);
    assert_int_equal(kern_sgemm_nn(M, N, KK, 2.0f, A, LDA, B, LDB, 1.0f, C, LDC), 0);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int l = 0; l < KK; l++)
                s += (double)A[i * LDA + l] * B[l * LDB + j];
            assert_true(fabs(C[i * LDC + j] - (2.0 * s + C0[i * LDC + j])) < 1e-5);
        }
    assert_int_equal(kern_sgemm_nt(M, N, KK, 1.0f, A, KK - 1, Bt, LDB, C, LDC), ERR_INVAL);     /* lda < k */
    assert_int_equal(kern_sgemm_nn(M, N, KK, 1.0f, A, LDA, B, N - 1, 0.0f, C, LDC), ERR_INVAL); /* ldb < n */
    assert_int_equal(kern_sgemm_nt(0, N, KK, 1.0f, A, LDA, Bt, LDB, C, LDC), ERR_INVAL);
    assert_int_equal(kern_sgemm_nt(M, N, KK, 1.0f, NULL, LDA, Bt, LDB, C, LDC), ERR_INVAL);
}

/* ---- thread pool -------------------------------------------------------------------------------------------- */

typedef struct {
    _Atomic int64_t sum;
    int seen[8];
    int nth_seen;
    int64_t round;
} pool_job_t;

static void pool_fn(void *arg, int ith, int nth) {
    pool_job_t *j = arg;
    j->seen[ith]++; /* each thread writes only its own slot */
    if (ith == 0) j->nth_seen = nth;
    atomic_fetch_add(&j->sum, j->round * (ith + 1));
}

static void test_pool(void **state) {
    (void)state;
    kern_pool_t *p = NULL;
    assert_int_equal(kern_pool_create(0, &p), ERR_INVAL);
    assert_int_equal(kern_pool_create(257, &p), ERR_INVAL);
    kern_pool_free(NULL);
    for (int nth = 1; nth <= 4; nth++) {
        assert_int_equal(kern_pool_create(nth, &p), 0);
        assert_int_equal(kern_pool_n_threads(p), nth);
        pool_job_t j;
        memset(&j, 0, sizeof j);
        int64_t want = 0;
        for (int64_t round = 1; round <= 2000; round++) {
            j.round = round;
            kern_pool_run(p, pool_fn, &j);
            want += round * nth * (nth + 1) / 2;
            assert_int_equal(atomic_load(&j.sum), want); /* every call finished before run returned */
        }
        for (int i = 0; i < nth; i++)
            assert_int_equal(j.seen[i], 2000);
        assert_int_equal(j.nth_seen, nth);
        /* after the spin period the workers sleep; a run must still wake them all */
        struct timespec ts = {0, (long)(KERN_POOL_SPIN_US * 3 + 2000) * 1000};
        nanosleep(&ts, NULL);
        j.round = 1;
        kern_pool_run(p, pool_fn, &j);
        for (int i = 0; i < nth; i++)
            assert_int_equal(j.seen[i], 2001);
        kern_pool_free(p);
    }
}

/* ---- vector ops --------------------------------------------------------------------------------------------- */

static void check_ops(int level) {
    static const int64_t sizes[] = {1, 7, 8, 33, 100, 576};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        const int64_t n = sizes[si];
        float a[576], b[576], y[576], y2[576], w[576];
        for (int64_t i = 0; i < n; i++) {
            a[i] = rnd_normalish() * 3.0f;
            b[i] = rnd_normalish();
            w[i] = rnd_f(0.5f, 1.5f);
        }
        double dot = 0, mag = 0, ss = 0;
        for (int64_t i = 0; i < n; i++) {
            dot += (double)a[i] * b[i];
            mag += fabs((double)a[i] * b[i]);
            ss += (double)a[i] * a[i];
        }
        assert_true(fabs(kern_dot_f32(a, b, n) - dot) <= 1e-6 * mag + 1e-30);
        memcpy(y, b, sizeof(float) * (size_t)n);
        kern_axpy_f32(0.75f, a, y, n);
        for (int64_t i = 0; i < n; i++)
            assert_true(fabsf(y[i] - (b[i] + 0.75f * a[i])) <= 1e-6f * (fabsf(a[i]) + fabsf(b[i])));
        kern_rmsnorm(a, w, 1e-5f, y, n);
        const double scale = 1.0 / sqrt(ss / (double)n + 1e-5);
        for (int64_t i = 0; i < n; i++)
            assert_true(fabs(y[i] - a[i] * scale * w[i]) <= 1e-5 * fabs(a[i] * scale * w[i]) + 1e-7);
        memcpy(y2, a, sizeof(float) * (size_t)n);
        kern_rmsnorm(y2, w, 1e-5f, y2, n); /* in place */
        assert_memory_equal(y2, y, sizeof(float) * (size_t)n);
        kern_silu_mul(a, b, y, n);
        for (int64_t i = 0; i < n; i++) {
            const double want = a[i] / (1.0 + exp(-(double)a[i])) * b[i];
            assert_true(fabs(y[i] - want) <= 1e-6 * fabs(want) + 1e-30);
        }
        memcpy(y2, a, sizeof(float) * (size_t)n);
        kern_silu_mul(y2, b, y2, n); /* out aliases gate */
        assert_memory_equal(y2, y, sizeof(float) * (size_t)n);
        memcpy(y, a, sizeof(float) * (size_t)n);
        if (n > 3) y[2] = -INFINITY; /* a masked position */
        kern_softmax(y, n);
        double mx = -INFINITY, den = 0, total = 0;
        for (int64_t i = 0; i < n; i++)
            if (!(n > 3 && i == 2)) mx = fmax(mx, a[i]);
        for (int64_t i = 0; i < n; i++)
            if (!(n > 3 && i == 2)) den += exp((double)a[i] - mx);
        for (int64_t i = 0; i < n; i++) {
            const double want = (n > 3 && i == 2) ? 0.0 : exp((double)a[i] - mx) / den;
            assert_true(fabs(y[i] - want) <= 1e-6 * want + 1e-30);
            total += y[i];
        }
        assert_true(fabs(total - 1.0) < 1e-5);
        (void)level;
    }
    /* silu and exp at the extremes: no NaN, exact zeros below the float range */
    float g[16] = {-200, -100, -88, -87, -20, -1e-3f, 0, 1e-3f, 1, 20, 88, 89, 100, 200, -0.0f, 5};
    float one[16], out[16];
    for (int i = 0; i < 16; i++)
        one[i] = 1.0f;
    kern_silu_mul(g, one, out, 16);
    for (int i = 0; i < 16; i++) {
        const double want = g[i] / (1.0 + exp(-(double)g[i]));
        assert_true(fabs(out[i] - want) <= 1e-6 * fabs(want) + 1e-30);
    }
    float all_masked[9];
    for (int i = 0; i < 9; i++)
        all_masked[i] = -INFINITY;
    kern_softmax(all_masked, 9);
    for (int i = 0; i < 9; i++)
        assert_true(all_masked[i] == 1.0f / 9.0f);
}

/* kern_gelu / kern_gelu_mul at every ISA: bitwise the F16 table's value (the input and gelu's value rounded to
 * F16, as llama.cpp), 0 at or below -10, the input itself at or above 10 and for NaN; in place; vector tails. */
static float gelu_want(float x) {
    if (x <= -10.0f) return 0.0f;
    if (x >= 10.0f || x != x) return x;
    const float h = kern_fp16_to_fp32(kern_fp32_to_fp16(x));
    const float g = 0.5f * h * (1.0f + tanhf(0.79788456080286535587989211986876f * h * (1.0f + 0.044715f * h * h)));
    return kern_fp16_to_fp32(kern_fp32_to_fp16(g));
}

static void check_gelu(int level) {
    (void)level;
    enum { N = 301 };
    float x[N], up[N], y[N], y2[N];
    static const float special[] = {-10.0f, 10.0f, -9.999f, 9.999f, -10.001f, 10.001f, 0.0f, -0.0f, 1e-8f, -1e-8f,
                                    6e-5f, 65504.0f, -65520.0f, 1e30f, -1e30f, INFINITY, -INFINITY, NAN};
    for (int i = 0; i < N; i++) {
        x[i] = i < (int)(sizeof special / sizeof special[0]) ? special[i] : rnd_normalish() * 4.0f;
        up[i] = rnd_normalish();
    }
    for (int n = 1; n <= N; n += n < 20 ? 1 : 37) {
        kern_gelu(x, y, n);
        kern_gelu_mul(x, up, y2, n);
        for (int i = 0; i < n; i++) {
            const float w = gelu_want(x[i]);
            if (w != w) {
                assert_true(y[i] != y[i] && y2[i] != y2[i]);
                continue;
            }
            assert_memory_equal(&y[i], &w, sizeof w);
            const float wm = w * up[i];
            assert_memory_equal(&y2[i], &wm, sizeof wm);
        }
        memcpy(y2, x, sizeof(float) * (size_t)n);
        kern_gelu(y2, y2, n); /* in place */
        assert_memory_equal(y2, y, sizeof(float) * (size_t)n);
    }
}

static void test_gelu(void **state) {
    (void)state;
    for_each_isa(check_gelu);
}

/* kern_layernorm at every ISA against a double-precision LayerNorm, with and without a bias, in place too. */
static void check_layernorm(int level) {
    (void)level;
    static const int64_t sizes[] = {1, 7, 8, 33, 384, 769};
    static float x[769], w[769], b[769], y[769], y2[769];
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        const int64_t n = sizes[si];
        for (int64_t i = 0; i < n; i++) {
            x[i] = rnd_normalish() * 2.0f + 0.5f;
            w[i] = rnd_f(0.5f, 1.5f);
            b[i] = rnd_normalish() * 0.1f;
        }
        double mean = 0, var = 0;
        for (int64_t i = 0; i < n; i++) mean += x[i];
        mean /= (double)n;
        for (int64_t i = 0; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
        const double inv = 1.0 / sqrt(var / (double)n + 1e-5);
        for (int with_b = 0; with_b < 2; with_b++) {
            kern_layernorm(x, w, with_b ? b : NULL, 1e-5f, y, n);
            for (int64_t i = 0; i < n; i++) {
                const double want = (x[i] - mean) * inv * w[i] + (with_b ? b[i] : 0.0);
                assert_true(fabs(y[i] - want) <= 1e-5 * (fabs((x[i] - mean) * inv * w[i]) + 1.0));
            }
            memcpy(y2, x, sizeof(float) * (size_t)n);
            kern_layernorm(y2, w, with_b ? b : NULL, 1e-5f, y2, n); /* in place */
            assert_memory_equal(y2, y, sizeof(float) * (size_t)n);
        }
    }
}

static void test_layernorm(void **state) {
    (void)state;
    for_each_isa(check_layernorm);
}

static void test_ops(void **state) {
    (void)state;
    for_each_isa(check_ops);
}

/* kern_softmax (attention's softmax; a polynomial exp with SIMD) within a few float ulps of exp with a double sum,
 * at every ISA, over score ranges from flat to peaked, lengths with and without vector tails; the probabilities add
 * up to 1. */
static void check_softmax_ranges(int level) {
    (void)level;
    static const float spreads[] = {0.01f, 1.0f, 10.0f, 60.0f, 200.0f};
    static const int32_t lens[] = {1, 7, 8, 33, 1000};
    for (size_t si = 0; si < sizeof spreads / sizeof spreads[0]; si++)
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            const int32_t n = lens[li];
            float *x = malloc(sizeof(float) * (size_t)n);
            double *want = malloc(sizeof(double) * (size_t)n);
            assert_true(x && want);
            float mx = -INFINITY;
            double sum = 0.0, got_sum = 0.0;
            for (int32_t t = 0; t < n; t++) {
                x[t] = rnd_f(-1, 1) * spreads[si];
                if (x[t] > mx) mx = x[t];
            }
            for (int32_t t = 0; t < n; t++) /* x - max rounded to float, as in the code under test */
                sum += (want[t] = exp((double)(x[t] - mx)));
            kern_softmax(x, n);
            for (int32_t t = 0; t < n; t++) {
                const double w = want[t] / sum;
                got_sum += x[t];
                if (w > 1e-30)
                    assert_true(fabs(x[t] - w) <= 5e-7 * w + 1e-38);
                else
                    assert_true(x[t] >= 0.0f && x[t] <= 1.001e-30); /* below the float range: 0 */
            }
            assert_true(fabs(got_sum - 1.0) <= 1e-5);
            free(x);
            free(want);
        }
}

static void test_softmax_ranges(void **state) {
    (void)state;
    for_each_isa(check_softmax_ranges);
}

/*
 * kern_exp_det / kern_exp_weights (the sampler's weights): kern_exp_det within 1e-12 relative of libm's exp over
 * (-708, 0], 0 at and below -708 and for -inf and NaN, exactly 1 at 0 and for x > 0; kern_exp_weights equal to
 * the portable version bit for bit at every ISA, over random and edge arguments and lengths with vector tails.
 */
static float *g_ew_l, *g_ew_want;
static int64_t g_ew_n;
static void check_exp_weights(int level) {
    (void)level;
    float *got = malloc(sizeof(float) * (size_t)g_ew_n);
    assert_non_null(got);
    const float ms[] = {0.0f, 3.5f, -2.0f};
    const float ts[] = {1.0f, 0.8f, 0.013f, 7.0f};
    for (size_t mi = 0; mi < 3; mi++)
        for (size_t ti = 0; ti < 4; ti++) {
            for (int64_t len = g_ew_n; len >= g_ew_n - 9; len--) { /* every tail length */
                kern_exp_weights(g_ew_l, len, ms[mi], ts[ti], got);
                kern__exp_weights_scalar(g_ew_l, len, ms[mi], ts[ti], g_ew_want);
                for (int64_t i = 0; i < len; i++)
                    if (memcmp(&got[i], &g_ew_want[i], sizeof(float)) != 0)
                        fail_msg("isa %s: l %a m %g t %g: %a, portable %a", kern_isa_name(), (double)g_ew_l[i],
                                 (double)ms[mi], (double)ts[ti], (double)got[i], (double)g_ew_want[i]);
            }
        }
    free(got);
}

static void test_exp_det(void **state) {
    (void)state;
    for (int i = 0; i < 200000; i++) {
        const double x = -708.0 * (double)i / 200000.0 - rnd_f(0, 1) * 1e-3;
        if (!(x > -708.0)) continue;
        const double want = exp(x), got = kern_exp_det(x);
        if (!(fabs(got - want) <= 1e-12 * want)) fail_msg("exp(%a): %a, libm %a", x, got, want);
    }
    assert_true(kern_exp_det(0.0) == 1.0);
    assert_true(kern_exp_det(-0.0) == 1.0);
    assert_true(kern_exp_det(3.0) == 1.0);
    assert_true(kern_exp_det(-708.0) == 0.0);
    assert_true(kern_exp_det(-1e300) == 0.0);
    assert_true(kern_exp_det(-INFINITY) == 0.0);
    assert_true(kern_exp_det(NAN) == 0.0);
    assert_true(kern_exp_det(-707.9) > 0.0);

    g_ew_n = 4099;
    g_ew_l = malloc(sizeof(float) * (size_t)g_ew_n);
    g_ew_want = malloc(sizeof(float) * (size_t)g_ew_n);
    assert_true(g_ew_l && g_ew_want);
    const float edges[] = {0.0f,     -0.0f,   3.5f,     -2.0f, -INFINITY, NAN,     1e-40f,  -1e-40f,
                           -5000.0f, -708.0f, -707.99f, -9.2f, 100.0f,    -100.0f, 3.4e38f, -3.4e38f};
    for (int64_t i = 0; i < g_ew_n; i++)
        g_ew_l[i] = i < (int64_t)(sizeof edges / sizeof edges[0]) ? edges[i] : i % 3 ? rnd_f(-30, 4) : rnd_f(-800, 4);
    for_each_isa(check_exp_weights);
    free(g_ew_l);
    free(g_ew_want);
}

/* kern_cap_isa: names the levels, never goes above the CPU, leaves the level alone for an unknown name. */
static void test_cap_isa(void **state) {
    const char *best = kern_cap_isa("auto");
    assert_non_null(best);
    assert_string_equal(kern_cap_isa("scalar"), "scalar");
    assert_string_equal(kern_isa_name(), "scalar");
    assert_null(kern_cap_isa("sse9"));
    assert_string_equal(kern_isa_name(), "scalar");
    const char *avx2 = kern_cap_isa("avx2");
    assert_true(!strcmp(avx2, "avx2") || (!strcmp(avx2, "scalar") && !strcmp(best, "scalar")));
    assert_string_equal(kern_cap_isa("avx512vnni"), best); /* the top is the CPU's best */
    assert_string_equal(kern_cap_isa("auto"), best);
    assert_string_equal(kern_isa_name(), best);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cap_isa),
        cmocka_unit_test(test_fp16_roundtrip_all),
        cmocka_unit_test(test_fp16_rounding),
        cmocka_unit_test(test_fp16_bulk),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_dequant_q8_0_q4_0_definition),
        cmocka_unit_test(test_dequant_kquants_definition),
        cmocka_unit_test(test_dequant_float_types),
        cmocka_unit_test(test_dequant_invalid),
        cmocka_unit_test(test_dequant_reference),
        cmocka_unit_test(test_dequant_quant_ref),
        cmocka_unit_test(test_quant_activations),
        cmocka_unit_test(test_quant_nonfinite),
        cmocka_unit_test(test_matmul_1_thread),
        cmocka_unit_test(test_matmul_2_threads),
        cmocka_unit_test(test_matmul_nonfinite),
        cmocka_unit_test(test_matmul_large),
        cmocka_unit_test(test_matmul_moderate_n),
        cmocka_unit_test(test_matmul_multi_forced),
        cmocka_unit_test(test_matmul_multi),
        cmocka_unit_test(test_rowdot_b18),
        cmocka_unit_test(test_matmul_invalid),
        cmocka_unit_test(test_sgemm_wrappers),
        cmocka_unit_test(test_pool),
        cmocka_unit_test(test_ops),
        cmocka_unit_test(test_gelu),
        cmocka_unit_test(test_layernorm),
        cmocka_unit_test(test_softmax_ranges),
        cmocka_unit_test(test_exp_det),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
