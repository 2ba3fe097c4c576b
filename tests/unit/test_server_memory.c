/*
 * test_server_memory.c — the startup memory check (server/memory.c): MemAvailable parsing, and the estimate of a
 * model's KV pool against what engine_create really allocates for the same parameters (engine_stats reports the
 * pool's blocks), for the default sizing, an explicit kv_tokens and a context below the model's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "engine.h"
#include "err.h"
#include "server.h"

#define MODEL TEST_SHARED_DIR "/models/stories260K.gguf"

static void test_meminfo(void **state) {
    uint64_t b = 0;
    assert_int_equal(server_parse_meminfo("MemTotal:       16318540 kB\nMemFree:          512000 kB\n"
                                          "MemAvailable:    8000000 kB\nBuffers:  1 kB\n",
                                          &b),
                     0);
    assert_true(b == 8000000ull * 1024);
    assert_int_equal(server_parse_meminfo("MemTotal: 1 kB\n", &b), ERR_NOTFOUND);
    assert_int_equal(server_parse_meminfo("", &b), ERR_NOTFOUND);
}

/* The estimate equals the pool the engine allocates. */
static void check_against_engine(int32_t n_ctx, int64_t kv_tokens) {
    server_model_t m = {.id = "m", .engine = engine_default_params()};
    m.engine.model_path = MODEL;
    m.engine.n_ctx = n_ctx;
    m.engine.kv_tokens = kv_tokens;
    m.engine.n_threads = 1;
    m.engine.n_parallel = 2;
    server_mem_t est;
    char err[256];
    assert_int_equal(server_memory_estimate(&m, &est, err, sizeof err), 0);
    struct stat st;
    assert_int_equal(stat(MODEL, &st), 0);
    assert_true(est.weights_bytes == (uint64_t)st.st_size);

    engine_t *e = NULL;
    assert_int_equal(engine_create(&m.engine, &e, err, sizeof err), 0);
    engine_stats_t s;
    engine_stats(e, &s);
    const model_hparams_t *hp = model_hparams(engine_model(e));
    uint64_t per_token = (uint64_t)hp->n_layer * 2 * (uint64_t)hp->n_head_kv * (uint64_t)hp->head_dim * 2;
    assert_int_equal(est.kv_tokens, (int64_t)s.kv_blocks_total * s.kv_block_tokens);
    assert_true(est.kv_bytes == (uint64_t)est.kv_tokens * per_token);
    assert_int_equal(est.n_ctx, engine_n_ctx(e));
    engine_free(e);
}

static void test_estimate(void **state) {
    check_against_engine(0, 0);    /* the model's context, 256 MiB clamped to 16 contexts */
    check_against_engine(100, 0);  /* a smaller context */
    check_against_engine(0, 1000); /* an explicit pool, rounded up to whole blocks */
    check_against_engine(0, 40);   /* a pool smaller than a context caps the context */

    server_model_t m = {.id = "x", .engine = engine_default_params()};
    m.engine.model_path = TEST_SHARED_DIR "/models/does-not-exist.gguf";
    server_mem_t est;
    char err[256];
    assert_int_equal(server_memory_estimate(&m, &est, err, sizeof err), ERR_IO);
    assert_non_null(strstr(err, "does-not-exist.gguf"));
}

/* A pool far beyond any machine's memory fails the check with a line naming the model. */
static void test_check(void **state) {
    server_model_t m[2] = {{.id = "small", .engine = engine_default_params()},
                           {.id = "huge", .engine = engine_default_params()}};
    m[0].engine.model_path = m[1].engine.model_path = MODEL;
    m[1].engine.kv_tokens = 1ll << 32;
    char err[512];
    assert_int_equal(server_memory_check(m, 1, err, sizeof err), 0);
    assert_int_equal(server_memory_check(m, 2, err, sizeof err), ERR_NOMEM);
    assert_non_null(strstr(err, "small "));
    assert_non_null(strstr(err, "huge "));
    assert_non_null(strstr(err, "--no-memory-check"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_meminfo),
        cmocka_unit_test(test_estimate),
        cmocka_unit_test(test_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
