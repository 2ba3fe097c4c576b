/*
 * resp_store.c — stored responses in SQLite (see resp_store.h).
 *
 * One table:
 *   responses(id, key_hash, created_at, bytes, response, input_items, conversation), primary key (id, key_hash)
 * `bytes` is the JSON bytes of the three texts, summed for the size bound. Pruning keeps the newest rows whose
 * running total of bytes (newest first) stays within max_bytes, after dropping rows older than max_age_s.
 * Every write is one IMMEDIATE transaction, so two connections never deadlock upgrading a read lock; with
 * journal_mode=WAL and synchronous=FULL the commit returns after the WAL is fsynced.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "err.h"
#include "resp_store.h"
#include "sha256.h"

struct resp_store {
    sqlite3 *db;
    resp_store_opts_t o;
};

resp_store_opts_t resp_store_default_opts(void) {
    return (resp_store_opts_t){.max_age_s = 30 * 86400, .max_bytes = (int64_t)1 << 30, .busy_ms = 5000};
}

/* The hex SHA-256 of "cinder-responses\n" + key (key NULL: the open server's own marker). */
static void store__key_hash(const char *key, char hex[SHA256_HEX_LEN + 1]) {
    if (!key) {
        snprintf(hex, SHA256_HEX_LEN + 1, "open");
        return;
    }
    sha256_t h;
    uint8_t d[SHA256_DIGEST_BYTES];
    sha256_init(&h);
    sha256_update(&h, "cinder-responses\n", 17);
    sha256_update(&h, key, strlen(key));
    sha256_final(&h, d);
    sha256_hex(d, hex);
}

static int store__fail(resp_store_t *s, char *err, size_t err_len, const char *what) {
    int code = sqlite3_errcode(s->db);
    return err_set(err, err_len, code == SQLITE_NOMEM ? ERR_NOMEM : ERR_IO, "responses store: %s: %s", what,
                   sqlite3_errmsg(s->db));
}

static int store__exec(resp_store_t *s, const char *sql, char *err, size_t err_len) {
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK) return store__fail(s, err, err_len, sql);
    return 0;
}

int resp_store_open(const char *path, const resp_store_opts_t *o, resp_store_t **out, char *err, size_t err_len) {
    *out = NULL;
    resp_store_t *s = calloc(1, sizeof *s);
    if (!s) return err_set(err, err_len, ERR_NOMEM, "out of memory");
    s->o = o ? *o : resp_store_default_opts();
    if (s->o.busy_ms <= 0) s->o.busy_ms = 5000;
    int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rc = err_set(err, err_len, ERR_IO, "responses store '%s': cannot open: %s", path,
                     s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, s->o.busy_ms);
    /* journal_mode answers with the mode in effect: a file system without shared memory stays in another mode */
    sqlite3_stmt *st = NULL;
    bool wal = false;
    if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        const char *mode = (const char *)sqlite3_column_text(st, 0);
        wal = mode && !strcmp(mode, "wal");
    }
    sqlite3_finalize(st);
    if (!wal) {
        rc =
            err_set(err, err_len, ERR_IO, "responses store '%s': cannot use WAL mode: %s", path, sqlite3_errmsg(s->db));
        goto fail;
    }
    char msg[512];
    if ((rc = store__exec(s, "PRAGMA synchronous=FULL", msg, sizeof msg)) ||
        (rc = store__exec(s,
                          "CREATE TABLE IF NOT EXISTS responses("
                          " id TEXT NOT NULL, key_hash TEXT NOT NULL, created_at INTEGER NOT NULL,"
                          " bytes INTEGER NOT NULL, response TEXT NOT NULL, input_items TEXT NOT NULL,"
                          " conversation TEXT NOT NULL, PRIMARY KEY (id, key_hash));"
                          "CREATE INDEX IF NOT EXISTS responses_age ON responses(created_at)",
                          msg, sizeof msg))) {
        rc = err_set(err, err_len, rc, "'%s': %s", path, msg);
        goto fail;
    }
    *out = s;
    return 0;
fail:
    sqlite3_close(s->db);
    free(s);
    return rc;
}

void resp_store_close(resp_store_t *s) {
    if (!s) return;
    sqlite3_close(s->db);
    free(s);
}

/* Runs one statement with the given text and integer parameters (NULL texts bind integers from ints in order).
   Returns 0 with *changes set, or the store's error. */
static int store__run(resp_store_t *s, const char *sql, const char *const *texts, size_t n_texts, const int64_t *ints,
                      size_t n_ints, int64_t *changes, char *err, size_t err_len) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) return store__fail(s, err, err_len, "prepare");
    int k = 1;
    for (size_t i = 0; i < n_texts; i++)
        sqlite3_bind_text(st, k++, texts[i], -1, SQLITE_STATIC);
    for (size_t i = 0; i < n_ints; i++)
        sqlite3_bind_int64(st, k++, ints[i]);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return store__fail(s, err, err_len, "write");
    if (changes) *changes = sqlite3_changes(s->db);
    return 0;
}

/* The pruning statements, inside the caller's transaction. */
static int store__prune_in(resp_store_t *s, int64_t now_s, int64_t *n_pruned, char *err, size_t err_len) {
    int64_t n = 0, c = 0;
    int rc = 0;
    if (s->o.max_age_s > 0) {
        int64_t cutoff = now_s - s->o.max_age_s;
        rc = store__run(s, "DELETE FROM responses WHERE created_at < ?", NULL, 0, &cutoff, 1, &c, err, err_len);
        n += c;
    }
    if (!rc && s->o.max_bytes > 0) {
        rc = store__run(s,
                        "DELETE FROM responses WHERE rowid IN (SELECT rowid FROM (SELECT rowid, SUM(bytes) OVER "
                        "(ORDER BY created_at DESC, rowid DESC) AS total FROM responses) WHERE total > ?)",
                        NULL, 0, &s->o.max_bytes, 1, &c, err, err_len);
        n += c;
    }
    if (n_pruned) *n_pruned = n;
    return rc;
}

/* Ends the transaction: COMMIT when rc is 0, else ROLLBACK (keeping rc). */
static int store__end(resp_store_t *s, int rc, char *err, size_t err_len) {
    if (rc) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    return store__exec(s, "COMMIT", err, err_len);
}

int resp_store_put(resp_store_t *s, const char *key, const resp_row_t *row, int64_t now_s, int64_t *n_pruned, char *err,
                   size_t err_len) {
    if (n_pruned) *n_pruned = 0;
    int64_t bytes = (int64_t)(strlen(row->response) + strlen(row->input_items) + strlen(row->conversation));
    if (s->o.max_bytes > 0 && bytes > s->o.max_bytes)
        return err_set(err, err_len, ERR_LIMIT,
                       "the response (%lld bytes of JSON) is larger than the store's limit (%lld bytes)",
                       (long long)bytes, (long long)s->o.max_bytes);
    char kh[SHA256_HEX_LEN + 1];
    store__key_hash(key, kh);
    int rc = store__exec(s, "BEGIN IMMEDIATE", err, err_len);
    if (rc) return rc;
    const char *texts[] = {row->id, kh, row->response, row->input_items, row->conversation};
    const int64_t ints[] = {row->created_at, bytes};
    rc = store__run(s,
                    "INSERT OR REPLACE INTO responses(id, key_hash, response, input_items, conversation, created_at,"
                    " bytes) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    texts, 5, ints, 2, NULL, err, err_len);
    if (!rc) rc = store__prune_in(s, now_s, n_pruned, err, err_len);
    return store__end(s, rc, err, err_len);
}

int resp_store_prune(resp_store_t *s, int64_t now_s, int64_t *n_pruned, char *err, size_t err_len) {
    if (n_pruned) *n_pruned = 0;
    int rc = store__exec(s, "BEGIN IMMEDIATE", err, err_len);
    if (rc) return rc;
    rc = store__prune_in(s, now_s, n_pruned, err, err_len);
    return store__end(s, rc, err, err_len);
}

static char *store__col(sqlite3_stmt *st, int i, bool *oom) {
    const unsigned char *t = sqlite3_column_text(st, i);
    char *r = strdup(t ? (const char *)t : "");
    if (!r) *oom = true;
    return r;
}

int resp_store_get(resp_store_t *s, const char *key, const char *id, char **response, char **input_items,
                   char **conversation, char *err, size_t err_len) {
    char **outs[3] = {response, input_items, conversation};
    for (int i = 0; i < 3; i++)
        if (outs[i]) *outs[i] = NULL;
    char kh[SHA256_HEX_LEN + 1];
    store__key_hash(key, kh);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT response, input_items, conversation FROM responses WHERE id = ? AND key_hash = ?",
                           -1, &st, NULL) != SQLITE_OK)
        return store__fail(s, err, err_len, "prepare");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, kh, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_finalize(st);
        return ERR_NOTFOUND;
    }
    if (rc != SQLITE_ROW) {
        rc = store__fail(s, err, err_len, "read");
        sqlite3_finalize(st);
        return rc;
    }
    bool oom = false;
    for (int i = 0; i < 3; i++)
        if (outs[i]) *outs[i] = store__col(st, i, &oom);
    sqlite3_finalize(st);
    if (oom) {
        for (int i = 0; i < 3; i++)
            if (outs[i]) {
                free(*outs[i]);
                *outs[i] = NULL;
            }
        return err_set(err, err_len, ERR_NOMEM, "out of memory");
    }
    return 0;
}

int resp_store_delete(resp_store_t *s, const char *key, const char *id, char *err, size_t err_len) {
    char kh[SHA256_HEX_LEN + 1];
    store__key_hash(key, kh);
    const char *texts[] = {id, kh};
    int64_t changes = 0;
    int rc =
        store__run(s, "DELETE FROM responses WHERE id = ? AND key_hash = ?", texts, 2, NULL, 0, &changes, err, err_len);
    if (rc) return rc;
    return changes ? 0 : ERR_NOTFOUND;
}

int resp_store_count(resp_store_t *s, int64_t *rows, int64_t *bytes) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM responses", -1, &st, NULL) !=
        SQLITE_OK)
        return ERR_IO;
    int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : ERR_IO;
    if (!rc) {
        if (rows) *rows = sqlite3_column_int64(st, 0);
        if (bytes) *bytes = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return rc;
}
