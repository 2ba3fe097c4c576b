/*
 * engine.c — the engine thread: admits queued requests into sequence slots, runs prefill and decode steps, and
 * reports tokens through each request's callback.
 *
 * Locking: `mu` guards the queue, the cancel flags and the counters; compute runs without it. A request moves
 * queued -> running (slot) -> ended; only the engine thread moves it past "queued" and frees it.
 * Each step visits every running slot once: a slot still in its prompt runs one chunk of up to n_batch tokens,
 * a generating slot runs one token. Sequences never share a forward pass yet, so a request's output cannot
 * depend on its neighbours.
 */
#include "engine.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"

typedef struct engine_job {
    struct engine_job *next; /* queue link */
    uint64_t id;
    engine_req_t req;   /* prompt points at `prompt` below */
    int32_t *prompt;    /* owned copy */
    bool cancel;        /* set under mu by engine_cancel / engine_free */
    double t_submit;
} engine_job_t;

typedef struct {
    engine_job_t *job;   /* NULL when the slot is free */
    model_seq_t *seq;    /* n_ctx positions */
    sampler_t *smp;
    tok_stream_t stream;
    float *logits;       /* (n_vocab,) */
    size_t n_fed;        /* prompt tokens already in the cache */
    int32_t n_generated;
    int32_t last;        /* last sampled token, fed at the next step */
    double t_start, t_first;
} engine_slot_t;

struct engine {
    model_t *model;
    model_ctx_t *ctx;
    engine_params_t p;
    engine_slot_t *slots; /* n_parallel */
    pthread_t thread;
    bool thread_started;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    engine_job_t *head, *tail; /* queued jobs, FIFO */
    int32_t n_queued, n_running;
    uint64_t next_id, n_completed;
    bool stopping;
};

static double engine__now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

engine_params_t engine_default_params(void) {
    engine_params_t p = {0};
    p.n_parallel = 1;
    p.max_queue = 64;
    p.n_batch = 512;
    return p;
}

/* ---- events ----------------------------------------------------------------------------------------------- */

static void engine__end(engine_t *e, engine_slot_t *s, engine_job_t *job, engine_finish_t finish, int err,
                        const char *msg) {
    engine_event_t ev = {.type = ENGINE_EV_END, .id = job->id, .finish = finish, .err = err, .err_msg = msg};
    char tail[64];
    size_t n_tail = 0;
    double now = engine__now_ms();
    if (s) {
        if (tok_stream_flush(&s->stream, tail, sizeof tail, &n_tail) == 0) {
            ev.text = tail;
            ev.text_len = n_tail;
        }
        ev.n_prompt = (int32_t)job->req.n_prompt;
        ev.n_generated = s->n_generated;
        ev.t_queue_ms = s->t_start - job->t_submit;
        ev.t_prompt_ms = (s->t_first > 0 ? s->t_first : now) - s->t_start;
        ev.t_gen_ms = s->t_first > 0 ? now - s->t_first : 0;
    } else {
        ev.n_prompt = (int32_t)job->req.n_prompt;
        ev.t_queue_ms = now - job->t_submit;
    }
    job->req.on_event(job->req.user, &ev);
    pthread_mutex_lock(&e->mu); /* engine_cancel reads slot jobs under mu: detach before freeing */
    e->n_completed++;
    if (s) {
        e->n_running--;
        s->job = NULL;
    }
    pthread_mutex_unlock(&e->mu);
    if (s) {
        sampler_free(s->smp);
        s->smp = NULL;
    }
    free(job->prompt);
    free(job);
}

/* Samples the next token of a slot from its logits and reports it; ends the request when it is over.
 * Returns true while the request goes on. */
static bool engine__emit(engine_t *e, engine_slot_t *s) {
    engine_job_t *job = s->job;
    const tok_t *tok = model_tok(e->model);
    int32_t n_vocab = model_hparams(e->model)->n_vocab;
    int32_t id = sampler_sample(s->smp, s->logits);
    if (s->t_first <= 0) s->t_first = engine__now_ms();
    if (tok_is_eog(tok, id)) {
        engine__end(e, s, job, ENGINE_FINISH_STOP, 0, NULL);
        return false;
    }
    s->n_generated++;
    s->last = id;
    char text[512];
    size_t n_text = 0;
    if (tok_stream_push(&s->stream, tok, id, text, sizeof text, &n_text) != 0) n_text = 0;
    engine_event_t ev = {.type = ENGINE_EV_TOKEN, .id = job->id, .token = id, .text = text, .text_len = n_text};
    int32_t top_ids[ENGINE_MAX_TOP_LOGPROBS];
    float top_lp[ENGINE_MAX_TOP_LOGPROBS];
    if (job->req.logprobs) {
        int k = job->req.n_top_logprobs;
        if (sampler_logprobs(s->logits, n_vocab, id, k, &ev.logprob, top_ids, top_lp) == 0) {
            ev.n_top = k;
            ev.top_ids = top_ids;
            ev.top_logprobs = top_lp;
        }
    }
    job->req.on_event(job->req.user, &ev);
    if (s->n_generated >= job->req.max_tokens || model_seq_pos(s->seq) >= model_seq_capacity(s->seq)) {
        engine__end(e, s, job, ENGINE_FINISH_LENGTH, 0, NULL);
        return false;
    }
    return true;
}

/* One step of one slot: a prompt chunk, or the last sampled token. */
static void engine__step_slot(engine_t *e, engine_slot_t *s) {
    engine_job_t *job = s->job;
    int rc;
    if (s->n_fed < job->req.n_prompt) {
        size_t left = job->req.n_prompt - s->n_fed;
        int32_t chunk = (int32_t)(left < (size_t)e->p.n_batch ? left : (size_t)e->p.n_batch);
        rc = model_forward(e->ctx, s->seq, job->prompt + s->n_fed, chunk, false, s->logits);
        if (rc) {
            engine__end(e, s, job, ENGINE_FINISH_ERROR, rc, "forward pass failed");
            return;
        }
        s->n_fed += (size_t)chunk;
        if (s->n_fed < job->req.n_prompt) return;
        engine__emit(e, s);
        return;
    }
    rc = model_forward(e->ctx, s->seq, &s->last, 1, false, s->logits);
    if (rc) {
        engine__end(e, s, job, ENGINE_FINISH_ERROR, rc, "forward pass failed");
        return;
    }
    engine__emit(e, s);
}

/* Moves queued jobs into free slots (FIFO). Called with mu held; returns jobs cancelled while queued. */
static engine_job_t *engine__admit(engine_t *e) {
    engine_job_t *cancelled = NULL;
    for (int32_t i = 0; i < e->p.n_parallel && e->head; i++) {
        if (e->slots[i].job) continue;
        while (e->head && e->head->cancel) { /* skip cancelled ones */
            engine_job_t *j = e->head;
            e->head = j->next;
            e->n_queued--;
            j->next = cancelled;
            cancelled = j;
        }
        if (!e->head) break;
        engine_job_t *j = e->head;
        e->head = j->next;
        j->next = NULL;
        e->n_queued--;
        e->n_running++;
        e->slots[i].job = j;
    }
    if (!e->head) e->tail = NULL;
    return cancelled;
}

static int engine__start_slot(engine_t *e, engine_slot_t *s) {
    engine_job_t *job = s->job;
    char err[256] = "";
    int rc = sampler_create(&job->req.sampling, model_hparams(e->model)->n_vocab, &s->smp, err, sizeof err);
    if (rc) return rc;
    sampler_add_prompt(s->smp, job->prompt, job->req.n_prompt);
    model_seq_truncate(s->seq, 0);
    tok_stream_init(&s->stream);
    s->n_fed = 0;
    s->n_generated = 0;
    s->t_start = engine__now_ms();
    s->t_first = 0;
    return 0;
}

static void *engine__thread(void *arg) {
    engine_t *e = arg;
    for (;;) {
        pthread_mutex_lock(&e->mu);
        while (!e->stopping && !e->head && e->n_running == 0) pthread_cond_wait(&e->cv, &e->mu);
        bool stopping = e->stopping;
        engine_job_t *cancelled = stopping ? NULL : engine__admit(e);
        if (stopping) { /* everything queued is cancelled */
            cancelled = e->head;
            e->head = e->tail = NULL;
            e->n_queued = 0;
        }
        bool cancel_flags[256];
        int32_t n = e->p.n_parallel;
        for (int32_t i = 0; i < n && i < 256; i++)
            cancel_flags[i] = e->slots[i].job && (stopping || e->slots[i].job->cancel);
        pthread_mutex_unlock(&e->mu);

        while (cancelled) {
            engine_job_t *j = cancelled;
            cancelled = j->next;
            engine__end(e, NULL, j, ENGINE_FINISH_CANCELLED, 0, NULL);
        }
        for (int32_t i = 0; i < n; i++) {
            engine_slot_t *s = &e->slots[i];
            if (!s->job) continue;
            if (cancel_flags[i]) {
                engine__end(e, s, s->job, ENGINE_FINISH_CANCELLED, 0, NULL);
                continue;
            }
            if (!s->smp) {
                int rc = engine__start_slot(e, s);
                if (rc) {
                    engine__end(e, s, s->job, ENGINE_FINISH_ERROR, rc, "cannot start the request");
                    continue;
                }
            }
            engine__step_slot(e, s);
        }
        if (stopping) {
            bool any = false;
            for (int32_t i = 0; i < n; i++) any |= e->slots[i].job != NULL;
            if (!any) break;
        }
    }
    return NULL;
}

/* ---- public API ------------------------------------------------------------------------------------------- */

int engine_create(const engine_params_t *p, engine_t **out, char *err, size_t err_len) {
    *out = NULL;
    if (!p->model_path) return err_set(err, err_len, ERR_INVAL, "no model path given");
    if (p->n_parallel < 1 || p->n_parallel > 256 || p->max_queue < 0 || p->n_batch < 1 || p->n_ctx < 0 ||
        p->n_threads < 0)
        return err_set(err, err_len, ERR_INVAL, "engine parameters out of range");
    engine_t *e = calloc(1, sizeof *e);
    if (!e) return err_set(err, err_len, ERR_NOMEM, "out of memory");
    e->p = *p;
    e->next_id = 1;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    int rc = model_load(p->model_path, &e->model, err, err_len);
    if (rc) goto fail;
    const model_hparams_t *hp = model_hparams(e->model);
    if (e->p.n_ctx == 0 || e->p.n_ctx > hp->n_ctx_train) e->p.n_ctx = e->p.n_ctx == 0 ? hp->n_ctx_train : e->p.n_ctx;
    if (e->p.n_batch > e->p.n_ctx) e->p.n_batch = e->p.n_ctx;
    rc = model_ctx_create(e->model, p->n_threads, e->p.n_batch, e->p.n_ctx, &e->ctx);
    if (rc) {
        err_set(err, err_len, rc, "cannot allocate the compute context: %s", err_str(rc));
        goto fail;
    }
    e->slots = calloc((size_t)e->p.n_parallel, sizeof *e->slots);
    if (!e->slots) {
        rc = err_set(err, err_len, ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (int32_t i = 0; i < e->p.n_parallel; i++) {
        engine_slot_t *s = &e->slots[i];
        rc = model_seq_create(e->model, e->p.n_ctx, &s->seq);
        s->logits = malloc((size_t)hp->n_vocab * sizeof(float));
        if (rc || !s->logits) {
            rc = err_set(err, err_len, ERR_NOMEM, "out of memory for %d sequences of %d tokens", e->p.n_parallel,
                         e->p.n_ctx);
            goto fail;
        }
    }
    if (pthread_create(&e->thread, NULL, engine__thread, e) != 0) {
        rc = err_set(err, err_len, ERR_NOMEM, "cannot start the engine thread");
        goto fail;
    }
    e->thread_started = true;
    *out = e;
    return 0;
fail:
    engine_free(e);
    return rc;
}

void engine_free(engine_t *e) {
    if (!e) return;
    if (e->thread_started) {
        pthread_mutex_lock(&e->mu);
        e->stopping = true;
        pthread_cond_signal(&e->cv);
        pthread_mutex_unlock(&e->mu);
        pthread_join(e->thread, NULL);
    }
    if (e->slots) {
        for (int32_t i = 0; i < e->p.n_parallel; i++) {
            model_seq_free(e->slots[i].seq);
            sampler_free(e->slots[i].smp);
            free(e->slots[i].logits);
        }
        free(e->slots);
    }
    model_ctx_free(e->ctx);
    model_free(e->model);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    free(e);
}

const model_t *engine_model(const engine_t *e) { return e->model; }
int32_t engine_n_ctx(const engine_t *e) { return e->p.n_ctx; }

int engine_submit(engine_t *e, const engine_req_t *r, uint64_t *id, char *err, size_t err_len) {
    const model_hparams_t *hp = model_hparams(e->model);
    if (!r->on_event) return err_set(err, err_len, ERR_INVAL, "on_event is required");
    if (!r->prompt || r->n_prompt == 0) return err_set(err, err_len, ERR_INVAL, "the prompt is empty");
    if (r->max_tokens < 1) return err_set(err, err_len, ERR_INVAL, "max_tokens must be at least 1");
    if (r->n_top_logprobs < 0 || r->n_top_logprobs > ENGINE_MAX_TOP_LOGPROBS)
        return err_set(err, err_len, ERR_INVAL, "top_logprobs must be between 0 and %d", ENGINE_MAX_TOP_LOGPROBS);
    for (size_t i = 0; i < r->n_prompt; i++)
        if (r->prompt[i] < 0 || r->prompt[i] >= hp->n_vocab)
            return err_set(err, err_len, ERR_INVAL, "prompt token %d is out of the vocabulary", r->prompt[i]);
    if ((int64_t)r->n_prompt + r->max_tokens > e->p.n_ctx)
        return err_set(err, err_len, ERR_CONTEXT,
                       "this model's maximum context length is %d tokens, but %zu prompt tokens plus %d "
                       "requested completion tokens were asked for",
                       e->p.n_ctx, r->n_prompt, r->max_tokens);
    sampler_t *probe = NULL; /* validates the sampling parameters with the sampler's own messages */
    int rc = sampler_create(&r->sampling, hp->n_vocab, &probe, err, err_len);
    sampler_free(probe);
    if (rc) return rc;

    engine_job_t *j = calloc(1, sizeof *j);
    int32_t *copy = malloc(r->n_prompt * sizeof *copy);
    if (!j || !copy) {
        free(j);
        free(copy);
        return err_set(err, err_len, ERR_NOMEM, "out of memory");
    }
    memcpy(copy, r->prompt, r->n_prompt * sizeof *copy);
    j->req = *r;
    j->req.prompt = copy;
    j->prompt = copy;
    j->t_submit = engine__now_ms();

    pthread_mutex_lock(&e->mu);
    if (e->stopping) {
        pthread_mutex_unlock(&e->mu);
        free(copy);
        free(j);
        return err_set(err, err_len, ERR_STATE, "the engine is shutting down");
    }
    if (e->n_queued >= e->p.max_queue) {
        pthread_mutex_unlock(&e->mu);
        free(copy);
        free(j);
        return err_set(err, err_len, ERR_FULL, "the request queue is full (%d waiting)", e->p.max_queue);
    }
    j->id = e->next_id++;
    if (e->tail) e->tail->next = j;
    else e->head = j;
    e->tail = j;
    e->n_queued++;
    *id = j->id;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    return 0;
}

int engine_cancel(engine_t *e, uint64_t id) {
    int rc = ERR_NOTFOUND;
    pthread_mutex_lock(&e->mu);
    for (engine_job_t *j = e->head; j; j = j->next)
        if (j->id == id) {
            j->cancel = true;
            rc = 0;
        }
    for (int32_t i = 0; i < e->p.n_parallel && rc; i++)
        if (e->slots[i].job && e->slots[i].job->id == id) {
            e->slots[i].job->cancel = true;
            rc = 0;
        }
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    return rc;
}

void engine_stats(engine_t *e, engine_stats_t *out) {
    pthread_mutex_lock(&e->mu);
    out->queued = e->n_queued;
    out->running = e->n_running;
    out->n_completed = e->n_completed;
    pthread_mutex_unlock(&e->mu);
}
