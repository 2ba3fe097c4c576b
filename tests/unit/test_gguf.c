/*
 * test_gguf.c — unit tests for engine/gguf.c.
 *
 * Three kinds of input: the real files in the shared models folder (every one must open, with known values
 * checked against the manifest and tools/gguf_info.py), small files assembled byte by byte with the writer
 * below (valid ones exercising every metadata type, and one malformed file per validation rule), and
 * patched, truncated and randomly mutated copies of stories260K.gguf. Malformed inputs are opened from
 * exact-size heap copies so that AddressSanitizer catches any read past the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "gguf.h"

#define STORIES     TEST_SHARED_DIR "/models/stories260K.gguf"
#define TINY_RANDOM TEST_SHARED_DIR "/models/llama-2-tiny-random.gguf"
#define V1_FILE     TEST_SHARED_DIR "/models/tinyllamas-stories-260k-f32.gguf"
#define BAD         "bad.gguf"

/* ---- a tiny GGUF writer ---- */

typedef struct {
    uint8_t *p;
    size_t len, cap;
} bb_t;

static void bb_bytes(bb_t *b, const void *src, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        assert_non_null(b->p);
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void bb_u8(bb_t *b, uint8_t v) { bb_bytes(b, &v, 1); }

static void bb_le(bb_t *b, uint64_t v, int n) {
    for (int i = 0; i < n; i++)
        bb_u8(b, (uint8_t)(v >> (8 * i)));
}

static void bb_u16(bb_t *b, uint16_t v) { bb_le(b, v, 2); }
static void bb_u32(bb_t *b, uint32_t v) { bb_le(b, v, 4); }
static void bb_u64(bb_t *b, uint64_t v) { bb_le(b, v, 8); }

static void bb_f32(bb_t *b, float f) {
    uint32_t bits;
    memcpy(&bits, &f, 4);
    bb_u32(b, bits);
}

static void bb_f64(bb_t *b, double f) {
    uint64_t bits;
    memcpy(&bits, &f, 8);
    bb_u64(b, bits);
}

static void bb_strn(bb_t *b, const char *s, size_t n) {
    bb_u64(b, n);
    bb_bytes(b, s, n);
}

static void bb_str(bb_t *b, const char *s) { bb_strn(b, s, strlen(s)); }

static void bb_header(bb_t *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    bb_bytes(b, "GGUF", 4);
    bb_u32(b, version);
    bb_u64(b, n_tensors);
    bb_u64(b, n_kv);
}

/* Key plus value type; the caller writes the value. */
static void bb_key(bb_t *b, const char *key, uint32_t type) {
    bb_str(b, key);
    bb_u32(b, type);
}

static void bb_kv_u32(bb_t *b, const char *key, uint32_t v) {
    bb_key(b, key, GGUF_UINT32);
    bb_u32(b, v);
}

static void bb_kv_str(bb_t *b, const char *key, const char *v) {
    bb_key(b, key, GGUF_STRING);
    bb_str(b, v);
}

/* A tensor info with up to 5 dims (5 only to test the refusal). */
static void bb_tensor(bb_t *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t off) {
    bb_str(b, name);
    bb_u32(b, n_dims);
    for (uint32_t i = 0; i < n_dims; i++)
        bb_u64(b, ne[i]);
    bb_u32(b, type);
    bb_u64(b, off);
}

static void bb_pad(bb_t *b, size_t align) {
    while (b->len % align)
        bb_u8(b, 0);
}

static void bb_fill(bb_t *b, size_t n, uint8_t v) {
    for (size_t i = 0; i < n; i++)
        bb_u8(b, v);
}

/* A one-tensor file: header, the kvs the callback writes (n_kv of them), one F32 tensor, data. */
static void bb_one_tensor(bb_t *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t off,
                          size_t data_bytes) {
    bb_header(b, 3, 1, 0);
    bb_tensor(b, name, n_dims, ne, type, off);
    bb_pad(b, 32);
    bb_fill(b, data_bytes, 0);
}

/* ---- helpers ---- */

static uint8_t *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    uint8_t *p = malloc((size_t)n);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

/* Checks err is one line starting with "<name>: " and containing want. */
static void check_msg(const char *err, const char *name, const char *want) {
    size_t nl = strlen(name);
    if (strncmp(err, name, nl) != 0 || strncmp(err + nl, ": ", 2) != 0)
        fail_msg("message does not start with '%s: ': %s", name, err);
    if (strchr(err, '\n')) fail_msg("message spans lines: %s", err);
    if (!strstr(err, want)) fail_msg("message lacks '%s': %s", want, err);
}

/* Which iteration of a loop is running (-1: none), shown when a check in expect_fail_at fails. */
static long fail_ctx = -1;

/* Opens an exact-size copy of buf[0, len) and expects the given failure; `line` is the caller's, for reports. */
static void expect_fail_at(int line, const void *buf, size_t len, int code, const char *want) {
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len) memcpy(copy, buf, len);
    char err[512] = "";
    gguf_t *g = (gguf_t *)&err; /* must be reset to NULL */
    int rc = gguf_open_mem(copy, len, BAD, &g, err, sizeof err);
    if (rc != code)
        fail_msg("line %d (iteration %ld): expected %s, got %s (%s)", line, fail_ctx, err_name(code), err_name(rc),
                 err);
    if (g) fail_msg("line %d: *out not NULL after a failure", line);
    if (!strstr(err, want)) fail_msg("line %d (iteration %ld): message lacks '%s': %s", line, fail_ctx, want, err);
    check_msg(err, BAD, want);
    free(copy);
}

#define expect_fail_mem(buf, len, code, want) expect_fail_at(__LINE__, (buf), (len), (code), (want))
#define expect_fail(b, code, want)            expect_fail_at(__LINE__, (b)->p, (b)->len, (code), (want))

static gguf_t *open_ok(const bb_t *b) {
    char err[512] = "";
    gguf_t *g = NULL;
    int rc = gguf_open_mem(b->p, b->len, "ok.gguf", &g, err, sizeof err);
    if (rc != 0) fail_msg("open failed: %s %s", err_name(rc), err);
    assert_non_null(g);
    return g;
}

/* Bytes of a tensor per the GGUF/ggml format definition of each supported type. */
static uint64_t format_bytes(const gguf_tensor_t *t) {
    int64_t block, bytes;
    switch ((int)t->type) {
    case DT_F32: block = 1, bytes = 4; break;
    case DT_F16:
    case DT_BF16: block = 1, bytes = 2; break;
    case DT_Q8_0: block = 32, bytes = 34; break;
    case DT_Q4_0: block = 32, bytes = 18; break;
    case DT_Q4_K: block = 256, bytes = 144; break;
    case DT_Q6_K: block = 256, bytes = 210; break;
    case DT_Q4_1: block = 32, bytes = 20; break;
    case DT_Q5_0: block = 32, bytes = 22; break;
    case DT_Q5_1: block = 32, bytes = 24; break;
    case DT_IQ4_NL: block = 32, bytes = 18; break;
    case DT_Q2_K: block = 256, bytes = 84; break;
    case DT_Q3_K: block = 256, bytes = 110; break;
    case DT_Q5_K: block = 256, bytes = 176; break;
    default: fail_msg("unexpected type %d", (int)t->type); return 0;
    }
    int64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    return (uint64_t)(n / block * bytes);
}

/* Reads everything an opened file exposes, so that the sanitizers see any bad pointer. */
static unsigned touch_all(const gguf_t *g) {
    unsigned sum = 0;
    char key[512];
    for (int64_t i = 0; i < gguf_n_kv(g); i++) {
        gguf_str_t k = gguf_kv_key(g, i);
        for (uint64_t j = 0; j < k.len; j++)
            sum += (unsigned char)k.ptr[j];
        if (k.len < sizeof key && !memchr(k.ptr, 0, k.len)) {
            memcpy(key, k.ptr, k.len);
            key[k.len] = 0;
            assert_int_equal(gguf_find_key(g, key), i);
            const gguf_arr_t *a;
            gguf_str_t s;
            if (gguf_kv_type(g, i) == GGUF_ARRAY) {
                assert_int_equal(gguf_get_arr(g, key, &a), 0);
                if (a->type == GGUF_STRING)
                    for (uint64_t e = 0; e < a->n; e++)
                        for (uint64_t c = 0; c < a->strs[e].len; c++)
                            sum += (unsigned char)a->strs[e].ptr[c];
                if (a->type == GGUF_FLOAT32 && a->n) sum += (unsigned)gguf_arr_f32(a, a->n - 1);
                if (a->type == GGUF_INT32 && a->n) sum += (unsigned)gguf_arr_i32(a, a->n - 1);
            } else if (gguf_kv_type(g, i) == GGUF_STRING) {
                assert_int_equal(gguf_get_str(g, key, &s), 0);
                for (uint64_t c = 0; c < s.len; c++)
                    sum += (unsigned char)s.ptr[c];
            }
        }
    }
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        const gguf_tensor_t *t = gguf_tensor(g, i);
        assert_non_null(t);
        const uint8_t *d = t->data;
        sum += d[0] + d[t->n_bytes - 1];
        for (uint64_t j = 0; j < t->name.len; j++)
            sum += (unsigned char)t->name.ptr[j];
    }
    return sum;
}

/* ---- real files ---- */

static void test_stories260k(void **state) {
    char err[512] = "";
    gguf_t *g = NULL;
    assert_int_equal(gguf_open(STORIES, &g, err, sizeof err), 0);
    assert_string_equal(gguf_name(g), STORIES);
    assert_int_equal(gguf_version(g), 3);
    assert_int_equal(gguf_alignment(g), 32);
    assert_int_equal(gguf_n_kv(g), 19);
    assert_int_equal(gguf_n_tensors(g), 48);

    uint32_t u;
    int32_t i32;
    uint64_t u64;
    float f;
    gguf_str_t s;
    assert_int_equal(gguf_get_u32(g, "llama.embedding_length", &u), 0);
    assert_int_equal(u, 64);
    assert_int_equal(gguf_get_u32(g, "llama.block_count", &u), 0);
    assert_int_equal(u, 5);
    assert_int_equal(gguf_get_u64(g, "llama.context_length", &u64), 0);
    assert_int_equal(u64, 2048);
    assert_int_equal(gguf_get_i32(g, "llama.attention.head_count_kv", &i32), 0);
    assert_int_equal(i32, 4);
    assert_int_equal(gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &f), 0);
    assert_float_equal(f, 1e-5f, 1e-9f);
    assert_int_equal(gguf_get_u32(g, "tokenizer.ggml.padding_token_id", &u), 0);
    assert_int_equal(u, 0xFFFFFFFFu);
    assert_int_equal(gguf_get_i32(g, "tokenizer.ggml.padding_token_id", &i32), ERR_RANGE);
    assert_int_equal(gguf_get_str(g, "tokenizer.ggml.model", &s), 0);
    assert_true(gguf_str_eq(s, "llama"));
    assert_false(gguf_str_eq(s, "llam"));
    assert_int_equal(gguf_get_u32(g, "llama.rope.freq_base", &u), ERR_NOTFOUND);
    assert_int_equal(gguf_get_u32(g, "tokenizer.ggml.model", &u), ERR_TYPE);

    const gguf_arr_t *a;
    assert_int_equal(gguf_get_arr(g, "tokenizer.ggml.tokens", &a), 0);
    assert_int_equal(a->type, GGUF_STRING);
    assert_int_equal(a->n, 512);
    assert_non_null(a->strs);
    assert_true(gguf_str_eq(a->strs[0], "<unk>"));
    assert_true(gguf_str_eq(a->strs[1], "<s>"));
    assert_true(gguf_str_eq(a->strs[2], "</s>"));
    assert_true(gguf_str_eq(a->strs[3], "<0x00>"));
    assert_int_equal(gguf_get_arr(g, "tokenizer.ggml.token_type", &a), 0);
    assert_int_equal(a->type, GGUF_INT32);
    assert_int_equal(a->n, 512);
    assert_int_equal(gguf_arr_i32(a, 0), 2);
    assert_int_equal(gguf_arr_i32(a, 1), 3);
    assert_int_equal(gguf_arr_i32(a, 3), 6);
    assert_int_equal(gguf_get_arr(g, "tokenizer.ggml.scores", &a), 0);
    assert_int_equal(a->type, GGUF_FLOAT32);
    assert_int_equal(a->n, 512);
    assert_float_equal(gguf_arr_f32(a, 0), 0.0f, 0.0f);

    const gguf_tensor_t *t = gguf_find_tensor(g, "blk.0.ffn_down.weight");
    assert_non_null(t);
    assert_true(gguf_str_eq(t->name, "blk.0.ffn_down.weight"));
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->ne[0], 172);
    assert_int_equal(t->ne[1], 64);
    assert_int_equal(t->ne[2], 1);
    assert_int_equal(t->ne[3], 1);
    assert_int_equal(t->type, DT_F32);
    assert_int_equal(t->offset, 355840);
    assert_int_equal(t->n_bytes, 172 * 64 * 4);
    t = gguf_find_tensor(g, "output_norm.weight");
    assert_non_null(t);
    assert_int_equal(t->n_dims, 1);
    assert_int_equal(t->ne[0], 64);
    assert_int_equal(t->offset, 131072);
    assert_null(gguf_find_tensor(g, "blk.5.attn_q.weight"));
    assert_null(gguf_find_tensor(g, ""));
    assert_null(gguf_tensor(g, 48));
    assert_null(gguf_tensor(g, -1));

    /* Every tensor: found by name, F32, sized by the format, and the same bytes as through gguf_open_mem. */
    size_t len;
    uint8_t *buf = read_all(STORIES, &len);
    gguf_t *m = NULL;
    assert_int_equal(gguf_open_mem(buf, len, "mem", &m, err, sizeof err), 0);
    char name[128];
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        t = gguf_tensor(g, i);
        const gguf_tensor_t *tm = gguf_tensor(m, i);
        assert_true(t->name.len < sizeof name);
        memcpy(name, t->name.ptr, t->name.len);
        name[t->name.len] = 0;
        assert_ptr_equal(gguf_find_tensor(g, name), t);
        assert_int_equal(t->type, DT_F32);
        assert_int_equal(t->n_bytes, format_bytes(t));
        assert_int_equal(tm->offset, t->offset);
        assert_int_equal(tm->n_bytes, t->n_bytes);
        assert_int_equal(((const uint8_t *)tm->data - buf) % 32, 0);
        assert_memory_equal(tm->data, t->data, t->n_bytes);
    }
    /* The last tensor ends exactly at the end of the file (gguf_info.py: no trailing bytes). */
    t = gguf_tensor(m, 47);
    assert_ptr_equal((const uint8_t *)t->data + t->n_bytes, buf + len);
    gguf_close(m);
    free(buf);
    gguf_close(g);
    gguf_close(NULL);
}

static void test_tiny_random_f16(void **state) {
    char err[512] = "";
    gguf_t *g = NULL;
    assert_int_equal(gguf_open(TINY_RANDOM, &g, err, sizeof err), 0);
    assert_int_equal(gguf_n_tensors(g), 12);
    assert_int_equal(gguf_n_kv(g), 18);
    uint32_t u;
    assert_int_equal(gguf_get_u32(g, "general.file_type", &u), 0);
    assert_int_equal(u, 1);
    const gguf_arr_t *a;
    assert_int_equal(gguf_get_arr(g, "tokenizer.ggml.tokens", &a), 0);
    assert_int_equal(a->n, 32000);
    const gguf_tensor_t *t = gguf_find_tensor(g, "token_embd.weight");
    assert_non_null(t);
    assert_int_equal(t->type, DT_F16);
    assert_int_equal(t->ne[0], 8);
    assert_int_equal(t->ne[1], 32000);
    assert_int_equal(t->n_bytes, 8 * 32000 * 2);
    t = gguf_find_tensor(g, "blk.0.ffn_down.weight");
    assert_non_null(t);
    assert_int_equal(t->type, DT_F16);
    assert_int_equal(t->ne[0], 32);
    assert_int_equal(t->ne[1], 8);
    assert_int_equal(t->offset, 513536);
    t = gguf_find_tensor(g, "blk.0.attn_norm.weight");
    assert_non_null(t);
    assert_int_equal(t->type, DT_F32);
    assert_int_equal(t->n_bytes, 32);
    gguf_close(g);
}

/* gguf_prefault: progress after each tensor, increasing, ending at the tensors' total bytes, less the skipped one;
 * from a file and from memory (no mapping to advise). */
typedef struct {
    int calls;
    uint64_t last, total;
    bool monotonic;
} pf_seen_t;

static void pf_progress(void *user, uint64_t done, uint64_t total) {
    pf_seen_t *s = user;
    if (s->calls && (done <= s->last || total != s->total)) s->monotonic = false;
    if (done > total) s->monotonic = false;
    s->calls++;
    s->last = done;
    s->total = total;
}

static void test_prefault(void **state) {
    char err[512] = "";
    gguf_t *g = NULL;
    assert_int_equal(gguf_open(STORIES, &g, err, sizeof err), 0);
    uint64_t all = 0, embd = gguf_find_tensor(g, "token_embd.weight")->n_bytes;
    int64_t nonempty = 0;
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        all += gguf_tensor(g, i)->n_bytes;
        nonempty += gguf_tensor(g, i)->n_bytes > 0;
    }
    pf_seen_t s = {.monotonic = true};
    gguf_prefault(g, NULL, pf_progress, &s);
    assert_true(s.monotonic);
    assert_int_equal(s.calls, nonempty); /* one per tensor, the last one being the final call */
    assert_int_equal(s.total, all);
    assert_int_equal(s.last, all);
    s = (pf_seen_t){.monotonic = true};
    gguf_prefault(g, "token_embd.weight", pf_progress, &s);
    assert_true(s.monotonic);
    assert_int_equal(s.total, all - embd);
    assert_int_equal(s.last, all - embd);
    gguf_prefault(g, NULL, NULL, NULL); /* no callback */
    gguf_close(g);

    uint8_t *buf = malloc(4u << 20);
    assert_non_null(buf);
    FILE *f = fopen(STORIES, "rb");
    assert_non_null(f);
    size_t got = fread(buf, 1, 4u << 20, f);
    fclose(f);
    assert_int_equal(gguf_open_mem(buf, got, "stories", &g, err, sizeof err), 0);
    s = (pf_seen_t){.monotonic = true};
    gguf_prefault(g, NULL, pf_progress, &s);
    assert_true(s.monotonic && s.last == all);
    gguf_close(g);
    free(buf);
}

static void test_version1_refused(void **state) {
    char err[512] = "";
    gguf_t *g = (gguf_t *)&err;
    assert_int_equal(gguf_open(V1_FILE, &g, err, sizeof err), ERR_UNSUPPORTED);
    assert_null(g);
    check_msg(err, V1_FILE, "GGUF version 1 is not supported; convert the file with a current llama.cpp");
}

/* Every .gguf in the shared folders opens (the version 1 file is refused), with consistent tensors. */
static void scan_dir(const char *dir, int *n_ok) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    char path[1024], err[512];
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 5, ".gguf") != 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        gguf_t *g = NULL;
        int rc = gguf_open(path, &g, err, sizeof err);
        if (strcmp(e->d_name, "tinyllamas-stories-260k-f32.gguf") == 0) {
            assert_int_equal(rc, ERR_UNSUPPORTED);
            continue;
        }
        if (rc != 0) fail_msg("%s: %s", err_name(rc), err);
        for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
            const gguf_tensor_t *t = gguf_tensor(g, i);
            assert_int_equal(t->n_bytes, format_bytes(t));
            assert_int_equal(t->offset % gguf_alignment(g), 0);
        }
        touch_all(g);
        gguf_close(g);
        (*n_ok)++;
    }
    closedir(d);
}

static void test_all_shared_files(void **state) {
    int n_ok = 0;
    scan_dir(TEST_SHARED_DIR "/models", &n_ok);
    scan_dir(TEST_SHARED_DIR "/models/vocab", &n_ok);
    assert_true(n_ok >= 20); /* 8 models + 12 vocab files at the time of writing */

    /* tinyk files carry general.alignment and mix Q4_K with Q6_K. */
    char err[512];
    gguf_t *g = NULL;
    assert_int_equal(gguf_open(TEST_SHARED_DIR "/models/tinyk-Q4_K_M.gguf", &g, err, sizeof err), 0);
    int n_q4k = 0, n_q6k = 0;
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        n_q4k += gguf_tensor(g, i)->type == DT_Q4_K;
        n_q6k += gguf_tensor(g, i)->type == DT_Q6_K;
    }
    assert_true(n_q4k > 0 && n_q6k > 0);
    gguf_close(g);
}

/* ---- synthetic valid files ---- */

static void test_all_value_types(void **state) {
    bb_t b = {0};
    bb_header(&b, 2, 0, 22);
    bb_key(&b, "v.u8", GGUF_UINT8), bb_u8(&b, 200);
    bb_key(&b, "v.i8", GGUF_INT8), bb_u8(&b, (uint8_t)-5);
    bb_key(&b, "v.u16", GGUF_UINT16), bb_u16(&b, 60000);
    bb_key(&b, "v.i16", GGUF_INT16), bb_u16(&b, (uint16_t)-300);
    bb_kv_u32(&b, "v.u32", 4000000000u);
    bb_key(&b, "v.i32", GGUF_INT32), bb_u32(&b, (uint32_t)-7);
    bb_key(&b, "v.f32", GGUF_FLOAT32), bb_f32(&b, 1.5f);
    bb_key(&b, "v.bool", GGUF_BOOL), bb_u8(&b, 1);
    bb_kv_str(&b, "v.str", "hello");
    bb_key(&b, "v.u64", GGUF_UINT64), bb_u64(&b, 1ull << 40);
    bb_key(&b, "v.i64", GGUF_INT64), bb_u64(&b, (uint64_t) - (1ll << 40));
    bb_key(&b, "v.f64", GGUF_FLOAT64), bb_f64(&b, 0.25);
    bb_key(&b, "v.f64big", GGUF_FLOAT64), bb_f64(&b, 1e300);
    bb_key(&b, "a.u8", GGUF_ARRAY), bb_u32(&b, GGUF_UINT8), bb_u64(&b, 3), bb_u8(&b, 1), bb_u8(&b, 2), bb_u8(&b, 3);
    bb_key(&b, "a.str", GGUF_ARRAY), bb_u32(&b, GGUF_STRING), bb_u64(&b, 3);
    bb_str(&b, "a"), bb_str(&b, ""), bb_str(&b, "ccc");
    bb_key(&b, "a.nested", GGUF_ARRAY), bb_u32(&b, GGUF_ARRAY), bb_u64(&b, 2);
    bb_u32(&b, GGUF_INT32), bb_u64(&b, 2), bb_u32(&b, 1), bb_u32(&b, 2);
    bb_u32(&b, GGUF_STRING), bb_u64(&b, 1), bb_str(&b, "x");
    bb_key(&b, "a.bool", GGUF_ARRAY), bb_u32(&b, GGUF_BOOL), bb_u64(&b, 2), bb_u8(&b, 0), bb_u8(&b, 1);
    bb_key(&b, "a.f32", GGUF_ARRAY), bb_u32(&b, GGUF_FLOAT32), bb_u64(&b, 2), bb_f32(&b, 0.5f), bb_f32(&b, -2.0f);
    bb_key(&b, "a.i32", GGUF_ARRAY), bb_u32(&b, GGUF_INT32), bb_u64(&b, 2), bb_u32(&b, (uint32_t)-9), bb_u32(&b, 7);
    bb_key(&b, "a.empty", GGUF_ARRAY), bb_u32(&b, GGUF_STRING), bb_u64(&b, 0);
    bb_kv_str(&b, "ключ.€.\xf0\x9d\x84\x9e", "utf8 key");
    bb_key(&b, "v.f32neg", GGUF_FLOAT32), bb_f32(&b, -0.125f);
    /* No tensors and no padding after the last value, as in the vocab-only files. */
    gguf_t *g = open_ok(&b);
    assert_int_equal(gguf_version(g), 2);
    assert_int_equal(gguf_alignment(g), 32);
    assert_int_equal(gguf_n_kv(g), 22);
    assert_int_equal(gguf_n_tensors(g), 0);
    assert_true(gguf_str_eq(gguf_kv_key(g, 0), "v.u8"));
    assert_int_equal(gguf_kv_type(g, 0), GGUF_UINT8);
    assert_int_equal(gguf_kv_type(g, 14), GGUF_ARRAY);
    assert_true(gguf_str_eq(gguf_kv_key(g, 21), "v.f32neg"));
    assert_int_equal(gguf_find_key(g, "ключ.€.\xf0\x9d\x84\x9e"), 20);
    assert_int_equal(gguf_find_key(g, "v.u"), -1);

    uint32_t u;
    int32_t i;
    uint64_t u64;
    float f;
    bool bo;
    gguf_str_t s;
    const gguf_arr_t *a;
    assert_int_equal(gguf_get_u32(g, "v.u8", &u), 0), assert_int_equal(u, 200);
    assert_int_equal(gguf_get_u32(g, "v.i8", &u), ERR_RANGE);
    assert_int_equal(gguf_get_i32(g, "v.i8", &i), 0), assert_int_equal(i, -5);
    assert_int_equal(gguf_get_u32(g, "v.u16", &u), 0), assert_int_equal(u, 60000);
    assert_int_equal(gguf_get_i32(g, "v.i16", &i), 0), assert_int_equal(i, -300);
    assert_int_equal(gguf_get_u32(g, "v.u32", &u), 0), assert_int_equal(u, 4000000000u);
    assert_int_equal(gguf_get_i32(g, "v.u32", &i), ERR_RANGE);
    assert_int_equal(gguf_get_u64(g, "v.u32", &u64), 0), assert_int_equal(u64, 4000000000u);
    assert_int_equal(gguf_get_i32(g, "v.i32", &i), 0), assert_int_equal(i, -7);
    assert_int_equal(gguf_get_u64(g, "v.i32", &u64), ERR_RANGE);
    assert_int_equal(gguf_get_u64(g, "v.u64", &u64), 0), assert_int_equal(u64, 1ull << 40);
    assert_int_equal(gguf_get_u32(g, "v.u64", &u), ERR_RANGE);
    assert_int_equal(gguf_get_i32(g, "v.i64", &i), ERR_RANGE);
    assert_int_equal(gguf_get_u64(g, "v.i64", &u64), ERR_RANGE);
    assert_int_equal(gguf_get_f32(g, "v.i64", &f), 0), assert_float_equal(f, -1099511627776.0f, 0.0f);
    assert_int_equal(gguf_get_f32(g, "v.f32", &f), 0), assert_float_equal(f, 1.5f, 0.0f);
    assert_int_equal(gguf_get_f32(g, "v.f32neg", &f), 0), assert_float_equal(f, -0.125f, 0.0f);
    assert_int_equal(gguf_get_f32(g, "v.f64", &f), 0), assert_float_equal(f, 0.25f, 0.0f);
    assert_int_equal(gguf_get_f32(g, "v.f64big", &f), ERR_RANGE);
    assert_int_equal(gguf_get_f32(g, "v.i16", &f), 0), assert_float_equal(f, -300.0f, 0.0f);
    assert_int_equal(gguf_get_f32(g, "v.str", &f), ERR_TYPE);
    assert_int_equal(gguf_get_u32(g, "v.f32", &u), ERR_TYPE);
    assert_int_equal(gguf_get_bool(g, "v.bool", &bo), 0), assert_true(bo);
    assert_int_equal(gguf_get_u32(g, "v.bool", &u), ERR_TYPE);
    assert_int_equal(gguf_get_bool(g, "v.u8", &bo), ERR_TYPE);
    assert_int_equal(gguf_get_str(g, "v.str", &s), 0), assert_true(gguf_str_eq(s, "hello"));
    assert_int_equal(gguf_get_str(g, "a.str", &s), ERR_TYPE);
    assert_int_equal(gguf_get_arr(g, "v.str", &a), ERR_TYPE);
    assert_int_equal(gguf_get_str(g, "missing", &s), ERR_NOTFOUND);
    assert_int_equal(gguf_get_arr(g, "missing", &a), ERR_NOTFOUND);
    assert_int_equal(gguf_get_bool(g, "missing", &bo), ERR_NOTFOUND);
    assert_int_equal(gguf_get_f32(g, "missing", &f), ERR_NOTFOUND);

    assert_int_equal(gguf_get_arr(g, "a.u8", &a), 0);
    assert_int_equal(a->type, GGUF_UINT8), assert_int_equal(a->n, 3);
    assert_int_equal(a->data[0], 1), assert_int_equal(a->data[2], 3);
    assert_int_equal(gguf_arr_i32(a, 0), 0); /* wrong element type: reads nothing */
    assert_int_equal(gguf_get_arr(g, "a.str", &a), 0);
    assert_int_equal(a->type, GGUF_STRING), assert_int_equal(a->n, 3);
    assert_true(gguf_str_eq(a->strs[0], "a"));
    assert_true(gguf_str_eq(a->strs[1], ""));
    assert_true(gguf_str_eq(a->strs[2], "ccc"));
    assert_int_equal(gguf_get_arr(g, "a.nested", &a), 0);
    assert_int_equal(a->type, GGUF_ARRAY), assert_int_equal(a->n, 2);
    assert_null(a->data), assert_null(a->strs);
    assert_int_equal(gguf_get_arr(g, "a.bool", &a), 0);
    assert_int_equal(a->type, GGUF_BOOL), assert_int_equal(a->data[1], 1);
    assert_int_equal(gguf_get_arr(g, "a.f32", &a), 0);
    assert_float_equal(gguf_arr_f32(a, 0), 0.5f, 0.0f);
    assert_float_equal(gguf_arr_f32(a, 1), -2.0f, 0.0f);
    assert_float_equal(gguf_arr_f32(a, 2), 0.0f, 0.0f); /* out of range: 0 */
    assert_int_equal(gguf_get_arr(g, "a.i32", &a), 0);
    assert_int_equal(gguf_arr_i32(a, 0), -9);
    assert_int_equal(gguf_arr_i32(a, 1), 7);
    assert_int_equal(gguf_get_arr(g, "a.empty", &a), 0);
    assert_int_equal(a->n, 0);
    gguf_close(g);
    free(b.p);
}

/* One tensor of every supported type, custom alignment 64, data at known places. */
static void test_tensor_types_and_alignment(void **state) {
    static const struct {
        const char *name;
        uint32_t n_dims;
        uint64_t ne[4];
        uint32_t type;
        uint64_t bytes; /* from the format definition */
    } ts[] = {
        {"f32", 2, {8, 2}, DT_F32, 64},
        {"f16", 2, {8, 3}, DT_F16, 48},
        {"bf16", 1, {4}, DT_BF16, 8},
        {"q8_0", 2, {64, 2}, DT_Q8_0, 4 * 34},
        {"q4_0", 3, {32, 1, 2}, DT_Q4_0, 2 * 18},
        {"q4_k", 2, {256, 2}, DT_Q4_K, 2 * 144},
        {"q6_k", 1, {512}, DT_Q6_K, 2 * 210},
        {"q4_1", 2, {32, 3}, DT_Q4_1, 3 * 20},
        {"q5_0", 2, {64, 1}, DT_Q5_0, 2 * 22},
        {"q5_1", 1, {96}, DT_Q5_1, 3 * 24},
        {"iq4_nl", 2, {32, 2}, DT_IQ4_NL, 2 * 18},
        {"q2_k", 1, {256}, DT_Q2_K, 84},
        {"q3_k", 2, {256, 2}, DT_Q3_K, 2 * 110},
        {"q5_k", 1, {768}, DT_Q5_K, 3 * 176},
        {"f32x4", 4, {2, 2, 2, 2}, DT_F32, 64},
    };
    enum { N = sizeof ts / sizeof ts[0] };
    uint64_t off[N], o = 0;
    bb_t b = {0};
    bb_header(&b, 3, N, 2);
    bb_kv_u32(&b, "general.alignment", 64);
    bb_kv_str(&b, "general.name", "t");
    for (int i = 0; i < N; i++) {
        off[i] = o;
        bb_tensor(&b, ts[i].name, ts[i].n_dims, ts[i].ne, ts[i].type, off[i]);
        o += (ts[i].bytes + 63) / 64 * 64;
    }
    bb_pad(&b, 64);
    size_t data_start = b.len;
    for (int i = 0; i < N; i++) {
        bb_fill(&b, ts[i].bytes, (uint8_t)(i + 1));
        bb_pad(&b, 64);
    }
    gguf_t *g = open_ok(&b);
    assert_int_equal(gguf_alignment(g), 64);
    assert_int_equal(gguf_n_tensors(g), N);
    for (int i = 0; i < N; i++) {
        const gguf_tensor_t *t = gguf_find_tensor(g, ts[i].name);
        assert_non_null(t);
        assert_ptr_equal(t, gguf_tensor(g, i));
        assert_int_equal(t->type, ts[i].type);
        assert_int_equal(t->n_dims, ts[i].n_dims);
        for (uint32_t d = 0; d < 4; d++)
            assert_int_equal(t->ne[d], d < ts[i].n_dims ? (int64_t)ts[i].ne[d] : 1);
        assert_int_equal(t->n_bytes, ts[i].bytes);
        assert_int_equal(t->offset, off[i]);
        assert_ptr_equal(t->data, b.p + data_start + off[i]);
        const uint8_t *d = t->data;
        assert_int_equal(d[0], i + 1);
        assert_int_equal(d[t->n_bytes - 1], i + 1);
    }
    gguf_close(g);
    free(b.p);
}

/* ---- malformed files ---- */

static void test_bad_header(void **state) {
    size_t len;
    uint8_t *good = read_all(STORIES, &len);
    uint8_t *p = malloc(len);
    assert_non_null(p);

    memcpy(p, good, len), p[0] = 'X';
    expect_fail_mem(p, len, ERR_FORMAT, "not a GGUF file");
    memcpy(p, good, len), memcpy(p + 4, "\0\0\0\3", 4);
    expect_fail_mem(p, len, ERR_UNSUPPORTED, "big-endian");
    memcpy(p, good, len), memcpy(p + 4, "\0\0\0\2", 4);
    expect_fail_mem(p, len, ERR_UNSUPPORTED, "big-endian");
    memcpy(p, good, len), p[4] = 1;
    expect_fail_mem(p, len, ERR_UNSUPPORTED,
                    "GGUF version 1 is not supported; convert the file with a current llama.cpp");
    memcpy(p, good, len), p[4] = 4;
    expect_fail_mem(p, len, ERR_UNSUPPORTED, "GGUF version 4 is not supported");
    memcpy(p, good, len), p[4] = 2; /* the same layout as version 3 */
    gguf_t *g = NULL;
    char err[256];
    assert_int_equal(gguf_open_mem(p, len, "v2", &g, err, sizeof err), 0);
    assert_int_equal(gguf_version(g), 2);
    gguf_close(g);
    expect_fail_mem(good, 0, ERR_FORMAT, "not a GGUF file");
    expect_fail_mem(good, 3, ERR_FORMAT, "not a GGUF file");
    free(p);
    free(good);

    bb_t b = {0};
    bb_header(&b, 3, 0, UINT64_MAX), bb_fill(&b, 100, 0);
    expect_fail(&b, ERR_FORMAT, "metadata count 18446744073709551615 cannot fit");
    b.len = 0, bb_header(&b, 3, 0, 1ull << 40), bb_fill(&b, 100, 0);
    expect_fail(&b, ERR_FORMAT, "metadata count");
    b.len = 0, bb_header(&b, 3, UINT64_MAX, 0), bb_fill(&b, 100, 0);
    expect_fail(&b, ERR_FORMAT, "tensor count 18446744073709551615 cannot fit");
    b.len = 0, bb_header(&b, 3, 3, 5), bb_fill(&b, 100, 0); /* each fits alone, not together */
    expect_fail(&b, ERR_FORMAT, "cannot fit");
    free(b.p);
}

static void test_bad_metadata(void **state) {
    bb_t b = {0};
#define RESET(n_kv) (b.len = 0, bb_header(&b, 3, 0, (n_kv)))
    RESET(1), bb_u64(&b, UINT64_MAX), bb_fill(&b, 20, 'a');
    expect_fail(&b, ERR_FORMAT, "string length 18446744073709551615");
    RESET(1), bb_u64(&b, 1000), bb_fill(&b, 20, 'a');
    expect_fail(&b, ERR_FORMAT, "metadata key at offset 24 has string length 1000");
    RESET(1), bb_kv_str(&b, "k", "v"), b.len -= 1; /* value string cut short */
    expect_fail(&b, ERR_FORMAT, "string value");
    RESET(1), bb_key(&b, "k", 13), bb_u32(&b, 0);
    expect_fail(&b, ERR_FORMAT, "key 'k' has unknown value type 13");
    RESET(1), bb_key(&b, "k", 0xFFFFFFFFu), bb_u32(&b, 0);
    expect_fail(&b, ERR_FORMAT, "unknown value type 4294967295");
    RESET(1), bb_key(&b, "k", GGUF_ARRAY), bb_u32(&b, 13), bb_u64(&b, 1), bb_u32(&b, 0);
    expect_fail(&b, ERR_FORMAT, "key 'k': array at offset 37 has unknown element type 13");
    RESET(1), bb_key(&b, "k", GGUF_ARRAY), bb_u32(&b, GGUF_UINT32), bb_u64(&b, 1ull << 61), bb_fill(&b, 64, 0);
    expect_fail(&b, ERR_FORMAT, "array of 2305843009213693952 uint32 elements");
    RESET(1), bb_key(&b, "k", GGUF_ARRAY), bb_u32(&b, GGUF_UINT64), bb_u64(&b, UINT64_MAX), bb_fill(&b, 64, 0);
    expect_fail(&b, ERR_FORMAT, "array of 18446744073709551615 uint64 elements");
    RESET(1), bb_key(&b, "k", GGUF_ARRAY), bb_u32(&b, GGUF_STRING), bb_u64(&b, 1ull << 40), bb_fill(&b, 64, 0);
    expect_fail(&b, ERR_FORMAT, "array of 1099511627776 string elements");
    RESET(1), bb_key(&b, "k", GGUF_ARRAY), bb_u32(&b, GGUF_STRING), bb_u64(&b, 3), bb_str(&b, "a"), bb_u64(&b, 99);
    bb_fill(&b, 10, 'x');
    expect_fail(&b, ERR_FORMAT, "string array element");
    RESET(1), bb_key(&b, "k", GGUF_ARRAY), bb_u32(&b, GGUF_ARRAY), bb_u64(&b, 1), bb_u32(&b, GGUF_INT8),
        bb_u64(&b, 100);
    expect_fail(&b, ERR_FORMAT, "array of 100 int8 elements");
    RESET(1), bb_key(&b, "k", GGUF_ARRAY);
    for (int d = 0; d < 20; d++)
        bb_u32(&b, GGUF_ARRAY), bb_u64(&b, 1);
    bb_u32(&b, GGUF_UINT8), bb_u64(&b, 0);
    expect_fail(&b, ERR_FORMAT, "nested");

    /* Keys: empty, duplicate, invalid UTF-8 of every kind. */
    RESET(1), bb_kv_u32(&b, "", 1);
    expect_fail(&b, ERR_FORMAT, "is empty");
    RESET(3), bb_kv_u32(&b, "a.b", 1), bb_kv_u32(&b, "c", 2), bb_kv_str(&b, "a.b", "x");
    expect_fail(&b, ERR_FORMAT, "duplicate key 'a.b'");
    static const char *const bad_utf8[] = {
        "\xff",                 /* never valid */
        "a\x80",                /* stray continuation */
        "\xc0\xaf",             /* overlong '/' */
        "\xe0\x80\xaf",         /* overlong, 3 bytes */
        "\xf0\x80\x80\xaf",     /* overlong, 4 bytes */
        "\xed\xa0\x80",         /* surrogate U+D800 */
        "\xed\xbf\xbf",         /* surrogate U+DFFF */
        "\xf4\x90\x80\x80",     /* U+110000 */
        "\xf8\x88\x80\x80\x80", /* 5-byte form */
        "\xe2\x82",             /* cut short */
        "\xe2\x28\xa1",         /* bad continuation */
    };
    for (size_t i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
        RESET(1), bb_kv_u32(&b, bad_utf8[i], 1);
        expect_fail(&b, ERR_FORMAT, "is not valid UTF-8");
    }
    RESET(1), bb_kv_u32(&b, "\xed\x9f\xbf.\xf4\x8f\xbf\xbf.\xc2\x80", 1); /* U+D7FF, U+10FFFF, U+0080: fine */
    gguf_t *g = open_ok(&b);
    gguf_close(g);

    /* Bools. */
    RESET(1), bb_key(&b, "flag", GGUF_BOOL), bb_u8(&b, 2);
    expect_fail(&b, ERR_FORMAT, "key 'flag': bool value 2");
    RESET(1), bb_key(&b, "flags", GGUF_ARRAY), bb_u32(&b, GGUF_BOOL), bb_u64(&b, 3), bb_u8(&b, 0), bb_u8(&b, 1);
    bb_u8(&b, 255);
    expect_fail(&b, ERR_FORMAT, "bool array element 2 has value 255");

    /* Alignment: zero, not a power of two, wrong type, huge. */
    RESET(1), bb_kv_u32(&b, "general.alignment", 0);
    expect_fail(&b, ERR_FORMAT, "general.alignment 0 is not a power of two");
    RESET(1), bb_kv_u32(&b, "general.alignment", 3);
    expect_fail(&b, ERR_FORMAT, "general.alignment 3 is not a power of two");
    RESET(1), bb_key(&b, "general.alignment", GGUF_UINT64), bb_u64(&b, 32);
    expect_fail(&b, ERR_FORMAT, "general.alignment has type uint64");
    b.len = 0, bb_header(&b, 3, 1, 1), bb_kv_u32(&b, "general.alignment", 0x80000000u);
    bb_tensor(&b, "w", 1, (uint64_t[]){8}, DT_F32, 0), bb_pad(&b, 32), bb_fill(&b, 64, 0);
    expect_fail(&b, ERR_FORMAT, "data section would start at offset 2147483648 (alignment 2147483648)");
#undef RESET
    free(b.p);
}

static void test_bad_tensors(void **state) {
    bb_t b = {0};
    char msg[512];

    b.len = 0, bb_one_tensor(&b, "blk.0.ffn_up.weight", 2, (uint64_t[]){256, 4}, 16, 0, 4 * 66);
    expect_fail(&b, ERR_UNSUPPORTED, "has type IQ2_XXS");
    {
        char err[512];
        gguf_t *g = NULL;
        uint8_t *copy = malloc(b.len);
        memcpy(copy, b.p, b.len);
        assert_int_equal(gguf_open_mem(copy, b.len, "x.gguf", &g, err, sizeof err), ERR_UNSUPPORTED);
        assert_string_equal(err, "x.gguf: tensor 'blk.0.ffn_up.weight' has type IQ2_XXS, which cinder does not "
                                 "support (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K, "
                                 "Q3_K, Q4_K, Q5_K, Q6_K)");
        free(copy);
    }
    b.len = 0, bb_one_tensor(&b, "w", 1, (uint64_t[]){32}, 99, 0, 128);
    expect_fail(&b, ERR_UNSUPPORTED, "tensor 'w' has unknown type id 99");
    b.len = 0, bb_one_tensor(&b, "w", 1, (uint64_t[]){32}, DT_COUNT, 0, 128);
    expect_fail(&b, ERR_UNSUPPORTED, "unknown type id 40");
    b.len = 0, bb_one_tensor(&b, "w", 1, (uint64_t[]){256}, 23 /* IQ4_XS */, 0, 136);
    expect_fail(&b, ERR_UNSUPPORTED, "tensor 'w' has type IQ4_XS");

    b.len = 0, bb_one_tensor(&b, "w", 0, NULL, DT_F32, 0, 64);
    expect_fail(&b, ERR_FORMAT, "tensor 'w' has 0 dimensions");
    b.len = 0, bb_one_tensor(&b, "w", 5, (uint64_t[]){1, 1, 1, 1, 1}, DT_F32, 0, 64);
    expect_fail(&b, ERR_FORMAT, "tensor 'w' has 5 dimensions");
    b.len = 0, bb_one_tensor(&b, "w", 2, (uint64_t[]){4, 0}, DT_F32, 0, 64);
    expect_fail(&b, ERR_FORMAT, "zero dimension (ne[1] = 0)");
    b.len = 0, bb_one_tensor(&b, "w", 2, (uint64_t[]){1ull << 32, 1ull << 32}, DT_F32, 0, 64);
    expect_fail(&b, ERR_FORMAT, "element count overflows");
    b.len = 0, bb_one_tensor(&b, "w", 4, (uint64_t[]){3037000499ull, 3037000499ull, 2, 1}, DT_F32, 0, 64);
    expect_fail(&b, ERR_FORMAT, "element count overflows");
    b.len = 0, bb_one_tensor(&b, "w", 1, (uint64_t[]){UINT64_MAX}, DT_F32, 0, 64);
    expect_fail(&b, ERR_FORMAT, "element count overflows");
    b.len = 0, bb_one_tensor(&b, "w", 1, (uint64_t[]){1ull << 62}, DT_F32, 0, 64);
    expect_fail(&b, ERR_FORMAT, "byte size overflows");
    b.len = 0, bb_one_tensor(&b, "w", 2, (uint64_t[]){1ull << 31, 1ull << 31}, DT_F16, 0, 64);
    expect_fail(&b, ERR_FORMAT, "byte size overflows");
    b.len = 0, bb_one_tensor(&b, "w", 2, (uint64_t[]){16, 2}, DT_Q8_0, 0, 64);
    expect_fail(&b, ERR_FORMAT, "ne[0] = 16, not a multiple of the Q8_0 block size 32");
    b.len = 0, bb_one_tensor(&b, "w", 1, (uint64_t[]){128}, DT_Q4_K, 0, 256);
    expect_fail(&b, ERR_FORMAT, "block size 256");
    b.len = 0, bb_one_tensor(&b, "", 1, (uint64_t[]){8}, DT_F32, 0, 32);
    expect_fail(&b, ERR_FORMAT, "tensor 0 at offset 24 has an empty name");

    /* Placement: outside the file, misaligned, overlapping. The data section starts at 64 here. */
    b.len = 0, bb_one_tensor(&b, "w", 1, (uint64_t[]){16}, DT_F32, 32, 64);
    snprintf(msg, sizeof msg, "tensor 'w' data [96, 160) lies outside the file (%zu bytes)", b.len);
    expect_fail(&b, ERR_FORMAT, msg);
    b.len = 0, bb_one_tensor(&b, "w", 1, (uint64_t[]){16}, DT_F32, 1ull << 62, 64);
    expect_fail(&b, ERR_FORMAT, "lies outside the file");
    b.len = 0, bb_one_tensor(&b, "w", 1, (uint64_t[]){16}, DT_F32, UINT64_MAX - 31, 64);
    expect_fail(&b, ERR_FORMAT, "lies outside the file");
    b.len = 0, bb_one_tensor(&b, "w", 1, (uint64_t[]){16}, DT_F32, 4, 128);
    expect_fail(&b, ERR_FORMAT, "tensor 'w' offset 4 is not a multiple of the alignment 32");
    b.len = 0, bb_header(&b, 3, 3, 0);
    bb_tensor(&b, "a", 1, (uint64_t[]){64}, DT_F32, 0);
    bb_tensor(&b, "c", 1, (uint64_t[]){8}, DT_F32, 512);
    bb_tensor(&b, "b", 1, (uint64_t[]){64}, DT_F32, 128);
    bb_pad(&b, 32), bb_fill(&b, 1024, 0);
    expect_fail(&b, ERR_FORMAT, "tensors 'a' [0, 256) and 'b' [128, 384) overlap");
    b.len = 0, bb_header(&b, 3, 2, 0);
    bb_tensor(&b, "a", 1, (uint64_t[]){8}, DT_F32, 64);
    bb_tensor(&b, "b", 1, (uint64_t[]){8}, DT_F32, 64);
    bb_pad(&b, 32), bb_fill(&b, 256, 0);
    expect_fail(&b, ERR_FORMAT, "overlap");
    b.len = 0, bb_header(&b, 3, 2, 0);
    bb_tensor(&b, "a", 1, (uint64_t[]){8}, DT_F32, 0);
    bb_tensor(&b, "b", 1, (uint64_t[]){8}, DT_F32, 32); /* touching, not overlapping: fine */
    bb_pad(&b, 32), bb_fill(&b, 64, 0);
    gguf_close(open_ok(&b));
    b.len = 0, bb_header(&b, 3, 3, 0);
    bb_tensor(&b, "a", 1, (uint64_t[]){8}, DT_F32, 0);
    bb_tensor(&b, "b", 1, (uint64_t[]){8}, DT_F32, 32);
    bb_tensor(&b, "a", 1, (uint64_t[]){8}, DT_F32, 64);
    bb_pad(&b, 32), bb_fill(&b, 96, 0);
    expect_fail(&b, ERR_FORMAT, "duplicate tensor name 'a' (tensors 0 and 2)");
    /* A name with control bytes is shown escaped, keeping the message on one line. */
    b.len = 0, bb_one_tensor(&b, "x\ny", 1, (uint64_t[]){256}, 16 /* IQ2_XXS */, 0, 66);
    expect_fail(&b, ERR_UNSUPPORTED, "tensor 'x\\x0ay'");
    free(b.p);
}

/* Cuts of the real file: every one must fail cleanly with a message about the cut. */
static void test_truncations(void **state) {
    size_t len;
    uint8_t *good = read_all(STORIES, &len);
    char err[512];
    gguf_t *g = NULL;
    assert_int_equal(gguf_open_mem(good, len, "good", &g, err, sizeof err), 0);
    const gguf_tensor_t *t0 = gguf_tensor(g, 0);
    size_t data_start = (size_t)((const uint8_t *)t0->data - good) - t0->offset;
    size_t infos_start = (size_t)((const uint8_t *)t0->name.ptr - good) - 8;
    gguf_close(g);
    assert_true(infos_start > 24 && infos_start < data_start && data_start < len);

    int n = 0;
    for (size_t cut = 0; cut < data_start + 64; cut += cut < 96                                             ? 1
                                                       : cut < infos_start + 200 && cut > infos_start - 200 ? 3
                                                                                                            : 11) {
        fail_ctx = (long)cut;
        expect_fail_mem(good, cut, ERR_FORMAT,
                        cut < 4            ? "not a GGUF file"
                        : cut < data_start ? "truncated"
                                           : "outside the file");
        n++;
    }
    fail_ctx = -1;
    const size_t data_cuts[] = {data_start + 1, data_start + 131072, (data_start + len) / 2, len - 4, len - 1};
    for (size_t i = 0; i < sizeof data_cuts / sizeof data_cuts[0]; i++)
        expect_fail_mem(good, data_cuts[i], ERR_FORMAT, "outside the file");
    assert_true(n > 1000);
    free(good);
}

/* The file-based path: a good copy, a truncated copy and a bad tensor type, through real temp files. */
static void write_tmp(char *path, const void *p, size_t n) {
    strcpy(path, "/tmp/test_gguf_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    close(fd);
}

static void test_files(void **state) {
    size_t len;
    uint8_t *good = read_all(STORIES, &len);
    char path[64], err[512];
    gguf_t *g = NULL;

    write_tmp(path, good, len);
    assert_int_equal(gguf_open(path, &g, err, sizeof err), 0);
    assert_int_equal(gguf_n_tensors(g), 48);
    touch_all(g);
    gguf_close(g);
    unlink(path);

    write_tmp(path, good, 5000);
    g = (gguf_t *)&err;
    assert_int_equal(gguf_open(path, &g, err, sizeof err), ERR_FORMAT);
    assert_null(g);
    check_msg(err, path, "truncated");
    unlink(path);

    write_tmp(path, good, len - 100);
    assert_int_equal(gguf_open(path, &g, err, sizeof err), ERR_FORMAT);
    check_msg(err, path, "lies outside the file");
    unlink(path);

    bb_t b = {0};
    bb_one_tensor(&b, "blk.0.ffn_up.weight", 2, (uint64_t[]){256, 4}, 16, 0, 4 * 66);
    write_tmp(path, b.p, b.len);
    assert_int_equal(gguf_open(path, &g, err, sizeof err), ERR_UNSUPPORTED);
    check_msg(err, path, "tensor 'blk.0.ffn_up.weight' has type IQ2_XXS");
    unlink(path);
    free(b.p);

    write_tmp(path, good, 0);
    assert_int_equal(gguf_open(path, &g, err, sizeof err), ERR_FORMAT);
    check_msg(err, path, "not a GGUF file");
    unlink(path);

    assert_int_equal(gguf_open("/nonexistent/dir/model.gguf", &g, err, sizeof err), ERR_IO);
    assert_null(g);
    check_msg(err, "/nonexistent/dir/model.gguf", "No such file or directory");
    assert_int_equal(gguf_open("/tmp", &g, err, sizeof err), ERR_IO);
    check_msg(err, "/tmp", "not a regular file");
    assert_int_equal(gguf_open(V1_FILE, &g, NULL, 0), ERR_UNSUPPORTED); /* no message buffer: still fine */
    assert_int_equal(gguf_open(STORIES, NULL, err, sizeof err), ERR_INVAL);
    free(good);
}

/* Random flips and cuts in the header region of stories260K: each must open or fail cleanly. */
static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void test_mutations(void **state) {
    size_t len;
    uint8_t *good = read_all(STORIES, &len);
    uint8_t *work = malloc(len);
    assert_non_null(work);
    memcpy(work, good, len);
    const size_t header = 14176; /* header + metadata + tensor infos + padding, per tools/gguf_info.py */
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    int n_ok = 0, n_err = 0;
    char err[512];
    for (int it = 0; it < 2000; it++) {
        size_t pos[8];
        int n_flips = 1 + (int)(rng_next(&seed) % 8);
        for (int k = 0; k < n_flips; k++) {
            pos[k] = (size_t)(rng_next(&seed) % header);
            uint64_t r = rng_next(&seed);
            /* Half the time a single bit, otherwise a byte biased to the interesting values 0 and 0xff. */
            work[pos[k]] = (r & 1) ? (uint8_t)(work[pos[k]] ^ (1u << ((r >> 1) % 8)))
                                   : (uint8_t)((r >> 8) % 3 == 0   ? 0
                                               : (r >> 8) % 3 == 1 ? 0xff
                                                                   : r >> 16);
        }
        bool cut = rng_next(&seed) % 4 == 0;
        size_t n = cut ? (size_t)(rng_next(&seed) % (header + 64)) : len;
        uint8_t *buf = work;
        if (cut) { /* an exact-size copy, so a read past the cut is a sanitizer error */
            buf = malloc(n ? n : 1);
            assert_non_null(buf);
            memcpy(buf, work, n);
        }
        gguf_t *g = NULL;
        err[0] = 0;
        int rc = gguf_open_mem(buf, n, "mut", &g, err, sizeof err);
        if (rc == 0) {
            touch_all(g);
            gguf_close(g);
            n_ok++;
        } else {
            assert_true(rc == ERR_FORMAT || rc == ERR_UNSUPPORTED);
            assert_null(g);
            check_msg(err, "mut", "");
            n_err++;
        }
        if (cut) free(buf);
        for (int k = n_flips - 1; k >= 0; k--)
            work[pos[k]] = good[pos[k]];
    }
    /* Both outcomes occur, so the loop reaches past the first failure point. */
    assert_true(n_err > 200);
    assert_true(n_ok > 200);
    free(work);
    free(good);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stories260k),
        cmocka_unit_test(test_tiny_random_f16),
        cmocka_unit_test(test_prefault),
        cmocka_unit_test(test_version1_refused),
        cmocka_unit_test(test_all_shared_files),
        cmocka_unit_test(test_all_value_types),
        cmocka_unit_test(test_tensor_types_and_alignment),
        cmocka_unit_test(test_bad_header),
        cmocka_unit_test(test_bad_metadata),
        cmocka_unit_test(test_bad_tensors),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
