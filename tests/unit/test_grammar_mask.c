/*
 * test_grammar_mask.c — token masks on the real 151,936-entry Qwen3 vocabulary: the cached mask against the
 * uncached trie walk and against a per-token check of every token, random walks that sample only allowed tokens
 * and must end in a document that cJSON parses and an independent validator (below) accepts, lazy triggers,
 * special tokens, and the sampler's mask hook.
 *
 * Documents are validated by schema_check.h (written from JSON Schema's definitions; patterns by PCRE2).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "gguf.h"
#include "grammar/grammar.h"
#include "sampler.h"
#include "schema_check.h"
#include "tokenizer/tokenizer.h"

#ifndef TEST_SHARED_DIR
#define TEST_SHARED_DIR "/work/shared"
#endif

static tok_t *g_tok;
static gram_vocab_t *g_voc;
static int32_t g_nv;

static int setup(void **state) {
    (void)state;
    char path[512], err[256] = "";
    snprintf(path, sizeof path, "%s/models/vocab/ggml-vocab-qwen3.gguf", TEST_SHARED_DIR);
    gguf_t *g = NULL;
    if (gguf_open(path, &g, err, sizeof err)) {
        fprintf(stderr, "gguf_open %s: %s\n", path, err);
        return -1;
    }
    int rc = tok_load(g, &g_tok, err, sizeof err);
    gguf_close(g);
    if (rc || gram_vocab_create(g_tok, &g_voc, err, sizeof err)) {
        fprintf(stderr, "vocab: %s\n", err);
        return -1;
    }
    g_nv = tok_n_vocab(g_tok);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    gram_vocab_free(g_voc);
    tok_free(g_tok);
    return 0;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static bool bit(const uint32_t *m, int32_t id) { return (m[id >> 5] >> (id & 31)) & 1u; }

static gram_t *schema(const char *json) {
    gram_t *g = NULL;
    char err[256] = "";
    if (gram_from_schema(json, strlen(json), NULL, &g, err, sizeof err)) fail_msg("schema: %s", err);
    return g;
}

/* ---- walks ------------------------------------------------------------------------------------------------ */

static const char *const walk_schemas[] = {
    /* an extraction-style schema in OpenAI's strict form */
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":20},\"age\":{\"type\":"
    "\"integer\","
    "\"minimum\":0,\"maximum\":150},\"email\":{\"type\":\"string\",\"format\":\"email\"},\"tags\":{\"type\":\"array\","
    "\"items\":{\"type\":\"string\",\"enum\":[\"a\",\"b\",\"vip\"]},\"maxItems\":4},\"score\":{\"type\":[\"number\","
    "\"null\"]},\"address\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"},\"zip\":{\"type\":"
    "\"string\",\"pattern\":\"^[0-9]{5}$\"}},\"required\":[\"city\",\"zip\"],\"additionalProperties\":false},\"kind\":{"
    "\"anyOf\":[{\"const\":\"person\"},{\"type\":\"boolean\"}]}},\"required\":[\"name\",\"age\",\"email\",\"tags\","
    "\"score\",\"address\",\"kind\"],\"additionalProperties\":false}",
    /* recursion through $defs, formats, optional properties */
    "{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\",\"format\":\"uuid\"},"
    "\"when\":{\"type\":\"string\",\"format\":\"date\"},\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/"
    "node\"},\"maxItems\":2}},\"required\":[\"id\"],\"additionalProperties\":false}},\"$ref\":\"#/$defs/node\"}",
    /* any JSON value under a map */
    "{\"type\":\"object\",\"additionalProperties\":true}",
};

/* Picks an allowed token: EOG when allowed (the document is complete), else half the time one that carries a
   structural byte (so strings and numbers end), else any allowed token. */
static int32_t pick(const uint32_t *mask, int32_t *buf) {
    int32_t n = 0, n_struct = 0;
    for (int32_t id = 0; id < g_nv; id++) {
        if (!bit(mask, id)) continue;
        if (tok_is_eog(g_tok, id)) return id;
        buf[n++] = id;
    }
    assert_true(n > 0);
    if (rnd() % 2) {
        for (int32_t i = 0; i < n; i++) {
            size_t len;
            const uint8_t *b = gram_vocab_bytes(g_voc, buf[i], &len);
            if (memchr(b, '"', len) || memchr(b, '}', len) || memchr(b, ']', len) || memchr(b, ',', len))
                buf[n_struct++] = buf[i];
        }
        if (n_struct) return buf[rnd() % (uint64_t)n_struct];
        /* nothing structural: fall through to the whole allowed set (buf was partly overwritten: recollect) */
        n = 0;
        for (int32_t id = 0; id < g_nv; id++)
            if (bit(mask, id)) buf[n++] = id;
    }
    return buf[rnd() % (uint64_t)n];
}

/* Three ways to the same mask: cached, uncached trie walk, one check per token. */
static void check_mask_agrees(gram_matcher_t *m, const uint32_t *mask, uint32_t *tmp, bool brute) {
    size_t words = gram_mask_words(g_nv);
    assert_int_equal(gram_matcher_fill_mask_nocache(m, tmp), 0);
    if (memcmp(mask, tmp, words * 4) != 0) {
        for (int32_t id = 0; id < g_nv; id++)
            if (bit(mask, id) != bit(tmp, id))
                fail_msg("token %d (%s): cached %d, uncached %d", id, tok_text(g_tok, id), bit(mask, id), bit(tmp, id));
    }
    if (!brute) return;
    for (int32_t id = 0; id < g_nv; id++)
        if (gram_matcher_allows(m, id) != bit(mask, id))
            fail_msg("token %d (%s): mask %d, allows %d", id, tok_text(g_tok, id), bit(mask, id), !bit(mask, id));
}

static void test_walks(void **state) {
    (void)state;
    size_t words = gram_mask_words(g_nv);
    uint32_t *mask = malloc(words * 4), *tmp = malloc(words * 4);
    int32_t *buf = malloc((size_t)g_nv * sizeof *buf);
    char *doc = malloc(1 << 16);
    int brute_budget = 6;
    for (size_t si = 0; si < sizeof walk_schemas / sizeof *walk_schemas; si++) {
        cJSON *sch = cJSON_Parse(walk_schemas[si]);
        assert_non_null(sch);
        gram_t *g = schema(walk_schemas[si]);
        gram_matcher_t *m = NULL;
        char err[256];
        assert_int_equal(gram_matcher_create(g, g_voc, NULL, &m, err, sizeof err), 0);
        for (int walk = 0; walk < 6; walk++) {
            gram_matcher_reset(m);
            size_t n_doc = 0;
            int steps = 0;
            while (!gram_matcher_done(m)) {
                assert_true(++steps < 3000);
                assert_int_equal(gram_matcher_fill_mask(m, mask), 0);
                if (steps % 8 == 1 || brute_budget > 0) check_mask_agrees(m, mask, tmp, brute_budget-- > 0);
                for (int32_t id = 0; id < g_nv; id++) /* EOG only when complete; other control tokens by text */
                    if (bit(mask, id) && tok_is_eog(g_tok, id)) assert_true(gram_matcher_accepting(m));
                int32_t id = pick(mask, buf);
                int rc = gram_matcher_accept(m, id); /* every token the mask allows advances */
                if (rc) {
                    doc[n_doc] = 0;
                    fail_msg("walk %zu/%d: allowed token %d '%s' refused (%s) after: %s", si, walk, id,
                             tok_text(g_tok, id), err_name(rc), doc);
                }
                size_t len;
                const uint8_t *b = gram_vocab_bytes(g_voc, id, &len);
                assert_true(n_doc + len < (1 << 16));
                memcpy(doc + n_doc, b, len);
                n_doc += len;
            }
            doc[n_doc] = 0;
            cJSON *v = cJSON_Parse(doc);
            if (!v) fail_msg("walk %zu/%d: not JSON: %s", si, walk, doc);
            if (!sc_valid(sch, sch, v)) fail_msg("walk %zu/%d: does not validate: %s", si, walk, doc);
            cJSON_Delete(v);
        }
        gram_stats_t st;
        gram_stats(g, &st);
        assert_true(st.n_cached > 0);
        gram_matcher_free(m);
        gram_free(g);
        cJSON_Delete(sch);
    }
    free(mask);
    free(tmp);
    free(buf);
    free(doc);
}

static int32_t tok1(const char *text) {
    int32_t ids[4];
    size_t n = 0;
    assert_int_equal(tok_encode(g_tok, text, strlen(text), TOK_PARSE_SPECIAL, ids, 4, &n), 0);
    assert_int_equal(n, 1);
    return ids[0];
}

static void accept_text(gram_matcher_t *m, const char *text) {
    int32_t ids[256];
    size_t n = 0;
    assert_int_equal(tok_encode(g_tok, text, strlen(text), 0, ids, 256, &n), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(gram_matcher_accept(m, ids[i]), 0);
}

static void test_lazy(void **state) {
    (void)state;
    gram_schema_opts_t o = gram_schema_default_opts();
    o.any_object = true;
    gram_t *g = NULL;
    char err[256];
    assert_int_equal(gram_from_schema(NULL, 0, &o, &g, err, sizeof err), 0);
    const char *texts[] = {"<tool_call>"};
    gram_lazy_t lazy = {.texts = texts, .n_texts = 1};
    gram_matcher_t *m = NULL;
    assert_int_equal(gram_matcher_create(g, g_voc, &lazy, &m, err, sizeof err), 0);
    size_t words = gram_mask_words(g_nv);
    uint32_t *mask = malloc(words * 4);

    /* waiting: free text, every token allowed (control and EOG included) */
    assert_true(gram_matcher_waiting(m));
    assert_int_equal(gram_matcher_fill_mask(m, mask), 0);
    for (int32_t id = 0; id < g_nv; id++)
        assert_true(bit(mask, id));
    accept_text(m, "Let me check the weather. <tool");
    assert_true(gram_matcher_waiting(m));
    /* now "_call>" completes the trigger: a token ">{" carries on into the grammar, ">\"" cannot */
    accept_text(m, "_call");
    int32_t gt_brace = tok1(">{"), gt_quote = tok1(">\""), gt_nl = tok1(">\n");
    assert_true(gram_matcher_allows(m, gt_brace));
    assert_false(gram_matcher_allows(m, gt_quote));
    assert_false(gram_matcher_allows(m, gt_nl)); /* the object starts with '{' */
    assert_int_equal(gram_matcher_fill_mask(m, mask), 0);
    assert_true(bit(mask, gt_brace));
    assert_false(bit(mask, gt_quote));
    assert_true(bit(mask, tok1("hello")));
    assert_int_equal(gram_matcher_accept(m, gt_quote), ERR_STATE);
    assert_true(gram_matcher_waiting(m));
    assert_int_equal(gram_matcher_accept(m, gt_brace), 0);
    assert_false(gram_matcher_waiting(m));
    /* active: the grammar rules, control tokens and EOG are out until the object closes */
    assert_int_equal(gram_matcher_fill_mask(m, mask), 0);
    assert_false(bit(mask, tok_eos(g_tok)));
    assert_false(bit(mask, tok1("hello")));
    accept_text(m, "\"city\": \"Paris\"}");
    assert_true(gram_matcher_done(m));
    assert_int_equal(gram_matcher_fill_mask(m, mask), 0);
    assert_true(bit(mask, tok_eos(g_tok)));
    assert_false(bit(mask, tok1("hello")));
    assert_int_equal(gram_matcher_accept(m, tok_eos(g_tok)), 0);
    assert_true(gram_matcher_done(m));

    /* a trigger token: the grammar starts right after it */
    int32_t tc = tok1("<tool_call>");
    int32_t trig_tokens[] = {tc};
    gram_lazy_t lazy2 = {.tokens = trig_tokens, .n_tokens = 1};
    gram_matcher_t *m2 = NULL;
    assert_int_equal(gram_matcher_create(g, g_voc, &lazy2, &m2, err, sizeof err), 0);
    accept_text(m2, "text {not json");
    assert_true(gram_matcher_waiting(m2));
    assert_int_equal(gram_matcher_accept(m2, tc), 0);
    assert_false(gram_matcher_waiting(m2));
    assert_false(gram_matcher_allows(m2, tok1("hello")));
    assert_true(gram_matcher_allows(m2, tok1("{\"")));
    /* EOG while waiting ends the sequence without a grammar */
    gram_matcher_reset(m2);
    assert_true(gram_matcher_waiting(m2));
    assert_int_equal(gram_matcher_accept(m2, tok_eos(g_tok)), 0);
    assert_true(gram_matcher_done(m2));

    /* limits and bad arguments */
    gram_matcher_t *bad = NULL;
    gram_lazy_t none = {0};
    assert_int_equal(gram_matcher_create(g, g_voc, &none, &bad, err, sizeof err), ERR_INVAL);
    int32_t oob[] = {g_nv};
    gram_lazy_t lazy3 = {.tokens = oob, .n_tokens = 1};
    assert_int_equal(gram_matcher_create(g, g_voc, &lazy3, &bad, err, sizeof err), ERR_RANGE);
    char longt[300];
    memset(longt, 'x', 299);
    longt[299] = 0;
    const char *lt[] = {longt};
    gram_lazy_t lazy4 = {.texts = lt, .n_texts = 1};
    assert_int_equal(gram_matcher_create(g, g_voc, &lazy4, &bad, err, sizeof err), ERR_LIMIT);
    assert_null(bad);

    gram_matcher_free(m);
    gram_matcher_free(m2);
    gram_free(g);
    free(mask);
}

/* Quiet regions: a trigger inside "<think>" ... "</think>" is thought, not a call; after the closer (in any split
   over tokens or raw bytes) triggers count again; quiet_at_start for prompts that open the thought; the tags as
   single tokens; bad region settings. */
static void test_lazy_quiet(void **state) {
    (void)state;
    gram_schema_opts_t o = gram_schema_default_opts();
    o.any_object = true;
    gram_t *g = NULL;
    char err[256];
    assert_int_equal(gram_from_schema(NULL, 0, &o, &g, err, sizeof err), 0);
    const char *texts[] = {"<tool_call>"};
    int32_t tc = tok1("<tool_call>");
    int32_t trig_tokens[] = {tc};
    gram_lazy_t lazy = {.texts = texts, .n_texts = 1, .tokens = trig_tokens, .n_tokens = 1, .quiet_open = "<think>", .quiet_close = "</think>"};
    gram_matcher_t *m = NULL;
    assert_int_equal(gram_matcher_create(g, g_voc, &lazy, &m, err, sizeof err), 0);
    size_t words = gram_mask_words(g_nv);
    uint32_t *mask = malloc(words * 4);
    assert_non_null(mask);

    accept_text(m, "<think>\nI could write <tool_call> here");
    assert_true(gram_matcher_waiting(m));
    assert_true(gram_matcher_allows(m, tc)); /* the trigger token is text inside the thought */
    assert_int_equal(gram_matcher_accept(m, tc), 0);
    assert_true(gram_matcher_waiting(m));
    assert_int_equal(gram_matcher_fill_mask(m, mask), 0);
    assert_true(bit(mask, tok1("hello")));
    assert_int_equal(gram_matcher_accept_bytes(m, "{ nope </thi", strlen("{ nope </thi")), 0);
    assert_int_equal(gram_matcher_accept_bytes(m, "nk>\n\n<tool_", strlen("nk>\n\n<tool_")), 0); /* closer split over two pieces */
    assert_true(gram_matcher_waiting(m));
    assert_int_equal(gram_matcher_accept_bytes(m, "call>", strlen("call>")), 0); /* a trigger split too */
    assert_false(gram_matcher_waiting(m));
    assert_false(gram_matcher_allows(m, tok1("hello")));
    assert_true(gram_matcher_allows(m, tok1("{\"")));

    /* outside a region the trigger token starts the grammar; a new "<think>" quiets it again */
    gram_matcher_reset(m);
    accept_text(m, "Sure. <think>maybe");
    assert_int_equal(gram_matcher_accept(m, tc), 0);
    assert_true(gram_matcher_waiting(m));
    accept_text(m, "</think>");
    assert_int_equal(gram_matcher_accept(m, tc), 0);
    assert_false(gram_matcher_waiting(m));

    /* the prompt opened the thought: quiet from the start */
    gram_lazy_t pre = lazy;
    pre.quiet_at_start = true;
    gram_matcher_t *p = NULL;
    assert_int_equal(gram_matcher_create(g, g_voc, &pre, &p, err, sizeof err), 0);
    accept_text(p, "a call? <tool_call>{\"x\": 1}");
    assert_true(gram_matcher_waiting(p));
    accept_text(p, "</think>\n\n<tool_call>");
    assert_false(gram_matcher_waiting(p));
    gram_matcher_reset(p);
    assert_int_equal(gram_matcher_accept(p, tc), 0);
    assert_true(gram_matcher_waiting(p)); /* reset goes back to quiet */

    /* the tags as single tokens: tokens of their own, whatever their bytes */
    int32_t open_t = tok1("<think>"), close_t = tok1("</think>");
    gram_lazy_t tokq = lazy;
    tokq.quiet_tokens[0] = open_t;
    tokq.quiet_tokens[1] = close_t;
    tokq.n_quiet_tokens = 2;
    gram_matcher_t *q = NULL;
    assert_int_equal(gram_matcher_create(g, g_voc, &tokq, &q, err, sizeof err), 0);
    assert_int_equal(gram_matcher_accept(q, open_t), 0);
    assert_int_equal(gram_matcher_accept(q, tc), 0);
    assert_true(gram_matcher_waiting(q));
    assert_int_equal(gram_matcher_accept(q, close_t), 0);
    assert_int_equal(gram_matcher_accept(q, tc), 0);
    assert_false(gram_matcher_waiting(q));

    /* bad settings */
    gram_matcher_t *bad = NULL;
    gram_lazy_t half = lazy;
    half.quiet_close = NULL;
    assert_int_equal(gram_matcher_create(g, g_voc, &half, &bad, err, sizeof err), ERR_INVAL);
    gram_lazy_t one = lazy;
    one.n_quiet_tokens = 1;
    assert_int_equal(gram_matcher_create(g, g_voc, &one, &bad, err, sizeof err), ERR_INVAL);
    gram_lazy_t oob = tokq;
    oob.quiet_tokens[1] = g_nv;
    assert_int_equal(gram_matcher_create(g, g_voc, &oob, &bad, err, sizeof err), ERR_RANGE);
    gram_lazy_t empty = lazy;
    empty.quiet_open = "";
    assert_int_equal(gram_matcher_create(g, g_voc, &empty, &bad, err, sizeof err), ERR_LIMIT);
    assert_null(bad);

    free(mask);
    gram_matcher_free(m);
    gram_matcher_free(p);
    gram_matcher_free(q);
    gram_free(g);
}

/* A token-level matcher, copy and the fast path on a literal grammar. */
static void test_tokens_and_copy(void **state) {
    (void)state;
    gram_t *g = schema("{\"type\":\"object\",\"properties\":{\"ok\":{\"type\":\"boolean\"}},\"required\":[\"ok\"],"
                       "\"additionalProperties\":false}");
    gram_matcher_t *m = NULL, *c = NULL;
    char err[256];
    assert_int_equal(gram_matcher_create(g, g_voc, NULL, &m, err, sizeof err), 0);
    assert_int_equal(gram_matcher_create(g, g_voc, NULL, &c, err, sizeof err), 0);
    assert_false(gram_matcher_allows(m, tok_eos(g_tok)));
    assert_int_equal(gram_matcher_accept(m, tok_eos(g_tok)), ERR_STATE);
    assert_int_equal(gram_matcher_accept(m, tok1("hello")), ERR_STATE);
    assert_int_equal(gram_matcher_accept(m, -1), ERR_RANGE);
    accept_text(m, "{\"ok\": ");
    assert_int_equal(gram_matcher_copy(c, m), 0);
    accept_text(m, "true}");
    accept_text(c, "false");
    assert_false(gram_matcher_done(c));
    assert_true(gram_matcher_done(m));
    accept_text(c, " }");
    assert_true(gram_matcher_done(c));
    /* a grammar binds to the first vocabulary; a byte-level matcher takes no tokens */
    gram_matcher_t *b = NULL;
    assert_int_equal(gram_matcher_create(g, NULL, NULL, &b, err, sizeof err), 0);
    assert_int_equal(gram_matcher_accept(b, 0), ERR_INVAL);
    gram_matcher_free(b);
    gram_matcher_free(m);
    gram_matcher_free(c);
    gram_free(g);
}

/* gram_matcher_broad: true inside a string's characters and while a lazy matcher waits, false at the document's
   structure (braces, keys, separators, numbers, literals) and once done. */
static void test_broad(void **state) {
    (void)state;
    gram_t *g = schema("{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},\"n\":{\"type\":"
                       "\"integer\"}},\"required\":[\"name\",\"n\"],\"additionalProperties\":false}");
    gram_matcher_t *m = NULL;
    char err[256];
    assert_int_equal(gram_matcher_create(g, g_voc, NULL, &m, err, sizeof err), 0);
    assert_false(gram_matcher_broad(m));
    const struct {
        const char *text;
        bool broad;
    } steps[] = {{"{", false}, {"\"na", false}, {"me\": ", false}, {"\"", true}, {"Ada L", true},
                 {"\"", false}, {", \"n\": 4", false}, {"2}", false}};
    for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
        accept_text(m, steps[k].text);
        if (gram_matcher_broad(m) != steps[k].broad) fail_msg("after \"%s\": broad %d", steps[k].text, !steps[k].broad);
    }
    assert_true(gram_matcher_done(m));
    assert_false(gram_matcher_broad(NULL));
    gram_matcher_free(m);
    const char *texts[] = {"<tool_call>"};
    gram_lazy_t lazy = {.texts = texts, .n_texts = 1};
    assert_int_equal(gram_matcher_create(g, g_voc, &lazy, &m, err, sizeof err), 0);
    assert_true(gram_matcher_broad(m));
    gram_matcher_free(m);
    gram_free(g);
}

/* sampler_sample_masked / sampler_propose: only allowed tokens come out; the mask acts after logit_bias. */
static void test_sampler_hook(void **state) {
    (void)state;
    const int32_t nv = 100;
    float logits[100];
    for (int i = 0; i < nv; i++)
        logits[i] = (float)i / 10.0f;
    uint32_t mask[4] = {0};
    mask[0] = (1u << 3) | (1u << 7);
    sampler_bias_t bias = {99, 100.0f};
    sampler_params_t p = sampler_default_params();
    p.logit_bias = &bias;
    p.n_logit_bias = 1;
    p.temperature = 0.0f;
    sampler_t *s = NULL;
    char err[256];
    assert_int_equal(sampler_create(&p, nv, &s, err, sizeof err), 0);
    assert_int_equal(sampler_propose(s, logits), 99); /* unmasked: the biased token */
    assert_int_equal(sampler_n_generated(s), 0);      /* propose records nothing */
    assert_int_equal(sampler_sample_masked(s, logits, mask), 7);
    assert_int_equal(sampler_n_generated(s), 1);
    uint32_t empty[4] = {0};
    assert_int_equal(sampler_sample_masked(s, logits, empty), ERR_STATE);
    logits[3] = logits[7] = -INFINITY;
    assert_int_equal(sampler_sample_masked(s, logits, mask), 3); /* all allowed at -inf: the lowest allowed */
    sampler_free(s);

    p.temperature = 1.0f;
    p.seed = 42;
    p.n_logit_bias = 0;
    assert_int_equal(sampler_create(&p, nv, &s, err, sizeof err), 0);
    logits[3] = 0.3f;
    logits[7] = 0.7f;
    logits[50] = INFINITY;
    int n7 = 0;
    for (int i = 0; i < 2000; i++) {
        int32_t id = sampler_sample_masked(s, logits, mask);
        assert_true(id == 3 || id == 7);
        n7 += id == 7;
    }
    /* p(7) = e^0.7 / (e^0.3 + e^0.7) = 0.599 */
    assert_true(n7 > 1100 && n7 < 1300);
    sampler_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_walks),
        cmocka_unit_test(test_lazy),
        cmocka_unit_test(test_lazy_quiet),
        cmocka_unit_test(test_tokens_and_copy),
        cmocka_unit_test(test_sampler_hook),
        cmocka_unit_test(test_broad),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
