/*
 * test_engine_score.c — prompt scoring (ENGINE_REQ_SCORE) on a real model (stories260K, F32): each prompt
 * token's reported logprob and top alternatives equal those computed from model_forward's logits at every position
 * (generate mode, all logits); a long prompt is chunked and batched with generating requests without changing them;
 * max_tokens > 0 scores the prompt and then generates exactly what a GENERATE request does; a one-token prompt
 * ends at once; the END event's n_cached counts prefix-cache hits (and a scored prompt takes none).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "engine_fixture.h"
#include "err.h"
#include "model.h"
#include "sampler.h"

#define SC_MAX 512
#define SC_TOP 3
/* Logprobs from differently chunked prompts differ by rounding (attention reads earlier chunks' keys and values
 * from the F16 cache, a chunk's own ones in F32): up to ~3e-3 seen on stories260K. With the same chunks (64) the
 * values agree to float rounding of the batch's GEMM tiles. A wrong position or token is off by whole units. */
#define SC_TOL_SAME  1e-4f
#define SC_TOL_OTHER 1e-2f

/* What a SCORE request reported. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    engine_finish_t finish;
    int32_t n_cached, n_prompt, n_generated;
    int n_lp;                        /* PROMPT_LP events */
    int32_t pos[SC_MAX], tok[SC_MAX];
    float lp[SC_MAX];
    int32_t top_ids[SC_MAX][SC_TOP];
    float top_lp[SC_MAX][SC_TOP];
    int n_gen;                       /* TOKEN events */
    int32_t gen[SC_MAX];
    bool token_before_lp;            /* a TOKEN event came before some PROMPT_LP event */
} score_t;

static void sc_event(void *user, const engine_event_t *ev) {
    score_t *r = user;
    pthread_mutex_lock(&r->mu);
    if (ev->type == ENGINE_EV_PROMPT_LP && r->n_lp < SC_MAX) {
        int i = r->n_lp++;
        r->pos[i] = ev->pos;
        r->tok[i] = ev->token;
        r->lp[i] = ev->logprob;
        for (int k = 0; k < SC_TOP && k < ev->n_top; k++) {
            r->top_ids[i][k] = ev->top_ids[k];
            r->top_lp[i][k] = ev->top_logprobs[k];
        }
        if (r->n_gen) r->token_before_lp = true;
    } else if (ev->type == ENGINE_EV_TOKEN && r->n_gen < SC_MAX) {
        r->gen[r->n_gen++] = ev->token;
    } else if (ev->type == ENGINE_EV_END) {
        r->done = true;
        r->finish = ev->finish;
        r->n_cached = ev->n_cached;
        r->n_prompt = ev->n_prompt;
        r->n_generated = ev->n_generated;
        pthread_cond_signal(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
}

static score_t *sc_new(void) {
    score_t *r = calloc(1, sizeof *r);
    assert_non_null(r);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    return r;
}

static void sc_wait_free(score_t *r, bool free_it) {
    pthread_mutex_lock(&r->mu);
    while (!r->done) pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
    if (!free_it) return;
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}

static void sc_submit(engine_t *e, engine_req_kind_t kind, const int32_t *ids, size_t n, int32_t max_tokens,
                      score_t *r) {
    engine_req_t req = {0};
    req.kind = kind;
    req.prompt = ids;
    req.n_prompt = n;
    req.max_tokens = max_tokens;
    req.sampling = sampler_default_params();
    req.sampling.temperature = 0.0f;
    req.logprobs = true;
    req.n_top_logprobs = SC_TOP;
    req.on_event = sc_event;
    req.user = r;
    uint64_t id = 0;
    char err[256] = "";
    int rc = engine_submit(e, &req, &id, err, sizeof err);
    if (rc) fail_msg("engine_submit: %s", err);
}

/* A prompt of about 150 tokens: longer than one scoring chunk (64). */
static size_t long_prompt(engine_t *e, int32_t *ids, size_t cap) {
    char text[2048] = "";
    for (int i = 0; i < 6; i++) strcat(text, prompts[i]), strcat(text, " ");
    strcat(text, "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.");
    size_t n = tokenize(e, text, ids, cap);
    if (n <= 70 || n > 400) fail_msg("long prompt: %zu tokens", n);
    return n;
}

/* The reference: logits at every position from model_forward (all logits), and their logprobs. */
static void check_against_forward(engine_t *e, const int32_t *ids, size_t n, size_t chunk, float tol,
                                  const score_t *r) {
    const model_t *m = engine_model(e);
    const int32_t n_vocab = model_hparams(m)->n_vocab;
    model_ctx_t *ctx = NULL;
    model_seq_t *seq = NULL;
    assert_int_equal(model_ctx_create(m, 2, (int32_t)n, 512, &ctx), 0);
    assert_int_equal(model_seq_create(m, 512, &seq), 0);
    float *logits = malloc(n * (size_t)n_vocab * sizeof *logits);
    assert_non_null(logits);
    for (size_t at = 0; at < n; at += chunk) {
        int32_t k = (int32_t)(n - at < chunk ? n - at : chunk);
        assert_int_equal(model_forward(ctx, seq, ids + at, k, true, logits + at * n_vocab), 0);
    }
    assert_int_equal(r->n_lp, (int)n - 1);
    for (size_t p = 1; p < n; p++) {
        float lp = 0;
        int32_t top[SC_TOP];
        float top_lp[SC_TOP];
        assert_int_equal(sampler_logprobs(logits + (p - 1) * n_vocab, n_vocab, ids[p], SC_TOP, &lp, top, top_lp), 0);
        int i = (int)p - 1;
        assert_int_equal(r->pos[i], (int32_t)p);
        assert_int_equal(r->tok[i], ids[p]);
        if (fabsf(r->lp[i] - lp) > tol) fail_msg("position %zu: logprob %g, forward gives %g", p, r->lp[i], lp);
        for (int k = 0; k < SC_TOP; k++) {
            if (fabsf(r->top_lp[i][k] - top_lp[k]) > tol)
                fail_msg("position %zu top %d: %d %g, forward %d %g", p, k, r->top_ids[i][k], r->top_lp[i][k], top[k],
                         top_lp[k]);
            /* ids may swap only where two alternatives tie within the tolerance */
            if (r->top_ids[i][k] != top[k]) assert_true(k + 1 < SC_TOP && fabsf(top_lp[k] - top_lp[k + 1]) < tol);
        }
    }
    free(logits);
    model_seq_free(seq);
    model_ctx_free(ctx);
}

/* A long prompt scored alone: every token's logprob equals the forward pass's; nothing generated. */
static void test_score_equals_forward(void **state) {
    (void)state;
    engine_t *e = make_engine(4, 0, 8, 0);
    int32_t ids[SC_MAX];
    size_t n = long_prompt(e, ids, SC_MAX);
    score_t *r = sc_new();
    sc_submit(e, ENGINE_REQ_SCORE, ids, n, 0, r);
    sc_wait_free(r, false);
    assert_int_equal(r->finish, ENGINE_FINISH_LENGTH);
    assert_int_equal(r->n_gen, 0);
    assert_int_equal(r->n_generated, 0);
    assert_int_equal(r->n_prompt, (int32_t)n);
    assert_int_equal(r->n_cached, 0);
    check_against_forward(e, ids, n, 64, SC_TOL_SAME, r);
    sc_wait_free(r, true);
    engine_free(e);
}

/* The same prompt scored among eight generating requests (small step budget: chunks share steps with decodes)
 * reports the same values, and the generating requests give what they give alone. */
static void test_score_batched(void **state) {
    (void)state;
    engine_t *e = make_engine(9, 0, 16, 48);
    int32_t ids[SC_MAX], gid[8][256];
    size_t n = long_prompt(e, ids, SC_MAX);
    score_t *gen_alone[8], *gen[8];
    for (int i = 0; i < 8; i++) {
        size_t gn = tokenize(e, prompts[i], gid[i], 256);
        gen_alone[i] = sc_new();
        sc_submit(e, ENGINE_REQ_GENERATE, gid[i], gn, 32, gen_alone[i]);
        sc_wait_free(gen_alone[i], false);
    }
    score_t *r = sc_new();
    for (int i = 0; i < 4; i++) {
        gen[i] = sc_new();
        sc_submit(e, ENGINE_REQ_GENERATE, gid[i], tokenize(e, prompts[i], gid[i], 256), 32, gen[i]);
    }
    sc_submit(e, ENGINE_REQ_SCORE, ids, n, 0, r);
    for (int i = 4; i < 8; i++) {
        gen[i] = sc_new();
        sc_submit(e, ENGINE_REQ_GENERATE, gid[i], tokenize(e, prompts[i], gid[i], 256), 32, gen[i]);
    }
    sc_wait_free(r, false);
    for (int i = 0; i < 8; i++) {
        sc_wait_free(gen[i], false);
        assert_int_equal(gen[i]->n_gen, gen_alone[i]->n_gen);
        assert_memory_equal(gen[i]->gen, gen_alone[i]->gen, (size_t)gen[i]->n_gen * sizeof(int32_t));
        sc_wait_free(gen[i], true);
        sc_wait_free(gen_alone[i], true);
    }
    check_against_forward(e, ids, n, n, SC_TOL_OTHER, r);
    sc_wait_free(r, true);
    /* again with the fixture's check: requests run together equal themselves alone, a prompt being scored among them */
    score_t *r2 = sc_new();
    sc_submit(e, ENGINE_REQ_SCORE, ids, n, 0, r2);
    check_together_equals_alone(e, 4, 16);
    sc_wait_free(r2, false);
    assert_int_equal(r2->n_lp, (int)n - 1);
    sc_wait_free(r2, true);
    engine_free(e);
}

/* max_tokens > 0: the prompt's logprobs first, then exactly the tokens a GENERATE request produces. */
static void test_score_then_generate(void **state) {
    (void)state;
    engine_t *e = make_engine(2, 0, 8, 0);
    int32_t ids[64];
    size_t n = tokenize(e, "Once upon a time", ids, 64);
    score_t *g = sc_new(), *s = sc_new();
    sc_submit(e, ENGINE_REQ_GENERATE, ids, n, 24, g);
    sc_wait_free(g, false);
    sc_submit(e, ENGINE_REQ_SCORE, ids, n, 24, s);
    sc_wait_free(s, false);
    assert_int_equal(s->n_lp, (int)n - 1);
    assert_false(s->token_before_lp);
    assert_int_equal(s->n_gen, g->n_gen);
    assert_memory_equal(s->gen, g->gen, (size_t)g->n_gen * sizeof(int32_t));
    assert_int_equal(s->finish, g->finish);
    check_against_forward(e, ids, n, 64, SC_TOL_SAME, s);
    sc_wait_free(g, true);
    sc_wait_free(s, true);
    engine_free(e);
}

/* A one-token prompt has nothing to score: END at once, no events; max_tokens < 0 is refused. */
static void test_score_one_token(void **state) {
    (void)state;
    engine_t *e = make_engine(2, 0, 8, 0);
    int32_t one[1] = {1};
    score_t *r = sc_new();
    sc_submit(e, ENGINE_REQ_SCORE, one, 1, 0, r);
    sc_wait_free(r, false);
    assert_int_equal(r->n_lp, 0);
    assert_int_equal(r->n_gen, 0);
    assert_int_equal(r->finish, ENGINE_FINISH_LENGTH);
    sc_wait_free(r, true);
    engine_req_t req = {0};
    req.kind = ENGINE_REQ_SCORE;
    req.prompt = one;
    req.n_prompt = 1;
    req.max_tokens = -1;
    req.sampling = sampler_default_params();
    req.on_event = sc_event;
    uint64_t id;
    char err[128];
    assert_int_equal(engine_submit(e, &req, &id, err, sizeof err), ERR_INVAL);
    engine_free(e);
}

/* n_cached: a repeated long prompt is served from the prefix cache (whole blocks, not the last token) and END says
 * how much; the first run and a scored prompt report 0. */
static void test_n_cached(void **state) {
    (void)state;
    engine_t *e = make_engine(2, 0, 8, 0);
    int32_t ids[SC_MAX];
    size_t n = long_prompt(e, ids, SC_MAX);
    score_t *a = sc_new(), *b = sc_new(), *c = sc_new();
    sc_submit(e, ENGINE_REQ_GENERATE, ids, n, 4, a);
    sc_wait_free(a, false);
    sc_submit(e, ENGINE_REQ_GENERATE, ids, n, 4, b);
    sc_wait_free(b, false);
    sc_submit(e, ENGINE_REQ_SCORE, ids, n, 0, c);
    sc_wait_free(c, false);
    assert_int_equal(a->n_cached, 0);
    assert_int_equal(b->n_cached, (int32_t)((n - 1) / 16 * 16));
    assert_true(b->n_cached > 0);
    assert_int_equal(c->n_cached, 0);
    assert_int_equal(c->n_lp, (int)n - 1);
    engine_stats_t st = wait_idle(e); /* a scored prompt gives its blocks back like any request */
    assert_int_equal(st.kv_blocks_used, 0);
    sc_wait_free(a, true);
    sc_wait_free(b, true);
    sc_wait_free(c, true);
    engine_free(e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_score_equals_forward), cmocka_unit_test(test_score_batched),
        cmocka_unit_test(test_score_then_generate),  cmocka_unit_test(test_score_one_token),
        cmocka_unit_test(test_n_cached),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
