/*
 * test_grammar_schema.c — JSON Schema -> grammar, keyword by keyword: a table of schemas, each with JSON
 * documents and the verdict expected of the grammar (complete document or not), plus the errors for schemas
 * outside the subset.
 *
 * Verdicts follow JSON Schema, except where gram_schema.c documents the grammar as narrower (property order as
 * listed, no extra properties next to `properties`, inward-rounded fractional number bounds, ...): such rows
 * are marked "narrower" and expect rejection of a document the schema itself would accept.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "grammar/gram_build.h"
#include "grammar/grammar.h"
#include "schema_check.h"

static gram_t *schema_ws(const char *json, uint32_t ws_max) {
    gram_schema_opts_t o = gram_schema_default_opts();
    o.ws_max = ws_max;
    gram_t *g = NULL;
    char err[256] = "";
    int rc = gram_from_schema(json, strlen(json), &o, &g, err, sizeof err);
    if (rc) fail_msg("schema %s: %s (%s)", json, err, err_name(rc));
    return g;
}

static gram_t *schema(const char *json) { return schema_ws(json, 16); }

/* true when doc is a complete document of g */
static bool complete(const gram_t *g, const char *doc) {
    gram_matcher_t *m = NULL;
    char err[256];
    assert_int_equal(gram_matcher_create(g, NULL, NULL, &m, err, sizeof err), 0);
    bool ok = gram_matcher_accept_bytes(m, doc, strlen(doc)) == 0 && gram_matcher_accepting(m);
    gram_matcher_free(m);
    return ok;
}

typedef struct {
    const char *schema;
    const char *yes[10];
    const char *no[12];
} sc_case_t;

static const sc_case_t cases[] = {
    /* type, properties, required, additionalProperties: false (OpenAI strict form) */
    {"{\"type\":\"object\",\"properties\":{\"s\":{\"type\":\"string\"},\"i\":{\"type\":\"integer\"},\"n\":{\"type\":"
     "\"number\"},\"b\":{\"type\":\"boolean\"},\"z\":{\"type\":\"null\"}},\"required\":[\"s\",\"i\",\"n\",\"b\",\"z\"],"
     "\"additionalProperties\":false}",
     {"{\"s\":\"x\",\"i\":-3,\"n\":1.5e3,\"b\":true,\"z\":null}",
      "{\n  \"s\": \"a\\n\\u00e9\\\"\",\n  \"i\": 0,\n  \"n\": -0.25,\n  \"b\": false,\n  \"z\": null\n}",
      "{\"s\":\"\xc3\xa9\xe2\x82\xac\",\"i\":12,\"n\":7,\"b\":true,\"z\":null}"},
     {"{\"s\":\"x\",\"i\":1,\"n\":1,\"b\":true}", "{\"s\":\"x\",\"i\":1.5,\"n\":1,\"b\":true,\"z\":null}",
      "{\"s\":\"x\",\"i\":01,\"n\":1,\"b\":true,\"z\":null}", "{\"s\":\"x\",\"i\":1,\"n\":1,\"b\":\"true\",\"z\":null}",
      "{\"s\":\"x\",\"i\":1,\"n\":1,\"b\":true,\"z\":null,\"q\":1}",
      "{\"s\":\"x\",\"i\":1,\"n\":1,\"b\":true,\"z\":null,}",
      "{\"i\":1,\"s\":\"x\",\"n\":1,\"b\":true,\"z\":null}" /* narrower: order */,
      "{\"s\":\"\x01\",\"i\":1,\"n\":1,"
      "\"b\":true,\"z\":null}",
      "{\"s\":\"\\x\",\"i\":1,\"n\":1,\"b\":true,\"z\":null}",
      "{\"s\":\"\\ud800\",\"i\":1,\"n\":1,\"b\":true,\"z\":null}",
      "{\"s\":\"\xff\",\"i\":1,\"n\":1,\"b\":true,\"z\":null}"}},
    /* optional properties in order */
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"integer\"},\"c\":{\"type\":"
     "\"integer\"}},\"required\":[\"b\"],\"additionalProperties\":false}",
     {"{\"b\":1}", "{\"a\":1,\"b\":2}", "{\"b\":2,\"c\":3}", "{\"a\":1,\"b\":2,\"c\":3}", "{ \"a\" : 1 , \"b\" : 2 }"},
     {"{}", "{\"a\":1}", "{\"a\":1,\"c\":3}", "{\"b\":1,}", "{,\"b\":1}", "{\"b\":1,\"b\":1}"}},
    /* required names missing from properties get any value; extra properties are not produced (narrower) */
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\",\"x\"]}",
     {"{\"a\":1,\"x\":[true,{\"k\":null}]}"},
     {"{\"a\":1}", "{\"a\":1,\"x\":2,\"y\":3}"}},
    /* additionalProperties as the member schema of a map; bare object = any object */
    {"{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\"}}",
     {"{}", "{\"a\":1,\"b\":-2}", "{\"\":0}"},
     {"{\"a\":\"x\"}", "{\"a\":1,}", "[]"}},
    {"{\"type\":\"object\"}", {"{}", "{\"a\":[1,{\"b\":null,\"c\":\"d\"}],\"e\":1.5E-3}"}, {"[]", "\"x\"", "{\"a\"}"}},
    /* enum, const, type-filtered enum */
    {"{\"enum\":[\"red\",\"green\",1,null,{\"a\":[1]}]}",
     {"\"red\"", "\"green\"", "1", "null", "{\"a\":[1]}"},
     {"\"blue\"", "2", "\"Red\"", "{\"a\":[2]}", "true"}},
    {"{\"type\":\"string\",\"enum\":[\"a\",1]}", {"\"a\""}, {"1"}},
    {"{\"const\":\"x\\u0001\"}", {"\"x\\u0001\""}, {"\"x\"", "\"y\""}},
    /* anyOf, type lists */
    {"{\"anyOf\":[{\"type\":\"string\",\"maxLength\":2},{\"type\":\"integer\",\"minimum\":10}]}",
     {"\"ab\"", "\"\"", "10", "999"},
     {"\"abc\"", "9", "-10", "null"}},
    {"{\"type\":[\"string\",\"null\"]}", {"\"x\"", "null"}, {"1", "nul"}},
    /* $ref / $defs, recursive */
    {"{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},\"next\":{\"anyOf\":[{"
     "\"$ref\":\"#/$defs/node\"},{\"type\":\"null\"}]}},\"required\":[\"v\",\"next\"],\"additionalProperties\":false}},"
     "\"$ref\":\"#/$defs/node\"}",
     {"{\"v\":1,\"next\":null}", "{\"v\":1,\"next\":{\"v\":2,\"next\":{\"v\":3,\"next\":null}}}"},
     {"{\"v\":1}", "{\"v\":1,\"next\":{\"v\":2}}", "null"}},
    {"{\"type\":\"object\",\"properties\":{\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#\"}}},\"required\":["
     "\"kids\"],\"additionalProperties\":false}",
     {"{\"kids\":[]}", "{\"kids\":[{\"kids\":[]},{\"kids\":[{\"kids\":[]}]}]}"},
     {"{\"kids\":[{}]}", "{\"kids\":[1]}"}},
    {"{\"definitions\":{\"a\":{\"type\":\"boolean\"}},\"type\":\"array\",\"items\":{\"$ref\":\"#/definitions/a\"}}",
     {"[]", "[true,false]"},
     {"[1]"}},
    /* items, minItems, maxItems */
    {"{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1,\"maxItems\":3}",
     {"[1]", "[1,2,3]", "[ 1 , 2 ]"},
     {"[]", "[1,2,3,4]", "[\"a\"]", "[1,]"}},
    {"{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":2}", {"[1,2]", "[1,2,3,4,5,6]"}, {"[]", "[1]"}},
    {"{\"type\":\"array\",\"maxItems\":0}", {"[]", "[ ]"}, {"[1]"}},
    {"{\"type\":\"array\"}", {"[]", "[1,\"a\",null,[{}]]"}, {"[1,]", "{}"}},
    /* prefixItems */
    {"{\"type\":\"array\",\"prefixItems\":[{\"type\":\"string\"},{\"type\":\"integer\"}],\"items\":{\"type\":"
     "\"boolean\"}}",
     {"[]", "[\"a\"]", "[\"a\",1]", "[\"a\",1,true,false]"},
     {"[1]", "[\"a\",\"b\"]", "[\"a\",1,2]"}},
    {"{\"type\":\"array\",\"prefixItems\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}",
     {"[\"a\"]", "[\"a\",1]"},
     {"[\"a\",1,2]" /* narrower: no items past the prefix */}},
    {"{\"type\":\"array\",\"prefixItems\":[{\"type\":\"integer\"}],\"items\":{\"type\":\"null\"},\"minItems\":2,"
     "\"maxItems\":3}",
     {"[1,null]", "[1,null,null]"},
     {"[1]", "[]", "[1,null,null,null]", "[null,null]"}},
    /* string lengths count characters, escapes as one */
    {"{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}",
     {"\"ab\"", "\"\xc3\xa9\xe2\x82\xacx\"", "\"a\\nb\"", "\"\\u0041\\\"\""},
     {"\"a\"", "\"abcd\"", "\"\"", "\"\xf0\x9f\x98\x80\""}},
    /* pattern: anchored, unanchored, with characters JSON escapes */
    {"{\"type\":\"string\",\"pattern\":\"^[A-Z]{2}-\\\\d{3}$\"}",
     {"\"AB-123\""},
     {"\"AB-1234\"", "\"ab-123\"", "\"AB123\""}},
    {"{\"type\":\"string\",\"pattern\":\"cat\"}",
     {"\"cat\"", "\"concatenate\"", "\"a\\\"cat\\\\\""},
     {"\"dog\"", "\"ca\""}},
    {"{\"type\":\"string\",\"pattern\":\"^a\\\"b\\\\\\\\c\\\\n$\"}",
     {"\"a\\\"b\\\\c\\n\""},
     {"\"a\"b\\c\\n\"", "\"ab\""}},
    /* formats */
    {"{\"type\":\"string\",\"format\":\"date\"}",
     {"\"2024-02-28\"", "\"1999-12-31\"", "\"2024-04-30\""},
     {"\"2024-02-30\"", "\"2024-13-01\"", "\"2024-04-31\"", "\"24-01-01\"", "\"2024-02-29\"" /* narrower */}},
    {"{\"type\":\"string\",\"format\":\"time\"}",
     {"\"12:30:00Z\"", "\"23:59:59.123+05:30\"", "\"00:00:00-08:00\""},
     {"\"24:00:00Z\"", "\"12:30Z\"", "\"12:30:00\""}},
    {"{\"type\":\"string\",\"format\":\"date-time\"}",
     {"\"2024-01-15T10:00:00Z\"", "\"2024-01-15T10:00:00.5+01:00\""},
     {"\"2024-01-15 10:00:00Z\"", "\"2024-01-15\""}},
    {"{\"type\":\"string\",\"format\":\"uuid\"}",
     {"\"123e4567-e89b-12d3-a456-426614174000\"", "\"123E4567-E89B-12D3-A456-426614174000\""},
     {"\"123e4567e89b12d3a456426614174000\"", "\"123e4567-e89b-12d3-a456-42661417400\""}},
    {"{\"type\":\"string\",\"format\":\"email\"}",
     {"\"a.b@example.com\"", "\"x+y@sub.example.org\""},
     {"\"a@b\"", "\"@x.com\"", "\"a b@x.com\"", "\"a..b@x.com\""}},
    /* numbers: exact integer bounds for number, inward rounding for fractional ones (narrower) */
    {"{\"type\":\"number\",\"minimum\":0,\"maximum\":10}",
     {"0", "10", "10.0", "10.000", "9.99", "5", "0.5"},
     {"10.5", "10.01", "-0.1", "11", "1e1", "-1"}},
    {"{\"type\":\"number\",\"minimum\":-2.5,\"maximum\":3}",
     {"-2", "-1.5", "3.0", "0", "-0.5", "2.75"},
     {"-2.5" /* narrower */, "-3", "3.5", "4"}},
    {"{\"type\":\"number\",\"exclusiveMinimum\":0}", {"1", "1.5", "1000"}, {"0", "-1", "0.5" /* narrower */}},
    {"{\"type\":\"number\",\"maximum\":-1}", {"-1", "-1.0", "-2.5", "-100"}, {"0", "-0.5", "1"}},
    /* descriptions and other annotations are ignored */
    {"{\"type\":\"boolean\",\"description\":\"d\",\"title\":\"t\",\"default\":true,\"examples\":[true],\"$comment\":"
     "\"c\"}",
     {"true", "false"},
     {"null"}},
    /* empty schema: any value */
    {"{}", {"1", "\"s\"", "[{}]", "null"}, {"", "[", "nul"}},
};

static void test_schema_table(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gram_t *g = schema(cases[i].schema);
        for (size_t k = 0; k < 10 && cases[i].yes[k]; k++)
            if (!complete(g, cases[i].yes[k])) fail_msg("schema %s should accept %s", cases[i].schema, cases[i].yes[k]);
        for (size_t k = 0; k < 12 && cases[i].no[k]; k++)
            if (complete(g, cases[i].no[k])) fail_msg("schema %s should reject %s", cases[i].schema, cases[i].no[k]);
        gram_free(g);
    }
}

/* Random byte-level walks through every table schema: what the grammar completes must parse and validate
   (schema_check.h). At each step every byte is tried on a copy of the matcher; closing bytes are preferred so
   documents end. */
static void test_schema_walks_validate(void **state) {
    (void)state;
    uint64_t rng = 0x2545F4914F6CDD1Dull;
    char doc[400];
    int n_walks = 0, n_done = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gram_t *g = schema(cases[i].schema);
        cJSON *sch = cJSON_Parse(cases[i].schema);
        gram_matcher_t *m = NULL, *c = NULL;
        char err[256];
        assert_int_equal(gram_matcher_create(g, NULL, NULL, &m, err, sizeof err), 0);
        assert_int_equal(gram_matcher_create(g, NULL, NULL, &c, err, sizeof err), 0);
        for (int walk = 0; walk < 6; walk++) {
            gram_matcher_reset(m);
            size_t n = 0;
            for (;;) {
                rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
                if (gram_matcher_done(m) || (gram_matcher_accepting(m) && (rng % 3 == 0 || n > 200))) break;
                uint8_t ok[256];
                int n_ok = 0;
                for (int b = 0; b < 256; b++) {
                    uint8_t byte = (uint8_t)b;
                    assert_int_equal(gram_matcher_copy(c, m), 0);
                    if (gram_matcher_accept_bytes(c, &byte, 1) == 0) ok[n_ok++] = byte;
                }
                assert_true(n_ok > 0); /* an incomplete document always has a next byte */
                if (n + 1 == sizeof doc) break; /* wandered off (e.g. a pattern not met yet): abandon */
                uint8_t pick = ok[rng % (uint64_t)n_ok];
                for (int k = 0; k < n_ok && (n > 40 || rng % 2); k++)
                    if (strchr("\"]},", ok[k]) && ok[k]) pick = ok[k];
                assert_int_equal(gram_matcher_accept_bytes(m, &pick, 1), 0);
                doc[n++] = (char)pick;
            }
            doc[n] = 0;
            n_walks++;
            if (!gram_matcher_accepting(m)) continue;
            n_done++;
            cJSON *v = cJSON_ParseWithLength(doc, n);
            if (!v) fail_msg("schema %s: walk gave non-JSON %s", cases[i].schema, doc);
            if (!strstr(doc, "\\u0000") && !sc_valid(sch, sch, v))
                fail_msg("schema %s: walk gave %s, which does not validate", cases[i].schema, doc);
            cJSON_Delete(v);
        }
        gram_matcher_free(m);
        gram_matcher_free(c);
        cJSON_Delete(sch);
        gram_free(g);
    }
    /* most walks end in a complete document (random bytes rarely spell what an unanchored pattern needs) */
    assert_true(n_done * 4 >= n_walks * 3);
}

/* Integer ranges are exact: every integer in a window around the bounds, for several bound pairs. */
static void test_integer_ranges(void **state) {
    (void)state;
    static const struct {
        int has_lo, lo, has_hi, hi, exclusive;
    } r[] = {
        {1, -15, 1, 120, 0}, {1, 0, 1, 0, 0}, {1, 7, 0, 0, 0},   {0, 0, 1, -3, 0},   {1, -1005, 1, -998, 0},
        {1, 99, 1, 1001, 0}, {1, 5, 1, 9, 1}, {0, 0, 1, 250, 0}, {1, -250, 0, 0, 0}, {1, 1, 1, 1000, 0},
    };
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
        char js[256] = "{\"type\":\"integer\"";
        size_t n = strlen(js);
        if (r[i].has_lo)
            n += (size_t)snprintf(js + n, sizeof js - n, ",\"%s\":%d", r[i].exclusive ? "exclusiveMinimum" : "minimum",
                                  r[i].lo);
        if (r[i].has_hi)
            n += (size_t)snprintf(js + n, sizeof js - n, ",\"%s\":%d", r[i].exclusive ? "exclusiveMaximum" : "maximum",
                                  r[i].hi);
        snprintf(js + n, sizeof js - n, "}");
        gram_t *g = schema(js);
        for (int v = -1200; v <= 1200; v++) {
            char doc[32];
            snprintf(doc, sizeof doc, "%d", v);
            bool want = (!r[i].has_lo || (r[i].exclusive ? v > r[i].lo : v >= r[i].lo)) &&
                        (!r[i].has_hi || (r[i].exclusive ? v < r[i].hi : v <= r[i].hi));
            if (complete(g, doc) != want) fail_msg("%s: %d should be %s", js, v, want ? "accepted" : "rejected");
        }
        assert_false(complete(g, "1.0"));
        assert_false(complete(g, "-0"));
        assert_false(complete(g, "007"));
        gram_free(g);
    }
}

static void test_whitespace_bound(void **state) {
    (void)state;
    gram_t *g = schema_ws("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"],"
                          "\"additionalProperties\":false}",
                          4);
    assert_true(complete(g, "{\"a\"    :1}"));
    assert_false(complete(g, "{\"a\"     :1}"));
    assert_true(complete(g, "{\n\t\"a\": 1\r\n}"));
    gram_free(g);
}

static void test_any_object(void **state) {
    (void)state;
    gram_schema_opts_t o = gram_schema_default_opts();
    o.any_object = true;
    gram_t *g = NULL;
    char err[256];
    assert_int_equal(gram_from_schema(NULL, 0, &o, &g, err, sizeof err), 0);
    assert_true(complete(g, "{}"));
    assert_true(complete(g, "{\"a\": [1, 2.5, \"x\", {\"b\": null}], \"c\": true}"));
    assert_false(complete(g, "[]"));
    assert_false(complete(g, "\"x\""));
    assert_false(complete(g, "{\"a\":}"));
    gram_free(g);
}

static void test_schema_errors(void **state) {
    (void)state;
    static const struct {
        const char *schema;
        int rc;
        const char *words[2];
    } bad[] = {
        {"{\"allOf\":[{\"type\":\"string\"}]}", ERR_UNSUPPORTED, {"'allOf'", "at /"}},
        {"{\"type\":\"object\",\"properties\":{\"a\":{\"not\":{}}}}", ERR_UNSUPPORTED, {"'not'", "/properties/a"}},
        {"{\"oneOf\":[{\"type\":\"string\"}]}", ERR_UNSUPPORTED, {"'oneOf'"}},
        {"{\"type\":\"string\",\"format\":\"hostname\"}", ERR_UNSUPPORTED, {"hostname"}},
        {"{\"type\":\"string\",\"pattern\":\"a(?=b)\"}", ERR_UNSUPPORTED, {"lookaround"}},
        {"{\"type\":\"array\",\"uniqueItems\":true}", ERR_UNSUPPORTED, {"'uniqueItems'"}},
        {"{\"type\":\"object\",\"minProperties\":1}", ERR_UNSUPPORTED, {"'minProperties'"}},
        {"{\"type\":\"integer\",\"multipleOf\":2}", ERR_UNSUPPORTED, {"'multipleOf'"}},
        {"{\"type\":\"object\",\"patternProperties\":{}}", ERR_UNSUPPORTED, {"'patternProperties'"}},
        {"{\"if\":{},\"then\":{}}", ERR_UNSUPPORTED, {"'if'"}},
        {"{\"$ref\":\"http://x/y.json\"}", ERR_UNSUPPORTED, {"$ref"}},
        {"{\"$ref\":\"#/$defs/missing\"}", ERR_UNSUPPORTED, {"missing"}},
        {"{\"$ref\":\"#/$defs/a\",\"type\":\"string\",\"$defs\":{\"a\":{}}}", ERR_UNSUPPORTED, {"next to $ref"}},
        {"{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/a\"}},\"$ref\":\"#/$defs/a\"}", ERR_FORMAT, {"never finish"}},
        {"{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#\"}},\"required\":[\"a\"]}",
         ERR_FORMAT,
         {"never finish"}},
        {"{\"type\":", ERR_FORMAT, {"not valid JSON"}},
        {"{\"type\":\"foo\"}", ERR_FORMAT, {"unknown type"}},
        {"{\"type\":\"integer\",\"minimum\":5,\"maximum\":1}", ERR_FORMAT, {"minimum"}},
        {"{\"type\":\"integer\",\"maximum\":1e300}", ERR_UNSUPPORTED, {"9e15"}},
        {"{\"type\":\"array\",\"maxItems\":20000}", ERR_LIMIT, {"maxItems"}},
        {"{\"type\":\"string\",\"maxLength\":1,\"minLength\":2}", ERR_FORMAT, {"maxLength"}},
        {"{\"type\":\"string\",\"pattern\":\"a\",\"maxLength\":3}", ERR_UNSUPPORTED, {"maxLength"}},
        {"false", ERR_FORMAT, {"admits no value"}},
        {"{\"enum\":[]}", ERR_FORMAT, {"enum"}},
        {"{\"type\":\"integer\",\"enum\":[\"a\"]}", ERR_FORMAT, {"enum"}},
        {"{\"type\":\"object\",\"properties\":{},\"required\":[\"a\"],\"additionalProperties\":false}",
         ERR_FORMAT,
         {"required"}},
        {"{\"type\":\"array\",\"prefixItems\":[{}],\"items\":false,\"minItems\":2}", ERR_FORMAT, {"minItems"}},
        {"{\"properties\":{},\"items\":{}}", ERR_UNSUPPORTED, {"without 'type'"}},
        {"{\"anyOf\":[]}", ERR_FORMAT, {"anyOf"}},
        {"{\"nullable\":true}", ERR_UNSUPPORTED, {"'nullable'"}},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gram_t *g = NULL;
        char err[256] = "";
        int rc = gram_from_schema(bad[i].schema, strlen(bad[i].schema), NULL, &g, err, sizeof err);
        if (rc != bad[i].rc)
            fail_msg("schema %s: rc %s (%s), want %s", bad[i].schema, err_name(rc), err, err_name(bad[i].rc));
        for (int k = 0; k < 2 && bad[i].words[k]; k++)
            if (!strstr(err, bad[i].words[k]))
                fail_msg("schema %s: '%s' lacks '%s'", bad[i].schema, err, bad[i].words[k]);
        assert_null(g);
    }
}

static void test_schema_limits(void **state) {
    (void)state;
    /* nesting deeper than 64 */
    char *deep = malloc(70 * 40 + 64);
    size_t n = 0;
    for (int i = 0; i < 70; i++)
        n += (size_t)sprintf(deep + n, "{\"type\":\"array\",\"items\":");
    n += (size_t)sprintf(deep + n, "{}");
    for (int i = 0; i < 70; i++)
        deep[n++] = '}';
    deep[n] = 0;
    gram_t *g = NULL;
    char err[256];
    assert_int_equal(gram_from_schema(deep, n, NULL, &g, err, sizeof err), ERR_LIMIT);
    assert_non_null(strstr(err, "64"));
    free(deep);
    /* more than 1000 enum values */
    char *big = malloc(1100 * 8 + 32);
    n = (size_t)sprintf(big, "{\"enum\":[");
    for (int i = 0; i < 1100; i++)
        n += (size_t)sprintf(big + n, "%s%d", i ? "," : "", i);
    n += (size_t)sprintf(big + n, "]}");
    assert_int_equal(gram_from_schema(big, n, NULL, &g, err, sizeof err), ERR_LIMIT);
    free(big);
    /* 3000 required properties and 3000 prefixItems: long chains compile (no deep nesting) and match */
    size_t cap = 3000 * 40 + 256;
    char *js = malloc(cap), *doc = malloc(cap);
    n = (size_t)sprintf(js, "{\"type\":\"object\",\"properties\":{");
    size_t d = (size_t)sprintf(doc, "{");
    for (int i = 0; i < 3000; i++) {
        n += (size_t)sprintf(js + n, "%s\"p%d\":{\"type\":\"integer\"}", i ? "," : "", i);
        d += (size_t)sprintf(doc + d, "%s\"p%d\":%d", i ? "," : "", i, i);
    }
    n += (size_t)sprintf(js + n, "},\"required\":[");
    for (int i = 0; i < 3000; i++)
        n += (size_t)sprintf(js + n, "%s\"p%d\"", i ? "," : "", i);
    sprintf(js + n, "],\"additionalProperties\":false}");
    sprintf(doc + d, "}");
    g = schema(js);
    assert_true(complete(g, doc));
    gram_free(g);
    n = (size_t)sprintf(js, "{\"type\":\"array\",\"items\":false,\"prefixItems\":[");
    d = (size_t)sprintf(doc, "[");
    for (int i = 0; i < 3000; i++) {
        n += (size_t)sprintf(js + n, "%s{\"const\":%d}", i ? "," : "", i % 10);
        d += (size_t)sprintf(doc + d, "%s%d", i ? "," : "", i % 10);
    }
    sprintf(js + n, "]}");
    sprintf(doc + d, "]");
    g = schema(js);
    assert_true(complete(g, doc));
    assert_true(complete(g, "[0,1,2]"));
    assert_false(complete(g, "[0,2]"));
    gram_free(g);
    free(js);
    free(doc);
    /* ws_max out of range */
    gram_schema_opts_t o = gram_schema_default_opts();
    o.ws_max = 65;
    assert_int_equal(gram_from_schema("{}", 2, &o, &g, err, sizeof err), ERR_RANGE);
}

/* OpenAI's strict-mode rules, on request. */
static void test_strict(void **state) {
    (void)state;
    gram_schema_opts_t o = gram_schema_default_opts();
    o.strict = true;
    static const struct {
        const char *schema;
        int rc;
        const char *word;
    } strict_cases[] = {
        {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":[\"string\",\"null\"]},\"b\":{\"type\":\"object\","
         "\"properties\":{},\"required\":[],\"additionalProperties\":false}},\"required\":[\"a\",\"b\"],"
         "\"additionalProperties\":false}",
         0, NULL},
        {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},\"required\":[\"a\"]}", ERR_UNSUPPORTED,
         "additionalProperties"},
        {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},\"required\":[],\"additionalProperties\":"
         "false}",
         ERR_UNSUPPORTED, "'a' missing from 'required'"},
        {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"object\",\"properties\":{}}},\"required\":[\"a\"],"
         "\"additionalProperties\":false}",
         ERR_UNSUPPORTED, "/properties/a"},
        {"{\"type\":\"array\"}", ERR_UNSUPPORTED, "root"},
        {"{\"anyOf\":[{\"type\":\"object\"}]}", ERR_UNSUPPORTED, "root"},
    };
    for (size_t i = 0; i < sizeof strict_cases / sizeof strict_cases[0]; i++) {
        gram_t *g = NULL;
        char err[256] = "";
        int rc = gram_from_schema(strict_cases[i].schema, strlen(strict_cases[i].schema), &o, &g, err, sizeof err);
        if (rc != strict_cases[i].rc) fail_msg("strict %s: rc %s (%s)", strict_cases[i].schema, err_name(rc), err);
        if (strict_cases[i].word && !strstr(err, strict_cases[i].word))
            fail_msg("strict %s: '%s' lacks '%s'", strict_cases[i].schema, err, strict_cases[i].word);
        gram_free(g);
    }
    /* without strict, the same schemas compile */
    gram_t *g = schema(strict_cases[1].schema);
    gram_free(g);
}

/* Schemas embedded in a builder: a Hermes-style tool call choosing between two functions. */
static void test_schema_expr_tool_call(void **state) {
    (void)state;
    const char *pa = "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"],"
                     "\"additionalProperties\":false}";
    const char *pb = "{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\",\"minimum\":1}},\"required\":"
                     "[\"n\"],\"additionalProperties\":false}";
    gram_builder_t *b = gram_build_new();
    uint32_t a = gram_seqv(b, 3, gram_str(b, "{\"name\": \"get_weather\", \"arguments\": "),
                           gram_schema_expr(b, pa, strlen(pa), NULL), gram_str(b, "}"));
    uint32_t c = gram_seqv(b, 3, gram_str(b, "{\"name\": \"roll\", \"arguments\": "),
                           gram_schema_expr(b, pb, strlen(pb), NULL), gram_str(b, "}"));
    uint32_t call = gram_seqv(b, 3, gram_str(b, "<tool_call>\n"), gram_altv(b, 2, a, c), gram_str(b, "\n</tool_call>"));
    gram_rule_define(b, GRAM_ROOT, gram_repeat(b, call, 1, 4));
    gram_t *g = NULL;
    char err[256];
    assert_int_equal(gram_build_compile(b, &g, err, sizeof err), 0);
    gram_build_free(b);
    assert_true(
        complete(g, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"));
    assert_true(
        complete(g, "<tool_call>\n{\"name\": \"roll\", \"arguments\": {\"n\":6}}\n</tool_call><tool_call>\n{\"name\": "
                    "\"get_weather\", \"arguments\": {\"city\":\"\"}}\n</tool_call>"));
    assert_false(complete(g, "<tool_call>\n{\"name\": \"roll\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"));
    assert_false(complete(g, "<tool_call>\n{\"name\": \"roll\", \"arguments\": {\"n\": 0}}\n</tool_call>"));
    assert_false(complete(g, "<tool_call>\n{\"name\": \"other\", \"arguments\": {}}\n</tool_call>"));
    gram_free(g);
    /* a schema error inside a builder is the builder's error */
    b = gram_build_new();
    assert_int_equal(gram_schema_expr(b, "{\"allOf\":[]}", 12, NULL), GRAM_NONE);
    assert_int_equal(gram_build_error(b), ERR_UNSUPPORTED);
    assert_non_null(strstr(gram_build_error_msg(b), "allOf"));
    gram_build_free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schema_table),   cmocka_unit_test(test_schema_walks_validate),
        cmocka_unit_test(test_integer_ranges), cmocka_unit_test(test_whitespace_bound),
        cmocka_unit_test(test_any_object),     cmocka_unit_test(test_schema_errors),
        cmocka_unit_test(test_schema_limits),  cmocka_unit_test(test_schema_expr_tool_call),
        cmocka_unit_test(test_strict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
