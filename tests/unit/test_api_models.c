/*
 * test_api_models.c — api/ serving several models (routing by `model`, per-model context sizes and backends,
 * models attached one at a time), GET /health's load fields, GET /metrics (exact series after known events,
 * cumulative histogram buckets, label escaping, no API key needed), api_observe_http and api_call_info.
 */
#include "api_fixture.h"

#define M_A   "\"model\":\"a\","
#define M_B   "\"model\":\"b\","
#define CHAT  "/v1/chat/completions"
#define MSG   "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"
#define N_MOD 2

/* A fake backend whose stats are fixed numbers. */
typedef struct {
    fx_back_t back;
    engine_stats_t stats;
} mb_back_t;

static void mb__stats(void *self, engine_stats_t *out) { *out = ((mb_back_t *)((fx_back_t *)self))->stats; }

typedef struct {
    gguf_t *g;
    tok_t *tok;
    api_ctx_t *api;
    mb_back_t back[N_MOD];
    fx_sink_t sink;
    api_call_t *call;
} mb_t;

static const int32_t mb_n_ctx[N_MOD] = {128, 64};

static void mb_attach(mb_t *t, size_t i, double load_ms) {
    char err[256];
    t->back[i].back.fail_at = -1;
    api_model_t m = {.index = i,
                     .load_ms = load_ms,
                     .tok = t->tok,
                     .n_ctx = mb_n_ctx[i],
                     .backend = {.submit = fx__submit, .cancel = fx__cancel, .stats = mb__stats, .self = &t->back[i]}};
    assert_int_equal(api_attach(t->api, &m, err, sizeof err), 0);
}

/* Two models "a" and "b" (the second id may be overridden), nothing attached yet. */
static mb_t *mb_new_sources(const char *id_b, const char *const *keys, size_t n_keys, const char *const *sources) {
    mb_t *t = calloc(1, sizeof *t);
    char err[256];
    assert_int_equal(gguf_open(FX_MODEL, &t->g, err, sizeof err), 0);
    assert_int_equal(tok_load(t->g, &t->tok, err, sizeof err), 0);
    const char *ids[N_MOD] = {"a", id_b ? id_b : "b"};
    api_params_t p = {.model_ids = ids,
                      .model_sources = sources,
                      .n_models = N_MOD,
                      .created = 1600000000,
                      .api_keys = keys,
                      .n_api_keys = n_keys,
                      .seed = 7,
                      .fixed_created = FX_CREATED};
    assert_int_equal(api_create(&p, &t->api, err, sizeof err), 0);
    fx_sink_init(&t->sink);
    return t;
}

static mb_t *mb_new(const char *id_b, const char *const *keys, size_t n_keys) {
    return mb_new_sources(id_b, keys, n_keys, NULL);
}

static void mb_request(mb_t *t, const char *method, const char *path, const char *auth, const char *body) {
    fx_sink_free(&t->sink);
    fx_sink_init(&t->sink);
    if (t->call) api_call_release(t->call);
    t->call = NULL;
    api_request_t r = {.method = method,
                       .path = path,
                       .authorization = auth,
                       .body = body ? body : "",
                       .body_len = body ? strlen(body) : 0};
    api_handle(t->api, &r, &t->sink.sink, &t->call);
}

static void mb_token(fx_back_t *b, int i, int32_t tok, const char *text) {
    engine_event_t ev = {.type = ENGINE_EV_TOKEN, .id = b->id[i], .token = tok, .text = text, .text_len = strlen(text)};
    api_event(b->req[i].user, &ev);
}

static void mb_end(fx_back_t *b, int i, engine_finish_t fin) {
    engine_event_t ev = {
        .type = ENGINE_EV_END, .id = b->id[i], .finish = fin, .text = "", .n_prompt = (int32_t)b->req[i].n_prompt};
    b->ended[i] = true;
    api_event(b->req[i].user, &ev);
}

static void mb_free(mb_t *t) {
    if (t->call) api_call_release(t->call);
    for (int k = 0; k < N_MOD; k++)
        for (int i = 0; i < t->back[k].back.n; i++)
            if (!t->back[k].back.ended[i]) mb_end(&t->back[k].back, i, ENGINE_FINISH_CANCELLED);
    assert_int_equal(api_live_calls(t->api), 0);
    api_free(t->api);
    tok_free(t->tok);
    gguf_close(t->g);
    for (int k = 0; k < N_MOD; k++)
        fx_back_free(&t->back[k].back);
    fx_sink_free(&t->sink);
    free(t);
}

static void test_create_and_attach_errors(void **state) {
    char err[256];
    api_ctx_t *api = NULL;
    const char *dup[] = {"x", "y", "x"};
    api_params_t p = {.model_ids = dup, .n_models = 3};
    assert_int_equal(api_create(&p, &api, err, sizeof err), ERR_INVAL);
    assert_non_null(strstr(err, "'x'"));
    const char *empty[] = {"x", ""};
    p.model_ids = empty;
    p.n_models = 2;
    assert_int_equal(api_create(&p, &api, err, sizeof err), ERR_INVAL);
    assert_null(api);

    mb_t *t = mb_new(NULL, NULL, 0);
    api_model_t m = {.index = 2, .tok = t->tok, .n_ctx = 8, .backend = {.submit = fx__submit, .cancel = fx__cancel}};
    assert_int_equal(api_attach(t->api, &m, err, sizeof err), ERR_INVAL); /* no third model */
    mb_attach(t, 1, 0);
    m.index = 1;
    assert_int_equal(api_attach(t->api, &m, err, sizeof err), ERR_INVAL); /* twice */
    mb_free(t);
}

/* Requests reach the backend of the model they name, with that model's context size; models attach one by one. */
static void test_routing(void **state) {
    mb_t *t = mb_new(NULL, NULL, 0);
    mb_request(t, "GET", "/health", NULL, NULL);
    assert_int_equal(t->sink.status, 503);
    mb_request(t, "POST", CHAT, NULL, "{" M_A MSG "}");
    assert_int_equal(t->sink.status, 503); /* nothing loaded */

    mb_attach(t, 0, 0);
    mb_request(t, "GET", "/health", NULL, NULL);
    assert_int_equal(t->sink.status, 503);
    assert_non_null(strstr(t->sink.body, "\"status\":\"loading\""));
    assert_non_null(strstr(t->sink.body, "{\"id\":\"a\",\"status\":\"ok\""));
    assert_non_null(strstr(t->sink.body, "{\"id\":\"b\",\"status\":\"loading\""));
    mb_request(t, "POST", CHAT, NULL, "{" M_B MSG "}");
    assert_int_equal(t->sink.status, 503);
    assert_non_null(strstr(t->sink.body, "The model `b` is still loading"));
    mb_request(t, "POST", CHAT, NULL, "{" M_A MSG "}");
    assert_non_null(t->call);
    assert_int_equal(t->back[0].back.n, 1);

    mb_attach(t, 1, 0);
    mb_request(t, "GET", "/health", NULL, NULL);
    assert_int_equal(t->sink.status, 200);
    mb_request(t, "POST", CHAT, NULL, "{" M_B MSG ",\"max_tokens\":3}");
    assert_non_null(t->call);
    assert_int_equal(t->back[0].back.n, 1);
    assert_int_equal(t->back[1].back.n, 1);
    mb_token(&t->back[1].back, 0, 5, "Hi");
    mb_end(&t->back[1].back, 0, ENGINE_FINISH_STOP);
    assert_int_equal(t->sink.status, 200);
    assert_non_null(strstr(t->sink.body, "\"model\":\"b\""));
    assert_non_null(strstr(t->sink.body, "\"content\":\"Hi\""));

    /* per-model context: b has 64 tokens, a 128 */
    mb_request(t, "POST", "/v1/completions", NULL, "{" M_B "\"prompt\":[1,2,3],\"max_tokens\":62}");
    assert_int_equal(t->sink.status, 400);
    assert_non_null(strstr(t->sink.body, "maximum context length is 64 tokens"));
    mb_request(t, "POST", "/v1/completions", NULL, "{" M_A "\"prompt\":[1,2,3],\"max_tokens\":62}");
    assert_non_null(t->call);
    assert_int_equal(t->back[0].back.n, 2);
    mb_request(t, "POST", "/v1/completions", NULL, "{" M_B "\"prompt\":[1,2,3],\"max_tokens\":61}");
    assert_non_null(t->call);
    assert_int_equal(t->back[1].back.req[1].max_tokens, 61);
    /* chat without max_tokens may use the rest of its model's context */
    mb_request(t, "POST", CHAT, NULL, "{" M_B "\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]}");
    assert_non_null(t->call);
    assert_int_equal(t->back[1].back.req[2].max_tokens, 64 - (int32_t)t->back[1].back.req[2].n_prompt);

    mb_request(t, "POST", CHAT, NULL, "{\"model\":\"c\"," MSG "}");
    assert_int_equal(t->sink.status, 404);
    assert_non_null(strstr(t->sink.body, "\"code\":\"model_not_found\""));

    mb_request(t, "GET", "/v1/models", NULL, NULL);
    assert_string_equal(t->sink.body,
                        "{\"object\":\"list\",\"data\":[{\"id\":\"a\",\"object\":\"model\",\"created\":1600000000,"
                        "\"owned_by\":\"cinder\"},{\"id\":\"b\",\"object\":\"model\",\"created\":1600000000,"
                        "\"owned_by\":\"cinder\"}]}");
    mb_request(t, "GET", "/v1/models/b", NULL, NULL);
    assert_string_equal(t->sink.body,
                        "{\"id\":\"b\",\"object\":\"model\",\"created\":1600000000,\"owned_by\":\"cinder\"}");
    mb_request(t, "GET", "/v1/models/c", NULL, NULL);
    assert_int_equal(t->sink.status, 404);
    mb_free(t);
}

/* A model also answers to the name it was configured by (a path, a Hugging Face reference); ids come first, and a
   name two models share, or that is another model's id, names neither. Responses show the id. */
static void test_sources(void **state) {
    const char *const refs[N_MOD] = {"owner/repo-GGUF:Q8_0", "models/b.gguf"};
    mb_t *t = mb_new_sources(NULL, NULL, 0, refs);
    mb_attach(t, 0, 0);
    mb_attach(t, 1, 0);
    mb_request(t, "POST", CHAT, NULL, "{\"model\":\"owner/repo-GGUF:Q8_0\"," MSG ",\"max_tokens\":3}");
    assert_non_null(t->call);
    assert_int_equal(t->back[0].back.n, 1);
    mb_token(&t->back[0].back, 0, 5, "Hi");
    mb_end(&t->back[0].back, 0, ENGINE_FINISH_STOP);
    assert_int_equal(t->sink.status, 200);
    assert_non_null(strstr(t->sink.body, "\"model\":\"a\""));
    mb_request(t, "POST", "/v1/completions", NULL, "{\"model\":\"models/b.gguf\",\"prompt\":[1],\"max_tokens\":2}");
    assert_non_null(t->call);
    assert_int_equal(t->back[1].back.n, 1);
    mb_request(t, "GET", "/v1/models/owner%2Frepo-GGUF:Q8_0", NULL, NULL);
    assert_string_equal(t->sink.body,
                        "{\"id\":\"a\",\"object\":\"model\",\"created\":1600000000,\"owned_by\":\"cinder\"}");
    mb_request(t, "GET", "/v1/models", NULL, NULL); /* lists ids only */
    assert_null(strstr(t->sink.body, "repo"));
    mb_free(t);

    /* shared name: neither; another model's id: that model */
    const char *const same[N_MOD] = {"x.gguf", "x.gguf"};
    t = mb_new_sources(NULL, NULL, 0, same);
    mb_attach(t, 0, 0);
    mb_attach(t, 1, 0);
    mb_request(t, "POST", CHAT, NULL, "{\"model\":\"x.gguf\"," MSG "}");
    assert_int_equal(t->sink.status, 404);
    mb_free(t);
    const char *const clash[N_MOD] = {"b", NULL};
    t = mb_new_sources(NULL, NULL, 0, clash);
    mb_attach(t, 0, 0);
    mb_attach(t, 1, 0);
    mb_request(t, "POST", CHAT, NULL, "{" M_B MSG "}");
    assert_non_null(t->call);
    assert_int_equal(t->back[0].back.n, 0);
    assert_int_equal(t->back[1].back.n, 1);
    mb_free(t);
}

/* /health sums the backends' stats and lists each model's. */
static void test_health_fields(void **state) {
    mb_t *t = mb_new(NULL, NULL, 0);
    t->back[0].stats = (engine_stats_t){.queued = 1, .running = 2, .kv_blocks_used = 3, .kv_blocks_total = 10};
    t->back[1].stats = (engine_stats_t){.queued = 4, .running = 5, .kv_blocks_used = 6, .kv_blocks_total = 20};
    mb_attach(t, 0, 0);
    mb_attach(t, 1, 0);
    mb_request(t, "GET", "/health", NULL, NULL);
    assert_int_equal(t->sink.status, 200);
    assert_string_equal(t->sink.body,
                        "{\"status\":\"ok\",\"queued\":5,\"running\":7,\"kv_blocks_used\":9,\"kv_blocks_total\":30,"
                        "\"models\":[{\"id\":\"a\",\"status\":\"ok\",\"queued\":1,\"running\":2,\"kv_blocks_used\":3,"
                        "\"kv_blocks_total\":10},{\"id\":\"b\",\"status\":\"ok\",\"queued\":4,\"running\":5,"
                        "\"kv_blocks_used\":6,\"kv_blocks_total\":20}]}");
    api_shutdown(t->api);
    mb_request(t, "GET", "/health", NULL, NULL);
    assert_string_equal(t->sink.body, "{\"status\":\"shutting_down\"}");
    mb_free(t);
}

/* The value of the sample whose line starts with `series ` in a Prometheus text, or -1 when absent. */
static double mb_sample(const char *text, const char *series) {
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, series, n) && p[n] == ' ') return strtod(p + n + 1, NULL);
    return -1;
}

/* Checks that a histogram's buckets never decrease and that +Inf equals _count. */
static void mb_check_hist(const char *text, const char *name, const char *labels) {
    char prefix[256], count[256];
    snprintf(prefix, sizeof prefix, "%s_bucket{%s,le=\"", name, labels);
    snprintf(count, sizeof count, "%s_count{%s}", name, labels);
    double last = 0, inf = -1;
    int n = 0;
    for (const char *p = strstr(text, prefix); p; p = strstr(p + 1, prefix)) {
        const char *v = strchr(p, ' ');
        double x = strtod(v + 1, NULL);
        assert_true(x >= last);
        last = x;
        n++;
        if (!strncmp(p + strlen(prefix), "+Inf", 4)) inf = x;
    }
    assert_true(n > 2);
    assert_true(inf >= 0);
    assert_true(inf == mb_sample(text, count));
}

static void test_metrics(void **state) {
    const char *keys[] = {"sk-x"};
    mb_t *t = mb_new("we\"ird\\id", keys, 1);
    t->back[0].stats = (engine_stats_t){.queued = 2,
                                        .running = 3,
                                        .kv_blocks_used = 5,
                                        .kv_blocks_cached = 7,
                                        .kv_blocks_total = 40,
                                        .prefix_hit_tokens = 30,
                                        .prefix_lookup_tokens = 120,
                                        .n_preempted = 1};
    mb_attach(t, 0, 300);
    const char *auth = "Bearer sk-x";

    /* two choices: one generates three tokens and stops, the other hits a stop string after one */
    mb_request(t, "POST", CHAT, auth, "{" M_A MSG ",\"n\":2,\"stop\":[\"!\"]}");
    assert_non_null(t->call);
    api_call_info_t info;
    api_call_info(t->call, &info);
    assert_string_equal(info.model, "a");
    assert_true(info.prompt_tokens > 0);
    assert_int_equal(info.completion_tokens, 0);
    assert_true(info.ttft_ms == -1);
    fx_back_t *b = &t->back[0].back;
    mb_token(b, 0, 10, "x");
    mb_token(b, 0, 11, "y");
    mb_token(b, 0, 12, "z");
    mb_token(b, 1, 13, "w!");
    api_call_info(t->call, &info);
    assert_int_equal(info.completion_tokens, 4);
    assert_true(info.ttft_ms >= 0);
    int32_t n_prompt = (int32_t)b->req[0].n_prompt;
    mb_end(b, 0, ENGINE_FINISH_STOP);
    mb_end(b, 1, ENGINE_FINISH_CANCELLED); /* the api cancelled it at the stop string */
    assert_int_equal(t->sink.status, 200);
    api_observe_http(t->api, CHAT, 200, 12.0);
    api_observe_http(t->api, CHAT, 200, 2000.0);
    api_observe_http(t->api, "/nope", 404, 1.0);
    api_observe_http(t->api, "/v1/models/a", 200, 1.0);

    mb_request(t, "GET", "/metrics", NULL, NULL); /* no key needed */
    assert_int_equal(t->sink.status, 200);
    assert_string_equal(t->sink.hdr_name[0], "Content-Type");
    assert_string_equal(t->sink.hdr_value[0], "text/plain; version=0.0.4; charset=utf-8");
    const char *m = t->sink.body;
    assert_true(mb_sample(m, "cinder_http_requests_total{endpoint=\"/v1/chat/completions\",status=\"200\"}") == 2);
    assert_true(mb_sample(m, "cinder_http_requests_total{endpoint=\"other\",status=\"404\"}") == 1);
    assert_true(mb_sample(m, "cinder_http_requests_total{endpoint=\"/v1/models/{id}\",status=\"200\"}") == 1);
    assert_true(mb_sample(m, "cinder_http_request_duration_seconds_count{endpoint=\"/v1/chat/completions\"}") == 2);
    assert_true(mb_sample(m, "cinder_http_request_duration_seconds_bucket{endpoint=\"/v1/chat/completions\","
                             "le=\"0.025\"}") == 1);
    assert_true(mb_sample(m, "cinder_http_request_duration_seconds_sum{endpoint=\"/v1/chat/completions\"}") == 2.012);
    mb_check_hist(m, "cinder_http_request_duration_seconds", "endpoint=\"/v1/chat/completions\"");
    assert_true(mb_sample(m, "cinder_model_loaded{model=\"a\"}") == 1);
    assert_true(mb_sample(m, "cinder_model_loaded{model=\"we\\\"ird\\\\id\"}") == 0); /* escaped label */
    assert_true(mb_sample(m, "cinder_model_load_seconds{model=\"a\"}") == 0.3);
    /* values in the fewest digits that read back exactly (%.17g would print 0.29999999999999999) */
    assert_non_null(strstr(m, "\ncinder_model_load_seconds{model=\"a\"} 0.3\n"));
    assert_true(mb_sample(m, "cinder_prompt_tokens_total{model=\"a\"}") == 2 * n_prompt);
    assert_true(mb_sample(m, "cinder_generation_tokens_total{model=\"a\"}") == 4);
    assert_true(mb_sample(m, "cinder_generations_total{model=\"a\",finish_reason=\"stop\"}") == 2);
    assert_true(mb_sample(m, "cinder_generations_total{model=\"a\",finish_reason=\"cancelled\"}") == 0);
    assert_true(mb_sample(m, "cinder_time_to_first_token_seconds_count{model=\"a\"}") == 2);
    assert_true(mb_sample(m, "cinder_time_per_output_token_seconds_count{model=\"a\"}") == 1);
    mb_check_hist(m, "cinder_time_to_first_token_seconds", "model=\"a\"");
    mb_check_hist(m, "cinder_time_per_output_token_seconds", "model=\"a\"");
    assert_true(mb_sample(m, "cinder_queue_length{model=\"a\"}") == 2);
    assert_true(mb_sample(m, "cinder_running_sequences{model=\"a\"}") == 3);
    assert_true(mb_sample(m, "cinder_kv_blocks_used{model=\"a\"}") == 5);
    assert_true(mb_sample(m, "cinder_kv_blocks_cached{model=\"a\"}") == 7);
    assert_true(mb_sample(m, "cinder_kv_blocks_capacity{model=\"a\"}") == 40);
    assert_true(mb_sample(m, "cinder_prefix_cache_hit_ratio{model=\"a\"}") == 0.25);
    assert_true(mb_sample(m, "cinder_prefix_cache_hit_tokens_total{model=\"a\"}") == 30);
    assert_true(mb_sample(m, "cinder_preemptions_total{model=\"a\"}") == 1);
    /* a model still loading has no engine gauges */
    assert_true(mb_sample(m, "cinder_queue_length{model=\"we\\\"ird\\\\id\"}") == -1);
    /* every family is announced */
    assert_non_null(strstr(m, "# TYPE cinder_time_to_first_token_seconds histogram\n"));
    assert_non_null(strstr(m, "# TYPE cinder_http_requests_total counter\n"));
    assert_non_null(strstr(m, "# TYPE cinder_kv_blocks_used gauge\n"));

    mb_request(t, "POST", "/metrics", NULL, "{}");
    assert_int_equal(t->sink.status, 405);
    mb_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_and_attach_errors),
        cmocka_unit_test(test_routing),
        cmocka_unit_test(test_sources),
        cmocka_unit_test(test_health_fields),
        cmocka_unit_test(test_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
