/*
 * jr.h — reading request bodies: a strict JSON parse on top of cJSON, and typed getters that check type and
 * range and fill OpenAI's error object naming the parameter (internal to api/).
 *
 * Owns: nothing beyond the cJSON tree jr_parse returns (the caller frees it with cJSON_Delete).
 * Does not: know any endpoint's fields (params.c does).
 *
 * jr_parse accepts exactly one JSON value with only whitespace around it and refuses, each with a 400 that says
 * which rule and where: nesting deeper than JR_MAX_DEPTH (checked on the raw bytes before cJSON recurses),
 * invalid UTF-8 in any string or key, "\u0000" escapes (C strings cannot carry them), lone surrogates, duplicate
 * keys in one object, and numbers that overflow a double (1e999). The getters treat a member that is absent or
 * JSON null as "not given" (*present = false), as OpenAI does for optional parameters.
 *
 * Threads: any thread; no shared state (cJSON's global error pointer is not used).
 */
#ifndef CINDER_API_JR_H
#define CINDER_API_JR_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apierr.h"

#define JR_MAX_DEPTH 64 /* nested arrays/objects; a chat request needs 5 */

/* Length of the longest prefix of s[0..n) that is well-formed UTF-8 (no overlongs, surrogates, > U+10FFFF). */
size_t jr_utf8_valid_len(const char *s, size_t n);

/* Replaces every ill-formed byte of the NUL-terminated s with '?', in place (for echoing URLs in messages). */
void jr_utf8_sanitize(char *s);

/*
 * Parses body[0..len) (need not be NUL-terminated). Returns 0 and the tree in *out, or ERR_FORMAT with e set to
 * a 400 invalid_request_error (param null), or ERR_NOMEM (e set to a 500).
 */
int jr_parse(const char *body, size_t len, cJSON **out, api_err_t *e);

/* The JSON type of an item in OpenAI's words ("a string", "an object", "null", ...). Static storage. */
const char *jr_type_name(const cJSON *item);

/*
 * Typed getters on member `key` of object o. `param` names the parameter in errors (NULL: key itself).
 * Each returns 0 with *present = true and the value set, 0 with *present = false when the member is absent or
 * null (the output is untouched), or ERR_TYPE / ERR_RANGE with e filled (a 400 with codes invalid_type,
 * integer_below_min_value, integer_above_max_value, decimal_below_min_value, decimal_above_max_value).
 */
int jr_number(const cJSON *o, const char *key, const char *param, double lo, double hi, double *out, bool *present,
              api_err_t *e);
/* An integer: a JSON number with no fractional part, within [lo, hi]. */
int jr_int(const cJSON *o, const char *key, const char *param, int64_t lo, int64_t hi, int64_t *out, bool *present,
           api_err_t *e);
int jr_bool(const cJSON *o, const char *key, const char *param, bool *out, bool *present, api_err_t *e);
/* A string: *out borrows the tree's NUL-terminated copy, *len its length. */
int jr_string(const cJSON *o, const char *key, const char *param, const char **out, size_t *len, bool *present,
              api_err_t *e);

/* Fills e with OpenAI's "Invalid type for 'param': expected X, but got Y instead." and returns ERR_TYPE. */
int jr_type_error(api_err_t *e, const char *param, const char *expected, const cJSON *got);

/* OpenAI's rule for names (function names, json_schema.name): 1 to 64 of a-z, A-Z, 0-9, '_' and '-'. */
bool jr_name_ok(const char *s);

/* True when member key of o exists and is not null. */
bool jr_given(const cJSON *o, const char *key);

#endif
