/*
 * resp_store.h — stored responses of /v1/responses (`store: true`): one SQLite database file.
 *
 * Owns: one SQLite connection to the file, in WAL mode with synchronous=FULL, so a put that returned 0 is on disk
 * (the WAL is fsynced at each commit) and survives a crash of the process or the machine; and the pruning that
 * bounds the file by age and by size (oldest first). Each row holds a response's object JSON, its input items
 * (JSON array, for GET /v1/responses/{id}/input_items) and the conversation that `previous_response_id` continues
 * (JSON array of chat messages: everything the response saw, without instructions, plus its output).
 * Does not: know OpenAI's shapes (api/responses.c builds the JSON), or which HTTP request asks.
 *
 * API keys: every row is stored under the SHA-256 of the API key of the request that made it (never the key
 * itself); get, delete and list answer ERR_NOTFOUND for a row stored under another key, exactly as for an id
 * that does not exist. key NULL (a server without API keys) is a key of its own.
 *
 * Threads: one resp_store_t belongs to one thread at a time (the server's loop thread). Several resp_store_t on
 * the same file, in one process or several, are safe together: SQLite locks the file, writers take the write lock
 * up front (BEGIN IMMEDIATE) and wait for it up to busy_ms. Calls block the calling thread for the disk write
 * (an fsync per put or delete): the price of "acknowledged means stored".
 *
 * Strings returned are malloc'd and owned by the caller.
 */
#ifndef CINDER_API_RESP_STORE_H
#define CINDER_API_RESP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct resp_store resp_store_t;

typedef struct {
    int64_t max_age_s; /* rows older than this are pruned (0 = kept whatever their age) */
    int64_t max_bytes; /* stored JSON bytes kept at most; the oldest rows go first (0 = no limit) */
    int32_t busy_ms;   /* how long a write waits for another connection's lock; 0 = 5000 */
} resp_store_opts_t;

/* Defaults: 30 days, 1 GiB, 5 s. */
resp_store_opts_t resp_store_default_opts(void);

/*
 * Opens (creating when missing) the database at path and its table. Returns 0 and *out, or ERR_IO with a line
 * in err (cannot open or create the file, not an SQLite database, cannot switch to WAL), ERR_NOMEM. Free with
 * resp_store_close.
 */
int resp_store_open(const char *path, const resp_store_opts_t *o, resp_store_t **out, char *err, size_t err_len);

/* Closes the connection. NULL is a no-op. */
void resp_store_close(resp_store_t *s);

/* One stored response as put and got. */
typedef struct {
    const char *id;           /* "resp_..." */
    int64_t created_at;       /* unix seconds: pruning by age counts from it */
    const char *response;     /* the response object JSON */
    const char *input_items;  /* JSON array of the request's input items (with ids) */
    const char *conversation; /* JSON array of chat messages previous_response_id continues */
} resp_row_t;

/*
 * Stores row under key (replacing a row with the same id and key), then prunes by age (relative to now_s) and
 * by size. Returns 0 once committed to disk; ERR_IO with err (disk full, locked past busy_ms, ...), ERR_NOMEM.
 * *n_pruned (may be NULL) gets the rows pruned by this call.
 */
int resp_store_put(resp_store_t *s, const char *key, const resp_row_t *row, int64_t now_s, int64_t *n_pruned, char *err,
                   size_t err_len);

/*
 * Looks up id under key. Returns 0 with the wanted strings malloc'd (any out pointer may be NULL: not read),
 * ERR_NOTFOUND (no such id, or stored under another key), ERR_IO with err.
 */
int resp_store_get(resp_store_t *s, const char *key, const char *id, char **response, char **input_items,
                   char **conversation, char *err, size_t err_len);

/* Deletes id under key. Returns 0, ERR_NOTFOUND, ERR_IO with err. */
int resp_store_delete(resp_store_t *s, const char *key, const char *id, char *err, size_t err_len);

/* Prunes rows older than max_age_s before now_s, then the oldest past max_bytes. 0 or ERR_IO; *n_pruned set. */
int resp_store_prune(resp_store_t *s, int64_t now_s, int64_t *n_pruned, char *err, size_t err_len);

/* Rows in the file and their JSON bytes (for tests and /health-like reports). 0 or ERR_IO. */
int resp_store_count(resp_store_t *s, int64_t *rows, int64_t *bytes);

#endif
