/*
 * bench_sse.h — an incremental Server-Sent Events parser for the client side of `cinder bench-serve`.
 *
 * Bytes arrive in whatever pieces the network gives (a line, half a line, ten events); bsse_feed() takes
 * each piece and calls back once per complete event with its data, following the WHATWG EventSource rules
 * that matter to OpenAI-style streams: lines end with LF, CRLF or CR (also when the CR and LF arrive in
 * different pieces); "data:" lines (one optional space after the colon) accumulate, joined by LF; "event:"
 * names the event; lines starting with ':' are comments; other fields are ignored; a blank line dispatches
 * the event, and an event without data lines is dropped.
 *
 * Owns: the line and data buffers inside bsse_t (freed by bsse_free). Data passed to the callback is
 * borrowed for the call only and is NUL-terminated.
 * Does not: interpret the data (JSON, "[DONE]") — that is the caller's.
 * Threads: one parser per stream; no shared state.
 */
#ifndef CINDER_BENCH_SSE_H
#define CINDER_BENCH_SSE_H

#include <stdbool.h>
#include <stddef.h>

#define BSSE_EVENT_MAX 64 /* bytes kept of an "event:" name, NUL included; longer names are truncated */

/*
 * Called once per event. event is the "event:" name ("" when none was given), data (len bytes, NUL-terminated)
 * the joined data lines. A non-zero return stops the parse; bsse_feed() returns that value.
 */
typedef int (*bsse_event_fn)(void *user, const char *event, const char *data, size_t len);

/* Parser state; embed it and call bsse_init() first. Fields are private. */
typedef struct {
    char *line;                 /* the line being read, line_len bytes */
    size_t line_len, line_cap;  /* bytes */
    char *data;                 /* data of the event being assembled, data_len bytes */
    size_t data_len, data_cap;  /* bytes */
    bool has_data;              /* a data line was seen since the last dispatch */
    bool after_cr;              /* the previous piece ended in CR: a leading LF is part of that line end */
    char event[BSSE_EVENT_MAX]; /* the "event:" name of the event being assembled */
    size_t max_bytes;           /* limit on one line and on one event's data */
} bsse_t;

/* Prepares p; max_bytes (> 0) bounds one line and one event's data (a longer one fails with ERR_LIMIT). */
void bsse_init(bsse_t *p, size_t max_bytes);

/* Releases p's buffers and leaves it as after bsse_init(). NULL is a no-op. */
void bsse_free(bsse_t *p);

/*
 * Parses n bytes of the stream, calling fn for each event completed in them. Returns 0, the callback's
 * non-zero value, ERR_LIMIT when a line or an event exceeds max_bytes, or ERR_NOMEM (detail in err).
 * After a non-zero return the parser should not be fed again.
 */
int bsse_feed(bsse_t *p, const char *buf, size_t n, bsse_event_fn fn, void *user, char *err, size_t err_len);

/*
 * Ends the stream: a last line without its line end is processed, then an event still being assembled is
 * dispatched (a stream cut before its blank line still delivers its final event). Same returns as bsse_feed().
 */
int bsse_finish(bsse_t *p, bsse_event_fn fn, void *user, char *err, size_t err_len);

/* True when the stream so far ends inside a line (bytes after the last line end): a cut stream, at its end. */
bool bsse_mid_line(const bsse_t *p);

#endif
