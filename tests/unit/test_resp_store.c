/*
 * test_resp_store.c — api/resp_store: round trip, reopen, pruning by age and by size, per-key visibility (and no
 * key in clear in the file), two writer threads on one file, and a process that dies right after its put
 * returned (fork + _exit, no close): the row is there when the file is opened again.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"
#include "resp_store.h"

typedef struct {
    char dir[64];
    char path[128];
} tmp_t;

static void tmp_new(tmp_t *t) {
    snprintf(t->dir, sizeof t->dir, "/tmp/cinder_store_XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->path, sizeof t->path, "%s/responses.db", t->dir);
}

static void tmp_free(tmp_t *t) {
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
    assert_int_equal(system(cmd), 0);
}

static resp_store_t *open_store(const char *path, int64_t max_age_s, int64_t max_bytes) {
    resp_store_opts_t o = resp_store_default_opts();
    o.max_age_s = max_age_s;
    o.max_bytes = max_bytes;
    resp_store_t *s = NULL;
    char err[256] = "";
    int rc = resp_store_open(path, &o, &s, err, sizeof err);
    if (rc) fprintf(stderr, "open: %s\n", err);
    assert_int_equal(rc, 0);
    return s;
}

static void put(resp_store_t *s, const char *key, const char *id, int64_t t, const char *body, int64_t *pruned) {
    resp_row_t r = {.id = id, .created_at = t, .response = body, .input_items = "[]", .conversation = "[]"};
    char err[256] = "";
    int rc = resp_store_put(s, key, &r, t, pruned, err, sizeof err);
    if (rc) fprintf(stderr, "put: %s\n", err);
    assert_int_equal(rc, 0);
}

static bool has(resp_store_t *s, const char *key, const char *id) {
    char err[256];
    char *resp = NULL;
    int rc = resp_store_get(s, key, id, &resp, NULL, NULL, err, sizeof err);
    free(resp);
    assert_true(rc == 0 || rc == ERR_NOTFOUND);
    return rc == 0;
}

static void test_round_trip_and_reopen(void **state) {
    tmp_t t;
    tmp_new(&t);
    resp_store_t *s = open_store(t.path, 0, 0);
    resp_row_t r = {.id = "resp_1",
                    .created_at = 1000,
                    .response = "{\"id\":\"resp_1\",\"text\":\"h\\u00e9\"}",
                    .input_items = "[{\"id\":\"msg_1\"}]",
                    .conversation = "[{\"role\":\"user\",\"content\":\"hi\"}]"};
    char err[256];
    assert_int_equal(resp_store_put(s, "k1", &r, 1000, NULL, err, sizeof err), 0);
    char wal[160]; /* the commit went to the write-ahead log (WAL mode), not into the database file */
    snprintf(wal, sizeof wal, "%s-wal", t.path);
    assert_int_equal(access(wal, F_OK), 0);
    resp_store_close(s);
    s = open_store(t.path, 0, 0); /* a restart */
    char *a = NULL, *b = NULL, *c = NULL;
    assert_int_equal(resp_store_get(s, "k1", "resp_1", &a, &b, &c, err, sizeof err), 0);
    assert_string_equal(a, r.response);
    assert_string_equal(b, r.input_items);
    assert_string_equal(c, r.conversation);
    free(a), free(b), free(c);
    assert_int_equal(resp_store_get(s, "k1", "resp_2", &a, NULL, NULL, err, sizeof err), ERR_NOTFOUND);
    assert_null(a);
    assert_int_equal(resp_store_delete(s, "k1", "resp_1", err, sizeof err), 0);
    assert_int_equal(resp_store_delete(s, "k1", "resp_1", err, sizeof err), ERR_NOTFOUND);
    assert_false(has(s, "k1", "resp_1"));
    resp_store_close(s);
    tmp_free(&t);
}

static void test_keys(void **state) {
    tmp_t t;
    tmp_new(&t);
    resp_store_t *s = open_store(t.path, 0, 0);
    put(s, "sk-secret-alpha", "resp_a", 10, "{}", NULL);
    put(s, NULL, "resp_open", 10, "{}", NULL);
    assert_true(has(s, "sk-secret-alpha", "resp_a"));
    assert_false(has(s, "sk-secret-beta", "resp_a"));
    assert_false(has(s, NULL, "resp_a"));
    assert_true(has(s, NULL, "resp_open"));
    assert_false(has(s, "sk-secret-alpha", "resp_open"));
    char err[256];
    assert_int_equal(resp_store_delete(s, "sk-secret-beta", "resp_a", err, sizeof err), ERR_NOTFOUND);
    assert_true(has(s, "sk-secret-alpha", "resp_a"));
    resp_store_close(s);
    /* the key is never written in clear: not in the database, not in its WAL */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cat '%s'* | grep -c sk-secret-alpha > /dev/null", t.path);
    assert_int_not_equal(system(cmd), 0);
    tmp_free(&t);
}

static void test_prune_age(void **state) {
    tmp_t t;
    tmp_new(&t);
    resp_store_t *s = open_store(t.path, 100, 0);
    int64_t pruned = -1;
    put(s, "k", "resp_old", 1000, "{}", &pruned);
    assert_int_equal(pruned, 0);
    put(s, "k", "resp_mid", 1050, "{}", &pruned);
    assert_int_equal(pruned, 0);
    put(s, "k", "resp_new", 1120, "{}", &pruned); /* cutoff 1020: resp_old goes */
    assert_int_equal(pruned, 1);
    assert_false(has(s, "k", "resp_old"));
    assert_true(has(s, "k", "resp_mid"));
    char err[256];
    assert_int_equal(resp_store_prune(s, 1200, &pruned, err, sizeof err), 0); /* cutoff 1100 */
    assert_int_equal(pruned, 1);
    assert_false(has(s, "k", "resp_mid"));
    assert_true(has(s, "k", "resp_new"));
    resp_store_close(s);
    tmp_free(&t);
}

static void test_prune_size(void **state) {
    tmp_t t;
    tmp_new(&t);
    /* each row: 100 bytes of response + "[]" + "[]" = 104 bytes; 350 bytes keep three */
    resp_store_t *s = open_store(t.path, 0, 350);
    char body[101];
    memset(body, 'x', 100);
    body[100] = '\0';
    int64_t pruned = 0, total = 0;
    const char *ids[] = {"resp_1", "resp_2", "resp_3", "resp_4", "resp_5"};
    for (int i = 0; i < 5; i++) {
        put(s, "k", ids[i], 100 + i, body, &pruned);
        total += pruned;
    }
    assert_int_equal(total, 2);
    assert_false(has(s, "k", "resp_1"));
    assert_false(has(s, "k", "resp_2"));
    for (int i = 2; i < 5; i++)
        assert_true(has(s, "k", ids[i]));
    int64_t rows = 0, bytes = 0;
    assert_int_equal(resp_store_count(s, &rows, &bytes), 0);
    assert_int_equal(rows, 3);
    assert_int_equal(bytes, 312);
    /* one row larger than the whole limit is refused, not stored and pruned at once */
    char big[400];
    memset(big, 'y', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    resp_row_t r = {.id = "resp_big", .created_at = 200, .response = big, .input_items = "[]", .conversation = "[]"};
    char err[256];
    assert_int_equal(resp_store_put(s, "k", &r, 200, NULL, err, sizeof err), ERR_LIMIT);
    assert_true(has(s, "k", "resp_5"));
    resp_store_close(s);
    tmp_free(&t);
}

typedef struct {
    const char *path;
    int which;
    int fails;
} writer_t;

#define N_WRITES 40

static void *writer_main(void *arg) {
    writer_t *w = arg;
    resp_store_opts_t o = resp_store_default_opts();
    o.max_age_s = 0;
    o.max_bytes = 0;
    o.busy_ms = 20000;
    resp_store_t *s = NULL;
    char err[256];
    if (resp_store_open(w->path, &o, &s, err, sizeof err)) {
        w->fails = N_WRITES;
        return NULL;
    }
    for (int i = 0; i < N_WRITES; i++) {
        char id[32];
        snprintf(id, sizeof id, "resp_w%d_%d", w->which, i);
        resp_row_t r = {.id = id, .created_at = i, .response = "{}", .input_items = "[]", .conversation = "[]"};
        if (resp_store_put(s, "k", &r, i, NULL, err, sizeof err)) {
            fprintf(stderr, "writer %d: %s\n", w->which, err);
            w->fails++;
        }
    }
    resp_store_close(s);
    return NULL;
}

static void test_concurrent_writers(void **state) {
    tmp_t t;
    tmp_new(&t);
    resp_store_close(open_store(t.path, 0, 0)); /* create the table first */
    writer_t w[2] = {{t.path, 0, 0}, {t.path, 1, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(w[0].fails, 0);
    assert_int_equal(w[1].fails, 0);
    resp_store_t *s = open_store(t.path, 0, 0);
    int64_t rows = 0;
    assert_int_equal(resp_store_count(s, &rows, NULL), 0);
    assert_int_equal(rows, 2 * N_WRITES);
    assert_true(has(s, "k", "resp_w0_39"));
    assert_true(has(s, "k", "resp_w1_0"));
    resp_store_close(s);
    tmp_free(&t);
}

/* The process dies between the put (committed) and the reply it would send: nothing closes the connection. */
static void test_crash_after_commit(void **state) {
    tmp_t t;
    tmp_new(&t);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        resp_store_opts_t o = resp_store_default_opts();
        resp_store_t *s = NULL;
        char err[256];
        if (resp_store_open(t.path, &o, &s, err, sizeof err)) _exit(2);
        resp_row_t r = {.id = "resp_crash",
                        .created_at = 2000000000,
                        .response = "{\"status\":\"completed\"}",
                        .input_items = "[]",
                        .conversation = "[]"};
        if (resp_store_put(s, "k", &r, 2000000000, NULL, err, sizeof err)) _exit(3);
        _exit(0); /* no close, no checkpoint: the WAL holds the commit */
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    resp_store_t *s = open_store(t.path, 0, 0);
    char *resp = NULL, err[256];
    assert_int_equal(resp_store_get(s, "k", "resp_crash", &resp, NULL, NULL, err, sizeof err), 0);
    assert_string_equal(resp, "{\"status\":\"completed\"}");
    free(resp);
    resp_store_close(s);
    tmp_free(&t);
}

static void test_bad_file(void **state) {
    tmp_t t;
    tmp_new(&t);
    FILE *f = fopen(t.path, "wb");
    assert_non_null(f);
    fputs("this is not a database, it is a text file of some length to be sure it is read as one........", f);
    fclose(f);
    resp_store_t *s = NULL;
    char err[256] = "";
    assert_int_equal(resp_store_open(t.path, NULL, &s, err, sizeof err), ERR_IO);
    assert_null(s);
    assert_non_null(strstr(err, t.path));
    assert_int_equal(resp_store_open("/nonexistent-dir/x/responses.db", NULL, &s, err, sizeof err), ERR_IO);
    tmp_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_and_reopen),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_prune_age),
        cmocka_unit_test(test_prune_size),
        cmocka_unit_test(test_concurrent_writers),
        cmocka_unit_test(test_crash_after_commit),
        cmocka_unit_test(test_bad_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
