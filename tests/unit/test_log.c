/*
 * test_log.c — common/log: exact logfmt and JSON lines (quoting, escaping, numbers), invalid UTF-8 in JSON,
 * overlong lines that stay well formed, level filtering and name parsing.
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
#include "log.h"

#define TS 1700000000123ll /* 2023-11-14T22:13:20.123Z */

static void test_logfmt(void **state) {
    char buf[512];
    log_kv_t kv[] = {LOG_S("id", "req_1"), LOG_S("path", "/v1/chat completions"),
                     LOG_I("status", 200), LOG_F("ms", 12.5),
                     LOG_S("empty", ""),   LOG_S("q", "a\"b\\c\nd"),
                     LOG_S("eq", "a=b"),   LOG_S("null", NULL),
                     LOG_I("neg", -3)};
    size_t n = log_format_line(buf, sizeof buf, LOG_FORMAT_LOGFMT, TS, LOG_INFO, "request", kv, 9);
    assert_string_equal(buf,
                        "ts=2023-11-14T22:13:20.123Z level=info msg=request id=req_1 path=\"/v1/chat completions\" "
                        "status=200 ms=12.500 empty=\"\" q=\"a\\\"b\\\\c\\nd\" eq=\"a=b\" null=\"\" neg=-3\n");
    assert_int_equal(n, strlen(buf));
    log_format_line(buf, sizeof buf, LOG_FORMAT_LOGFMT, TS, LOG_WARN, "two words", NULL, 0);
    assert_string_equal(buf, "ts=2023-11-14T22:13:20.123Z level=warn msg=\"two words\"\n");
}

static void test_json(void **state) {
    char buf[512];
    log_kv_t kv[] = {LOG_S("model", "m\"1"), LOG_I("status", 404), LOG_F("ttft_ms", 0.25),
                     LOG_S("bad", "a\xff\xc3\xa9\x01"), LOG_S("tab", "x\ty")};
    log_format_line(buf, sizeof buf, LOG_FORMAT_JSON, TS, LOG_ERROR, "request", kv, 5);
    assert_string_equal(buf, "{\"ts\":\"2023-11-14T22:13:20.123Z\",\"level\":\"error\",\"msg\":\"request\","
                             "\"model\":\"m\\\"1\",\"status\":404,\"ttft_ms\":0.250,"
                             "\"bad\":\"a\\ufffd\xc3\xa9\\u0001\",\"tab\":\"x\\ty\"}\n");
    cJSON *j = cJSON_Parse(buf);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "bad")->valuestring, "a\xef\xbf\xbd\xc3\xa9\x01");
    cJSON_Delete(j);
}

/* A value too long for the line is cut, and the line still parses (JSON) and ends in a newline. */
static void test_overlong(void **state) {
    char big[8000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char buf[1024];
    log_kv_t kv[] = {LOG_S("path", big), LOG_I("status", 200)};
    size_t n = log_format_line(buf, sizeof buf, LOG_FORMAT_JSON, TS, LOG_INFO, "request", kv, 2);
    assert_true(n < sizeof buf);
    assert_int_equal(buf[n - 1], '\n');
    cJSON *j = cJSON_Parse(buf);
    assert_non_null(j);
    assert_int_equal(cJSON_GetObjectItem(j, "status")->valueint, 200);
    const char *p = cJSON_GetObjectItem(j, "path")->valuestring;
    assert_true(strlen(p) > 16 && !strcmp(p + strlen(p) - 3, "..."));
    cJSON_Delete(j);
    n = log_format_line(buf, sizeof buf, LOG_FORMAT_LOGFMT, TS, LOG_INFO, big, kv, 2);
    assert_int_equal(buf[n - 1], '\n');
    assert_non_null(strstr(buf, "status=200"));
    assert_non_null(strstr(buf, "...\""));
}

static void test_levels(void **state) {
    log_level_t l;
    log_format_t f;
    assert_int_equal(log_level_parse("warn", &l), 0);
    assert_int_equal(l, LOG_WARN);
    assert_int_equal(log_level_parse("WARN", &l), ERR_INVAL);
    assert_int_equal(log_level_parse(NULL, &l), ERR_INVAL);
    assert_int_equal(log_format_parse("json", &f), 0);
    assert_int_equal(f, LOG_FORMAT_JSON);
    assert_int_equal(log_format_parse("text", &f), ERR_INVAL);
    assert_string_equal(log_level_name(LOG_DEBUG), "debug");

    char *out = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&out, &len);
    log_setup(LOG_WARN, LOG_FORMAT_JSON, mem);
    assert_false(log_on(LOG_INFO));
    assert_true(log_on(LOG_ERROR));
    log_msg(LOG_INFO, "dropped %d", 1);
    log_msg(LOG_WARN, "kept %d", 2);
    log_setup(LOG_INFO, LOG_FORMAT_LOGFMT, NULL);
    fclose(mem);
    assert_null(strstr(out, "dropped"));
    assert_non_null(strstr(out, "\"level\":\"warn\",\"msg\":\"kept 2\"}\n"));
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logfmt),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_overlong),
        cmocka_unit_test(test_levels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
