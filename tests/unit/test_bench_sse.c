/*
 * test_bench_sse.c — the incremental SSE parser of `cinder bench-serve` (cli/bench_sse.c): events out of a
 * whole stream, the same events whatever the split into pieces (every split point, byte by byte), the three
 * line ends (CRLF split across pieces too), multi-line data, comments, event names, ignored fields, limits,
 * a callback that stops the parse, and the end of a stream.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "bench_sse.h"
#include "err.h"

/* Collects events as "name|data" strings joined by '#'. */
typedef struct {
    char out[4096];
    int n;
    int stop_at; /* return 7 from the callback for event number stop_at (1-based); 0 = never */
} sink_t;

static int on_event(void *user, const char *event, const char *data, size_t len) {
    sink_t *s = user;
    assert_int_equal(strlen(data), len); /* NUL-terminated, no embedded NUL in these tests */
    size_t used = strlen(s->out);
    snprintf(s->out + used, sizeof s->out - used, "%s%s|%s", s->n ? "#" : "", event, data);
    s->n++;
    return s->n == s->stop_at ? 7 : 0;
}

/* Parses text fed in pieces of `step` bytes (0 = one piece), then finishes; returns the last code. */
static int parse(const char *text, size_t step, size_t max_bytes, sink_t *s, bool finish) {
    bsse_t p;
    bsse_init(&p, max_bytes);
    char err[128] = "";
    size_t n = strlen(text), i = 0;
    int rc = 0;
    if (step == 0) step = n ? n : 1;
    while (i < n && !rc) {
        size_t k = n - i < step ? n - i : step;
        rc = bsse_feed(&p, text + i, k, on_event, s, err, sizeof err);
        i += k;
    }
    if (!rc && finish) rc = bsse_finish(&p, on_event, s, err, sizeof err);
    bsse_free(&p);
    return rc;
}

static const char *const STREAM = ": keep-alive comment\n"
                                  "data: {\"a\":1}\n"
                                  "\n"
                                  "event: usage\n"
                                  "data:{\"b\":2}\n"
                                  "id: 7\n"
                                  "retry: 100\n"
                                  "\n"
                                  "data: line one\n"
                                  "data:  two spaces\n"
                                  "data\n"
                                  "\n"
                                  "event: lonely\n"
                                  "\n"
                                  "data: [DONE]\n"
                                  "\n";
static const char *const WANT = "|{\"a\":1}#usage|{\"b\":2}#|line one\n two spaces\n#|[DONE]";

static void test_whole_stream(void **state) {
    (void)state;
    sink_t s = {0};
    assert_int_equal(parse(STREAM, 0, 1024, &s, true), 0);
    assert_string_equal(s.out, WANT);
    assert_int_equal(s.n, 4);
}

static void test_every_split(void **state) {
    (void)state;
    size_t n = strlen(STREAM);
    /* Byte by byte, and in pieces of every size. */
    for (size_t step = 1; step <= n; step++) {
        sink_t s = {0};
        assert_int_equal(parse(STREAM, step, 1024, &s, true), 0);
        assert_string_equal(s.out, WANT);
    }
    /* Two pieces split at every point. */
    for (size_t cut = 0; cut <= n; cut++) {
        bsse_t p;
        bsse_init(&p, 1024);
        sink_t s = {0};
        char err[64];
        assert_int_equal(bsse_feed(&p, STREAM, cut, on_event, &s, err, sizeof err), 0);
        assert_int_equal(bsse_feed(&p, STREAM + cut, n - cut, on_event, &s, err, sizeof err), 0);
        assert_string_equal(s.out, WANT);
        bsse_free(&p);
    }
}

static void test_line_ends(void **state) {
    (void)state;
    const char *crlf = "data: x\r\n\r\ndata: y\r\n\r\n";
    const char *cr = "data: x\r\rdata: y\r\r";
    for (size_t step = 0; step <= 3; step++) {
        sink_t a = {0}, b = {0};
        assert_int_equal(parse(crlf, step, 64, &a, true), 0);
        assert_string_equal(a.out, "|x#|y");
        assert_int_equal(parse(cr, step, 64, &b, true), 0);
        assert_string_equal(b.out, "|x#|y");
    }
    /* A CRLF whose LF arrives in the next piece is one line end, not a blank line: one event "a\nb". */
    bsse_t p;
    bsse_init(&p, 64);
    sink_t s = {0};
    char err[64];
    assert_int_equal(bsse_feed(&p, "data: a\r", 8, on_event, &s, err, sizeof err), 0);
    assert_int_equal(bsse_feed(&p, "\ndata: b\r\n\r\n", 13, on_event, &s, err, sizeof err), 0);
    assert_string_equal(s.out, "|a\nb");
    assert_int_equal(s.n, 1);
    bsse_free(&p);
}

static void test_finish(void **state) {
    (void)state;
    /* A last event without its blank line, and a last line without its line end, are still delivered. */
    sink_t a = {0};
    assert_int_equal(parse("data: 1\n\ndata: 2\n", 0, 64, &a, true), 0);
    assert_string_equal(a.out, "|1#|2");
    sink_t b = {0};
    assert_int_equal(parse("data: 1\n\ndata: [DONE]", 0, 64, &b, true), 0);
    assert_string_equal(b.out, "|1#|[DONE]");
    /* Without bsse_finish they are not. */
    sink_t c = {0};
    assert_int_equal(parse("data: 1\n\ndata: 2\n", 0, 64, &c, false), 0);
    assert_string_equal(c.out, "|1");
    /* bsse_mid_line tells a cut stream. */
    bsse_t p;
    bsse_init(&p, 64);
    char err[64];
    sink_t d = {0};
    assert_false(bsse_mid_line(&p));
    assert_int_equal(bsse_feed(&p, "data: {\"x\":", 11, on_event, &d, err, sizeof err), 0);
    assert_true(bsse_mid_line(&p));
    assert_int_equal(bsse_feed(&p, "1}\n", 3, on_event, &d, err, sizeof err), 0);
    assert_false(bsse_mid_line(&p));
    bsse_free(&p);
    /* An empty stream gives nothing. */
    sink_t e = {0};
    assert_int_equal(parse("", 0, 64, &e, true), 0);
    assert_int_equal(e.n, 0);
}

static void test_limits(void **state) {
    (void)state;
    char err[128] = "";
    /* A line longer than max_bytes fails, whole or in pieces. */
    char longline[200];
    memset(longline, 'x', sizeof longline - 1);
    longline[sizeof longline - 1] = '\0';
    memcpy(longline, "data: ", 6);
    sink_t a = {0}, b = {0};
    assert_int_equal(parse(longline, 0, 64, &a, true), ERR_LIMIT);
    assert_int_equal(parse(longline, 7, 64, &b, true), ERR_LIMIT);
    assert_int_equal(a.n + b.n, 0);
    /* Many short data lines whose sum exceeds max_bytes fail too. */
    bsse_t p;
    bsse_init(&p, 64);
    sink_t c = {0};
    int rc = 0;
    for (int i = 0; i < 40 && !rc; i++)
        rc = bsse_feed(&p, "data: 0123456789\n", 17, on_event, &c, err, sizeof err);
    assert_int_equal(rc, ERR_LIMIT);
    assert_true(strstr(err, "64") != NULL);
    bsse_free(&p);
    /* A line of exactly max_bytes is fine. */
    char exact[65];
    memset(exact, 'y', 64);
    memcpy(exact, "data: ", 6);
    exact[64] = '\0';
    sink_t d = {0};
    assert_int_equal(parse(exact, 5, 64, &d, true), 0);
    assert_int_equal(d.n, 1);
    /* Long event names are truncated, not overflowed. */
    char ev[200] = "event: ";
    memset(ev + 7, 'e', 150);
    strcpy(ev + 157, "\ndata: z\n\n");
    sink_t e = {0};
    assert_int_equal(parse(ev, 0, 1024, &e, true), 0);
    assert_int_equal(strlen(e.out), (BSSE_EVENT_MAX - 1) + 2);
}

static void test_callback_stops(void **state) {
    (void)state;
    sink_t s = {.stop_at = 2};
    assert_int_equal(parse("data: 1\n\ndata: 2\n\ndata: 3\n\n", 0, 64, &s, true), 7);
    assert_string_equal(s.out, "|1#|2");
}

static void test_free_and_reuse(void **state) {
    (void)state;
    bsse_free(NULL);
    bsse_t p;
    bsse_init(&p, 64);
    sink_t s = {0};
    char err[64];
    assert_int_equal(bsse_feed(&p, "data: half", 10, on_event, &s, err, sizeof err), 0);
    bsse_free(&p); /* drops the half line and leaves a fresh parser */
    assert_false(bsse_mid_line(&p));
    assert_int_equal(bsse_feed(&p, "data: new\n\n", 11, on_event, &s, err, sizeof err), 0);
    assert_string_equal(s.out, "|new");
    bsse_free(&p);
    bsse_free(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_stream),   cmocka_unit_test(test_every_split),
        cmocka_unit_test(test_line_ends),      cmocka_unit_test(test_finish),
        cmocka_unit_test(test_limits),         cmocka_unit_test(test_callback_stops),
        cmocka_unit_test(test_free_and_reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
