/*
 * test_api_embeddings.c — POST /v1/embeddings against the fake backend: every input form becomes the right
 * engine requests (ENGINE_REQ_EMBED, one per input, all submitted at once), the response is OpenAI's exact JSON
 * with float or base64 (little-endian float32) vectors, `dimensions` shortens and renormalises, inputs beyond the
 * engine's queue follow as earlier ones end, and every bad request gets its 400 (empty inputs, ids outside the
 * vocabulary, too many inputs, too long an input, a chat model asked for embeddings and the reverse).
 */
#include "api_fixture.h"

#include <math.h>

#define EP "/v1/embeddings"
#define M  "\"model\":\"stories260K\","

/* Feeds the EMBEDDING event (v, n values) and the END of submission i. */
static void emb_answer(fx_t *f, int i, const float *v, int32_t n) {
    engine_event_t ev = {.type = ENGINE_EV_EMBEDDING, .id = f->back.id[i], .embedding = v, .n_embedding = n};
    api_event(f->back.req[i].user, &ev);
    engine_event_t end = {.type = ENGINE_EV_END,
                          .id = f->back.id[i],
                          .finish = ENGINE_FINISH_STOP,
                          .n_prompt = (int32_t)f->back.req[i].n_prompt};
    f->back.ended[i] = true;
    api_event(f->back.req[i].user, &end);
}

static fx_t *emb_fixture(void) {
    fx_embedding = true;
    fx_t *f = fx_new(NULL, 0);
    fx_embedding = false;
    return f;
}

/* The ids tokenize gives for text, as the api tokenizes inputs (BOS as the model asks, special texts parsed). */
static size_t emb_ids(const fx_t *f, const char *text, int32_t *ids, size_t cap) {
    size_t n = 0;
    assert_int_equal(tok_encode(f->tok, text, strlen(text), TOK_ADD_SPECIAL | TOK_PARSE_SPECIAL, ids, cap, &n), 0);
    return n;
}

static void expect_request(const fx_t *f, int i, const int32_t *ids, size_t n) {
    assert_int_equal(f->back.req[i].kind, ENGINE_REQ_EMBED);
    assert_int_equal(f->back.req[i].max_tokens, 0);
    assert_int_equal(f->back.req[i].n_prompt, n);
    assert_memory_equal(f->back.prompt[i], ids, n * sizeof *ids);
}

/* Each of the four input forms: the engine requests, and the exact float response with usage. */
static void test_input_forms(void **state) {
    (void)state;
    fx_t *f = emb_fixture();
    const float v[4] = {0.5f, -0.5f, 0.5f, 0.5f};
    int32_t ids[64];

    fx_post(f, EP, "{" M "\"input\":\"Once upon a time\"}");
    assert_non_null(f->call);
    assert_int_equal(f->back.n, 1);
    size_t n = emb_ids(f, "Once upon a time", ids, 64);
    expect_request(f, 0, ids, n);
    emb_answer(f, 0, v, 4);
    char want[1024];
    snprintf(want, sizeof want,
             "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,\"embedding\":[0.5,-0.5,0.5,0.5]}],"
             "\"model\":\"stories260K\",\"usage\":{\"prompt_tokens\":%zu,\"total_tokens\":%zu}}",
             n, n);
    assert_int_equal(f->sink.status, 200);
    fx_expect(f->sink.body, want, "");

    fx_post(f, EP, "{" M "\"input\":[\"The cat\",\"A dog\",\"Mom said\"],\"user\":\"u1\"}");
    assert_int_equal(f->back.n, 4); /* all three submitted at once */
    size_t total = 0;
    const char *texts[3] = {"The cat", "A dog", "Mom said"};
    for (int i = 0; i < 3; i++) {
        size_t k = emb_ids(f, texts[i], ids, 64);
        expect_request(f, 1 + i, ids, k);
        total += k;
    }
    for (int i = 3; i >= 1; i--) /* answers in any order; data keeps the inputs' order */
        emb_answer(f, i, v, 4);
    cJSON *j = cJSON_Parse(f->sink.body);
    const cJSON *data = cJSON_GetObjectItem(j, "data");
    assert_int_equal(cJSON_GetArraySize(data), 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(data, i), "index")->valueint, i);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "usage"), "prompt_tokens")->valueint, (int)total);
    cJSON_Delete(j);

    fx_post(f, EP, "{" M "\"input\":[5,6,7]}"); /* one input of ids, used as given */
    assert_int_equal(f->back.n, 5);
    expect_request(f, 4, (const int32_t[]){5, 6, 7}, 3);
    emb_answer(f, 4, v, 4);
    assert_int_equal(f->sink.status, 200);
    assert_non_null(strstr(f->sink.body, "\"usage\":{\"prompt_tokens\":3,\"total_tokens\":3}"));

    fx_post(f, EP, "{" M "\"input\":[[1,2],[3]]}");
    assert_int_equal(f->back.n, 7);
    expect_request(f, 5, (const int32_t[]){1, 2}, 2);
    expect_request(f, 6, (const int32_t[]){3}, 1);
    emb_answer(f, 5, v, 4);
    assert_null(f->sink.body); /* not before every input is in */
    emb_answer(f, 6, v, 4);
    assert_non_null(strstr(f->sink.body, "\"usage\":{\"prompt_tokens\":3,\"total_tokens\":3}"));
    fx_free(f);
}

/* encoding_format base64: the little-endian float32 bytes, exactly; dimensions: the first N values renormalised. */
static void test_base64_and_dimensions(void **state) {
    (void)state;
    fx_t *f = emb_fixture();
    const float v[4] = {1.0f, -2.0f, 0.5f, 0.25f};
    fx_post(f, EP, "{" M "\"input\":[[1]],\"encoding_format\":\"base64\"}");
    emb_answer(f, 0, v, 4);
    fx_expect(f->sink.body,
              "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,\"embedding\":\"AACAPwAAAMAAAAA/AACAPg==\"}],"
              "\"model\":\"stories260K\",\"usage\":{\"prompt_tokens\":1,\"total_tokens\":1}}",
              "");
    char b64[64];
    size_t k = api__base64_f32(v, 3, b64); /* 12 bytes: no padding */
    assert_int_equal(k, 16);
    assert_memory_equal(b64, "AACAPwAAAMAAAAA/", 16);

    const float u[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    fx_post(f, EP, "{" M "\"input\":[[1]],\"dimensions\":2}");
    emb_answer(f, 1, u, 4);
    assert_non_null(strstr(f->sink.body, "\"embedding\":[0.707106769,0.707106769]"));
    fx_post(f, EP, "{" M "\"input\":[[1]],\"dimensions\":2,\"encoding_format\":\"base64\"}");
    emb_answer(f, 2, u, 4);
    assert_non_null(strstr(f->sink.body, "\"embedding\":\"8wQ1P/MENT8=\""));
    fx_post(f, EP, "{" M "\"input\":[[1]],\"dimensions\":4,\"encoding_format\":\"float\"}");
    emb_answer(f, 3, u, 4);
    assert_non_null(strstr(f->sink.body, "\"embedding\":[0.5,0.5,0.5,0.5]"));
    fx_free(f);
}

typedef struct {
    const char *path, *body;
    int status;
    const char *code, *param;
} emb_bad_t;

/* Every bad request: status, code and param, and nothing submitted. */
static void test_errors(void **state) {
    (void)state;
    char many[40000], longtext[4000];
    size_t k = (size_t)snprintf(many, sizeof many, "{" M "\"input\":[");
    for (int i = 0; i < 2049; i++)
        k += (size_t)snprintf(many + k, sizeof many - k, "%s\"a\"", i ? "," : "");
    snprintf(many + k, sizeof many - k, "]}");
    k = (size_t)snprintf(longtext, sizeof longtext, "{" M "\"input\":[\"ok\",\"");
    for (int i = 0; i < 200; i++)
        k += (size_t)snprintf(longtext + k, sizeof longtext - k, "the cat sat ");
    snprintf(longtext + k, sizeof longtext - k, "\"]}");
    const emb_bad_t cases[] = {
        {EP, "{" M "\"input\":\"\"}", 400, NULL, NULL},
        {EP, "{" M "\"input\":[\"a\",\"\"]}", 400, NULL, NULL},
        {EP, "{" M "\"input\":[]}", 400, NULL, NULL},
        {EP, "{" M "\"input\":[[1],[]]}", 400, NULL, NULL},
        {EP, "{\"model\":\"stories260K\"}", 400, "missing_required_parameter", "input"},
        {EP, "{\"input\":\"a\"}", 400, "missing_required_parameter", "model"},
        {EP, "{" M "\"input\":42}", 400, "invalid_type", "input"},
        {EP, "{" M "\"input\":[\"a\",1]}", 400, "invalid_type", "input[1]"},
        {EP, "{" M "\"input\":[[1],\"a\"]}", 400, "invalid_type", "input[1]"},
        {EP, "{" M "\"input\":[1,512]}", 400, "invalid_value", "input"},
        {EP, "{" M "\"input\":[[1],[-1]]}", 400, "invalid_value", "input[1]"},
        {EP, "{" M "\"input\":[1.5]}", 400, "invalid_value", "input"},
        {EP, many, 400, "invalid_value", "input"},
        {EP, longtext, 400, "context_length_exceeded", "input[1]"},
        {EP, "{" M "\"input\":\"a\",\"encoding_format\":\"hex\"}", 400, "invalid_value", "encoding_format"},
        {EP, "{" M "\"input\":\"a\",\"dimensions\":5}", 400, "invalid_value", "dimensions"},
        {EP, "{" M "\"input\":\"a\",\"dimensions\":0}", 400, "integer_below_min_value", "dimensions"},
        {EP, "{" M "\"input\":\"a\",\"user\":1}", 400, "invalid_type", "user"},
        {EP, "{\"model\":\"nope\",\"input\":\"a\"}", 404, "model_not_found", NULL},
        {"/v1/chat/completions", "{" M "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", 400, "invalid_value",
         "model"},
        {"/v1/completions", "{" M "\"prompt\":\"hi\"}", 400, "invalid_value", "model"},
    };
    fx_t *f = emb_fixture();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const emb_bad_t *c = &cases[i];
        fx_post(f, c->path, c->body);
        cJSON *j = f->sink.body ? cJSON_Parse(f->sink.body) : NULL;
        const cJSON *e = cJSON_GetObjectItem(j, "error");
        const cJSON *code = cJSON_GetObjectItem(e, "code"), *param = cJSON_GetObjectItem(e, "param");
        const cJSON *msg = cJSON_GetObjectItem(e, "message");
        bool ok = f->sink.status == c->status && f->call == NULL && f->back.n == 0 && cJSON_IsString(msg) &&
                  (c->code ? cJSON_IsString(code) && !strcmp(code->valuestring, c->code) : cJSON_IsNull(code)) &&
                  (c->param ? cJSON_IsString(param) && !strcmp(param->valuestring, c->param) : cJSON_IsNull(param));
        if (!ok) fail_msg("case %zu: want %d %s %s, got %d %.300s", i, c->status, c->code ? c->code : "null",
                          c->param ? c->param : "null", f->sink.status, f->sink.body ? f->sink.body : "(none)");
        if (i < 4) assert_non_null(strstr(msg->valuestring, "'$.input' is invalid"));
        cJSON_Delete(j);
    }
    fx_request(f, "GET", EP, NULL, NULL);
    assert_int_equal(f->sink.status, 405);
    fx_free(f);

    f = fx_new(NULL, 0); /* a generative model */
    fx_post(f, EP, "{" M "\"input\":\"a\"}");
    assert_int_equal(f->sink.status, 400);
    assert_non_null(strstr(f->sink.body, "\"param\":\"model\""));
    assert_non_null(strstr(f->sink.body, "does not support embeddings"));
    assert_int_equal(f->back.n, 0);
    fx_free(f);
}

/* Inputs the engine's queue refuses wait and go in as earlier ones end; when nothing of the call runs and the
 * queue still refuses, the call fails with 500. An engine error fails the call. */
static void test_queue_full_and_failures(void **state) {
    (void)state;
    fx_t *f = emb_fixture();
    const float v[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    f->back.fail_at = 2;
    f->back.fail_rc = ERR_FULL;
    fx_post(f, EP, "{" M "\"input\":[[1],[2],[3],[4]]}");
    assert_non_null(f->call);
    assert_int_equal(f->back.n, 2);
    f->back.fail_at = -1; /* room again */
    emb_answer(f, 0, v, 4);
    assert_int_equal(f->back.n, 4); /* both waiting inputs went in */
    expect_request(f, 2, (const int32_t[]){3}, 1);
    expect_request(f, 3, (const int32_t[]){4}, 1);
    for (int i = 1; i < 4; i++)
        emb_answer(f, i, v, 4);
    assert_int_equal(f->sink.status, 200);
    cJSON *j = cJSON_Parse(f->sink.body);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "data")), 4);
    cJSON_Delete(j);

    f->back.fail_at = f->back.n; /* nothing fits at all: 503 at once */
    fx_post(f, EP, "{" M "\"input\":[[1],[2]]}");
    assert_null(f->call);
    assert_int_equal(f->sink.status, 503);
    f->back.fail_at = -1;

    int base = f->back.n;
    fx_post(f, EP, "{" M "\"input\":[[1],[2]]}");
    engine_event_t end = {.type = ENGINE_EV_END, .id = f->back.id[base], .finish = ENGINE_FINISH_ERROR,
                          .err = ERR_NOMEM, .err_msg = "fake failure"};
    f->back.ended[base] = true;
    api_event(f->back.req[base].user, &end);
    assert_int_equal(f->sink.status, 500);
    assert_true(fx_was_cancelled(&f->back, f->back.id[base + 1]));
    fx_free(f);
}

/* /v1/models lists embedding models like the others; /metrics counts the endpoint under its own label. */
static void test_models_and_metrics(void **state) {
    (void)state;
    fx_t *f = emb_fixture();
    fx_request(f, "GET", "/v1/models", NULL, NULL);
    assert_int_equal(f->sink.status, 200);
    assert_non_null(strstr(f->sink.body, "\"id\":\"stories260K\""));
    api_observe_http(f->api, EP, 200, 12.0);
    fx_request(f, "GET", "/metrics", NULL, NULL);
    assert_non_null(strstr(f->sink.body, "endpoint=\"/v1/embeddings\",status=\"200\"} 1"));
    fx_free(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_input_forms),
        cmocka_unit_test(test_base64_and_dimensions),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_queue_full_and_failures),
        cmocka_unit_test(test_models_and_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
