/*
 * test_bench_stats.c — the arithmetic of `cinder bench-serve` (cli/bench_stats.c): percentiles against
 * numpy's linear interpolation (values worked out by hand from its definition), summaries, the serving report
 * with vLLM's definitions of TTFT, TPOT, ITL, E2E latency and throughput on hand-made requests, and the
 * prompt-size calibration.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "bench_stats.h"
#include "err.h"

#define EPS 1e-12

/* ---- percentiles and summaries ------------------------------------------------------------------------- */

static void test_percentile_linear(void **state) {
    (void)state;
    const double v[] = {1.0, 2.0, 3.0, 4.0};
    /* rank = p/100 * (n - 1): p50 -> 1.5 -> 2.5; p99 -> 2.97 -> 3 + 0.97; p25 -> 0.75 -> 1.75. */
    assert_true(fabs(bstat_percentile(v, 4, 50.0) - 2.5) < EPS);
    assert_true(fabs(bstat_percentile(v, 4, 99.0) - 3.97) < EPS);
    assert_true(fabs(bstat_percentile(v, 4, 25.0) - 1.75) < EPS);
    assert_true(bstat_percentile(v, 4, 0.0) == 1.0);
    assert_true(bstat_percentile(v, 4, 100.0) == 4.0);
    /* Out-of-range percentiles clamp; NaN reads as 0. */
    assert_true(bstat_percentile(v, 4, -5.0) == 1.0);
    assert_true(bstat_percentile(v, 4, 250.0) == 4.0);
    assert_true(bstat_percentile(v, 4, NAN) == 1.0);
    /* Odd count: the median is the middle element. */
    const double w[] = {10.0, 20.0, 40.0};
    assert_true(bstat_percentile(w, 3, 50.0) == 20.0);
    /* One element is every percentile; none gives 0. */
    assert_true(bstat_percentile(w + 2, 1, 99.0) == 40.0);
    assert_true(bstat_percentile(w, 0, 50.0) == 0.0);
    assert_true(bstat_percentile(NULL, 3, 50.0) == 0.0);
}

static void test_summarize(void **state) {
    (void)state;
    /* Unsorted input; mean 5, population standard deviation 2 (the textbook set). */
    double v[] = {9.0, 2.0, 5.0, 4.0, 4.0, 7.0, 4.0, 5.0};
    bstat_summary_t s;
    bstat_summarize(v, 8, &s);
    assert_int_equal(s.n, 8);
    assert_true(fabs(s.mean - 5.0) < EPS);
    assert_true(fabs(s.std - 2.0) < EPS);
    assert_true(s.min == 2.0 && s.max == 9.0);
    for (int i = 1; i < 8; i++)
        assert_true(v[i - 1] <= v[i]);                    /* sorted in place */
    assert_true(fabs(s.p50 - 4.5) < EPS);                 /* between the 4th (4) and 5th (5) */
    assert_true(fabs(s.p99 - (7.0 + 0.93 * 2.0)) < 1e-9); /* rank 6.93 between 7 and 9 */

    memset(&s, 0x5a, sizeof s);
    bstat_summarize(v, 0, &s);
    assert_int_equal(s.n, 0);
    assert_true(s.mean == 0.0 && s.p50 == 0.0 && s.p99 == 0.0 && s.std == 0.0);
}

/* ---- the report ------------------------------------------------------------------------------------------ */

static void test_report_definitions(void **state) {
    (void)state;
    const double itl_a[] = {0.1, 0.1, 0.2};
    const double itl_b[] = {0.3};
    const double itl_fail[] = {9.0, 9.0};
    bstat_req_t r[5];
    memset(r, 0, sizeof r);
    /* a: 4 tokens from usage, TTFT 0.5, latency 1.0 -> TPOT (1.0 - 0.5) / 3. */
    r[0] = (bstat_req_t){.ok = true,
                         .has_usage = true,
                         .n_prompt = 100,
                         .n_output = 4,
                         .n_chunks = 4,
                         .ttft_s = 0.5,
                         .latency_s = 1.0,
                         .itl_s = itl_a,
                         .n_itl = 3};
    /* b: stopped early with 2 counted chunks (no usage) -> TPOT (2.0 - 1.0) / 1. */
    r[1] = (bstat_req_t){.ok = true,
                         .early = true,
                         .n_output = 2,
                         .n_chunks = 2,
                         .ttft_s = 1.0,
                         .latency_s = 2.0,
                         .itl_s = itl_b,
                         .n_itl = 1};
    /* c: a single token: TTFT counts, TPOT does not. */
    r[2] = (bstat_req_t){
        .ok = true, .has_usage = true, .n_prompt = 50, .n_output = 1, .n_chunks = 1, .ttft_s = 0.25, .latency_s = 0.3};
    /* d: failed: nothing of it may enter the figures. */
    r[3] = (bstat_req_t){.ok = false,
                         .has_usage = true,
                         .n_prompt = 1000,
                         .n_output = 1000,
                         .n_chunks = 3,
                         .ttft_s = 7.0,
                         .latency_s = 8.0,
                         .itl_s = itl_fail,
                         .n_itl = 2};
    /* e: completed with no content at all: E2E counts, TTFT and TPOT do not. */
    r[4] = (bstat_req_t){.ok = true, .early = true, .has_usage = true, .n_prompt = 30, .n_output = 0, .latency_s = 0.2};

    bstat_report_t rep;
    char err[128] = "";
    assert_int_equal(bstat_report(r, 5, 4.0, &rep, err, sizeof err), 0);
    assert_int_equal(rep.n_requests, 5);
    assert_int_equal(rep.n_ok, 4);
    assert_int_equal(rep.n_failed, 1);
    assert_int_equal(rep.n_early, 2);
    assert_int_equal(rep.n_usage, 3);
    assert_int_equal(rep.total_prompt, 180);
    assert_int_equal(rep.total_output, 7);
    assert_true(fabs(rep.duration_s - 4.0) < EPS);
    assert_true(fabs(rep.req_per_s - 1.0) < EPS);
    assert_true(fabs(rep.output_tok_per_s - 7.0 / 4.0) < EPS);
    assert_true(fabs(rep.total_tok_per_s - 187.0 / 4.0) < EPS);
    assert_true(fabs(rep.mean_prompt - 60.0) < EPS);
    assert_true(fabs(rep.mean_output - 7.0 / 4.0) < EPS);

    assert_int_equal(rep.ttft.n, 3); /* a, b, c */
    assert_true(fabs(rep.ttft.mean - (0.5 + 1.0 + 0.25) / 3.0) < EPS);
    assert_true(fabs(rep.ttft.p50 - 0.5) < EPS);
    assert_int_equal(rep.tpot.n, 2); /* a, b */
    assert_true(fabs(rep.tpot.mean - (0.5 / 3.0 + 1.0) / 2.0) < EPS);
    assert_true(fabs(rep.tpot.max - 1.0) < EPS);
    assert_int_equal(rep.itl.n, 4); /* pooled over a and b */
    assert_true(fabs(rep.itl.mean - 0.7 / 4.0) < EPS);
    assert_true(fabs(rep.itl.p50 - 0.15) < EPS);
    assert_int_equal(rep.e2e.n, 4);
    assert_true(fabs(rep.e2e.mean - (1.0 + 2.0 + 0.3 + 0.2) / 4.0) < EPS);
    assert_true(fabs(rep.e2e.max - 2.0) < EPS);
}

static void test_report_edges(void **state) {
    (void)state;
    bstat_report_t rep;
    char err[128] = "";
    /* No requests at all: a valid, empty report. */
    assert_int_equal(bstat_report(NULL, 0, 1.0, &rep, err, sizeof err), 0);
    assert_int_equal(rep.n_ok, 0);
    assert_true(rep.req_per_s == 0.0 && rep.ttft.n == 0 && rep.mean_prompt == 0.0);
    /* Every request failed. */
    bstat_req_t f[2] = {{.ok = false}, {.ok = false}};
    assert_int_equal(bstat_report(f, 2, 1.0, &rep, err, sizeof err), 0);
    assert_int_equal(rep.n_failed, 2);
    assert_true(rep.output_tok_per_s == 0.0 && rep.e2e.n == 0);
    /* Bad arguments. */
    assert_int_equal(bstat_report(f, 2, 0.0, &rep, err, sizeof err), ERR_INVAL);
    assert_true(strstr(err, "duration") != NULL);
    assert_int_equal(bstat_report(f, 2, -1.0, &rep, err, sizeof err), ERR_INVAL);
    assert_int_equal(bstat_report(f, 2, NAN, &rep, err, sizeof err), ERR_INVAL);
    assert_int_equal(bstat_report(f, 2, INFINITY, &rep, err, sizeof err), ERR_INVAL);
    assert_int_equal(bstat_report(NULL, 2, 1.0, &rep, err, sizeof err), ERR_INVAL);
    bstat_req_t bad = {.ok = true, .n_itl = 3, .itl_s = NULL};
    assert_int_equal(bstat_report(&bad, 1, 1.0, &rep, err, sizeof err), ERR_INVAL);
}

/* ---- prompt-size calibration ------------------------------------------------------------------------------ */

static void test_calibrate_words(void **state) {
    (void)state;
    /* Nothing known: the target itself. */
    assert_int_equal(bstat_calibrate_words(128, 128, 0, 0, 0), 128);
    /* One point, proportional: 128 words gave 256 tokens -> 64 words. */
    assert_int_equal(bstat_calibrate_words(128, 128, 256, 0, 0), 64);
    /* Two points on tokens = 40 + 2 * words: 128 -> 296, 50 -> 140; 128 tokens need 44 words. */
    assert_int_equal(bstat_calibrate_words(128, 128, 296, 50, 140), 44);
    /* The same points in the other order. */
    assert_int_equal(bstat_calibrate_words(128, 50, 140, 128, 296), 44);
    /* A non-positive slope falls back to the proportional estimate from the first point. */
    assert_int_equal(bstat_calibrate_words(100, 100, 200, 50, 200), 50);
    assert_int_equal(bstat_calibrate_words(100, 100, 200, 100, 180), 50); /* same word count twice */
    /* The overhead alone exceeds the target: at least one word. */
    assert_int_equal(bstat_calibrate_words(16, 16, 80, 8, 60), 1);
    /* A huge tokens-per-word estimate is clamped to 16 x target the other way. */
    assert_int_equal(bstat_calibrate_words(10, 10, 1, 0, 0), 100);
    assert_int_equal(bstat_calibrate_words(10, 1000, 1, 0, 0), 160);
    assert_int_equal(bstat_calibrate_words(0, 10, 10, 0, 0), 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percentile_linear),  cmocka_unit_test(test_summarize),
        cmocka_unit_test(test_report_definitions), cmocka_unit_test(test_report_edges),
        cmocka_unit_test(test_calibrate_words),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
