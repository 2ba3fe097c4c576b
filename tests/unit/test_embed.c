/*
 * test_embed.c — embedding models: the bert and nomic-bert encoders and a decoder pooled at its last token, against
 * llama.cpp's llama-embedding (tests/embed/reference.json, made by tests/embed/make_reference.py from the emb-*
 * models scripts/synth-models.sh writes to build/synth/): every input's cosine with llama.cpp's vector is at least
 * 0.99999 for F32 files and 0.999 for F16 and Q8_0 ones, alone and in a batch of mixed lengths. Also: 64 short
 * inputs take a few engine steps, not 64, and equal their embeddings alone; the pooling read from the file; the
 * errors (an input longer than the context, a completion asked of an embedding model, an embedding asked of a
 * completion model); engine_event_copy; and mutated encoder files, which load cleanly or fail with one line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "err.h"
#include "model.h"
#include "mutate_file.h"

#define SYNTH TEST_REPO_DIR "/build/synth/"
#define REFERENCE TEST_REPO_DIR "/tests/embed/reference.json"
#define MAX_EMBD 1024

/* One request's events. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    engine_finish_t finish;
    int err;
    int n_embeddings; /* EMBEDDING events seen (exactly one before END) */
    int n_other;      /* TOKEN or other events (none) */
    float embd[MAX_EMBD];
    int32_t n_embd;
    int32_t n_prompt;
} emb_result_t;

static void emb_on_event(void *user, const engine_event_t *ev) {
    emb_result_t *r = user;
    pthread_mutex_lock(&r->mu);
    if (ev->type == ENGINE_EV_EMBEDDING) {
        r->n_embeddings++;
        r->n_embd = ev->n_embedding;
        if (ev->n_embedding <= MAX_EMBD) memcpy(r->embd, ev->embedding, (size_t)ev->n_embedding * sizeof(float));
    } else if (ev->type == ENGINE_EV_END) {
        r->done = true;
        r->finish = ev->finish;
        r->err = ev->err;
        r->n_prompt = ev->n_prompt;
        pthread_cond_signal(&r->cv);
    } else {
        r->n_other++;
    }
    pthread_mutex_unlock(&r->mu);
}

static void emb_init(emb_result_t *r) {
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
}

static void emb_wait(emb_result_t *r) {
    pthread_mutex_lock(&r->mu);
    while (!r->done) pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
}

static void emb_destroy(emb_result_t *r) {
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
}

static engine_t *emb_engine(const char *path, int32_t n_ctx, int32_t n_parallel, int32_t max_queue) {
    engine_params_t p = engine_default_params();
    p.model_path = path;
    p.n_threads = 2;
    p.n_ctx = n_ctx;
    p.n_parallel = n_parallel;
    p.max_queue = max_queue;
    engine_t *e = NULL;
    char err[256] = "";
    if (engine_create(&p, &e, err, sizeof err)) fail_msg("engine_create %s: %s", path, err);
    return e;
}

static engine_req_t embed_req(const int32_t *ids, size_t n, emb_result_t *r) {
    engine_req_t req = {0};
    req.kind = ENGINE_REQ_EMBED;
    req.prompt = ids;
    req.n_prompt = n;
    req.on_event = emb_on_event;
    req.user = r;
    return req;
}

static void submit_embed(engine_t *e, const int32_t *ids, size_t n, emb_result_t *r) {
    engine_req_t req = embed_req(ids, n, r);
    uint64_t id;
    char err[256] = "";
    if (engine_submit(e, &req, &id, err, sizeof err)) fail_msg("engine_submit: %s", err);
}

static size_t tokenize(engine_t *e, const char *text, int32_t *ids, size_t cap) {
    size_t n = 0;
    assert_int_equal(tok_encode(model_tok(engine_model(e)), text, strlen(text), TOK_ADD_SPECIAL, ids, cap, &n), 0);
    return n;
}

static double cosine(const float *a, const float *b, int32_t n) {
    double ab = 0, aa = 0, bb = 0;
    for (int32_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0.0;
}

static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s (make synth-models / tests/embed/make_reference.py)", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Checks one result against llama.cpp's vector (a JSON array); returns the cosine. */
static double check_vector(const emb_result_t *r, const cJSON *want, double min_cos, const char *model, int input,
                           const char *how) {
    assert_int_equal(r->finish, ENGINE_FINISH_STOP);
    assert_int_equal(r->n_embeddings, 1);
    assert_int_equal(r->n_other, 0);
    assert_int_equal(r->n_embd, cJSON_GetArraySize(want));
    float ref[MAX_EMBD];
    for (int32_t k = 0; k < r->n_embd; k++) ref[k] = (float)cJSON_GetArrayItem(want, k)->valuedouble;
    double norm = 0;
    for (int32_t k = 0; k < r->n_embd; k++) norm += (double)r->embd[k] * r->embd[k];
    assert_true(fabs(norm - 1.0) < 1e-4); /* unit length, as OpenAI returns */
    double c = cosine(r->embd, ref, r->n_embd);
    if (c < min_cos) fail_msg("%s input %d (%s): cosine %.7f with llama.cpp's, want >= %g", model, input, how, c, min_cos);
    return c;
}

/* Every model of the reference and every input, alone and all together, against llama-embedding's vectors. */
static void test_embed_matches_llama_cpp(void **state) {
    (void)state;
    char *text = read_all(REFERENCE);
    cJSON *ref = cJSON_Parse(text);
    assert_non_null(ref);
    cJSON *inputs = cJSON_GetObjectItem(ref, "inputs"), *entry;
    const int n_in = cJSON_GetArraySize(inputs);
    assert_true(n_in >= 4 && n_in <= 16);
    int n_models = 0;
    cJSON_ArrayForEach(entry, cJSON_GetObjectItem(ref, "models")) {
        const char *name = entry->string;
        const double min_cos = strstr(name, "-f32") ? 0.99999 : 0.999;
        char path[512];
        snprintf(path, sizeof path, SYNTH "%s.gguf", name);
        engine_t *e = emb_engine(path, 512, 16, 64);
        int32_t ids[16][512];
        size_t n_ids[16];
        for (int i = 0; i < n_in; i++) n_ids[i] = tokenize(e, cJSON_GetArrayItem(inputs, i)->valuestring, ids[i], 512);
        double worst = 1.0;
        emb_result_t *r = calloc((size_t)n_in, sizeof *r);
        assert_non_null(r);
        for (int i = 0; i < n_in; i++) { /* alone */
            emb_init(&r[i]);
            submit_embed(e, ids[i], n_ids[i], &r[i]);
            emb_wait(&r[i]);
            double c = check_vector(&r[i], cJSON_GetArrayItem(entry, i), min_cos, name, i, "alone");
            if (c < worst) worst = c;
            emb_destroy(&r[i]);
        }
        for (int i = 0; i < n_in; i++) { /* together: one batch of mixed lengths */
            emb_init(&r[i]);
            submit_embed(e, ids[i], n_ids[i], &r[i]);
        }
        for (int i = 0; i < n_in; i++) {
            emb_wait(&r[i]);
            assert_int_equal(r[i].n_prompt, (int32_t)n_ids[i]);
            double c = check_vector(&r[i], cJSON_GetArrayItem(entry, i), min_cos, name, i, "in a batch");
            if (c < worst) worst = c;
            emb_destroy(&r[i]);
        }
        print_message("%-18s worst cosine with llama.cpp %.7f over %d inputs\n", name, worst, n_in);
        free(r);
        engine_free(e);
        n_models++;
    }
    assert_int_equal(n_models, 10);
    cJSON_Delete(ref);
    free(text);
}

/* 64 short inputs submitted at once run in a few forward passes (at most n_parallel per pass; the default for an
 * embedding model takes them all in one or two), each equal to its embedding computed alone; the cache is empty
 * afterwards (embeddings keep no blocks). */
static void embed_batched_steps(int32_t n_parallel, uint64_t min_steps, uint64_t max_steps) {
    engine_t *e = emb_engine(SYNTH "emb-bert-f32.gguf", 512, n_parallel, 64);
    assert_int_equal(engine_n_parallel(e), n_parallel ? n_parallel : ENGINE_EMBED_PARALLEL);
    assert_int_equal(engine_n_batch(e), ENGINE_EMBED_BATCH);
    enum { N = 64 };
    static int32_t ids[N][32];
    size_t n_ids[N];
    static const char *const words[] = {"red", "green", "blue", "cats", "dogs", "rain", "snow", "sun"};
    for (int i = 0; i < N; i++) {
        char text[128];
        snprintf(text, sizeof text, "%s %s and %s", words[i % 8], words[(i / 8) % 8], words[(i * 3 + 1) % 8]);
        n_ids[i] = tokenize(e, text, ids[i], 32);
    }
    static emb_result_t alone[N], together[N];
    for (int i = 0; i < 8; i++) { /* a few alone, for the comparison */
        emb_init(&alone[i]);
        submit_embed(e, ids[i], n_ids[i], &alone[i]);
        emb_wait(&alone[i]);
    }
    engine_stats_t before, after;
    engine_stats(e, &before);
    for (int i = 0; i < N; i++) {
        emb_init(&together[i]);
        submit_embed(e, ids[i], n_ids[i], &together[i]);
    }
    for (int i = 0; i < N; i++) {
        emb_wait(&together[i]);
        assert_int_equal(together[i].finish, ENGINE_FINISH_STOP);
        assert_int_equal(together[i].n_embeddings, 1);
    }
    engine_stats(e, &after);
    const uint64_t steps = after.n_steps - before.n_steps;
    print_message("64 embeddings in %llu forward passes with %d slots\n", (unsigned long long)steps,
                  engine_n_parallel(e));
    assert_true(steps >= min_steps && steps <= max_steps);
    for (int i = 0; i < 8; i++) {
        double c = cosine(alone[i].embd, together[i].embd, alone[i].n_embd);
        if (c < 0.999999) fail_msg("input %d: cosine %.8f between its embedding alone and in the batch", i, c);
    }
    for (int tries = 0; tries < 200 && (after.kv_blocks_used || after.running); tries++) {
        usleep(10000);
        engine_stats(e, &after);
    }
    assert_int_equal(after.kv_blocks_used, 0);
    assert_int_equal(after.kv_blocks_cached, 0); /* nothing entered the prefix cache */
    for (int i = 0; i < N; i++) emb_destroy(&together[i]);
    for (int i = 0; i < 8; i++) emb_destroy(&alone[i]);
    engine_free(e);
}

/* With 16 slots: 16 inputs per pass at most. */
static void test_embed_batched_steps(void **state) {
    (void)state;
    embed_batched_steps(16, 4, 8);
}

/* With the default slots (ENGINE_EMBED_PARALLEL) and batch: all 64 in one pass, or two or three when the engine
   started passes before the last ones arrived. */
static void test_embed_default_one_pass(void **state) {
    (void)state;
    embed_batched_steps(0, 1, 3);
}

/* A context-long input among short ones: it runs (it is never overtaken for good by younger short inputs) and
 * equals its embedding computed alone; so do the short ones. */
static void test_embed_long_among_short(void **state) {
    (void)state;
    engine_t *e = emb_engine(SYNTH "emb-nomic-f32.gguf", 512, 8, 64);
    static int32_t longer[512], shorter[16][6];
    longer[0] = 101;
    for (int i = 1; i < 511; i++) longer[i] = 1000 + (i * 37) % 20000;
    longer[511] = 102;
    for (int k = 0; k < 16; k++) {
        int32_t s[6] = {101, 2000 + k, 3000 + k, 4000 + k, 5000 + k, 102};
        memcpy(shorter[k], s, sizeof s);
    }
    static emb_result_t alone_long, alone_short, r_long, r_short[16];
    emb_init(&alone_long);
    submit_embed(e, longer, 512, &alone_long);
    emb_wait(&alone_long);
    emb_init(&alone_short);
    submit_embed(e, shorter[9], 6, &alone_short);
    emb_wait(&alone_short);
    for (int k = 0; k < 16; k++) {
        emb_init(&r_short[k]);
        if (k == 4) {
            emb_init(&r_long);
            submit_embed(e, longer, 512, &r_long);
        }
        submit_embed(e, shorter[k], 6, &r_short[k]);
    }
    emb_wait(&r_long);
    for (int k = 0; k < 16; k++) emb_wait(&r_short[k]);
    assert_int_equal(r_long.finish, ENGINE_FINISH_STOP);
    assert_int_equal(r_long.n_prompt, 512);
    double c = cosine(alone_long.embd, r_long.embd, r_long.n_embd);
    if (c < 0.999999) fail_msg("the long input's embedding among short ones: cosine %.8f with it alone", c);
    c = cosine(alone_short.embd, r_short[9].embd, r_short[9].n_embd);
    if (c < 0.999999) fail_msg("a short input's embedding beside the long one: cosine %.8f with it alone", c);
    for (int k = 0; k < 16; k++) emb_destroy(&r_short[k]);
    emb_destroy(&r_long);
    emb_destroy(&alone_long);
    emb_destroy(&alone_short);
    engine_free(e);
}

/* Pooling and attention read from the files; `info`'s description names them. */
static void test_embed_hparams(void **state) {
    (void)state;
    static const struct {
        const char *path;
        model_pool_t pool;
        bool causal;
        const char *describe;
    } cases[] = {
        {SYNTH "emb-bert-f32.gguf", MODEL_POOL_MEAN, false, "embeddings: mean pooling, bidirectional attention"},
        {SYNTH "emb-bert-cls-f32.gguf", MODEL_POOL_CLS, false, "embeddings: cls pooling"},
        {SYNTH "emb-nomic-q8_0.gguf", MODEL_POOL_MEAN, false, "nomic-bert (features: fused-qkv, encoder"},
        {SYNTH "emb-qwen3-f16.gguf", MODEL_POOL_LAST, true, "embeddings: last pooling, causal attention"},
        {TEST_SHARED_DIR "/models/stories260K.gguf", MODEL_POOL_NONE, true, "llama (features"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        model_t *m = NULL;
        char err[256] = "", desc[512];
        if (model_load(cases[i].path, &m, err, sizeof err)) fail_msg("%s", err);
        assert_int_equal(model_hparams(m)->pooling, cases[i].pool);
        assert_int_equal(model_hparams(m)->causal, cases[i].causal);
        model_describe(m, desc, sizeof desc);
        if (!strstr(desc, cases[i].describe)) fail_msg("describe: %s", desc);
        if (cases[i].pool == MODEL_POOL_NONE) assert_null(strstr(desc, "pooling"));
        model_free(m);
    }
    assert_string_equal(model_pool_name(MODEL_POOL_CLS), "cls");

    /* a bert file without weights (the vocabulary alone): refused with one line naming a missing tensor */
    model_t *m = NULL;
    char err[256] = "";
    assert_int_equal(model_load(TEST_SHARED_DIR "/models/vocab/ggml-vocab-bert-bge.gguf", &m, err, sizeof err),
                     ERR_FORMAT);
    assert_null(m);
    assert_non_null(strstr(err, "missing tensor"));
    assert_null(strchr(err, '\n'));
}

/* The errors of embedding requests: each refused at submit with its own code and a message. */
static void test_embed_errors(void **state) {
    (void)state;
    engine_t *e = emb_engine(SYNTH "emb-bert-f32.gguf", 64, 4, 8);
    assert_int_equal(engine_n_ctx(e), 64);
    int32_t ids[80];
    for (int i = 0; i < 80; i++) ids[i] = 2000 + i;
    emb_result_t r;
    emb_init(&r);
    uint64_t id;
    char err[256] = "";
    engine_req_t req = embed_req(ids, 65, &r); /* one token past the context */
    assert_int_equal(engine_submit(e, &req, &id, err, sizeof err), ERR_CONTEXT);
    assert_non_null(strstr(err, "maximum context length is 64 tokens"));
    req.n_prompt = 64; /* exactly the context: one pass */
    assert_int_equal(engine_submit(e, &req, &id, err, sizeof err), 0);
    emb_wait(&r);
    assert_int_equal(r.finish, ENGINE_FINISH_STOP);
    assert_int_equal(r.n_embeddings, 1);
    req.max_tokens = 4;
    assert_int_equal(engine_submit(e, &req, &id, err, sizeof err), ERR_INVAL);
    req.max_tokens = 0;
    ids[3] = 1 << 20;
    assert_int_equal(engine_submit(e, &req, &id, err, sizeof err), ERR_INVAL);
    ids[3] = 2003;
    req.kind = ENGINE_REQ_GENERATE; /* a completion of an embedding model */
    req.max_tokens = 4;
    req.sampling = sampler_default_params();
    err[0] = '\0';
    assert_int_equal(engine_submit(e, &req, &id, err, sizeof err), ERR_INVAL);
    assert_non_null(strstr(err, "embedding model"));
    engine_free(e);

    e = emb_engine(TEST_SHARED_DIR "/models/stories260K.gguf", 128, 2, 4); /* an embedding of a completion model */
    req = embed_req(ids, 4, &r);
    for (int i = 0; i < 4; i++) ids[i] = 1 + i;
    err[0] = '\0';
    assert_int_equal(engine_submit(e, &req, &id, err, sizeof err), ERR_INVAL);
    assert_non_null(strstr(err, "makes no embeddings"));
    engine_free(e);
    emb_destroy(&r);
}

/* engine_event_copy: a deep copy that outlives the original, sized by engine_event_size; too small a buffer is
 * NULL. */
static void test_event_copy(void **state) {
    (void)state;
    float v[5] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f};
    engine_event_t ev = {.type = ENGINE_EV_EMBEDDING, .id = 7, .embedding = v, .n_embedding = 5};
    size_t n = engine_event_size(&ev);
    assert_int_equal(n, sizeof ev + sizeof v);
    max_align_t buf[64];
    engine_event_t *c = engine_event_copy(&ev, buf, n);
    assert_non_null(c);
    v[0] = 9.0f; /* the copy does not see later changes */
    assert_true(c->embedding != v && c->embedding[0] == 0.1f && c->embedding[4] == 0.5f);
    assert_int_equal(c->n_embedding, 5);
    assert_int_equal(c->id, 7);
    assert_null(engine_event_copy(&ev, buf, n - 1));

    char text[3] = {'h', 'i', '!'};
    int32_t top_ids[2] = {3, 4};
    float top_lp[2] = {-0.5f, -1.5f};
    engine_event_t tok = {.type = ENGINE_EV_TOKEN, .token = 3, .text = text, .text_len = 3, .n_top = 2,
                          .top_ids = top_ids, .top_logprobs = top_lp, .err_msg = "boom"};
    n = engine_event_size(&tok);
    assert_int_equal(n, sizeof tok + 2 * sizeof(int32_t) + 2 * sizeof(float) + 3 + 5);
    c = engine_event_copy(&tok, buf, sizeof buf);
    assert_non_null(c);
    text[0] = 'X';
    top_ids[0] = 99;
    assert_memory_equal(c->text, "hi!", 3);
    assert_int_equal(c->text_len, 3);
    assert_int_equal(c->top_ids[0], 3);
    assert_true(c->top_logprobs[1] == -1.5f);
    assert_string_equal(c->err_msg, "boom");
    assert_null(c->embedding);

    engine_event_t end = {.type = ENGINE_EV_END, .finish = ENGINE_FINISH_STOP};
    assert_int_equal(engine_event_size(&end), sizeof end);
    c = engine_event_copy(&end, buf, sizeof end);
    assert_non_null(c);
    assert_non_null(c->text); /* a copy's text is never NULL */
    assert_int_equal(c->text_len, 0);
    assert_null(c->err_msg);
}

/*
 * The encoders' loader on malformed metadata: in tiny bert and nomic-bert files, bytes of the architecture's keys
 * and of the tensor infos (dimensions, types, offsets; the encoder-only tensors included) are mutated, a few at a
 * time. Each load must fail with one line, or succeed and then embed an input (under ASan/UBSan in `make test`).
 */
/* mf_mutate_loads' callback: a mutated encoder loads with one line of error or embeds an input. */
static bool embed__load_and_run(const char *path) {
    char err[512] = "";
    model_t *m = NULL;
    if (model_load(path, &m, err, sizeof err) != 0) {
        assert_null(m);
        assert_true(err[0] != '\0' && !strchr(err, '\n'));
        return false;
    }
    const model_hparams_t *hp = model_hparams(m);
    model_ctx_t *c = NULL;
    if (hp->pooling != MODEL_POOL_NONE && model_ctx_create(m, 1, 8, 32, &c) == 0) {
        kv_params_t kp = model_kv_params(m, 16, 2);
        kv_cache_t *kv = NULL;
        float *embd = malloc((size_t)hp->n_embd * sizeof(float));
        assert_non_null(embd);
        if (kv_create(&kp, &kv) == 0) {
            kv_seq_t seq = {0};
            int32_t ids[4] = {1, 2, 3, 4};
            if (kv_seq_reserve(kv, &seq, 4) == 0) {
                model_batch_seq_t bs = {.kv = &seq, .tokens = ids, .n = 4, .embd = embd};
                model_forward_batch(c, kv, &bs, 1, NULL);
            }
            kv_seq_release(kv, &seq);
            kv_free(kv);
        }
        free(embd);
        model_ctx_free(c);
    }
    model_free(m);
    return true;
}

static void test_mutated_encoders(void **state) {
    (void)state;
    static const char *const tiny[][2] = {{"tiny-bert", "bert."}, {"tiny-nomic", "nomic-bert."}};
    char tmp[] = "/tmp/cinder-embed-XXXXXX";
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    close(fd);
    uint64_t seed = 0x13198A2E03707344ull;
    for (size_t a = 0; a < sizeof tiny / sizeof tiny[0]; a++) {
        char path[512];
        snprintf(path, sizeof path, SYNTH "%s.gguf", tiny[a][0]);
        const char *needles[] = {tiny[a][1],          "blk.",           "token_embd.weight", "token_types.weight",
                                 "position_embd.weight", "token_embd_norm.", "_output_norm."};
        int n_ok = 0, n_err = 0;
        mf_mutate_loads(path, needles, 7, &seed, 150, tmp, embed__load_and_run, &n_ok, &n_err);
        print_message("%s: %d mutated files refused, %d loaded\n", tiny[a][0], n_err, n_ok);
        assert_true(n_err > 0);
    }
    unlink(tmp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_copy),
        cmocka_unit_test(test_embed_hparams),
        cmocka_unit_test(test_embed_errors),
        cmocka_unit_test(test_embed_batched_steps),
        cmocka_unit_test(test_embed_default_one_pass),
        cmocka_unit_test(test_embed_long_among_short),
        cmocka_unit_test(test_embed_matches_llama_cpp),
        cmocka_unit_test(test_mutated_encoders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
