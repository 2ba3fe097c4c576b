/*
 * jw.h — a small JSON writer for responses (internal to api/).
 *
 * Owns: one growing byte buffer and a stack of "is this the first member" flags, so callers write members in
 * order and commas appear by themselves: jw_obj(w); jw_key(w, "id"); jw_str(w, id); jw_end(w).
 * Does not: validate that the caller's sequence of calls forms valid JSON (keys only inside objects, matched
 * ends) beyond a depth limit; the api code that calls it is small and tested for exact output.
 *
 * Why not cJSON for output: strings here are byte ranges that may hold NUL (a model can emit byte 0), numbers need
 * a fixed format (integers exactly, floats round-tripping through %.9g), and a streamed chunk per token should not
 * build and free a tree.
 *
 * Strings are written as given, with '"', '\\' and bytes below 0x20 escaped (\n, \t, ... or \u00XX); bytes from
 * 0x80 up are copied (callers pass valid UTF-8). A failed allocation sets `oom`; every later call is a no-op and
 * the caller checks `oom` once at the end (jw_finish). Threads: a jw_t belongs to one thread.
 */
#ifndef CINDER_API_JW_H
#define CINDER_API_JW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JW_MAX_DEPTH 32

typedef struct {
    char *buf;  /* NUL-terminated while not oom */
    size_t len; /* bytes written, excluding the NUL */
    size_t cap;
    bool oom;
    int depth;
    bool first[JW_MAX_DEPTH]; /* first member / element at each depth still to come */
    char close[JW_MAX_DEPTH]; /* '}' or ']' for each open level */
    bool after_key;           /* a key was just written: the next value takes no comma */
} jw_t;

/* An empty writer (no allocation until the first write). */
void jw_init(jw_t *w);

/* Frees the buffer; jw_init state afterwards. */
void jw_free(jw_t *w);

/* Hands the buffer to the caller (who frees it) and its length; NULL (and the writer freed) when oom. */
char *jw_finish(jw_t *w, size_t *len);

void jw_obj(jw_t *w); /* { */
void jw_arr(jw_t *w); /* [ */
void jw_end(jw_t *w); /* } or ] closing the innermost */

/* A member name (NUL-terminated, written escaped). */
void jw_key(jw_t *w, const char *key);
/* A member name from bytes. */
void jw_keyn(jw_t *w, const char *key, size_t n);

void jw_str(jw_t *w, const char *s); /* NULL writes null */
void jw_strn(jw_t *w, const char *s, size_t n);
void jw_int(jw_t *w, int64_t v);
/* A finite double with %.9g-style round-tripping for floats (17 digits when needed); non-finite writes null. */
void jw_num(jw_t *w, double v);
void jw_bool(jw_t *w, bool v);
void jw_null(jw_t *w);
/* Raw JSON text spliced in as one value (the caller guarantees it is valid JSON). */
void jw_raw(jw_t *w, const char *json, size_t n);

/* Raw bytes appended with no comma logic (for SSE framing around a finished JSON value). */
void jw_bytes(jw_t *w, const char *s, size_t n);

#endif
