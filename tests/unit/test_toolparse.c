/*
 * test_toolparse.c — the streaming output parser of toolfmt.h on each family's real call text.
 *
 * Every case is parsed whole, byte by byte and in 64 random chunkings (seeded), and the results must be equal;
 * while streaming, what the accessors showed must only ever grow (content, reasoning and each call's arguments
 * extend what was shown, a name never changes, a complete call stays complete; the decided input only grows, and
 * the input bytes the parser says the content came from are the content). Samples are the texts the
 * families' templates render for a call (../shared/templates/expected, tests/templates/expected) and the
 * formats' documentation (harmony's header as the model writes it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "toolfmt.h"

#define MAX_CALLS 8

typedef struct {
    char *content, *reasoning;
    size_t n_content, n_reasoning, n_calls;
    char *name[MAX_CALLS], *args[MAX_CALLS];
    size_t n_args[MAX_CALLS];
    bool complete[MAX_CALLS];
} res_t;

static void res_free(res_t *r) {
    free(r->content);
    free(r->reasoning);
    for (size_t i = 0; i < MAX_CALLS; i++)
        free(r->name[i]), free(r->args[i]);
    memset(r, 0, sizeof *r);
}

static char *dup_n(const char *s, size_t n) {
    char *d = malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* a[0..n) == b[0..n), for n == 0 with either pointer NULL too. */
static bool prefix(const char *a, const char *b, size_t n) { return n == 0 || !memcmp(a, b, n); }

/* A snapshot of what the parser shows, checked against the previous one: everything only grows. */
static void snap(const api_tf_parser_t *p, res_t *prev) {
    res_t r;
    memset(&r, 0, sizeof r);
    const char *s = api__tf_content(p, &r.n_content);
    r.content = dup_n(s, r.n_content);
    s = api__tf_reasoning(p, &r.n_reasoning);
    r.reasoning = dup_n(s, r.n_reasoning);
    r.n_calls = api__tf_n_calls(p);
    assert_true(r.n_calls <= MAX_CALLS);
    for (size_t i = 0; i < r.n_calls; i++) {
        const api_tf_call_t *c = api__tf_call(p, i);
        assert_non_null(c);
        assert_non_null(c->name);
        r.name[i] = strdup(c->name);
        assert_non_null(c->args);
        r.args[i] = dup_n(c->args, c->args_len);
        r.n_args[i] = c->args_len;
        r.complete[i] = c->complete;
    }
    assert_null(api__tf_call(p, r.n_calls));
    assert_true(r.n_content >= prev->n_content && prefix(r.content, prev->content, prev->n_content));
    assert_true(r.n_reasoning >= prev->n_reasoning && prefix(r.reasoning, prev->reasoning, prev->n_reasoning));
    assert_true(r.n_calls >= prev->n_calls);
    for (size_t i = 0; i < prev->n_calls; i++) {
        assert_string_equal(r.name[i], prev->name[i]);
        assert_true(r.n_args[i] >= prev->n_args[i] && prefix(r.args[i], prev->args[i], prev->n_args[i]));
        assert_true(r.complete[i] || !prev->complete[i]);
    }
    res_free(prev);
    *prev = r;
}

typedef struct {
    api_tf_family_t fam;
    bool thinks, calls, split;
    const char *tail;
} cfg_t;

static api_tf_t fam_of(const cfg_t *c) {
    api_tf_t f;
    memset(&f, 0, sizeof f);
    f.family = c->fam;
    f.native_tools = c->fam != API_TF_GENERIC;
    f.thinks = c->thinks;
    if (c->thinks && c->fam != API_TF_GPTOSS) {
        strcpy(f.think_open, "<think>");
        strcpy(f.think_close, "</think>");
    }
    return f;
}

/* Parses s in the chunks cut at cuts[0..n_cuts) (increasing offsets), then flushes. */
static void parse_cuts(const cfg_t *c, const char *s, size_t n, const size_t *cuts, size_t n_cuts, res_t *out) {
    api_tf_t f = fam_of(c);
    api_tf_parser_t *p = NULL;
    assert_int_equal(api__tf_parser_new(&f, c->calls, c->split, c->tail, &p), 0);
    memset(out, 0, sizeof *out);
    size_t at = 0, decided = 0;
    for (size_t i = 0; i <= n_cuts; i++) {
        size_t end = i < n_cuts ? cuts[i] : n;
        assert_int_equal(api__tf_feed(p, s + at, end - at, false), 0);
        snap(p, out);
        assert_true(api__tf_decided(p) >= decided && api__tf_decided(p) <= end); /* only grows, never past the input */
        decided = api__tf_decided(p);
        at = end;
    }
    assert_int_equal(api__tf_feed(p, NULL, 0, true), 0);
    assert_false(api__tf_in_reasoning(p));
    snap(p, out);
    /* the content's origin: the input bytes it came from, in order, are exactly the content */
    assert_int_equal(api__tf_decided(p), n);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (api__tf_content_from(p, i, i + 1)) {
            assert_true(k < out->n_content);
            assert_int_equal(s[i], out->content[k]);
            k++;
        }
    assert_int_equal(k, out->n_content);
    assert_false(api__tf_content_from(p, n, n + 8));
    api__tf_parser_free(p);
}

static void res_equal(const res_t *a, const res_t *b) {
    assert_int_equal(a->n_content, b->n_content);
    assert_memory_equal(a->content, b->content, a->n_content);
    assert_int_equal(a->n_reasoning, b->n_reasoning);
    assert_memory_equal(a->reasoning, b->reasoning, a->n_reasoning);
    assert_int_equal(a->n_calls, b->n_calls);
    for (size_t i = 0; i < a->n_calls; i++) {
        assert_string_equal(a->name[i], b->name[i]);
        assert_int_equal(a->n_args[i], b->n_args[i]);
        assert_memory_equal(a->args[i], b->args[i], a->n_args[i]);
        assert_int_equal(a->complete[i], b->complete[i]);
    }
}

/* Parses s whole, byte by byte and in random chunkings; all must agree. Returns the whole-text result. */
static void parse(const cfg_t *c, const char *s, size_t n, res_t *out) {
    parse_cuts(c, s, n, NULL, 0, out);
    size_t *cuts = malloc((n + 1) * sizeof *cuts);
    for (size_t i = 1; i < n; i++)
        cuts[i - 1] = i;
    res_t r;
    parse_cuts(c, s, n, cuts, n ? n - 1 : 0, &r);
    res_equal(out, &r);
    res_free(&r);
    srand(12345);
    for (int round = 0; round < 64; round++) {
        size_t k = 0;
        for (size_t i = 1; i < n; i++)
            if (rand() % 5 == 0) cuts[k++] = i;
        parse_cuts(c, s, n, cuts, k, &r);
        res_equal(out, &r);
        res_free(&r);
    }
    free(cuts);
}

static void expect_call(const res_t *r, size_t i, const char *name, const char *args, bool complete) {
    assert_true(i < r->n_calls);
    assert_string_equal(r->name[i], name);
    assert_string_equal(r->args[i], args);
    assert_int_equal(r->complete[i], complete);
}

static void expect_text(const res_t *r, const char *content, const char *reasoning) {
    assert_int_equal(r->n_content, strlen(content));
    assert_memory_equal(r->content, content, r->n_content);
    assert_int_equal(r->n_reasoning, strlen(reasoning));
    assert_memory_equal(r->reasoning, reasoning, r->n_reasoning);
}

#define PARSE(cfg, s, r) parse(&(cfg), (s), strlen(s), (r))

/* ---- Hermes / Qwen ---------------------------------------------------------------------------------------- */

static void test_hermes(void **state) {
    (void)state;
    cfg_t c = {API_TF_HERMES, true, true, true, "<|im_start|>assistant\n"};
    res_t r;
    /* Qwen3's own render of reasoning, text and two parallel calls (tests/templates/expected/qwen3) */
    PARSE(c,
          "<think>\nTwo cities.\n</think>\n\nLet me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
          "{\"city\": \"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
          "\"Rome\"}}\n</tool_call>",
          &r);
    expect_text(&r, "Let me check.\n", "\nTwo cities.\n");
    assert_int_equal(r.n_calls, 2);
    expect_call(&r, 0, "get_weather", "{\"city\": \"Paris\"}", true);
    expect_call(&r, 1, "get_weather", "{\"city\": \"Rome\"}", true);
    res_free(&r);

    /* arguments with braces, quotes, escapes and the markers inside strings, kept byte for byte */
    const char *args = "{\"q\": \"a } \\\" </tool_call> <tool_call> {\", \"n\": [1, {\"x\": \"]\"}], \"e\": {}, "
                       "\"u\": \"\\u00e9\\\\\"}";
    char text[512];
    snprintf(text, sizeof text, "<tool_call>\n{\"name\": \"search\", \"arguments\": %s}\n</tool_call>", args);
    PARSE(c, text, &r);
    expect_text(&r, "", "");
    expect_call(&r, 0, "search", args, true);
    res_free(&r);

    /* keys in another order, no arguments, compact JSON, a name with an escape */
    PARSE(c,
          "<tool_call>{\"arguments\":{\"a\":1},\"name\":\"f\\u0031\"}</tool_call><tool_call>{\"name\":\"g\"}"
          "</tool_call>after",
          &r);
    expect_text(&r, "after", "");
    expect_call(&r, 0, "fu0031", "{\"a\":1}", true); /* \u escapes are not decoded in names (none in practice) */
    expect_call(&r, 1, "g", "{}", true);
    res_free(&r);

    /* calls off (tool_choice none): markers are content; reasoning is still split */
    c.calls = false;
    PARSE(c, "<think>hm</think>\n<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>", &r);
    expect_text(&r, "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>", "hm");
    assert_int_equal(r.n_calls, 0);
    res_free(&r);
}

static void test_reasoning_tails(void **state) {
    (void)state;
    res_t r;
    /* DeepSeek-R1 distills pre-fill "<think>\n": the output starts inside the thought */
    cfg_t c = {API_TF_GENERIC, true, true, true, "<｜Assistant｜><think>\n"};
    PARSE(c, "Let me think.\n</think>\n\nParis.", &r);
    expect_text(&r, "Paris.", "Let me think.\n");
    res_free(&r);
    /* Qwen3 with enable_thinking=false: the template closed the block; a <think> now is plain text */
    c = (cfg_t){API_TF_HERMES, true, true, true, "<|im_start|>assistant\n<think>\n\n</think>\n\n"};
    PARSE(c, "<think>x</think> Hi", &r);
    expect_text(&r, "<think>x</think> Hi", "");
    res_free(&r);
    /* no tail: <think> counts only at the very start */
    c.tail = NULL;
    PARSE(c, "Hi <think>x</think>", &r);
    expect_text(&r, "Hi <think>x</think>", "");
    res_free(&r);
    /* reasoning kept inline: the tags stay in the content */
    c.split = false;
    PARSE(c, "<think>\nhmm\n</think>\n\nHi", &r);
    expect_text(&r, "<think>\nhmm\n</think>\n\nHi", "");
    res_free(&r);
    /* a thought cut off by max_tokens stays reasoning */
    c.split = true;
    PARSE(c, "<think>unfinished </thi", &r);
    expect_text(&r, "", "unfinished </thi");
    res_free(&r);
    /* in_reasoning while inside the block */
    api_tf_t f = fam_of(&c);
    api_tf_parser_t *p;
    assert_int_equal(api__tf_parser_new(&f, true, true, NULL, &p), 0);
    assert_false(api__tf_in_reasoning(p));
    assert_int_equal(api__tf_feed(p, "<think>a", 8, false), 0);
    assert_true(api__tf_in_reasoning(p));
    assert_int_equal(api__tf_feed(p, "</think>b", 9, false), 0);
    assert_false(api__tf_in_reasoning(p));
    api__tf_parser_free(p);
}

/* ---- the other families ----------------------------------------------------------------------------------- */

static void test_llama3(void **state) {
    (void)state;
    cfg_t c = {API_TF_LLAMA3, false, true, true, NULL};
    res_t r;
    /* Llama 3.1's render (../shared/templates/expected/meta-llama-Llama-3.1-8B-Instruct/tool-round-trip.txt) */
    PARSE(c, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}", &r);
    expect_text(&r, "", "");
    expect_call(&r, 0, "get_weather", "{\"city\": \"Paris\"}", true);
    res_free(&r);
    PARSE(c, "<|python_tag|>{\"name\": \"get_time\", \"parameters\": {}}", &r);
    expect_call(&r, 0, "get_time", "{}", true);
    res_free(&r);
    /* a built-in tool's Python call is not a function call: content */
    PARSE(c, "<|python_tag|>brave_search.call(query=\"cinder\")", &r);
    expect_text(&r, "<|python_tag|>brave_search.call(query=\"cinder\")", "");
    assert_int_equal(r.n_calls, 0);
    res_free(&r);
    /* the trigger text is a call wherever it appears (as the lazy grammar sees it) */
    PARSE(c, "Sure: {\"name\": \"f\", \"parameters\": {\"a\": [1, 2]}} done", &r);
    expect_text(&r, "Sure: done", "");
    expect_call(&r, 0, "f", "{\"a\": [1, 2]}", true);
    res_free(&r);
    /* JSON that is not a call stays content */
    PARSE(c, "{\"name\": 42, \"parameters\": {}}", &r);
    expect_text(&r, "{\"name\": 42, \"parameters\": {}}", "");
    assert_int_equal(r.n_calls, 0);
    res_free(&r);
}

static void test_mistral(void **state) {
    (void)state;
    cfg_t c = {API_TF_MISTRAL, false, true, true, NULL};
    res_t r;
    /* Mistral Nemo's render (with a 9-character id) and a parallel list */
    PARSE(c,
          "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}, \"id\": \"abcdefghi\"}, "
          "{\"name\": \"get_time\", \"arguments\": {}, \"id\": \"123456789\"}]",
          &r);
    expect_text(&r, "", "");
    assert_int_equal(r.n_calls, 2);
    expect_call(&r, 0, "get_weather", "{\"city\": \"Paris\"}", true);
    expect_call(&r, 1, "get_time", "{}", true);
    res_free(&r);
    /* Small 3.1's spacing and a bare object */
    PARSE(c, "Checking. [TOOL_CALLS] [{\"name\": \"f\", \"arguments\": {\"x\": \"]\"}}]", &r);
    expect_text(&r, "Checking. ", "");
    expect_call(&r, 0, "f", "{\"x\": \"]\"}", true);
    res_free(&r);
    PARSE(c, "[TOOL_CALLS]{\"name\": \"f\", \"arguments\": {}}", &r);
    expect_call(&r, 0, "f", "{}", true);
    res_free(&r);

    c.fam = API_TF_MISTRAL_V11;
    /* Mistral Small 3.2's render, and the id-less form of later models */
    PARSE(c, "[TOOL_CALLS]get_weather[CALL_ID]abcdefghi[ARGS]{\"city\": \"Paris\"}[TOOL_CALLS]get_time[ARGS]{}", &r);
    expect_text(&r, "", "");
    assert_int_equal(r.n_calls, 2);
    expect_call(&r, 0, "get_weather", "{\"city\": \"Paris\"}", true);
    expect_call(&r, 1, "get_time", "{}", true);
    res_free(&r);
    PARSE(c, "[TOOL_CALLS]bad name[ARGS]{}", &r);
    expect_text(&r, "[TOOL_CALLS]bad name[ARGS]{}", "");
    assert_int_equal(r.n_calls, 0);
    res_free(&r);
}

static void test_phi4_generic(void **state) {
    (void)state;
    cfg_t c = {API_TF_PHI4, false, true, true, NULL};
    res_t r;
    PARSE(c,
          "<|tool_call|>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}<|/tool_call|><|tool_call|>"
          "{\"name\": \"get_time\", \"arguments\": {}}<|/tool_call|>",
          &r);
    expect_text(&r, "", "");
    expect_call(&r, 0, "get_weather", "{\"city\": \"Paris\"}", true);
    expect_call(&r, 1, "get_time", "{}", true);
    res_free(&r);

    c = (cfg_t){API_TF_GENERIC, false, true, true, NULL};
    PARSE(c,
          "I'll look.\n```tool_call\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"```\"}}\n```\n"
          "```tool_call\n{\"name\": \"get_time\", \"arguments\": {}}\n```",
          &r);
    expect_text(&r, "I'll look.\n", "");
    expect_call(&r, 0, "get_weather", "{\"city\": \"```\"}", true);
    expect_call(&r, 1, "get_time", "{}", true);
    res_free(&r);
    /* other fences are content */
    PARSE(c, "```python\nprint(1)\n```", &r);
    expect_text(&r, "```python\nprint(1)\n```", "");
    res_free(&r);
}

static void test_gptoss(void **state) {
    (void)state;
    cfg_t c = {API_TF_GPTOSS, true, true, true, "<|start|>assistant"};
    res_t r;
    /* harmony as the model writes it: analysis, then a call (the <|call|> token may or may not be in the text) */
    PARSE(c,
          "<|channel|>analysis<|message|>Need the weather.<|end|><|start|>assistant<|channel|>commentary "
          "to=functions.get_weather <|constrain|>json<|message|>{\"city\":\"Paris\"}<|call|>",
          &r);
    expect_text(&r, "", "Need the weather.");
    expect_call(&r, 0, "get_weather", "{\"city\":\"Paris\"}", true);
    res_free(&r);
    /* the template's history form (tests/templates/expected/gptoss/tool-round-trip.txt), without <|call|> */
    PARSE(c, " to=functions.get_weather<|channel|>commentary json<|message|>{\"city\": \"Paris\"}", &r);
    expect_call(&r, 0, "get_weather", "{\"city\": \"Paris\"}", true);
    res_free(&r);
    /* a final answer after thinking; a preamble on commentary is content */
    PARSE(c,
          "<|channel|>analysis<|message|>Easy.<|end|><|start|>assistant<|channel|>commentary<|message|>Checking."
          "<|end|><|start|>assistant<|channel|>final<|message|>18 °C.<|return|>",
          &r);
    expect_text(&r, "Checking.18 °C.", "Easy.");
    assert_int_equal(r.n_calls, 0);
    res_free(&r);
    /* calls off: a call message is content as written */
    c.calls = false;
    PARSE(c, "<|channel|>commentary to=functions.f <|constrain|>json<|message|>{}<|call|>", &r);
    expect_text(&r, "<|channel|>commentary to=functions.f <|constrain|>json<|message|>{}<|call|>", "");
    res_free(&r);
    /* not harmony at all (a model that ignores its format): content */
    c.calls = true;
    PARSE(c, "Hello there", &r);
    expect_text(&r, "Hello there", "");
    res_free(&r);
    /* analysis kept inline */
    c.split = false;
    PARSE(c, "<|channel|>analysis<|message|>A<|end|><|start|>assistant<|channel|>final<|message|>B", &r);
    expect_text(&r, "AB", "");
    res_free(&r);
}

/* ---- malformed text, flushing, bytes ---------------------------------------------------------------------- */

static void test_malformed_and_flush(void **state) {
    (void)state;
    cfg_t c = {API_TF_HERMES, false, true, true, NULL};
    res_t r;
    /* an opener followed by garbage: everything is content, nothing lost */
    const char *garbage = "<tool_call>\nnot json</tool_call> rest";
    PARSE(c, garbage, &r);
    expect_text(&r, garbage, "");
    assert_int_equal(r.n_calls, 0);
    res_free(&r);
    /* cut before the name was whole: content */
    PARSE(c, "<tool_call>\n{\"na", &r);
    expect_text(&r, "<tool_call>\n{\"na", "");
    assert_int_equal(r.n_calls, 0);
    res_free(&r);
    /* cut inside the arguments: the call stays, incomplete */
    PARSE(c, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"ci", &r);
    expect_text(&r, "", "");
    expect_call(&r, 0, "get_weather", "{\"ci", false);
    res_free(&r);
    /* cut after the name: the call is shown with empty arguments (a string, never NULL), incomplete */
    PARSE(c, "<tool_call>\n{\"name\": \"f\", ", &r);
    expect_call(&r, 0, "f", "", false);
    res_free(&r);
    /* arguments whole, closer missing at the end: complete */
    PARSE(c, "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n", &r);
    expect_call(&r, 0, "f", "{}", true);
    res_free(&r);
    /* junk after a shown call: the call keeps its whole arguments, the rest is content */
    PARSE(c, "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}} oops", &r);
    expect_call(&r, 0, "f", "{\"a\": 1}", true);
    expect_text(&r, "oops", "");
    res_free(&r);
    /* held back only while it may be a marker; flushed at the end */
    api_tf_t f = fam_of(&c);
    api_tf_parser_t *p;
    size_t n;
    assert_int_equal(api__tf_parser_new(&f, true, true, NULL, &p), 0);
    assert_int_equal(api__tf_feed(p, "Hello <tool_", 12, false), 0);
    assert_memory_equal(api__tf_content(p, &n), "Hello ", 6);
    assert_int_equal(n, 6);
    assert_int_equal(api__tf_feed(p, "box", 3, false), 0);
    api__tf_content(p, &n);
    assert_int_equal(n, 15);
    assert_int_equal(api__tf_feed(p, " <tool", 6, false), 0);
    api__tf_content(p, &n);
    assert_int_equal(n, 16);
    assert_int_equal(api__tf_feed(p, NULL, 0, true), 0);
    assert_memory_equal(api__tf_content(p, &n), "Hello <tool_box <tool", 21);
    assert_int_equal(n, 21);
    api__tf_parser_free(p);
    /* invalid UTF-8 passes through unchanged */
    const char bytes[] = "\xff\xfe ok \xc3 <tool_call>\n{\"name\": \"f\", \"arguments\": {\"b\": \"\xe2\x82\"}}\n"
                         "</tool_call>\x80";
    PARSE(c, bytes, &r);
    expect_text(&r, "\xff\xfe ok \xc3 \x80", "");
    expect_call(&r, 0, "f", "{\"b\": \"\xe2\x82\"}", true);
    res_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hermes),
        cmocka_unit_test(test_reasoning_tails),
        cmocka_unit_test(test_llama3),
        cmocka_unit_test(test_mistral),
        cmocka_unit_test(test_phi4_generic),
        cmocka_unit_test(test_gptoss),
        cmocka_unit_test(test_malformed_and_flush),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
