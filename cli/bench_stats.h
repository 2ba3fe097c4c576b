/*
 * bench_stats.h — the arithmetic of `cinder bench-serve`: percentiles and the serving report, with the
 * definitions of vLLM's serving benchmark (`vllm bench serve`), so figures compare with published ones:
 *
 *   request throughput   completed requests / benchmark duration                       (req/s)
 *   output throughput    sum of output tokens of completed requests / duration         (tok/s)
 *   total throughput     (prompt + output tokens of completed requests) / duration     (tok/s)
 *   TTFT                 request sent -> first chunk carrying content                   (per request)
 *   TPOT                 (E2E latency - TTFT) / (output tokens - 1), requests with > 1 token
 *   ITL                  every gap between two successive content chunks, all requests pooled
 *   E2E latency          request sent -> the stream's end ([DONE])                      (per request)
 *
 * Percentiles interpolate linearly between the two nearest ranks (numpy's default), so p50 is the median.
 *
 * Owns: nothing beyond the call; bstat_report() allocates scratch and frees it before returning.
 * Does not: measure time, talk to a server, or print (cmd_bench_serve.c does).
 * Threads: pure functions, callable from any thread.
 */
#ifndef CINDER_BENCH_STATS_H
#define CINDER_BENCH_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Mean, standard deviation (population, as numpy.std) and percentiles of one metric. */
typedef struct {
    size_t n;    /* samples; 0 leaves every other field 0 */
    double mean; /* seconds (or the samples' unit) */
    double std;
    double p50; /* median */
    double p99;
    double min, max;
} bstat_summary_t;

/* What one request of the benchmark gave. Times are seconds measured from when the request was sent. */
typedef struct {
    bool ok;             /* HTTP 200 and a complete stream; only these enter the report's figures */
    bool early;          /* finished before max_tokens (finish_reason other than "length", or fewer tokens) */
    bool has_usage;      /* the server sent a usage object (n_prompt and n_output come from it) */
    int64_t n_prompt;    /* prompt tokens (server-reported; 0 when unknown) */
    int64_t n_output;    /* output tokens: usage.completion_tokens, else the count of content chunks */
    int64_t n_chunks;    /* chunks that carried content */
    double ttft_s;       /* time to the first content chunk; meaningful only when n_chunks > 0 */
    double latency_s;    /* end-to-end latency */
    const double *itl_s; /* (n_itl,) gaps between successive content chunks; borrowed */
    size_t n_itl;
} bstat_req_t;

/* The aggregate over all requests of a run (vLLM's BenchmarkMetrics, plus failure and early-stop counts). */
typedef struct {
    size_t n_requests;       /* requests in the run */
    size_t n_ok;             /* completed successfully */
    size_t n_failed;         /* n_requests - n_ok */
    size_t n_early;          /* completed requests that stopped before max_tokens */
    size_t n_usage;          /* completed requests whose server reported usage */
    int64_t total_prompt;    /* prompt tokens over completed requests (server-reported) */
    int64_t total_output;    /* output tokens over completed requests */
    double duration_s;       /* wall time of the run */
    double req_per_s;        /* n_ok / duration_s */
    double output_tok_per_s; /* total_output / duration_s */
    double total_tok_per_s;  /* (total_prompt + total_output) / duration_s */
    double mean_prompt;      /* total_prompt / n_usage (0 when no usage was reported) */
    double mean_output;      /* total_output / n_ok */
    bstat_summary_t ttft;    /* seconds, over completed requests with content */
    bstat_summary_t tpot;    /* seconds per token, over completed requests with > 1 output token */
    bstat_summary_t itl;     /* seconds, over every content gap of completed requests */
    bstat_summary_t e2e;     /* seconds, over completed requests */
} bstat_report_t;

/*
 * The pct-th percentile (0 <= pct <= 100) of n values sorted ascending, by linear interpolation between the
 * nearest ranks: rank = pct/100 * (n - 1). Returns 0 for n == 0; pct outside [0, 100] is clamped.
 */
double bstat_percentile(const double *sorted, size_t n, double pct);

/*
 * Sorts v (n,) ascending in place and fills *out with its count, mean, std, p50, p99, min and max.
 * n == 0 gives an all-zero summary. Never fails.
 */
void bstat_summarize(double *v, size_t n, bstat_summary_t *out);

/*
 * Builds the report of a run of n requests that took duration_s seconds (> 0). Requests with ok == false
 * count as failures and enter nothing else. Returns 0, ERR_INVAL for a bad duration or a NULL array with
 * n > 0, or ERR_NOMEM when the scratch for the samples cannot be allocated (detail in err).
 */
int bstat_report(const bstat_req_t *reqs, size_t n, double duration_s, bstat_report_t *out, char *err, size_t err_len);

/*
 * How many words a synthetic prompt needs to come to about target tokens, from what a server reported:
 * t1 tokens for a prompt of w1 words and, when w2 > 0 and t2 > 0, t2 tokens for w2 words. Two points fit
 * tokens = overhead + per_word * words (the overhead being the chat template's); one point (or two that do not
 * give a positive slope) assumes proportionality. Returns target when t1 <= 0 (nothing known), and always a
 * count in [1, 16 * target].
 */
long long bstat_calibrate_words(long long target, long long w1, int64_t t1, long long w2, int64_t t2);

#endif
