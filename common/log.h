/*
 * log.h — one line per event on stderr, as logfmt or JSON, filtered by level.
 *
 * Owns: the process-wide logging settings (threshold, format, destination) and the formatting of a line:
 *   logfmt  ts=2025-01-31T12:00:00.123Z level=info msg="listening on 127.0.0.1 port 8080" port=8080
 *   json    {"ts":"2025-01-31T12:00:00.123Z","level":"info","msg":"listening ...","port":8080}
 * Values are quoted (logfmt) or escaped (JSON) as the format needs; bytes that are not UTF-8 become U+FFFD in
 * JSON so every line parses.
 * Does not: rotate files, buffer, or decide what is worth logging (callers do: `cinder serve` logs startup,
 * model loading, one line per request, and warnings).
 *
 * Threads: call log_setup() once, before other threads start (cinder serve does it right after reading its
 * configuration). After that any thread may call log_on(), log_msg() and log_kv(): each line is formatted in a
 * local buffer and written with a single fwrite on a stdio stream, whose internal lock keeps lines from
 * different threads whole. Nothing here allocates.
 */
#ifndef CINDER_LOG_H
#define CINDER_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 } log_level_t;
typedef enum { LOG_FORMAT_LOGFMT = 0, LOG_FORMAT_JSON = 1 } log_format_t;

#define LOG_LINE_MAX 4096 /* bytes per line; longer values are cut (a cut string value ends in "...") */

/* One field of a structured line. Build them with LOG_S / LOG_I / LOG_F. */
typedef struct {
    const char *key; /* a bare word: letters, digits, '_' */
    enum { LOG_KV_STR, LOG_KV_INT, LOG_KV_NUM } type;
    const char *s; /* LOG_KV_STR; NULL is written as an empty string */
    int64_t i;     /* LOG_KV_INT */
    double d;      /* LOG_KV_NUM: written with 3 decimals (milliseconds, ratios) */
} log_kv_t;

#define LOG_S(k, v) ((log_kv_t){.key = (k), .type = LOG_KV_STR, .s = (v)})
#define LOG_I(k, v) ((log_kv_t){.key = (k), .type = LOG_KV_INT, .i = (int64_t)(v)})
#define LOG_F(k, v) ((log_kv_t){.key = (k), .type = LOG_KV_NUM, .d = (double)(v)})

/*
 * Sets the threshold (lines below it are dropped), the format and the stream (NULL = stderr). Before any call the
 * settings are LOG_INFO, logfmt, stderr. Call before other threads start (see the header comment).
 */
void log_setup(log_level_t min_level, log_format_t format, FILE *to);

/* Whether a line at this level would be written (to skip building expensive fields). */
bool log_on(log_level_t level);

/* Writes one line with a printf-formatted message and no other fields. */
void log_msg(log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes one line: msg and then n fields, in order. kv may be NULL when n is 0. */
void log_kv(log_level_t level, const char *msg, const log_kv_t *kv, size_t n);

/*
 * Formats one line (without writing it) into buf (cap bytes, NUL-terminated, ending in '\n'); ts_ms is the
 * wall-clock time in milliseconds since the epoch. Returns the length. For tests and for log_kv itself.
 */
size_t log_format_line(char *buf, size_t cap, log_format_t format, int64_t ts_ms, log_level_t level, const char *msg,
                       const log_kv_t *kv, size_t n);

/* "debug", "info", "warn", "error". */
const char *log_level_name(log_level_t level);

/* Parses a level or format name (exactly as written above, or "logfmt" / "json"). Returns 0 or ERR_INVAL. */
int log_level_parse(const char *s, log_level_t *out);
int log_format_parse(const char *s, log_format_t *out);

#endif
