/*
 * test_toolfmt.c — tool-call families: detection from real chat templates, and the call grammars checked against
 * the text those templates render for a call in history (the model's own format).
 *
 * Templates: every TEST_SHARED_DIR/templates/jinja/NAME.jinja (each must be listed below, so a new one gets a
 * decision), the templates inside the vocab GGUFs (Qwen3, Llama 3.1, Gemma 3, gpt-oss) read with the gguf API,
 * and tests/data/templates/phi4-mini-format.jinja (written from Phi-4-mini's documented format).
 * Call texts: ../shared/templates/expected/<model>/tool-round-trip.txt where Jinja2 rendered one; the Mistral
 * templates refuse the shared context's "call_1" id, so they are rendered here with our template engine and a
 * 9-character id; tests/templates/expected/{qwen3,gptoss}/ for reasoning and parallel calls.
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

#include <cJSON.h>

#include "err.h"
#include "gguf.h"
#include "grammar/grammar.h"
#include "template/tmpl.h"
#include "toolfmt.h"

#ifndef TEST_SHARED_DIR
#define TEST_SHARED_DIR "/work/shared"
#endif
#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "tests/data"
#endif
#ifndef TEST_REPO_DIR
#define TEST_REPO_DIR "."
#endif

static char *slurp(const char *path) {
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
    if (buf) buf[n] = '\0';
    return buf;
}

static char *slurp_fmt(const char *fmt, const char *a) {
    char path[1024];
    snprintf(path, sizeof path, fmt, a);
    char *s = slurp(path);
    if (!s) fail_msg("cannot read %s", path);
    return s;
}

/* The chat template stored in a vocab GGUF (malloc'd). */
static char *gguf_template(const char *vocab) {
    char path[1024], err[256];
    snprintf(path, sizeof path, TEST_SHARED_DIR "/models/vocab/ggml-vocab-%s.gguf", vocab);
    gguf_t *g = NULL;
    if (gguf_open(path, &g, err, sizeof err)) fail_msg("%s: %s", path, err);
    gguf_str_t s;
    assert_int_equal(gguf_get_str(g, "tokenizer.chat_template", &s), 0);
    char *out = strndup(s.ptr, (size_t)s.len);
    gguf_close(g);
    return out;
}

/* ---- detection ------------------------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    api_tf_family_t family;
    bool thinks;
} want_t;

/* Every template of the shared corpus, with the family it speaks (decided from its call rendering). */
static const want_t corpus[] = {
    {"Apriel-1.6-15b-Thinker-fixed", API_TF_GENERIC, false}, /* <tool_calls>[...] list */
    {"CohereForAI-c4ai-command-r-plus-tool_use", API_TF_GENERIC, false},
    {"GLM-4.7-Flash", API_TF_GENERIC, true}, /* <tool_call>NAME<arg_key>.. (XML) */
    {"GigaChat3-10B-A1.8B", API_TF_GENERIC, false},
    {"HuggingFaceTB-SmolLM3-3B", API_TF_GENERIC, true},
    {"Kimi-K2-Instruct", API_TF_GENERIC, false},
    {"LFM2-8B-A1B", API_TF_GENERIC, false},
    {"LFM2.5-Instruct", API_TF_GENERIC, false},
    {"MiMo-VL", API_TF_HERMES, false},
    {"Mistral-Small-3.2-24B-Instruct-2506", API_TF_MISTRAL_V11, false},
    {"NVIDIA-Nemotron-Nano-v2", API_TF_GENERIC, true}, /* <TOOLCALL>[...] */
    {"NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use", API_TF_HERMES, false},
    {"NousResearch-Hermes-3-Llama-3.1-8B-tool_use", API_TF_HERMES, false},
    {"Qwen-QwQ-32B", API_TF_HERMES, true},
    {"Qwen-Qwen2.5-7B-Instruct", API_TF_HERMES, false},
    {"Qwen-Qwen3-0.6B", API_TF_HERMES, true},
    {"Qwen3-Coder", API_TF_GENERIC, false}, /* <tool_call><function=..> (XML) */
    {"deepseek-ai-DeepSeek-R1-Distill-Llama-8B", API_TF_GENERIC, true},
    {"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B", API_TF_GENERIC, true},
    {"deepseek-ai-DeepSeek-V3.1", API_TF_GENERIC, true},
    {"fireworks-ai-llama-3-firefunction-v2", API_TF_GENERIC, false}, /* functools[...] */
    {"google-gemma-2-2b-it", API_TF_GENERIC, false},
    {"google-gemma-4-31B-it-interleaved", API_TF_GENERIC, false},  /* <|tool_call>call:..: not JSON */
    {"ibm-granite-granite-3.3-2B-Instruct", API_TF_GENERIC, true}, /* <|tool_call|> + a list, no closer */
    {"ibm-granite-granite-4.0", API_TF_HERMES, false},
    {"llama-cpp-deepseek-r1", API_TF_GENERIC, true},
    {"llama-cpp-rwkv-world", API_TF_GENERIC, true},
    {"meetkai-functionary-medium-v3.1", API_TF_GENERIC, false}, /* <function=NAME>{..}</function> */
    {"meta-llama-Llama-3.1-8B-Instruct", API_TF_LLAMA3, false},
    {"meta-llama-Llama-3.2-3B-Instruct", API_TF_LLAMA3, false},
    {"meta-llama-Llama-3.3-70B-Instruct", API_TF_LLAMA3, false},
    {"microsoft-Phi-3.5-mini-instruct", API_TF_GENERIC, false},
    {"mistralai-Mistral-Nemo-Instruct-2407", API_TF_MISTRAL, false},
    {"moonshotai-Kimi-K2", API_TF_GENERIC, false},
    {"stepfun-ai-Step-3.5-Flash", API_TF_GENERIC, true}, /* <tool_call><function=..> (XML) */
    {"unsloth-Apriel-1.5", API_TF_GENERIC, false},       /* <tool_calls>[...] list */
};

static void check_detect(const char *label, const char *src, api_tf_family_t fam, bool thinks) {
    api_tf_t f;
    api__tf_detect(src, &f);
    if (f.family != fam || f.thinks != thinks)
        fail_msg("%s: detected %s thinks=%d, want %s thinks=%d", label, api__tf_name(f.family), f.thinks,
                 api__tf_name(fam), thinks);
    assert_int_equal(f.native_tools, fam != API_TF_GENERIC);
    if (thinks && fam != API_TF_GPTOSS) {
        assert_string_equal(f.think_open, "<think>");
        assert_string_equal(f.think_close, "</think>");
    } else {
        assert_string_equal(f.think_open, "");
    }
}

static void test_detect_shared_corpus(void **state) {
    (void)state;
    DIR *d = opendir(TEST_SHARED_DIR "/templates/jinja");
    assert_non_null(d);
    struct dirent *e;
    size_t seen = 0;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 7 || strcmp(e->d_name + l - 6, ".jinja")) continue;
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(l - 6), e->d_name);
        const want_t *w = NULL;
        for (size_t i = 0; i < sizeof corpus / sizeof *corpus; i++)
            if (!strcmp(corpus[i].name, name)) w = &corpus[i];
        if (!w) fail_msg("template %s is not in the table: decide its family", name);
        char *src = slurp_fmt(TEST_SHARED_DIR "/templates/jinja/%s.jinja", name);
        check_detect(name, src, w->family, w->thinks);
        free(src);
        seen++;
    }
    closedir(d);
    assert_int_equal(seen, sizeof corpus / sizeof *corpus);
}

static void test_detect_gguf_and_fixtures(void **state) {
    (void)state;
    struct {
        const char *vocab;
        api_tf_family_t fam;
        bool thinks;
    } g[] = {{"qwen3", API_TF_HERMES, true},
             {"llama3_1", API_TF_LLAMA3, false},
             {"gemma3", API_TF_GENERIC, false},
             {"gptoss", API_TF_GPTOSS, true}};
    for (size_t i = 0; i < sizeof g / sizeof *g; i++) {
        char *src = gguf_template(g[i].vocab);
        check_detect(g[i].vocab, src, g[i].fam, g[i].thinks);
        free(src);
    }
    char *phi = slurp_fmt("%s/templates/phi4-mini-format.jinja", TEST_DATA_DIR);
    check_detect("phi4-mini", phi, API_TF_PHI4, false);
    free(phi);
    /* the fallback: no template, an empty one, one that knows nothing of tools */
    check_detect("NULL", NULL, API_TF_GENERIC, false);
    check_detect("empty", "", API_TF_GENERIC, false);
    check_detect("chatml", "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}",
                 API_TF_GENERIC, false);
    assert_string_equal(api__tf_name(API_TF_MISTRAL_V11), "mistral-v11");
    assert_string_equal(api__tf_name(API_TF_GENERIC), "generic");
}

/* ---- grammars ---------------------------------------------------------------------------------------------- */

static cJSON *weather_schema(void) {
    return cJSON_Parse("{\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}, \"unit\": "
                       "{\"type\": \"string\", \"enum\": [\"celsius\", \"fahrenheit\"]}}, \"required\": [\"city\"]}");
}

/* 1: s is a whole document of g; 0: a viable prefix only; -1: rejected. */
static int run(const gram_t *g, const char *s) {
    gram_matcher_t *m = NULL;
    char err[256];
    assert_int_equal(gram_matcher_create(g, NULL, NULL, &m, err, sizeof err), 0);
    int rc = gram_matcher_accept_bytes(m, s, strlen(s));
    int res = rc ? -1 : gram_matcher_accepting(m) ? 1 : 0;
    gram_matcher_free(m);
    return res;
}

/* Compiles f's grammar for get_weather(city, unit?) and get_time() (no parameters). */
static bool g_think_prefilled; /* the next grammar's template pre-fills "<think>" (R1 distills) */

static gram_t *grammar(api_tf_family_t fam, bool thinks, bool required, bool parallel, api_tf_triggers_t *trig) {
    api_tf_t f;
    memset(&f, 0, sizeof f);
    f.family = fam;
    f.thinks = thinks;
    f.think_prefilled = g_think_prefilled;
    if (thinks && fam != API_TF_GPTOSS) {
        strcpy(f.think_open, "<think>");
        strcpy(f.think_close, "</think>");
    }
    cJSON *ws = weather_schema();
    api_tf_tool_t tools[2] = {{"get_weather", ws, false}, {"get_time", NULL, false}};
    gram_t *g = NULL;
    char err[256] = "";
    api_tf_triggers_t t;
    int rc = api__tf_grammar(&f, tools, 2, required, parallel, NULL, &g, trig ? trig : &t, err, sizeof err);
    if (rc) fail_msg("%s grammar: %s", api__tf_name(fam), err);
    cJSON_Delete(ws);
    return g;
}

/* The text between the first occurrence of `from` (excluded) and the next `to` after it (excluded). */
static char *between(const char *s, const char *from, const char *to) {
    const char *a = strstr(s, from);
    if (!a) fail_msg("'%s' not found", from);
    a += strlen(from);
    const char *b = strstr(a, to);
    if (!b) fail_msg("'%s' not found", to);
    return strndup(a, (size_t)(b - a));
}

static void test_grammar_hermes(void **state) {
    (void)state;
    char *render = slurp_fmt(TEST_SHARED_DIR "/templates/expected/%s/tool-round-trip.txt", "Qwen-Qwen3-0.6B");
    char *call = between(render, "<|im_start|>assistant\n", "<|im_end|>"); /* the turn with the call */
    assert_non_null(strstr(call, "<tool_call>\n{\"name\": \"get_weather\""));
    api_tf_triggers_t trig;
    gram_t *req = grammar(API_TF_HERMES, true, true, true, NULL);
    gram_t *lazy = grammar(API_TF_HERMES, true, false, false, &trig);
    assert_int_equal(trig.n_texts, 1);
    assert_string_equal(trig.texts[0], "<tool_call>");
    assert_int_equal(run(req, call), 1);
    assert_int_equal(run(lazy, call + strlen("<tool_call>")), 1);
    /* reasoning first, then two calls, as Qwen3 renders them (tests/templates/expected/qwen3) */
    char *turn = slurp_fmt("%s/tests/templates/expected/qwen3/think-in-content.txt", TEST_REPO_DIR);
    char *body = between(turn, "<|im_start|>assistant\n", "<|im_end|>");
    char *think_end = strstr(body, "</think>\n\n") + strlen("</think>\n\n");
    char *calls = strstr(body, "<tool_call>");
    char both[1024];
    snprintf(both, sizeof both, "%.*s%s", (int)(think_end - body), body, calls);
    assert_int_equal(run(req, both), 1);
    assert_int_equal(run(req, calls), 1);                     /* the reasoning block is optional */
    assert_int_equal(run(req, body), -1);                     /* required: no free text ("Let me check.") */
    assert_int_equal(run(lazy, strchr(calls + 1, '\n')), -1); /* one call only without parallel */
    /* malformed variants, against the grammar of a model that does not think (with a reasoning block, whose
       opening tag is optional, any text is still a viable prefix: it may be a thought awaiting "</think>") */
    gram_t *plain = grammar(API_TF_HERMES, false, true, true, NULL);
    const char *bad[] = {
        "<tool_call>\n{\"name\": \"get_wether\", \"arguments\": {\"city\": \"P\"}}\n</tool_call>",
        "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"unit\": \"celsius\"}}\n</tool_call>",
        "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": 3}}\n</tool_call>",
        "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"x\": 1}}\n</tool_call>",
        "Sure.<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>",
        "<tool_call>{\"name\": \"get_time\", \"arguments\": {}}</tool_call>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(run(plain, bad[i]), -1);
        assert_int_not_equal(run(req, bad[i]), 1);
    }
    assert_int_equal(run(plain, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"P\"}}"), 0);
    assert_int_equal(run(plain, "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>"), 1);
    assert_int_equal(run(plain, calls), 1);
    assert_int_equal(run(plain, both), -1);
    gram_free(plain);
    /* a thought of any length, with tag-like text inside */
    assert_int_equal(run(req, "<think>a </thin <think> </ </think\n</think>\n<tool_call>\n{\"name\": \"get_time\", "
                              "\"arguments\": {}}\n</tool_call>"),
                     1);
    gram_free(req);
    gram_free(lazy);
    free(render);
    free(call);
    free(turn);
    free(body);
}

static void test_grammar_llama3(void **state) {
    (void)state;
    char *render =
        slurp_fmt(TEST_SHARED_DIR "/templates/expected/%s/tool-round-trip.txt", "meta-llama-Llama-3.1-8B-Instruct");
    char *call = between(render, "<|start_header_id|>assistant<|end_header_id|>\n\n", "<|eot_id|>");
    assert_string_equal(call, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}");
    api_tf_triggers_t trig;
    gram_t *req = grammar(API_TF_LLAMA3, false, true, true, NULL);
    gram_t *lazy = grammar(API_TF_LLAMA3, false, false, true, &trig);
    assert_int_equal(trig.n_texts, 1);
    assert_string_equal(trig.texts[0], "{\"name\": ");
    assert_int_equal(run(req, call), 1);
    assert_int_equal(run(lazy, call + strlen(trig.texts[0])), 1);
    char tagged[256];
    snprintf(tagged, sizeof tagged, "<|python_tag|>%s", call);
    assert_int_equal(run(req, tagged), 1);
    /* "arguments" is not Llama's key; one call per message */
    assert_int_equal(run(req, "{\"name\": \"get_time\", \"arguments\": {}}"), -1);
    assert_int_equal(run(req, "{\"name\": \"get_time\", \"parameters\": {}}"), 1);
    assert_int_equal(
        run(req, "{\"name\": \"get_time\", \"parameters\": {}}\n{\"name\": \"get_time\", \"parameters\": {}}"), -1);
    gram_free(req);
    gram_free(lazy);
    free(render);
    free(call);
}

/* Renders a shared template with the tool-round-trip context and a Mistral-valid 9-character call id. */
static char *render_with_id(const char *tmpl_name) {
    char *ctx_src = slurp(TEST_SHARED_DIR "/templates/contexts/tool-round-trip.json");
    cJSON *ctx = cJSON_Parse(ctx_src);
    cJSON *msgs = cJSON_GetObjectItem(ctx, "messages");
    cJSON *tc = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, 1), "tool_calls"), 0);
    cJSON_ReplaceItemInObject(tc, "id", cJSON_CreateString("abcdefghi"));
    cJSON_ReplaceItemInObject(cJSON_GetArrayItem(msgs, 2), "tool_call_id", cJSON_CreateString("abcdefghi"));
    char *src = slurp_fmt(TEST_SHARED_DIR "/templates/jinja/%s.jinja", tmpl_name);
    tmpl_t *t = NULL;
    char err[256], *out = NULL;
    size_t len;
    if (tmpl_compile(src, strlen(src), &t, err, sizeof err)) fail_msg("%s: %s", tmpl_name, err);
    if (tmpl_render(t, ctx, NULL, &out, &len, err, sizeof err)) fail_msg("%s: %s", tmpl_name, err);
    tmpl_free(t);
    free(src);
    free(ctx_src);
    cJSON_Delete(ctx);
    return out;
}

static void test_grammar_mistral(void **state) {
    (void)state;
    char *render = render_with_id("mistralai-Mistral-Nemo-Instruct-2407");
    char *call = between(render, "[/INST]", "</s>");
    assert_string_equal(call, "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}, \"id\": "
                              "\"abcdefghi\"}]");
    api_tf_triggers_t trig;
    gram_t *req = grammar(API_TF_MISTRAL, false, true, true, NULL);
    gram_t *one = grammar(API_TF_MISTRAL, false, true, false, NULL);
    gram_t *lazy = grammar(API_TF_MISTRAL, false, false, true, &trig);
    assert_string_equal(trig.texts[0], "[TOOL_CALLS]");
    assert_int_equal(run(req, call), 1);
    assert_int_equal(run(lazy, call + strlen("[TOOL_CALLS]")), 1);
    const char *two = "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}, \"id\": "
                      "\"abcdefghi\"}, {\"name\": \"get_time\", \"arguments\": {}, \"id\": \"123456789\"}]";
    assert_int_equal(run(req, two), 1);
    assert_int_equal(run(one, two), -1);
    assert_int_equal(run(req, "[TOOL_CALLS][{\"name\": \"get_time\", \"arguments\": {}, \"id\": \"call_1\"}]"), -1);
    gram_free(req);
    gram_free(one);
    gram_free(lazy);
    free(render);
    free(call);

    render = render_with_id("Mistral-Small-3.2-24B-Instruct-2506");
    call = between(render, "[/INST]", "</s>");
    assert_string_equal(call, "[TOOL_CALLS]get_weather[CALL_ID]abcdefghi[ARGS]{\"city\": \"Paris\"}");
    req = grammar(API_TF_MISTRAL_V11, false, true, true, NULL);
    lazy = grammar(API_TF_MISTRAL_V11, false, false, true, &trig);
    assert_string_equal(trig.texts[0], "[TOOL_CALLS]");
    assert_int_equal(run(req, call), 1);
    assert_int_equal(run(lazy, call + strlen("[TOOL_CALLS]")), 1);
    assert_int_equal(run(req, "[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Paris\"}[TOOL_CALLS]get_time[ARGS]{}"), 1);
    assert_int_equal(run(req, "[TOOL_CALLS]get_weather[ARGS]{\"town\": \"Paris\"}"), -1);
    assert_int_equal(run(req, "[TOOL_CALLS]get_weather[CALL_ID]abc[ARGS]{\"city\": \"Paris\"}"), -1);
    gram_free(req);
    gram_free(lazy);
    free(render);
    free(call);
}

static void test_grammar_phi4_generic(void **state) {
    (void)state;
    char *src = slurp_fmt("%s/templates/phi4-mini-format.jinja", TEST_DATA_DIR);
    char *ctx_src = slurp(TEST_SHARED_DIR "/templates/contexts/tool-round-trip.json");
    cJSON *ctx = cJSON_Parse(ctx_src);
    tmpl_t *t = NULL;
    char err[256], *render = NULL;
    size_t len;
    assert_int_equal(tmpl_compile(src, strlen(src), &t, err, sizeof err), 0);
    assert_int_equal(tmpl_render(t, ctx, NULL, &render, &len, err, sizeof err), 0);
    tmpl_free(t);
    char *call = between(render, "<|assistant|>", "<|end|>");
    assert_string_equal(call,
                        "<|tool_call|>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}<|/tool_call|>");
    api_tf_triggers_t trig;
    gram_t *req = grammar(API_TF_PHI4, false, true, true, NULL);
    gram_t *lazy = grammar(API_TF_PHI4, false, false, false, &trig);
    assert_string_equal(trig.texts[0], "<|tool_call|>");
    assert_int_equal(run(req, call), 1);
    assert_int_equal(run(lazy, call + strlen("<|tool_call|>")), 1);
    char two[512];
    snprintf(two, sizeof two, "%s%s", call, call);
    assert_int_equal(run(req, two), 1);
    assert_int_equal(run(lazy, two + strlen("<|tool_call|>")), -1);
    gram_free(req);
    gram_free(lazy);

    /* GENERIC: the fenced block api__tf_generic_prompt asks for, after a thought for a thinking model */
    g_think_prefilled = true;
    req = grammar(API_TF_GENERIC, true, true, true, NULL);
    g_think_prefilled = false;
    lazy = grammar(API_TF_GENERIC, false, false, true, &trig);
    assert_string_equal(trig.texts[0], "```tool_call");
    const char *g1 = "```tool_call\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n```";
    assert_int_equal(run(req, g1), 1);
    assert_int_equal(run(lazy, g1 + strlen("```tool_call")), 1);
    char g2[512];
    snprintf(g2, sizeof g2, "Okay.</think>\n\n%s\n%s", g1, g1); /* R1: the prompt opened the thought */
    assert_int_equal(run(req, g2), 1);
    assert_int_equal(run(lazy, "\n{\"name\": \"get_weather\", \"arguments\": {}}\n```"), -1);
    assert_int_not_equal(run(req, "```tool_call\n{\"name\": \"get_weather\", \"arguments\": {}}\n```"), 1);
    gram_free(req);
    /* a template that does not pre-fill it: the thought must open with the tag (free text would be content) */
    req = grammar(API_TF_GENERIC, true, true, true, NULL);
    assert_int_equal(run(req, g2), -1);
    snprintf(g2, sizeof g2, "<think>Okay.</think>\n\n%s", g1);
    assert_int_equal(run(req, g2), 1);
    assert_int_equal(run(req, g1), 1);
    gram_free(req);
    gram_free(lazy);
    free(src);
    free(ctx_src);
    free(render);
    free(call);
    cJSON_Delete(ctx);
}

static void test_grammar_gptoss(void **state) {
    (void)state;
    char *render = slurp_fmt("%s/tests/templates/expected/gptoss/tool-round-trip.txt", TEST_REPO_DIR);
    /* the generation prompt ends with "<|start|>assistant"; the call ends with <|call|>, an end-of-generation
       token that the grammar leaves to the engine */
    char *call = between(render, "<|start|>assistant", "<|call|>");
    assert_string_equal(call, " to=functions.get_weather<|channel|>commentary json<|message|>{\"city\": \"Paris\"}");
    api_tf_triggers_t trig;
    gram_t *req = grammar(API_TF_GPTOSS, true, true, true, NULL);
    gram_t *lazy = grammar(API_TF_GPTOSS, true, false, true, &trig);
    assert_string_equal(trig.texts[0], "to=functions.");
    assert_int_equal(run(req, call), 1);
    assert_int_equal(run(lazy, strstr(call, "to=functions.") + strlen("to=functions.")), 1);
    /* harmony as the model writes it (openai-cookbook's harmony guide), after an analysis message */
    const char *h = "<|channel|>analysis<|message|>Need the weather; <|start|> is fine here.<|end|><|start|>assistant"
                    "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\":\"Paris\"}";
    assert_int_equal(run(req, h), 1);
    assert_int_equal(run(req, strstr(h, "<|start|>assistant") + strlen("<|start|>assistant")), 1);
    assert_int_equal(run(req, "<|channel|>commentary to=functions.get_time <|constrain|>json<|message|>{}"), 1);
    assert_int_equal(run(req, "<|channel|>commentary to=functions.get_time <|constrain|>json<|message|>{\"a\": 1}"),
                     -1);
    assert_int_equal(run(req, "<|channel|>final<|message|>Hi"), -1);
    gram_free(req);
    gram_free(lazy);
    free(render);
    free(call);
}

static void test_grammar_errors(void **state) {
    (void)state;
    api_tf_t f;
    api__tf_detect("<tool_call> arguments", &f);
    assert_int_equal(f.family, API_TF_HERMES);
    cJSON *bad = cJSON_Parse("{\"type\": \"object\", \"allOf\": [{\"type\": \"object\"}]}");
    cJSON *loose = weather_schema(); /* fine, but not strict: additionalProperties missing */
    cJSON *notjson = cJSON_Parse("{\"type\": \"strin\"}");
    api_tf_tool_t tools[2] = {{"ok_tool", NULL, false}, {"bad_tool", bad, false}};
    gram_t *g = NULL;
    api_tf_triggers_t trig;
    char err[256] = "";
    int rc = api__tf_grammar(&f, tools, 2, true, true, NULL, &g, &trig, err, sizeof err);
    assert_int_equal(rc, ERR_UNSUPPORTED);
    assert_null(g);
    assert_non_null(strstr(err, "bad_tool"));
    assert_non_null(strstr(err, "allOf"));
    tools[1] = (api_tf_tool_t){"strict_tool", loose, true};
    rc = api__tf_grammar(&f, tools, 2, false, true, NULL, &g, &trig, err, sizeof err);
    assert_int_equal(rc, ERR_UNSUPPORTED);
    assert_non_null(strstr(err, "strict_tool"));
    assert_int_equal(trig.n_texts, 0);
    tools[1] = (api_tf_tool_t){"typo_tool", notjson, false};
    rc = api__tf_grammar(&f, tools, 2, false, true, NULL, &g, &trig, err, sizeof err);
    assert_true(rc == ERR_FORMAT || rc == ERR_UNSUPPORTED);
    assert_non_null(strstr(err, "typo_tool"));
    assert_int_equal(api__tf_grammar(&f, tools, 0, false, true, NULL, &g, &trig, err, sizeof err), ERR_INVAL);
    cJSON_Delete(bad);
    cJSON_Delete(loose);
    cJSON_Delete(notjson);
}

static void test_generic_prompt(void **state) {
    (void)state;
    cJSON *ws = weather_schema();
    api_tf_tool_t tools[2] = {{"get_weather", ws, false}, {"get_time", NULL, false}};
    char *p = api__tf_generic_prompt(tools, 2, false);
    assert_non_null(p);
    assert_non_null(strstr(p, "{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\""));
    assert_non_null(strstr(p, "{\"name\":\"get_time\",\"parameters\":{}}"));
    assert_non_null(strstr(p, "```tool_call\n{\"name\": \"<function-name>\", \"arguments\": "));
    assert_null(strstr(p, "must answer"));
    free(p);
    p = api__tf_generic_prompt(tools, 2, true);
    assert_non_null(strstr(p, "must answer with one or more function calls"));
    free(p);
    cJSON_Delete(ws);
}

/* Templates whose generation prompt opens the thought themselves, and one that does not. */
static void test_think_prefilled(void **state) {
    (void)state;
    static const struct {
        const char *name;
        bool prefilled;
    } t[] = {{"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B", true},
             {"Qwen-QwQ-32B", true},
             {"Qwen-Qwen3-0.6B", false},
             {"HuggingFaceTB-SmolLM3-3B", false}};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        char *src = slurp_fmt(TEST_SHARED_DIR "/templates/jinja/%s.jinja", t[i].name);
        api_tf_t f;
        api__tf_detect(src, &f);
        if (f.think_prefilled != t[i].prefilled) fail_msg("%s: think_prefilled %d", t[i].name, f.think_prefilled);
        free(src);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect_shared_corpus), cmocka_unit_test(test_detect_gguf_and_fixtures),
        cmocka_unit_test(test_grammar_hermes),       cmocka_unit_test(test_grammar_llama3),
        cmocka_unit_test(test_grammar_mistral),      cmocka_unit_test(test_grammar_phi4_generic),
        cmocka_unit_test(test_grammar_gptoss),       cmocka_unit_test(test_grammar_errors),
        cmocka_unit_test(test_generic_prompt),
        cmocka_unit_test(test_think_prefilled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
