/*
 * test_api.c — api/ without sockets: routes, /health, /v1/models, authentication, every validation error with
 * its status, code and param, and how a valid request maps onto engine requests (fake backend) and prompts
 * (the stories260K tokenizer).
 */
#include "api_fixture.h"

static void test_health_and_lifecycle(void **state) {
    char err[256];
    api_ctx_t *api = NULL;
    api_params_t p = {.model_id = "m", .seed = 1};
    assert_int_equal(api_create(&p, &api, err, sizeof err), 0);
    fx_sink_t k;
    fx_sink_init(&k);
    api_call_t *call = NULL;
    api_request_t r = {.method = "GET", .path = "/health"};
    api_handle(api, &r, &k.sink, &call);
    assert_int_equal(k.status, 503);
    assert_string_equal(k.body, "{\"status\":\"loading\",\"queued\":0,\"running\":0,\"kv_blocks_used\":0,"
                                "\"kv_blocks_total\":0,\"models\":[{\"id\":\"m\",\"status\":\"loading\",\"queued\":0,"
                                "\"running\":0,\"kv_blocks_used\":0,\"kv_blocks_total\":0}]}");
    r.path = "/v1/chat/completions";
    r.method = "POST";
    r.body = "{}";
    r.body_len = 2;
    api_handle(api, &r, &k.sink, &call);
    assert_int_equal(k.status, 503);
    assert_null(call);
    fx_sink_free(&k);
    api_free(api);

    fx_t *f = fx_new(NULL, 0);
    fx_request(f, "GET", "/health", NULL, NULL);
    assert_int_equal(f->sink.status, 200);
    assert_string_equal(f->sink.body, "{\"status\":\"ok\",\"queued\":0,\"running\":0,\"kv_blocks_used\":0,"
                                      "\"kv_blocks_total\":0,\"models\":[{\"id\":\"stories260K\",\"status\":\"ok\","
                                      "\"queued\":0,\"running\":0,\"kv_blocks_used\":0,\"kv_blocks_total\":0}]}");
    fx_request(f, "HEAD", "/health", NULL, NULL);
    assert_int_equal(f->sink.status, 200);
    api_shutdown(f->api);
    fx_request(f, "GET", "/health", NULL, NULL);
    assert_int_equal(f->sink.status, 503);
    assert_string_equal(f->sink.body, "{\"status\":\"shutting_down\"}");
    fx_post(f, "/v1/completions", "{\"model\":\"stories260K\",\"prompt\":\"x\"}");
    assert_int_equal(f->sink.status, 503);
    assert_int_equal(f->back.n, 0);
    fx_free(f);
}

static void test_models(void **state) {
    fx_t *f = fx_new(NULL, 0);
    fx_request(f, "GET", "/v1/models", NULL, NULL);
    assert_int_equal(f->sink.status, 200);
    assert_string_equal(f->sink.body, "{\"object\":\"list\",\"data\":[{\"id\":\"stories260K\",\"object\":\"model\","
                                      "\"created\":1600000000,\"owned_by\":\"cinder\"}]}");
    fx_request(f, "GET", "/v1/models/stories260K", NULL, NULL);
    assert_int_equal(f->sink.status, 200);
    assert_string_equal(f->sink.body,
                        "{\"id\":\"stories260K\",\"object\":\"model\",\"created\":1600000000,\"owned_by\":\"cinder\"}");
    fx_request(f, "GET", "/v1/models/stories%32%360K", NULL, NULL); /* percent-encoded */
    assert_int_equal(f->sink.status, 200);
    fx_request(f, "GET", "/v1/models/gpt-4o", NULL, NULL);
    assert_int_equal(f->sink.status, 404);
    assert_string_equal(f->sink.body, "{\"error\":{\"message\":\"The model 'gpt-4o' does not exist\",\"type\":"
                                      "\"invalid_request_error\",\"param\":\"model\",\"code\":\"model_not_found\"}}");
    fx_free(f);
}

static void test_routes(void **state) {
    fx_t *f = fx_new(NULL, 0);
    fx_request(f, "GET", "/v1/nope", NULL, NULL);
    assert_int_equal(f->sink.status, 404);
    assert_string_equal(f->sink.body, "{\"error\":{\"message\":\"Invalid URL (GET /v1/nope)\",\"type\":"
                                      "\"invalid_request_error\",\"param\":null,\"code\":null}}");
    fx_request(f, "GET", "/v1/nope/\xff", NULL, NULL); /* bytes from the URL never make invalid JSON */
    assert_int_equal(f->sink.status, 404);
    assert_non_null(strstr(f->sink.body, "/v1/nope/?"));
    fx_request(f, "GET", "/v1/chat/completions", NULL, NULL);
    assert_int_equal(f->sink.status, 405);
    assert_int_equal(f->sink.n_hdrs, 1);
    assert_string_equal(f->sink.hdr_name[0], "Allow");
    assert_string_equal(f->sink.hdr_value[0], "POST");
    assert_string_equal(f->sink.body,
                        "{\"error\":{\"message\":\"Invalid method for URL (GET /v1/chat/completions); allowed: "
                        "POST.\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":null}}");
    fx_request(f, "DELETE", "/v1/models", NULL, NULL);
    assert_int_equal(f->sink.status, 405);
    assert_string_equal(f->sink.hdr_value[0], "GET, HEAD");
    fx_request(f, "POST", "/health", NULL, "{}");
    assert_int_equal(f->sink.status, 405);
    fx_free(f);
}

/* api_check_headers: what is decided before the body (route, method, key, declared size); the rest goes on. */
static void test_check_headers(void **state) {
    const char *keys[] = {"sk-one"};
    char err[256];
    api_ctx_t *api = NULL;
    api_params_t p = {
        .model_id = "m", .api_keys = keys, .n_api_keys = 1, .max_body_bytes = 1000, .metrics_api_key = "sk-metrics"};
    assert_int_equal(api_create(&p, &api, err, sizeof err), 0);
    struct {
        const char *method, *path, *auth;
        int64_t content_length;
        int status; /* 0: not answered */
    } cases[] = {
        {"POST", "/v1/chat/completions", NULL, 5000000, 401},
        {"POST", "/v1/chat/completions", "Bearer nope", 10, 401},
        {"POST", "/v1/chat/completions", "Bearer sk-one", 1001, 413},
        {"POST", "/v1/chat/completions", "Bearer sk-one", 1000, 0},
        {"POST", "/v1/completions", "Bearer sk-one", -1, 0},
        {"POST", "/v1/nope", "Bearer sk-one", 10, 404},
        {"POST", "/v1/nope", NULL, 10, 404},
        {"GET", "/v1/chat/completions", "Bearer sk-one", -1, 405},
        {"PUT", "/v1/models", "Bearer sk-one", 10, 405},
        {"GET", "/v1/models", NULL, -1, 401},
        {"GET", "/v1/models/m", "Bearer sk-one", -1, 0},
        {"GET", "/health", NULL, -1, 0},
        {"GET", "/metrics", NULL, -1, 401},
        {"GET", "/metrics", "Bearer sk-one", -1, 401}, /* only the metrics key opens /metrics */
        {"GET", "/metrics", "Bearer sk-metrics", -1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fx_sink_t k;
        fx_sink_init(&k);
        api_request_t r = {.method = cases[i].method, .path = cases[i].path, .authorization = cases[i].auth};
        bool answered = api_check_headers(api, &r, cases[i].content_length, &k.sink);
        if (answered != (cases[i].status != 0) || k.status != cases[i].status)
            fail_msg("case %zu (%s %s): answered %d status %d", i, cases[i].method, cases[i].path, answered, k.status);
        if (cases[i].status == 413) assert_non_null(strstr(k.body, "\"code\":\"request_too_large\""));
        fx_sink_free(&k);
    }
    api_free(api);
}

static void test_auth(void **state) {
    const char *keys[] = {"sk-one", "sk-two"};
    fx_t *f = fx_new(keys, 2);
    fx_request(f, "GET", "/v1/models", NULL, NULL);
    assert_int_equal(f->sink.status, 401);
    assert_non_null(strstr(f->sink.body, "\"code\":\"invalid_api_key\""));
    assert_non_null(strstr(f->sink.body, "\"type\":\"invalid_request_error\""));
    assert_string_equal(f->sink.hdr_name[0], "WWW-Authenticate");
    const char *wrong[] = {"Bearer sk-on", "Bearer sk-one2", "Bearer ", "Basic sk-one", "sk-one", "Bearer SK-ONE"};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        fx_request(f, "GET", "/v1/models", wrong[i], NULL);
        assert_int_equal(f->sink.status, 401);
        assert_string_equal(f->sink.body, "{\"error\":{\"message\":\"Incorrect API key provided.\",\"type\":"
                                          "\"invalid_request_error\",\"param\":null,\"code\":\"invalid_api_key\"}}");
    }
    const char *right[] = {"Bearer sk-one", "Bearer sk-two", "bearer sk-two", "Bearer  sk-one "};
    for (size_t i = 0; i < sizeof right / sizeof right[0]; i++) {
        fx_request(f, "GET", "/v1/models", right[i], NULL);
        assert_int_equal(f->sink.status, 200);
    }
    fx_request(f, "GET", "/health", NULL, NULL); /* never needs a key */
    assert_int_equal(f->sink.status, 200);
    fx_request(f, "POST", "/v1/completions", "Bearer nope", "{\"model\":\"stories260K\",\"prompt\":\"a\"}");
    assert_int_equal(f->sink.status, 401);
    assert_int_equal(f->back.n, 0);
    fx_request(f, "POST", "/v1/completions", "Bearer sk-two", "{\"model\":\"stories260K\",\"prompt\":\"a\"}");
    assert_int_equal(f->sink.n_responds, 0);
    assert_int_equal(f->back.n, 1);
    fx_free(f);
}

typedef struct {
    const char *path; /* NULL: chat */
    const char *body;
    int status;
    const char *code;  /* NULL: null */
    const char *param; /* NULL: null */
} bad_case_t;

#define CH  NULL
#define CP  "/v1/completions"
#define M   "\"model\":\"stories260K\","
#define MSG "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"

static const bad_case_t bad_cases[] = {
    {CH, "{", 400, NULL, NULL},
    {CH, "", 400, NULL, NULL},
    {CH, "[]", 400, "invalid_type", "body"},
    {CH, "{\"a\":1,\"a\":1}", 400, NULL, NULL},
    {CH, "{" MSG "}", 400, "missing_required_parameter", "model"},
    {CH, "{\"model\":5," MSG "}", 400, "invalid_type", "model"},
    {CH, "{\"model\":\"gpt-4o\"," MSG "}", 404, "model_not_found", NULL},
    {CH, "{" M "\"x\":1}", 400, "missing_required_parameter", "messages"},
    {CH, "{" M "\"messages\":\"hi\"}", 400, "invalid_type", "messages"},
    {CH, "{" M "\"messages\":[]}", 400, "empty_array", "messages"},
    {CH, "{" M "\"messages\":[5]}", 400, "invalid_type", "messages[0]"},
    {CH, "{" M "\"messages\":[{\"content\":\"x\"}]}", 400, "missing_required_parameter", "messages[0].role"},
    {CH, "{" M "\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}", 400, "invalid_value", "messages[0].role"},
    {CH, "{" M "\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"user\",\"content\":5}]}", 400,
     "invalid_type", "messages[1].content"},
    {CH, "{" M "\"messages\":[{\"role\":\"user\"}]}", 400, "missing_required_parameter", "messages[0].content"},
    {CH, "{" M "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{}}]}]}", 400,
     "unsupported_value", "messages[0].content[0].type"},
    {CH, "{" M "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]}", 400,
     "missing_required_parameter", "messages[0].content[0].text"},
    {CH, "{" M "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":1}]}]}", 400, "invalid_type",
     "messages[0].content[0].text"},
    {CH, "{" M "\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}", 400, "missing_required_parameter",
     "messages[0]"},
    {CH, "{" M MSG ",\"temperature\":\"hot\"}", 400, "invalid_type", "temperature"},
    {CH, "{" M MSG ",\"temperature\":2.5}", 400, "decimal_above_max_value", "temperature"},
    {CH, "{" M MSG ",\"temperature\":-0.5}", 400, "decimal_below_min_value", "temperature"},
    {CH, "{" M MSG ",\"top_p\":1.5}", 400, "decimal_above_max_value", "top_p"},
    {CH, "{" M MSG ",\"top_k\":-1}", 400, "integer_below_min_value", "top_k"},
    {CH, "{" M MSG ",\"min_p\":2}", 400, "decimal_above_max_value", "min_p"},
    {CH, "{" M MSG ",\"n\":0}", 400, "integer_below_min_value", "n"},
    {CH, "{" M MSG ",\"n\":1.5}", 400, "invalid_type", "n"},
    {CH, "{" M MSG ",\"n\":129}", 400, "integer_above_max_value", "n"},
    {CH, "{" M MSG ",\"max_tokens\":0}", 400, "integer_below_min_value", "max_tokens"},
    {CH, "{" M MSG ",\"max_tokens\":\"5\"}", 400, "invalid_type", "max_tokens"},
    {CH, "{" M MSG ",\"max_completion_tokens\":-1}", 400, "integer_below_min_value", "max_completion_tokens"},
    {CH, "{" M MSG ",\"max_tokens\":1000}", 400, "context_length_exceeded", "messages"},
    {CH, "{" M MSG ",\"stop\":5}", 400, "invalid_type", "stop"},
    {CH, "{" M MSG ",\"stop\":[\"a\",1]}", 400, "invalid_type", "stop[1]"},
    {CH, "{" M MSG ",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", 400, "array_above_max_length", "stop"},
    {CH, "{" M MSG ",\"logit_bias\":[]}", 400, "invalid_type", "logit_bias"},
    {CH, "{" M MSG ",\"logit_bias\":{\"abc\":1}}", 400, "invalid_value", "logit_bias"},
    {CH, "{" M MSG ",\"logit_bias\":{\"512\":1}}", 400, "invalid_value", "logit_bias"},
    {CH, "{" M MSG ",\"logit_bias\":{\"5\":101}}", 400, "invalid_value", "logit_bias.5"},
    {CH, "{" M MSG ",\"logit_bias\":{\"5\":\"x\"}}", 400, "invalid_type", "logit_bias.5"},
    {CH, "{" M MSG ",\"presence_penalty\":3}", 400, "decimal_above_max_value", "presence_penalty"},
    {CH, "{" M MSG ",\"frequency_penalty\":-3}", 400, "decimal_below_min_value", "frequency_penalty"},
    {CH, "{" M MSG ",\"seed\":1.5}", 400, "invalid_type", "seed"},
    {CH, "{" M MSG ",\"stream\":\"yes\"}", 400, "invalid_type", "stream"},
    {CH, "{" M MSG ",\"stream_options\":{\"include_usage\":true}}", 400, "invalid_value", "stream_options"},
    {CH, "{" M MSG ",\"stream\":true,\"stream_options\":5}", 400, "invalid_type", "stream_options"},
    {CH, "{" M MSG ",\"stream\":true,\"stream_options\":{\"include_usage\":1}}", 400, "invalid_type",
     "stream_options.include_usage"},
    {CH, "{" M MSG ",\"logprobs\":1}", 400, "invalid_type", "logprobs"},
    {CH, "{" M MSG ",\"logprobs\":true,\"top_logprobs\":21}", 400, "integer_above_max_value", "top_logprobs"},
    {CH, "{" M MSG ",\"top_logprobs\":2}", 400, "invalid_value", "top_logprobs"},
    {CH, "{" M MSG ",\"tools\":[{\"type\":\"code_interpreter\"}]}", 400, "unsupported_value", "tools[0].type"},
    {CH, "{" M MSG ",\"tools\":{}}", 400, "invalid_type", "tools"},
    {CH, "{" M MSG ",\"tool_choice\":\"required\"}", 400, "invalid_value", "tool_choice"},
    {CH, "{" M MSG ",\"tool_choice\":7}", 400, "invalid_type", "tool_choice"},
    {CH, "{" M MSG ",\"chat_template_kwargs\":[1]}", 400, "invalid_type", "chat_template_kwargs"},
    {CH, "{" M MSG ",\"chat_template_kwargs\":{\"messages\":[]}}", 400, "invalid_value", "chat_template_kwargs"},
    {CH, "{" M MSG ",\"response_format\":{\"type\":\"xml\"}}", 400, "invalid_value", "response_format.type"},
    {CH, "{" M MSG ",\"response_format\":{}}", 400, "missing_required_parameter", "response_format.type"},
    {CH, "{" M MSG ",\"response_format\":\"json\"}", 400, "invalid_type", "response_format"},
    {CH, "{" M MSG ",\"response_format\":{\"type\":\"json_schema\"}}", 400, "missing_required_parameter",
     "response_format.json_schema"},
    {CH, "{" M MSG ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"schema\":{}}}}", 400,
     "missing_required_parameter", "response_format.json_schema.name"},
    {CH, "{" M MSG ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"a b\",\"schema\":{}}}}",
     400, "invalid_value", "response_format.json_schema.name"},
    {CH, "{" M MSG ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\"}}}", 400,
     "missing_required_parameter", "response_format.json_schema.schema"},
    {CH, "{" M MSG ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"schema\":"
          "{\"type\":\"object\",\"not\":{}}}}}", 400, "unsupported_value", "response_format.json_schema.schema"},
    {CH, "{" M MSG ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"strict\":true,"
          "\"schema\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}}}}}", 400, "unsupported_value",
     "response_format.json_schema.schema"},
    {CH, "{" M MSG ",\"audio\":{\"voice\":\"alloy\"}}", 400, "unsupported_parameter", "audio"},
    {CH, "{" M MSG ",\"modalities\":[\"text\",\"audio\"]}", 400, "unsupported_value", "modalities"},
    {CH, "{" M MSG ",\"user\":5}", 400, "invalid_type", "user"},
    {CP, "{" M "\"max_tokens\":1}", 400, "missing_required_parameter", "prompt"},
    {CP, "{" M "\"prompt\":5}", 400, "invalid_type", "prompt"},
    {CP, "{" M "\"prompt\":[]}", 400, "empty_array", "prompt"},
    {CP, "{" M "\"prompt\":[1,\"a\"]}", 400, "invalid_value", "prompt"},
    {CP, "{" M "\"prompt\":[[1],\"a\"]}", 400, "invalid_type", "prompt[1]"},
    {CP, "{" M "\"prompt\":[[1],[]]}", 400, "empty_array", "prompt[1]"},
    {CP, "{" M "\"prompt\":[600]}", 400, "invalid_value", "prompt"},
    {CP, "{" M "\"prompt\":\"a\",\"logprobs\":6}", 400, "integer_above_max_value", "logprobs"},
    {CP, "{" M "\"prompt\":\"a\",\"logprobs\":true}", 400, "invalid_type", "logprobs"},
    {CP, "{" M "\"prompt\":\"a\",\"max_tokens\":0}", 400, "invalid_value", "max_tokens"},
    {CP, "{" M "\"prompt\":\"a\",\"echo\":true,\"max_tokens\":-1}", 400, "integer_below_min_value", "max_tokens"},
    {CP, "{" M "\"prompt\":\"a\",\"best_of\":2}", 400, "unsupported_parameter", "best_of"},
    {CP, "{" M "\"prompt\":\"a\",\"suffix\":\"b\"}", 400, "unsupported_parameter", "suffix"},
    {CP, "{" M "\"prompt\":\"a\",\"max_tokens\":200}", 400, "context_length_exceeded", "prompt"},
    {CP, "{" M "\"prompt\":[\"a\",\"b\"],\"n\":100}", 400, "invalid_value", "n"},
};

static void test_validation_errors(void **state) {
    fx_t *f = fx_new(NULL, 0);
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case_t *c = &bad_cases[i];
        fx_post(f, c->path ? c->path : "/v1/chat/completions", c->body);
        cJSON *j = f->sink.body ? cJSON_Parse(f->sink.body) : NULL;
        const cJSON *e = cJSON_GetObjectItem(j, "error");
        const cJSON *code = cJSON_GetObjectItem(e, "code"), *param = cJSON_GetObjectItem(e, "param");
        const cJSON *type = cJSON_GetObjectItem(e, "type"), *msg = cJSON_GetObjectItem(e, "message");
        bool ok = f->sink.n_responds == 1 && f->sink.status == c->status && cJSON_IsString(type) &&
                  !strcmp(type->valuestring, "invalid_request_error") && cJSON_IsString(msg) &&
                  strlen(msg->valuestring) > 10 &&
                  (c->code ? cJSON_IsString(code) && !strcmp(code->valuestring, c->code) : cJSON_IsNull(code)) &&
                  (c->param ? cJSON_IsString(param) && !strcmp(param->valuestring, c->param) : cJSON_IsNull(param)) &&
                  f->call == NULL;
        if (!ok) {
            fprintf(stderr, "case %zu %s\n  want %d code %s param %s\n  got  %d %s\n", i, c->body, c->status,
                    c->code ? c->code : "null", c->param ? c->param : "null", f->sink.status,
                    f->sink.body ? f->sink.body : "(no response)");
            cJSON_Delete(j);
            fail();
        }
        cJSON_Delete(j);
    }
    assert_int_equal(f->back.n, 0); /* nothing reached the engine */
    fx_free(f);
}

/* Fields that do not change the output are accepted and ignored, as are unknown ones. */
static void test_ignored_fields(void **state) {
    fx_t *f = fx_new(NULL, 0);
    fx_post(f, "/v1/chat/completions",
            "{" M MSG ",\"store\":true,\"metadata\":{\"a\":\"b\"},\"service_tier\":\"auto\",\"user\":\"u1\","
            "\"parallel_tool_calls\":true,\"tools\":[],\"tool_choice\":\"none\",\"response_format\":{\"type\":"
            "\"text\"},\"modalities\":[\"text\"],\"some_future_field\":{\"x\":[1]},\"stop\":null,\"seed\":null}");
    assert_int_equal(f->sink.n_responds, 0);
    assert_non_null(f->call);
    assert_int_equal(f->back.n, 1);
    fx_free(f);
}

static void test_sampling_mapping(void **state) {
    fx_t *f = fx_new(NULL, 0);
    fx_post(f, "/v1/chat/completions",
            "{" M MSG ",\"temperature\":0.5,\"top_p\":0.9,\"top_k\":40,\"min_p\":0.1,\"presence_penalty\":0.5,"
            "\"frequency_penalty\":-0.25,\"seed\":7,\"n\":3,\"max_completion_tokens\":9,\"logprobs\":true,"
            "\"top_logprobs\":4,\"logit_bias\":{\"10\":-100,\"42\":5.5}}");
    assert_int_equal(f->back.n, 3);
    for (int i = 0; i < 3; i++) {
        const engine_req_t *r = &f->back.req[i];
        assert_true(r->sampling.temperature == 0.5f);
        assert_true(r->sampling.top_p == 0.9f);
        assert_int_equal(r->sampling.top_k, 40);
        assert_true(r->sampling.min_p == 0.1f);
        assert_true(r->sampling.presence_penalty == 0.5f);
        assert_true(r->sampling.frequency_penalty == -0.25f);
        assert_true(r->sampling.repetition_penalty == 1.0f);
        assert_int_equal(r->sampling.seed, 7 + i); /* each choice its own seed */
        assert_int_equal(r->max_tokens, 9);
        assert_true(r->logprobs);
        assert_int_equal(r->n_top_logprobs, 4);
        assert_int_equal(r->sampling.n_logit_bias, 2);
        assert_int_equal(r->sampling.logit_bias[0].id, 10);
        assert_true(r->sampling.logit_bias[0].bias == -100.0f);
        assert_int_equal(r->sampling.logit_bias[1].id, 42);
        assert_true(r->sampling.logit_bias[1].bias == 5.5f);
        assert_null(r->on_event); /* the backend installs its own */
        assert_non_null(r->user);
    }
    /* defaults: OpenAI's temperature 1 and top_p 1; chat max_tokens fills the context; completions 16 */
    fx_post(f, "/v1/chat/completions", "{" M MSG "}");
    const engine_req_t *r = &f->back.req[3];
    assert_true(r->sampling.temperature == 1.0f);
    assert_true(r->sampling.top_p == 1.0f);
    assert_int_equal(r->sampling.top_k, 0);
    assert_int_equal(r->sampling.n_logit_bias, 0);
    assert_false(r->logprobs);
    assert_int_equal(r->max_tokens, fx_n_ctx - (int32_t)r->n_prompt);
    fx_post(f, "/v1/completions", "{" M "\"prompt\":\"hi\",\"top_p\":0,\"logprobs\":2}");
    r = &f->back.req[4];
    assert_int_equal(r->max_tokens, 16);
    assert_true(r->sampling.top_p > 0 && r->sampling.top_p < 1e-3f); /* 0 means: only the most likely token */
    assert_true(r->logprobs);
    assert_int_equal(r->n_top_logprobs, 2);
    /* without a seed, choices get different random seeds */
    fx_post(f, "/v1/completions", "{" M "\"prompt\":\"hi\",\"n\":2}");
    assert_true(f->back.req[5].sampling.seed != f->back.req[6].sampling.seed);
    fx_free(f);
}

static void test_completion_prompts(void **state) {
    fx_t *f = fx_new(NULL, 0);
    /* the golden ids llama.cpp gives for this prompt (shared reference data, BOS included) */
    const int32_t want[] = {1, 403, 407, 261, 378};
    fx_post(f, "/v1/completions", "{" M "\"prompt\":\"Once upon a time\"}");
    assert_int_equal(f->back.n, 1);
    assert_int_equal(f->back.req[0].n_prompt, 5);
    assert_memory_equal(f->back.req[0].prompt, want, sizeof want);
    /* token ids as given; several prompts x n: prompt-major choice order */
    fx_post(f, "/v1/completions", "{" M "\"prompt\":[[5,6],[7]],\"n\":2,\"seed\":3}");
    assert_int_equal(f->back.n, 5);
    assert_int_equal(f->back.req[1].n_prompt, 2);
    assert_int_equal(f->back.req[1].prompt[1], 6);
    assert_int_equal(f->back.req[2].n_prompt, 2);
    assert_int_equal(f->back.req[3].n_prompt, 1);
    assert_int_equal(f->back.req[3].prompt[0], 7);
    assert_int_equal(f->back.req[4].sampling.seed, 3 + 3);
    fx_post(f, "/v1/completions", "{" M "\"prompt\":[9,10,11]}");
    assert_int_equal(f->back.req[5].n_prompt, 3);
    fx_post(f, "/v1/completions", "{" M "\"prompt\":[\"a\",\"b\",\"c\"]}");
    assert_int_equal(f->back.n, 9);
    fx_free(f);
}

/* The default template for a model without one is ChatML; its text is tokenized with BOS. */
static void test_chat_prompt_chatml(void **state) {
    fx_t *f = fx_new(NULL, 0);
    fx_post(f, "/v1/chat/completions",
            "{" M "\"messages\":[{\"role\":\"developer\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":"
            "[{\"type\":\"text\",\"text\":\"Hi\"},{\"type\":\"text\",\"text\":\"there\"}]}]}");
    assert_int_equal(f->back.n, 1);
    const char *text = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi\nthere<|im_end|>\n"
                       "<|im_start|>assistant\n";
    int32_t ids[256];
    size_t n = 0;
    assert_int_equal(tok_encode(f->tok, text, strlen(text), TOK_ADD_SPECIAL | TOK_PARSE_SPECIAL, ids, 256, &n), 0);
    assert_int_equal(f->back.req[0].n_prompt, n);
    assert_memory_equal(f->back.req[0].prompt, ids, n * sizeof *ids);
    assert_int_equal(ids[0], tok_bos(f->tok));
    fx_free(f);
}

/* A model template that prints bos_token itself: the BOS it writes is not doubled by the tokenizer's. */
static void test_chat_template_bos(void **state) {
    const char *t = "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}"
                    "{% if add_generation_prompt %}[assistant]{% endif %}";
    fx_t *f = fx_new_tmpl(NULL, 0, t, true, NULL, NULL);
    fx_post(f, "/v1/chat/completions",
            "{" M "\"messages\":[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\",\"content\":\"U\"}]}");
    assert_int_equal(f->back.n, 1);
    const char *text = "[system] S\n[user] U\n[assistant]";
    int32_t ids[128];
    size_t n = 0;
    assert_int_equal(tok_encode(f->tok, text, strlen(text), TOK_ADD_SPECIAL | TOK_PARSE_SPECIAL, ids, 128, &n), 0);
    assert_int_equal(f->back.req[0].n_prompt, n);
    assert_memory_equal(f->back.req[0].prompt, ids, n * sizeof *ids);
    assert_int_equal(ids[0], tok_bos(f->tok));
    assert_true(ids[1] != tok_bos(f->tok));
    fx_free(f);
}

/* Template failures: a render error is the request's 400; a compile error fails a --chat-template file at
   attach, while a model's own broken template only makes chat requests 400 (completions keep working). */
static void test_chat_template_errors(void **state) {
    const char *raising = "{% for m in messages %}{% if m.role == 'system' %}"
                          "{{ raise_exception('System role not supported') }}{% endif %}{{ m.content }}{% endfor %}";
    fx_t *f = fx_new_tmpl(NULL, 0, raising, true, NULL, NULL);
    fx_post(f, "/v1/chat/completions", "{" M "\"messages\":[{\"role\":\"system\",\"content\":\"S\"}]}");
    assert_int_equal(f->sink.status, 400);
    assert_non_null(strstr(f->sink.body, "System role not supported"));
    assert_non_null(strstr(f->sink.body, "\"param\":\"messages\",\"code\":\"invalid_template\""));
    fx_post(f, "/v1/chat/completions", "{" M MSG "}");
    assert_int_equal(f->back.n, 1);
    fx_free(f);

    int rc = 0;
    char err[256] = "";
    f = fx_new_tmpl(NULL, 0, "{% for %}", true, &rc, err);
    assert_int_equal(rc, ERR_TEMPLATE);
    assert_true(strlen(err) > 0);
    fx_request(f, "GET", "/health", NULL, NULL);
    assert_int_equal(f->sink.status, 503); /* not attached */
    fx_free(f);

    f = fx_new_tmpl(NULL, 0, "{% for %}", false, &rc, err);
    assert_int_equal(rc, 0);
    assert_true(strlen(err) > 0); /* the warning */
    fx_request(f, "GET", "/health", NULL, NULL);
    assert_int_equal(f->sink.status, 200);
    fx_post(f, "/v1/chat/completions", "{" M MSG "}");
    assert_int_equal(f->sink.status, 400);
    assert_non_null(strstr(f->sink.body, "\"code\":\"invalid_template\""));
    fx_post(f, "/v1/completions", "{" M "\"prompt\":\"x\"}");
    assert_int_equal(f->back.n, 1);
    fx_free(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_and_lifecycle),
        cmocka_unit_test(test_models),
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_check_headers),
        cmocka_unit_test(test_validation_errors),
        cmocka_unit_test(test_ignored_fields),
        cmocka_unit_test(test_sampling_mapping),
        cmocka_unit_test(test_completion_prompts),
        cmocka_unit_test(test_chat_prompt_chatml),
        cmocka_unit_test(test_chat_template_bos),
        cmocka_unit_test(test_chat_template_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
