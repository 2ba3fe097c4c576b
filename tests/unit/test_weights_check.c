/*
 * test_weights_check.c — engine/weights_check.c: every shared model passes; a NaN or an infinity planted in a
 * copy of each (a plain F32/F16/BF16 element, the d or dmin scale of a Q8_0/Q4_0/Q4_K/Q6_K block, the token
 * embedding) is refused with the tensor, the place and the value named, by wcheck_gguf and by model_load; every
 * F16 and BF16 bit pattern is classified right at every position of the eight-byte scan; every supported type
 * has a rule, and the rules for block types dtype.h does not load yet find their scales.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "gguf.h"
#include "model.h"
#include "model_patch.h"
#include "weights_check.h"

#define MODELS TEST_SHARED_DIR "/models/"

static void test_shared_models_pass(void **state) {
    (void)state;
    static const char *const files[] = {"stories260K.gguf",      "stories260K-F16.gguf", "stories260K-BF16.gguf",
                                        "stories260K-Q4_0.gguf", "stories260K-Q8_0.gguf", "tinyk-Q4_K_M.gguf",
                                        "tinyk-Q6_K.gguf",       "llama-2-tiny-random.gguf"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[512], err[256] = "";
        snprintf(path, sizeof path, MODELS "%s", files[i]);
        gguf_t *g = NULL;
        assert_int_equal(gguf_open(path, &g, err, sizeof err), 0);
        if (wcheck_gguf(g, err, sizeof err) != 0) fail_msg("%s: %s", files[i], err);
        gguf_close(g);
    }
}

typedef struct {
    const char *file, *tensor;
    dtype_t type;     /* the tensor's type, checked */
    size_t at;        /* byte offset in the tensor's data */
    uint32_t value;   /* written there (16 bits unless wide) */
    bool wide;        /* a 32-bit value */
    const char *want; /* substring of the message after the tensor's name */
} plant_t;

/* Plants the value, checks wcheck_gguf's and model_load's refusal and message, and that the unpatched file
 * passes (so the refusal is the plant's doing). */
static void check_plant(const plant_t *p) {
    mp_file_t f;
    char path[512], err[512] = "", want[256];
    snprintf(path, sizeof path, MODELS "%s", p->file);
    mp_read(&f, path);
    dtype_t type;
    uint64_t n_bytes;
    const size_t off = mp_tensor(&f, p->tensor, &type, &n_bytes);
    assert_int_equal(type, p->type);
    assert_true(p->at + (p->wide ? 4 : 2) <= n_bytes);
    if (p->wide)
        mp_put32(&f, off + p->at, p->value);
    else
        mp_put16(&f, off + p->at, (uint16_t)p->value);

    gguf_t *g = NULL;
    assert_int_equal(gguf_open_mem(f.buf, f.len, "planted.gguf", &g, err, sizeof err), 0);
    assert_int_equal(wcheck_gguf(g, err, sizeof err), ERR_FORMAT);
    snprintf(want, sizeof want, "planted.gguf: tensor '%s' (%s) %s; the file is corrupt", p->tensor,
             dtype_name(p->type), p->want);
    if (strcmp(err, want) != 0) fail_msg("got \"%s\"\nwant \"%s\"", err, want);
    assert_null(strchr(err, '\n'));
    gguf_close(g);

    mp_write(&f);
    model_t *m = NULL;
    err[0] = 0;
    assert_int_equal(model_load(f.path, &m, err, sizeof err), ERR_FORMAT);
    assert_null(m);
    char tail[300];
    snprintf(tail, sizeof tail, ": tensor '%s' (%s) %s", p->tensor, dtype_name(p->type), p->want);
    if (!strstr(err, tail) || strncmp(err, f.path, strlen(f.path)) != 0) fail_msg("model_load said \"%s\"", err);
    mp_free(&f);
}

static void test_planted_values_refused(void **state) {
    (void)state;
    static const plant_t plants[] = {
        /* plain float tensors: an element anywhere, the very last one included */
        {"stories260K.gguf", "blk.1.attn_q.weight", DT_F32, 5 * 4, 0x7fc00000u, true, "holds NaN at element 5"},
        {"stories260K.gguf", "blk.4.ffn_down.weight", DT_F32, 172 * 64 * 4 - 4, 0xff800000u, true,
         "holds -inf at element 11007"},
        {"stories260K.gguf", "token_embd.weight", DT_F32, 64 * 4 * 300 + 8, 0x7f800000u, true,
         "holds inf at element 19202"},
        {"stories260K-F16.gguf", "blk.0.ffn_up.weight", DT_F16, 2 * 3, 0x7c00, false, "holds inf at element 3"},
        {"stories260K-F16.gguf", "blk.2.attn_output.weight", DT_F16, 2 * 4095, 0xfe01, false,
         "holds NaN at element 4095"},
        {"stories260K-BF16.gguf", "blk.3.attn_k.weight", DT_BF16, 2 * 77, 0x7f81, false, "holds NaN at element 77"},
        /* block scales */
        {"stories260K-Q8_0.gguf", "blk.0.attn_v.weight", DT_Q8_0, 34 * 6, 0x7c00, false, "block 6: scale d is inf"},
        {"stories260K-Q4_0.gguf", "blk.2.ffn_gate.weight", DT_Q4_0, 18 * 2, 0x7e00, false, "block 2: scale d is NaN"},
        {"tinyk-Q4_K_M.gguf", "blk.1.attn_q.weight", DT_Q4_K, 144 * 1 + 2, 0x7c00, false,
         "block 1: scale dmin is inf"},
        {"tinyk-Q4_K_M.gguf", "blk.0.ffn_gate.weight", DT_Q4_K, 144 * 9, 0xfd00, false, "block 9: scale d is NaN"},
        {"tinyk-Q6_K.gguf", "blk.0.ffn_down.weight", DT_Q6_K, 210 * 4 + 208, 0x7c01, false,
         "block 4: scale d is NaN"},
    };
    for (size_t i = 0; i < sizeof plants / sizeof plants[0]; i++)
        check_plant(&plants[i]);
}

/* A large finite value is no fault: F16's largest, in a scale and in a weight. */
static void test_largest_finite_passes(void **state) {
    (void)state;
    mp_file_t f;
    mp_read(&f, MODELS "stories260K-Q4_0.gguf");
    mp_put16(&f, mp_tensor(&f, "blk.0.attn_q.weight", NULL, NULL), 0x7bff);
    gguf_t *g = NULL;
    char err[256] = "";
    assert_int_equal(gguf_open_mem(f.buf, f.len, "big.gguf", &g, err, sizeof err), 0);
    assert_int_equal(wcheck_gguf(g, err, sizeof err), 0);
    gguf_close(g);
    mp_free(&f);
}

/* A hand-made tensor descriptor over buf, borrowing a real gguf_t for the file name. */
static gguf_tensor_t fake_tensor(uint32_t type, const void *buf, uint64_t n_bytes) {
    gguf_tensor_t t;
    memset(&t, 0, sizeof t);
    t.name = (gguf_str_t){"fake", 4};
    t.type = (dtype_t)type;
    t.data = buf;
    t.n_bytes = n_bytes;
    return t;
}

/* Every 16-bit pattern: finite ones pass together; each non-finite one is found at each of 11 positions (both
 * lanes of the eight-byte words, and the tail). */
static void check_all_patterns16(const gguf_t *g, uint32_t type, uint16_t exp_mask) {
    enum { N = 11 };
    uint16_t *all = malloc(65536 * sizeof *all);
    assert_non_null(all);
    int64_t n = 0;
    for (uint32_t v = 0; v < 65536; v++)
        if ((v & exp_mask) != exp_mask) all[n++] = (uint16_t)v;
    char err[256];
    gguf_tensor_t t = fake_tensor(type, all, (uint64_t)n * 2);
    assert_int_equal(wcheck_tensor(g, &t, err, sizeof err), 0);
    /* odd start: the scan must not assume aligned data */
    uint8_t raw[2 * N + 1];
    for (uint32_t v = 0; v < 65536; v++) {
        if ((v & exp_mask) != exp_mask) continue;
        for (int pos = 0; pos < N; pos++) {
            memset(raw, 0x11, sizeof raw); /* 0x1111: a finite value in F16 and BF16 */
            const uint16_t h = (uint16_t)v;
            memcpy(raw + 1 + 2 * pos, &h, 2);
            t = fake_tensor(type, raw + 1, 2 * N);
            assert_int_equal(wcheck_tensor(g, &t, err, sizeof err), ERR_FORMAT);
            char want[64];
            snprintf(want, sizeof want, "at element %d;", pos);
            if (!strstr(err, want)) fail_msg("pattern 0x%04x at %d: %s", v, pos, err);
            const bool nan = (v & (uint32_t)~exp_mask & 0x7fffu) != 0;
            assert_non_null(strstr(err, nan ? " NaN " : (v & 0x8000u) ? " -inf " : " inf "));
        }
    }
    free(all);
}

static void test_every_16bit_pattern(void **state) {
    (void)state;
    gguf_t *g = NULL;
    char err[256];
    assert_int_equal(gguf_open(MODELS "stories260K.gguf", &g, err, sizeof err), 0);
    check_all_patterns16(g, DT_F16, 0x7c00);
    check_all_patterns16(g, DT_BF16, 0x7f80);
    /* F32: a sample of non-finite patterns at each position of an odd-length run */
    uint32_t v32[7];
    static const uint32_t bad[] = {0x7f800000u, 0xff800000u, 0x7f800001u, 0xffffffffu, 0x7fc00000u};
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++)
        for (int pos = 0; pos < 7; pos++) {
            for (int i = 0; i < 7; i++)
                v32[i] = i == pos ? bad[b] : 0x7f7fffffu; /* FLT_MAX elsewhere */
            gguf_tensor_t t = fake_tensor(DT_F32, v32, sizeof v32);
            assert_int_equal(wcheck_tensor(g, &t, err, sizeof err), ERR_FORMAT);
            char want[64];
            snprintf(want, sizeof want, "at element %d;", pos);
            assert_non_null(strstr(err, want));
        }
    gguf_close(g);
}

/* Every type the loader accepts has a rule; the block types it does not load yet (another branch adds them)
 * find a non-finite scale at the offset ggml's layout puts it, and nothing in their quant bytes. */
static void test_rules(void **state) {
    (void)state;
    for (uint32_t id = 0; id < DT_COUNT; id++)
        if (dtype_supported(id) && !wcheck_has_rule(id)) fail_msg("type %s has no finiteness rule", dtype_name(id));
    assert_false(wcheck_has_rule(DT_COUNT + 5));
    static const struct {
        uint32_t id;
        size_t block_bytes, scale_at[2];
        const char *scale[2];
    } blocks[] = {
        {3, 20, {0, 2}, {"d", "m"}},         /* Q4_1 */
        {6, 22, {0, 0}, {"d", NULL}},        /* Q5_0 */
        {7, 24, {0, 2}, {"d", "m"}},         /* Q5_1 */
        {10, 84, {80, 82}, {"d", "dmin"}},   /* Q2_K */
        {11, 110, {108, 0}, {"d", NULL}},    /* Q3_K */
        {13, 176, {0, 2}, {"d", "dmin"}},    /* Q5_K */
        {20, 18, {0, 0}, {"d", NULL}},       /* IQ4_NL */
    };
    gguf_t *g = NULL;
    char err[256];
    assert_int_equal(gguf_open(MODELS "stories260K.gguf", &g, err, sizeof err), 0);
    uint8_t buf[3 * 176];
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++) {
        assert_true(wcheck_has_rule(blocks[i].id));
        const size_t bb = blocks[i].block_bytes;
        memset(buf, 0xff, sizeof buf); /* every quant byte at its most extreme */
        for (size_t b = 0; b < 3; b++)
            for (int s = 0; s < 2; s++)
                if (blocks[i].scale[s]) mp_put16(&(mp_file_t){.buf = buf}, b * bb + blocks[i].scale_at[s], 0x3c00);
        gguf_tensor_t t = fake_tensor(blocks[i].id, buf, 3 * bb);
        if (wcheck_tensor(g, &t, err, sizeof err) != 0) fail_msg("%s: %s", dtype_name(blocks[i].id), err);
        for (int s = 0; s < 2; s++) {
            if (!blocks[i].scale[s]) continue;
            uint8_t copy[sizeof buf];
            memcpy(copy, buf, sizeof buf);
            mp_put16(&(mp_file_t){.buf = copy}, 2 * bb + blocks[i].scale_at[s], 0x7c00);
            t = fake_tensor(blocks[i].id, copy, 3 * bb);
            assert_int_equal(wcheck_tensor(g, &t, err, sizeof err), ERR_FORMAT);
            char want[64];
            snprintf(want, sizeof want, "block 2: scale %s is inf", blocks[i].scale[s]);
            if (!strstr(err, want)) fail_msg("%s: %s", dtype_name(blocks[i].id), err);
        }
    }
    gguf_tensor_t t = fake_tensor(DT_COUNT + 5, buf, 8);
    assert_int_equal(wcheck_tensor(g, &t, err, sizeof err), ERR_UNSUPPORTED);
    assert_non_null(strstr(err, "no finiteness rule"));
    gguf_close(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_models_pass),
        cmocka_unit_test(test_planted_values_refused),
        cmocka_unit_test(test_largest_finite_passes),
        cmocka_unit_test(test_every_16bit_pattern),
        cmocka_unit_test(test_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
