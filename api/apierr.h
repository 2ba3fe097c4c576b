/*
 * apierr.h — OpenAI's error object, as a value the api code fills in and one function that writes the envelope
 * (internal to api/).
 *
 * Owns: api_err_t, a plain struct with fixed buffers (no allocation, so filling one never fails).
 * The envelope is OpenAI's: {"error":{"message":"…","type":"…","param":"…"|null,"code":"…"|null}}.
 *
 * Status and type pairs in use:
 *   400 invalid_request_error   malformed JSON, wrong types, out-of-range values, unsupported parameters,
 *                               context_length_exceeded (code), template errors
 *   401 invalid_request_error   code invalid_api_key (OpenAI's own choice of type for 401)
 *   404 invalid_request_error   code model_not_found, or unknown routes (code null)
 *   405 invalid_request_error   wrong method for a known route
 *   413 invalid_request_error   body too large (code request_too_large)
 *   500 server_error            a failure inside the engine (not the client's fault)
 *   503 server_error            queue full, model loading, shutting down
 * Threads: plain data; any thread.
 */
#ifndef CINDER_API_APIERR_H
#define CINDER_API_APIERR_H

#include <stdarg.h>
#include <stddef.h>

typedef struct {
    int status;       /* HTTP status */
    const char *type; /* static string: "invalid_request_error", "server_error" */
    const char *code; /* static string or NULL: "invalid_type", "model_not_found", ... */
    char param[128];  /* "" means null; e.g. "messages[0].content" */
    char message[640];
} api_err_t;

/*
 * Fills e (param may be NULL for null) and returns the negative code `rc`, so failing paths read
 * `return api_err_set(e, rc, 400, "invalid_request_error", "invalid_type", "temperature", "...")`.
 */
int api_err_set(api_err_t *e, int rc, int status, const char *type, const char *code, const char *param,
                const char *fmt, ...) __attribute__((format(printf, 7, 8)));

/* The envelope as a malloc'd NUL-terminated JSON string (*len set), or NULL when out of memory. */
char *api_err_json(const api_err_t *e, size_t *len);

#endif
