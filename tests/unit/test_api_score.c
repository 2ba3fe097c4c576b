/*
 * test_api_score.c — legacy completions that score their prompt (echo + logprobs, as lm-evaluation-harness asks)
 * against the fake backend: the engine request (ENGINE_REQ_SCORE, max_tokens 0 or N, top alternatives), and the
 * exact JSON: the prompt's tokens first with null for the first token's logprob and alternatives, text offsets in
 * the echoed text, then the generated tokens; streaming sends the echoed prompt with its logprobs once scored; and
 * usage.prompt_tokens_details.cached_tokens from the END event's n_cached, in bodies and stream usage chunks.
 */
#include "api_fixture.h"

#define CP "/v1/completions"
#define M  "\"model\":\"stories260K\","

/* Feeds a PROMPT_LP event for prompt position pos (token tok) with one alternative. */
static void sc_lp(fx_t *f, int i, int32_t pos, int32_t tok, float lp, int32_t alt, float alt_lp) {
    const int32_t ids[1] = {alt};
    const float lps[1] = {alt_lp};
    engine_event_t ev = {.type = ENGINE_EV_PROMPT_LP,
                         .id = f->back.id[i],
                         .token = tok,
                         .pos = pos,
                         .logprob = lp,
                         .n_top = 1,
                         .top_ids = ids,
                         .top_logprobs = lps};
    api_event(f->back.req[i].user, &ev);
}

static void sc_end(fx_t *f, int i, engine_finish_t finish, int32_t n_cached) {
    engine_event_t ev = {.type = ENGINE_EV_END,
                         .id = f->back.id[i],
                         .finish = finish,
                         .n_prompt = (int32_t)f->back.req[i].n_prompt,
                         .n_cached = n_cached};
    f->back.ended[i] = true;
    api_event(f->back.req[i].user, &ev);
}

/* "Once upon" is [BOS, ▁Once, ▁upon] on stories260K; returns its ids. */
static void sc_prompt(fx_t *f, int32_t ids[3]) {
    size_t n = 0;
    assert_int_equal(tok_encode(f->tok, "Once upon", 9, TOK_ADD_SPECIAL | TOK_PARSE_SPECIAL, ids, 3, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(ids[1], fx_token_id(f, "\xe2\x96\x81Once"));
    assert_int_equal(ids[2], fx_token_id(f, "\xe2\x96\x81upon"));
}

/* max_tokens 0: the prompt scored, nothing generated; exact body. */
static void test_score_only(void **state) {
    (void)state;
    fx_t *f = fx_new(NULL, 0);
    int32_t ids[3];
    sc_prompt(f, ids);
    int32_t the = fx_token_id(f, "\xe2\x96\x81the");
    fx_post(f, CP, "{" M "\"prompt\":\"Once upon\",\"echo\":true,\"logprobs\":1,\"max_tokens\":0}");
    assert_non_null(f->call);
    assert_int_equal(f->back.req[0].kind, ENGINE_REQ_SCORE);
    assert_int_equal(f->back.req[0].max_tokens, 0);
    assert_true(f->back.req[0].logprobs);
    assert_int_equal(f->back.req[0].n_top_logprobs, 1);
    sc_lp(f, 0, 1, ids[1], -1.5f, ids[1], -1.5f);
    sc_lp(f, 0, 2, ids[2], -0.25f, the, -0.125f);
    sc_end(f, 0, ENGINE_FINISH_LENGTH, 0);
    char id[64];
    fx_id_of(f->sink.body, id, sizeof id);
    fx_expect(f->sink.body,
              "{\"id\":\"$ID\",\"object\":\"text_completion\",\"created\":1700000000,\"model\":\"stories260K\","
              "\"system_fingerprint\":\"fp_test\",\"choices\":[{\"index\":0,\"text\":\"Once upon\",\"logprobs\":{"
              "\"tokens\":[\"\",\" Once\",\" upon\"],\"token_logprobs\":[null,-1.5,-0.25],"
              "\"top_logprobs\":[null,{\" Once\":-1.5},{\" the\":-0.125}],\"text_offset\":[0,0,4]},"
              "\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":0,"
              "\"total_tokens\":3,\"prompt_tokens_details\":{\"cached_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0}}}",
              id);
    fx_free(f);
}

/* max_tokens > 0: the prompt's entries, then the generated ones with offsets after the echoed prompt. */
static void test_score_then_generate(void **state) {
    (void)state;
    fx_t *f = fx_new(NULL, 0);
    int32_t ids[3];
    sc_prompt(f, ids);
    int32_t a = fx_token_id(f, "\xe2\x96\x81" "a"), time = fx_token_id(f, "\xe2\x96\x81time");
    fx_post(f, CP, "{" M "\"prompt\":\"Once upon\",\"echo\":true,\"logprobs\":0,\"max_tokens\":2}");
    assert_int_equal(f->back.req[0].kind, ENGINE_REQ_SCORE);
    assert_int_equal(f->back.req[0].max_tokens, 2);
    sc_lp(f, 0, 1, ids[1], -2.0f, 0, 0);
    sc_lp(f, 0, 2, ids[2], -1.0f, 0, 0);
    fx_token(f, 0, a, " a", -0.5f, 0, NULL, NULL);
    fx_token(f, 0, time, " time", -0.75f, 0, NULL, NULL);
    sc_end(f, 0, ENGINE_FINISH_LENGTH, 0);
    char id[64];
    fx_id_of(f->sink.body, id, sizeof id);
    fx_expect(f->sink.body,
              "{\"id\":\"$ID\",\"object\":\"text_completion\",\"created\":1700000000,\"model\":\"stories260K\","
              "\"system_fingerprint\":\"fp_test\",\"choices\":[{\"index\":0,\"text\":\"Once upon a time\",\"logprobs\":{"
              "\"tokens\":[\"\",\" Once\",\" upon\",\" a\",\" time\"],\"token_logprobs\":[null,-2.0,-1.0,-0.5,-0.75],"
              "\"top_logprobs\":[null,{},{},{},{}],\"text_offset\":[0,0,4,9,11]},"
              "\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,"
              "\"total_tokens\":5,\"prompt_tokens_details\":{\"cached_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0}}}",
              id);
    fx_free(f);
}

/* Token-id prompts are echoed as their decoded text; echo without logprobs and with max_tokens 0 scores too
 * (the echo alone); max_tokens 0 without echo is a 400. */
static void test_score_ids_and_echo_only(void **state) {
    (void)state;
    fx_t *f = fx_new(NULL, 0);
    int32_t ids[3];
    sc_prompt(f, ids);
    char body[256];
    snprintf(body, sizeof body, "{" M "\"prompt\":[%d,%d,%d],\"echo\":true,\"logprobs\":1,\"max_tokens\":0}", ids[0],
             ids[1], ids[2]);
    fx_post(f, CP, body);
    sc_lp(f, 0, 1, ids[1], -1.5f, ids[1], -1.5f);
    sc_lp(f, 0, 2, ids[2], -0.25f, ids[2], -0.25f);
    sc_end(f, 0, ENGINE_FINISH_LENGTH, 0);
    /* the decoded ids keep the tokenizer's leading space: the offsets follow the pieces exactly */
    assert_non_null(strstr(f->sink.body, "\"text\":\" Once upon\""));
    assert_non_null(strstr(f->sink.body, "\"text_offset\":[0,0,5]"));

    fx_post(f, CP, "{" M "\"prompt\":\"Once upon\",\"echo\":true,\"max_tokens\":0}");
    assert_int_equal(f->back.req[1].kind, ENGINE_REQ_SCORE);
    assert_false(f->back.req[1].logprobs);
    sc_end(f, 1, ENGINE_FINISH_LENGTH, 0);
    assert_non_null(strstr(f->sink.body, "\"text\":\"Once upon\",\"logprobs\":null,\"finish_reason\":\"length\""));

    fx_post(f, CP, "{" M "\"prompt\":\"Once upon\",\"logprobs\":1}"); /* no echo: a plain generation */
    assert_int_equal(f->back.req[2].kind, ENGINE_REQ_GENERATE);
    fx_free(f);
}

/* Streaming echo + logprobs: the echoed prompt's chunk carries the prompt's logprobs and comes once they are all
 * in; then the generated tokens; the usage chunk has cached_tokens. */
static void test_score_stream(void **state) {
    (void)state;
    fx_t *f = fx_new(NULL, 0);
    int32_t ids[3];
    sc_prompt(f, ids);
    int32_t a = fx_token_id(f, "\xe2\x96\x81" "a");
    fx_post(f, CP,
            "{" M "\"prompt\":\"Once upon\",\"echo\":true,\"logprobs\":1,\"max_tokens\":1,\"stream\":true,"
            "\"stream_options\":{\"include_usage\":true}}");
    assert_true(f->sink.opened);
    assert_null(f->sink.stream); /* nothing before the prompt is scored */
    sc_lp(f, 0, 1, ids[1], -1.5f, ids[1], -1.5f);
    sc_lp(f, 0, 2, ids[2], -0.25f, ids[2], -0.25f);
    assert_null(f->sink.stream);
    const int32_t top[1] = {a};
    const float top_lp[1] = {-0.5f};
    fx_token(f, 0, a, " a", -0.5f, 1, top, top_lp);
    sc_end(f, 0, ENGINE_FINISH_LENGTH, 16);
    char id[64];
    fx_id_of(f->sink.stream + 6, id, sizeof id);
    const char *head = "{\"id\":\"$ID\",\"object\":\"text_completion\",\"created\":1700000000,\"model\":\"stories260K\","
                       "\"system_fingerprint\":\"fp_test\",";
    char want[4096];
    snprintf(want, sizeof want,
             "data: %s\"choices\":[{\"index\":0,\"text\":\"Once upon\",\"logprobs\":{\"tokens\":[\"\",\" Once\",\" upon\"],"
             "\"token_logprobs\":[null,-1.5,-0.25],\"top_logprobs\":[null,{\" Once\":-1.5},{\" upon\":-0.25}],"
             "\"text_offset\":[0,0,4]},\"finish_reason\":null}],\"usage\":null}\n\n"
             "data: %s\"choices\":[{\"index\":0,\"text\":\" a\",\"logprobs\":{\"tokens\":[\" a\"],"
             "\"token_logprobs\":[-0.5],\"top_logprobs\":[{\" a\":-0.5}],\"text_offset\":[9]},\"finish_reason\":null}],"
             "\"usage\":null}\n\n"
             "data: %s\"choices\":[{\"index\":0,\"text\":\"\",\"logprobs\":null,\"finish_reason\":\"length\"}],"
             "\"usage\":null}\n\n"
             "data: %s\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4,"
             "\"prompt_tokens_details\":{\"cached_tokens\":16},\"completion_tokens_details\":{\"reasoning_tokens\":0}}}\n\n"
             "data: [DONE]\n\n",
             head, head, head, head);
    fx_expect(f->sink.stream, want, id);
    fx_free(f);
}

/* cached_tokens on chat: per prompt the most any choice was served (n = 2 shares one prompt). */
static void test_cached_tokens_chat(void **state) {
    (void)state;
    fx_t *f = fx_new(NULL, 0);
    fx_post(f, "/v1/chat/completions", "{" M "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"n\":2}");
    assert_int_equal(f->back.n, 2);
    fx_token(f, 0, 5, "x", 0, 0, NULL, NULL);
    fx_token(f, 1, 5, "x", 0, 0, NULL, NULL);
    sc_end(f, 0, ENGINE_FINISH_STOP, 16);
    sc_end(f, 1, ENGINE_FINISH_STOP, 0);
    assert_non_null(strstr(f->sink.body, "\"prompt_tokens_details\":{\"cached_tokens\":16},"));
    fx_free(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_score_only),        cmocka_unit_test(test_score_then_generate),
        cmocka_unit_test(test_score_ids_and_echo_only), cmocka_unit_test(test_score_stream),
        cmocka_unit_test(test_cached_tokens_chat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
