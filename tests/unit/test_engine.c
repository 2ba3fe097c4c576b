/*
 * test_engine.c — the scheduler on a real model (stories260K, F32): greedy output of a request is the same alone
 * and among 15 others, equals llama.cpp's reference, survives prefix-cache hits and preemption under a tiny KV
 * pool; cancellation returns blocks; the queue limit and context checks hold; a model whose logits overflow ends
 * every request with ERR_NUMERIC instead of text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "err.h"
#include "model_patch.h"

#define MODEL TEST_SHARED_DIR "/models/stories260K.gguf"
#define MAX_OUT 256

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    engine_finish_t finish;
    int err; /* the END event's */
    int32_t tokens[MAX_OUT];
    int n_tokens;
    char text[4096];
    size_t n_text;
    int32_t n_prompt_reported;
} result_t;

static void on_event(void *user, const engine_event_t *ev) {
    result_t *r = user;
    pthread_mutex_lock(&r->mu);
    if (ev->type == ENGINE_EV_TOKEN && r->n_tokens < MAX_OUT) r->tokens[r->n_tokens++] = ev->token;
    if (ev->text_len && r->n_text + ev->text_len < sizeof r->text) {
        memcpy(r->text + r->n_text, ev->text, ev->text_len);
        r->n_text += ev->text_len;
    }
    if (ev->type == ENGINE_EV_END) {
        r->done = true;
        r->finish = ev->finish;
        r->err = ev->err;
        r->n_prompt_reported = ev->n_prompt;
        pthread_cond_signal(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
}

static void result_init(result_t *r) {
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
}

static void result_wait(result_t *r) {
    pthread_mutex_lock(&r->mu);
    while (!r->done) pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
}

static void result_destroy(result_t *r) {
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
}

static engine_t *make_engine_at(const char *path, int32_t n_parallel, int64_t kv_tokens, int32_t max_queue,
                                int32_t n_batch) {
    engine_params_t p = engine_default_params();
    p.model_path = path;
    p.n_threads = 2;
    p.n_ctx = 512;
    p.n_parallel = n_parallel;
    p.kv_tokens = kv_tokens;
    p.max_queue = max_queue;
    if (n_batch) p.n_batch = n_batch;
    engine_t *e = NULL;
    char err[256] = "";
    int rc = engine_create(&p, &e, err, sizeof err);
    if (rc) fail_msg("engine_create: %s", err);
    return e;
}

static engine_t *make_engine(int32_t n_parallel, int64_t kv_tokens, int32_t max_queue, int32_t n_batch) {
    return make_engine_at(MODEL, n_parallel, kv_tokens, max_queue, n_batch);
}

/* Waits (up to 2 s) for the stats snapshot, published at the end of each step, to show an idle engine. */
static engine_stats_t wait_idle(engine_t *e) {
    engine_stats_t st;
    for (int tries = 0; tries < 200; tries++) {
        engine_stats(e, &st);
        if (st.kv_blocks_used == 0 && st.running == 0 && st.queued == 0) break;
        usleep(10000);
    }
    return st;
}

static size_t tokenize(engine_t *e, const char *text, int32_t *ids, size_t cap) {
    size_t n = 0;
    assert_int_equal(tok_encode(model_tok(engine_model(e)), text, strlen(text), TOK_ADD_SPECIAL, ids, cap, &n), 0);
    return n;
}

static uint64_t submit(engine_t *e, const int32_t *ids, size_t n, int32_t max_tokens, float temp, uint64_t seed,
                       result_t *r) {
    engine_req_t req = {0};
    req.prompt = ids;
    req.n_prompt = n;
    req.max_tokens = max_tokens;
    req.sampling = sampler_default_params();
    req.sampling.temperature = temp;
    req.sampling.seed = seed;
    req.on_event = on_event;
    req.user = r;
    uint64_t id = 0;
    char err[256] = "";
    int rc = engine_submit(e, &req, &id, err, sizeof err);
    if (rc) fail_msg("engine_submit: %s", err);
    return id;
}

static const char *prompts[] = {
    "Once upon a time",   "Lily and Tom went to the park.", "The cat",          "One day, a little bird",
    "Tim had a red ball", "The sun was hot and",            "Mom said",         "There was a big tree",
    "The dog ran",        "Sam liked to",                   "It was a sunny day", "A girl named Sue",
    "The boat",           "In the garden",                  "Ben and his friend", "The little fish",
};

/* Greedy, alone: the reference for the batched runs. */
static void run_alone(const char *prompt, int32_t max_tokens, result_t *out) {
    engine_t *e = make_engine(1, 0, 8, 0);
    int32_t ids[256];
    size_t n = tokenize(e, prompt, ids, 256);
    result_init(out);
    submit(e, ids, n, max_tokens, 0.0f, 0, out);
    result_wait(out);
    engine_free(e);
}

/* Runs prompts[0..n) greedily, each alone on a fresh engine and then all at once on e, and checks that every
 * request gives the same tokens, text length and finish reason both ways. */
static void check_together_equals_alone(engine_t *e, int n, int32_t max_tokens) {
    result_t alone[16], together[16];
    int32_t ids[16][256];
    assert_true(n <= 16);
    for (int i = 0; i < n; i++) run_alone(prompts[i], max_tokens, &alone[i]);
    for (int i = 0; i < n; i++) {
        size_t len = tokenize(e, prompts[i], ids[i], 256);
        result_init(&together[i]);
        submit(e, ids[i], len, max_tokens, 0.0f, 0, &together[i]);
    }
    for (int i = 0; i < n; i++) result_wait(&together[i]);
    for (int i = 0; i < n; i++) {
        assert_int_equal(together[i].n_tokens, alone[i].n_tokens);
        assert_memory_equal(together[i].tokens, alone[i].tokens, (size_t)alone[i].n_tokens * sizeof(int32_t));
        assert_int_equal(together[i].finish, alone[i].finish);
        assert_int_equal(together[i].n_text, alone[i].n_text);
        result_destroy(&together[i]);
        result_destroy(&alone[i]);
    }
}

/* 16 greedy requests at once give exactly the tokens each gives alone. */
static void test_batch_invariance(void **state) {
    (void)state;
    enum { N = 16, MAXT = 48 };
    engine_t *e = make_engine(16, 0, 64, 64); /* a small step budget so prompts are chunked among decodes */
    check_together_equals_alone(e, N, MAXT);
    engine_stats_t st;
    engine_stats(e, &st);
    assert_int_equal(st.n_completed, N);
    assert_true(st.n_steps < (uint64_t)N * MAXT); /* sequences really shared steps */
    engine_free(e);
}

/* The engine's greedy text for "Once upon a time" equals llama.cpp's reference continuation. */
static void test_reference_text(void **state) {
    (void)state;
    result_t r;
    run_alone("Once upon a time", 64, &r);
    const char *want = ", there was a little girl named Lily. She loved to play outside in the park. One day, she saw "
                       "a big, red ball. She wanted to play with it, but it was too high.\nLily's mom said";
    assert_int_equal(r.n_text, strlen(want));
    assert_memory_equal(r.text, want, r.n_text);
    assert_int_equal(r.finish, ENGINE_FINISH_LENGTH);
    result_destroy(&r);
}

/* A second request with the same long prefix hits the prefix cache and still produces identical output. */
static void test_prefix_cache_hit(void **state) {
    (void)state;
    engine_t *e = make_engine(4, 0, 8, 0);
    const char *sys = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
                      "One day, she saw a big, red ball.";
    int32_t ids[256];
    size_t n = tokenize(e, sys, ids, 256);
    assert_true(n > 32);
    result_t a, b;
    result_init(&a);
    submit(e, ids, n, 24, 0.0f, 0, &a);
    result_wait(&a);
    engine_stats_t before;
    engine_stats(e, &before);
    result_init(&b);
    submit(e, ids, n, 24, 0.0f, 0, &b);
    result_wait(&b);
    engine_stats_t after;
    engine_stats(e, &after);
    assert_true(after.prefix_hit_tokens - before.prefix_hit_tokens >= 32);
    assert_int_equal(a.n_tokens, b.n_tokens);
    assert_memory_equal(a.tokens, b.tokens, (size_t)a.n_tokens * sizeof(int32_t));
    result_destroy(&a);
    result_destroy(&b);
    engine_free(e);
}

/* With a pool too small for all sequences at once, preemption and recomputation keep outputs exact. */
static void test_preemption_exact(void **state) {
    (void)state;
    enum { N = 6, MAXT = 64 };
    engine_t *e = make_engine(6, 160, 64, 0); /* 10 blocks of 16 tokens for 6 sequences of up to ~80 */
    check_together_equals_alone(e, N, MAXT);
    engine_stats_t st = wait_idle(e);
    assert_true(st.n_preempted > 0);
    assert_int_equal(st.kv_blocks_used, 0);
    engine_free(e);
}

/* Cancelling running and queued requests ends them and returns every block within a step or two. */
static void test_cancel_frees_blocks(void **state) {
    (void)state;
    engine_t *e = make_engine(2, 0, 8, 0);
    int32_t ids[256];
    size_t n = tokenize(e, prompts[0], ids, 256);
    result_t r[4];
    uint64_t id[4];
    for (int i = 0; i < 4; i++) {
        result_init(&r[i]);
        id[i] = submit(e, ids, n, 400, 1.0f, (uint64_t)i, &r[i]);
    }
    for (int i = 3; i >= 0; i--) assert_int_equal(engine_cancel(e, id[i]), 0);
    for (int i = 0; i < 4; i++) {
        result_wait(&r[i]);
        /* a request may have finished on its own before the cancel landed (EOS); never an error */
        assert_true(r[i].finish == ENGINE_FINISH_CANCELLED || r[i].finish == ENGINE_FINISH_STOP ||
                    r[i].finish == ENGINE_FINISH_LENGTH);
        result_destroy(&r[i]);
    }
    assert_int_equal(engine_cancel(e, id[0]), ERR_NOTFOUND);
    engine_stats_t st = wait_idle(e);
    assert_int_equal(st.kv_blocks_used, 0);
    assert_int_equal(st.running, 0);
    assert_int_equal(st.queued, 0);
    engine_free(e);
}

/* Limits: the queue fills (ERR_FULL), prompts that can never fit are refused (ERR_CONTEXT), bad fields. */
static void test_limits(void **state) {
    (void)state;
    engine_t *e = make_engine(1, 0, 2, 0);
    int32_t ids[256];
    size_t n = tokenize(e, prompts[1], ids, 256);
    char err[256];
    engine_req_t req = {0};
    req.prompt = ids;
    req.n_prompt = n;
    req.max_tokens = 600;
    req.sampling = sampler_default_params();
    req.on_event = on_event;
    result_t r[4];
    for (int i = 0; i < 4; i++) result_init(&r[i]);
    req.user = &r[0];
    uint64_t id;
    assert_int_equal(engine_submit(e, &req, &id, err, sizeof err), ERR_CONTEXT);
    assert_non_null(strstr(err, "maximum context length is 512"));
    req.max_tokens = 0;
    assert_int_equal(engine_submit(e, &req, &id, err, sizeof err), ERR_INVAL);
    req.max_tokens = 8;
    req.sampling.temperature = 5.0f;
    assert_int_equal(engine_submit(e, &req, &id, err, sizeof err), ERR_RANGE);
    req.sampling.temperature = 0.0f;
    int32_t bad = 100000;
    req.prompt = &bad;
    req.n_prompt = 1;
    assert_int_equal(engine_submit(e, &req, &id, err, sizeof err), ERR_INVAL);
    req.prompt = ids;
    req.n_prompt = n;
    /* one running + two queued fill it; more is refused until they drain */
    int accepted = 0, full = 0;
    req.user = &r[0];
    req.max_tokens = 200;
    assert_int_equal(engine_submit(e, &req, &id, err, sizeof err), 0);
    accepted++;
    engine_stats_t st;
    do engine_stats(e, &st);
    while (st.running == 0 && st.n_completed == 0);
    for (int i = 1; i < 4; i++) {
        req.user = &r[i];
        req.max_tokens = 200;
        int rc = engine_submit(e, &req, &id, err, sizeof err);
        if (rc == 0) accepted++, r[i].n_prompt_reported = -1;
        else if (rc == ERR_FULL) full++, r[i].done = true;
        else fail_msg("unexpected %d", rc);
    }
    assert_true(accepted >= 3);
    assert_true(accepted + full == 4);
    for (int i = 0; i < 4; i++) {
        result_wait(&r[i]);
        result_destroy(&r[i]);
    }
    engine_free(e); /* with nothing left, shutdown is immediate */
}

/* Shutdown with work in flight ends every request with one END event. */
static void test_shutdown_ends_everything(void **state) {
    (void)state;
    engine_t *e = make_engine(2, 0, 16, 0);
    int32_t ids[256];
    size_t n = tokenize(e, prompts[2], ids, 256);
    result_t r[6];
    for (int i = 0; i < 6; i++) {
        result_init(&r[i]);
        submit(e, ids, n, 400, 1.0f, (uint64_t)i, &r[i]);
    }
    engine_free(e);
    for (int i = 0; i < 6; i++) {
        assert_true(r[i].done);
        result_destroy(&r[i]);
    }
}

/* Finite weights that overflow (output_norm = 3e38: the logits come out NaN/inf): every request, batched or not,
 * greedy or sampled, ends with ENGINE_FINISH_ERROR / ERR_NUMERIC and no token; blocks are returned and the engine
 * keeps going. */
static void test_nonfinite_logits(void **state) {
    (void)state;
    mp_file_t f;
    mp_read(&f, MODEL);
    dtype_t type;
    uint64_t n_bytes;
    const size_t off = mp_tensor(&f, "output_norm.weight", &type, &n_bytes);
    assert_int_equal(type, DT_F32);
    for (uint64_t i = 0; i < n_bytes; i += 4)
        mp_put32(&f, off + i, 0x7e61b1e6u); /* 7.5e37 */
    mp_write(&f);
    engine_t *e = make_engine_at(f.path, 4, 0, 8, 0);
    for (int round = 0; round < 2; round++) {
        result_t r[4];
        int32_t ids[4][256];
        for (int i = 0; i < 4; i++) {
            size_t n = tokenize(e, prompts[i], ids[i], 256);
            result_init(&r[i]);
            submit(e, ids[i], n, 16, i % 2 ? 0.8f : 0.0f, 7, &r[i]);
        }
        for (int i = 0; i < 4; i++) {
            result_wait(&r[i]);
            assert_int_equal(r[i].finish, ENGINE_FINISH_ERROR);
            assert_int_equal(r[i].err, ERR_NUMERIC);
            assert_int_equal(r[i].n_tokens, 0);
            result_destroy(&r[i]);
        }
        engine_stats_t st = wait_idle(e);
        assert_int_equal(st.kv_blocks_used, 0);
    }
    engine_free(e);
    mp_free(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nonfinite_logits),
        cmocka_unit_test(test_reference_text),   cmocka_unit_test(test_batch_invariance),
        cmocka_unit_test(test_prefix_cache_hit), cmocka_unit_test(test_preemption_exact),
        cmocka_unit_test(test_cancel_frees_blocks), cmocka_unit_test(test_limits),
        cmocka_unit_test(test_shutdown_ends_everything),
    };
    return cmocka_run_group_tests_name("engine", tests, NULL, NULL);
}
