/*
 * fuzz_grammar.c — libFuzzer target for JSON Schema -> grammar and the regex subset, and the matcher on what
 * they compile to.
 *
 * Input: a JSON Schema; or, when the first byte is 'R', a regex (the rest of the input). Compiling must succeed
 * or fail with a non-empty message. When a schema compiles, a byte-level walk picks allowed bytes (the input's
 * hash seeds the choices) until the grammar is complete or 400 bytes are written; a complete document must parse
 * as JSON (cJSON) and validate against the schema (tests/unit/schema_check.h, an independent validator with
 * PCRE2 for patterns): the grammar's promise. Anything ASan/UBSan/LSan reports is a bug too.
 *
 * Build (`make fuzz-grammar`): clang with -fsanitize=fuzzer,address,undefined over this file, engine/grammar,
 * the tokenizer files it links against, engine/gguf.c and common/err.c. Seeds: tests/fuzz/grammar_seeds/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "grammar/grammar.h"
#include "schema_check.h"

static uint64_t fz_hash(const uint8_t *d, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ d[i]) * 1099511628211ull;
    return h | 1;
}

static uint64_t fz_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Walks g byte by byte; returns the document length when it completes (doc NUL-terminated), 0 otherwise. */
static size_t fz_walk(const gram_t *g, uint64_t seed, char *doc, size_t cap) {
    gram_matcher_t *m = NULL, *c = NULL;
    char err[256];
    size_t n = 0;
    if (gram_matcher_create(g, NULL, NULL, &m, err, sizeof err) ||
        gram_matcher_create(g, NULL, NULL, &c, err, sizeof err))
        abort();
    bool complete = false;
    while (n + 1 < cap) {
        if (gram_matcher_done(m) || (gram_matcher_accepting(m) && fz_next(&seed) % 4 == 0)) {
            complete = gram_matcher_accepting(m);
            break;
        }
        uint8_t ok[256];
        int n_ok = 0;
        for (int b = 0; b < 256; b++) {
            if (gram_matcher_copy(c, m)) abort();
            uint8_t byte = (uint8_t)b;
            if (gram_matcher_accept_bytes(c, &byte, 1) == 0) ok[n_ok++] = byte;
        }
        if (n_ok == 0) {
            /* a live, incomplete parse with no next byte would be a bug (only caps can cause it) */
            if (!gram_matcher_accepting(m)) abort();
            complete = true;
            break;
        }
        /* prefer bytes that close things so documents finish */
        uint8_t pick = ok[fz_next(&seed) % (uint64_t)n_ok];
        for (int i = 0; i < n_ok && fz_next(&seed) % 2; i++)
            if (strchr("\"]},", ok[i]) && ok[i]) pick = ok[i];
        if (gram_matcher_accept_bytes(m, &pick, 1)) abort();
        doc[n++] = (char)pick;
    }
    doc[n] = 0;
    gram_matcher_free(m);
    gram_matcher_free(c);
    return complete ? n : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 16) return 0;
    gram_t *g = NULL;
    char err[512];
    err[0] = 0;
    bool is_regex = size > 0 && data[0] == 'R';
    int rc = is_regex ? gram_from_regex((const char *)data + 1, size - 1, &g, err, sizeof err)
                      : gram_from_schema((const char *)data, size, NULL, &g, err, sizeof err);
    if (rc) {
        if (!err[0] || g) abort();
        return 0;
    }
    if (!is_regex) {
        char doc[512];
        size_t n = fz_walk(g, fz_hash(data, size), doc, sizeof doc);
        if (n) {
            cJSON *j = cJSON_ParseWithLength(doc, n);
            if (!j) {
                fprintf(stderr, "schema grammar produced non-JSON: %s\n", doc);
                abort();
            }
            cJSON *sch = cJSON_ParseWithLength((const char *)data, size);
            if (sch && !strstr(doc, "\\u0000") && !sc_valid(sch, sch, j)) {
                fprintf(stderr, "schema grammar produced a document that does not validate: %s\n", doc);
                abort();
            }
            cJSON_Delete(sch);
            cJSON_Delete(j);
        }
    }
    gram_free(g);
    return 0;
}
