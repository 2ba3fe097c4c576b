/*
 * fuzz_toolparse.c — libFuzzer target for the tool-call output parser (api/toolparse.c).
 *
 * Input: byte 0 chooses the configuration (bits 0-2: the family, 7 meaning GENERIC; bit 3: calls on; bit 4: reasoning
 * split out; bits 5-6: the prompt tail — none, an open "<think>\n", Qwen3's closed "<think>\n\n</think>\n\n",
 * harmony's "<|start|>assistant"; bit 7: the model thinks with <think> tags — gpt-oss always thinks), byte 1
 * seeds the chunking, the rest is the generated text. The text is parsed whole, then in chunks (lengths drawn
 * from the seed, 1 to 16 bytes), then byte by byte: the three results must be identical, and while streaming
 * what the parser shows must only grow (content, reasoning, each call's arguments; names never change; a
 * complete call stays complete). Any difference aborts; ASan/UBSan/LSan reports are bugs too.
 *
 * Seeds: tests/fuzz/corpus/toolparse/seed-* (each family's call text as its template renders it in history, cut
 * from ../shared/templates/expected and tests/templates/expected, plus harmony as the model writes it); dictionary:
 * tests/fuzz/toolparse.dict (the families' markers).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toolfmt.h"

#define FZ_MAX_CALLS 4096

typedef struct {
    char *content, *reasoning;
    size_t n_content, n_reasoning, n_calls;
    char **name, **args;
    size_t *n_args;
    bool *complete;
} fz_res_t;

static void fz_free(fz_res_t *r) {
    for (size_t i = 0; i < r->n_calls; i++)
        free(r->name[i]), free(r->args[i]);
    free(r->name);
    free(r->args);
    free(r->n_args);
    free(r->complete);
    free(r->content);
    free(r->reasoning);
    memset(r, 0, sizeof *r);
}

static char *fz_dup(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) abort();
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* a[0..n) == b[0..n), for n == 0 with either pointer NULL too. */
static bool fz_prefix(const char *a, const char *b, size_t n) { return n == 0 || !memcmp(a, b, n); }

static void fz_check(bool ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "fuzz_toolparse: %s\n", what);
        abort();
    }
}

/* Takes a snapshot; with prev, checks that everything only grew since, then replaces prev. */
static void fz_snap(const api_tf_parser_t *p, fz_res_t *prev) {
    fz_res_t r;
    memset(&r, 0, sizeof r);
    const char *s = api__tf_content(p, &r.n_content);
    r.content = fz_dup(s, r.n_content);
    s = api__tf_reasoning(p, &r.n_reasoning);
    r.reasoning = fz_dup(s, r.n_reasoning);
    r.n_calls = api__tf_n_calls(p);
    fz_check(r.n_calls <= FZ_MAX_CALLS, "too many calls");
    size_t k = r.n_calls ? r.n_calls : 1;
    r.name = calloc(k, sizeof *r.name);
    r.args = calloc(k, sizeof *r.args);
    r.n_args = calloc(k, sizeof *r.n_args);
    r.complete = calloc(k, sizeof *r.complete);
    if (!r.name || !r.args || !r.n_args || !r.complete) abort();
    for (size_t i = 0; i < r.n_calls; i++) {
        const api_tf_call_t *c = api__tf_call(p, i);
        fz_check(c && c->name && c->name[0], "a shown call without a name");
        r.name[i] = fz_dup(c->name, strlen(c->name));
        r.args[i] = fz_dup(c->args ? c->args : "", c->args_len);
        r.n_args[i] = c->args_len;
        r.complete[i] = c->complete;
    }
    fz_check(r.n_content >= prev->n_content && fz_prefix(r.content, prev->content, prev->n_content), "content changed");
    fz_check(r.n_reasoning >= prev->n_reasoning && fz_prefix(r.reasoning, prev->reasoning, prev->n_reasoning),
             "reasoning changed");
    fz_check(r.n_calls >= prev->n_calls, "a call disappeared");
    for (size_t i = 0; i < prev->n_calls; i++) {
        fz_check(!strcmp(r.name[i], prev->name[i]), "a name changed");
        fz_check(r.n_args[i] >= prev->n_args[i] && fz_prefix(r.args[i], prev->args[i], prev->n_args[i]),
                 "arguments changed");
        fz_check(r.complete[i] || !prev->complete[i], "a complete call became incomplete");
    }
    fz_free(prev);
    *prev = r;
}

static void fz_equal(const fz_res_t *a, const fz_res_t *b) {
    fz_check(a->n_content == b->n_content && fz_prefix(a->content, b->content, a->n_content),
             "chunked content differs");
    fz_check(a->n_reasoning == b->n_reasoning && fz_prefix(a->reasoning, b->reasoning, a->n_reasoning),
             "chunked reasoning differs");
    fz_check(a->n_calls == b->n_calls, "chunked call count differs");
    for (size_t i = 0; i < a->n_calls; i++) {
        fz_check(!strcmp(a->name[i], b->name[i]), "chunked name differs");
        fz_check(a->n_args[i] == b->n_args[i] && fz_prefix(a->args[i], b->args[i], a->n_args[i]),
                 "chunked arguments differ");
        fz_check(a->complete[i] == b->complete[i], "chunked completeness differs");
    }
}

/* step 0: whole; step > 0: chunks of 1..16 bytes drawn from seed (step 1) or single bytes (step 2). */
static void fz_parse(const api_tf_t *f, bool calls, bool split, const char *tail, const char *s, size_t n, int mode,
                     uint32_t seed, fz_res_t *out) {
    api_tf_parser_t *p = NULL;
    if (api__tf_parser_new(f, calls, split, tail, &p)) abort();
    memset(out, 0, sizeof *out);
    size_t at = 0;
    while (at < n) {
        size_t len = n - at;
        if (mode == 1) {
            seed = seed * 1103515245u + 12345u;
            len = 1 + (seed >> 16) % 16;
        } else if (mode == 2) {
            len = 1;
        }
        if (len > n - at) len = n - at;
        if (api__tf_feed(p, s + at, len, false)) abort();
        fz_snap(p, out);
        at += len;
    }
    if (api__tf_feed(p, NULL, 0, true)) abort();
    fz_check(!api__tf_in_reasoning(p), "still in reasoning after the end");
    fz_snap(p, out);
    api__tf_parser_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    static const char *const tails[] = {NULL, "<|im_start|>assistant\n<think>\n",
                                        "<|im_start|>assistant\n<think>\n\n</think>\n\n", "<|start|>assistant"};
    uint8_t cfg = data[0];
    api_tf_t f;
    memset(&f, 0, sizeof f);
    f.family = (api_tf_family_t)((cfg & 7) % 7);
    f.native_tools = f.family != API_TF_GENERIC;
    if (f.family == API_TF_GPTOSS) {
        f.thinks = true;
    } else if (cfg & 0x80) {
        f.thinks = true;
        strcpy(f.think_open, "<think>");
        strcpy(f.think_close, "</think>");
    }
    bool calls = cfg & 0x08, split = cfg & 0x10;
    const char *tail = tails[(cfg >> 5) & 3];
    const char *s = (const char *)data + 2;
    size_t n = size - 2;
    fz_res_t whole, chunked, bytes;
    fz_parse(&f, calls, split, tail, s, n, 0, 0, &whole);
    fz_parse(&f, calls, split, tail, s, n, 1, data[1], &chunked);
    fz_equal(&whole, &chunked);
    fz_parse(&f, calls, split, tail, s, n, 2, 0, &bytes);
    fz_equal(&whole, &bytes);
    /* nothing is invented: every byte shown came from the input (content and reasoning are at most its size) */
    fz_check(whole.n_content + whole.n_reasoning <= n, "more text out than in");
    fz_free(&whole);
    fz_free(&chunked);
    fz_free(&bytes);
    return 0;
}
