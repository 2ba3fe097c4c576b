/*
 * stop.h — OpenAI's `stop` sequences over a growing output text (internal to api/).
 *
 * Owns: copies of up to API_STOP_MAX stop strings.
 * Does not: own the text; the caller keeps one growing buffer per choice and a "released" offset r, the bytes
 * already handed to the client (streamed) or committed (non-streaming).
 *
 * The invariant the caller keeps with these two functions: no stop string starts before r. After appending a
 * token's text, the caller asks api_stop_find for the earliest match starting at or after r; on a match at p the
 * choice ends with finish_reason "stop" and the text is cut at p (the stop string is not returned). Otherwise it
 * may release everything except api_stop_holdback bytes: the longest tail that is a proper prefix of some stop
 * string and might still grow into a match. Since stop strings are valid UTF-8 and the text is whole characters,
 * the held-back tail always starts on a character boundary. At the end of a choice everything held back is
 * released.
 * Threads: an api_stop_t is read-only after setup; any thread.
 */
#ifndef CINDER_API_STOP_H
#define CINDER_API_STOP_H

#include <stdbool.h>
#include <stddef.h>

#define API_STOP_MAX 4 /* OpenAI: up to 4 sequences */

typedef struct {
    char *s[API_STOP_MAX];
    size_t len[API_STOP_MAX];
    int n;
} api_stop_t;

/* Adds a copy of s[0..n) (n >= 1). Returns 0, ERR_LIMIT past API_STOP_MAX, ERR_INVAL for n == 0, ERR_NOMEM. */
int api_stop_add(api_stop_t *st, const char *s, size_t n);

/* Frees the copies; the struct is empty afterwards. */
void api_stop_clear(api_stop_t *st);

/* The earliest offset p >= from where some stop string occurs in text[0..len), or -1 (as ptrdiff-like long). */
long api_stop_find(const api_stop_t *st, const char *text, size_t len, size_t from);

/* The length of the longest suffix of text[0..len) that is a proper prefix of some stop string (0 when none). */
size_t api_stop_holdback(const api_stop_t *st, const char *text, size_t len);

#endif
