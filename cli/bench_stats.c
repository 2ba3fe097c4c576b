/*
 * bench_stats.c — percentiles and the serving report of `cinder bench-serve` (see bench_stats.h for the
 * definitions, which are vLLM's).
 */
#include "bench_stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

double bstat_percentile(const double *sorted, size_t n, double pct) {
    if (!sorted || n == 0) return 0.0;
    if (!(pct > 0.0)) pct = 0.0; /* also maps NaN to 0 */
    if (pct > 100.0) pct = 100.0;
    double rank = pct / 100.0 * (double)(n - 1);
    size_t lo = (size_t)floor(rank);
    if (lo >= n - 1) return sorted[n - 1];
    double frac = rank - (double)lo;
    return sorted[lo] + (sorted[lo + 1] - sorted[lo]) * frac;
}

static int bstat__cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void bstat_summarize(double *v, size_t n, bstat_summary_t *out) {
    memset(out, 0, sizeof *out);
    if (!v || n == 0) return;
    qsort(v, n, sizeof *v, bstat__cmp);
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    double mean = sum / (double)n, var = 0.0;
    for (size_t i = 0; i < n; i++)
        var += (v[i] - mean) * (v[i] - mean);
    out->n = n;
    out->mean = mean;
    out->std = sqrt(var / (double)n);
    out->p50 = bstat_percentile(v, n, 50.0);
    out->p99 = bstat_percentile(v, n, 99.0);
    out->min = v[0];
    out->max = v[n - 1];
}

int bstat_report(const bstat_req_t *reqs, size_t n, double duration_s, bstat_report_t *out, char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    if (!(duration_s > 0.0) || !isfinite(duration_s))
        return err_set(err, err_len, ERR_INVAL, "benchmark duration must be a positive number of seconds");
    if (!reqs && n > 0) return err_set(err, err_len, ERR_INVAL, "no request records");

    /* Size the scratch: one slot per request for TTFT/TPOT/E2E, and every ITL gap pooled. */
    size_t n_itl = 0;
    for (size_t i = 0; i < n; i++) {
        if (!reqs[i].ok) continue;
        if (reqs[i].n_itl > 0 && !reqs[i].itl_s)
            return err_set(err, err_len, ERR_INVAL, "request %zu has ITL samples but no array", i);
        if (reqs[i].n_itl > SIZE_MAX / sizeof(double) - n_itl)
            return err_set(err, err_len, ERR_NOMEM, "too many inter-token samples");
        n_itl += reqs[i].n_itl;
    }
    int rc = 0;
    double *ttft = malloc((n ? n : 1) * sizeof *ttft);
    double *tpot = malloc((n ? n : 1) * sizeof *tpot);
    double *e2e = malloc((n ? n : 1) * sizeof *e2e);
    double *itl = malloc((n_itl ? n_itl : 1) * sizeof *itl);
    if (!ttft || !tpot || !e2e || !itl) {
        rc = err_set(err, err_len, ERR_NOMEM, "out of memory for %zu latency samples", n_itl + 3 * n);
        goto cleanup;
    }

    size_t n_ttft = 0, n_tpot = 0, n_e2e = 0, k = 0;
    out->n_requests = n;
    for (size_t i = 0; i < n; i++) {
        const bstat_req_t *r = &reqs[i];
        if (!r->ok) continue;
        out->n_ok++;
        if (r->early) out->n_early++;
        if (r->has_usage) {
            out->n_usage++;
            out->total_prompt += r->n_prompt;
        }
        out->total_output += r->n_output;
        e2e[n_e2e++] = r->latency_s;
        if (r->n_chunks > 0) {
            ttft[n_ttft++] = r->ttft_s;
            if (r->n_output > 1) tpot[n_tpot++] = (r->latency_s - r->ttft_s) / (double)(r->n_output - 1);
        }
        for (size_t j = 0; j < r->n_itl; j++)
            itl[k++] = r->itl_s[j];
    }
    out->n_failed = n - out->n_ok;
    out->duration_s = duration_s;
    out->req_per_s = (double)out->n_ok / duration_s;
    out->output_tok_per_s = (double)out->total_output / duration_s;
    out->total_tok_per_s = (double)(out->total_prompt + out->total_output) / duration_s;
    out->mean_prompt = out->n_usage ? (double)out->total_prompt / (double)out->n_usage : 0.0;
    out->mean_output = out->n_ok ? (double)out->total_output / (double)out->n_ok : 0.0;
    bstat_summarize(ttft, n_ttft, &out->ttft);
    bstat_summarize(tpot, n_tpot, &out->tpot);
    bstat_summarize(itl, k, &out->itl);
    bstat_summarize(e2e, n_e2e, &out->e2e);

cleanup:
    free(ttft);
    free(tpot);
    free(e2e);
    free(itl);
    return rc;
}

long long bstat_calibrate_words(long long target, long long w1, int64_t t1, long long w2, int64_t t2) {
    if (target < 1) return 1;
    if (t1 <= 0 || w1 <= 0) return target;
    double words = (double)target * (double)w1 / (double)t1;
    if (w2 > 0 && t2 > 0 && w2 != w1) {
        double slope = (double)(t1 - t2) / (double)(w1 - w2); /* tokens per word */
        if (slope > 0.0) words = ((double)target - ((double)t1 - slope * (double)w1)) / slope;
    }
    double hi = 16.0 * (double)target;
    if (!(words >= 1.0)) words = 1.0; /* also NaN */
    if (words > hi) words = hi;
    return (long long)llround(words);
}
