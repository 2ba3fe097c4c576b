/*
 * http.c — libmicrohttpd in external-polling mode on the libuv loop: the daemon, the access handler, the api
 * sink, streaming with suspend/resume, disconnect watching, and the per-request headers and log line.
 *
 * A request's life (MHD calls the access handler several times per request):
 *   1st call      headers only: allocate srv_conn_t; refuse bad framing (400/501, http__framing_check); answer
 *                 OPTIONS (CORS preflight); let the api decide what needs no body (api_check_headers: 404, 405,
 *                 401, 413 from Content-Length). Such an early answer means no 100 Continue is sent, and the
 *                 connection closes after it when a body was announced (it is never read).
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
#include <sys/socket.h>
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
    for (size_t i = 0; i < n_hdrs && i < SRV_MAX_HDRS; i++) {
        snprintf(c->hdr_name[i], sizeof c->hdr_name[i], "%s", hdrs[i].name);
        snprintf(c->hdr_value[i], sizeof c->hdr_value[i], "%s", hdrs[i].value);
        c->n_hdrs++;
    }
    c->have_resp = true;
    http__resume(c); /* an answer that came later than api_handle */
}

static void sink__headers(api_sink_t *sk, const api_header_t *hdrs, size_t n_hdrs) {
    srv_conn_t *c = (srv_conn_t *)sk;
    c->n_xhdrs = 0;
    for (size_t i = 0; i < n_hdrs && i < SRV_MAX_HDRS; i++) {
        snprintf(c->xhdr_name[i], sizeof c->xhdr_name[i], "%s", hdrs[i].name);
        snprintf(c->xhdr_value[i], sizeof c->xhdr_value[i], "%s", hdrs[i].value);
        c->n_xhdrs++;
    }
}

static void sink__stream_open(api_sink_t *sk) { ((srv_conn_t *)sk)->streaming = true; }

static void sink__stream_write(api_sink_t *sk, const char *data, size_t len) {
    srv_conn_t *c = (srv_conn_t *)sk;
    if (c->stream_closed || c->oom) return;
    if (c->out_off > 0 && c->out_off == c->out_len) c->out_off = c->out_len = 0;
    if (c->out_off > 0 && c->out_len + len > c->out_cap) { /* keep only what is unsent: memory stays bounded */
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
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
    /* backpressure: a client that does not read pauses its generation (resumed by the reader) */
    if (!c->paused && c->out_len - c->out_off > c->srv->p.stream_buffer_bytes && c->call) {
        c->paused = true;
        api_call_pause(c->call, true);
    }
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
        MHD_add_response_header(r, "Access-Control-Expose-Headers", "x-request-id, openai-processing-ms, retry-after");
        if (strcmp(c->origin_ok, "*")) MHD_add_response_header(r, "Vary", "Origin");
    }
}

/* Adds the headers every response carries, queues r with status, and records that the connection answered.
 * Releases our reference to r (libmicrohttpd keeps its own while it sends). */
static enum MHD_Result http__queue(srv_conn_t *c, struct MHD_Response *r, int status) {
    http__common_headers(c, r);
    if (c->close_after) MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    for (int i = 0; i < c->n_xhdrs; i++) /* x-ratelimit-* (sink->headers) */
        MHD_add_response_header(r, c->xhdr_name[i], c->xhdr_value[i]);
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
        if (c->paused && c->out_len - c->out_off <= c->srv->p.stream_buffer_bytes / 2) {
            c->paused = false;
            api_call_pause(c->call, false);
        }
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
    /* the kernel's send buffer counts too: cap it near the stream's own bound (it autotunes to megabytes) */
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c->mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    int sndbuf = c->srv->p.stream_buffer_bytes < ((size_t)1 << 20) ? (int)c->srv->p.stream_buffer_bytes : 1 << 20;
    if (ci) setsockopt(ci->connect_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
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
        MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, HEAD, POST, DELETE, OPTIONS");
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
    c->sink.headers = sink__headers;
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

/* ---- framing ---------------------------------------------------------------------------------------------- */

/* What the request's headers say about its framing (gathered by http__framing_cb). */
typedef struct {
    int n_cl, n_te;          /* Content-Length / Transfer-Encoding headers */
    int64_t content_length;  /* the (first) Content-Length, -1 when none or not a number */
    bool cl_bad, te_unknown; /* a Content-Length that is not digits; a coding other than "chunked" */
    bool name_bad;           /* a header name with whitespace or a control character */
    char why[160];
} http_framing_t;

/* The query string rebuilt from libmicrohttpd's decoded arguments ("k=v&k2=v2", each %-escaped again). */
typedef struct {
    char buf[1024];
    size_t n;
    bool cut; /* did not fit: the arguments that did are kept */
} http_query_t;

static void http__query_put(http_query_t *q, const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    for (; s && *s && !q->cut; s++) {
        unsigned char ch = (unsigned char)*s;
        bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                     ch == '_' || ch == '.' || ch == '~';
        if (q->n + 4 >= sizeof q->buf) {
            q->cut = true;
            break;
        }
        if (plain) {
            q->buf[q->n++] = (char)ch;
        } else {
            q->buf[q->n++] = '%';
            q->buf[q->n++] = hex[ch >> 4];
            q->buf[q->n++] = hex[ch & 15];
        }
    }
    q->buf[q->n] = '\0';
}

static enum MHD_Result http__query_cb(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    http_query_t *q = cls;
    if (q->n && q->n + 2 < sizeof q->buf) q->buf[q->n++] = '&';
    http__query_put(q, key);
    if (q->n + 2 < sizeof q->buf) q->buf[q->n++] = '=';
    q->buf[q->n] = '\0';
    http__query_put(q, value);
    return MHD_YES;
}

static enum MHD_Result http__framing_cb(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    http_framing_t *f = cls;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        if (*p <= ' ' || *p == 0x7f || *p == ':') {
            if (!f->name_bad) snprintf(f->why, sizeof f->why, "Malformed header name '%.60s'.", key);
            f->name_bad = true;
        }
    if (!*key) f->name_bad = true;
    if (!value) value = "";
    if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
        const char *v = value;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t n = strspn(v, "0123456789");
        const char *rest = v + n;
        while (*rest == ' ' || *rest == '\t')
            rest++;
        int64_t x = -1;
        if (n == 0 || n > 18 || *rest)
            f->cl_bad = true;
        else
            x = strtoll(v, NULL, 10);
        if (f->n_cl == 0) f->content_length = x;
        f->n_cl++;
    } else if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
        const char *v = value;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t n = strlen(v);
        while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
            n--;
        if (n != 7 || strncasecmp(v, "chunked", 7)) f->te_unknown = true;
        f->n_te++;
    }
    return MHD_YES;
}

/*
 * Strict framing (RFC 9112 sections 6.1-6.3, 5.1, 3.2): a request whose length two parties could read differently
 * is refused rather than guessed at, since behind a proxy that frames it the other way that is request smuggling.
 * Returns 0, or the status to answer (the connection is then closed): 400 for repeated or malformed
 * Content-Length, Content-Length with Transfer-Encoding, whitespace in a header name (before its colon), HTTP/1.1
 * without Host; 501 for a transfer coding other than chunked. f->why gets the message.
 */
static int http__framing_check(http_framing_t *f, const char *version, bool has_host) {
    if (f->name_bad) return 400;
    if (f->n_cl > 1) {
        snprintf(f->why, sizeof f->why, "The request has %d Content-Length headers.", f->n_cl);
        return 400;
    }
    if (f->cl_bad) {
        snprintf(f->why, sizeof f->why, "The request's Content-Length is not a number.");
        return 400;
    }
    if (f->n_cl && f->n_te) {
        snprintf(f->why, sizeof f->why, "The request has both Content-Length and Transfer-Encoding.");
        return 400;
    }
    if (f->n_te > 1 || f->te_unknown) {
        snprintf(f->why, sizeof f->why, "Transfer-Encoding other than a single 'chunked' is not supported.");
        return 501;
    }
    if (version && !strcmp(version, MHD_HTTP_VERSION_1_1) && !has_host) {
        snprintf(f->why, sizeof f->why, "An HTTP/1.1 request needs a Host header.");
        return 400;
    }
    return 0;
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
        srv__guard_request_begin(c, mc);
        http_framing_t f = {.content_length = -1};
        MHD_get_connection_values(mc, MHD_HEADER_KIND, http__framing_cb, &f);
        int bad = http__framing_check(&f, version, MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Host") != NULL);
        if (bad) {
            c->close_after = true;
            api_respond_error(&c->sink, bad, "invalid_request_error", NULL, NULL, f.why);
            return http__queue_whole(c);
        }
        if (!strcmp(method, "OPTIONS")) return http__preflight(c);
        if (!strcmp(url, "/") && (!strcmp(method, "GET") || !strcmp(method, "HEAD"))) return MHD_YES;
        api_request_t r = {
            .method = method,
            .path = url,
            .authorization = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
        };
        if (api_check_headers(s->api, &r, f.n_te ? -1 : f.content_length, &c->sink)) {
            c->close_after = f.n_te || f.content_length > 0; /* the body announced is never read */
            c->too_large = c->status == 413;
            return http__queue_whole(c);
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
    c->body_done = true;
    if (c->queued) return MHD_YES;
    if (c->client_gone) return MHD_NO; /* resumed only so that MHD closes it */
    if (c->too_large) return http__413(c);
    if (!strcmp(url, "/") && (!strcmp(method, "GET") || !strcmp(method, "HEAD"))) return http__queue_playground(c);
    if (!c->handled) {
        c->handled = true;
        http_query_t q = {.n = 0};
        q.buf[0] = '\0';
        MHD_get_connection_values(mc, MHD_GET_ARGUMENT_KIND, http__query_cb, &q);
        api_request_t r = {
            .method = method,
            .path = url,
            .authorization = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
            .query = q.buf,
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
    srv__guard_request_end(c);
    c->suspended = false;
    c->mc = NULL;
    /* a client that goes away (mid-stream, mid-body, while waiting) cancels its request: not an error */
    const char *outcome = NULL;
    if (c->slow)
        outcome = c->slow;
    else if (c->oom)
        outcome = "error";
    else if (toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED)
        outcome = "timeout";
    else if (toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN)
        outcome = "shutdown";
    else if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        outcome = "cancelled";
    srv__request_done(s, c, outcome);
    http__unref(c);
}

/* ---- the daemon on the loop ------------------------------------------------------------------------------- */

static void http__timer_cb(uv_timer_t *t) { srv__mhd_run(t->data); }

static void http__poll_cb(uv_poll_t *h, int status, int events) { srv__mhd_run(h->data); }

void srv__mhd_run(srv_t *s) {
    if (!s->mhd) return;
    /* Again when a connection closed: libmicrohttpd puts its listening socket back into epoll (after being at
       --max-connections) only at the start of a run, and would not accept a waiting client until the next
       event. And again when guard.c closed an idle connection to make room, so that it is seen now. */
    for (int i = 0; i < 64; i++) { /* each round closes or accepts something; a burst settles in a few */
        size_t before = s->n_socks;
        MHD_run(s->mhd);
        bool kicked = srv__guard_after_run(s);
        if (!kicked && s->n_socks >= before) break;
    }
    MHD_UNSIGNED_LONG_LONG ms = 0;
    if (MHD_get_timeout(s->mhd, &ms) == MHD_YES)
        uv_timer_start(&s->mhd_timer, http__timer_cb, ms, 0);
    else
        uv_timer_stop(&s->mhd_timer);
}

/*
 * libmicrohttpd's messages. Most are about one client's behaviour (a malformed request, a connection reset, a
 * send to a client that left): those are normal on a public address and go out at debug level, so that a
 * disconnect is not a warning (the request's own log line says outcome=cancelled). The rest (sockets, epoll,
 * memory, the connection limit) are warnings.
 */
static void http__mhd_log(void *cls, const char *fmt, va_list ap) {
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    static const char *const client[] = {
        "request",        "Request",   "remote",
        "send data",      "receive",   "reset",
        "header",         "Header",    "timed out",
        "Content-Length", "chunk",     "Closing connection",
        "Broken pipe",    "closed by", "Application reported" /* our own MHD_NO: the line says why */};
    log_level_t lvl = LOG_WARN;
    for (size_t i = 0; i < sizeof client / sizeof client[0]; i++)
        if (strstr(msg, client[i])) lvl = LOG_DEBUG;
    log_kv(lvl, "libmicrohttpd", (log_kv_t[]){LOG_S("error", msg)}, 1);
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
                              MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)s->p.max_connections_per_ip,
                              MHD_OPTION_NOTIFY_CONNECTION, srv__guard_on_connection, s,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->p.idle_timeout_s,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)s->p.max_header_bytes,
                              MHD_OPTION_NOTIFY_COMPLETED, http__completed, s,
                              MHD_OPTION_STRICT_FOR_CLIENT, (int)1, /* HTTP/1.1 needs Host; no spaces in URLs */
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
    srv__guard_start(s);
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
    srv__guard_stop(s);
    if (s->listen_fd != MHD_INVALID_SOCKET) {
        close(s->listen_fd);
        s->listen_fd = MHD_INVALID_SOCKET;
    }
}
