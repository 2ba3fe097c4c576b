/*
 * test_api_json.c — the api's building blocks: the strict JSON reader and typed getters (jr), the response
 * writer (jw), and stop-sequence matching (stop).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "jr.h"
#include "jw.h"
#include "stop.h"

/* ---- jr_parse ---- */

static int parse_rc(const char *body, size_t len, api_err_t *e) {
    cJSON *root = NULL;
    int rc = jr_parse(body, len, &root, e);
    cJSON_Delete(root);
    return rc;
}

static void test_parse_accepts_valid(void **state) {
    api_err_t e;
    const char *ok[] = {"{}",    " {\"a\":[1,2,{\"b\":null}]} \n",         "[]",
                        "\"x\"", "{\"s\":\"h\\u00e9llo \\ud83d\\ude00\"}", "{\"a\":1,\"b\":2,\"c\":{\"a\":1}}"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        assert_int_equal(parse_rc(ok[i], strlen(ok[i]), &e), 0);
    /* the body need not be NUL-terminated: only len bytes are read */
    char buf[8] = {'{', '}', 'x', 'x', 'x', 'x', 'x', 'x'};
    assert_int_equal(parse_rc(buf, 2, &e), 0);
}

static void test_parse_refuses(void **state) {
    struct {
        const char *body;
        const char *why; /* a word the message must contain */
    } bad[] = {
        {"", "empty"},
        {"{", "parse"},
        {"{\"a\":1} x", "unexpected bytes"},
        {"{\"a\":1,\"a\":2}", "more than once"},
        {"{\"o\":{\"k\":1,\"z\":0,\"k\":3}}", "more than once"},
        {"{\"a\":\"\xff\"}", "UTF-8"},
        {"{\"\xc0\xaf\":1}", "UTF-8"},         /* overlong key */
        {"{\"a\":\"\xed\xa0\x80\"}", "UTF-8"}, /* an encoded surrogate */
        {"{\"a\":1e999}", "too large"},
        {"{\"a\":-1e999}", "too large"},
        {"{\"a\":\"x\\u0000y\"}", "NUL"},
        {"{\"a\":\"\\ud800\"}", "parse"}, /* a lone surrogate escape */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        api_err_t e;
        memset(&e, 0, sizeof e);
        int rc = parse_rc(bad[i].body, strlen(bad[i].body), &e);
        if (rc == 0 || e.status != 400 || !strstr(e.message, bad[i].why)) {
            fprintf(stderr, "case %zu: rc %d status %d message '%s'\n", i, rc, e.status, e.message);
            fail();
        }
        assert_string_equal(e.type, "invalid_request_error");
        assert_string_equal(e.param, "");
    }
}

static void test_parse_depth(void **state) {
    char deep[2 * JR_MAX_DEPTH + 8];
    size_t n = 0;
    for (int i = 0; i < JR_MAX_DEPTH; i++)
        deep[n++] = '[';
    for (int i = 0; i < JR_MAX_DEPTH; i++)
        deep[n++] = ']';
    api_err_t e;
    assert_int_equal(parse_rc(deep, n, &e), 0);
    /* one more level is refused before cJSON recurses; so is a huge depth */
    char *huge = malloc(200001);
    memset(huge, '[', 100000);
    memset(huge + 100000, ']', 100000);
    assert_int_equal(parse_rc(huge, 200000, &e), ERR_FORMAT);
    assert_non_null(strstr(e.message, "levels deep"));
    free(huge);
    /* brackets inside strings do not count */
    char s[300];
    snprintf(s, sizeof s, "{\"a\":\"%0100d[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}", 0);
    assert_int_equal(parse_rc(s, strlen(s), &e), 0);
}

/* ---- typed getters ---- */

static void test_getters(void **state) {
    api_err_t e;
    cJSON *o = NULL;
    const char *body = "{\"t\":0.5,\"i\":3,\"f\":2.5,\"s\":\"x\",\"b\":true,\"n\":null,\"big\":1e300}";
    assert_int_equal(jr_parse(body, strlen(body), &o, &e), 0);
    bool present;
    double d = -1;
    assert_int_equal(jr_number(o, "t", NULL, 0, 2, &d, &present, &e), 0);
    assert_true(present);
    assert_true(d == 0.5);
    assert_int_equal(jr_number(o, "n", NULL, 0, 2, &d, &present, &e), 0); /* null = not given */
    assert_false(present);
    assert_int_equal(jr_number(o, "absent", NULL, 0, 2, &d, &present, &e), 0);
    assert_false(present);
    assert_int_equal(jr_number(o, "s", NULL, 0, 2, &d, &present, &e), ERR_TYPE);
    assert_string_equal(e.code, "invalid_type");
    assert_string_equal(e.param, "s");
    assert_string_equal(e.message, "Invalid type for 's': expected a decimal, but got a string instead.");
    assert_int_equal(jr_number(o, "f", "top.f", 0, 2, &d, &present, &e), ERR_RANGE);
    assert_string_equal(e.code, "decimal_above_max_value");
    assert_string_equal(e.param, "top.f");
    assert_string_equal(e.message,
                        "Invalid 'top.f': decimal above maximum value. Expected a value <= 2, but got 2.5 instead.");
    assert_int_equal(jr_number(o, "t", NULL, 1, 2, &d, &present, &e), ERR_RANGE);
    assert_string_equal(e.code, "decimal_below_min_value");

    int64_t v = 0;
    assert_int_equal(jr_int(o, "i", NULL, 1, 5, &v, &present, &e), 0);
    assert_int_equal(v, 3);
    assert_int_equal(jr_int(o, "f", NULL, 1, 5, &v, &present, &e), ERR_TYPE);
    assert_string_equal(e.message, "Invalid type for 'f': expected an integer, but got a number instead.");
    assert_int_equal(jr_int(o, "i", NULL, 4, 5, &v, &present, &e), ERR_RANGE);
    assert_string_equal(e.code, "integer_below_min_value");
    assert_int_equal(jr_int(o, "i", NULL, 0, 2, &v, &present, &e), ERR_RANGE);
    assert_string_equal(e.code, "integer_above_max_value");
    assert_int_equal(jr_int(o, "big", NULL, INT64_MIN, INT64_MAX, &v, &present, &e), ERR_RANGE);

    bool b = false;
    assert_int_equal(jr_bool(o, "b", NULL, &b, &present, &e), 0);
    assert_true(b);
    assert_int_equal(jr_bool(o, "i", NULL, &b, &present, &e), ERR_TYPE);
    assert_string_equal(e.message, "Invalid type for 'i': expected a boolean, but got a number instead.");
    const char *s = NULL;
    size_t len = 0;
    assert_int_equal(jr_string(o, "s", NULL, &s, &len, &present, &e), 0);
    assert_string_equal(s, "x");
    assert_int_equal(len, 1);
    assert_int_equal(jr_string(o, "b", NULL, &s, &len, &present, &e), ERR_TYPE);
    assert_string_equal(e.message, "Invalid type for 'b': expected a string, but got a boolean instead.");
    cJSON_Delete(o);
}

static void test_utf8(void **state) {
    assert_int_equal(jr_utf8_valid_len("abc", 3), 3);
    assert_int_equal(jr_utf8_valid_len("a\xc3\xa9", 3), 3);
    assert_int_equal(jr_utf8_valid_len("a\xc3", 2), 1);            /* incomplete */
    assert_int_equal(jr_utf8_valid_len("\xf4\x90\x80\x80", 4), 0); /* above U+10FFFF */
    assert_int_equal(jr_utf8_valid_len("\xe0\x80\x80", 3), 0);     /* overlong */
    char s[] = "ok\xff\xc3\xa9\xc3";
    jr_utf8_sanitize(s);
    assert_string_equal(s, "ok?\xc3\xa9?");
}

/* ---- jw ---- */

static void test_writer(void **state) {
    jw_t w;
    jw_init(&w);
    jw_obj(&w);
    jw_key(&w, "s");
    jw_strn(&w, "a\"b\\c\n\x01\0z\xc3\xa9", 11);
    jw_key(&w, "n");
    jw_arr(&w);
    jw_int(&w, -5);
    jw_num(&w, 2.0);
    jw_num(&w, 0.25);
    jw_num(&w, (double)-0.1f);
    jw_num(&w, 0.1);
    jw_num(&w, INFINITY);
    jw_bool(&w, false);
    jw_null(&w);
    jw_end(&w);
    jw_key(&w, "e");
    jw_obj(&w);
    jw_end(&w);
    jw_key(&w, "nil");
    jw_str(&w, NULL);
    jw_end(&w);
    size_t n = 0;
    char *s = jw_finish(&w, &n);
    assert_non_null(s);
    assert_string_equal(s, "{\"s\":\"a\\\"b\\\\c\\n\\u0001\\u0000z\xc3\xa9\",\"n\":[-5,2.0,0.25,-0.100000001,0.1,null,"
                           "false,null],\"e\":{},\"nil\":null}");
    assert_int_equal(n, strlen(s));
    /* what we print parses back to the same values */
    cJSON *back = cJSON_Parse(s);
    assert_non_null(back);
    assert_true((float)cJSON_GetArrayItem(cJSON_GetObjectItem(back, "n"), 3)->valuedouble ==
                -0.1f); /* a float round-trips */
    assert_true(cJSON_GetArrayItem(cJSON_GetObjectItem(back, "n"), 4)->valuedouble == 0.1);
    cJSON_Delete(back);
    free(s);
}

/* ---- stop ---- */

static void test_stop_find_and_holdback(void **state) {
    api_stop_t st = {0};
    assert_int_equal(api_stop_add(&st, "END", 3), 0);
    assert_int_equal(api_stop_add(&st, "\n\n", 2), 0);
    assert_int_equal(api_stop_add(&st, "x", 0), ERR_INVAL);
    assert_int_equal(api_stop_add(&st, "a", 1), 0);
    assert_int_equal(api_stop_add(&st, "b", 1), 0);
    assert_int_equal(api_stop_add(&st, "c", 1), ERR_LIMIT);
    api_stop_clear(&st);
    assert_int_equal(st.n, 0);

    assert_int_equal(api_stop_add(&st, "END", 3), 0);
    assert_int_equal(api_stop_add(&st, "\n\n", 2), 0);
    const char *t = "one ENtwo\n\nEND";
    assert_int_equal(api_stop_find(&st, t, strlen(t), 0), 9);   /* the earliest of any */
    assert_int_equal(api_stop_find(&st, t, strlen(t), 10), 11); /* only matches starting at or after from */
    assert_int_equal(api_stop_find(&st, t, 6, 0), -1);
    assert_int_equal(api_stop_holdback(&st, "abc E", 5), 1);
    assert_int_equal(api_stop_holdback(&st, "abc EN", 6), 2);
    assert_int_equal(api_stop_holdback(&st, "abc ENx", 7), 0);
    assert_int_equal(api_stop_holdback(&st, "abc\n", 4), 1);
    assert_int_equal(api_stop_holdback(&st, "", 0), 0);
    assert_int_equal(api_stop_holdback(&st, "EN", 2), 2); /* shorter than the stop string itself */
    api_stop_clear(&st);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_accepts_valid),
        cmocka_unit_test(test_parse_refuses),
        cmocka_unit_test(test_parse_depth),
        cmocka_unit_test(test_getters),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_writer),
        cmocka_unit_test(test_stop_find_and_holdback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
