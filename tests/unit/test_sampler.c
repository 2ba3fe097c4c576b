/*
 * test_sampler.c — the sampler: RNG reference vectors, parameter validation, greedy and its ties, each filter's
 * exact candidate set on hand-made distributions and against a naive full-sort reference on large rows,
 * penalties' exact arithmetic, logit_bias, special values, seeding, sampling frequencies against softmax, and
 * logprobs against a naive computation. Everything is seeded: no test can flake.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "sampler.h"

/* ---- helpers ------------------------------------------------------------------------------------------ */

static sampler_t *make(const sampler_params_t *p, int32_t n_vocab) {
    sampler_t *s = NULL;
    char err[256] = "";
    int rc = sampler_create(p, n_vocab, &s, err, sizeof err);
    if (rc != 0) fail_msg("sampler_create: %s (%s)", err_name(rc), err);
    return s;
}

/* Candidates as a set: ids sorted by probability (the API's order) and their probabilities. */
typedef struct {
    int32_t n;
    int32_t ids[64];
    float probs[64];
} cands_t;

static cands_t candidates(sampler_t *s, const float *logits) {
    cands_t c;
    memset(&c, 0, sizeof c);
    assert_int_equal(sampler_candidates(s, logits, c.ids, c.probs, 64, &c.n), 0);
    return c;
}

static void assert_ids(const cands_t *c, const int32_t *want, int32_t n_want) {
    if (c->n != n_want) {
        fprintf(stderr, "got %d candidates:", (int)c->n);
        for (int32_t i = 0; i < c->n && i < 64; i++)
            fprintf(stderr, " %d", (int)c->ids[i]);
        fprintf(stderr, "\n");
    }
    assert_int_equal(c->n, n_want);
    for (int32_t i = 0; i < n_want; i++)
        assert_int_equal(c->ids[i], want[i]);
}

/* Logits whose softmax at temperature 1 is exactly proportional to probs (up to float rounding). */
static void logits_from_probs(const double *probs, const int32_t *ids, int n, float *logits, int32_t n_vocab) {
    for (int32_t i = 0; i < n_vocab; i++)
        logits[i] = -INFINITY;
    for (int i = 0; i < n; i++)
        logits[ids[i]] = (float)log(probs[i]);
}

/* Softmax of logits/T in double with libm: the naive reference. */
static void naive_softmax(const float *logits, int32_t n, double t, double *p) {
    double m = -INFINITY, z = 0.0;
    for (int32_t i = 0; i < n; i++)
        if (logits[i] > m) m = logits[i];
    for (int32_t i = 0; i < n; i++) {
        p[i] = logits[i] > -INFINITY ? exp(((double)logits[i] - m) / t) : 0.0;
        z += p[i];
    }
    for (int32_t i = 0; i < n; i++)
        p[i] /= z;
}

/* ---- RNG ---------------------------------------------------------------------------------------------- */

/* xoshiro256** from the state {1, 2, 3, 4}: the first outputs of the reference implementation (Blackman &
   Vigna's xoshiro256starstar.c; also the test vector of Rust's rand_xoshiro). */
static void test_rng_xoshiro_reference(void **state) {
    (void)state;
    static const uint64_t want[10] = {11520ULL,
                                      0ULL,
                                      1509978240ULL,
                                      1215971899390074240ULL,
                                      1216172134540287360ULL,
                                      607988272756665600ULL,
                                      16172922978634559625ULL,
                                      8476171486693032832ULL,
                                      10595114339597558777ULL,
                                      2904607092377533576ULL};
    sampler_rng_t r = {{1, 2, 3, 4}};
    for (int i = 0; i < 10; i++)
        assert_true(sampler_rng_next(&r) == want[i]);
}

/* Seeding: four successive splitmix64 outputs (Steele, Lea & Flood; Java's SplittableRandom(0).nextLong() is the
   first of them for seed 0). */
static void test_rng_splitmix_seed(void **state) {
    (void)state;
    sampler_rng_t r;
    sampler_rng_seed(&r, 0);
    assert_true(r.s[0] == 0xe220a8397b1dcdafULL);
    assert_true(r.s[1] == 0x6e789e6aa1b965f4ULL);
    assert_true(r.s[2] == 0x06c45d188009454fULL);
    assert_true(r.s[3] == 0xf88bb8a8724c81ecULL);

    sampler_rng_t a, b;
    sampler_rng_seed(&a, 42);
    sampler_rng_seed(&b, 43);
    assert_false(a.s[0] == b.s[0]);
}

static void test_rng_uniform_open_interval(void **state) {
    (void)state;
    sampler_rng_t r = {{0, 0, 0, 0}}; /* a stuck generator that returns 0 forever: the smallest output */
    double u = sampler_rng_uniform(&r);
    assert_true(u > 0.0 && u == 0x1.0p-54);
    sampler_rng_seed(&r, 7);
    double sum = 0.0;
    for (int i = 0; i < 100000; i++) {
        u = sampler_rng_uniform(&r);
        assert_true(u > 0.0 && u < 1.0);
        sum += u;
    }
    assert_true(fabs(sum / 100000 - 0.5) < 0.005); /* sd of the mean is 0.0009 */
}

/* ---- parameters -------------------------------------------------------------------------------------- */

static void test_default_params(void **state) {
    (void)state;
    sampler_params_t p = sampler_default_params();
    assert_true(p.temperature == 1.0f && p.top_p == 1.0f && p.min_p == 0.0f && p.top_k == 0);
    assert_true(p.presence_penalty == 0.0f && p.frequency_penalty == 0.0f && p.repetition_penalty == 1.0f);
    assert_int_equal(p.penalty_last_n, 64);
    assert_null(p.logit_bias);
    assert_int_equal(p.n_logit_bias, 0);
    sampler_t *s = make(&p, 10);
    sampler_free(s);
    sampler_free(NULL);
}

static void expect_bad(const sampler_params_t *p, int32_t n_vocab, int code, const char *field) {
    sampler_t *s = (sampler_t *)&s; /* must come back NULL */
    char err[256] = "";
    int rc = sampler_create(p, n_vocab, &s, err, sizeof err);
    if (rc != code || !strstr(err, field))
        fail_msg("want %s naming '%s', got %s: '%s'", err_name(code), field, err_name(rc), err);
    assert_null(s);
}

static void test_validation(void **state) {
    (void)state;
    sampler_params_t d = sampler_default_params(), p;
#define BAD(field, value, name)                                                                                        \
    do {                                                                                                               \
        p = d;                                                                                                         \
        p.field = value;                                                                                               \
        expect_bad(&p, 100, ERR_RANGE, name);                                                                          \
    } while (0)
    BAD(temperature, -0.01f, "temperature");
    BAD(temperature, 2.01f, "temperature");
    BAD(temperature, NAN, "temperature");
    BAD(top_k, -1, "top_k");
    BAD(top_p, 0.0f, "top_p");
    BAD(top_p, 1.0001f, "top_p");
    BAD(top_p, NAN, "top_p");
    BAD(min_p, -0.1f, "min_p");
    BAD(min_p, 1.5f, "min_p");
    BAD(presence_penalty, 2.5f, "presence_penalty");
    BAD(presence_penalty, -2.5f, "presence_penalty");
    BAD(frequency_penalty, 2.01f, "frequency_penalty");
    BAD(frequency_penalty, NAN, "frequency_penalty");
    BAD(repetition_penalty, 0.0f, "repetition_penalty");
    BAD(repetition_penalty, -1.0f, "repetition_penalty");
    BAD(repetition_penalty, INFINITY, "repetition_penalty");
    BAD(penalty_last_n, -1, "penalty_last_n");
    BAD(penalty_last_n, SAMPLER_MAX_PENALTY_LAST_N + 1, "penalty_last_n");
#undef BAD
    expect_bad(&d, 0, ERR_RANGE, "n_vocab");

    sampler_bias_t bias[2] = {{5, 1.0f}, {100, 1.0f}};
    p = d;
    p.logit_bias = bias;
    p.n_logit_bias = 2;
    expect_bad(&p, 100, ERR_RANGE, "logit_bias"); /* id 100 is outside [0, 100) */
    bias[1] = (sampler_bias_t){-1, 1.0f};
    expect_bad(&p, 100, ERR_RANGE, "logit_bias");
    bias[1] = (sampler_bias_t){6, 100.5f};
    expect_bad(&p, 100, ERR_RANGE, "logit_bias");
    bias[1] = (sampler_bias_t){6, NAN};
    expect_bad(&p, 100, ERR_RANGE, "logit_bias");
    p.logit_bias = NULL;
    expect_bad(&p, 100, ERR_INVAL, "logit_bias");

    /* NULL out and NULL params. */
    char err[128];
    assert_int_equal(sampler_create(&d, 10, NULL, err, sizeof err), ERR_INVAL);
    sampler_t *s = (sampler_t *)&s;
    assert_int_equal(sampler_create(NULL, 10, &s, err, sizeof err), ERR_INVAL);
    assert_null(s);

    /* The edges of every range are accepted. */
    p = d;
    p.temperature = 2.0f;
    p.top_p = 1.0f;
    p.min_p = 1.0f;
    p.presence_penalty = -2.0f;
    p.frequency_penalty = 2.0f;
    p.penalty_last_n = 0;
    bias[0] = (sampler_bias_t){0, -100.0f};
    bias[1] = (sampler_bias_t){99, 100.0f};
    p.logit_bias = bias;
    s = make(&p, 100);
    sampler_free(s);
    p.temperature = 0.0f;
    p.top_k = 1000;
    s = make(&p, 100);
    sampler_free(s);
}

static void test_bad_calls(void **state) {
    (void)state;
    sampler_params_t p = sampler_default_params();
    sampler_t *s = make(&p, 4);
    float logits[4] = {0, 1, 2, 3};
    assert_int_equal(sampler_sample(NULL, logits), ERR_INVAL);
    assert_int_equal(sampler_sample(s, NULL), ERR_INVAL);
    int32_t n, ids[2];
    float probs[2];
    assert_int_equal(sampler_candidates(s, logits, NULL, probs, 2, &n), ERR_INVAL);
    assert_int_equal(sampler_candidates(s, logits, ids, probs, -1, &n), ERR_INVAL);
    assert_int_equal(sampler_adjusted_logits(s, logits, NULL), ERR_INVAL);
    /* Out-of-range history ids are skipped, never stored. */
    int32_t bad[4] = {-1, 4, INT32_MAX, 2};
    sampler_add_prompt(s, bad, 4);
    sampler_add_prompt(s, NULL, 3);
    sampler_accept(s, -5);
    sampler_accept(s, 4);
    assert_true(sampler_n_generated(s) == 0);
    sampler_add_prompt(NULL, bad, 4);
    sampler_accept(NULL, 1);
    sampler_free(s);
}

/* ---- greedy ---------------------------------------------------------------------------------------- */

static void test_greedy_argmax_and_ties(void **state) {
    (void)state;
    sampler_params_t p = sampler_default_params();
    p.temperature = 0.0f;
    p.top_k = 1; /* filters cannot change the argmax; greedy ignores them */
    sampler_t *s = make(&p, 6);

    float a[6] = {0.5f, -1.0f, 3.25f, 2.0f, 3.0f, -7.0f};
    assert_int_equal(sampler_sample(s, a), 2);
    float ties[6] = {1.0f, 4.0f, 2.0f, 4.0f, 4.0f, 0.0f};
    assert_int_equal(sampler_sample(s, ties), 1);
    float nan_row[6] = {NAN, 1.0f, NAN, 1.5f, -INFINITY, 1.5f};
    assert_int_equal(sampler_sample(s, nan_row), 3);
    float first_nan[6] = {NAN, -3.0f, -2.0f, -5.0f, -INFINITY, -2.0f};
    assert_int_equal(sampler_sample(s, first_nan), 2);
    float pinf[6] = {1.0f, INFINITY, 2.0f, INFINITY, NAN, 0.0f};
    assert_int_equal(sampler_sample(s, pinf), 1);
    float all_ninf[6] = {-INFINITY, -INFINITY, NAN, -INFINITY, NAN, -INFINITY};
    assert_int_equal(sampler_sample(s, all_ninf), 0);
    assert_true(sampler_n_generated(s) == 6);

    cands_t c = candidates(s, a);
    int32_t want[1] = {2};
    assert_ids(&c, want, 1);
    assert_true(c.probs[0] == 1.0f);
    sampler_free(s);

    /* Greedy draws nothing: any seed gives the same picks. */
    p.seed = 12345;
    p.top_k = 0;
    s = make(&p, 6);
    assert_int_equal(sampler_sample(s, ties), 1);
    sampler_free(s);
}

/* ---- filters on a hand-made distribution -------------------------------------------------------------- */

/* p = {0.4, 0.3, 0.15, 0.1, 0.05} placed on scrambled ids of a vocabulary of 8 (ids 1, 4, 6 are impossible). */
static const double k_probs[5] = {0.4, 0.3, 0.15, 0.1, 0.05};
static const int32_t k_ids[5] = {5, 2, 7, 0, 3};

static cands_t run_filters(float t, int32_t top_k, float top_p, float min_p) {
    float logits[8];
    logits_from_probs(k_probs, k_ids, 5, logits, 8);
    sampler_params_t p = sampler_default_params();
    p.temperature = t;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    sampler_t *s = make(&p, 8);
    cands_t c = candidates(s, logits);
    sampler_free(s);
    return c;
}

static void test_no_filters(void **state) {
    (void)state;
    cands_t c = run_filters(1.0f, 0, 1.0f, 0.0f);
    assert_ids(&c, k_ids, 5); /* -inf tokens are not candidates */
    for (int i = 0; i < 5; i++)
        assert_float_equal(c.probs[i], k_probs[i], 1e-6);
}

static void test_top_k(void **state) {
    (void)state;
    cands_t c = run_filters(1.0f, 2, 1.0f, 0.0f);
    assert_ids(&c, k_ids, 2);
    assert_float_equal(c.probs[0], 0.4 / 0.7, 1e-6);
    assert_float_equal(c.probs[1], 0.3 / 0.7, 1e-6);
    c = run_filters(1.0f, 1, 1.0f, 0.0f);
    assert_ids(&c, k_ids, 1);
    c = run_filters(1.0f, 5, 1.0f, 0.0f);
    assert_ids(&c, k_ids, 5);
    c = run_filters(1.0f, 100, 1.0f, 0.0f); /* more than the vocabulary: off */
    assert_ids(&c, k_ids, 5);

    /* Ties at the boundary keep the lower ids. */
    float tie[6] = {1.0f, 2.0f, 2.0f, 0.0f, 2.0f, 2.0f};
    sampler_params_t p = sampler_default_params();
    p.top_k = 3;
    sampler_t *s = make(&p, 6);
    c = candidates(s, tie);
    int32_t want[3] = {1, 2, 4};
    assert_ids(&c, want, 3);
    sampler_free(s);
}

static void test_top_p(void **state) {
    (void)state;
    /* cumulative 0.4, 0.7, 0.85, 0.95, 1.0; the token that crosses the threshold is kept. */
    cands_t c = run_filters(1.0f, 0, 0.35f, 0.0f);
    assert_ids(&c, k_ids, 1);
    c = run_filters(1.0f, 0, 0.65f, 0.0f);
    assert_ids(&c, k_ids, 2);
    c = run_filters(1.0f, 0, 0.75f, 0.0f);
    assert_ids(&c, k_ids, 3);
    assert_float_equal(c.probs[0], 0.4 / 0.85, 1e-6);
    assert_float_equal(c.probs[2], 0.15 / 0.85, 1e-6);
    c = run_filters(1.0f, 0, 0.9f, 0.0f);
    assert_ids(&c, k_ids, 4);
    c = run_filters(1.0f, 0, 0.99f, 0.0f);
    assert_ids(&c, k_ids, 5);

    /* On the temperature-scaled distribution: at T = 0.5, p ∝ p^2 = .16 .09 .0225 .01 .0025 (sum .285), so the
       cumulative is .561, .877, .956: top_p 0.9 keeps 3 tokens where T = 1 keeps 4. */
    c = run_filters(0.5f, 0, 0.9f, 0.0f);
    assert_ids(&c, k_ids, 3);
    assert_float_equal(c.probs[0], 0.16 / 0.2725, 1e-5);
    /* At T = 2, p ∝ sqrt(p): .632 .548 .387 .316 .224 (sum 2.107): cumulative .300 .560 .744 .894: 0.75 -> 4. */
    c = run_filters(2.0f, 0, 0.75f, 0.0f);
    assert_ids(&c, k_ids, 4);
}

/* Reaching top_p exactly is enough: equal logits give p = 1 each (exact), so the masses below are exact. */
static void test_top_p_exact_threshold(void **state) {
    (void)state;
    float flat[1000];
    for (int i = 0; i < 1000; i++)
        flat[i] = 0.5f;
    sampler_params_t p = sampler_default_params();
    p.top_p = 0.5f;
    sampler_t *s = make(&p, 4);
    cands_t c = candidates(s, flat); /* 4 tokens: 0.25 + 0.25 reaches 0.5 */
    int32_t want[2] = {0, 1};
    assert_ids(&c, want, 2);
    assert_true(c.probs[0] == 0.5f && c.probs[1] == 0.5f);
    sampler_free(s);
    p.top_p = 0.25f;
    s = make(&p, 1000);
    int32_t n = 0;
    assert_int_equal(sampler_candidates(s, flat, NULL, NULL, 0, &n), 0);
    assert_int_equal(n, 250);
    sampler_free(s);
}

static void test_top_k_then_top_p(void **state) {
    (void)state;
    /* Without top_k, top_p 0.88 needs 4 tokens (0.85 < 0.88 <= 0.95). After top_k = 4 the mass is renormalised
       to 0.95: cumulative .421, .737, .895 -> 3 tokens. */
    cands_t c = run_filters(1.0f, 0, 0.88f, 0.0f);
    assert_ids(&c, k_ids, 4);
    c = run_filters(1.0f, 4, 0.88f, 0.0f);
    assert_ids(&c, k_ids, 3);
    assert_float_equal(c.probs[0], 0.4 / 0.85, 1e-6);
}

static void test_min_p(void **state) {
    (void)state;
    /* p / p_max = 1, .75, .375, .25, .125 */
    cands_t c = run_filters(1.0f, 0, 1.0f, 0.3f);
    assert_ids(&c, k_ids, 3);
    assert_float_equal(c.probs[1], 0.3 / 0.85, 1e-6);
    c = run_filters(1.0f, 0, 1.0f, 0.1f);
    assert_ids(&c, k_ids, 5);
    c = run_filters(1.0f, 0, 1.0f, 1.0f);
    assert_ids(&c, k_ids, 1);
    /* At T = 0.5 the ratios are squared: 1, .5625, .14: min_p 0.3 keeps 2. */
    c = run_filters(0.5f, 0, 1.0f, 0.3f);
    assert_ids(&c, k_ids, 2);
    /* Combined with top_p: the intersection of both prefixes (top_p 0.65 -> 2 tokens, min_p 0.2 -> 4). */
    c = run_filters(1.0f, 0, 0.65f, 0.2f);
    assert_ids(&c, k_ids, 2);
    /* min_p removes mass, but top_p's threshold stays measured on the top_k set: top_p 0.9 (4 tokens) with
       min_p 0.3 (3 tokens) keeps 3, and the survivors are renormalised. */
    c = run_filters(1.0f, 0, 0.9f, 0.3f);
    assert_ids(&c, k_ids, 3);
}

/* ---- filters against a naive full-sort reference on large rows ---------------------------------------- */

/* qsort order for ids: the value in g_sort_key descending, then id ascending. */
static const double *g_sort_key;
static int cmp_desc_g(const void *a, const void *b) {
    int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    if (g_sort_key[i] != g_sort_key[j]) return g_sort_key[i] > g_sort_key[j] ? -1 : 1;
    return i < j ? -1 : i > j;
}

/* The definition, spelled out: sort everything, cut top_k, cut top_p on the top_k mass, cut min_p. */
static int32_t naive_filter(const float *logits, int32_t n, double t, int32_t top_k, double top_p, double min_p,
                            int32_t *order, double *p) {
    naive_softmax(logits, n, t, p);
    double *key = malloc((size_t)n * sizeof *key); /* the logits order the probabilities exactly */
    assert_non_null(key);
    int32_t m = 0;
    for (int32_t i = 0; i < n; i++) {
        key[i] = logits[i];
        if (p[i] > 0.0) order[m++] = i;
    }
    g_sort_key = key;
    qsort(order, (size_t)m, sizeof *order, cmp_desc_g);
    free(key);
    if (top_k > 0 && top_k < m) m = top_k;
    double z = 0.0;
    for (int32_t i = 0; i < m; i++)
        z += p[order[i]];
    if (top_p < 1.0) {
        double cum = 0.0;
        int32_t keep = m;
        for (int32_t i = 0; i < m; i++) {
            cum += p[order[i]] / z;
            if (cum >= top_p) {
                keep = i + 1;
                break;
            }
        }
        m = keep;
    }
    if (min_p > 0.0) {
        int32_t keep = 0;
        while (keep < m && p[order[keep]] >= min_p * p[order[0]])
            keep++;
        m = keep;
    }
    return m;
}

static void check_against_naive(const float *logits, int32_t n, float t, int32_t top_k, float top_p, float min_p) {
    sampler_params_t sp = sampler_default_params();
    sp.temperature = t;
    sp.top_k = top_k;
    sp.top_p = top_p;
    sp.min_p = min_p;
    sampler_t *s = make(&sp, n);
    int32_t *ids = malloc((size_t)n * sizeof *ids), *order = malloc((size_t)n * sizeof *order);
    float *probs = malloc((size_t)n * sizeof *probs);
    double *p = malloc((size_t)n * sizeof *p);
    assert_non_null(ids && order && probs && p);
    int32_t got = 0;
    assert_int_equal(sampler_candidates(s, logits, ids, probs, n, &got), 0);
    int32_t want = naive_filter(logits, n, t, top_k, top_p, min_p, order, p);
    if (got != want)
        fail_msg("n=%d T=%g top_k=%d top_p=%g min_p=%g: %d candidates, naive %d", (int)n, (double)t, (int)top_k,
                 (double)top_p, (double)min_p, (int)got, (int)want);
    double z = 0.0;
    for (int32_t i = 0; i < want; i++)
        z += p[order[i]];
    for (int32_t i = 0; i < want; i++) {
        if (ids[i] != order[i])
            fprintf(stderr, "rank %d: got id %d (logit %.9g), naive %d (logit %.9g)\n", (int)i, (int)ids[i],
                    (double)logits[ids[i]], (int)order[i], (double)logits[order[i]]);
        assert_int_equal(ids[i], order[i]);
        assert_float_equal(probs[i], p[order[i]] / z, 1e-6 + 1e-5 * p[order[i]] / z);
    }
    free(ids);
    free(order);
    free(probs);
    free(p);
    sampler_free(s);
}

static void test_filters_match_naive_large(void **state) {
    (void)state;
    const int32_t n = 50000;
    float *logits = malloc((size_t)n * sizeof *logits);
    assert_non_null(logits);
    sampler_rng_t r;
    sampler_rng_seed(&r, 2024);
    /* Roughly like a model's row: a wide bulk and a few strong tokens; some ties, some impossible tokens. */
    for (int32_t i = 0; i < n; i++)
        logits[i] = (float)(8.0 * sampler_rng_uniform(&r) - 4.0);
    for (int i = 0; i < 30; i++)
        logits[sampler_rng_next(&r) % (uint64_t)n] = (float)(6.0 + 6.0 * sampler_rng_uniform(&r));
    for (int i = 0; i < 100; i++)
        logits[sampler_rng_next(&r) % (uint64_t)n] = 1.5f;
    for (int i = 0; i < 100; i++)
        logits[sampler_rng_next(&r) % (uint64_t)n] = -INFINITY;

    check_against_naive(logits, n, 1.0f, 40, 1.0f, 0.0f);
    check_against_naive(logits, n, 1.0f, 0, 0.9f, 0.0f);
    check_against_naive(logits, n, 0.7f, 0, 0.5f, 0.0f);
    check_against_naive(logits, n, 1.3f, 0, 0.95f, 0.0f);
    check_against_naive(logits, n, 1.0f, 0, 1.0f, 0.05f);
    check_against_naive(logits, n, 0.8f, 40, 0.95f, 0.05f);
    check_against_naive(logits, n, 1.0f, 5000, 0.8f, 0.0f);
    check_against_naive(logits, n, 2.0f, 20000, 0.99f, 0.01f);

    /* Adversarial layouts for the selections: sorted, reversed, all equal. */
    for (int32_t i = 0; i < n; i++)
        logits[i] = (float)i * 1e-3f;
    check_against_naive(logits, n, 1.0f, 100, 1.0f, 0.0f);
    check_against_naive(logits, n, 0.1f, 0, 0.9f, 0.0f);
    for (int32_t i = 0; i < n; i++)
        logits[i] = (float)(n - i) * 1e-3f;
    check_against_naive(logits, n, 1.0f, 100, 1.0f, 0.0f);
    check_against_naive(logits, n, 0.1f, 0, 0.9f, 0.0f);
    for (int32_t i = 0; i < n; i++)
        logits[i] = 0.25f;
    check_against_naive(logits, n, 1.0f, 100, 1.0f, 0.0f); /* ids 0..99 */
    check_against_naive(logits, n, 1.0f, 0, 0.001f, 0.0f); /* the first 50 ids */
    free(logits);
}

/* Every top_k from 1 to 400 on one row: the selection's early exits and its small-range finish all match. */
static void test_top_k_sweep(void **state) {
    (void)state;
    const int32_t n = 3000;
    float *logits = malloc((size_t)n * sizeof *logits);
    assert_non_null(logits);
    sampler_rng_t r;
    sampler_rng_seed(&r, 11);
    for (int32_t i = 0; i < n; i++)
        logits[i] = (float)(sampler_rng_next(&r) % 2000) * 0.01f; /* with ties */
    for (int32_t k = 1; k <= 400; k++)
        check_against_naive(logits, n, 1.0f, k, 1.0f, 0.0f);
    free(logits);
}

/* A full-size vocabulary: the candidate set still matches the definition, and sampled ids lie inside it. */
static void test_large_vocab_sampling(void **state) {
    (void)state;
    const int32_t n = 262144;
    float *logits = malloc((size_t)n * sizeof *logits);
    assert_non_null(logits);
    sampler_rng_t r;
    sampler_rng_seed(&r, 99);
    for (int32_t i = 0; i < n; i++)
        logits[i] = (float)(10.0 * sampler_rng_uniform(&r));
    check_against_naive(logits, n, 0.8f, 40, 0.9f, 0.05f);

    sampler_params_t p = sampler_default_params();
    p.temperature = 0.8f;
    p.top_k = 40;
    p.top_p = 0.9f;
    p.min_p = 0.05f;
    sampler_t *s = make(&p, n);
    cands_t c;
    assert_int_equal(sampler_candidates(s, logits, c.ids, c.probs, 64, &c.n), 0);
    assert_true(c.n >= 1 && c.n <= 40);
    for (int draw = 0; draw < 50; draw++) {
        int32_t id = sampler_sample(s, logits);
        bool found = false;
        for (int32_t i = 0; i < c.n; i++)
            found |= c.ids[i] == id;
        assert_true(found);
    }
    sampler_free(s);
    free(logits);
}

/* ---- penalties and bias -------------------------------------------------------------------------------- */

static void test_penalties_exact(void **state) {
    (void)state;
    sampler_params_t p = sampler_default_params();
    p.frequency_penalty = 0.5f;
    p.presence_penalty = 0.25f;
    p.repetition_penalty = 2.0f;
    sampler_t *s = make(&p, 8);
    const float logits[8] = {1.0f, 3.0f, -1.0f, 4.0f, -0.5f, 2.0f, 0.0f, 5.0f};
    int32_t prompt[3] = {1, 2, 1};
    sampler_add_prompt(s, prompt, 3);
    sampler_accept(s, 3);
    sampler_accept(s, 4);
    sampler_accept(s, 3);
    float out[8];
    assert_int_equal(sampler_adjusted_logits(s, logits, out), 0);
    /* 0: untouched. 1: prompt only -> repetition only, once although it appears twice: 3 / 2.
       2: prompt, negative -> multiplied: -1 * 2. 3: generated twice: 4 / 2 - (2 * 0.5 + 0.25).
       4: generated once, negative: -0.5 * 2 - (0.5 + 0.25). 5..7: untouched. */
    const float want[8] = {1.0f, 1.5f, -2.0f, 0.75f, -1.75f, 2.0f, 0.0f, 5.0f};
    for (int i = 0; i < 8; i++)
        assert_true(out[i] == want[i]);
    assert_true(sampler_n_generated(s) == 3);
    sampler_free(s);

    /* Presence/frequency alone ignore the prompt; negative values encourage. */
    p = sampler_default_params();
    p.presence_penalty = -2.0f;
    p.frequency_penalty = 0.125f;
    s = make(&p, 8);
    sampler_add_prompt(s, prompt, 3);
    for (int i = 0; i < 4; i++)
        sampler_accept(s, 6);
    assert_int_equal(sampler_adjusted_logits(s, logits, out), 0);
    for (int i = 0; i < 8; i++)
        assert_true(out[i] == (i == 6 ? 0.0f + 2.0f - 0.5f : logits[i]));
    sampler_free(s);
}

static void test_repetition_window(void **state) {
    (void)state;
    sampler_params_t p = sampler_default_params();
    p.repetition_penalty = 4.0f;
    p.penalty_last_n = 2;
    sampler_t *s = make(&p, 6);
    const float logits[6] = {8.0f, 8.0f, 8.0f, -2.0f, 8.0f, 8.0f};
    int32_t prompt[2] = {0, 1};
    sampler_add_prompt(s, prompt, 2); /* window: 0 1 */
    float out[6];
    sampler_adjusted_logits(s, logits, out);
    assert_true(out[0] == 2.0f && out[1] == 2.0f && out[2] == 8.0f);
    sampler_accept(s, 3); /* window: 1 3 */
    sampler_adjusted_logits(s, logits, out);
    assert_true(out[0] == 8.0f && out[1] == 2.0f && out[3] == -8.0f);
    sampler_accept(s, 3); /* window: 3 3 -> applied once */
    sampler_adjusted_logits(s, logits, out);
    assert_true(out[1] == 8.0f && out[3] == -8.0f);
    sampler_free(s);

    /* penalty_last_n = 0 turns it off. */
    p.penalty_last_n = 0;
    s = make(&p, 6);
    sampler_add_prompt(s, prompt, 2);
    sampler_accept(s, 0);
    sampler_adjusted_logits(s, logits, out);
    for (int i = 0; i < 6; i++)
        assert_true(out[i] == logits[i]);
    sampler_free(s);
}

static void test_bias_then_penalties(void **state) {
    (void)state;
    sampler_bias_t bias[3] = {{3, 7.0f}, {1, -3.0f}, {3, 2.0f}}; /* id 3 twice: the last entry (2) wins */
    sampler_params_t p = sampler_default_params();
    p.repetition_penalty = 2.0f;
    p.logit_bias = bias;
    p.n_logit_bias = 3;
    sampler_t *s = make(&p, 5);
    bias[0].bias = 50.0f; /* copied at create: later edits do not matter */
    sampler_accept(s, 3);
    const float logits[5] = {0.0f, 1.0f, 0.0f, 4.0f, NAN};
    float out[5];
    sampler_adjusted_logits(s, logits, out);
    assert_true(out[3] == 3.0f); /* (4 + 2) / 2: bias first, then the penalty */
    assert_true(out[1] == -2.0f);
    assert_true(out[0] == 0.0f && out[2] == 0.0f);
    assert_true(out[4] == -INFINITY); /* NaN becomes -inf */
    sampler_free(s);
}

static void test_penalties_steer_greedy(void **state) {
    (void)state;
    sampler_params_t p = sampler_default_params();
    p.temperature = 0.0f;
    p.frequency_penalty = 0.5f;
    sampler_t *s = make(&p, 2);
    const float logits[2] = {1.0f, 0.9f};
    /* 1.0 vs 0.9 -> 0; 0.5 vs 0.9 -> 1; 0.5 vs 0.4 -> 0; 0.0 vs 0.4 -> 1; ... */
    const int32_t want[6] = {0, 1, 0, 1, 0, 1};
    for (int i = 0; i < 6; i++)
        assert_int_equal(sampler_sample(s, logits), want[i]);
    sampler_free(s);
}

static void test_logit_bias_force_and_ban(void **state) {
    (void)state;
    float logits[10];
    for (int i = 0; i < 10; i++)
        logits[i] = (float)i * 0.1f;
    sampler_bias_t force = {7, 100.0f};
    sampler_params_t p = sampler_default_params();
    p.temperature = 2.0f;
    p.logit_bias = &force;
    p.n_logit_bias = 1;
    p.seed = 1;
    sampler_t *s = make(&p, 10);
    for (int i = 0; i < 2000; i++)
        assert_int_equal(sampler_sample(s, logits), 7);
    sampler_free(s);

    /* Ban the favourite: its logit 10 sits far above the rest, yet it is never drawn. */
    logits[3] = 10.0f;
    sampler_bias_t ban = {3, -100.0f};
    p.logit_bias = &ban;
    s = make(&p, 10);
    int seen[10] = {0};
    for (int i = 0; i < 5000; i++)
        seen[sampler_sample(s, logits)]++;
    assert_int_equal(seen[3], 0);
    for (int i = 0; i < 10; i++)
        if (i != 3) assert_true(seen[i] > 0);
    sampler_free(s);

    /* Greedy: the ban moves the argmax, the force wins over a bigger raw logit. */
    p.temperature = 0.0f;
    s = make(&p, 10);
    assert_int_equal(sampler_sample(s, logits), 9);
    sampler_free(s);
    p.logit_bias = &force;
    s = make(&p, 10);
    assert_int_equal(sampler_sample(s, logits), 7);
    sampler_free(s);
}

/* ---- special values ---------------------------------------------------------------------------------- */

static void test_special_values_sampling(void **state) {
    (void)state;
    sampler_params_t p = sampler_default_params();
    p.seed = 5;
    sampler_t *s = make(&p, 6);
    const float holes[6] = {NAN, 0.0f, -INFINITY, 0.0f, NAN, 0.0f};
    for (int i = 0; i < 3000; i++) {
        int32_t id = sampler_sample(s, holes);
        assert_true(id == 1 || id == 3 || id == 5);
    }
    /* Two +inf tokens share the mass equally; finite ones get none. */
    const float pinf[6] = {100.0f, INFINITY, 3.0f, INFINITY, NAN, -INFINITY};
    int seen[6] = {0};
    for (int i = 0; i < 4000; i++)
        seen[sampler_sample(s, pinf)]++;
    assert_int_equal(seen[1] + seen[3], 4000);
    assert_true(abs(seen[1] - seen[3]) < 300); /* 4.7 standard deviations */
    cands_t c = candidates(s, pinf);
    int32_t want[2] = {1, 3};
    assert_ids(&c, want, 2);
    assert_true(c.probs[0] == 0.5f && c.probs[1] == 0.5f);
    sampler_free(s);

    /* All -inf: token 0, and no random number is consumed (the next draws match a twin that skipped it). */
    p.seed = 77;
    sampler_t *a = make(&p, 6), *b = make(&p, 6);
    const float dead[6] = {-INFINITY, NAN, -INFINITY, -INFINITY, NAN, -INFINITY};
    assert_int_equal(sampler_sample(a, dead), 0);
    c = candidates(a, dead);
    assert_int_equal(c.n, 0);
    const float flat[6] = {0, 0, 0, 0, 0, 0};
    for (int i = 0; i < 50; i++)
        assert_int_equal(sampler_sample(a, flat), sampler_sample(b, flat));
    sampler_free(a);
    sampler_free(b);

    /* Huge finite logits and a tiny temperature do not overflow into NaN. */
    p.temperature = 1e-6f;
    s = make(&p, 4);
    const float huge[4] = {-3e38f, 3e38f, 3e38f, 1.0f};
    for (int i = 0; i < 100; i++) {
        int32_t id = sampler_sample(s, huge);
        assert_true(id == 1 || id == 2);
    }
    sampler_free(s);
}

/* ---- seeding and frequencies --------------------------------------------------------------------------- */

static void draw_sequence(uint64_t seed, int32_t *out, int n) {
    enum { V = 1000 };
    static float logits[V];
    for (int i = 0; i < V; i++)
        logits[i] = (float)((i * 7919) % 13) * 0.1f;
    sampler_params_t p = sampler_default_params();
    p.seed = seed;
    p.temperature = 1.5f;
    p.top_p = 0.95f;
    sampler_t *s = make(&p, V);
    for (int i = 0; i < n; i++)
        out[i] = sampler_sample(s, logits);
    sampler_free(s);
}

static void test_seed_determinism(void **state) {
    (void)state;
    int32_t a[200], b[200], c[200];
    draw_sequence(42, a, 200);
    draw_sequence(42, b, 200);
    draw_sequence(43, c, 200);
    assert_memory_equal(a, b, sizeof a);
    int same = 0;
    for (int i = 0; i < 200; i++)
        same += a[i] == c[i];
    assert_true(same < 20); /* ~1000 equally likely ids: a handful of coincidences at most */
}

/* Counts over many draws against the softmax: |count - N p| within 5 standard deviations for every token. */
static void check_frequencies(const float *logits, int32_t n, const sampler_params_t *p, const double *want,
                              int draws) {
    sampler_t *s = make(p, n);
    int counts[16] = {0};
    assert_true(n <= 16);
    for (int i = 0; i < draws; i++)
        counts[sampler_sample(s, logits)]++;
    for (int32_t i = 0; i < n; i++) {
        double mean = draws * want[i], sd = sqrt(draws * want[i] * (1.0 - want[i]));
        if (want[i] == 0.0) {
            assert_int_equal(counts[i], 0);
        } else if (fabs(counts[i] - mean) > 5.0 * sd + 1.0) {
            fail_msg("token %d: %d draws, expected %.1f +- %.1f", (int)i, counts[i], mean, sd);
        }
    }
    sampler_free(s);
}

static void test_frequencies_match_softmax(void **state) {
    (void)state;
    const float logits[8] = {1.0f, 2.5f, -0.5f, 2.0f, 0.0f, 3.0f, -2.0f, 1.5f};
    double want[8];
    sampler_params_t p = sampler_default_params();
    p.seed = 20240601;

    naive_softmax(logits, 8, 1.0, want);
    check_frequencies(logits, 8, &p, want, 200000);

    p.temperature = 0.6f;
    naive_softmax(logits, 8, 0.6, want);
    check_frequencies(logits, 8, &p, want, 200000);

    /* With filters: top_k 4 keeps {5, 1, 3, 7}; the frequencies follow the renormalised survivors. */
    p.temperature = 1.0f;
    p.top_k = 4;
    naive_softmax(logits, 8, 1.0, want);
    double z = want[5] + want[1] + want[3] + want[7];
    for (int i = 0; i < 8; i++)
        want[i] = (i == 5 || i == 1 || i == 3 || i == 7) ? want[i] / z : 0.0;
    check_frequencies(logits, 8, &p, want, 200000);

    /* top_p 0.7 at T = 1: p = .413 .251 .152 .092 ... cumulative .413 .664 .816 -> {5, 1, 3}. */
    p.top_k = 0;
    p.top_p = 0.7f;
    naive_softmax(logits, 8, 1.0, want);
    z = want[5] + want[1] + want[3];
    for (int i = 0; i < 8; i++)
        want[i] = (i == 5 || i == 1 || i == 3) ? want[i] / z : 0.0;
    check_frequencies(logits, 8, &p, want, 200000);
}

/* Rejection through redraws: proposing, then redrawing until the token is "allowed" (odd ids here), gives the
   softmax restricted to the allowed tokens; greedy and plain sampling leave nothing to redraw. */
static void test_redraw(void **state) {
    (void)state;
    const float logits[8] = {1.0f, 2.5f, -0.5f, 2.0f, 0.0f, 3.0f, -2.0f, 1.5f};
    sampler_params_t p = sampler_default_params();
    p.seed = 77;
    sampler_t *s = NULL;
    char err[128];
    assert_int_equal(sampler_create(&p, 8, &s, err, sizeof err), 0);
    double want[8], z = 0;
    naive_softmax(logits, 8, 1.0, want);
    for (int i = 1; i < 8; i += 2)
        z += want[i];
    int count[8] = {0};
    const int n = 200000;
    for (int k = 0; k < n; k++) {
        int32_t id = sampler_propose(s, logits);
        while (id % 2 == 0) {
            id = sampler_redraw(s);
            assert_true(id >= 0 && id < 8);
        }
        count[id]++;
    }
    for (int i = 0; i < 8; i++) {
        double f = (double)count[i] / n, w = i % 2 ? want[i] / z : 0.0;
        if (fabs(f - w) > 0.005) fail_msg("id %d: frequency %.4f, want %.4f", i, f, w);
    }
    /* one masked redraw gives the same distribution in one pass */
    uint32_t odd = 0xAAAAAAAAu;
    memset(count, 0, sizeof count);
    for (int k = 0; k < n; k++) {
        sampler_propose(s, logits);
        int32_t id = sampler_redraw_masked(s, &odd);
        assert_true(id >= 0 && id < 8 && id % 2 == 1);
        count[id]++;
    }
    for (int i = 0; i < 8; i++) {
        double f = (double)count[i] / n, w = i % 2 ? want[i] / z : 0.0;
        if (fabs(f - w) > 0.005) fail_msg("masked: id %d: frequency %.4f, want %.4f", i, f, w);
    }
    assert_int_equal(sampler_sample(s, logits) >= 0, 1);
    assert_int_equal(sampler_redraw(s), ERR_STATE); /* sampler_sample is not a proposal */
    assert_int_equal(sampler_redraw_masked(s, &odd), ERR_STATE);
    sampler_free(s);
    p.temperature = 0.0f;
    assert_int_equal(sampler_create(&p, 8, &s, err, sizeof err), 0);
    assert_int_equal(sampler_propose(s, logits), 5);
    assert_int_equal(sampler_redraw(s), ERR_STATE); /* greedy: nothing to redraw from */
    assert_int_equal(sampler_redraw(NULL), ERR_INVAL);
    sampler_free(s);
    /* top_k 1 keeps id 5 only: a mask without it leaves the truncated set empty */
    p.temperature = 1.0f;
    p.top_k = 1;
    assert_int_equal(sampler_create(&p, 8, &s, err, sizeof err), 0);
    assert_int_equal(sampler_propose(s, logits), 5);
    uint32_t not5 = 0xFFu & ~(1u << 5);
    assert_int_equal(sampler_redraw_masked(s, &not5), ERR_STATE);
    assert_int_equal(sampler_sample_masked(s, logits, &not5) != 5, 1); /* mask first, then truncate */
    sampler_free(s);
}

/*
 * sampler_sample_masked against its definition: the same seed and history drawing from the logits with every
 * disallowed token at -inf gives the same ids, for masks that are sparse, dense with whole words, all-allowed,
 * with bits set past the vocabulary (ignored), under each truncation and greedy. The vocabulary (1000) ends in a
 * partial mask word.
 */
static void test_masked_equals_inf_logits(void **state) {
    (void)state;
    enum { NV = 1000, WORDS = (NV + 31) / 32, STEPS = 300 };
    static float logits[NV], banned[NV];
    static uint32_t mask[WORDS];
    uint64_t x = 12345;
    for (int i = 0; i < NV; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        logits[i] = (float)((x >> 33) % 2000) / 200.0f - 5.0f;
    }
    for (int kind = 0; kind < 4; kind++) {
        for (int w = 0; w < WORDS; w++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            uint32_t r = (uint32_t)(x >> 32);
            mask[w] = kind == 0   ? r & (r >> 7) & (r >> 13) /* sparse: ~1 in 8 */
                      : kind == 1 ? (w % 3 ? UINT32_MAX : r) /* whole words, some partial */
                      : kind == 2 ? UINT32_MAX               /* everything */
                                  : (w < 4   ? 0u
                                     : w % 2 ? UINT32_MAX
                                             : 0u); /* nothing early, then alternate */
        }
        for (int i = 0; i < NV; i++)
            banned[i] = (mask[i >> 5] >> (i & 31)) & 1u ? logits[i] : -INFINITY;
        for (int cfg = 0; cfg < 5; cfg++) {
            sampler_params_t p = sampler_default_params();
            p.seed = 99 + (uint64_t)cfg;
            p.temperature = cfg == 4 ? 0.0f : 0.8f;
            p.top_k = cfg == 1 ? 40 : 0;
            p.top_p = cfg == 2 ? 0.9f : 1.0f;
            p.min_p = cfg == 3 ? 0.05f : 0.0f;
            p.frequency_penalty = 0.5f; /* history makes each step different */
            sampler_t *a = make(&p, NV), *b = make(&p, NV);
            for (int k = 0; k < STEPS; k++) {
                int32_t ia = sampler_sample_masked(a, logits, mask), ib = sampler_sample(b, banned);
                if (ia != ib)
                    fail_msg("mask kind %d, config %d, step %d: masked %d, -inf logits %d", kind, cfg, k, ia, ib);
                assert_true((mask[ia >> 5] >> (ia & 31)) & 1u);
            }
            sampler_free(a);
            sampler_free(b);
        }
    }
}

/* ---- logprobs ----------------------------------------------------------------------------------------- */

static void test_logprobs_against_naive(void **state) {
    (void)state;
    enum { V = 1000 };
    static float logits[V];
    sampler_rng_t r;
    sampler_rng_seed(&r, 3);
    for (int i = 0; i < V; i++)
        logits[i] = (float)(20.0 * sampler_rng_uniform(&r) - 10.0);
    logits[17] = logits[500] = logits[900] = 12.0f; /* a three-way tie at the top */
    logits[33] = NAN;

    /* Naive: log(exp(l_i) / sum exp(l_j)) straight from the definition, in double. */
    double z = 0.0, lp[V];
    for (int i = 0; i < V; i++)
        if (!isnan(logits[i])) z += exp((double)logits[i]);
    for (int i = 0; i < V; i++)
        lp[i] = isnan(logits[i]) ? -INFINITY : log(exp((double)logits[i]) / z);
    int32_t order[V];
    for (int i = 0; i < V; i++)
        order[i] = i;
    g_sort_key = lp;
    qsort(order, V, sizeof *order, cmp_desc_g);

    int32_t top_ids[SAMPLER_MAX_TOP_LOGPROBS];
    float top_lp[SAMPLER_MAX_TOP_LOGPROBS], id_lp;
    assert_int_equal(sampler_logprobs(logits, V, 250, 20, &id_lp, top_ids, top_lp), 0);
    assert_float_equal(id_lp, lp[250], 1e-5);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(top_ids[i], order[i]);
        assert_float_equal(top_lp[i], lp[order[i]], 1e-5);
    }
    assert_int_equal(top_ids[0], 17); /* ties by id */
    assert_int_equal(top_ids[1], 500);
    assert_int_equal(top_ids[2], 900);
    assert_true(top_lp[0] == top_lp[1] && top_lp[1] == top_lp[2]);

    assert_int_equal(sampler_logprobs(logits, V, 33, 0, &id_lp, NULL, NULL), 0);
    assert_true(id_lp == -INFINITY);
    assert_int_equal(sampler_logprobs(logits, V, 5, 3, NULL, top_ids, top_lp), 0);
    assert_int_equal(top_ids[2], 900);

    /* Large logits do not overflow: a shifted row gives the same logprobs. */
    static float shifted[V];
    for (int i = 0; i < V; i++)
        shifted[i] = logits[i] + 1000.0f;
    float lp2[SAMPLER_MAX_TOP_LOGPROBS];
    assert_int_equal(sampler_logprobs(shifted, V, 250, 20, &id_lp, top_ids, lp2), 0);
    assert_float_equal(id_lp, lp[250], 2e-4); /* the +1000 shift costs float precision in the input */
    assert_int_equal(top_ids[0], 17);
}

static void test_logprobs_special(void **state) {
    (void)state;
    const float pinf[5] = {1.0f, INFINITY, NAN, INFINITY, -INFINITY};
    int32_t ids[5];
    float lps[5], lp;
    assert_int_equal(sampler_logprobs(pinf, 5, 0, 5, &lp, ids, lps), 0);
    assert_true(lp == -INFINITY);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 3);
    assert_float_equal(lps[0], -log(2.0), 1e-7);
    assert_true(lps[2] == -INFINITY && lps[4] == -INFINITY);
    assert_int_equal(ids[2], 0); /* the -inf entries keep id order */
    assert_int_equal(ids[4], 4);

    const float dead[4] = {-INFINITY, NAN, -INFINITY, -INFINITY};
    assert_int_equal(sampler_logprobs(dead, 4, 2, 2, &lp, ids, lps), 0);
    assert_float_equal(lp, -log(4.0), 1e-7);
    assert_int_equal(ids[0], 0);
    assert_int_equal(ids[1], 1);

    const float one[1] = {3.0f};
    assert_int_equal(sampler_logprobs(one, 1, 0, 1, &lp, ids, lps), 0);
    assert_true(lp == 0.0f && lps[0] == 0.0f && ids[0] == 0);

    /* Argument checks. */
    assert_int_equal(sampler_logprobs(NULL, 4, 0, 0, &lp, NULL, NULL), ERR_INVAL);
    assert_int_equal(sampler_logprobs(pinf, 5, 5, 0, &lp, NULL, NULL), ERR_RANGE);
    assert_int_equal(sampler_logprobs(pinf, 5, -1, 0, &lp, NULL, NULL), ERR_RANGE);
    assert_int_equal(sampler_logprobs(pinf, 5, 0, 6, &lp, ids, lps), ERR_RANGE);
    assert_int_equal(sampler_logprobs(pinf, 5, 0, -1, &lp, ids, lps), ERR_RANGE);
    assert_int_equal(sampler_logprobs(pinf, 0, 0, 0, &lp, NULL, NULL), ERR_RANGE);
    assert_int_equal(sampler_logprobs(pinf, 5, 0, 2, &lp, NULL, lps), ERR_INVAL);
    float big[30] = {0};
    int32_t big_ids[30];
    float big_lps[30];
    assert_int_equal(sampler_logprobs(big, 30, 0, 21, &lp, big_ids, big_lps), ERR_RANGE);
}

/* Samplers that share one scratch (as an engine's sequences do) draw exactly what they draw alone. */
static void test_shared_scratch(void **state) {
    (void)state;
    enum { NV = 300, STEPS = 50 };
    float logits[NV];
    sampler_params_t p = sampler_default_params();
    p.temperature = 0.9f;
    p.top_k = 40;
    p.frequency_penalty = 0.5f;
    void *scratch = malloc(sampler_scratch_bytes(NV));
    assert_non_null(scratch);
    assert_true(sampler_scratch_bytes(NV) >= NV * sizeof(float));
    sampler_t *alone[2], *shared[2];
    for (int i = 0; i < 2; i++) {
        p.seed = 100 + (uint64_t)i;
        assert_int_equal(sampler_create(&p, NV, &alone[i], NULL, 0), 0);
        assert_int_equal(sampler_create(&p, NV, &shared[i], NULL, 0), 0);
        assert_int_equal(sampler_share_scratch(shared[i], scratch), 0);
    }
    assert_int_equal(sampler_share_scratch(NULL, scratch), ERR_INVAL);
    uint64_t x = 7;
    for (int t = 0; t < STEPS; t++) {
        for (int v = 0; v < NV; v++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            logits[v] = (float)(x % 1000) / 100.0f;
        }
        for (int i = 0; i < 2; i++) /* interleaved, as the engine samples one sequence after another */
            assert_int_equal(sampler_sample(shared[i], logits), sampler_sample(alone[i], logits));
    }
    for (int i = 0; i < 2; i++) {
        sampler_free(alone[i]);
        sampler_free(shared[i]);
    }
    free(scratch);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng_xoshiro_reference),
        cmocka_unit_test(test_rng_splitmix_seed),
        cmocka_unit_test(test_rng_uniform_open_interval),
        cmocka_unit_test(test_default_params),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_bad_calls),
        cmocka_unit_test(test_redraw),
        cmocka_unit_test(test_greedy_argmax_and_ties),
        cmocka_unit_test(test_no_filters),
        cmocka_unit_test(test_top_k),
        cmocka_unit_test(test_top_p),
        cmocka_unit_test(test_top_p_exact_threshold),
        cmocka_unit_test(test_top_k_then_top_p),
        cmocka_unit_test(test_min_p),
        cmocka_unit_test(test_filters_match_naive_large),
        cmocka_unit_test(test_top_k_sweep),
        cmocka_unit_test(test_large_vocab_sampling),
        cmocka_unit_test(test_penalties_exact),
        cmocka_unit_test(test_repetition_window),
        cmocka_unit_test(test_bias_then_penalties),
        cmocka_unit_test(test_penalties_steer_greedy),
        cmocka_unit_test(test_logit_bias_force_and_ban),
        cmocka_unit_test(test_special_values_sampling),
        cmocka_unit_test(test_seed_determinism),
        cmocka_unit_test(test_frequencies_match_softmax),
        cmocka_unit_test(test_logprobs_against_naive),
        cmocka_unit_test(test_logprobs_special),
        cmocka_unit_test(test_shared_scratch),
        cmocka_unit_test(test_masked_equals_inf_logits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
