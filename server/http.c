/*
 * http.c — libmicrohttpd in external-polling mode on the libuv loop: the daemon, the access handler, the api
 * sink, streaming with suspend/resume, disconnect watching, and the per-request headers and log line.
 *
 * A request's life (MHD calls the access handler several times per request):
 *   1st call      headers only: allocate srv_conn_t, answer OPTIONS (CORS preflight) and an oversized
 *                 Content-Length (413) at once.
 *   body calls    append to the body (up to max_body_bytes; the rest is counted and dropped -> 413).
 *   last call     GET or HEAD / gets the playground page (playground.h), from here; everything else goes to
 *                 api_handle. Its answer is either already in the connection (respond -> queue it), or a stream
 *                 (stream_open -> queue a callback response), or pending (suspend until respond resumes us).
 *   completed     MHD's request-completed callback: release the api call (cancels what runs), log and count
 *                 the request (obs.c), unref.
 * Every response carries x-request-id, openai-processing-ms (ms until the response was queued) and, when
 * configured, CORS headers. Loop thread only.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "playground.h"
#include "srv_int.h"

#define SRV_STREAM_BLOCK (16 * 1024) /* bytes per content-reader call */

/* ---- connection state ------------------------------------------------------------------------------------- */

static void http__unref(srv_conn_t *c) {
    if (--c->refs > 0) return;
    srv_t *s = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    s->n_conns--;
    free(c->body);
    free(c->resp_body);
    free(c->out);
    free(c);
}

static void http__watch_closed(uv_handle_t *h) { free(h); }

static void http__watch_stop(srv_conn_t *c) {
    if (!c->watch) return;
    c->watch->data = NULL;
    uv_close((uv_handle_t *)c->watch, http__watch_closed); /* takes the fd out of libuv's epoll now */
    c->watch = NULL;
}

static void http__resume(srv_conn_t *c) {
    if (!c->suspended) return;
    http__watch_stop(c); /* before MHD may close the socket */
    c->suspended = false;
    MHD_resume_connection(c->mc);
}

/* The client went away while its connection was suspended: cancel its generation now, then let MHD close. */
static void http__watch_cb(uv_poll_t *h, int status, int events) {
    srv_conn_t *c = h->data;
    if (!c || !(status < 0 || (events & UV_DISCONNECT))) return;
    c->client_gone = true;
    srv__release_call(c);
    srv_t *s = c->srv;
    http__resume(c);
    srv__mhd_run(s);
}

static void http__suspend(srv_conn_t *c) {
    MHD_suspend_connection(c->mc);
    c->suspended = true;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c->mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return;
    uv_poll_t *h = malloc(sizeof *h);
    if (!h) return; /* without a watcher a disconnect is noticed at the next write */
    if (uv_poll_init_socket(&c->srv->loop, h, ci->connect_fd) != 0) {
        free(h);
        return;
    }
    h->data = c;
    uv_poll_start(h, UV_DISCONNECT, http__watch_cb);
    c->watch = h;
}

/* ---- the api sink ----------------------------------------------------------------------------------------- */

static void sink__respond(api_sink_t *sk, int status, const api_header_t *hdrs, size_t n_hdrs, const char *body,
                          size_t len) {
    srv_conn_t *c = (srv_conn_t *)sk;
    if (c->have_resp || c->queued || c->streaming) return;
    free(c->resp_body);
    c->resp_body = malloc(len ? len : 1);
    if (c->resp_body) memcpy(c->resp_body, body, len);
    c->resp_len = c->resp_body ? len : 0;
    c->status = status;
    c->n_hdrs = 0;
    for (size_t i = 0; i < n_hdrs && i < 2; i++) {
        snprintf(c->hdr_name[i], sizeof c->hdr_name[i], "%s", hdrs[i].name);
        snprintf(c->hdr_value[i], sizeof c->hdr_value[i], "%s", hdrs[i].value);
        c->n_hdrs++;
    }
    c->have_resp = true;
    http__resume(c); /* an answer that came later than api_handle */
}

static void sink__stream_open(api_sink_t *sk) { ((srv_conn_t *)sk)->streaming = true; }

static void sink__stream_write(api_sink_t *sk, const char *data, size_t len) {
    srv_conn_t *c = (srv_conn_t *)sk;
    if (c->stream_closed || c->oom) return;
    if (c->out_off > 0 && c->out_off == c->out_len) c->out_off = c->out_len = 0;
    if (c->out_len + len > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + len)
            cap *= 2;
        char *b = realloc(c->out, cap);
        if (!b) {
            c->oom = true; /* the reader ends the response with an error */
            http__resume(c);
            return;
        }
        c->out = b;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    http__resume(c);
}

static void sink__stream_close(api_sink_t *sk) {
    srv_conn_t *c = (srv_conn_t *)sk;
    c->stream_closed = true;
    http__resume(c);
}

/* ---- responses -------------------------------------------------------------------------------------------- */

static void http__common_headers(srv_conn_t *c, struct MHD_Response *r) {
    char ms[32];
    snprintf(ms, sizeof ms, "%llu", (unsigned long long)((uv_hrtime() - c->t0_ns) / 1000000ull));
    MHD_add_response_header(r, "x-request-id", c->req_id);
    MHD_add_response_header(r, "openai-processing-ms", ms);
    if (c->origin_ok) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", c->origin_ok);
        MHD_add_response_header(r, "Access-Control-Expose-Headers", "x-request-id, openai-processing-ms");
        if (strcmp(c->origin_ok, "*")) MHD_add_response_header(r, "Vary", "Origin");
    }
}

/* Adds the headers every response carries, queues r with status, and records that the connection answered.
 * Releases our reference to r (libmicrohttpd keeps its own while it sends). */
static enum MHD_Result http__queue(srv_conn_t *c, struct MHD_Response *r, int status) {
    http__common_headers(c, r);
    enum MHD_Result ret = MHD_queue_response(c->mc, (unsigned)status, r);
    MHD_destroy_response(r);
    c->queued = true;
    c->final_status = status;
    return ret;
}

static enum MHD_Result http__queue_buffer(srv_conn_t *c, int status, const char *ctype, const char *body, size_t len) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    for (int i = 0; i < c->n_hdrs; i++) /* the api's own Content-Type (/metrics: text/plain) replaces ours */
        if (!strcasecmp(c->hdr_name[i], "Content-Type")) ctype = NULL;
    if (ctype) MHD_add_response_header(r, "Content-Type", ctype);
    for (int i = 0; i < c->n_hdrs; i++)
        MHD_add_response_header(r, c->hdr_name[i], c->hdr_value[i]);
    return http__queue(c, r, status);
}

static enum MHD_Result http__queue_whole(srv_conn_t *c) {
    if (!c->resp_body) {
        static const char oom[] = "{\"error\":{\"message\":\"Out of memory.\",\"type\":\"server_error\","
                                  "\"param\":null,\"code\":null}}";
        return http__queue_buffer(c, 503, "application/json", oom, sizeof oom - 1);
    }
    return http__queue_buffer(c, c->status, "application/json", c->resp_body, c->resp_len);
}

static ssize_t http__reader(void *cls, uint64_t pos, char *buf, size_t max) {
    srv_conn_t *c = cls;
    if (c->client_gone || c->oom) return MHD_CONTENT_READER_END_WITH_ERROR;
    if (c->out_off < c->out_len) {
        size_t n = c->out_len - c->out_off;
        if (n > max) n = max;
        memcpy(buf, c->out + c->out_off, n);
        c->out_off += n;
        return (ssize_t)n;
    }
    if (c->stream_closed) return MHD_CONTENT_READER_END_OF_STREAM;
    http__suspend(c); /* the sink resumes us when bytes arrive */
    return 0;
}

static void http__reader_free(void *cls) { http__unref(cls); }

static enum MHD_Result http__queue_stream(srv_conn_t *c) {
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, SRV_STREAM_BLOCK, http__reader, c, http__reader_free);
    if (!r) return MHD_NO;
    c->refs++;
    MHD_add_response_header(r, "Content-Type", "text/event-stream; charset=utf-8");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    return http__queue(c, r, 200);
}

/* GET / : the web playground (playground.h), a static page that needs no API key and no loaded model. */
static enum MHD_Result http__queue_playground(srv_conn_t *c) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(srv__playground_html_len, (void *)srv__playground_html, MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "text/html; charset=utf-8");
    MHD_add_response_header(r, "Content-Security-Policy", srv__playground_csp);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    return http__queue(c, r, 200);
}

/* ---- CORS ------------------------------------------------------------------------------------------------- */

/* The Access-Control-Allow-Origin value for a request's Origin, or NULL when CORS is off or it is not allowed. */
static const char *http__cors(srv_t *s, const char *origin) {
    for (size_t i = 0; i < s->p.n_cors_origins; i++) {
        if (!strcmp(s->p.cors_origins[i], "*")) return "*";
        if (origin && !strcmp(s->p.cors_origins[i], origin)) return s->p.cors_origins[i];
    }
    return NULL;
}

static enum MHD_Result http__preflight(srv_conn_t *c) {
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Allow", "GET, HEAD, POST, OPTIONS");
    if (c->origin_ok) {
        const char *want = MHD_lookup_connection_value(c->mc, MHD_HEADER_KIND, "Access-Control-Request-Headers");
        MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, HEAD, POST, OPTIONS");
        MHD_add_response_header(r, "Access-Control-Allow-Headers",
                                want && *want && strlen(want) < 2048 ? want : "Authorization, Content-Type");
        MHD_add_response_header(r, "Access-Control-Max-Age", "86400");
    }
    return http__queue(c, r, 204);
}

/* ---- the access handler ----------------------------------------------------------------------------------- */

static srv_conn_t *http__conn_new(srv_t *s, struct MHD_Connection *mc, const char *url, const char *method) {
    srv_conn_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->sink.respond = sink__respond;
    c->sink.stream_open = sink__stream_open;
    c->sink.stream_write = sink__stream_write;
    c->sink.stream_close = sink__stream_close;
    c->srv = s;
    c->mc = mc;
    c->refs = 1;
    c->t0_ns = uv_hrtime();
    s->n_requests++;
    s->rng ^= s->rng << 13, s->rng ^= s->rng >> 7, s->rng ^= s->rng << 17;
    snprintf(c->req_id, sizeof c->req_id, "req_%016llx%08llx", (unsigned long long)s->rng,
             (unsigned long long)(s->n_requests & 0xffffffffull));
    snprintf(c->method, sizeof c->method, "%s", method);
    snprintf(c->path, sizeof c->path, "%s", url);
    c->origin_ok = http__cors(s, MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Origin"));
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->n_conns++;
    return c;
}

static enum MHD_Result http__413(srv_conn_t *c) {
    api_sink_t *sk = &c->sink;
    char msg[160];
    snprintf(msg, sizeof msg, "The request body is larger than this server accepts (%zu bytes).",
             c->srv->p.max_body_bytes);
    api_respond_error(sk, 413, "invalid_request_error", "request_too_large", NULL, msg);
    return http__queue_whole(c);
}

static enum MHD_Result http__access(void *cls, struct MHD_Connection *mc, const char *url, const char *method,
                                    const char *version, const char *upload_data, size_t *upload_data_size,
                                    void **con_cls) {
    srv_t *s = cls;
    srv_conn_t *c = *con_cls;
    if (!c) {
        c = http__conn_new(s, mc, url, method);
        if (!c) return MHD_NO;
        *con_cls = c;
        if (!strcmp(method, "OPTIONS")) return http__preflight(c);
        const char *cl = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > s->p.max_body_bytes) {
            c->too_large = true;
            return http__413(c);
        }
        return MHD_YES;
    }
    if (*upload_data_size) { /* a piece of the body */
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (c->queued) return MHD_YES;
        if (c->too_large || c->body_len + n > s->p.max_body_bytes) {
            c->too_large = true;
            c->discarded += n;
            /* a client that keeps sending far past the limit is cut off rather than read forever */
            return c->discarded > 16 * (uint64_t)s->p.max_body_bytes + (1u << 20) ? MHD_NO : MHD_YES;
        }
        if (c->body_len + n > c->body_cap) {
            size_t cap = c->body_cap ? c->body_cap : 4096;
            while (cap < c->body_len + n)
                cap *= 2;
            if (cap > s->p.max_body_bytes) cap = s->p.max_body_bytes;
            char *b = realloc(c->body, cap);
            if (!b) return MHD_NO;
            c->body = b;
            c->body_cap = cap;
        }
        memcpy(c->body + c->body_len, upload_data, n);
        c->body_len += n;
        return MHD_YES;
    }
    if (c->queued) return MHD_YES;
    if (c->client_gone) return MHD_NO; /* resumed only so that MHD closes it */
    if (c->too_large) return http__413(c);
    if (!strcmp(url, "/") && (!strcmp(method, "GET") || !strcmp(method, "HEAD"))) return http__queue_playground(c);
    if (!c->handled) {
        c->handled = true;
        api_request_t r = {
            .method = method,
            .path = url,
            .authorization = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
            .body = c->body ? c->body : "",
            .body_len = c->body_len,
        };
        api_handle(s->api, &r, &c->sink, &c->call);
    }
    if (c->have_resp) return http__queue_whole(c);
    if (c->streaming) return http__queue_stream(c);
    http__suspend(c); /* a non-streaming generation: respond() resumes us */
    return MHD_YES;
}

static void http__completed(void *cls, struct MHD_Connection *mc, void **con_cls, enum MHD_RequestTerminationCode toe) {
    srv_t *s = cls;
    srv_conn_t *c = *con_cls;
    if (!c) return;
    *con_cls = NULL;
    srv__release_call(c); /* cancels generation that still runs (the client went away) */
    http__watch_stop(c);
    c->suspended = false;
    c->mc = NULL;
    static const char *const why[] = {"ok", "error", "timeout", "shutdown", "read error", "client abort"};
    srv__request_done(s, c, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? NULL : ((unsigned)toe < 6 ? why[toe] : "?"));
    http__unref(c);
}

/* ---- the daemon on the loop ------------------------------------------------------------------------------- */

static void http__timer_cb(uv_timer_t *t) { srv__mhd_run(t->data); }

static void http__poll_cb(uv_poll_t *h, int status, int events) { srv__mhd_run(h->data); }

void srv__mhd_run(srv_t *s) {
    if (!s->mhd) return;
    MHD_run(s->mhd);
    MHD_UNSIGNED_LONG_LONG ms = 0;
    if (MHD_get_timeout(s->mhd, &ms) == MHD_YES)
        uv_timer_start(&s->mhd_timer, http__timer_cb, ms, 0);
    else
        uv_timer_stop(&s->mhd_timer);
}

static void http__mhd_log(void *cls, const char *fmt, va_list ap) {
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    log_kv(LOG_WARN, "libmicrohttpd", (log_kv_t[]){LOG_S("error", msg)}, 1);
}

int srv__http_start(srv_t *s, char *err, size_t err_len) {
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char port[16];
    snprintf(port, sizeof port, "%d", s->p.port);
    int gai = getaddrinfo(s->p.host, port, &hints, &ai);
    if (gai != 0 || !ai)
        return err_set(err, err_len, ERR_INVAL, "cannot resolve --host '%s': %s", s->p.host, gai_strerror(gai));
    struct sockaddr_storage addr;
    memcpy(&addr, ai->ai_addr, ai->ai_addrlen < sizeof addr ? ai->ai_addrlen : sizeof addr);
    int family = ai->ai_family;
    freeaddrinfo(ai);

    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (family == AF_INET6) flags |= MHD_USE_IPv6;
    /* clang-format off */
    s->mhd = MHD_start_daemon(flags, (uint16_t)s->p.port, NULL, NULL, http__access, s,
                              MHD_OPTION_EXTERNAL_LOGGER, http__mhd_log, s, /* first, to catch every message */
                              MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->p.max_connections,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->p.idle_timeout_s,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)s->p.max_header_bytes,
                              MHD_OPTION_NOTIFY_COMPLETED, http__completed, s,
                              MHD_OPTION_END);
    /* clang-format on */
    if (!s->mhd)
        return err_set(err, err_len, ERR_IO, "cannot listen on %s port %d (in use, or not an address of this machine)",
                       s->p.host, s->p.port);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : s->p.port;
    di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    if (!di) return err_set(err, err_len, ERR_STATE, "libmicrohttpd has no epoll descriptor");
    uv_timer_init(&s->loop, &s->mhd_timer);
    s->mhd_timer_init = true;
    s->mhd_timer.data = s;
    if (uv_poll_init(&s->loop, &s->mhd_poll, di->epoll_fd) != 0)
        return err_set(err, err_len, ERR_STATE, "cannot watch libmicrohttpd's epoll descriptor");
    s->mhd_poll_init = true;
    s->mhd_poll.data = s;
    uv_poll_start(&s->mhd_poll, UV_READABLE, http__poll_cb);
    srv__mhd_run(s);
    return 0;
}

void srv__http_drop_all(srv_t *s) {
    for (srv_conn_t *c = s->conns; c; c = c->next) {
        if (!c->suspended) continue;
        c->client_gone = true;
        srv__release_call(c);
        http__resume(c);
    }
    srv__mhd_run(s);
}

void srv__http_stop(srv_t *s) {
    if (!s->mhd) return;
    srv__http_drop_all(s);
    if (s->mhd_poll_init) { /* libuv must let go of the epoll descriptor before MHD closes it */
        uv_close((uv_handle_t *)&s->mhd_poll, NULL);
        s->mhd_poll_init = false;
    }
    if (s->mhd_timer_init) uv_timer_stop(&s->mhd_timer);
    MHD_stop_daemon(s->mhd); /* remaining requests complete with DAEMON_SHUTDOWN */
    s->mhd = NULL;
    if (s->listen_fd != MHD_INVALID_SOCKET) {
        close(s->listen_fd);
        s->listen_fd = MHD_INVALID_SOCKET;
    }
}
