/*
 * engine.c — the engine thread: admission, continuous batching over the paged KV cache, and the public entry
 * points. Sampling and reporting through each request's callback are in engine_emit.c (engine_int.h holds the
 * structures both read).
 *
 * Locking: `mu` guards the queue, the slots' job pointers, cancel flags and the counters that engine_stats
 * reads; compute runs without it. A job moves queued -> running (in a slot) -> ended, and may go back from
 * running to the head of the queue when preempted. Only the engine thread moves a job out of the queue, reads
 * or writes its generation state, touches the KV cache, and frees the job.
 *
 * A job's tokens[] holds its prompt followed by what it has generated; a slot feeds tokens[kv.n_tokens ..
 * n_all) into the model — the whole prompt at first (in chunks), then one token per step. Whenever a slot has
 * fed everything it knows, its last logits row yields the next token. Preemption only drops the cache, so a
 * returning job refeeds its tokens (mostly from the prefix cache) and carries on where it was.
 */
#include "engine.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_int.h"
#include "err.h"
#include "kernels/kern.h"
#include "log.h"

engine_params_t engine_default_params(void) {
    engine_params_t p = {0};
    p.n_parallel = 0; /* ENGINE_GEN_PARALLEL, or ENGINE_EMBED_PARALLEL for an embedding model */
    p.max_queue = 64;
    p.n_batch = 0; /* ENGINE_GEN_BATCH, or ENGINE_EMBED_BATCH */
    return p;
}

/* ---- admission and preemption ----------------------------------------------------------------------------- */

/* Whether j is a SCORE request with prompt tokens whose logprob is still to be reported. */
static bool engine__scoring(const engine_job_t *j) {
    return j->req.kind == ENGINE_REQ_SCORE && j->n_scored < (int32_t)j->req.n_prompt - 1;
}

/* How many of j's tokens must be fed: all it knows, except that a SCORE request that generates nothing never
 * needs its last prompt token (whose logits would only predict what comes after the prompt). */
static int32_t engine__feed_target(const engine_job_t *j) {
    return j->req.kind == ENGINE_REQ_SCORE && j->req.max_tokens == 0 ? j->n_all - 1 : j->n_all;
}

static int32_t engine__running_slots(const engine_t *e) {
    int32_t n = 0;
    for (int32_t i = 0; i < e->p.n_parallel; i++) n += e->slots[i].job != NULL;
    return n;
}

/* Takes j (whose predecessor in the queue is prev, NULL at the head) out of the queue. Called with mu held. */
static void engine__unlink(engine_t *e, engine_job_t *prev, engine_job_t *j) {
    if (prev)
        prev->next = j->next;
    else
        e->head = j->next;
    if (e->tail == j) e->tail = prev;
    j->next = NULL;
}

/*
 * Starts queued jobs in free slots, first come first served (paused ones are passed over until resumed): the head of the queue starts when the cache can
 * hold the rest of its prompt (after prefix hits) plus one block of headroom for every running sequence;
 * otherwise it waits, and so does everyone behind it. Called with mu held. Cancelled queued jobs are moved to
 * *cancelled for the caller to end outside the lock.
 */
static void engine__admit(engine_t *e, engine_job_t **cancelled) {
    for (int32_t i = 0; i < e->p.n_parallel && e->head; i++) {
        engine_slot_t *s = &e->slots[i];
        if (s->job) continue;
        /* the first job neither cancelled nor paused (a paused one waits without holding up those behind it);
           cancelled ones on the way are taken out */
        engine_job_t *prev = NULL, *j = e->head;
        while (j && (j->cancel || j->paused)) {
            engine_job_t *next = j->next;
            if (j->cancel) {
                engine__unlink(e, prev, j);
                e->stats.queued--;
                j->next = *cancelled;
                *cancelled = j;
            } else {
                prev = j;
            }
            j = next;
        }
        if (!j) break;
        /* an embedding reads its whole input in one pass (an encoder's keys depend on every position), and a
           prompt still being scored needs the logits of every position: neither takes a cached prefix */
        if (j->req.kind != ENGINE_REQ_EMBED && !engine__scoring(j) &&
            kv_seq_match_prefix(e->kv, &s->kv, j->tokens, j->n_all) != 0)
            break;
        int32_t need = kv_seq_blocks_needed(e->kv, &s->kv, j->n_all - s->kv.n_tokens) + 1;
        int32_t headroom = engine__running_slots(e);
        if (need + headroom > kv_available(e->kv) && engine__running_slots(e) > 0) {
            kv_seq_release(e->kv, &s->kv); /* undo the prefix match; wait for memory */
            break;
        }
        engine__unlink(e, prev, j);
        e->stats.queued--;
        e->stats.running++;
        s->job = j;
        s->admitted = ++e->n_admitted;
        if (!j->admitted_once) { /* a preempted job's second match is its own earlier work, not a cache hit */
            j->admitted_once = true;
            j->n_cached = s->kv.n_tokens;
        }
    }
    if (!e->head) e->tail = NULL;
}

/* Sends the most recently admitted running job other than `keep` back to the head of the queue. Returns
 * false when there is none. */
static bool engine__preempt(engine_t *e, const engine_slot_t *keep) {
    engine_slot_t *victim = NULL;
    for (int pass = 0; pass < 2 && !victim; pass++) /* a paused sequence first: its client is not reading */
        for (int32_t i = 0; i < e->p.n_parallel; i++) {
            engine_slot_t *s = &e->slots[i];
            if (s->job && s != keep && (pass || e->paused[i]) && (!victim || s->admitted > victim->admitted))
                victim = s;
        }
    if (!victim) return false;
    kv_seq_release(e->kv, &victim->kv);
    pthread_mutex_lock(&e->mu);
    engine_job_t *j = victim->job;
    victim->job = NULL;
    j->next = e->head;
    e->head = j;
    if (!e->tail) e->tail = j;
    e->stats.queued++;
    e->stats.running--;
    e->stats.n_preempted++;
    pthread_mutex_unlock(&e->mu);
    return true;
}

/* Reserves cache room for n more tokens of slot s, preempting newer sequences if needed. */
static int engine__reserve(engine_t *e, engine_slot_t *s, int32_t n) {
    for (;;) {
        int rc = kv_seq_reserve(e->kv, &s->kv, n);
        if (rc != ERR_FULL) return rc;
        if (!engine__preempt(e, s)) return ERR_FULL;
    }
}

/* ---- one step --------------------------------------------------------------------------------------------- */

static int engine__start_job(engine_t *e, engine_job_t *job) {
    if (job->req.kind == ENGINE_REQ_EMBED) { /* no sampler, nothing streamed */
        if (job->t_start <= 0) job->t_start = engine__now_ms();
        return 0;
    }
    if (job->smp) return 0; /* resumed after preemption */
    const int32_t n_vocab = model_hparams(e->model)->n_vocab;
    if (job->req.kind == ENGINE_REQ_SCORE && e->logit_rows < e->p.n_parallel + ENGINE_SCORE_ROWS) {
        float *l = realloc(e->logits, (size_t)(e->p.n_parallel + ENGINE_SCORE_ROWS) * (size_t)n_vocab * sizeof *l);
        if (!l) return ERR_NOMEM;
        e->logits = l;
        e->logit_rows = e->p.n_parallel + ENGINE_SCORE_ROWS;
    }
    char err[256] = "";
    int rc = sampler_create(&job->req.sampling, n_vocab, &job->smp, err, sizeof err);
    if (rc) return rc;
    sampler_share_scratch(job->smp, e->smp_scratch); /* one sampling call at a time: one scratch for all */
    sampler_add_prompt(job->smp, job->tokens, job->req.n_prompt);
    tok_stream_init(&job->stream);
    job->t_start = engine__now_ms();
    return 0;
}

/* The slot of the oldest running, unpaused embedding request admitted after *after (admission order), or -1;
 * advances *after past it. */
static int32_t engine__next_embed(const engine_t *e, uint64_t *after) {
    int32_t best = -1;
    for (int32_t i = 0; i < e->p.n_parallel; i++) {
        const engine_slot_t *s = &e->slots[i];
        if (!s->job || e->paused[i] || s->job->req.kind != ENGINE_REQ_EMBED || s->admitted <= *after) continue;
        if (best < 0 || s->admitted < e->slots[best].admitted) best = i;
    }
    if (best >= 0) *after = e->slots[best].admitted;
    return best;
}

/* Builds and runs one batch: every slot with one token left to feed (decoding) first, then embedding requests
 * oldest first (each whole, in one entry: an encoder attends to the whole input at once; one that does not fit
 * what is left holds back the younger ones, so a long input is never starved by short ones), then prompt chunks
 * in admission order within the n_batch budget. A prompt being scored takes a logits row for every token it
 * feeds, out of ENGINE_SCORE_ROWS per step, so its chunks are at most that long. Returns false when nothing could
 * run. */
static bool engine__step(engine_t *e) {
    const int32_t n_vocab = model_hparams(e->model)->n_vocab, n_embd = model_hparams(e->model)->n_embd;
    int32_t budget = e->p.n_batch, n_entries = 0, n_rows = 0, score_budget = ENGINE_SCORE_ROWS;

    for (int pass = 0; pass < 3; pass++) {
        uint64_t after = 0; /* pass 1: the admission number of the last embedding placed */
        for (int32_t k = 0; k < e->p.n_parallel && budget > 0; k++) {
            int32_t i = pass == 1 ? engine__next_embed(e, &after) : k;
            if (i < 0) break;
            engine_slot_t *s = &e->slots[i];
            engine_job_t *job = s->job;
            if (!job || e->paused[i]) continue;
            const bool embed = job->req.kind == ENGINE_REQ_EMBED;
            int32_t remaining = engine__feed_target(job) - s->kv.n_tokens;
            if (remaining < 1 || pass != (embed ? 1 : remaining == 1 ? 0 : 2)) continue;
            if (embed) { /* all of it now, or wait for a step with room */
                if (remaining > budget) break; /* younger ones do not overtake it: it goes first next step */
                int rc = kv_seq_reserve(e->kv, &s->kv, remaining);
                if (rc == ERR_FULL) break; /* the oldest waits for blocks; the younger ones wait behind it */
                if (rc) {
                    engine__end(e, s, job, ENGINE_FINISH_ERROR, rc, "cannot allocate cache blocks");
                    continue;
                }
                model_batch_seq_t *bs = &e->batch[n_entries];
                *bs = (model_batch_seq_t){.kv = &s->kv, .tokens = job->tokens, .n = remaining,
                                          .embd = e->embd + (size_t)n_entries * n_embd};
                e->batch_slot[n_entries++] = i;
                budget -= remaining;
                continue;
            }
            const bool scoring = engine__scoring(job);
            int32_t chunk = remaining < budget ? remaining : budget;
            if (scoring && chunk > score_budget) chunk = score_budget;
            if (chunk < 1) continue;
            /* a decode may preempt newer sequences; a prompt takes what fits now and the rest later */
            int rc = pass == 0 ? engine__reserve(e, s, chunk) : kv_seq_reserve(e->kv, &s->kv, chunk);
            while (rc == ERR_FULL && pass == 2 && chunk > 1) {
                chunk /= 2;
                rc = kv_seq_reserve(e->kv, &s->kv, chunk);
            }
            if (rc == ERR_FULL) continue; /* waits for blocks to come back */
            if (rc) {
                engine__end(e, s, job, ENGINE_FINISH_ERROR, rc, "cannot allocate cache blocks");
                continue;
            }
            model_batch_seq_t *bs = &e->batch[n_entries];
            bs->kv = &s->kv;
            bs->tokens = job->tokens + s->kv.n_tokens;
            bs->n = chunk;
            bs->n_logits = scoring ? chunk : chunk == remaining ? 1 : 0;
            bs->embd = NULL;
            if (scoring) score_budget -= chunk;
            e->batch_slot[n_entries++] = i;
            n_rows += bs->n_logits;
            budget -= chunk;
        }
    }
    /* preemption during the second pass may have emptied slots already placed in the batch */
    int32_t kept = 0;
    for (int32_t k = 0; k < n_entries; k++) {
        if (!e->slots[e->batch_slot[k]].job) {
            n_rows -= e->batch[k].n_logits;
            continue;
        }
        e->batch[kept] = e->batch[k];
        if (e->batch[kept].embd) e->batch[kept].embd = e->embd + (size_t)kept * n_embd;
        e->batch_slot[kept++] = e->batch_slot[k];
    }
    n_entries = kept;
    if (n_entries == 0) {
        /* every running prompt is waiting for blocks held by the others: let the oldest go on alone */
        engine_slot_t *oldest = NULL;
        for (int32_t i = 0; i < e->p.n_parallel; i++)
            if (e->slots[i].job && !e->paused[i] && (!oldest || e->slots[i].admitted < oldest->admitted))
                oldest = &e->slots[i];
        return oldest && engine__preempt(e, oldest); /* only paused ones (or none): wait for an event */
    }

    int rc = model_forward_batch(e->ctx, e->kv, e->batch, n_entries, n_rows ? e->logits : NULL);
    pthread_mutex_lock(&e->mu); /* counted before its events go out: a client that saw them sees the step */
    e->stats.n_steps++;
    pthread_mutex_unlock(&e->mu);
    int32_t row = 0;
    for (int32_t k = 0; k < n_entries; k++) {
        engine_slot_t *s = &e->slots[e->batch_slot[k]];
        if (rc) {
            engine__end(e, s, s->job, ENGINE_FINISH_ERROR, rc, "forward pass failed");
            continue;
        }
        if (e->batch[k].embd) {
            engine__emit_embedding(e, s, e->batch[k].embd);
            continue;
        }
        const int32_t n = e->batch[k].n, n_logits = e->batch[k].n_logits, pos0 = s->kv.n_tokens;
        kv_seq_commit(e->kv, &s->kv, s->job->tokens, n);
        engine_job_t *job = s->job;
        /* rows are positions [pos0 + n - n_logits, pos0 + n): inside a scored prompt each predicts the next
           prompt token; the row of the last token known predicts what to generate */
        for (int32_t r = 0; r < n_logits && s->job == job; r++) {
            const int32_t p = pos0 + n - n_logits + r;
            const float *lg = e->logits + (size_t)(row + r) * n_vocab;
            if (job->req.kind == ENGINE_REQ_SCORE && p < (int32_t)job->req.n_prompt - 1)
                engine__score_row(e, s, p + 1, lg);
            else if (p == job->n_all - 1)
                engine__emit(e, s, lg);
        }
        row += n_logits;
        if (s->job == job && job->req.kind == ENGINE_REQ_SCORE && job->req.max_tokens == 0 && !engine__scoring(job))
            engine__end(e, s, job, ENGINE_FINISH_LENGTH, 0, NULL); /* every prompt token scored: nothing to generate */
    }
    return true;
}

static void engine__publish_kv(engine_t *e) {
    kv_stats_t ks;
    kv_stats(e->kv, &ks);
    pthread_mutex_lock(&e->mu);
    e->stats.kv_blocks_total = ks.n_blocks;
    e->stats.kv_blocks_used = ks.used;
    e->stats.kv_blocks_cached = ks.cached;
    e->stats.prefix_hit_tokens = ks.hit_tokens;
    e->stats.prefix_lookup_tokens = ks.lookup_tokens;
    pthread_mutex_unlock(&e->mu);
}

static void *engine__thread(void *arg) {
    engine_t *e = arg;
    const int32_t n = e->p.n_parallel;
    bool *cancel = e->cancel;
    bool idle_wait = false;
    uint64_t seen = 0; /* e->events when this iteration took its snapshot */
    for (;;) {
        engine_job_t *cancelled = NULL;
        pthread_mutex_lock(&e->mu);
        /* sleep while there is nothing at all, or while nothing could run and nobody submitted or cancelled
         * anything since we looked (a signal sent while we were computing is not lost: events moved on) */
        while (!e->stopping &&
               ((!e->head && engine__running_slots(e) == 0) || (idle_wait && e->events == seen)))
            pthread_cond_wait(&e->cv, &e->mu);
        idle_wait = false;
        seen = e->events;
        bool stopping = e->stopping;
        if (stopping) { /* everything queued is cancelled */
            cancelled = e->head;
            e->head = e->tail = NULL;
            e->stats.queued = 0;
        } else {
            engine__admit(e, &cancelled);
        }
        for (int32_t i = 0; i < n; i++) {
            cancel[i] = e->slots[i].job && (stopping || e->slots[i].job->cancel);
            e->paused[i] = e->slots[i].job && e->slots[i].job->paused;
        }
        pthread_mutex_unlock(&e->mu);

        bool freed = false; /* a slot or cache blocks came free: queued jobs may start without a new signal */
        while (cancelled) {
            engine_job_t *j = cancelled;
            cancelled = j->next;
            engine__end(e, NULL, j, ENGINE_FINISH_CANCELLED, 0, NULL);
        }
        for (int32_t i = 0; i < n; i++) {
            engine_slot_t *s = &e->slots[i];
            if (!s->job) continue;
            if (cancel[i]) {
                engine__end(e, s, s->job, ENGINE_FINISH_CANCELLED, 0, NULL);
                freed = true;
                continue;
            }
            int rc = engine__start_job(e, s->job);
            if (rc) {
                engine__end(e, s, s->job, ENGINE_FINISH_ERROR, rc, "cannot start the request");
                freed = true;
            } else if (engine__feed_target(s->job) <= s->kv.n_tokens) { /* a one-token prompt scored, nothing more */
                engine__end(e, s, s->job, ENGINE_FINISH_LENGTH, 0, NULL);
                freed = true;
            }
        }
        if (stopping && engine__running_slots(e) == 0) break;
        /* nothing runnable: sleep until something changes (a slot freed just now is such a change) */
        if (!stopping) idle_wait = !engine__step(e) && !freed;
        engine__publish_kv(e);
    }
    return NULL;
}

/* ---- public API ------------------------------------------------------------------------------------------- */

int engine_plan_kv(const model_t *m, const engine_params_t *p, int64_t *kv_tokens, uint64_t *kv_bytes,
                   int32_t *n_ctx) {
    const model_hparams_t *hp = model_hparams(m);
    int32_t ctx = p->n_ctx == 0 || p->n_ctx > hp->n_ctx_train ? hp->n_ctx_train : p->n_ctx;
    /* asked for in tokens or bytes, else 256 MiB; at least one context, at most 16 by default */
    kv_params_t kp = model_kv_params(m, ENGINE_BLOCK_TOKENS, 1);
    int64_t per_token = (int64_t)kv_block_bytes(&kp) / ENGINE_BLOCK_TOKENS;
    int64_t tokens = p->kv_tokens;
    if (tokens == 0 && p->kv_bytes > 0) tokens = p->kv_bytes / per_token;
    if (tokens == 0) {
        tokens = ENGINE_DEFAULT_KV_BYTES / per_token;
        if (tokens > 16ll * ctx) tokens = 16ll * ctx;
        if (tokens < ctx) tokens = ctx;
    }
    if (tokens < ENGINE_BLOCK_TOKENS || tokens / ENGINE_BLOCK_TOKENS > INT32_MAX / 2) return ERR_INVAL;
    int64_t blocks = (tokens + ENGINE_BLOCK_TOKENS - 1) / ENGINE_BLOCK_TOKENS;
    *kv_tokens = blocks * ENGINE_BLOCK_TOKENS;
    *kv_bytes = (uint64_t)blocks * kv_block_bytes(&kp);
    *n_ctx = *kv_tokens < ctx ? (int32_t)*kv_tokens : ctx;
    return 0;
}

int engine_create(const engine_params_t *p, engine_t **out, char *err, size_t err_len) {
    *out = NULL;
    if (!p->model_path) return err_set(err, err_len, ERR_INVAL, "no model path given");
    if (p->n_parallel < 0 || p->n_parallel > 1024 || p->max_queue < 0 || p->n_batch < 0 || p->n_ctx < 0 ||
        p->n_threads < 0 || p->kv_tokens < 0 || p->kv_bytes < 0)
        return err_set(err, err_len, ERR_INVAL, "engine parameters out of range");
    engine_t *e = calloc(1, sizeof *e);
    if (!e) return err_set(err, err_len, ERR_NOMEM, "out of memory");
    e->p = *p;
    pthread_mutex_init(&e->mu, NULL);
    pthread_mutex_init(&e->gv_mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    int rc = model_load(p->model_path, &e->model, err, err_len);
    if (rc) goto fail;
    if (p->prefault) model_prefault(e->model, p->on_load, p->load_user);
    const model_hparams_t *hp = model_hparams(e->model);
    const bool embeds = hp->pooling != MODEL_POOL_NONE;
    if (e->p.n_parallel == 0) e->p.n_parallel = embeds ? ENGINE_EMBED_PARALLEL : ENGINE_GEN_PARALLEL;
    if (e->p.n_batch == 0) e->p.n_batch = embeds ? ENGINE_EMBED_BATCH : ENGINE_GEN_BATCH;
    if (e->p.n_batch < e->p.n_parallel) e->p.n_batch = e->p.n_parallel; /* one decode token each fits */
    int64_t tokens = 0;
    uint64_t pool_bytes = 0;
    if ((rc = engine_plan_kv(e->model, &e->p, &tokens, &pool_bytes, &e->p.n_ctx))) {
        err_set(err, err_len, rc, "KV cache parameters are out of range (kv_tokens %lld, kv_bytes %lld)",
                (long long)e->p.kv_tokens, (long long)e->p.kv_bytes);
        goto fail;
    }
    kv_params_t kp = model_kv_params(e->model, ENGINE_BLOCK_TOKENS, (int32_t)(tokens / ENGINE_BLOCK_TOKENS));
    rc = kv_create(&kp, &e->kv);
    if (rc) {
        err_set(err, err_len, rc, "cannot allocate a KV cache of %lld MiB",
                (long long)((int64_t)kp.n_blocks * (int64_t)kv_block_bytes(&kp) >> 20));
        goto fail;
    }
    if (e->p.n_batch > e->p.n_ctx * e->p.n_parallel) e->p.n_batch = e->p.n_ctx * e->p.n_parallel;
    if (embeds && e->p.n_batch < e->p.n_ctx) e->p.n_batch = e->p.n_ctx; /* an input of a full context: one pass */
    rc = model_ctx_create(e->model, p->n_threads, e->p.n_batch, e->p.n_ctx, &e->ctx);
    if (rc) {
        err_set(err, err_len, rc, "cannot allocate the compute context: %s", err_str(rc));
        goto fail;
    }
    e->slots = calloc((size_t)e->p.n_parallel, sizeof *e->slots);
    e->batch = calloc((size_t)e->p.n_parallel, sizeof *e->batch);
    e->batch_slot = calloc((size_t)e->p.n_parallel, sizeof *e->batch_slot);
    e->logits = embeds ? NULL : malloc((size_t)e->p.n_parallel * (size_t)hp->n_vocab * sizeof(float));
    e->logit_rows = embeds ? 0 : e->p.n_parallel;
    e->embd = embeds ? malloc((size_t)e->p.n_parallel * (size_t)hp->n_embd * sizeof(float)) : NULL;
    e->cancel = calloc((size_t)e->p.n_parallel, sizeof *e->cancel);
    e->paused = calloc((size_t)e->p.n_parallel, sizeof *e->paused);
    e->text_cap = tok_stream_cap(model_tok(e->model));
    e->text = malloc(e->text_cap);
    e->smp_scratch = malloc(sampler_scratch_bytes(hp->n_vocab));
    e->mask = malloc(gram_mask_words(hp->n_vocab) * sizeof *e->mask);
    if (!e->smp_scratch || !e->mask || !e->slots || !e->batch || !e->batch_slot || (!e->logits && !e->embd) ||
        !e->cancel || !e->paused || !e->text) {
        rc = err_set(err, err_len, ERR_NOMEM, "out of memory");
        goto fail;
    }
    e->stats.kv_block_tokens = ENGINE_BLOCK_TOKENS;
    e->stats.kv_blocks_total = kp.n_blocks;
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
    free(e->slots);
    free(e->batch);
    free(e->batch_slot);
    free(e->logits);
    free(e->embd);
    free(e->cancel);
    free(e->paused);
    free(e->text);
    free(e->smp_scratch);
    free(e->mask);
    gram_vocab_free(e->gvocab);
    kv_free(e->kv);
    model_ctx_free(e->ctx);
    model_free(e->model);
    pthread_mutex_destroy(&e->mu);
    pthread_mutex_destroy(&e->gv_mu);
    pthread_cond_destroy(&e->cv);
    free(e);
}

const model_t *engine_model(const engine_t *e) { return e->model; }
int32_t engine_n_ctx(const engine_t *e) { return e->p.n_ctx; }

int engine_n_threads(const engine_t *e) { return model_ctx_n_threads(e->ctx); }

int32_t engine_n_parallel(const engine_t *e) { return e->p.n_parallel; }

int32_t engine_n_batch(const engine_t *e) { return e->p.n_batch; }

const char *engine_isa(void) { return kern_isa_name(); }

const char *engine_cap_isa(const char *name) { return kern_cap_isa(name); }

/* The token trie grammars are matched against, built at the first request that has a grammar (tens of ms for a
 * 150k vocabulary) and kept for the engine's life. Callers of engine_submit may be on any thread: under gv_mu. */
static int engine__grammar_vocab(engine_t *e, char *err, size_t err_len) {
    int rc = 0;
    pthread_mutex_lock(&e->gv_mu);
    if (!e->gvocab) rc = gram_vocab_create(model_tok(e->model), &e->gvocab, err, err_len);
    pthread_mutex_unlock(&e->gv_mu);
    return rc;
}

static int engine__enqueue(engine_t *e, engine_job_t *j, uint64_t *id, char *err, size_t err_len);

/* engine_submit for ENGINE_REQ_EMBED: an embedding model, an input that fits the context, no sampling. */
static int engine__submit_embed(engine_t *e, const engine_req_t *r, uint64_t *id, char *err, size_t err_len) {
    const model_hparams_t *hp = model_hparams(e->model);
    if (hp->pooling == MODEL_POOL_NONE)
        return err_set(err, err_len, ERR_INVAL,
                       "this model makes no embeddings (its file sets no pooling type): it is a %s completion model",
                       hp->arch);
    if (r->max_tokens != 0) return err_set(err, err_len, ERR_INVAL, "max_tokens must be 0 for an embedding request");
    for (size_t i = 0; i < r->n_prompt; i++)
        if (r->prompt[i] < 0 || r->prompt[i] >= hp->n_vocab)
            return err_set(err, err_len, ERR_INVAL, "input token %d is out of the vocabulary", r->prompt[i]);
    if ((int64_t)r->n_prompt > e->p.n_ctx)
        return err_set(err, err_len, ERR_CONTEXT,
                       "this model's maximum context length is %d tokens, but the input has %zu tokens",
                       e->p.n_ctx, r->n_prompt);
    engine_job_t *j = calloc(1, sizeof *j);
    int32_t *tokens = malloc(r->n_prompt * sizeof *tokens);
    if (!j || !tokens) {
        free(j);
        free(tokens);
        return err_set(err, err_len, ERR_NOMEM, "out of memory");
    }
    memcpy(tokens, r->prompt, r->n_prompt * sizeof *tokens);
    j->req = *r;
    j->req.prompt = tokens;
    j->req.grammar = NULL; /* nothing is generated: sampling, logprobs and grammars do not apply */
    j->req.lazy = (gram_lazy_t){0};
    j->req.logprobs = false;
    j->tokens = tokens;
    j->n_all = (int32_t)r->n_prompt;
    return engine__enqueue(e, j, id, err, err_len);
}

int engine_submit(engine_t *e, const engine_req_t *r, uint64_t *id, char *err, size_t err_len) {
    const model_hparams_t *hp = model_hparams(e->model);
    if (!r->on_event) return err_set(err, err_len, ERR_INVAL, "on_event is required");
    if (!r->prompt || r->n_prompt == 0) return err_set(err, err_len, ERR_INVAL, "the prompt is empty");
    if (r->kind == ENGINE_REQ_EMBED) return engine__submit_embed(e, r, id, err, err_len);
    if (r->kind != ENGINE_REQ_GENERATE && r->kind != ENGINE_REQ_SCORE)
        return err_set(err, err_len, ERR_UNSUPPORTED, "request kind %d is not supported", (int)r->kind);
    if (hp->pooling != MODEL_POOL_NONE)
        return err_set(err, err_len, ERR_INVAL,
                       "this is an embedding model (%s pooling): it makes embeddings, not completions",
                       model_pool_name(hp->pooling));
    if (r->max_tokens < (r->kind == ENGINE_REQ_SCORE ? 0 : 1))
        return err_set(err, err_len, ERR_INVAL, "max_tokens must be at least %d", r->kind == ENGINE_REQ_SCORE ? 0 : 1);
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
    int32_t *tokens = malloc(((size_t)r->n_prompt + (size_t)r->max_tokens) * sizeof *tokens);
    if (!j || !tokens) {
        free(j);
        free(tokens);
        return err_set(err, err_len, ERR_NOMEM, "out of memory");
    }
    memcpy(tokens, r->prompt, r->n_prompt * sizeof *tokens);
    j->req = *r;
    j->req.prompt = tokens;
    j->req.grammar = NULL;
    j->req.lazy = (gram_lazy_t){0}; /* the matcher keeps its own copy */
    if (r->grammar) {
        if ((rc = engine__grammar_vocab(e, err, err_len)) ||
            (rc = gram_matcher_create(r->grammar, e->gvocab,
                                      r->lazy.n_texts || r->lazy.n_tokens ? &r->lazy : NULL, &j->gm, err,
                                      err_len))) {
            free(j);
            free(tokens);
            return rc;
        }
        j->req.grammar = gram_retain(r->grammar);
    }
    j->tokens = tokens;
    j->n_all = (int32_t)r->n_prompt;
    return engine__enqueue(e, j, id, err, err_len);
}

/* Queues a job built by engine_submit (ownership passes to the engine, or the job is freed on error). */
static int engine__enqueue(engine_t *e, engine_job_t *j, uint64_t *id, char *err, size_t err_len) {
    j->t_submit = engine__now_ms();
    pthread_mutex_lock(&e->mu);
    if (e->stopping) {
        pthread_mutex_unlock(&e->mu);
        engine__free_job(j);
        return err_set(err, err_len, ERR_STATE, "the engine is shutting down");
    }
    if (e->stats.queued >= e->p.max_queue) {
        pthread_mutex_unlock(&e->mu);
        engine__free_job(j);
        return err_set(err, err_len, ERR_FULL, "the request queue is full (%d waiting)", e->p.max_queue);
    }
    j->id = ++e->next_id;
    *id = j->id;
    if (e->tail) e->tail->next = j;
    else e->head = j;
    e->tail = j;
    e->stats.queued++;
    e->events++;
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
    e->events++;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    return rc;
}

int engine_pause(engine_t *e, uint64_t id, bool paused) {
    int rc = ERR_NOTFOUND;
    pthread_mutex_lock(&e->mu);
    for (engine_job_t *j = e->head; j && rc; j = j->next)
        if (j->id == id) {
            j->paused = paused;
            rc = 0;
        }
    for (int32_t i = 0; i < e->p.n_parallel && rc; i++)
        if (e->slots[i].job && e->slots[i].job->id == id) {
            e->slots[i].job->paused = paused;
            rc = 0;
        }
    e->events++;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    return rc;
}

void engine_stats(engine_t *e, engine_stats_t *out) {
    pthread_mutex_lock(&e->mu);
    *out = e->stats;
    pthread_mutex_unlock(&e->mu);
}
