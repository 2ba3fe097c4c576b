/*
 * test_api_stream.c — api/ calls driven by hand-made engine events (fake backend): the exact JSON of
 * non-streaming responses and of every SSE frame, stop strings (also across tokens and held back while
 * streaming), n > 1, logprobs in both shapes, finish reasons, engine errors, a client that goes away, a full
 * queue, and shutdown.
 */
#include "api_fixture.h"

#include <math.h>

#define M   "\"model\":\"stories260K\","
#define MSG "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"
#define HEAD_CHAT                                                                                                      \
    "\"object\":\"chat.completion\",\"created\":1700000000,\"model\":\"stories260K\","                                 \
    "\"system_fingerprint\":\"fp_test\""
#define HEAD_CHUNK                                                                                                     \
    "{\"id\":\"$ID\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":"                           \
    "\"stories260K\",\"system_fingerprint\":\"fp_test\","
#define HEAD_TEXT                                                                                                      \
    "\"object\":\"text_completion\",\"created\":1700000000,\"model\":\"stories260K\","                                 \
    "\"system_fingerprint\":\"fp_test\""

static void test_chat_nonstream(void **state) {
    fx_t *f = fx_new(NULL, 0);
    fx_post(f, "/v1/chat/completions", "{" M MSG ",\"max_tokens\":5}");
    assert_non_null(f->call);
    assert_int_equal(f->back.n, 1);
    int32_t n_prompt = (int32_t)f->back.req[0].n_prompt;
    fx_token(f, 0, 300, "Hel", 0, 0, NULL, NULL);
    fx_token(f, 0, 301, "", 0, 0, NULL, NULL); /* a token that completes no character yet */
    fx_token(f, 0, 302, "lo \"x\"", 0, 0, NULL, NULL);
    assert_int_equal(f->sink.n_responds, 0);
    fx_end(f, 0, ENGINE_FINISH_STOP, "!");
    assert_int_equal(f->sink.n_responds, 1);
    assert_int_equal(f->sink.status, 200);
    char id[64], want[2048];
    fx_id_of(f->sink.body, id, sizeof id);
    assert_int_equal(strncmp(id, "chatcmpl-", 9), 0);
    assert_int_equal(strlen(id), 9 + 29);
    snprintf(want, sizeof want,
             "{\"id\":\"$ID\"," HEAD_CHAT ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
             "\"Hello \\\"x\\\"!\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":"
             "{\"prompt_tokens\":%d,\"completion_tokens\":3,\"total_tokens\":%d,\"prompt_tokens_details\":{\"cached_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0}}}",
             n_prompt, n_prompt + 3);
    fx_expect(f->sink.body, want, id);
    assert_int_equal(api_live_calls(f->api), 1);
    api_call_release(f->call);
    f->call = NULL;
    assert_int_equal(api_live_calls(f->api), 0);
    fx_free(f);
}

static void test_chat_stream(void **state) {
    fx_t *f = fx_new(NULL, 0);
    fx_post(f, "/v1/chat/completions", "{" M MSG ",\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
    assert_true(f->sink.opened);
    int32_t n_prompt = (int32_t)f->back.req[0].n_prompt;
    fx_token(f, 0, 300, "Hi", 0, 0, NULL, NULL);
    fx_token(f, 0, 301, " there", 0, 0, NULL, NULL);
    fx_end(f, 0, ENGINE_FINISH_LENGTH, "");
    assert_true(f->sink.closed);
    assert_int_equal(f->sink.n_responds, 0);
    char id[64], want[4096];
    fx_id_of(f->sink.stream, id, sizeof id);
    snprintf(want, sizeof want,
             "data: " HEAD_CHUNK "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
             "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n"
             "data: " HEAD_CHUNK "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"logprobs\":null,"
             "\"finish_reason\":null}],\"usage\":null}\n\n"
             "data: " HEAD_CHUNK "\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there\"},\"logprobs\":null,"
             "\"finish_reason\":null}],\"usage\":null}\n\n"
             "data: " HEAD_CHUNK "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":"
             "\"length\"}],\"usage\":null}\n\n"
             "data: " HEAD_CHUNK "\"choices\":[],\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":2,"
             "\"total_tokens\":%d,\"prompt_tokens_details\":{\"cached_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0}}}\n\n"
             "data: [DONE]\n\n",
             n_prompt, n_prompt + 2);
    fx_expect(f->sink.stream, want, id);
    fx_free(f);
}

/* Without include_usage there is no usage member and no usage chunk. */
static void test_text_stream_no_usage(void **state) {
    fx_t *f = fx_new(NULL, 0);
    fx_post(f, "/v1/completions", "{" M "\"prompt\":\"Once\",\"stream\":true,\"echo\":true}");
    fx_token(f, 0, 300, " upon", 0, 0, NULL, NULL);
    fx_end(f, 0, ENGINE_FINISH_STOP, NULL);
    char id[64];
    fx_id_of(f->sink.stream, id, sizeof id);
    assert_int_equal(strncmp(id, "cmpl-", 5), 0);
#define HT "{\"id\":\"$ID\"," HEAD_TEXT ","
    fx_expect(f->sink.stream,
              "data: " HT "\"choices\":[{\"index\":0,\"text\":\"Once\",\"logprobs\":null,\"finish_reason\":null}]}\n\n"
              "data: " HT "\"choices\":[{\"index\":0,\"text\":\" upon\",\"logprobs\":null,\"finish_reason\":null}]}"
              "\n\n"
              "data: " HT "\"choices\":[{\"index\":0,\"text\":\"\",\"logprobs\":null,\"finish_reason\":\"stop\"}]}"
              "\n\n"
              "data: [DONE]\n\n",
              id);
    fx_free(f);
}

static void test_stop_nonstream(void **state) {
    fx_t *f = fx_new(NULL, 0);
    fx_post(f, "/v1/completions", "{" M "\"prompt\":\"a\",\"stop\":[\"world\",\"zzz\"],\"max_tokens\":9}");
    fx_token(f, 0, 300, "Hello", 0, 0, NULL, NULL);
    fx_token(f, 0, 301, " wor", 0, 0, NULL, NULL);
    assert_false(fx_was_cancelled(&f->back, f->back.id[0]));
    fx_token(f, 0, 302, "ld! more", 0, 0, NULL, NULL); /* the match spans tokens; the text after it is dropped */
    assert_true(fx_was_cancelled(&f->back, f->back.id[0]));
    assert_int_equal(f->sink.n_responds, 1);
    char id[64], want[1024];
    fx_id_of(f->sink.body, id, sizeof id);
    int32_t n_prompt = (int32_t)f->back.req[0].n_prompt;
    snprintf(want, sizeof want,
             "{\"id\":\"$ID\"," HEAD_TEXT ",\"choices\":[{\"index\":0,\"text\":\"Hello \",\"logprobs\":null,"
             "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":3,"
             "\"total_tokens\":%d,\"prompt_tokens_details\":{\"cached_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0}}}",
             n_prompt, n_prompt + 3);
    fx_expect(f->sink.body, want, id);
    fx_token(f, 0, 303, "late", 0, 0, NULL, NULL); /* the engine had not seen the cancel yet */
    fx_end(f, 0, ENGINE_FINISH_CANCELLED, NULL);
    assert_int_equal(f->sink.n_responds, 1);
    api_call_release(f->call);
    f->call = NULL;
    assert_int_equal(api_live_calls(f->api), 0);
    fx_free(f);
}

/* While streaming, text that could still become a stop string is held back; it is released once it cannot. */
static void test_stop_holdback_stream(void **state) {
    fx_t *f = fx_new(NULL, 0);
    fx_post(f, "/v1/completions", "{" M "\"prompt\":\"a\",\"stop\":\"END\",\"stream\":true}");
    fx_token(f, 0, 300, "abc E", 0, 0, NULL, NULL);
    fx_token(f, 0, 301, "N", 0, 0, NULL, NULL);
    fx_token(f, 0, 302, "x E", 0, 0, NULL, NULL);
    fx_token(f, 0, 303, "ND tail", 0, 0, NULL, NULL);
    assert_true(f->sink.closed);
    char id[64];
    fx_id_of(f->sink.stream, id, sizeof id);
    fx_expect(f->sink.stream,
              "data: " HT "\"choices\":[{\"index\":0,\"text\":\"abc \",\"logprobs\":null,\"finish_reason\":null}]}"
              "\n\n"
              "data: " HT "\"choices\":[{\"index\":0,\"text\":\"ENx \",\"logprobs\":null,\"finish_reason\":null}]}"
              "\n\n"
              "data: " HT "\"choices\":[{\"index\":0,\"text\":\"\",\"logprobs\":null,\"finish_reason\":\"stop\"}]}"
              "\n\n"
              "data: [DONE]\n\n",
              id);
    fx_end(f, 0, ENGINE_FINISH_CANCELLED, NULL);
    fx_free(f);
}

/* A held-back prefix that never completes is released at the end; a stop string completed by the END tail
   still counts. */
static void test_stop_at_end(void **state) {
    fx_t *f = fx_new(NULL, 0);
    fx_post(f, "/v1/completions", "{" M "\"prompt\":\"a\",\"stop\":\"END\",\"stream\":true}");
    fx_token(f, 0, 300, "ab EN", 0, 0, NULL, NULL);
    fx_end(f, 0, ENGINE_FINISH_LENGTH, NULL);
    assert_non_null(strstr(f->sink.stream, "\"text\":\"ab \""));
    assert_non_null(strstr(f->sink.stream, "\"text\":\"EN\""));
    assert_non_null(strstr(f->sink.stream, "\"finish_reason\":\"length\""));
    fx_post(f, "/v1/completions", "{" M "\"prompt\":\"a\",\"stop\":\"END\"}");
    fx_token(f, 1, 300, "ab EN", 0, 0, NULL, NULL);
    fx_end(f, 1, ENGINE_FINISH_STOP, "D!");
    assert_non_null(strstr(f->sink.body, "\"text\":\"ab \",\"logprobs\":null,\"finish_reason\":\"stop\""));
    fx_free(f);
}

static void test_n_choices(void **state) {
    fx_t *f = fx_new(NULL, 0);
    fx_post(f, "/v1/chat/completions", "{" M MSG ",\"n\":2,\"stream\":true}");
    assert_int_equal(f->back.n, 2);
    /* both role chunks come first, then events interleave by choice */
    const char *first = strstr(f->sink.stream, "\"index\":0,\"delta\":{\"role\"");
    const char *second = strstr(f->sink.stream, "\"index\":1,\"delta\":{\"role\"");
    assert_non_null(first);
    assert_non_null(second);
    fx_token(f, 1, 300, "B", 0, 0, NULL, NULL);
    fx_token(f, 0, 300, "A", 0, 0, NULL, NULL);
    fx_end(f, 1, ENGINE_FINISH_STOP, NULL);
    assert_false(f->sink.closed); /* choice 0 still runs */
    fx_end(f, 0, ENGINE_FINISH_LENGTH, NULL);
    assert_true(f->sink.closed);
    assert_non_null(strstr(f->sink.stream, "\"index\":1,\"delta\":{\"content\":\"B\"}"));
    assert_non_null(strstr(f->sink.stream, "\"index\":1,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\""));
    assert_non_null(strstr(f->sink.stream, "\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"length\""));

    fx_post(f, "/v1/completions", "{" M "\"prompt\":[\"x\",\"y\"],\"n\":2}");
    assert_int_equal(f->back.n, 6);
    fx_token(f, 5, 300, "d", 0, 0, NULL, NULL);
    fx_token(f, 2, 300, "a", 0, 0, NULL, NULL);
    fx_token(f, 2, 300, "a", 0, 0, NULL, NULL);
    for (int i = 2; i < 6; i++)
        fx_end(f, i, ENGINE_FINISH_STOP, NULL);
    char id[64], want[2048];
    fx_id_of(f->sink.body, id, sizeof id);
    int32_t n_prompt = (int32_t)(f->back.req[2].n_prompt + f->back.req[4].n_prompt); /* each prompt once */
    snprintf(want, sizeof want,
             "{\"id\":\"$ID\"," HEAD_TEXT ",\"choices\":[{\"index\":0,\"text\":\"aa\",\"logprobs\":null,"
             "\"finish_reason\":\"stop\"},{\"index\":1,\"text\":\"\",\"logprobs\":null,\"finish_reason\":\"stop\"},"
             "{\"index\":2,\"text\":\"\",\"logprobs\":null,\"finish_reason\":\"stop\"},{\"index\":3,\"text\":\"d\","
             "\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":3,"
             "\"total_tokens\":%d,\"prompt_tokens_details\":{\"cached_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0}}}",
             n_prompt, n_prompt + 3);
    fx_expect(f->sink.body, want, id);
    fx_free(f);
}

static void test_chat_logprobs(void **state) {
    fx_t *f = fx_new(NULL, 0);
    int32_t e2 = fx_token_id(f, "<0xE2>"), t_a = fx_token_id(f, "a");
    assert_true(e2 >= 0 && t_a >= 0);
    fx_post(f, "/v1/chat/completions", "{" M MSG ",\"logprobs\":true,\"top_logprobs\":2}");
    const int32_t top[2] = {t_a, e2};
    const float top_lp[2] = {-0.5f, -INFINITY};
    fx_token(f, 0, t_a, "a", -0.5f, 2, top, top_lp);
    fx_token(f, 0, e2, "", -1.25f, 1, top + 1, top_lp); /* a byte of a character */
    fx_end(f, 0, ENGINE_FINISH_STOP, NULL);
    char id[64];
    fx_id_of(f->sink.body, id, sizeof id);
    int32_t n_prompt = (int32_t)f->back.req[0].n_prompt;
    char want[4096];
    snprintf(
        want, sizeof want,
        "{\"id\":\"$ID\"," HEAD_CHAT ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
        "\"a\",\"refusal\":null},\"logprobs\":{\"content\":[{\"token\":\"a\",\"logprob\":-0.5,\"bytes\":[97],"
        "\"top_logprobs\":[{\"token\":\"a\",\"logprob\":-0.5,\"bytes\":[97]},{\"token\":\"bytes:\\\\xe2\","
        "\"logprob\":-9999.0,\"bytes\":[226]}]},{\"token\":\"bytes:\\\\xe2\",\"logprob\":-1.25,\"bytes\":[226],"
        "\"top_logprobs\":[{\"token\":\"bytes:\\\\xe2\",\"logprob\":-0.5,\"bytes\":[226]}]}],\"refusal\":null},"
        "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":2,\"total_tokens\":%d,\"prompt_tokens_details\":{\"cached_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0}}}",
        n_prompt, n_prompt + 2);
    fx_expect(f->sink.body, want, id);
    fx_free(f);
}

static void test_text_logprobs_stream(void **state) {
    fx_t *f = fx_new(NULL, 0);
    int32_t t_a = fx_token_id(f, "a"), t_b = fx_token_id(f, "b");
    fx_post(f, "/v1/completions", "{" M "\"prompt\":\"x\",\"logprobs\":2,\"stream\":true,\"stop\":\"b!\"}");
    const int32_t top[2] = {t_a, t_b};
    const float lp[2] = {-0.25f, -2.0f};
    fx_token(f, 0, t_a, "a", -0.25f, 2, top, lp);
    fx_token(f, 0, t_b, "b", -2.0f, 2, top, lp); /* held back: could start "b!" */
    fx_token(f, 0, t_a, "a", -0.25f, 0, NULL, NULL);
    fx_end(f, 0, ENGINE_FINISH_STOP, NULL);
    char id[64];
    fx_id_of(f->sink.stream, id, sizeof id);
    fx_expect(f->sink.stream,
              "data: " HT "\"choices\":[{\"index\":0,\"text\":\"a\",\"logprobs\":{\"tokens\":[\"a\"],"
              "\"token_logprobs\":[-0.25],\"top_logprobs\":[{\"a\":-0.25,\"b\":-2.0}],\"text_offset\":[0]},"
              "\"finish_reason\":null}]}\n\n"
              "data: " HT "\"choices\":[{\"index\":0,\"text\":\"ba\",\"logprobs\":{\"tokens\":[\"b\",\"a\"],"
              "\"token_logprobs\":[-2.0,-0.25],\"top_logprobs\":[{\"a\":-0.25,\"b\":-2.0},{}],\"text_offset\":[1,2]},"
              "\"finish_reason\":null}]}\n\n"
              "data: " HT "\"choices\":[{\"index\":0,\"text\":\"\",\"logprobs\":null,\"finish_reason\":\"stop\"}]}"
              "\n\n"
              "data: [DONE]\n\n",
              id);
    fx_free(f);
}

static void test_engine_error(void **state) {
    fx_t *f = fx_new(NULL, 0);
    fx_post(f, "/v1/completions", "{" M "\"prompt\":\"x\",\"n\":2}");
    fx_token(f, 0, 300, "a", 0, 0, NULL, NULL);
    fx_end(f, 0, ENGINE_FINISH_ERROR, NULL);
    assert_int_equal(f->sink.status, 500);
    assert_non_null(strstr(f->sink.body, "\"type\":\"server_error\""));
    assert_non_null(strstr(f->sink.body, "fake failure"));
    assert_true(fx_was_cancelled(&f->back, f->back.id[1])); /* the other choice is stopped */
    fx_end(f, 1, ENGINE_FINISH_CANCELLED, NULL);
    assert_int_equal(f->sink.n_responds, 1);

    fx_post(f, "/v1/chat/completions", "{" M MSG ",\"stream\":true}");
    fx_token(f, 2, 300, "a", 0, 0, NULL, NULL);
    fx_end(f, 2, ENGINE_FINISH_ERROR, NULL);
    assert_true(f->sink.closed);
    const char *ev = strstr(f->sink.stream, "event: error\ndata: {\"error\":{\"message\":\"Generation failed: fake");
    assert_non_null(ev);
    assert_null(strstr(f->sink.stream, "[DONE]"));
    assert_int_equal(ev[strlen(ev) - 1], '\n');
    fx_free(f);
}

/* The HTTP side lets go (client disconnected): everything is cancelled, the sink is never touched again, and
   the call is freed once the last END arrives. */
static void test_release_cancels(void **state) {
    fx_t *f = fx_new(NULL, 0);
    fx_post(f, "/v1/chat/completions", "{" M MSG ",\"n\":3,\"stream\":true}");
    fx_token(f, 0, 300, "a", 0, 0, NULL, NULL);
    size_t before = f->sink.stream_len;
    api_call_t *call = f->call;
    f->call = NULL;
    api_call_release(call);
    for (int i = 0; i < 3; i++)
        assert_true(fx_was_cancelled(&f->back, f->back.id[i]));
    assert_int_equal(api_live_calls(f->api), 1);
    fx_token(f, 1, 300, "b", 0, 0, NULL, NULL);
    fx_end(f, 0, ENGINE_FINISH_CANCELLED, NULL);
    fx_end(f, 1, ENGINE_FINISH_CANCELLED, NULL);
    assert_int_equal(api_live_calls(f->api), 1);
    fx_end(f, 2, ENGINE_FINISH_STOP, NULL);
    assert_int_equal(api_live_calls(f->api), 0);
    assert_int_equal(f->sink.stream_len, before);
    assert_false(f->sink.closed);
    fx_free(f);
}

/* A full queue at the second submission: 503, the first is cancelled, and the call lives until its END. */
static void test_queue_full(void **state) {
    fx_t *f = fx_new(NULL, 0);
    f->back.fail_at = 1;
    f->back.fail_rc = ERR_FULL;
    fx_post(f, "/v1/chat/completions", "{" M MSG ",\"n\":2,\"stream\":true}");
    assert_null(f->call);
    assert_false(f->sink.opened);
    assert_int_equal(f->sink.status, 503);
    assert_non_null(strstr(f->sink.body, "\"code\":\"server_overloaded\""));
    assert_true(fx_was_cancelled(&f->back, f->back.id[0]));
    assert_int_equal(api_live_calls(f->api), 1);
    fx_end(f, 0, ENGINE_FINISH_CANCELLED, NULL);
    assert_int_equal(api_live_calls(f->api), 0);
    assert_int_equal(f->sink.n_responds, 1);
    /* the engine's context check maps to context_length_exceeded */
    f->back.fail_at = 1;
    f->back.fail_rc = ERR_CONTEXT;
    fx_post(f, "/v1/completions", "{" M "\"prompt\":\"x\"}");
    assert_int_equal(f->sink.status, 400);
    assert_non_null(strstr(f->sink.body, "\"param\":\"prompt\",\"code\":\"context_length_exceeded\""));
    fx_free(f);
}

static void test_shutdown_cancels(void **state) {
    fx_t *f = fx_new(NULL, 0);
    fx_sink_t plain_sink, stream_sink;
    fx_sink_init(&plain_sink);
    fx_sink_init(&stream_sink);
    api_request_t r = {.method = "POST", .path = "/v1/completions", .body = "{" M "\"prompt\":\"x\"}"};
    r.body_len = strlen(r.body);
    api_call_t *plain = NULL, *streamed = NULL;
    api_handle(f->api, &r, &plain_sink.sink, &plain);
    r.body = "{" M "\"prompt\":\"x\",\"stream\":true}";
    r.body_len = strlen(r.body);
    api_handle(f->api, &r, &stream_sink.sink, &streamed);
    assert_non_null(plain);
    assert_non_null(streamed);
    api_shutdown(f->api);
    assert_true(fx_was_cancelled(&f->back, f->back.id[0]));
    assert_true(fx_was_cancelled(&f->back, f->back.id[1]));
    fx_token(f, 1, 300, "late", 0, 0, NULL, NULL); /* ignored */
    fx_end(f, 0, ENGINE_FINISH_CANCELLED, NULL);
    fx_end(f, 1, ENGINE_FINISH_CANCELLED, NULL);
    assert_int_equal(plain_sink.status, 503);
    assert_non_null(strstr(plain_sink.body, "shutting down"));
    assert_true(stream_sink.closed);
    assert_non_null(strstr(stream_sink.stream, "event: error\n"));
    assert_null(strstr(stream_sink.stream, "late"));
    api_call_release(plain);
    api_call_release(streamed);
    assert_int_equal(api_live_calls(f->api), 0);
    fx_sink_free(&plain_sink);
    fx_sink_free(&stream_sink);
    fx_free(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat_nonstream),
        cmocka_unit_test(test_chat_stream),
        cmocka_unit_test(test_text_stream_no_usage),
        cmocka_unit_test(test_stop_nonstream),
        cmocka_unit_test(test_stop_holdback_stream),
        cmocka_unit_test(test_stop_at_end),
        cmocka_unit_test(test_n_choices),
        cmocka_unit_test(test_chat_logprobs),
        cmocka_unit_test(test_text_logprobs_stream),
        cmocka_unit_test(test_engine_error),
        cmocka_unit_test(test_release_cancels),
        cmocka_unit_test(test_queue_full),
        cmocka_unit_test(test_shutdown_cancels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
