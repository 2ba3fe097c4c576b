/*
 * test_engine.c — the scheduler on a real model (stories260K, F32): greedy output of a request is the same alone
 * and among 15 others, equals llama.cpp's reference, survives prefix-cache hits and preemption under a tiny KV
 * pool; cancellation returns blocks; a paused sequence keeps its blocks and resumes exactly; the queue limit and
 * context checks hold; a model whose logits overflow ends every request with ERR_NUMERIC instead of text.
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
#include "engine_fixture.h"
#include "err.h"
#include "model_patch.h"
#include "schema_check.h"

#define MODEL TEST_SHARED_DIR "/models/stories260K.gguf"

/* 16 greedy requests at once give exactly the tokens each gives alone. */
static void test_batch_invariance(void **state) {
    (void)state;
    enum { N = 16, MAXT = 48 };
    engine_t *e = make_engine(16, 0, 64, 64); /* a small step budget so prompts are chunked among decodes */
    assert_int_equal(check_together_equals_alone(e, N, MAXT), 0); /* no near-ties on this model: exact */
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
    assert_int_equal(check_together_equals_alone(e, N, MAXT), 0); /* no near-ties on this model: exact */
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

/* Tokens delivered so far (the callback runs on the engine thread). */
static int n_tokens_now(result_t *r) {
    pthread_mutex_lock(&r->mu);
    int n = r->n_tokens;
    pthread_mutex_unlock(&r->mu);
    return n;
}

/* engine_pause: a paused sequence keeps its slot and blocks and makes no progress while another runs to its end;
 * resumed, it continues exactly (greedy output equals an unpaused run). */
static void test_pause_resume_exact(void **state) {
    (void)state;
    enum { MAXT_A = 120, MAXT_B = 32 };
    result_t alone_a, alone_b, a, b;
    run_alone(prompts[0], MAXT_A, &alone_a);
    run_alone(prompts[1], MAXT_B, &alone_b);
    engine_t *e = make_engine(2, 0, 8, 0);
    int32_t ids_a[256], ids_b[256];
    size_t na = tokenize(e, prompts[0], ids_a, 256), nb = tokenize(e, prompts[1], ids_b, 256);
    result_init(&a);
    result_init(&b);
    uint64_t id_a = submit(e, ids_a, na, MAXT_A, 0.0f, 0, &a);
    for (int i = 0; i < 2000 && n_tokens_now(&a) < 5; i++) usleep(1000);
    assert_int_equal(engine_pause(e, id_a, true), 0);
    usleep(20000); /* a step already running when the pause landed may still deliver its token */
    int n_paused = n_tokens_now(&a);
    assert_true(n_paused >= 5 && n_paused < MAXT_A);
    submit(e, ids_b, nb, MAXT_B, 0.0f, 0, &b);
    result_wait(&b); /* the other sequence runs to its end meanwhile */
    usleep(20000);
    assert_int_equal(n_tokens_now(&a), n_paused); /* no progress while paused */
    engine_stats_t st;
    engine_stats(e, &st);
    assert_int_equal(st.running, 1);
    assert_true(st.kv_blocks_used >= (int32_t)((na + (size_t)n_paused) / 16)); /* its blocks are kept */
    assert_int_equal(st.n_preempted, 0);
    assert_int_equal(engine_pause(e, id_a, false), 0);
    result_wait(&a);
    assert_int_equal(a.n_tokens, alone_a.n_tokens);
    assert_memory_equal(a.tokens, alone_a.tokens, (size_t)a.n_tokens * sizeof(int32_t));
    assert_int_equal(a.finish, alone_a.finish);
    assert_int_equal(b.n_tokens, alone_b.n_tokens);
    assert_memory_equal(b.tokens, alone_b.tokens, (size_t)b.n_tokens * sizeof(int32_t));
    assert_int_equal(engine_pause(e, id_a, true), ERR_NOTFOUND); /* ended */
    /* a paused request can still be cancelled */
    result_t c;
    result_init(&c);
    uint64_t id_c = submit(e, ids_a, na, MAXT_A, 0.0f, 0, &c);
    assert_int_equal(engine_pause(e, id_c, true), 0);
    assert_int_equal(engine_cancel(e, id_c), 0);
    result_wait(&c);
    assert_int_equal(c.finish, ENGINE_FINISH_CANCELLED);
    st = wait_idle(e);
    assert_int_equal(st.kv_blocks_used, 0);
    result_destroy(&a);
    result_destroy(&b);
    result_destroy(&c);
    result_destroy(&alone_a);
    result_destroy(&alone_b);
    engine_free(e);
}

/* A paused queued request does not hold up those behind it: with one slot, the one queued after it starts
 * first; resumed, it runs to its exact greedy output. */
static void test_paused_queued_passed_over(void **state) {
    (void)state;
    result_t alone_b, a, b, c;
    run_alone(prompts[2], 40, &alone_b);
    engine_t *e = make_engine(1, 0, 8, 0);
    int32_t ids[256];
    size_t n = tokenize(e, prompts[0], ids, 256);
    int32_t ids_b[256];
    size_t nb = tokenize(e, prompts[2], ids_b, 256);
    result_init(&a);
    result_init(&b);
    result_init(&c);
    uint64_t id_a = submit(e, ids, n, 400, 1.0f, 1, &a); /* holds the only slot */
    for (int i = 0; i < 2000 && n_tokens_now(&a) < 1; i++) usleep(1000);
    uint64_t id_b = submit(e, ids_b, nb, 40, 0.0f, 0, &b);
    assert_int_equal(engine_pause(e, id_b, true), 0); /* queued, paused */
    submit(e, ids, n, 20, 0.0f, 0, &c);
    assert_int_equal(engine_cancel(e, id_a), 0);
    bool c_done = false; /* C goes past the paused B (bounded: a regression fails rather than hangs) */
    for (int i = 0; i < 5000 && !c_done; i++) {
        pthread_mutex_lock(&c.mu);
        c_done = c.done;
        pthread_mutex_unlock(&c.mu);
        if (!c_done) usleep(1000);
    }
    assert_true(c_done);
    usleep(20000);
    assert_int_equal(n_tokens_now(&b), 0);
    assert_int_equal(engine_pause(e, id_b, false), 0);
    result_wait(&b);
    assert_int_equal(b.n_tokens, alone_b.n_tokens);
    assert_memory_equal(b.tokens, alone_b.tokens, (size_t)b.n_tokens * sizeof(int32_t));
    result_wait(&a);
    engine_stats_t st = wait_idle(e);
    assert_int_equal(st.kv_blocks_used, 0);
    assert_int_equal(st.queued, 0);
    result_destroy(&a);
    result_destroy(&b);
    result_destroy(&c);
    result_destroy(&alone_b);
    engine_free(e);
}

/* Limits: the queue fills (ERR_FULL), prompts that can never fit are refused (ERR_CONTEXT), bad fields. */
/* A generating model's defaults: 16 sequences at once, passes of 512 tokens (an embedding model's are in
   test_embed). */
static void test_default_slots(void **state) {
    (void)state;
    engine_t *e = make_engine(0, 0, 2, 0);
    assert_int_equal(engine_n_parallel(e), 16);
    assert_int_equal(engine_n_batch(e), 512);
    engine_free(e);
}

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


/* A request with a grammar: whatever the weights (stories260K knows no JSON), greedy and sampled outputs parse and
 * validate against the schema and end as "stop"; a seed gives the same tokens with the grammar's mask cache cold or
 * warm; max_tokens inside the document ends as "length"; a constrained request does not change the output of an
 * unconstrained one beside it. */
static void test_grammar_output(void **state) {
    (void)state;
    static const char schema_text[] =
        "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":12},"
        "\"age\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":120},\"tags\":{\"type\":\"array\","
        "\"items\":{\"enum\":[\"cat\",\"dog\"]},\"maxItems\":3}},\"required\":[\"name\",\"age\",\"tags\"],"
        "\"additionalProperties\":false}";
    char err[256] = "";
    gram_t *g = NULL;
    assert_int_equal(gram_from_schema(schema_text, strlen(schema_text), NULL, &g, err, sizeof err), 0);
    cJSON *schema = cJSON_Parse(schema_text);
    engine_t *e = make_engine(4, 0, 16, 0);
    int32_t ids[64];
    size_t n = tokenize(e, "Once upon a time", ids, 64);
    static int32_t seeded[MAX_OUT];
    int n_seeded = 0;
    gram_t *cold = NULL; /* the same schema compiled again: its mask cache is empty */
    assert_int_equal(gram_from_schema(schema_text, strlen(schema_text), NULL, &cold, err, sizeof err), 0);
    for (int k = 0; k < 8; k++) { /* greedy, five sampled runs, then seed 3 again on a cold and on a warm cache */
        result_t r;
        result_init(&r);
        engine_req_t req = {.prompt = ids, .n_prompt = n, .max_tokens = 500, .grammar = k == 6 ? cold : g,
                            .on_event = on_event, .user = &r};
        req.sampling = sampler_default_params();
        req.sampling.temperature = k == 0 ? 0.0f : 1.0f;
        req.sampling.seed = k >= 6 ? 3u : (uint64_t)k;
        uint64_t id;
        assert_int_equal(engine_submit(e, &req, &id, err, sizeof err), 0);
        result_wait(&r);
        r.text[r.n_text] = '\0';
        if (r.finish != ENGINE_FINISH_STOP) {
            for (int t = 0; t < r.n_tokens && t < 40; t++) print_message("%d ", r.tokens[t]);
            fail_msg("run %d ended %d after %d tokens, %zu bytes: '%s'", k, (int)r.finish, r.n_tokens, r.n_text, r.text);
        }
        cJSON *doc = cJSON_Parse(r.text);
        if (!doc || !sc_valid(schema, schema, doc)) fail_msg("run %d: '%s' does not validate", k, r.text);
        cJSON_Delete(doc);
        if (k == 3) memcpy(seeded, r.tokens, (size_t)(n_seeded = r.n_tokens) * sizeof *seeded);
        if (k >= 6) { /* a seed's tokens do not depend on what earlier requests left in the grammar's cache */
            assert_int_equal(r.n_tokens, n_seeded);
            assert_memory_equal(r.tokens, seeded, (size_t)n_seeded * sizeof *seeded);
        }
        result_destroy(&r);
    }
    gram_free(cold);
    /* cut short inside the document */
    result_t cut;
    result_init(&cut);
    engine_req_t req = {.prompt = ids, .n_prompt = n, .max_tokens = 4, .grammar = g, .on_event = on_event, .user = &cut};
    req.sampling = sampler_default_params();
    req.sampling.temperature = 0.0f;
    uint64_t id;
    assert_int_equal(engine_submit(e, &req, &id, err, sizeof err), 0);
    result_wait(&cut);
    assert_int_equal(cut.finish, ENGINE_FINISH_LENGTH);
    result_destroy(&cut);
    /* beside an unconstrained request: that one's tokens are its tokens alone */
    result_t alone, free_run, constrained;
    run_alone("Once upon a time", 40, &alone);
    result_init(&free_run);
    result_init(&constrained);
    req = (engine_req_t){.prompt = ids, .n_prompt = n, .max_tokens = 40, .grammar = g, .on_event = on_event,
                         .user = &constrained};
    req.sampling = sampler_default_params();
    req.sampling.temperature = 0.0f;
    assert_int_equal(engine_submit(e, &req, &id, err, sizeof err), 0);
    submit(e, ids, n, 40, 0.0f, 0, &free_run);
    result_wait(&constrained);
    result_wait(&free_run);
    assert_int_equal(free_run.n_tokens, alone.n_tokens);
    assert_memory_equal(free_run.tokens, alone.tokens, (size_t)alone.n_tokens * sizeof(int32_t));
    result_destroy(&alone);
    result_destroy(&free_run);
    result_destroy(&constrained);
    engine_free(e);
    gram_free(g); /* the engine held its own references; they are gone with the requests */
    cJSON_Delete(schema);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nonfinite_logits), cmocka_unit_test(test_default_slots),
        cmocka_unit_test(test_reference_text),   cmocka_unit_test(test_batch_invariance),
        cmocka_unit_test(test_prefix_cache_hit), cmocka_unit_test(test_preemption_exact),
        cmocka_unit_test(test_cancel_frees_blocks), cmocka_unit_test(test_limits),
        cmocka_unit_test(test_shutdown_ends_everything), cmocka_unit_test(test_pause_resume_exact),
        cmocka_unit_test(test_paused_queued_passed_over), cmocka_unit_test(test_grammar_output),
    };
    return cmocka_run_group_tests_name("engine", tests, NULL, NULL);
}
