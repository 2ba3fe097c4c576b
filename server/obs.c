/*
 * obs.c — the end of every HTTP request as others see it: one structured log line (common/log.h, logfmt or
 * JSON) and its count in /metrics (api_observe_http).
 *
 * The line: msg=request id=req_... method=POST path=/v1/chat/completions status=200 model=smol
 * prompt_tokens=12 completion_tokens=34 ttft_ms=80.123 duration_ms=950.456 [outcome=client abort]. model and
 * the token counts appear for generation requests that started; ttft_ms once a token came. Requests answered
 * before the api saw them (OPTIONS preflight, 413, the playground page) are logged and counted too. A request
 * whose client left before any response is logged with status 499 (nginx's "client closed request").
 * Loop thread only.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "srv_int.h"

void srv__release_call(srv_conn_t *c) {
    if (!c->call) return;
    api_call_info_t info;
    api_call_info(c->call, &info);
    c->have_info = true;
    snprintf(c->model, sizeof c->model, "%s", info.model ? info.model : "");
    c->prompt_tokens = info.prompt_tokens;
    c->completion_tokens = info.completion_tokens;
    c->ttft_ms = info.ttft_ms;
    api_call_release(c->call); /* cancels what still runs */
    c->call = NULL;
}

void srv__request_done(srv_t *s, srv_conn_t *c, const char *outcome) {
    double ms = (double)(uv_hrtime() - c->t0_ns) / 1e6;
    int status = c->final_status ? c->final_status : 499;
    api_observe_http(s->api, c->path, status, ms);
    if (s->p.quiet || !log_on(LOG_INFO)) return;
    log_kv_t kv[11];
    size_t n = 0;
    kv[n++] = LOG_S("id", c->req_id);
    kv[n++] = LOG_S("method", c->method);
    kv[n++] = LOG_S("path", c->path);
    kv[n++] = LOG_I("status", status);
    if (c->have_info) {
        kv[n++] = LOG_S("model", c->model);
        kv[n++] = LOG_I("prompt_tokens", c->prompt_tokens);
        kv[n++] = LOG_I("completion_tokens", c->completion_tokens);
        if (c->ttft_ms >= 0) kv[n++] = LOG_F("ttft_ms", c->ttft_ms);
    }
    kv[n++] = LOG_F("duration_ms", ms);
    if (outcome) kv[n++] = LOG_S("outcome", outcome);
    log_kv(LOG_INFO, "request", kv, n);
}
