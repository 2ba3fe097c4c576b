/*
 * srv_int.h — state shared by server/loop.c (the libuv loop, engine bridge, startup and shutdown) and
 * server/http.c (libmicrohttpd: connections, the api sink, suspend/resume, disconnect watching). Internal.
 * Everything here is touched by the loop thread only, except `q_*` (engine thread + loop thread, under q_mu).
 */
#ifndef CINDER_SRV_INT_H
#define CINDER_SRV_INT_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "api.h"
#include "server.h"

typedef struct srv srv_t;
typedef struct srv_sock srv_sock_t; /* one TCP connection's deadlines (guard.c) */

#define SRV_MAX_HDRS 10 /* extra headers a whole response may carry */

/* One engine event carried from the engine thread to the loop. */
typedef struct srv_msg {
    struct srv_msg *next;
    struct srv_req *req; /* whose event this is */
    engine_event_t *ev;  /* the event: a deep copy (engine_event_copy) inside buf */
    size_t cap;          /* bytes of buf */
    max_align_t buf[];
} srv_msg_t;

/* One served model: its engine and how loading it went. The api backend's `self`. */
typedef struct srv_model {
    srv_t *srv;
    size_t index;            /* in srv_t.models and the api's models */
    const server_model_t *p; /* server_params_t.models[index] */
    engine_t *engine;        /* NULL until loaded, and again after shutdown */
    uv_work_t work;          /* the load */
    bool loading;            /* the work is queued or running */
    int load_rc;             /* engine_create's result (worker thread, read after the work completes) */
    char load_err[512];
    uint64_t t_load_ns; /* when the work was queued */
    double load_ms;     /* how long it took */
    int load_pct;       /* the loading progress last shown on a terminal (worker thread), -1 = none yet */
} srv_model_t;

/* One submitted engine request: the engine's `user` pointer. Freed by the loop after its END. */
typedef struct srv_req {
    srv_t *srv;
    void *api_user;     /* the api's per-choice pointer, for api_event */
    srv_msg_t *end_msg; /* allocated at submit: END always reaches the loop */
    bool lost;          /* engine thread: a TOKEN message could not be allocated */
} srv_req_t;

/* Per-request HTTP state (MHD's con_cls). The sink comes first so api callbacks can cast back. */
typedef struct srv_conn {
    api_sink_t sink;
    srv_t *srv;
    struct MHD_Connection *mc; /* NULL once the request completed */
    struct srv_conn *prev, *next;
    uint64_t t0_ns;     /* uv_hrtime at the first access-handler call */
    uint64_t t_head_ns; /* the same, for guard.c's body rate */
    srv_sock_t *sock;   /* its connection (guard.c), NULL once the request completed */
    bool body_done;     /* the whole body is in (the last access-handler call came) */
    char req_id[40];
    char method[16];
    char path[256]; /* for the log line */
    char *body;     /* request body so far */
    size_t body_len, body_cap;
    uint64_t discarded; /* bytes dropped after the body limit */
    bool too_large;
    bool close_after; /* answered before a body that was announced was read: "Connection: close" */
    bool handled;     /* api_handle called */
    bool queued;      /* a response is queued with MHD */
    api_call_t *call;
    /* a whole response waiting to be queued */
    bool have_resp;
    int status;
    char *resp_body;
    size_t resp_len;
    char hdr_name[SRV_MAX_HDRS][32], hdr_value[SRV_MAX_HDRS][64]; /* extra response headers (Allow, Content-Type,
                                                                    WWW-Authenticate, Retry-After, x-ratelimit-*) */
    int n_hdrs;
    char xhdr_name[SRV_MAX_HDRS][32], xhdr_value[SRV_MAX_HDRS][32]; /* sink->headers: for whichever response */
    int n_xhdrs;
    /* a stream */
    bool streaming, stream_closed;
    char *out;
    size_t out_len, out_off, out_cap;
    bool oom;    /* a write could not be buffered: the stream is cut */
    bool paused; /* its unsent output passed stream_buffer_bytes: the call is paused until the client reads */
    /* suspension and disconnects */
    bool suspended;
    bool client_gone;
    const char *slow; /* closed by a deadline of ours (srv__guard): the log line's outcome, else NULL */
    uv_poll_t *watch;
    int refs; /* 1 for the MHD request, +1 while a stream response holds the connection */
    int final_status;
    const char *origin_ok; /* CORS: the Access-Control-Allow-Origin value for this request, or NULL */
    /* for the log line: what the api call did, copied before it is released */
    bool have_info;
    char model[128];
    int32_t prompt_tokens, completion_tokens;
    double ttft_ms;
} srv_conn_t;

struct srv {
    server_params_t p;
    uv_loop_t loop;
    uv_poll_t mhd_poll;
    uv_timer_t mhd_timer;
    uv_async_t wake;
    uv_signal_t sig_int, sig_term;
    uv_timer_t stop_timer;
    struct MHD_Daemon *mhd;
    bool mhd_timer_init, mhd_poll_init; /* handles to close */
    MHD_socket listen_fd;               /* from MHD_quiesce_daemon, closed after MHD_stop_daemon */
    int port;
    api_ctx_t *api;
    srv_model_t *models; /* p.n_models */
    size_t n_loading;    /* load works not yet completed */
    bool stopping, finished;
    uint64_t stop_deadline_ns;
    int rc;
    char err[512];
    /* engine -> loop queue */
    pthread_mutex_t q_mu;
    srv_msg_t *q_head, *q_tail;
    /* live requests */
    srv_conn_t *conns;
    size_t n_conns;
    /* open connections, oldest first (guard.c) */
    srv_sock_t *socks, *socks_tail;
    size_t n_socks;
    srv_sock_t *kick_idle; /* the connection that reached max_connections: close an idle one after MHD_run */
    uv_timer_t guard_timer;
    bool guard_timer_init;
    uint64_t n_requests;
    uint64_t rng;
};

/* http.c */
int srv__http_start(srv_t *s, char *err, size_t err_len);
/* Runs MHD once and re-arms the timer from MHD_get_timeout. */
void srv__mhd_run(srv_t *s);
/* Shutdown: marks every suspended connection as gone and resumes it so MHD closes it. */
void srv__http_drop_all(srv_t *s);
void srv__http_stop(srv_t *s);

/* guard.c: header deadline, body rate, idle connections closed first at the limit (see guard.c). */
void srv__guard_on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
                              enum MHD_ConnectionNotificationCode code);
/* A request's head is in (first access-handler call): its connection's head deadline ends, the body rate starts. */
void srv__guard_request_begin(srv_conn_t *c, struct MHD_Connection *mc);
/* The request completed: its connection waits for the next request (or closes). */
void srv__guard_request_end(srv_conn_t *c);
/* After MHD_run: closes the oldest idle connection when a new one reached the limit. True when it closed one. */
bool srv__guard_after_run(srv_t *s);
void srv__guard_start(srv_t *s);
void srv__guard_stop(srv_t *s);

/* Copies what the call did into c (for the log line) and releases it. */
void srv__release_call(srv_conn_t *c);
/* The request is over: counts it for /metrics and writes its log line (unless quiet). */
void srv__request_done(srv_t *s, srv_conn_t *c, const char *outcome);

#endif
