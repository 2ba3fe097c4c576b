/*
 * gram_schema.c — JSON Schema to grammar, for OpenAI's Structured Outputs subset (see grammar.h).
 *
 * Keywords (anything else is ERR_UNSUPPORTED naming the keyword and its JSON pointer):
 *   type (a name or a list), enum, const, anyOf, $ref ("#", "#/$defs/x", "#/definitions/x", any local pointer;
 *   recursion allowed), $defs / definitions, properties, required, additionalProperties, items, prefixItems,
 *   minItems, maxItems, minLength, maxLength, pattern, format (date-time, date, time, uuid, email), minimum,
 *   maximum, exclusiveMinimum, exclusiveMaximum; annotations are ignored: title, description, $comment,
 *   examples, default, $schema, $id, deprecated, readOnly, writeOnly.
 *
 * Every document the grammar produces validates against the schema. Where a grammar cannot say exactly what the
 * schema says, the grammar is narrower (it forbids some valid documents) and never wider:
 *   - properties are written in the order the schema lists them (as OpenAI's models do); a `required` name
 *     missing from `properties` is appended after them with any value;
 *   - with `properties`, additional properties are never produced, whatever `additionalProperties` says (only
 *     an object without `properties` uses `additionalProperties` as the schema of its members);
 *   - `items` absent next to `prefixItems`: no items beyond the prefix;
 *   - integer bounds are exact; number bounds are exact when they are integers, otherwise rounded inwards
 *     (minimum 0.5 acts as 1), and bounded numbers have no exponent; exclusive bounds on numbers act on integers
 *     (exclusiveMinimum 0 allows 1, 1.5, ... but not 0.5);
 *   - format date excludes February 29; time and date-time follow RFC 3339 without leap seconds; email is
 *     dot-atoms around one @ (no quoted local parts, no IP literals; like most validators, no length limits on
 *     the parts: bounded repetitions cost one cache entry per position); strings never use \u escapes for
 *     characters that can be written raw;
 *   - keywords that the type does not use are ignored (e.g. minLength on an integer), as JSON Schema says;
 *   - a schema without `type` is restricted to the type its keywords belong to (properties -> object, ...).
 * Limits: 64 levels of nesting, 5000 properties and 1000 enum values in all, bounds up to GRAM_MAX_REPEAT.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "gram_internal.h"

#define GS_MAX_DEPTH 64
#define GS_MAX_PROPS 5000
#define GS_MAX_ENUM  1000

typedef struct {
    const cJSON *target;
    uint32_t rule;
} gs_ref_t;

typedef struct {
    gj_t j;
    gram_builder_t *b;
    const cJSON *root;
    gs_ref_t *refs;
    size_t n_refs, cap_refs;
    char path[512];
    size_t path_len;
    uint32_t n_props, n_enum;
    bool strict; /* OpenAI's strict-mode rules */
} gs_t;

static const char *const gs_annotations[] = {"title",   "description", "$comment",   "examples", "default",
                                             "$schema", "$id",         "deprecated", "readOnly", "writeOnly"};
static const char *const gs_known[] = {"type",
                                       "enum",
                                       "const",
                                       "anyOf",
                                       "$ref",
                                       "$defs",
                                       "definitions",
                                       "properties",
                                       "required",
                                       "additionalProperties",
                                       "items",
                                       "prefixItems",
                                       "minItems",
                                       "maxItems",
                                       "minLength",
                                       "maxLength",
                                       "pattern",
                                       "format",
                                       "minimum",
                                       "maximum",
                                       "exclusiveMinimum",
                                       "exclusiveMaximum"};

static bool gs__in(const char *k, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(k, list[i]) == 0) return true;
    return false;
}

static uint32_t gs__fail(gs_t *s, int code, const char *fmt, const char *arg) {
    char msg[200];
    snprintf(msg, sizeof msg, fmt, arg);
    return gram_build_fail(s->b, code, "%s at %s", msg, s->path_len ? s->path : "/");
}

/* Appends "/seg" (escaped as a JSON pointer) to the path; returns the old length for gs__pop. */
static size_t gs__push(gs_t *s, const char *seg) {
    size_t old = s->path_len;
    if (s->path_len + 2 < sizeof s->path) s->path[s->path_len++] = '/';
    for (const char *p = seg; *p && s->path_len + 3 < sizeof s->path; p++) {
        if (*p == '~' || *p == '/') {
            s->path[s->path_len++] = '~';
            s->path[s->path_len++] = *p == '~' ? '0' : '1';
        } else {
            s->path[s->path_len++] = *p;
        }
    }
    s->path[s->path_len] = 0;
    return old;
}

static size_t gs__push_idx(gs_t *s, const char *kw, int i) {
    char seg[64];
    size_t old = gs__push(s, kw);
    snprintf(seg, sizeof seg, "%d", i);
    gs__push(s, seg);
    return old;
}

static void gs__pop(gs_t *s, size_t old) {
    s->path_len = old;
    s->path[old] = 0;
}

static uint32_t gs_schema(gs_t *s, const cJSON *sch, int depth);

/* Wraps node in a rule of its own: emitted once, referenced wherever it appears (bounds inlining). */
static uint32_t gs__rule(gs_t *s, uint32_t node) {
    if (node == GRAM_NONE) return GRAM_NONE;
    uint32_t r = gram_rule_new(s->b);
    gram_rule_define(s->b, r, node);
    return gram_ref(s->b, r);
}

/* The JSON text of v, exactly as it is written in the output. */
static uint32_t gs__literal(gs_t *s, const cJSON *v) {
    char *txt = cJSON_PrintUnformatted(v);
    if (!txt) return gram_build_fail(s->b, ERR_NOMEM, "schema: out of memory");
    uint32_t n = gram_str(s->b, txt);
    cJSON_free(txt);
    return n;
}

/* Whether JSON value v has JSON Schema type name t. */
static bool gs__has_type(const cJSON *v, const char *t) {
    if (strcmp(t, "null") == 0) return cJSON_IsNull(v);
    if (strcmp(t, "boolean") == 0) return cJSON_IsBool(v);
    if (strcmp(t, "string") == 0) return cJSON_IsString(v);
    if (strcmp(t, "object") == 0) return cJSON_IsObject(v);
    if (strcmp(t, "array") == 0) return cJSON_IsArray(v);
    if (strcmp(t, "number") == 0) return cJSON_IsNumber(v);
    if (strcmp(t, "integer") == 0) return cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble);
    return false;
}

static bool gs__type_ok(const cJSON *type, const cJSON *v) {
    if (!type) return true;
    if (cJSON_IsString(type)) return gs__has_type(v, type->valuestring);
    const cJSON *t;
    cJSON_ArrayForEach(t, type) if (cJSON_IsString(t) && gs__has_type(v, t->valuestring)) return true;
    return false;
}

static bool gs__get_count(gs_t *s, const cJSON *sch, const char *kw, uint32_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(sch, kw);
    if (!v) return true;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble != floor(v->valuedouble))
        return gs__fail(s, ERR_FORMAT, "'%s' must be a non-negative integer", kw), false;
    if (v->valuedouble > GRAM_MAX_REPEAT) return gs__fail(s, ERR_LIMIT, "'%s' above 10000 is not supported", kw), false;
    *out = (uint32_t)v->valuedouble;
    return true;
}

/* ---- $ref ------------------------------------------------------------------------------------------------ */

static const cJSON *gs__resolve(gs_t *s, const char *ref) {
    if (ref[0] != '#') return NULL;
    const cJSON *cur = s->root;
    const char *p = ref + 1;
    while (*p == '/') {
        p++;
        char seg[256];
        size_t n = 0;
        while (*p && *p != '/') {
            char c = *p++;
            if (c == '~' && (*p == '0' || *p == '1')) c = *p++ == '0' ? '~' : '/';
            if (n + 1 < sizeof seg) seg[n++] = c;
        }
        seg[n] = 0;
        if (cJSON_IsArray(cur)) {
            char *end;
            long i = strtol(seg, &end, 10);
            cur = *end || n == 0 ? NULL : cJSON_GetArrayItem(cur, (int)i);
        } else {
            cur = cJSON_GetObjectItemCaseSensitive(cur, seg);
        }
        if (!cur) return NULL;
    }
    return *p ? NULL : cur;
}

static uint32_t gs__ref(gs_t *s, const cJSON *sch, const cJSON *ref, int depth) {
    if (!cJSON_IsString(ref)) return gs__fail(s, ERR_FORMAT, "'%s' must be a string", "$ref");
    const cJSON *it;
    cJSON_ArrayForEach(it, sch) {
        if (strcmp(it->string, "$ref") && strcmp(it->string, "$defs") && strcmp(it->string, "definitions") &&
            !gs__in(it->string, gs_annotations, sizeof gs_annotations / sizeof *gs_annotations))
            return gs__fail(s, ERR_UNSUPPORTED, "keyword '%s' next to $ref", it->string);
    }
    const cJSON *target = gs__resolve(s, ref->valuestring);
    if (!target) return gs__fail(s, ERR_UNSUPPORTED, "$ref '%s' (only local references that exist)", ref->valuestring);
    for (size_t i = 0; i < s->n_refs; i++)
        if (s->refs[i].target == target) return gram_ref(s->b, s->refs[i].rule);
    if (s->n_refs == s->cap_refs) {
        size_t cap = s->cap_refs ? s->cap_refs * 2 : 16;
        gs_ref_t *r = realloc(s->refs, cap * sizeof *r);
        if (!r) return gram_build_fail(s->b, ERR_NOMEM, "schema: out of memory");
        s->refs = r;
        s->cap_refs = cap;
    }
    uint32_t rule = gram_rule_new(s->b);
    if (rule == GRAM_NONE) return GRAM_NONE;
    s->refs[s->n_refs++] = (gs_ref_t){target, rule};
    size_t old = s->path_len;
    char saved[sizeof s->path];
    memcpy(saved, s->path, sizeof saved);
    snprintf(s->path, sizeof s->path, "%s", ref->valuestring + 1);
    s->path_len = strlen(s->path);
    uint32_t body = gs_schema(s, target, depth + 1);
    memcpy(s->path, saved, sizeof saved);
    s->path_len = old;
    if (body == GRAM_NONE) return GRAM_NONE;
    gram_rule_define(s->b, rule, body);
    return gram_ref(s->b, rule);
}

/* ---- types ----------------------------------------------------------------------------------------------- */

static uint32_t gs__string(gs_t *s, const cJSON *sch) {
    const cJSON *pattern = cJSON_GetObjectItemCaseSensitive(sch, "pattern");
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(sch, "format");
    uint32_t min = 0, max = GRAM_REPEAT_INF;
    bool has_len =
        cJSON_GetObjectItemCaseSensitive(sch, "minLength") || cJSON_GetObjectItemCaseSensitive(sch, "maxLength");
    if (!gs__get_count(s, sch, "minLength", &min) || !gs__get_count(s, sch, "maxLength", &max)) return GRAM_NONE;
    if (max != GRAM_REPEAT_INF && max < min) return gs__fail(s, ERR_FORMAT, "%s: maxLength below minLength", "string");
    if (pattern && format) return gs__fail(s, ERR_UNSUPPORTED, "'%s' together with 'format'", "pattern");
    if ((pattern || format) && has_len)
        return gs__fail(s, ERR_UNSUPPORTED, "minLength/maxLength together with '%s'", pattern ? "pattern" : "format");
    const char *re = NULL;
    if (pattern) {
        if (!cJSON_IsString(pattern)) return gs__fail(s, ERR_FORMAT, "'%s' must be a string", "pattern");
        re = pattern->valuestring;
    } else if (format) {
        static const char *const fmt[][2] = {
            {"date", "^[0-9]{4}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-"
                     "9]|1[0-9]|2[0-8]))$"},
            {"time", "^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"},
            {"date-time", "^[0-9]{4}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-("
                          "0[1-9]|1[0-9]|2[0-8]))T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?(Z|[+-]([01]["
                          "0-9]|2[0-3]):[0-5][0-9])$"},
            {"uuid", "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"},
            {"email",
             "^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9]([A-Za-z0-9-]*[A-"
             "Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$"},
        };
        if (!cJSON_IsString(format)) return gs__fail(s, ERR_FORMAT, "'%s' must be a string", "format");
        for (size_t i = 0; i < sizeof fmt / sizeof fmt[0] && !re; i++)
            if (strcmp(format->valuestring, fmt[i][0]) == 0) re = fmt[i][1];
        if (!re) return gs__fail(s, ERR_UNSUPPORTED, "format '%s'", format->valuestring);
    }
    if (!re) return gj_string(&s->j, min, max);
    uint32_t q = gram_str(s->b, "\"");
    uint32_t body = gram_regex_expr(s->b, re, strlen(re), true);
    if (body == GRAM_NONE) {
        /* the regex error is recorded; prefix the location */
        return GRAM_NONE;
    }
    return gs__rule(s, gram_seqv(s->b, 3, q, body, q));
}

/* Reads a numeric bound: *has = present; *v = the bound rounded inwards to an integer. */
static bool gs__bound(gs_t *s, const cJSON *sch, bool lower, bool *has, int64_t *v) {
    const char *inc = lower ? "minimum" : "maximum", *exc = lower ? "exclusiveMinimum" : "exclusiveMaximum";
    *has = false;
    const char *names[2] = {inc, exc};
    for (int k = 0; k < 2; k++) {
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(sch, names[k]);
        if (!b) continue;
        if (!cJSON_IsNumber(b)) return gs__fail(s, ERR_FORMAT, "'%s' must be a number", names[k]), false;
        double d = b->valuedouble;
        if (!(fabs(d) <= (double)GJ_MAX_BOUND))
            return gs__fail(s, ERR_UNSUPPORTED, "'%s' beyond +-9e15", names[k]), false;
        double r = lower ? ceil(d) : floor(d);
        if (k == 1 && r == d) r += lower ? 1 : -1;
        int64_t iv = (int64_t)r;
        if (!*has || (lower ? iv > *v : iv < *v)) *v = iv;
        *has = true;
    }
    return true;
}

static uint32_t gs__numeric(gs_t *s, const cJSON *sch, bool integer) {
    bool has_lo, has_hi;
    int64_t lo = 0, hi = 0;
    if (!gs__bound(s, sch, true, &has_lo, &lo) || !gs__bound(s, sch, false, &has_hi, &hi)) return GRAM_NONE;
    if (has_lo && has_hi && lo > hi)
        return gs__fail(s, ERR_FORMAT, "no %s lies between minimum and maximum", integer ? "integer" : "number");
    if (!has_lo && !has_hi) return integer ? gj_integer(&s->j) : gj_number(&s->j);
    return gs__rule(s, integer ? gj_int_range(&s->j, has_lo, lo, has_hi, hi)
                               : gj_num_range(&s->j, has_lo, lo, has_hi, hi));
}

/* Member i: "name" ws ':' ws value. */
static uint32_t gs__member(gs_t *s, const char *name, uint32_t value) {
    cJSON *str = cJSON_CreateString(name);
    if (!str) return gram_build_fail(s->b, ERR_NOMEM, "schema: out of memory");
    uint32_t key = gs__literal(s, str);
    cJSON_Delete(str);
    return gram_seqv(s->b, 5, key, gj_ws(&s->j), gram_str(s->b, ":"), gj_ws(&s->j), value);
}

static uint32_t gs__object(gs_t *s, const cJSON *sch, int depth) {
    gram_builder_t *b = s->b;
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(sch, "properties");
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(sch, "required");
    const cJSON *addl = cJSON_GetObjectItemCaseSensitive(sch, "additionalProperties");
    if (props && !cJSON_IsObject(props)) return gs__fail(s, ERR_FORMAT, "'%s' must be an object", "properties");
    if (req && !cJSON_IsArray(req)) return gs__fail(s, ERR_FORMAT, "'%s' must be an array", "required");
    if (addl && !cJSON_IsBool(addl) && !cJSON_IsObject(addl))
        return gs__fail(s, ERR_FORMAT, "'%s' must be a boolean or a schema", "additionalProperties");
    const cJSON *r;
    cJSON_ArrayForEach(r, req) if (!cJSON_IsString(r)) return gs__fail(s, ERR_FORMAT, "'%s' must list strings",
                                                                       "required");
    if (s->strict) {
        if (!cJSON_IsFalse(addl))
            return gs__fail(s, ERR_UNSUPPORTED, "strict mode: '%s' must be false", "additionalProperties");
        const cJSON *p;
        cJSON_ArrayForEach(p, props) {
            bool listed = false;
            cJSON_ArrayForEach(r, req) listed = listed || strcmp(r->valuestring, p->string) == 0;
            if (!listed)
                return gs__fail(s, ERR_UNSUPPORTED, "strict mode: property '%s' missing from 'required'", p->string);
        }
    }
    uint32_t open = gram_seqv(b, 2, gram_str(b, "{"), gj_ws(&s->j)),
             close = gram_seqv(b, 2, gj_ws(&s->j), gram_str(b, "}"));
    size_t n_props = (size_t)cJSON_GetArraySize(props);
    if (n_props == 0) {
        bool closed = cJSON_IsFalse(addl);
        if (cJSON_GetArraySize(req) > 0) {
            if (closed) return gs__fail(s, ERR_FORMAT, "%s: required properties but none allowed", "object");
        } else if (closed) {
            return gram_seqv(b, 2, open, close);
        } else {
            uint32_t value;
            if (!addl || cJSON_IsTrue(addl)) {
                value = gj_value(&s->j);
            } else {
                size_t old = gs__push(s, "additionalProperties");
                value = gs_schema(s, addl, depth + 1);
                gs__pop(s, old);
            }
            uint32_t kv = gram_seqv(b, 5, gj_string(&s->j, 0, GRAM_REPEAT_INF), gj_ws(&s->j), gram_str(b, ":"),
                                    gj_ws(&s->j), value);
            uint32_t members =
                gram_seqv(b, 2, kv, gram_repeat(b, gram_seqv(b, 2, gj_comma(&s->j), kv), 0, GRAM_REPEAT_INF));
            return gram_seqv(b, 3, open, gram_repeat(b, members, 0, 1), close);
        }
    }
    /* The members in order: properties, then required names missing from them (any value). */
    size_t n_extra = 0;
    cJSON_ArrayForEach(r, req) if (!cJSON_GetObjectItemCaseSensitive(props, r->valuestring)) n_extra++;
    size_t n = n_props + n_extra;
    if ((s->n_props += (uint32_t)n) > GS_MAX_PROPS)
        return gs__fail(s, ERR_LIMIT, "more than %s object properties in the schema", "5000");
    uint32_t *kv = calloc(n + 1, sizeof *kv);
    bool *must = calloc(n + 1, sizeof *must);
    uint32_t res = GRAM_NONE;
    if (!kv || !must) {
        gram_build_fail(b, ERR_NOMEM, "schema: out of memory");
        goto done;
    }
    size_t i = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, props) {
        size_t old = gs__push(s, "properties");
        gs__push(s, p->string);
        uint32_t v = gs_schema(s, p, depth + 1);
        gs__pop(s, old);
        if (v == GRAM_NONE) goto done;
        kv[i] = gs__member(s, p->string, v);
        const cJSON *q;
        cJSON_ArrayForEach(q, req) if (strcmp(q->valuestring, p->string) == 0) must[i] = true;
        i++;
    }
    cJSON_ArrayForEach(r, req) {
        if (cJSON_GetObjectItemCaseSensitive(props, r->valuestring)) continue;
        if (cJSON_IsFalse(addl))
            return free(kv), free(must),
                   gs__fail(s, ERR_FORMAT, "required property '%s' is not allowed", r->valuestring);
        kv[i] = gs__member(s, r->valuestring, gj_value(&s->j));
        must[i++] = true;
    }
    /* A_i: after some member, the rest from i on; F_i: nothing written yet, the rest from i on. */
    uint32_t A = gram_empty(b), F = gram_empty(b);
    for (size_t k = n; k-- > 0;) {
        uint32_t with_a = gram_seqv(b, 3, gj_comma(&s->j), kv[k], A);
        uint32_t first = gram_seqv(b, 2, kv[k], A);
        uint32_t nA = must[k] ? with_a : gram_altv(b, 2, with_a, A);
        uint32_t nF = must[k] ? first : gram_altv(b, 2, first, F);
        A = nA;
        F = nF;
        if (k % 256 == 0) { /* long runs of required members would nest sequences thousands deep: cut them */
            A = gs__rule(s, A);
            F = gs__rule(s, F);
        }
    }
    res = gram_seqv(b, 3, open, F, close);
done:
    free(kv);
    free(must);
    return res;
}

static uint32_t gs__array(gs_t *s, const cJSON *sch, int depth) {
    gram_builder_t *b = s->b;
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(sch, "items");
    const cJSON *prefix = cJSON_GetObjectItemCaseSensitive(sch, "prefixItems");
    uint32_t min = 0, max = GRAM_REPEAT_INF;
    if (!gs__get_count(s, sch, "minItems", &min) || !gs__get_count(s, sch, "maxItems", &max)) return GRAM_NONE;
    if (max != GRAM_REPEAT_INF && max < min) return gs__fail(s, ERR_FORMAT, "%s: maxItems below minItems", "array");
    if (items && !cJSON_IsBool(items) && !cJSON_IsObject(items))
        return gs__fail(s, ERR_FORMAT, "'%s' must be a schema", "items");
    if (prefix && !cJSON_IsArray(prefix)) return gs__fail(s, ERR_FORMAT, "'%s' must be an array", "prefixItems");
    uint32_t k = (uint32_t)cJSON_GetArraySize(prefix);
    if (k > GRAM_MAX_REPEAT) return gs__fail(s, ERR_LIMIT, "more than %s prefixItems", "10000");
    bool more = prefix ? (items && !cJSON_IsFalse(items)) : !cJSON_IsFalse(items); /* items past the prefix */
    uint32_t item = GRAM_NONE;
    if (more) {
        if (!items || cJSON_IsTrue(items)) {
            item = gj_value(&s->j);
        } else {
            size_t old = gs__push(s, "items");
            item = gs_schema(s, items, depth + 1);
            gs__pop(s, old);
            if (item == GRAM_NONE) return GRAM_NONE;
        }
    }
    uint32_t limit = more ? max : (k < max ? k : max); /* most items possible */
    if (min > limit) return gs__fail(s, ERR_FORMAT, "%s: minItems cannot be met", "array");
    uint32_t *elem = calloc((size_t)k + 1, sizeof *elem);
    if (!elem) return gram_build_fail(b, ERR_NOMEM, "schema: out of memory");
    const cJSON *pi;
    uint32_t i = 0;
    cJSON_ArrayForEach(pi, prefix) {
        size_t old = gs__push_idx(s, "prefixItems", (int)i);
        elem[i] = gs_schema(s, pi, depth + 1);
        gs__pop(s, old);
        if (elem[i++] == GRAM_NONE) {
            free(elem);
            return GRAM_NONE;
        }
    }
    /* C_x: the items after the first x, each with its leading comma. From t = max(k, min) on they are all
       `item` and optional; top = min(t, limit) is where that free tail starts (or where nothing may follow). */
    uint32_t t = k > min ? k : min;
    uint32_t top = t < limit ? t : limit;
    uint32_t C = gram_empty(b);
    if (more && t < limit)
        C = gram_repeat(b, gram_seqv(b, 2, gj_comma(&s->j), item), 0,
                        limit == GRAM_REPEAT_INF ? GRAM_REPEAT_INF : limit - t);
    for (uint32_t x = top; x-- > 1;) {
        uint32_t step = gram_seqv(b, 3, gj_comma(&s->j), x < k ? elem[x] : item, C);
        C = x >= min ? gram_altv(b, 2, step, gram_empty(b)) : step;
        if (x % 256 == 0) C = gs__rule(s, C); /* bound the nesting of long prefixes */
    }
    uint32_t body;
    if (limit == 0) {
        body = gram_empty(b);
    } else if (top == 0) { /* no prefix, no minimum: (item (ws , ws item){0,limit-1})? */
        uint32_t rest = gram_repeat(b, gram_seqv(b, 2, gj_comma(&s->j), item), 0,
                                    limit == GRAM_REPEAT_INF ? GRAM_REPEAT_INF : limit - 1);
        body = gram_repeat(b, gram_seqv(b, 2, item, rest), 0, 1);
    } else {
        uint32_t step = gram_seqv(b, 2, k > 0 ? elem[0] : item, C);
        body = min == 0 ? gram_altv(b, 2, step, gram_empty(b)) : step;
    }
    free(elem);
    return gram_seqv(b, 5, gram_str(b, "["), gj_ws(&s->j), body, gj_ws(&s->j), gram_str(b, "]"));
}

static uint32_t gs__type(gs_t *s, const cJSON *sch, const char *t, int depth) {
    gram_builder_t *b = s->b;
    if (strcmp(t, "null") == 0) return gram_str(b, "null");
    if (strcmp(t, "boolean") == 0) return gram_altv(b, 2, gram_str(b, "true"), gram_str(b, "false"));
    if (strcmp(t, "string") == 0) return gs__string(s, sch);
    if (strcmp(t, "integer") == 0) return gs__numeric(s, sch, true);
    if (strcmp(t, "number") == 0) return gs__numeric(s, sch, false);
    if (strcmp(t, "object") == 0) return gs__rule(s, gs__object(s, sch, depth));
    if (strcmp(t, "array") == 0) return gs__rule(s, gs__array(s, sch, depth));
    return gs__fail(s, ERR_FORMAT, "unknown type '%s'", t);
}

/* The type a schema without `type` is restricted to, from its keywords (NULL: any value). */
static const char *gs__infer(gs_t *s, const cJSON *sch, bool *bad) {
    static const char *const fam[][5] = {
        {"object", "properties", "required", "additionalProperties", NULL},
        {"array", "items", "prefixItems", "minItems", "maxItems"},
        {"string", "pattern", "format", "minLength", "maxLength"},
        {"number", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"},
    };
    const char *found = NULL;
    *bad = false;
    for (size_t f = 0; f < 4; f++)
        for (size_t k = 1; k < 5 && fam[f][k]; k++)
            if (cJSON_GetObjectItemCaseSensitive(sch, fam[f][k])) {
                if (found && found != fam[f][0]) {
                    gs__fail(s, ERR_UNSUPPORTED, "a schema without 'type' mixing %s keywords with others", found);
                    *bad = true;
                    return NULL;
                }
                found = fam[f][0];
            }
    return found;
}

static uint32_t gs_schema(gs_t *s, const cJSON *sch, int depth) {
    gram_builder_t *b = s->b;
    if (gram_build_error(b)) return GRAM_NONE;
    if (depth > GS_MAX_DEPTH) return gs__fail(s, ERR_LIMIT, "schema nested more than %s levels deep", "64");
    if (cJSON_IsTrue(sch)) return gj_value(&s->j);
    if (cJSON_IsFalse(sch)) return gs__fail(s, ERR_FORMAT, "schema %s admits no value", "false");
    if (!cJSON_IsObject(sch)) return gs__fail(s, ERR_FORMAT, "a schema must be an object or a boolean%s", "");

    const cJSON *it;
    cJSON_ArrayForEach(it, sch) {
        if (!gs__in(it->string, gs_known, sizeof gs_known / sizeof *gs_known) &&
            !gs__in(it->string, gs_annotations, sizeof gs_annotations / sizeof *gs_annotations))
            return gs__fail(s, ERR_UNSUPPORTED, "unsupported keyword '%s'", it->string);
    }
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(sch, "$ref");
    if (ref) return gs__ref(s, sch, ref, depth);

    const cJSON *type = cJSON_GetObjectItemCaseSensitive(sch, "type");
    if (type && !cJSON_IsString(type) && !cJSON_IsArray(type))
        return gs__fail(s, ERR_FORMAT, "'%s' must be a string or an array", "type");

    const cJSON *any_of = cJSON_GetObjectItemCaseSensitive(sch, "anyOf");
    if (any_of) {
        if (!cJSON_IsArray(any_of) || cJSON_GetArraySize(any_of) == 0)
            return gs__fail(s, ERR_FORMAT, "'%s' must be a non-empty array", "anyOf");
        cJSON_ArrayForEach(it, sch) {
            if (strcmp(it->string, "anyOf") && strcmp(it->string, "$defs") && strcmp(it->string, "definitions") &&
                !gs__in(it->string, gs_annotations, sizeof gs_annotations / sizeof *gs_annotations))
                return gs__fail(s, ERR_UNSUPPORTED, "keyword '%s' next to anyOf", it->string);
        }
        int n = cJSON_GetArraySize(any_of), i = 0;
        uint32_t *alts = calloc((size_t)n, sizeof *alts);
        if (!alts) return gram_build_fail(b, ERR_NOMEM, "schema: out of memory");
        size_t k = 0;
        cJSON_ArrayForEach(it, any_of) {
            if (cJSON_IsFalse(it)) {
                i++;
                continue;
            }
            size_t old = gs__push_idx(s, "anyOf", i++);
            alts[k] = gs_schema(s, it, depth + 1);
            gs__pop(s, old);
            if (alts[k++] == GRAM_NONE) {
                free(alts);
                return GRAM_NONE;
            }
        }
        uint32_t res = k ? gram_alt(b, alts, k) : gs__fail(s, ERR_FORMAT, "'%s' admits no value", "anyOf");
        free(alts);
        return res;
    }

    const cJSON *en = cJSON_GetObjectItemCaseSensitive(sch, "enum");
    const cJSON *cn = cJSON_GetObjectItemCaseSensitive(sch, "const");
    if (en || cn) {
        cJSON_ArrayForEach(it, sch) {
            if (strcmp(it->string, "enum") && strcmp(it->string, "const") && strcmp(it->string, "type") &&
                strcmp(it->string, "$defs") && strcmp(it->string, "definitions") &&
                !gs__in(it->string, gs_annotations, sizeof gs_annotations / sizeof *gs_annotations))
                return gs__fail(s, ERR_UNSUPPORTED, "keyword '%s' next to enum/const", it->string);
        }
        if (en && !cJSON_IsArray(en)) return gs__fail(s, ERR_FORMAT, "'%s' must be an array", "enum");
        if (cn && en) {
            bool in = false;
            cJSON_ArrayForEach(it, en) in = in || cJSON_Compare(it, cn, true);
            if (!in) return gs__fail(s, ERR_FORMAT, "'%s' is not among the enum values", "const");
        }
        if (cn)
            return gs__type_ok(type, cn) ? gs__literal(s, cn)
                                         : gs__fail(s, ERR_FORMAT, "'%s' has the wrong type", "const");
        int n = cJSON_GetArraySize(en);
        if ((s->n_enum += (uint32_t)n) > GS_MAX_ENUM)
            return gs__fail(s, ERR_LIMIT, "more than %s enum values in the schema", "1000");
        uint32_t *alts = calloc((size_t)n + 1, sizeof *alts);
        if (!alts) return gram_build_fail(b, ERR_NOMEM, "schema: out of memory");
        size_t k = 0;
        cJSON_ArrayForEach(it, en) if (gs__type_ok(type, it)) alts[k++] = gs__literal(s, it);
        uint32_t res = k ? gs__rule(s, gram_alt(b, alts, k)) : gs__fail(s, ERR_FORMAT, "'%s' admits no value", "enum");
        free(alts);
        return res;
    }

    if (!type) {
        bool bad;
        const char *t = gs__infer(s, sch, &bad);
        if (bad) return GRAM_NONE;
        return t ? gs__type(s, sch, t, depth) : gj_value(&s->j);
    }
    if (cJSON_IsString(type)) return gs__type(s, sch, type->valuestring, depth);
    int n = cJSON_GetArraySize(type);
    if (n == 0 || n > 7) return gs__fail(s, ERR_FORMAT, "'%s' must list 1 to 7 type names", "type");
    uint32_t alts[7];
    size_t k = 0;
    cJSON_ArrayForEach(it, type) {
        if (!cJSON_IsString(it)) return gs__fail(s, ERR_FORMAT, "'%s' must list strings", "type");
        alts[k++] = gs__type(s, sch, it->valuestring, depth);
    }
    return gram_alt(b, alts, k);
}

gram_schema_opts_t gram_schema_default_opts(void) {
    gram_schema_opts_t o;
    memset(&o, 0, sizeof o);
    o.ws_max = 16;
    return o;
}

uint32_t gram_schema_expr(gram_builder_t *b, const char *json, size_t len, const gram_schema_opts_t *opts) {
    if (!b || gram_build_error(b)) return GRAM_NONE;
    gram_schema_opts_t o = opts ? *opts : gram_schema_default_opts();
    if (o.ws_max > 64) return gram_build_fail(b, ERR_RANGE, "ws_max must be 0..64, got %u", o.ws_max);
    gs_t s;
    memset(&s, 0, sizeof s);
    s.b = b;
    gj_init(&s.j, b, o.ws_max);
    if (o.any_object) return gj_object_any(&s.j);
    if (!json) return gram_build_fail(b, ERR_INVAL, "gram_schema_expr: schema is NULL");
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return gram_build_fail(b, ERR_FORMAT, "schema is not valid JSON");
    s.root = root;
    s.strict = o.strict;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
    uint32_t body;
    if (o.strict && !(cJSON_IsString(type) && strcmp(type->valuestring, "object") == 0))
        body = gs__fail(&s, ERR_UNSUPPORTED, "strict mode: the root must be a schema with type '%s'", "object");
    else
        body = gs_schema(&s, root, 0);
    free(s.refs);
    cJSON_Delete(root);
    return body;
}

int gram_from_schema(const char *json, size_t len, const gram_schema_opts_t *opts, gram_t **out, char *err,
                     size_t err_len) {
    if (!out) return err_set(err, err_len, ERR_INVAL, "gram_from_schema: out is NULL");
    *out = NULL;
    gram_builder_t *b = gram_build_new();
    if (!b) return err_set(err, err_len, ERR_NOMEM, "schema: out of memory");
    uint32_t body = gram_schema_expr(b, json, len, opts);
    if (body != GRAM_NONE) gram_rule_define(b, GRAM_ROOT, body);
    int rc = gram_build_compile(b, out, err, err_len);
    gram_build_free(b);
    return rc;
}
