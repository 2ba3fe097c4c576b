/*
 * guard.c — deadlines that a slow or idle client cannot extend, per connection (not per request).
 *
 * libmicrohttpd's own timeout (--timeout) is an idle timeout: every byte restarts it, so a client that sends one
 * header byte a second keeps a connection forever, and connections that send nothing fill --max-connections for a
 * whole timeout. On top of it, for every connection (MHD_OPTION_NOTIFY_CONNECTION gives us each one):
 *   header deadline   the request head (request line and headers) must be complete within header_timeout_s of
 *                     the connection's accept, or, on a kept-alive connection, of the first byte of the next
 *                     request (seen by a one-shot uv_poll on the socket while the connection waits).
 *   body rate         once the head is in, the body must arrive at min_body_rate bytes/s on average, after a
 *                     grace of SRV_BODY_GRACE_S seconds' worth.
 *   idle first        when a new connection brings the count to max_connections, the oldest connection that is
 *                     waiting for a request and has sent nothing of it is closed, so new clients are served rather
 *                     than left in the accept queue behind idle keep-alive sockets.
 * (The per-IP connection limit is libmicrohttpd's MHD_OPTION_PER_IP_CONNECTION_LIMIT, set in http.c.)
 * A connection past a deadline is closed with shutdown(2): libmicrohttpd sees the end of the stream at its next
 * read and closes it itself, calling the request-completed callback with the request's log line. A sweep timer
 * checks every connection each SRV_GUARD_TICK_MS. Loop thread only.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "srv_int.h"

#define SRV_GUARD_TICK_MS 250
#define SRV_BODY_GRACE_S  5

/* One TCP connection (libmicrohttpd's socket context). */
struct srv_sock {
    struct srv_sock *prev, *next; /* srv_t.socks, oldest first */
    srv_t *srv;
    int fd;
    uint64_t t_wait_ns;  /* started waiting for a request: the accept, or the end of the previous request */
    uint64_t t_first_ns; /* the head's deadline runs from here; 0 = not started (a kept-alive idle connection) */
    bool seen_byte;      /* a byte of the next request arrived (or this is a new connection that sent some) */
    uv_poll_t *poll;     /* one-shot: the first byte of the next request on a kept-alive connection */
    srv_conn_t *req;     /* the request whose head is in, until it completes */
    bool closing;        /* shutdown(2) done; waiting for libmicrohttpd to close it */
};

static uint64_t guard__ms(uint64_t ns) { return ns / 1000000ull; }

static void guard__poll_closed(uv_handle_t *h) { free(h); }

static void guard__poll_stop(srv_sock_t *k) {
    if (!k->poll) return;
    k->poll->data = NULL;
    uv_close((uv_handle_t *)k->poll, guard__poll_closed);
    k->poll = NULL;
}

static void guard__poll_cb(uv_poll_t *h, int status, int events) {
    srv_sock_t *k = h->data;
    if (!k) return;
    k->seen_byte = true;
    if (!k->t_first_ns) k->t_first_ns = uv_hrtime();
    guard__poll_stop(k); /* one byte is enough; libmicrohttpd reads the rest */
}

/* Watches for the first byte of the next request (the loop thread polls the socket libmicrohttpd also polls). */
static void guard__poll_start(srv_sock_t *k) {
    if (k->poll || k->closing) return;
    uv_poll_t *h = malloc(sizeof *h);
    if (!h) return; /* then the head's deadline starts at the idle timeout's end: still bounded */
    if (uv_poll_init_socket(&k->srv->loop, h, k->fd) != 0) {
        free(h);
        return;
    }
    h->data = k;
    uv_poll_start(h, UV_READABLE | UV_DISCONNECT, guard__poll_cb);
    k->poll = h;
}

static void guard__close(srv_sock_t *k, const char *why) {
    if (k->closing) return;
    k->closing = true;
    guard__poll_stop(k);
    if (k->req) k->req->slow = why;
    shutdown(k->fd, SHUT_RDWR); /* libmicrohttpd reads the end of the stream and closes the connection */
    log_kv(LOG_INFO, "connection closed", (log_kv_t[]){LOG_S("reason", why)}, 1);
}

void srv__guard_on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
                              enum MHD_ConnectionNotificationCode code) {
    srv_t *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
        srv_sock_t *k = calloc(1, sizeof *k);
        if (!k || !ci) {
            free(k);
            *socket_context = NULL;
            return;
        }
        k->srv = s;
        k->fd = ci->connect_fd;
        k->t_wait_ns = k->t_first_ns = uv_hrtime(); /* a new connection's head is due from its accept */
        k->prev = s->socks_tail;
        if (s->socks_tail)
            s->socks_tail->next = k;
        else
            s->socks = k;
        s->socks_tail = k;
        s->n_socks++;
        *socket_context = k;
        guard__poll_start(k);
        /* full: the oldest idle connection makes room, once MHD_run returned (a connection shut down from
           inside libmicrohttpd's accept is not noticed until its next timeout) */
        if (s->n_socks >= s->p.max_connections) s->kick_idle = k;
        return;
    }
    srv_sock_t *k = *socket_context;
    if (!k) return;
    *socket_context = NULL;
    if (s->kick_idle == k) s->kick_idle = NULL;
    guard__poll_stop(k); /* before libmicrohttpd closes the descriptor */
    if (k->req) k->req->sock = NULL;
    if (k->prev)
        k->prev->next = k->next;
    else
        s->socks = k->next;
    if (k->next)
        k->next->prev = k->prev;
    else
        s->socks_tail = k->prev;
    s->n_socks--;
    free(k);
}

bool srv__guard_after_run(srv_t *s) {
    srv_sock_t *k = s->kick_idle;
    if (!k) return false;
    s->kick_idle = NULL;
    if (s->n_socks < s->p.max_connections) return false;
    for (srv_sock_t *o = s->socks; o; o = o->next)
        if (o != k && !o->req && !o->seen_byte && !o->closing) {
            guard__close(o, "idle at the connection limit");
            return true;
        }
    return false;
}

void srv__guard_request_begin(srv_conn_t *c, struct MHD_Connection *mc) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    srv_sock_t *k = ci ? ci->socket_context : NULL;
    if (!k) return;
    guard__poll_stop(k); /* the socket is libmicrohttpd's (and the suspend watcher's) from here */
    k->req = c;
    k->seen_byte = true;
    c->sock = k;
    c->t_head_ns = uv_hrtime();
}

void srv__guard_request_end(srv_conn_t *c) {
    srv_sock_t *k = c->sock;
    if (!k) return;
    c->sock = NULL;
    k->req = NULL;
    k->t_wait_ns = uv_hrtime();
    k->t_first_ns = 0; /* a kept-alive connection: the next head's deadline runs from its first byte */
    k->seen_byte = false;
    guard__poll_start(k);
}

static void guard__tick(uv_timer_t *t) {
    srv_t *s = t->data;
    uint64_t now = uv_hrtime();
    uint64_t head_ns = (uint64_t)s->p.header_timeout_s * 1000000000ull;
    for (srv_sock_t *k = s->socks, *next; k; k = next) {
        next = k->next;
        if (k->closing) continue;
        srv_conn_t *c = k->req;
        if (!c) {
            if (head_ns && k->t_first_ns && now - k->t_first_ns > head_ns) guard__close(k, "request head too slow");
            continue;
        }
        if (c->body_done || !s->p.min_body_rate) continue;
        /* the body so far must be at least rate x (elapsed - grace) */
        uint64_t ms = guard__ms(now - c->t_head_ns);
        uint64_t got = c->body_len + c->discarded;
        if (ms > SRV_BODY_GRACE_S * 1000ull &&
            got * 1000ull < (uint64_t)s->p.min_body_rate * (ms - SRV_BODY_GRACE_S * 1000ull))
            guard__close(k, "request body too slow");
    }
}

void srv__guard_start(srv_t *s) {
    uv_timer_init(&s->loop, &s->guard_timer);
    s->guard_timer.data = s;
    s->guard_timer_init = true;
    uv_timer_start(&s->guard_timer, guard__tick, SRV_GUARD_TICK_MS, SRV_GUARD_TICK_MS);
}

void srv__guard_stop(srv_t *s) {
    if (!s->guard_timer_init) return;
    s->guard_timer_init = false;
    uv_close((uv_handle_t *)&s->guard_timer, NULL);
}
