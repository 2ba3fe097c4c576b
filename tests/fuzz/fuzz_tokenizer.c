/*
 * fuzz_tokenizer.c — libFuzzer target for the tokenizers: SentencePiece (stories260K, Llama 2, Phi-3) and BPE with
 * each pre-tokenizer the shared vocab files use (GPT-2, DeepSeek LLM and Coder, Falcon, MPT, StarCoder, Refact).
 *
 * Input: byte 0 picks the vocab (its low bits) and the flags (TOK_ADD_SPECIAL, TOK_PARSE_SPECIAL); the rest is the
 * text, any bytes. The text is encoded (first into a buffer that may be too small, to exercise the ERR_RANGE
 * retry contract), every id must be in range, then the ids are decoded whole (tok_decode, both render modes) and
 * piece by piece through the streaming detokenizer, whose output must be valid UTF-8. A failure of any of those
 * checks aborts (a crash for libFuzzer), as does anything ASan/UBSan/LSan reports.
 *
 * Build: `make fuzz` (see the Makefile's fuzz section); the vocab files are read from TEST_SHARED_DIR/models.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "gguf.h"
#include "tokenizer/tokenizer.h"

#ifndef TEST_SHARED_DIR
#define TEST_SHARED_DIR "../shared"
#endif

static const char *const fz__files[] = {
    "stories260K.gguf",
    "vocab/ggml-vocab-llama-spm.gguf",
    "vocab/ggml-vocab-phi-3.gguf",
    "vocab/ggml-vocab-gpt-2.gguf",
    "vocab/ggml-vocab-deepseek-llm.gguf",
    "vocab/ggml-vocab-deepseek-coder.gguf",
    "vocab/ggml-vocab-falcon.gguf",
    "vocab/ggml-vocab-mpt.gguf",
    "vocab/ggml-vocab-starcoder.gguf",
    "vocab/ggml-vocab-refact.gguf",
};
#define FZ_N (sizeof fz__files / sizeof fz__files[0])

static gguf_t *fz__g[FZ_N];
static tok_t *fz__tok[FZ_N];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    for (size_t i = 0; i < FZ_N; i++) {
        char path[512], err[512];
        snprintf(path, sizeof path, "%s/models/%s", TEST_SHARED_DIR, fz__files[i]);
        if (gguf_open(path, &fz__g[i], err, sizeof err) || tok_load(fz__g[i], &fz__tok[i], err, sizeof err)) {
            fprintf(stderr, "fuzz_tokenizer: %s\n", err);
            abort();
        }
    }
    return 0;
}

static void fz__check_utf8(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        const unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
        if (!len || i + len > n) abort();
        for (size_t k = 1; k < len; k++)
            if (((unsigned char)s[i + k] & 0xc0) != 0x80) abort();
        i += len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const tok_t *t = fz__tok[data[0] % FZ_N];
    const unsigned flags = (data[0] / FZ_N) & 3u;
    const char *text = (const char *)data + 1;
    const size_t len = size - 1;

    size_t n = 0, cap = len / 4 + 1;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) return 0;
    int rc = tok_encode(t, text, len, flags, ids, cap, &n);
    if (rc == ERR_RANGE) {
        if (n <= cap) abort(); /* ERR_RANGE must say how many are needed */
        free(ids);
        cap = n;
        ids = malloc(cap * sizeof *ids);
        if (!ids) return 0;
        size_t n2 = 0;
        rc = tok_encode(t, text, len, flags, ids, cap, &n2);
        if (rc == 0 && n2 != n) abort();
    }
    if (rc != 0) {
        if (rc != ERR_LIMIT && rc != ERR_NOMEM) abort(); /* the only failures the contract allows for any text */
        free(ids);
        return 0;
    }
    const int32_t n_vocab = tok_n_vocab(t);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= n_vocab) abort();

    for (int special = 0; special < 2; special++) {
        size_t need = 0;
        rc = tok_decode(t, ids, n, special, true, NULL, 0, &need);
        if (rc != 0 && rc != ERR_RANGE) abort();
        char *buf = malloc(need + 1);
        if (!buf) break;
        size_t got = 0;
        if (tok_decode(t, ids, n, special, true, buf, need + 1, &got) != 0 || got != need) abort();
        free(buf);
    }

    const size_t scap = tok_stream_cap(t);
    char *out = malloc(scap);
    if (out) {
        tok_stream_t st;
        tok_stream_init(&st);
        for (size_t i = 0; i < n; i++) {
            size_t k = 0;
            if (tok_stream_push(&st, t, ids[i], out, scap, &k) != 0 || k > scap) abort();
            fz__check_utf8(out, k);
        }
        size_t k = 0;
        if (tok_stream_flush(&st, out, scap, &k) != 0) abort();
        fz__check_utf8(out, k);
        free(out);
    }
    free(ids);
    return 0;
}
