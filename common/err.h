/*
 * err.h — the project-wide table of return codes.
 *
 * Every function that can fail returns an int: 0 (ERR_OK) on success or one of the negative codes below.
 * Results travel through pointer parameters; human-readable detail goes into a caller-supplied buffer
 * (char *err, size_t err_len) that the api layer turns into an OpenAI error object.
 *
 * The table is an X-macro (as libuv's UV_ERRNO_MAP) so the enum, err_name() and err_str() never drift apart.
 * Thread-safe: everything here is constant data.
 */
#ifndef CINDER_ERR_H
#define CINDER_ERR_H

#include <stdarg.h>
#include <stddef.h>

#define ERR_MAP(X)                                                                   \
    X(NOMEM, -1, "out of memory")                                                    \
    X(IO, -2, "input/output error")                                                  \
    X(FORMAT, -3, "malformed input")                                                 \
    X(UNSUPPORTED, -4, "not supported")                                              \
    X(INVAL, -5, "invalid argument")                                                 \
    X(RANGE, -6, "value out of range")                                               \
    X(NOTFOUND, -7, "not found")                                                     \
    X(TYPE, -8, "wrong type")                                                        \
    X(LIMIT, -9, "limit exceeded")                                                   \
    X(TEMPLATE, -10, "template error")                                               \
    X(CANCELLED, -11, "cancelled")                                                   \
    X(FULL, -12, "queue or cache full")                                              \
    X(CONTEXT, -13, "context length exceeded")                                       \
    X(STATE, -14, "invalid state")                                                   \
    X(NUMERIC, -15, "non-finite numbers (NaN or inf)")

typedef enum {
    ERR_OK = 0,
#define ERR__ENUM(name, code, text) ERR_##name = (code),
    ERR_MAP(ERR__ENUM)
#undef ERR__ENUM
} err_t;

/* The symbolic name of a code ("ERR_FORMAT"), or "ERR_UNKNOWN". Never NULL; static storage. */
const char *err_name(int code);

/* A short English description of a code ("malformed input"). Never NULL; static storage. */
const char *err_str(int code);

/*
 * Formats a message into the caller's buffer (which may be NULL or have err_len 0, in which case nothing is
 * written) and returns code, so a failing path reads `return err_set(err, err_len, ERR_FORMAT, "...", ...);`.
 * The message is always NUL-terminated and silently truncated to fit.
 */
int err_set(char *err, size_t err_len, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
