/* jr.c — strict JSON parsing and typed getters for request bodies (see jr.h). */
#include "jr.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

/* ---- UTF-8 ------------------------------------------------------------------------------------------------ */

/* Length of the well-formed sequence at s[0..n), or 0 when it is ill-formed or incomplete (Unicode table 3-7). */
static size_t jr__utf8_seq(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c == 0xE0)
        len = 3, lo = 0xA0;
    else if (c >= 0xE1 && c <= 0xEC)
        len = 3;
    else if (c == 0xED)
        len = 3, hi = 0x9F;
    else if (c >= 0xEE && c <= 0xEF)
        len = 3;
    else if (c == 0xF0)
        len = 4, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3)
        len = 4;
    else if (c == 0xF4)
        len = 4, hi = 0x8F;
    else
        return 0;
    if (n < len) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return len;
}

size_t jr_utf8_valid_len(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t k = jr__utf8_seq(u + i, n - i);
        if (!k) break;
        i += k;
    }
    return i;
}

void jr_utf8_sanitize(char *s) {
    size_t n = strlen(s), i = 0;
    while (i < n) {
        size_t k = jr__utf8_seq((const unsigned char *)s + i, n - i);
        if (k) {
            i += k;
        } else {
            s[i] = '?';
            i++;
        }
    }
}

/* ---- parse ------------------------------------------------------------------------------------------------ */

/* One pass over the raw bytes: nesting depth outside strings, and "\u0000" escapes inside them. */
static int jr__prescan(const char *b, size_t len, api_err_t *e) {
    int depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        char c = b[i];
        if (in_str) {
            if (c == '\\') {
                if (i + 5 < len && b[i + 1] == 'u' && !memcmp(b + i + 2, "0000", 4))
                    return api_err_set(e, ERR_FORMAT, 400, "invalid_request_error", NULL, NULL,
                                       "We could not parse the JSON body of your request: the string escape "
                                       "\\u0000 (NUL) at byte %zu is not supported.",
                                       i);
                i++; /* skip the escaped character */
            } else if (c == '"') {
                in_str = false;
            }
            continue;
        }
        if (c == '"')
            in_str = true;
        else if (c == '[' || c == '{') {
            if (++depth > JR_MAX_DEPTH)
                return api_err_set(e, ERR_FORMAT, 400, "invalid_request_error", NULL, NULL,
                                   "We could not parse the JSON body of your request: it nests arrays and objects "
                                   "more than %d levels deep.",
                                   JR_MAX_DEPTH);
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return 0;
}

static int jr__cmp_keys(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Checks strings, keys, numbers and duplicate keys of the tree, depth first (the depth is already bounded). */
static int jr__check(const cJSON *item, api_err_t *e) {
    if (cJSON_IsString(item)) {
        const char *s = item->valuestring ? item->valuestring : "";
        size_t n = strlen(s);
        if (jr_utf8_valid_len(s, n) != n)
            return api_err_set(e, ERR_FORMAT, 400, "invalid_request_error", NULL, NULL,
                               "We could not parse the JSON body of your request: a string is not valid UTF-8.");
        return 0;
    }
    if (cJSON_IsNumber(item)) {
        if (!isfinite(item->valuedouble))
            return api_err_set(e, ERR_FORMAT, 400, "invalid_request_error", NULL, NULL,
                               "We could not parse the JSON body of your request: a number is too large.");
        return 0;
    }
    if (!cJSON_IsArray(item) && !cJSON_IsObject(item)) return 0;
    size_t n = 0;
    for (const cJSON *c = item->child; c; c = c->next) {
        int rc = jr__check(c, e);
        if (rc) return rc;
        if (cJSON_IsObject(item)) {
            const char *k = c->string ? c->string : "";
            size_t kn = strlen(k);
            if (jr_utf8_valid_len(k, kn) != kn)
                return api_err_set(e, ERR_FORMAT, 400, "invalid_request_error", NULL, NULL,
                                   "We could not parse the JSON body of your request: a key is not valid UTF-8.");
        }
        n++;
    }
    if (!cJSON_IsObject(item) || n < 2) return 0;
    const char **keys = malloc(n * sizeof *keys);
    if (!keys) return api_err_set(e, ERR_NOMEM, 500, "server_error", NULL, NULL, "Out of memory.");
    size_t i = 0;
    for (const cJSON *c = item->child; c; c = c->next)
        keys[i++] = c->string ? c->string : "";
    qsort(keys, n, sizeof *keys, jr__cmp_keys);
    int rc = 0;
    for (i = 1; i < n && !rc; i++)
        if (!strcmp(keys[i - 1], keys[i])) {
            char k[64];
            snprintf(k, sizeof k, "%s", keys[i]);
            jr_utf8_sanitize(k); /* truncation may have cut a character */
            rc = api_err_set(e, ERR_FORMAT, 400, "invalid_request_error", NULL, NULL,
                             "We could not parse the JSON body of your request: the key '%s' appears more than "
                             "once in one object.",
                             k);
        }
    free(keys);
    return rc;
}

int jr_parse(const char *body, size_t len, cJSON **out, api_err_t *e) {
    *out = NULL;
    if (len == 0)
        return api_err_set(e, ERR_FORMAT, 400, "invalid_request_error", NULL, NULL,
                           "We could not parse the JSON body of your request: the body is empty. (HINT: send a "
                           "JSON object with Content-Type: application/json.)");
    int rc = jr__prescan(body, len, e);
    if (rc) return rc;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, false);
    if (!root) {
        size_t at = end && end >= body && end <= body + len ? (size_t)(end - body) : 0;
        return api_err_set(e, ERR_FORMAT, 400, "invalid_request_error", NULL, NULL,
                           "We could not parse the JSON body of your request (error near byte %zu). (HINT: This "
                           "likely means you aren't using your HTTP library correctly. The OpenAI API expects a "
                           "JSON payload.)",
                           at);
    }
    size_t at = end ? (size_t)(end - body) : len;
    while (at < len && (body[at] == ' ' || body[at] == '\t' || body[at] == '\n' || body[at] == '\r'))
        at++;
    if (at < len) {
        cJSON_Delete(root);
        return api_err_set(e, ERR_FORMAT, 400, "invalid_request_error", NULL, NULL,
                           "We could not parse the JSON body of your request: unexpected bytes after the JSON "
                           "value at byte %zu.",
                           at);
    }
    rc = jr__check(root, e);
    if (rc) {
        cJSON_Delete(root);
        return rc;
    }
    *out = root;
    return 0;
}

/* ---- getters ---------------------------------------------------------------------------------------------- */

const char *jr_type_name(const cJSON *item) {
    if (!item || cJSON_IsNull(item)) return "null";
    if (cJSON_IsBool(item)) return "a boolean";
    if (cJSON_IsNumber(item)) return "a number";
    if (cJSON_IsString(item)) return "a string";
    if (cJSON_IsArray(item)) return "an array";
    if (cJSON_IsObject(item)) return "an object";
    return "an unknown type";
}

int jr_type_error(api_err_t *e, const char *param, const char *expected, const cJSON *got) {
    return api_err_set(e, ERR_TYPE, 400, "invalid_request_error", "invalid_type", param,
                       "Invalid type for '%s': expected %s, but got %s instead.", param, expected, jr_type_name(got));
}

bool jr_given(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return v && !cJSON_IsNull(v);
}

/* The member, or NULL (with *present false) when absent or null. */
static const cJSON *jr__member(const cJSON *o, const char *key, bool *present) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *present = v && !cJSON_IsNull(v);
    return *present ? v : NULL;
}

int jr_number(const cJSON *o, const char *key, const char *param, double lo, double hi, double *out, bool *present,
              api_err_t *e) {
    const char *p = param ? param : key;
    const cJSON *v = jr__member(o, key, present);
    if (!v) return 0;
    if (!cJSON_IsNumber(v)) {
        *present = false;
        return jr_type_error(e, p, "a decimal", v);
    }
    double d = v->valuedouble;
    if (d < lo) {
        *present = false;
        return api_err_set(e, ERR_RANGE, 400, "invalid_request_error", "decimal_below_min_value", p,
                           "Invalid '%s': decimal below minimum value. Expected a value >= %g, but got %g instead.", p,
                           lo, d);
    }
    if (d > hi) {
        *present = false;
        return api_err_set(e, ERR_RANGE, 400, "invalid_request_error", "decimal_above_max_value", p,
                           "Invalid '%s': decimal above maximum value. Expected a value <= %g, but got %g instead.", p,
                           hi, d);
    }
    *out = d;
    return 0;
}

int jr_int(const cJSON *o, const char *key, const char *param, int64_t lo, int64_t hi, int64_t *out, bool *present,
           api_err_t *e) {
    const char *p = param ? param : key;
    const cJSON *v = jr__member(o, key, present);
    if (!v) return 0;
    double d = cJSON_IsNumber(v) ? v->valuedouble : 0;
    if (!cJSON_IsNumber(v) || d != floor(d)) {
        *present = false;
        return jr_type_error(e, p, "an integer", v);
    }
    if (d < (double)lo) {
        *present = false;
        return api_err_set(e, ERR_RANGE, 400, "invalid_request_error", "integer_below_min_value", p,
                           "Invalid '%s': integer below minimum value. Expected a value >= %lld, but got %.17g "
                           "instead.",
                           p, (long long)lo, d);
    }
    if (d > (double)hi) {
        *present = false;
        return api_err_set(e, ERR_RANGE, 400, "invalid_request_error", "integer_above_max_value", p,
                           "Invalid '%s': integer above maximum value. Expected a value <= %lld, but got %.17g "
                           "instead.",
                           p, (long long)hi, d);
    }
    /* d is integral and within [lo, hi] as doubles; the cast cannot overflow once clamped */
    if (d >= 9223372036854775807.0)
        *out = INT64_MAX;
    else if (d <= -9223372036854775808.0)
        *out = INT64_MIN;
    else
        *out = (int64_t)d;
    if (*out < lo) *out = lo;
    if (*out > hi) *out = hi;
    return 0;
}

int jr_bool(const cJSON *o, const char *key, const char *param, bool *out, bool *present, api_err_t *e) {
    const char *p = param ? param : key;
    const cJSON *v = jr__member(o, key, present);
    if (!v) return 0;
    if (!cJSON_IsBool(v)) {
        *present = false;
        return jr_type_error(e, p, "a boolean", v);
    }
    *out = cJSON_IsTrue(v);
    return 0;
}

int jr_string(const cJSON *o, const char *key, const char *param, const char **out, size_t *len, bool *present,
              api_err_t *e) {
    const char *p = param ? param : key;
    const cJSON *v = jr__member(o, key, present);
    if (!v) return 0;
    if (!cJSON_IsString(v) || !v->valuestring) {
        *present = false;
        return jr_type_error(e, p, "a string", v);
    }
    *out = v->valuestring;
    if (len) *len = strlen(v->valuestring);
    return 0;
}

bool jr_name_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 64) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}
