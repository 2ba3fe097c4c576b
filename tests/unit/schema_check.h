/*
 * schema_check.h — a small JSON Schema validator for the grammar tests and the grammar fuzz target (header only,
 * no cmocka): does a parsed JSON value satisfy a schema, for the keywords engine/grammar/gram_schema.c accepts?
 *
 * Written from the JSON Schema definitions, independently of the grammar code: patterns are run by PCRE2 (UTF,
 * UCP, $ only at the end, unanchored search as JSON Schema says), formats by hand-written checks (date with real
 * month lengths and leap years, RFC 3339 time, uuid, a plain email shape). Strings are compared as cJSON decodes
 * them; a string holding U+0000 is cut there by cJSON, so callers skip documents with "\u0000".
 */
#ifndef CINDER_TEST_SCHEMA_CHECK_H
#define CINDER_TEST_SCHEMA_CHECK_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <cjson/cJSON.h>
#include <math.h>
#include <pcre2.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static size_t sc_utf8_len(const char *s) {
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static bool sc_pattern(const char *re, const char *s) {
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY,
                                  &ec, &eo, NULL);
    if (!c) return false;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(c, NULL);
    int rc = pcre2_match(c, (PCRE2_SPTR)s, strlen(s), 0, 0, md, NULL);
    pcre2_match_data_free(md);
    pcre2_code_free(c);
    return rc >= 0;
}

static bool sc_digits(const char *s, int n) {
    for (int i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return false;
    return true;
}

static bool sc_date(const char *s) { /* exactly 10 characters from s */
    if (!sc_digits(s, 4) || s[4] != '-' || !sc_digits(s + 5, 2) || s[7] != '-' || !sc_digits(s + 8, 2)) return false;
    int y = atoi(s), mo = atoi(s + 5), d = atoi(s + 8);
    static const int dim[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || d > dim[mo - 1]) return false;
    return !(mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)));
}

static bool sc_time(const char *s) { /* the whole rest of s */
    if (!sc_digits(s, 2) || s[2] != ':' || !sc_digits(s + 3, 2) || s[5] != ':' || !sc_digits(s + 6, 2)) return false;
    if (atoi(s) > 23 || atoi(s + 3) > 59 || atoi(s + 6) > 60) return false;
    s += 8;
    if (*s == '.') {
        s++;
        if (*s < '0' || *s > '9') return false;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    if (*s == 'Z' || *s == 'z') return s[1] == 0;
    if (*s != '+' && *s != '-') return false;
    s++;
    return sc_digits(s, 2) && s[2] == ':' && sc_digits(s + 3, 2) && s[5] == 0 && atoi(s) <= 23 && atoi(s + 3) <= 59;
}

static bool sc_format(const char *f, const char *s) {
    if (strcmp(f, "date") == 0) return strlen(s) == 10 && sc_date(s);
    if (strcmp(f, "time") == 0) return sc_time(s);
    if (strcmp(f, "date-time") == 0)
        return strlen(s) > 11 && sc_date(s) && (s[10] == 'T' || s[10] == 't') && sc_time(s + 11);
    if (strcmp(f, "uuid") == 0) {
        if (strlen(s) != 36) return false;
        for (int i = 0; i < 36; i++) {
            bool dash = i == 8 || i == 13 || i == 18 || i == 23;
            if (dash ? s[i] != '-' : !strchr("0123456789abcdefABCDEF", s[i])) return false;
        }
        return true;
    }
    if (strcmp(f, "email") == 0) {
        const char *at = strchr(s, '@');
        size_t n = strlen(s);
        return at && at != s && !strchr(at + 1, '@') && strchr(at + 1, '.') && at[1] != '.' && s[n - 1] != '.' &&
               !strstr(s, "..") && !strchr(s, ' ') && s[0] != '.' && at[-1] != '.';
    }
    return false; /* a format the grammar does not support */
}

/* A local JSON pointer ("#", "#/a/b~1c/0") into root, or NULL. */
static const cJSON *sc_resolve(const cJSON *root, const char *ref) {
    if (ref[0] != '#') return NULL;
    const cJSON *cur = root;
    const char *p = ref + 1;
    while (*p == '/' && cur) {
        p++;
        char seg[256];
        size_t n = 0;
        while (*p && *p != '/') {
            char c = *p++;
            if (c == '~' && (*p == '0' || *p == '1')) c = *p++ == '0' ? '~' : '/';
            if (n + 1 < sizeof seg) seg[n++] = c;
        }
        seg[n] = 0;
        cur = cJSON_IsArray(cur) ? cJSON_GetArrayItem(cur, atoi(seg)) : cJSON_GetObjectItemCaseSensitive(cur, seg);
    }
    return *p ? NULL : cur;
}

static bool sc_type(const char *t, const cJSON *v) {
    if (!strcmp(t, "null")) return cJSON_IsNull(v);
    if (!strcmp(t, "boolean")) return cJSON_IsBool(v);
    if (!strcmp(t, "string")) return cJSON_IsString(v);
    if (!strcmp(t, "object")) return cJSON_IsObject(v);
    if (!strcmp(t, "array")) return cJSON_IsArray(v);
    if (!strcmp(t, "number")) return cJSON_IsNumber(v);
    if (!strcmp(t, "integer")) return cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble);
    return false;
}

static const cJSON *sc_get(const cJSON *s, const char *k) { return cJSON_GetObjectItemCaseSensitive(s, k); }

/* Whether v satisfies schema s (root: the document $refs resolve in). */
static bool sc_valid(const cJSON *root, const cJSON *s, const cJSON *v) {
    if (!s || cJSON_IsFalse(s)) return false;
    if (cJSON_IsTrue(s)) return true;
    const cJSON *k, *a;
    if ((k = sc_get(s, "$ref"))) return sc_valid(root, sc_resolve(root, k->valuestring), v);
    if ((k = sc_get(s, "anyOf"))) {
        bool any = false;
        cJSON_ArrayForEach(a, k) any = any || sc_valid(root, a, v);
        if (!any) return false;
    }
    if ((k = sc_get(s, "const")) && !cJSON_Compare(k, v, true)) return false;
    if ((k = sc_get(s, "enum"))) {
        bool in = false;
        cJSON_ArrayForEach(a, k) in = in || cJSON_Compare(a, v, true);
        if (!in) return false;
    }
    if ((k = sc_get(s, "type"))) {
        bool ok = cJSON_IsString(k) && sc_type(k->valuestring, v);
        if (cJSON_IsArray(k)) cJSON_ArrayForEach(a, k) ok = ok || sc_type(a->valuestring, v);
        if (!ok) return false;
    }
    if (cJSON_IsString(v)) {
        size_t n = sc_utf8_len(v->valuestring);
        if ((k = sc_get(s, "minLength")) && n < (size_t)k->valuedouble) return false;
        if ((k = sc_get(s, "maxLength")) && n > (size_t)k->valuedouble) return false;
        if ((k = sc_get(s, "pattern")) && !sc_pattern(k->valuestring, v->valuestring)) return false;
        if ((k = sc_get(s, "format")) && !sc_format(k->valuestring, v->valuestring)) return false;
    }
    if (cJSON_IsNumber(v)) {
        double x = v->valuedouble;
        if ((k = sc_get(s, "minimum")) && x < k->valuedouble) return false;
        if ((k = sc_get(s, "maximum")) && x > k->valuedouble) return false;
        if ((k = sc_get(s, "exclusiveMinimum")) && x <= k->valuedouble) return false;
        if ((k = sc_get(s, "exclusiveMaximum")) && x >= k->valuedouble) return false;
    }
    if (cJSON_IsArray(v)) {
        int n = cJSON_GetArraySize(v), i = 0;
        if ((k = sc_get(s, "minItems")) && n < k->valueint) return false;
        if ((k = sc_get(s, "maxItems")) && n > k->valueint) return false;
        const cJSON *prefix = sc_get(s, "prefixItems"), *items = sc_get(s, "items");
        int n_prefix = cJSON_GetArraySize(prefix);
        cJSON_ArrayForEach(a, v) {
            const cJSON *is = i < n_prefix ? cJSON_GetArrayItem(prefix, i) : items;
            if (is && !sc_valid(root, is, a)) return false;
            i++;
        }
    }
    if (cJSON_IsObject(v)) {
        const cJSON *props = sc_get(s, "properties"), *addl = sc_get(s, "additionalProperties");
        cJSON_ArrayForEach(a, sc_get(s, "required")) if (!sc_get(v, a->valuestring)) return false;
        cJSON_ArrayForEach(a, v) {
            const cJSON *ps = sc_get(props, a->string);
            if (ps ? !sc_valid(root, ps, a) : addl && !sc_valid(root, addl, a)) return false;
        }
    }
    return true;
}

#endif
