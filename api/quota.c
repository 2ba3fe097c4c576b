/*
 * quota.c — per-key rate limits: requests per minute and tokens per minute for an API key that has them
 * (api_params_t.key_limits), with OpenAI's x-ratelimit-* headers and its 429 rate_limit_exceeded.
 *
 * Each limit is a token bucket holding at most a minute's allowance and refilled continuously (rpm/60 requests
 * and tpm/60 tokens a second), so a key can burst up to its whole minute and then goes at the limit's pace. A
 * generation request takes one request and, up front, the most tokens it can use (its prompt plus max_tokens for
 * every choice, or the rest of the context when max_tokens is not given), as OpenAI counts; what it did not use
 * is given back when the call ends. A request that would overdraw either bucket is refused with 429 and a
 * Retry-After of the seconds until it would fit. Only generation routes are counted. Loop thread only.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "api_int.h"
#include "err.h"

/* Refills q's buckets for the time since the last refill. */
static void quota__refill(api_quota_t *q, uint64_t now_ns) {
    double s = q->t_ns && now_ns > q->t_ns ? (double)(now_ns - q->t_ns) / 1e9 : 0;
    q->t_ns = now_ns;
    if (q->rpm) q->req_left = fmin((double)q->rpm, q->req_left + s * (double)q->rpm / 60.0);
    if (q->tpm) q->tok_left = fmin((double)q->tpm, q->tok_left + s * (double)q->tpm / 60.0);
}

/* A duration the way OpenAI's reset headers write it: "20ms", "1.5s", "6m0s". */
static void quota__duration(double s, char *out, size_t cap) {
    if (s < 1.0) {
        snprintf(out, cap, "%dms", (int)ceil(s * 1000.0));
    } else if (s < 60.0) {
        snprintf(out, cap, "%.3gs", s);
    } else {
        int m = (int)(s / 60.0);
        snprintf(out, cap, "%dm%ds", m, (int)ceil(s - 60.0 * m));
    }
}

/* Appends header `name` with value v (a count) or, when v < 0, the duration dur_s. */
static void quota__add(api_quota_hdrs_t *h, const char *name, double v, double dur_s) {
    if (h->n >= API_QUOTA_MAX_HDRS) return;
    if (v >= 0)
        snprintf(h->val[h->n], sizeof h->val[h->n], "%.0f", v);
    else
        quota__duration(dur_s, h->val[h->n], sizeof h->val[h->n]);
    h->h[h->n].name = name;
    h->h[h->n].value = h->val[h->n];
    h->n++;
}

static void quota__headers(const api_quota_t *q, api_quota_hdrs_t *h) {
    h->n = 0;
    if (q->rpm) { /* reset: until the bucket is full again */
        quota__add(h, "x-ratelimit-limit-requests", (double)q->rpm, 0);
        quota__add(h, "x-ratelimit-remaining-requests", floor(fmax(q->req_left, 0)), 0);
        quota__add(h, "x-ratelimit-reset-requests", -1, ((double)q->rpm - q->req_left) * 60.0 / (double)q->rpm);
    }
    if (q->tpm) {
        quota__add(h, "x-ratelimit-limit-tokens", (double)q->tpm, 0);
        quota__add(h, "x-ratelimit-remaining-tokens", floor(fmax(q->tok_left, 0)), 0);
        quota__add(h, "x-ratelimit-reset-tokens", -1, ((double)q->tpm - q->tok_left) * 60.0 / (double)q->tpm);
    }
}

bool api__quota_limited(const api_ctx_t *c, int key) {
    return key >= 0 && (size_t)key < c->n_keys && (c->quotas[key].rpm || c->quotas[key].tpm);
}

int api__quota_take(api_ctx_t *c, int key, int64_t tokens, api_quota_hdrs_t *h, api_err_t *e, int *retry_s) {
    api_quota_t *q = &c->quotas[key];
    quota__refill(q, api__now_ns());
    double wait_s = 0;
    const char *what = NULL;
    if (q->rpm && q->req_left < 1.0) {
        wait_s = (1.0 - q->req_left) * 60.0 / (double)q->rpm;
        what = "requests";
    } else if (q->tpm && (double)tokens > (double)q->tpm) {
        quota__headers(q, h);
        *retry_s = 60;
        return api_err_set(e, ERR_LIMIT, 429, "tokens", "rate_limit_exceeded", NULL,
                           "Request too large: it may use up to %lld tokens, more than this key's limit of %lld "
                           "tokens per minute (tpm). Reduce max_tokens or the prompt.",
                           (long long)tokens, (long long)q->tpm);
    } else if (q->tpm && q->tok_left < (double)tokens) {
        wait_s = ((double)tokens - q->tok_left) * 60.0 / (double)q->tpm;
        what = "tokens";
    }
    if (what) {
        quota__headers(q, h);
        *retry_s = (int)ceil(wait_s) > 0 ? (int)ceil(wait_s) : 1;
        bool req = what[0] == 'r';
        return api_err_set(e, ERR_LIMIT, 429, what, "rate_limit_exceeded", NULL,
                           "Rate limit reached for %s per minute (%s): Limit %lld, Remaining %lld, Requested %lld. "
                           "Please try again in %ds.",
                           what, req ? "rpm" : "tpm", (long long)(req ? q->rpm : q->tpm),
                           (long long)floor(fmax(req ? q->req_left : q->tok_left, 0)), (long long)(req ? 1 : tokens),
                           *retry_s);
    }
    if (q->rpm) q->req_left -= 1.0;
    if (q->tpm) q->tok_left -= (double)tokens;
    quota__headers(q, h);
    return 0;
}

void api__quota_refund(api_ctx_t *c, int key, int64_t tokens) {
    if (!api__quota_limited(c, key) || tokens <= 0) return;
    api_quota_t *q = &c->quotas[key];
    quota__refill(q, api__now_ns());
    if (q->tpm) q->tok_left = fmin((double)q->tpm, q->tok_left + (double)tokens);
}
