/*
 * loop.c — the libuv loop of `cinder serve`: startup (memory check, bind, then load every model on libuv worker
 * threads), the bridge that carries engine events to the loop thread, signals, and shutdown. See server.h for
 * the threading model.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "srv_int.h"

#define LOOP_END_TEXT_CAP 64 /* the detokenizer's tail in an END event is at most a few bytes */
#define LOOP_END_MSG_CAP 160 /* an END event's error message is cut to fit */
#define LOOP_END_CAP (sizeof(engine_event_t) + LOOP_END_TEXT_CAP + LOOP_END_MSG_CAP)

server_params_t server_default_params(void) {
    server_params_t p = {0};
    p.memory_check = true;
    p.host = "127.0.0.1";
    p.port = 8080;
    p.max_body_bytes = (size_t)8 << 20;
    p.max_header_bytes = (size_t)32 << 10;
    p.max_connections = 256;
    p.idle_timeout_s = 30;
    p.header_timeout_s = 10;
    p.min_body_rate = 1024;
    p.max_connections_per_ip = 64;
    p.stream_buffer_bytes = (size_t)256 << 10;
    p.grace_ms = 3000;
    return p;
}

/* ---- engine thread -> loop -------------------------------------------------------------------------------- */

static srv_msg_t *loop__msg_new(size_t cap) {
    srv_msg_t *m = malloc(sizeof *m + cap);
    if (m) {
        memset(m, 0, sizeof *m);
        m->cap = cap;
    }
    return m;
}

/* Engine thread: copies the event into a message, queues it and wakes the loop. Never waits on anything but
   the queue's mutex, which the loop holds only to unlink the list. */
static void loop__on_engine_event(void *user, const engine_event_t *ev) {
    srv_req_t *rq = user;
    srv_t *s = rq->srv;
    srv_msg_t *m;
    if (ev->type == ENGINE_EV_END) {
        m = rq->end_msg; /* allocated at submit, LOOP_END_CAP bytes: the tail and the message are cut to fit */
        rq->end_msg = NULL;
        if (!m) return;
        engine_event_t end = *ev;
        char msg[LOOP_END_MSG_CAP];
        if (end.text_len > LOOP_END_TEXT_CAP) end.text_len = LOOP_END_TEXT_CAP;
        if (end.err_msg) {
            snprintf(msg, sizeof msg, "%s", end.err_msg);
            end.err_msg = msg;
        }
        m->ev = engine_event_copy(&end, m->buf, m->cap);
        if (rq->lost) {
            m->ev->finish = ENGINE_FINISH_ERROR;
            m->ev->err = ERR_NOMEM;
            m->ev->err_msg = "out of memory: generated tokens were lost";
        }
    } else {
        m = loop__msg_new(engine_event_size(ev));
        if (!m) {
            rq->lost = true; /* reported with the END event */
            return;
        }
        m->ev = engine_event_copy(ev, m->buf, m->cap);
    }
    m->req = rq;
    m->next = NULL;
    pthread_mutex_lock(&s->q_mu);
    if (s->q_tail)
        s->q_tail->next = m;
    else
        s->q_head = m;
    s->q_tail = m;
    pthread_mutex_unlock(&s->q_mu);
    uv_async_send(&s->wake);
}

/* Loop thread: hands every queued event to the api, in order. */
static void loop__drain(srv_t *s) {
    for (;;) {
        pthread_mutex_lock(&s->q_mu);
        srv_msg_t *m = s->q_head;
        s->q_head = s->q_tail = NULL;
        pthread_mutex_unlock(&s->q_mu);
        if (!m) return;
        while (m) {
            srv_msg_t *next = m->next;
            srv_req_t *rq = m->req;
            api_event(rq->api_user, m->ev);
            if (m->ev->type == ENGINE_EV_END) free(rq); /* the engine never touches it again */
            free(m);
            m = next;
        }
    }
}

/* ---- the api backend -------------------------------------------------------------------------------------- */

static int loop__submit(void *self, const engine_req_t *r, uint64_t *id, char *err, size_t err_len) {
    srv_model_t *m = self;
    if (!m->engine) return err_set(err, err_len, ERR_STATE, "the engine is not running");
    srv_req_t *rq = calloc(1, sizeof *rq);
    srv_msg_t *end = loop__msg_new(LOOP_END_CAP);
    if (!rq || !end) {
        free(rq);
        free(end);
        return err_set(err, err_len, ERR_NOMEM, "out of memory");
    }
    rq->srv = m->srv;
    rq->api_user = r->user;
    rq->end_msg = end;
    engine_req_t er = *r;
    er.on_event = loop__on_engine_event;
    er.user = rq;
    int rc = engine_submit(m->engine, &er, id, err, err_len);
    if (rc) { /* no event will ever come */
        free(end);
        free(rq);
    }
    return rc;
}

static int loop__cancel(void *self, uint64_t id) {
    srv_model_t *m = self;
    return m->engine ? engine_cancel(m->engine, id) : ERR_STATE;
}

static int loop__pause(void *self, uint64_t id, bool paused) {
    srv_model_t *m = self;
    return m->engine ? engine_pause(m->engine, id, paused) : ERR_STATE;
}

static void loop__stats(void *self, engine_stats_t *out) {
    srv_model_t *m = self;
    if (m->engine)
        engine_stats(m->engine, out);
    else
        memset(out, 0, sizeof *out);
}

/* ---- startup ---------------------------------------------------------------------------------------------- */

/* Reading the weights, on a terminal: "loading ID: 42% (160.2 of 386.4 MiB)", rewritten in place (worker
 * thread). */
static void loop__load_progress(void *user, uint64_t done, uint64_t total) {
    srv_model_t *m = user;
    const int pct = total ? (int)(done * 100 / total) : 100;
    if (pct == m->load_pct) return;
    m->load_pct = pct;
    fprintf(stderr, "\rloading %s: %d%% (%.1f of %.1f MiB)%s", m->p->id, pct, (double)done / 1048576.0,
            (double)total / 1048576.0, done == total ? "\n" : "");
    fflush(stderr);
}

/* Loads a model and reads its weights into memory (so that /health turns 200 only once the first requests will
 * not wait for the disk), with progress on a terminal. */
static void loop__load_work(uv_work_t *w) {
    srv_model_t *m = w->data;
    engine_params_t ep = m->p->engine;
    ep.prefault = true;
    if (isatty(STDERR_FILENO)) {
        m->load_pct = -1;
        ep.on_load = loop__load_progress;
        ep.load_user = m;
    }
    m->load_rc = engine_create(&ep, &m->engine, m->load_err, sizeof m->load_err);
}

static void loop__begin_stop(srv_t *s, int rc);

/* Makes a loaded model available to the api. Returns 0, or an error (with s->err set) that stops the server. */
static int loop__attach(srv_t *s, srv_model_t *m) {
    const model_t *model = engine_model(m->engine);
    char *tmpl = NULL;
    gguf_str_t gs = {0};
    if (m->p->chat_template) {
        tmpl = strdup(m->p->chat_template);
    } else if (gguf_get_str(model_gguf(model), "tokenizer.chat_template", &gs) == 0 && gs.len > 0) {
        tmpl = malloc(gs.len + 1);
        if (tmpl) {
            memcpy(tmpl, gs.ptr, gs.len);
            tmpl[gs.len] = '\0';
        }
    }
    api_model_t am = {
        .index = m->index,
        .load_ms = m->load_ms,
        .tok = model_tok(model),
        .n_ctx = engine_n_ctx(m->engine),
        .chat_template = tmpl,
        .strict_template = m->p->chat_template != NULL,
        .embedding = model_hparams(model)->pooling != MODEL_POOL_NONE, /* an embedding model: /v1/embeddings only */
        .n_embd = model_hparams(model)->n_embd,
        .backend =
            {.submit = loop__submit, .cancel = loop__cancel, .pause = loop__pause, .stats = loop__stats, .self = m},
    };
    char err[512] = "";
    int rc = api_attach(s->api, &am, err, sizeof err);
    bool chatml = tmpl == NULL;
    free(tmpl);
    if (rc) {
        snprintf(s->err, sizeof s->err, "model %.100s: --chat-template: %.380s", m->p->id, err);
        return rc;
    }
    if (err[0])
        log_kv(LOG_WARN, "the model's chat template does not compile; chat requests get 400",
               (log_kv_t[]){LOG_S("model", m->p->id), LOG_S("error", err)}, 2);
    if (chatml)
        log_kv(LOG_INFO, "the model has no chat template: chat requests use ChatML",
               (log_kv_t[]){LOG_S("model", m->p->id)}, 1);
    engine_stats_t st;
    engine_stats(m->engine, &st);
    char arch[512];
    model_describe(engine_model(m->engine), arch, sizeof arch);
    log_kv(LOG_INFO, "model loaded",
           (log_kv_t[]){LOG_S("model", m->p->id), LOG_S("architecture", arch), LOG_F("load_ms", m->load_ms),
                        LOG_I("ctx_size", am.n_ctx),
                        LOG_I("parallel", engine_n_parallel(m->engine)), LOG_I("max_queue", m->p->engine.max_queue),
                        LOG_I("kv_tokens", (int64_t)st.kv_blocks_total * st.kv_block_tokens),
                        LOG_I("threads", engine_n_threads(m->engine)), LOG_S("kernels", engine_isa())},
           9);
    return 0;
}

static void loop__load_done(uv_work_t *w, int status) {
    srv_model_t *m = w->data;
    srv_t *s = m->srv;
    m->loading = false;
    s->n_loading--;
    m->load_ms = (double)(uv_hrtime() - m->t_load_ns) / 1e6;
    if (m->load_rc || !m->engine) {
        if (!s->stopping)
            snprintf(s->err, sizeof s->err, "model %.100s: %.390s", m->p->id,
                     m->load_err[0] ? m->load_err : "cannot load the model");
        loop__begin_stop(s, m->load_rc ? m->load_rc : ERR_STATE);
        return;
    }
    if (s->stopping) return; /* a signal or another model's failure came while loading: the stop timer finishes */
    int rc = loop__attach(s, m);
    if (rc) {
        loop__begin_stop(s, rc);
        return;
    }
    if (s->n_loading == 0)
        log_kv(LOG_INFO, "ready", (log_kv_t[]){LOG_I("models", s->p.n_models), LOG_I("port", s->port)}, 2);
}

/* ---- shutdown --------------------------------------------------------------------------------------------- */

static void loop__close_cb(uv_handle_t *h) { (void)h; }

/* Everything is answered or out of time: stop HTTP, the engine and the api, and let uv_run return. */
static void loop__finish(srv_t *s) {
    if (s->finished) return;
    s->finished = true;
    uv_timer_stop(&s->stop_timer);
    srv__http_stop(s); /* requests still open complete now and release their calls */
    for (size_t i = 0; s->models && i < s->p.n_models; i++) {
        engine_t *e = s->models[i].engine;
        s->models[i].engine = NULL; /* the backend refuses from here on */
        engine_free(e);             /* ends whatever remains with CANCELLED events, queued for us */
    }
    loop__drain(s);
    uv_close((uv_handle_t *)&s->wake, loop__close_cb);
    uv_close((uv_handle_t *)&s->sig_int, loop__close_cb);
    uv_close((uv_handle_t *)&s->sig_term, loop__close_cb);
    uv_close((uv_handle_t *)&s->stop_timer, loop__close_cb);
    if (s->mhd_timer_init) uv_close((uv_handle_t *)&s->mhd_timer, loop__close_cb);
}

static void loop__stop_tick(uv_timer_t *t) {
    srv_t *s = t->data;
    if (s->n_loading) return; /* model loading cannot be interrupted; wait for it */
    bool idle = s->n_conns == 0 && api_live_calls(s->api) == 0;
    if (idle || uv_hrtime() >= s->stop_deadline_ns) loop__finish(s);
}

static void loop__begin_stop(srv_t *s, int rc) {
    if (s->stopping) {
        s->stop_deadline_ns = 0; /* a second signal: do not wait any longer */
        return;
    }
    s->stopping = true;
    if (rc && !s->rc) s->rc = rc;
    if (s->mhd) {
        s->listen_fd = MHD_quiesce_daemon(s->mhd); /* no new connections */
    }
    api_shutdown(s->api); /* cancels every running request; their responses end with errors */
    s->stop_deadline_ns = uv_hrtime() + (uint64_t)s->p.grace_ms * 1000000ull;
    uv_timer_start(&s->stop_timer, loop__stop_tick, 0, 20);
}

static void loop__on_signal(uv_signal_t *h, int signum) {
    srv_t *s = h->data;
    log_kv(LOG_INFO, "shutting down", (log_kv_t[]){LOG_S("signal", signum == SIGINT ? "SIGINT" : "SIGTERM")}, 1);
    loop__begin_stop(s, 0);
}

static void loop__on_wake(uv_async_t *a) {
    srv_t *s = a->data;
    loop__drain(s);
    srv__mhd_run(s); /* connections the sink resumed are served now, not at the next network event */
}

/* ---- entry point ------------------------------------------------------------------------------------------ */

int server_run(const server_params_t *p, char *err, size_t err_len) {
    if (!p->models || p->n_models == 0) return err_set(err, err_len, ERR_INVAL, "no model to serve");
    if (p->memory_check) {
        int mrc = server_memory_check(p->models, p->n_models, err, err_len);
        if (mrc) return mrc;
    }
    srv_t *s = calloc(1, sizeof *s);
    const char **ids = calloc(p->n_models, sizeof *ids), **sources = calloc(p->n_models, sizeof *sources);
    if (!s || !ids || !sources || !(s->models = calloc(p->n_models, sizeof *s->models))) {
        free(ids);
        free(sources);
        free(s);
        return err_set(err, err_len, ERR_NOMEM, "out of memory");
    }
    int rc = 0;
    bool loop_ok = false, mu_ok = false;
    s->p = *p;
    s->listen_fd = MHD_INVALID_SOCKET;
    s->rng = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid();
    if (!s->rng) s->rng = 1;
    signal(SIGPIPE, SIG_IGN); /* a write to a closed socket must be an error, not a kill */
    for (size_t i = 0; i < p->n_models; i++) {
        ids[i] = p->models[i].id;
        sources[i] = p->models[i].source;
        s->models[i] = (srv_model_t){.srv = s, .index = i, .p = &p->models[i]};
    }

    api_params_t ap = {
        .model_ids = ids,
        .model_sources = sources,
        .n_models = p->n_models,
        .created = (int64_t)time(NULL),
        .api_keys = p->api_keys,
        .n_api_keys = p->n_api_keys,
        .max_body_bytes = p->max_body_bytes,
        .metrics_api_key = p->metrics_api_key,
        .reasoning_inline = p->reasoning_inline,
        .key_limits = p->key_limits,
        .n_key_limits = p->n_key_limits,
        .responses_store = p->responses_store,
        .responses_max_age_s = p->responses_max_age_s,
        .responses_max_bytes = p->responses_max_bytes,
    };
    if ((rc = api_create(&ap, &s->api, err, err_len))) goto cleanup;
    if (pthread_mutex_init(&s->q_mu, NULL) != 0) {
        rc = err_set(err, err_len, ERR_NOMEM, "cannot create a mutex");
        goto cleanup;
    }
    mu_ok = true;
    if (uv_loop_init(&s->loop) != 0) {
        rc = err_set(err, err_len, ERR_NOMEM, "cannot create the event loop");
        goto cleanup;
    }
    loop_ok = true;
    uv_async_init(&s->loop, &s->wake, loop__on_wake);
    s->wake.data = s;
    uv_signal_init(&s->loop, &s->sig_int);
    uv_signal_init(&s->loop, &s->sig_term);
    s->sig_int.data = s->sig_term.data = s;
    uv_timer_init(&s->loop, &s->stop_timer);
    s->stop_timer.data = s;
    uv_signal_start(&s->sig_int, loop__on_signal, SIGINT);
    uv_signal_start(&s->sig_term, loop__on_signal, SIGTERM);

    if ((rc = srv__http_start(s, err, err_len))) {
        loop__finish(s);
        uv_run(&s->loop, UV_RUN_DEFAULT);
        goto cleanup;
    }
    printf("listening on http://%s%s%s:%d\n", strchr(p->host, ':') ? "[" : "", p->host, strchr(p->host, ':') ? "]" : "",
           s->port);
    fflush(stdout);
    log_kv(LOG_INFO, "listening", (log_kv_t[]){LOG_S("host", p->host), LOG_I("port", s->port)}, 2);

    for (size_t i = 0; i < p->n_models; i++) {
        srv_model_t *m = &s->models[i];
        log_kv(LOG_INFO, "loading model",
               (log_kv_t[]){LOG_S("model", m->p->id), LOG_S("path", m->p->engine.model_path)}, 2);
        m->work.data = m;
        m->t_load_ns = uv_hrtime();
        m->loading = true;
        if (uv_queue_work(&s->loop, &m->work, loop__load_work, loop__load_done) != 0) {
            m->loading = false;
            rc = err_set(err, err_len, ERR_NOMEM, "cannot start the model loader");
            loop__begin_stop(s, rc);
            break;
        }
        s->n_loading++;
    }
    uv_run(&s->loop, UV_RUN_DEFAULT);
    if (!rc && s->rc) rc = err_set(err, err_len, s->rc, "%s", s->err[0] ? s->err : err_str(s->rc));
cleanup:
    if (loop_ok) {
        uv_run(&s->loop, UV_RUN_DEFAULT); /* close callbacks */
        uv_loop_close(&s->loop);
    }
    api_free(s->api);
    if (mu_ok) pthread_mutex_destroy(&s->q_mu);
    free(s->models);
    free(ids);
    free(sources);
    free(s);
    return rc;
}
