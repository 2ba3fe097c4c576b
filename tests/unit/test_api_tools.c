/*
 * test_api_tools.c — tool calling and reasoning through the api layer (fake backend): the request fields (tools,
 * tool_choice, parallel_tool_calls, functions, function_call, reasoning_effort) and their errors, what reaches the
 * engine (grammar, lazy triggers, pre-filled opener, rendered tools), and the responses built from a model's
 * output: message.tool_calls, finish_reason "tool_calls", reasoning_content, and the streamed deltas whose
 * fragments join to the non-streamed arguments.
 */
#include "api_fixture.h"

#include <cjson/cJSON.h>

#define QWEN3_TMPL TEST_SHARED_DIR "/templates/jinja/Qwen-Qwen3-0.6B.jinja"

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static fx_t *with_template(const char *path) {
    char *src = read_file(path);
    fx_n_ctx = 4096;
    fx_t *f = fx_new_tmpl(NULL, 0, src, true, NULL, NULL);
    free(src);
    return f;
}

static fx_t *qwen3(void) {
    char *src = read_file(QWEN3_TMPL);
    fx_n_ctx = 4096; /* tool descriptions take hundreds of stories260K tokens */
    fx_t *f = fx_new_tmpl(NULL, 0, src, true, NULL, NULL);
    free(src);
    return f;
}

/* Posts a chat request that must start a call (prints the answer when it does not). */
static void post_ok(fx_t *f, const char *body) {
    fx_post(f, "/v1/chat/completions", body);
    if (!f->call) fprintf(stderr, "no call: %d %s\n", f->sink.status, f->sink.body ? f->sink.body : "");
    assert_non_null(f->call);
}

/* The text of submission i's prompt. */
static char *prompt_text(fx_t *f, int i) {
    size_t need = 0;
    tok_decode(f->tok, f->back.req[i].prompt, f->back.req[i].n_prompt, true, false, NULL, 0, &need);
    char *buf = malloc(need + 1);
    size_t n = 0;
    assert_int_equal(tok_decode(f->tok, f->back.req[i].prompt, f->back.req[i].n_prompt, true, false, buf, need, &n), 0);
    buf[n] = '\0';
    return buf;
}

static bool ends_with(const char *s, const char *tail) {
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && !strcmp(s + a - b, tail);
}

/* Feeds text as one token per `step` bytes (the last piece shorter). */
static void feed(fx_t *f, int i, const char *text, size_t step) {
    size_t n = strlen(text);
    for (size_t k = 0; k < n; k += step) {
        char piece[64];
        size_t m = n - k < step ? n - k : step;
        memcpy(piece, text + k, m);
        piece[m] = '\0';
        fx_token(f, i, 7, piece, 0, 0, NULL, NULL);
    }
}

#define WEATHER_TOOL                                                                                                   \
    "{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Weather of a city\","         \
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"],"  \
    "\"additionalProperties\":false}}}"
#define TIME_TOOL                                                                                                      \
    "{\"type\":\"function\",\"function\":{\"name\":\"get_time\",\"parameters\":{\"type\":\"object\","                \
    "\"properties\":{}}}}"

static const char *const CALL_TEXT =
    "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris {\\\"x\\\"}\"}}\n</tool_call>";
static const char *const CALL_ARGS = "{\"city\": \"Paris {\\\"x\\\"}\"}";

static void test_auto_call(void **state) {
    (void)state;
    fx_t *f = qwen3();
    post_ok(f,
            "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"Weather?\"}],"
            "\"chat_template_kwargs\":{\"enable_thinking\":false},\"tools\":[" WEATHER_TOOL "," TIME_TOOL "]}");
    assert_non_null(f->call);
    assert_int_equal(f->back.n, 1);
    const engine_req_t *r = &f->back.req[0];
    assert_non_null(r->grammar);
    assert_true(r->render_special);
    assert_int_equal(r->lazy.n_texts, 1);
    assert_string_equal(r->lazy.texts[0], "<tool_call>");
    assert_string_equal(r->lazy.quiet_open, "<think>"); /* an opener inside a thought is not a call */
    assert_string_equal(r->lazy.quiet_close, "</think>");
    assert_false(r->lazy.quiet_at_start); /* Qwen3 writes its own "<think>" */
    char *p = prompt_text(f, 0);
    assert_non_null(strstr(p, "<tools>"));
    assert_non_null(strstr(p, "\"name\": \"get_weather\""));
    assert_true(ends_with(p, "<|im_start|>assistant\n<think>\n\n</think>\n\n"));
    free(p);
    feed(f, 0, "Let me check. ", 5);
    feed(f, 0, CALL_TEXT, 3);
    fx_end(f, 0, ENGINE_FINISH_STOP, NULL);
    assert_int_equal(f->sink.status, 200);
    cJSON *j = cJSON_Parse(f->sink.body);
    const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
    assert_string_equal(cJSON_GetObjectItem(ch, "finish_reason")->valuestring, "tool_calls");
    const cJSON *msg = cJSON_GetObjectItem(ch, "message");
    assert_non_null(strstr(cJSON_GetObjectItem(msg, "content")->valuestring, "Let me check."));
    const cJSON *tc = cJSON_GetObjectItem(msg, "tool_calls");
    assert_int_equal(cJSON_GetArraySize(tc), 1);
    const cJSON *c0 = cJSON_GetArrayItem(tc, 0);
    assert_string_equal(cJSON_GetObjectItem(c0, "type")->valuestring, "function");
    assert_int_equal(strncmp(cJSON_GetObjectItem(c0, "id")->valuestring, "call_", 5), 0);
    const cJSON *fn = cJSON_GetObjectItem(c0, "function");
    assert_string_equal(cJSON_GetObjectItem(fn, "name")->valuestring, "get_weather");
    assert_string_equal(cJSON_GetObjectItem(fn, "arguments")->valuestring, CALL_ARGS);
    cJSON_Delete(j);
    fx_free(f);
}

/* Streams the same output with every chunking; the deltas must rebuild the non-streamed message exactly. */
static void test_stream_call(void **state) {
    (void)state;
    for (size_t step = 1; step <= 9; step += 4) {
        fx_t *f = qwen3();
        post_ok(f,
                "{\"model\":\"stories260K\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
                "\"chat_template_kwargs\":{\"enable_thinking\":false},\"tools\":[" WEATHER_TOOL "," TIME_TOOL "]}");
        assert_non_null(f->call);
        feed(f, 0, "Sure.", step);
        feed(f, 0, CALL_TEXT, step);
        feed(f, 0, "\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>", step);
        fx_end(f, 0, ENGINE_FINISH_STOP, NULL);
        assert_true(f->sink.closed);
        /* walk the frames */
        char content[256] = "", args[2][256] = {"", ""}, names[2][32] = {"", ""};
        int n_first[2] = {0, 0};
        const char *finish = NULL;
        char finish_buf[32] = "";
        for (char *s = f->sink.stream; (s = strstr(s, "data: ")) != NULL; s += 6) {
            if (!strncmp(s + 6, "[DONE]", 6)) break;
            char *end = strstr(s, "\n\n");
            cJSON *j = cJSON_ParseWithLength(s + 6, (size_t)(end - s - 6));
            assert_non_null(j);
            const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
            const cJSON *d = cJSON_GetObjectItem(ch, "delta");
            const cJSON *c = cJSON_GetObjectItem(d, "content");
            if (cJSON_IsString(c)) strncat(content, c->valuestring, sizeof content - strlen(content) - 1);
            const cJSON *tcs = cJSON_GetObjectItem(d, "tool_calls");
            if (tcs) {
                assert_int_equal(cJSON_GetArraySize(tcs), 1);
                const cJSON *tc = cJSON_GetArrayItem(tcs, 0);
                int idx = cJSON_GetObjectItem(tc, "index")->valueint;
                assert_true(idx >= 0 && idx < 2);
                const cJSON *fn = cJSON_GetObjectItem(tc, "function");
                const cJSON *name = cJSON_GetObjectItem(fn, "name");
                if (name) { /* the first delta of a call: id, type, whole name, empty arguments */
                    n_first[idx]++;
                    snprintf(names[idx], sizeof names[idx], "%s", name->valuestring);
                    assert_non_null(cJSON_GetObjectItem(tc, "id"));
                    assert_string_equal(cJSON_GetObjectItem(tc, "type")->valuestring, "function");
                    assert_string_equal(cJSON_GetObjectItem(fn, "arguments")->valuestring, "");
                } else {
                    assert_null(cJSON_GetObjectItem(tc, "id"));
                    strncat(args[idx], cJSON_GetObjectItem(fn, "arguments")->valuestring,
                            sizeof args[idx] - strlen(args[idx]) - 1);
                }
            }
            const cJSON *fr = cJSON_GetObjectItem(ch, "finish_reason");
            if (cJSON_IsString(fr)) {
                snprintf(finish_buf, sizeof finish_buf, "%s", fr->valuestring);
                finish = finish_buf;
            }
            cJSON_Delete(j);
        }
        assert_non_null(strstr(content, "Sure."));
        assert_null(strstr(content, "<tool")); /* markers never reach content */
        assert_int_equal(n_first[0], 1);
        assert_int_equal(n_first[1], 1);
        assert_string_equal(names[0], "get_weather");
        assert_string_equal(names[1], "get_time");
        assert_string_equal(args[0], CALL_ARGS);
        assert_string_equal(args[1], "{}");
        assert_non_null(finish);
        assert_string_equal(finish, "tool_calls");
        fx_free(f);
    }
}

static void test_required_and_named(void **state) {
    (void)state;
    fx_t *f = qwen3();
    post_ok(f,
            "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"tool_choice\":"
            "\"required\",\"chat_template_kwargs\":{\"enable_thinking\":false},\"tools\":[" WEATHER_TOOL "]}");
    assert_non_null(f->call);
    const engine_req_t *r = &f->back.req[0];
    assert_non_null(r->grammar);
    assert_int_equal(r->lazy.n_texts + r->lazy.n_tokens, 0); /* holds from the first token */
    char *p = prompt_text(f, 0);
    assert_true(ends_with(p, "<tool_call>")); /* the opener is pre-filled */
    free(p);
    feed(f, 0, "\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>", 4);
    fx_end(f, 0, ENGINE_FINISH_STOP, NULL);
    cJSON *j = cJSON_Parse(f->sink.body);
    const cJSON *msg = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0), "message");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(msg, "content")));
    const cJSON *fn = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(msg, "tool_calls"), 0), "function");
    assert_string_equal(cJSON_GetObjectItem(fn, "arguments")->valuestring, "{\"city\": \"Oslo\"}");
    cJSON_Delete(j);

    /* a named choice narrows the grammar to that tool: the same grammar must refuse the other name */
    post_ok(f,
            "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"tool_choice\":{"
            "\"type\":\"function\",\"function\":{\"name\":\"get_time\"}},\"tools\":[" WEATHER_TOOL "," TIME_TOOL "]}");
    assert_non_null(f->call);
    gram_matcher_t *m = NULL;
    char err[128];
    assert_int_equal(gram_matcher_create(f->back.req[1].grammar, NULL, NULL, &m, err, sizeof err), 0);
    const char *weather = "\n{\"name\": \"get_weather\"";
    assert_int_not_equal(gram_matcher_accept_bytes(m, weather, strlen(weather)), 0);
    gram_matcher_reset(m);
    const char *tm = "\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>";
    assert_int_equal(gram_matcher_accept_bytes(m, tm, strlen(tm)), 0);
    assert_true(gram_matcher_accepting(m));
    gram_matcher_free(m);
    fx_free(f);
}

static void expect_400(fx_t *f, const char *body, const char *param, const char *needle) {
    fx_post(f, "/v1/chat/completions", body);
    assert_null(f->call);
    if (f->sink.status != 400) fprintf(stderr, "%s\n", f->sink.body);
    assert_int_equal(f->sink.status, 400);
    cJSON *j = cJSON_Parse(f->sink.body);
    const cJSON *err = cJSON_GetObjectItem(j, "error");
    const cJSON *p = cJSON_GetObjectItem(err, "param");
    if (param) {
        assert_true(cJSON_IsString(p));
        assert_string_equal(p->valuestring, param);
    }
    if (!strstr(cJSON_GetObjectItem(err, "message")->valuestring, needle)) {
        fprintf(stderr, "message: %s\n", cJSON_GetObjectItem(err, "message")->valuestring);
        fail();
    }
    cJSON_Delete(j);
}

#define MSGS "\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]"

static void test_errors(void **state) {
    (void)state;
    fx_t *f = qwen3();
    expect_400(f, "{" MSGS ",\"tool_choice\":\"required\"}", "tool_choice", "only allowed when 'tools'");
    expect_400(f, "{" MSGS ",\"tools\":[{\"type\":\"web_search\"}]}", "tools[0].type", "web_search");
    expect_400(f, "{" MSGS ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a b\"}}]}",
               "tools[0].function.name", "pattern");
    expect_400(f, "{" MSGS ",\"tools\":[" WEATHER_TOOL "],\"tool_choice\":{\"type\":\"function\",\"function\":"
               "{\"name\":\"nope\"}}}", "tool_choice.function.name", "nope");
    expect_400(f, "{" MSGS ",\"tools\":[" WEATHER_TOOL "],\"tool_choice\":\"sometimes\"}", "tool_choice",
               "sometimes");
    expect_400(f, "{" MSGS ",\"tools\":[" WEATHER_TOOL "," WEATHER_TOOL "]}", "tools[1].function.name", "twice");
    expect_400(f, "{" MSGS ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":"
               "{\"type\":\"object\",\"properties\":{\"a\":{\"allOf\":[]}}}}}]}", "tools", "allOf");
    expect_400(f, "{" MSGS ",\"reasoning_effort\":\"extreme\"}", "reasoning_effort", "extreme");
    fx_free(f);
    /* ChatML does not reason: reasoning_effort is refused as OpenAI refuses it for such models */
    f = fx_new(NULL, 0);
    expect_400(f, "{" MSGS ",\"reasoning_effort\":\"low\"}", "reasoning_effort", "not supported with this model");
    fx_free(f);
    /* the tool fields belong to chat */
    f = fx_new(NULL, 0);
    fx_post(f, "/v1/completions", "{\"model\":\"stories260K\",\"prompt\":\"a\",\"tools\":[" WEATHER_TOOL "]}");
    assert_int_equal(f->sink.status, 400);
    fx_free(f);
}

static void test_tool_choice_none_and_history(void **state) {
    (void)state;
    fx_t *f = qwen3();
    post_ok(f,
            "{\"model\":\"stories260K\",\"tool_choice\":\"none\",\"tools\":[" WEATHER_TOOL "],\"messages\":["
            "{\"role\":\"user\",\"content\":\"Weather in Paris?\"},"
            "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\","
            "\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\": \\\"Paris\\\"}\"}}]},"
            "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"sunny\"}]}");
    assert_non_null(f->call);
    assert_null(f->back.req[0].grammar); /* none: no call grammar */
    char *p = prompt_text(f, 0);
    assert_non_null(strstr(p, "<tools>"));  /* the template still sees the tools */
    /* arguments went to the template as an object, not a string encoded twice */
    assert_non_null(strstr(p, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}"));
    assert_non_null(strstr(p, "<tool_response>\nsunny\n</tool_response>"));
    free(p);
    feed(f, 0, "<tool_call>\n{\"name\": \"x\"}", 4); /* not parsed: plain content */
    fx_end(f, 0, ENGINE_FINISH_STOP, NULL);
    cJSON *j = cJSON_Parse(f->sink.body);
    const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
    assert_string_equal(cJSON_GetObjectItem(ch, "finish_reason")->valuestring, "stop");
    const cJSON *msg = cJSON_GetObjectItem(ch, "message");
    assert_null(cJSON_GetObjectItem(msg, "tool_calls"));
    assert_non_null(strstr(cJSON_GetObjectItem(msg, "content")->valuestring, "<tool_call>"));
    cJSON_Delete(j);
    fx_free(f);
}

static void test_legacy_functions(void **state) {
    (void)state;
    fx_t *f = qwen3();
    post_ok(f,
            "{" MSGS ",\"chat_template_kwargs\":{\"enable_thinking\":false},\"functions\":[{\"name\":\"get_time\","
            "\"parameters\":{\"type\":\"object\",\"properties\":{}}}],\"function_call\":{\"name\":\"get_time\"}}");
    assert_non_null(f->call);
    feed(f, 0, "\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>", 3);
    fx_end(f, 0, ENGINE_FINISH_STOP, NULL);
    cJSON *j = cJSON_Parse(f->sink.body);
    const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
    assert_string_equal(cJSON_GetObjectItem(ch, "finish_reason")->valuestring, "function_call");
    const cJSON *fc = cJSON_GetObjectItem(cJSON_GetObjectItem(ch, "message"), "function_call");
    assert_string_equal(cJSON_GetObjectItem(fc, "name")->valuestring, "get_time");
    assert_string_equal(cJSON_GetObjectItem(fc, "arguments")->valuestring, "{}");
    cJSON_Delete(j);
    fx_free(f);
}

static void test_reasoning(void **state) {
    (void)state;
    fx_t *f = qwen3();
    post_ok(f, "{" MSGS "}");
    assert_non_null(f->call);
    assert_true(f->back.req[0].render_special);
    assert_null(f->back.req[0].grammar);
    feed(f, 0, "<think>\nThe user greets.\n</think>\n\nHello there!", 3);
    fx_end(f, 0, ENGINE_FINISH_STOP, NULL);
    cJSON *j = cJSON_Parse(f->sink.body);
    const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
    const cJSON *msg = cJSON_GetObjectItem(ch, "message");
    assert_string_equal(cJSON_GetObjectItem(ch, "finish_reason")->valuestring, "stop");
    assert_non_null(strstr(cJSON_GetObjectItem(msg, "reasoning_content")->valuestring, "The user greets."));
    const char *content = cJSON_GetObjectItem(msg, "content")->valuestring;
    assert_non_null(strstr(content, "Hello there!"));
    assert_null(strstr(content, "think>"));
    const cJSON *u = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "usage"), "completion_tokens_details");
    int reasoning = cJSON_GetObjectItem(u, "reasoning_tokens")->valueint;
    assert_true(reasoning > 0 && reasoning < cJSON_GetObjectItem(cJSON_GetObjectItem(j, "usage"),
                                                                 "completion_tokens")->valueint);
    cJSON_Delete(j);

    /* reasoning_effort none turns Qwen3's thinking off through its template */
    post_ok(f, "{" MSGS ",\"reasoning_effort\":\"none\"}");
    assert_non_null(f->call);
    char *p = prompt_text(f, 1);
    assert_true(ends_with(p, "<think>\n\n</think>\n\n"));
    free(p);
    fx_free(f);
}

/* Streamed reasoning: delta.reasoning_content, then delta.content; a trailing partial marker is flushed as text. */
static void test_reasoning_stream(void **state) {
    (void)state;
    fx_t *f = qwen3();
    post_ok(f, "{" MSGS ",\"stream\":true,\"tools\":[" WEATHER_TOOL "]}");
    feed(f, 0, "<think>\nHmm.\n</think>\n\nHello <tool_", 2);
    fx_end(f, 0, ENGINE_FINISH_LENGTH, NULL);
    char reasoning[128] = "", content[128] = "";
    const char *finish = NULL;
    for (char *s = f->sink.stream; (s = strstr(s, "data: ")) != NULL; s += 6) {
        if (!strncmp(s + 6, "[DONE]", 6)) break;
        char *end = strstr(s, "\n\n");
        cJSON *j = cJSON_ParseWithLength(s + 6, (size_t)(end - s - 6));
        const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
        const cJSON *d = cJSON_GetObjectItem(ch, "delta");
        const cJSON *r = cJSON_GetObjectItem(d, "reasoning_content"), *c = cJSON_GetObjectItem(d, "content");
        if (cJSON_IsString(r)) {
            assert_int_equal(content[0], 0); /* all reasoning comes before any content */
            strncat(reasoning, r->valuestring, sizeof reasoning - strlen(reasoning) - 1);
        }
        if (cJSON_IsString(c)) strncat(content, c->valuestring, sizeof content - strlen(content) - 1);
        const cJSON *fr = cJSON_GetObjectItem(ch, "finish_reason");
        if (cJSON_IsString(fr)) finish = strstr(f->sink.stream, "\"finish_reason\":\"length\"") ? "length" : "?";
        cJSON_Delete(j);
    }
    assert_non_null(strstr(reasoning, "Hmm."));
    assert_null(strstr(reasoning, "think>"));
    assert_non_null(strstr(content, "Hello <tool_")); /* never became a call: it is text after all */
    assert_non_null(finish);
    assert_string_equal(finish, "length");
    fx_free(f);
}

/* The history of a tool round trip renders on other families' templates: Mistral's (which raises unless call ids
   are 9 alphanumerics: the client's ids are mapped), Llama 3.1's (arguments as an object, not a string encoded
   twice), and Gemma's, which knows no tools (calls and results become text, the tools a system description). */
static void test_history_families(void **state) {
    (void)state;
    static const char body[] =
        "{\"model\":\"stories260K\",\"max_tokens\":4,\"tools\":[" WEATHER_TOOL "],\"messages\":["
        "{\"role\":\"user\",\"content\":\"Weather in Paris?\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_abc\",\"type\":\"function\","
        "\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\": \\\"Paris\\\"}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_abc\",\"content\":\"sunny\"}]}";
    static const struct {
        const char *tmpl, *want1, *want2;
    } t[] = {
        {"mistralai-Mistral-Nemo-Instruct-2407", "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}",
         "[TOOL_RESULTS]"},
        {"meta-llama-Llama-3.1-8B-Instruct", "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}",
         "ipython<|end_header_id|>"},
        {"google-gemma-2-2b-it", "```tool_call\n{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}\n```",
         "Result of tool call call_abc:\nsunny"},
    };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        char path[256];
        snprintf(path, sizeof path, TEST_SHARED_DIR "/templates/jinja/%s.jinja", t[i].tmpl);
        fx_t *f = with_template(path);
        post_ok(f, body);
        char *p = prompt_text(f, 0);
        if (!strstr(p, t[i].want1) || !strstr(p, t[i].want2)) fail_msg("%s rendered:\n%s", t[i].tmpl, p);
        assert_null(strstr(p, "call_abc\"")); /* Mistral: the id was mapped; others do not print it as JSON */
        free(p);
        fx_free(f);
    }
}

/* Repeated schemas and tool lists reuse one compiled grammar (and its mask cache); others get their own. */
static void test_grammar_cache(void **state) {
    (void)state;
    fx_t *f = fx_new(NULL, 0);
    fx_n_ctx = 4096;
    const char *rf = "{" MSGS ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"a\","
                     "\"schema\":{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"integer\"}}}}}}";
    post_ok(f, rf);
    post_ok(f, rf);
    assert_ptr_equal(f->back.req[0].grammar, f->back.req[1].grammar);
    post_ok(f, "{" MSGS ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"a\","
               "\"strict\":true,\"schema\":{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"integer\"}},"
               "\"required\":[\"x\"],\"additionalProperties\":false}}}}");
    assert_ptr_not_equal(f->back.req[1].grammar, f->back.req[2].grammar);
    const char *tl = "{" MSGS ",\"tools\":[" WEATHER_TOOL "]}";
    post_ok(f, tl);
    post_ok(f, tl);
    assert_ptr_equal(f->back.req[3].grammar, f->back.req[4].grammar);
    assert_string_equal(f->back.req[4].lazy.texts[0], f->back.req[3].lazy.texts[0]);
    post_ok(f, "{" MSGS ",\"tools\":[" WEATHER_TOOL "],\"parallel_tool_calls\":false}");
    assert_ptr_not_equal(f->back.req[4].grammar, f->back.req[5].grammar);
    for (int i = 0; i < 12; i++) { /* more schemas than the cache holds */
        char body[512];
        snprintf(body, sizeof body, "{" MSGS ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{"
                 "\"name\":\"a\",\"schema\":{\"type\":\"object\",\"properties\":{\"k%d\":{\"type\":\"integer\"}}}}}}", i);
        post_ok(f, body);
    }
    post_ok(f, rf); /* compiled again (evicted); the earlier requests' grammars were theirs to free */
    assert_non_null(f->back.req[f->back.n - 1].grammar);
    fx_free(f);
}

/* Whether the bytes of text complete a document of g (a byte-level matcher). */
static bool grammar_takes(const gram_t *g, const char *text) {
    gram_matcher_t *m = NULL;
    char err[128];
    assert_int_equal(gram_matcher_create(g, NULL, NULL, &m, err, sizeof err), 0);
    bool ok = gram_matcher_accept_bytes(m, text, strlen(text)) == 0 && gram_matcher_accepting(m);
    gram_matcher_free(m);
    return ok;
}

/* response_format beside tools: auto answers with the document or with calls, from the first token (no trigger, no
   pre-filled opener); each is parsed as such; required and a named choice give calls only; none keeps the format. */
static void test_tools_with_format(void **state) {
    (void)state;
    fx_t *f = qwen3();
#define RF_BODY(choice)                                                                                                \
    "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"Weather?\"}],"                         \
    "\"chat_template_kwargs\":{\"enable_thinking\":false},\"tools\":[" WEATHER_TOOL "],\"tool_choice\":" choice        \
    ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"answer\",\"strict\":true,"          \
    "\"schema\":{\"type\":\"object\",\"properties\":{\"summary\":{\"type\":\"string\"}},\"required\":[\"summary\"],"  \
    "\"additionalProperties\":false}}}}"
    post_ok(f, RF_BODY("\"auto\""));
    const engine_req_t *r = &f->back.req[0];
    assert_non_null(r->grammar);
    assert_int_equal(r->lazy.n_texts + r->lazy.n_tokens, 0); /* the grammar holds from the first token */
    char *p = prompt_text(f, 0);
    assert_true(ends_with(p, "<think>\n\n</think>\n\n")); /* nothing pre-filled */
    free(p);
    const char *doc = "{\"summary\": \"sunny\"}";
    const char *call = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>";
    assert_true(grammar_takes(r->grammar, doc));
    assert_true(grammar_takes(r->grammar, call));
    assert_false(grammar_takes(r->grammar, "{\"other\": 1}"));
    assert_false(grammar_takes(r->grammar, "Sure! <tool_call>"));
    feed(f, 0, doc, 3);
    fx_end(f, 0, ENGINE_FINISH_STOP, NULL);
    cJSON *j = cJSON_Parse(f->sink.body);
    const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
    assert_string_equal(cJSON_GetObjectItem(ch, "finish_reason")->valuestring, "stop");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(ch, "message"), "content")->valuestring, doc);
    cJSON_Delete(j);

    post_ok(f, RF_BODY("\"auto\""));
    assert_ptr_equal(f->back.req[1].grammar, r->grammar); /* cached with the document in its key */
    feed(f, 1, call, 5);
    fx_end(f, 1, ENGINE_FINISH_STOP, NULL);
    j = cJSON_Parse(f->sink.body);
    ch = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
    assert_string_equal(cJSON_GetObjectItem(ch, "finish_reason")->valuestring, "tool_calls");
    const cJSON *tc = cJSON_GetObjectItem(cJSON_GetObjectItem(ch, "message"), "tool_calls");
    assert_int_equal(cJSON_GetArraySize(tc), 1);
    cJSON_Delete(j);

    /* required: calls only (the opener pre-filled); none: the document only */
    post_ok(f, RF_BODY("\"required\""));
    p = prompt_text(f, 2);
    assert_true(ends_with(p, "<tool_call>"));
    free(p);
    assert_false(grammar_takes(f->back.req[2].grammar, doc));
    post_ok(f, RF_BODY("\"none\""));
    assert_true(grammar_takes(f->back.req[3].grammar, doc));
    assert_false(grammar_takes(f->back.req[3].grammar, call));
#undef RF_BODY
    fx_free(f);
}

/* A history call without arguments (or with arguments that are not JSON) still renders: {} or the string as
   given (found by fuzz_request as a leak of the replacement value). */
static void test_history_odd_arguments(void **state) {
    (void)state;
    fx_t *f = qwen3();
    post_ok(f, "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"w?\"},"
               "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\","
               "\"function\":{\"name\":\"w\"}},{\"id\":\"c2\",\"type\":\"function\",\"function\":{\"name\":\"v\","
               "\"arguments\":\"not json\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"18\"}]}");
    char *p = prompt_text(f, 0);
    assert_non_null(strstr(p, "{\"name\": \"w\", \"arguments\": {}}"));
    assert_non_null(strstr(p, "{\"name\": \"v\", \"arguments\": not json}"));
    free(p);
    fx_free(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auto_call),          cmocka_unit_test(test_stream_call),
        cmocka_unit_test(test_required_and_named), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_tool_choice_none_and_history), cmocka_unit_test(test_legacy_functions),
        cmocka_unit_test(test_reasoning), cmocka_unit_test(test_reasoning_stream),
        cmocka_unit_test(test_history_families), cmocka_unit_test(test_grammar_cache),
        cmocka_unit_test(test_history_odd_arguments), cmocka_unit_test(test_tools_with_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
