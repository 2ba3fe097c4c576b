/*
 * test_kernels.c — engine/kernels' number formats: fp16 / bf16 conversions, block formats against their definitions,
 * llama.cpp's and gguf-py's dequantized tensors, the activation quantizers at every ISA, and kern_cap_isa.
 * The matrix products are in test_kernels_matmul.c, the thread pool and the vector ops in test_kernels_ops.c.
 */
#include "kern_fixture.h"

#include <cjson/cJSON.h>

#include "gguf.h"

#ifndef TEST_SHARED_DIR
#define TEST_SHARED_DIR "/work/shared"
#endif
#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "tests/data"
#endif

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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
