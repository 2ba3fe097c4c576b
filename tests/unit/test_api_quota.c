/*
 * test_api_quota.c — per-key quotas (api/quota.c) through api_handle with the fake backend: requests per minute
 * and tokens per minute with OpenAI's x-ratelimit-* headers, 429 rate_limit_exceeded with Retry-After, unused
 * reserved tokens given back when a call ends, keys without limits unaffected.
 */
#include "api_fixture.h"

/* The value of header `name` among the sink's extra headers (sink->headers) or its response headers, or NULL. */
static const char *hdr(const fx_sink_t *k, const char *name) {
    for (int i = 0; i < k->n_xhdrs; i++)
        if (!strcmp(k->xhdr_name[i], name)) return k->xhdr_value[i];
    for (int i = 0; i < k->n_hdrs; i++)
        if (!strcmp(k->hdr_name[i], name)) return k->hdr_value[i];
    return NULL;
}

static const char *keys[] = {"sk-free", "sk-rpm", "sk-tpm"};
static const api_key_limit_t limits[] = {{"sk-rpm", 2, 0}, {"sk-tpm", 0, 100}};

static fx_t *quota_fx(void) {
    fx_key_limits = limits;
    fx_n_key_limits = 2;
    fx_t *f = fx_new(keys, 3);
    fx_key_limits = NULL;
    fx_n_key_limits = 0;
    return f;
}

#define BODY(max) "{\"model\":\"stories260K\",\"prompt\":\"Once upon a time\",\"max_tokens\":" #max "}"

static void test_requests_per_minute(void **state) {
    fx_t *f = quota_fx();
    fx_request(f, "POST", "/v1/completions", "Bearer sk-rpm", BODY(4));
    assert_non_null(f->call);
    assert_string_equal(hdr(&f->sink, "x-ratelimit-limit-requests"), "2");
    assert_string_equal(hdr(&f->sink, "x-ratelimit-remaining-requests"), "1");
    assert_non_null(hdr(&f->sink, "x-ratelimit-reset-requests"));
    assert_null(hdr(&f->sink, "x-ratelimit-limit-tokens")); /* no token limit on this key */
    fx_request(f, "POST", "/v1/completions", "Bearer sk-rpm", BODY(4));
    assert_non_null(f->call);
    assert_string_equal(hdr(&f->sink, "x-ratelimit-remaining-requests"), "0");
    fx_request(f, "POST", "/v1/completions", "Bearer sk-rpm", BODY(4));
    assert_null(f->call);
    assert_int_equal(f->sink.status, 429);
    assert_non_null(strstr(f->sink.body, "\"code\":\"rate_limit_exceeded\""));
    assert_non_null(strstr(f->sink.body, "\"type\":\"requests\""));
    assert_string_equal(f->sink.hdr_name[0], "Retry-After");
    int retry = atoi(f->sink.hdr_value[0]);
    assert_true(retry >= 29 && retry <= 30); /* one request of 2 a minute comes back in 30 s */
    assert_string_equal(hdr(&f->sink, "x-ratelimit-remaining-requests"), "0");
    assert_int_equal(f->back.n, 2); /* nothing was submitted for the refused one */
    /* other keys are not affected; GET /v1/models is not counted */
    fx_request(f, "POST", "/v1/completions", "Bearer sk-free", BODY(4));
    assert_non_null(f->call);
    assert_null(hdr(&f->sink, "x-ratelimit-limit-requests"));
    fx_request(f, "GET", "/v1/models", "Bearer sk-rpm", NULL);
    assert_int_equal(f->sink.status, 200);
    fx_free(f);
}

static void test_tokens_per_minute(void **state) {
    fx_t *f = quota_fx();
    /* the prompt is 5 tokens (BOS + 4): 5 + 60 = 65 of 100 are taken up front */
    fx_request(f, "POST", "/v1/completions", "Bearer sk-tpm", BODY(60));
    assert_non_null(f->call);
    int32_t np = (int32_t)f->back.req[0].n_prompt;
    char want[16];
    snprintf(want, sizeof want, "%d", 100 - (np + 60));
    assert_string_equal(hdr(&f->sink, "x-ratelimit-limit-tokens"), "100");
    assert_string_equal(hdr(&f->sink, "x-ratelimit-remaining-tokens"), want);
    /* a second one that would overdraw is refused while the first runs */
    api_call_t *first = f->call;
    f->call = NULL;
    fx_request(f, "POST", "/v1/completions", "Bearer sk-tpm", BODY(60));
    assert_int_equal(f->sink.status, 429);
    assert_non_null(strstr(f->sink.body, "\"type\":\"tokens\""));
    assert_true(atoi(f->sink.hdr_value[0]) >= 1);
    /* the first ends after 2 tokens: the 58 it did not use come back, so the same request now fits */
    f->call = first;
    fx_token(f, 0, 10, " a", 0, 0, NULL, NULL);
    fx_token(f, 0, 11, " b", 0, 0, NULL, NULL);
    fx_end(f, 0, ENGINE_FINISH_STOP, NULL);
    api_call_release(f->call);
    f->call = NULL;
    fx_request(f, "POST", "/v1/completions", "Bearer sk-tpm", BODY(60));
    assert_non_null(f->call);
    /* a request that could never fit the minute's tokens is refused outright */
    fx_request(f, "POST", "/v1/completions", "Bearer sk-tpm", BODY(100));
    assert_int_equal(f->sink.status, 429);
    assert_non_null(strstr(f->sink.body, "Request too large"));
    fx_free(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requests_per_minute),
        cmocka_unit_test(test_tokens_per_minute),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
