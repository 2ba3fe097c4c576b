/*
 * engine_fixture.h — shared by the engine-level unit tests (test_engine.c, test_archs.c): a request result that
 * collects an engine's events, engine creation on a model file, tokenizing and submitting, and the check that
 * requests run together give exactly what each gives alone. Included by one test file each (static functions).
 */
#ifndef CINDER_TEST_ENGINE_FIXTURE_H
#define CINDER_TEST_ENGINE_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "err.h"
#include "model.h"
#include "tokenizer/tokenizer.h"

#define MAX_OUT 256

/* The model make_engine loads: stories260K unless a test points it elsewhere. */
static const char *fx_model_path = TEST_SHARED_DIR "/models/stories260K.gguf";

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    engine_finish_t finish;
    int err; /* the END event's */
    int32_t tokens[MAX_OUT];
    int n_tokens;
    int32_t second[MAX_OUT]; /* the runner-up token at each step and its logprob gap to the chosen one, when the */
    float gap[MAX_OUT];      /* request asked for two top logprobs (else -1 and 0) */
    char text[4096];
    size_t n_text;
    int32_t n_prompt_reported;
} result_t;

static void on_event(void *user, const engine_event_t *ev) {
    result_t *r = user;
    pthread_mutex_lock(&r->mu);
    if (ev->type == ENGINE_EV_TOKEN && r->n_tokens < MAX_OUT) {
        r->second[r->n_tokens] = ev->n_top >= 2 ? ev->top_ids[1] : -1;
        r->gap[r->n_tokens] = ev->n_top >= 2 ? ev->top_logprobs[0] - ev->top_logprobs[1] : 0.0f;
        r->tokens[r->n_tokens++] = ev->token;
    }
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
    return make_engine_at(fx_model_path, n_parallel, kv_tokens, max_queue, n_batch);
}

/* Waits (up to 2 s) for the stats snapshot, published at the end of each step, to show an idle engine. */
static inline engine_stats_t wait_idle(engine_t *e) {
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

/* When set, submit asks for the two best logprobs of every step (the runner-up and the margin). */
static bool fx_top2 = false;

static uint64_t submit(engine_t *e, const int32_t *ids, size_t n, int32_t max_tokens, float temp, uint64_t seed,
                       result_t *r) {
    engine_req_t req = {0};
    req.logprobs = fx_top2;
    req.n_top_logprobs = fx_top2 ? 2 : 0;
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

/* Greedy, alone: the reference for the batched runs (with each step's runner-up and margin). */
static void run_alone(const char *prompt, int32_t max_tokens, result_t *out) {
    engine_t *e = make_engine(1, 0, 8, 0);
    int32_t ids[256];
    size_t n = tokenize(e, prompt, ids, 256);
    result_init(out);
    fx_top2 = true;
    submit(e, ids, n, max_tokens, 0.0f, 0, out);
    fx_top2 = false;
    result_wait(out);
    engine_free(e);
}

/* Largest margin (logprob of the best minus the runner-up's) at which a batched run may pick the runner-up: the
 * batch changes the order of float sums (F32 dots alone, GEMM tiles together; per-token attention or matrix
 * products for a prompt chunk), so logits differ between batch shapes by float rounding, amplified by the layers:
 * up to ~5e-3 on the tiny synthetic models of test_archs (whose logits are deliberately peaked), ~1e-5 on
 * stories260K. A near-tie may then go either way; any larger margin is a real difference. (Quantized weights add
 * the differences between their kernels' paths, so these checks use float models.) */
#define FX_TIE_MARGIN 1e-2f

/*
 * Runs prompts[0..n) greedily, each alone on a fresh engine and then all at once on e, and checks that every
 * request gives the same tokens, text length and finish reason both ways. The one allowance: where the alone run's
 * best two tokens were within FX_TIE_MARGIN and the batched run took the runner-up, the two continuations may part
 * from there on (at most one request in four). Returns how many requests parted at such a tie.
 */
static inline int check_together_equals_alone(engine_t *e, int n, int32_t max_tokens) {
    result_t alone[16], together[16];
    int32_t ids[16][256];
    int ties = 0;
    assert_true(n <= 16);
    for (int i = 0; i < n; i++) run_alone(prompts[i], max_tokens, &alone[i]);
    for (int i = 0; i < n; i++) {
        size_t len = tokenize(e, prompts[i], ids[i], 256);
        result_init(&together[i]);
        submit(e, ids[i], len, max_tokens, 0.0f, 0, &together[i]);
    }
    for (int i = 0; i < n; i++) result_wait(&together[i]);
    for (int i = 0; i < n; i++) {
        int t = 0;
        while (t < alone[i].n_tokens && t < together[i].n_tokens && together[i].tokens[t] == alone[i].tokens[t]) t++;
        if (t < alone[i].n_tokens && t < together[i].n_tokens && together[i].tokens[t] == alone[i].second[t] &&
            alone[i].gap[t] <= FX_TIE_MARGIN) {
            print_message("request %d: a near-tie at token %d (margin %g) went the other way\n", i, t,
                          (double)alone[i].gap[t]);
            ties++;
        } else {
            assert_int_equal(together[i].n_tokens, alone[i].n_tokens);
            assert_memory_equal(together[i].tokens, alone[i].tokens, (size_t)alone[i].n_tokens * sizeof(int32_t));
            assert_int_equal(together[i].finish, alone[i].finish);
            assert_int_equal(together[i].n_text, alone[i].n_text);
        }
        result_destroy(&together[i]);
        result_destroy(&alone[i]);
    }
    assert_true(ties * 4 <= n);
    return ties;
}

#endif
