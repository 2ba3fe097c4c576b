/*
 * engine_emit.c — what the engine thread reports: a slot's next token (sampled from its logits row, under its
 * grammar when it has one), an embedding, a scored prompt token, and the END event that frees a job. Engine
 * thread only; the event structures are copied by the callee (engine_event_copy) if it keeps them.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "err.h"
#include "kernels/kern.h"
#include "log.h"

void engine__free_job(engine_job_t *job) {
    sampler_free(job->smp);
    gram_matcher_free(job->gm);
    gram_free(job->req.grammar);
    free(job->tokens);
    free(job);
}

/* Reports the END event of a job and frees it; releases its slot (if any) first. */
void engine__end(engine_t *e, engine_slot_t *s, engine_job_t *job, engine_finish_t finish, int err, const char *msg) {
    if (s) kv_seq_release(e->kv, &s->kv);
    pthread_mutex_lock(&e->mu); /* engine_cancel reads slot jobs under mu: detach before freeing */
    if (s) {
        s->job = NULL;
        e->stats.running--;
    }
    e->stats.n_completed++;
    pthread_mutex_unlock(&e->mu);

    engine_event_t ev = {.type = ENGINE_EV_END, .id = job->id, .finish = finish, .err = err, .err_msg = msg};
    char tail[64];
    size_t n_tail = 0;
    if (job->smp && tok_stream_flush(&job->stream, tail, sizeof tail, &n_tail) == 0) {
        ev.text = tail;
        ev.text_len = n_tail;
    }
    double now = engine__now_ms();
    ev.n_prompt = (int32_t)job->req.n_prompt;
    ev.n_generated = job->n_generated;
    ev.n_cached = job->n_cached;
    double start = job->t_start > 0 ? job->t_start : now;
    ev.t_queue_ms = start - job->t_submit;
    ev.t_prompt_ms = (job->t_first > 0 ? job->t_first : now) - start;
    ev.t_gen_ms = job->t_first > 0 ? now - job->t_first : 0;
    job->req.on_event(job->req.user, &ev);
    engine__free_job(job);
}

/* Redraws from the unconstrained candidates before a grammar's mask is computed (sampler_redraw): each costs a scan of
   the candidates, as the cached mask and one masked redraw together cost about two, so only a couple pay. */
#define ENGINE_GRAMMAR_REDRAWS 2

/* Samples the next token of a slot from its logits row and reports it; ends the job when it is over. A row
 * with a NaN or an infinity (the forward pass overflowed: the weights are finite, the loader checked) ends the
 * job with ERR_NUMERIC and a warning in the log, rather than sampling noise or an empty answer. */
void engine__emit(engine_t *e, engine_slot_t *s, const float *logits) {
    engine_job_t *job = s->job;
    const tok_t *tok = model_tok(e->model);
    int32_t n_vocab = model_hparams(e->model)->n_vocab;
    const int64_t bad = kern_first_nonfinite(logits, n_vocab);
    if (bad >= 0) {
        const log_kv_t kv[] = {LOG_I("request", (long long)job->id), LOG_I("position", job->n_all), LOG_I("token", bad),
                               LOG_S("value", isnan(logits[bad]) ? "NaN" : "inf")};
        log_kv(LOG_WARN, "non-finite logits", kv, sizeof kv / sizeof kv[0]);
        engine__end(e, s, job, ENGINE_FINISH_ERROR, ERR_NUMERIC,
                    "the model computed non-finite logits: its weights overflow on this input");
        return;
    }
    int32_t id;
    if (!job->gm) {
        id = sampler_sample(job->smp, logits);
    } else if (!gram_matcher_broad(job->gm)) {
        /* at a document's structure: the mask first. It costs microseconds once the grammar's per-position cache
           has seen the position, the draw then weighs only the few allowed tokens, and it is exact under truncation
           (the mask comes before top_k/top_p/min_p). The choice depends on the parse only, never on what the shared
           cache holds, so a seed gives the same tokens every time. */
        if (gram_matcher_fill_mask(job->gm, e->mask) != 0) {
            engine__end(e, s, job, ENGINE_FINISH_ERROR, ERR_NOMEM, "out of memory in the output's grammar");
            return;
        }
        id = sampler_sample_masked(job->smp, logits, e->mask);
    } else { /* free text (a string's characters, a lazy grammar waiting for its trigger): nearly every token is
                allowed, so the unconstrained draw usually stands and no mask is computed; else the masked draw */
        id = sampler_propose(job->smp, logits);
        for (int k = 0; k < ENGINE_GRAMMAR_REDRAWS && !gram_matcher_allows(job->gm, id); k++) {
            int32_t again = sampler_redraw(job->smp); /* the same candidates: cheaper than a mask */
            if (again < 0) break;
            id = again;
        }
        if (gram_matcher_allows(job->gm, id)) {
            sampler_accept(job->smp, id);
        } else {
            if (gram_matcher_fill_mask(job->gm, e->mask) != 0) {
                engine__end(e, s, job, ENGINE_FINISH_ERROR, ERR_NOMEM, "out of memory in the output's grammar");
                return;
            }
            id = sampler_redraw_masked(job->smp, e->mask); /* the proposal's candidates the grammar allows */
            if (id >= 0)
                sampler_accept(job->smp, id);
            else /* greedy, or the truncation kept no allowed token: mask first, then truncate */
                id = sampler_sample_masked(job->smp, logits, e->mask);
        }
    }
    if (id < 0) { /* an empty mask: the grammar has no continuation (its fill never says so but on failure) */
        engine__end(e, s, job, ENGINE_FINISH_ERROR, ERR_STATE, "the output's grammar allows no next token");
        return;
    }
    if (job->t_first <= 0) job->t_first = engine__now_ms();
    if (tok_is_eog(tok, id)) {
        engine__end(e, s, job, ENGINE_FINISH_STOP, 0, NULL);
        return;
    }
    if (job->gm && gram_matcher_accept(job->gm, id) != 0) { /* only at the grammar's run-time caps */
        engine__end(e, s, job, ENGINE_FINISH_ERROR, ERR_LIMIT, "the output outgrew its grammar's nesting limits");
        return;
    }
    job->n_generated++;
    job->tokens[job->n_all++] = id;
    size_t n_text = 0;
    if ((job->req.render_special || job->gm) && tok_is_control(tok, id)) { /* markers the api parses */
        char sp[256];
        size_t n_sp = 0;
        if (tok_piece(tok, id, true, sp, sizeof sp, &n_sp) != 0) n_sp = 0; /* longer markers are not rendered */
        if (tok_stream_push_bytes(&job->stream, sp, n_sp, e->text, e->text_cap, &n_text) != 0) n_text = 0;
    } else if (tok_stream_push(&job->stream, tok, id, e->text, e->text_cap, &n_text) != 0) {
        n_text = 0;
    }
    engine_event_t ev = {.type = ENGINE_EV_TOKEN, .id = job->id, .token = id, .text = e->text, .text_len = n_text};
    int32_t top_ids[ENGINE_MAX_TOP_LOGPROBS];
    float top_lp[ENGINE_MAX_TOP_LOGPROBS];
    if (job->req.logprobs &&
        sampler_logprobs(logits, n_vocab, id, job->req.n_top_logprobs, &ev.logprob, top_ids, top_lp) == 0) {
        ev.n_top = job->req.n_top_logprobs;
        ev.top_ids = top_ids;
        ev.top_logprobs = top_lp;
    }
    job->req.on_event(job->req.user, &ev);
    if (job->gm && gram_matcher_done(job->gm)) /* a complete document that nothing may extend */
        engine__end(e, s, job, ENGINE_FINISH_STOP, 0, NULL);
    else if (job->n_generated >= job->req.max_tokens || job->n_all >= e->p.n_ctx)
        engine__end(e, s, job, ENGINE_FINISH_LENGTH, 0, NULL);
}

/* Reports an embedding request's vector (embd, n_embd wide) and ends it. Its cache blocks were never committed to
 * the prefix index, so releasing them frees them. */
void engine__emit_embedding(engine_t *e, engine_slot_t *s, const float *embd) {
    engine_job_t *job = s->job;
    const int32_t d = model_hparams(e->model)->n_embd;
    job->t_first = engine__now_ms();
    if (kern_first_nonfinite(embd, d) >= 0) {
        engine__end(e, s, job, ENGINE_FINISH_ERROR, ERR_NUMERIC,
                    "the model computed a non-finite embedding: its weights overflow on this input");
        return;
    }
    engine_event_t ev = {.type = ENGINE_EV_EMBEDDING, .id = job->id, .embedding = embd, .n_embedding = d};
    job->req.on_event(job->req.user, &ev);
    engine__end(e, s, job, ENGINE_FINISH_STOP, 0, NULL);
}

/* Reports the PROMPT_LP event of prompt token pos (its logprob under the logits row of position pos - 1) for a
 * SCORE job, unless an earlier pass (before a preemption) did. Returns false when the row is not finite: the
 * job has then ended with ERR_NUMERIC. */
bool engine__score_row(engine_t *e, engine_slot_t *s, int32_t pos, const float *logits) {
    engine_job_t *job = s->job;
    const int32_t n_vocab = model_hparams(e->model)->n_vocab;
    if (pos <= job->n_scored) return true;
    const int64_t bad = kern_first_nonfinite(logits, n_vocab);
    if (bad >= 0) {
        const log_kv_t kv[] = {LOG_I("request", (long long)job->id), LOG_I("position", pos - 1), LOG_I("token", bad),
                               LOG_S("value", isnan(logits[bad]) ? "NaN" : "inf")};
        log_kv(LOG_WARN, "non-finite logits", kv, sizeof kv / sizeof kv[0]);
        engine__end(e, s, job, ENGINE_FINISH_ERROR, ERR_NUMERIC,
                    "the model computed non-finite logits: its weights overflow on this input");
        return false;
    }
    const int32_t id = job->tokens[pos];
    int32_t top_ids[ENGINE_MAX_TOP_LOGPROBS];
    float top_lp[ENGINE_MAX_TOP_LOGPROBS];
    engine_event_t ev = {.type = ENGINE_EV_PROMPT_LP, .id = job->id, .token = id, .pos = pos, .text = e->text};
    if (sampler_logprobs(logits, n_vocab, id, job->req.n_top_logprobs, &ev.logprob, top_ids, top_lp) == 0) {
        ev.n_top = job->req.n_top_logprobs;
        ev.top_ids = top_ids;
        ev.top_logprobs = top_lp;
    }
    if (tok_piece(model_tok(e->model), id, false, e->text, e->text_cap, &ev.text_len) != 0) ev.text_len = 0;
    job->n_scored = pos;
    job->req.on_event(job->req.user, &ev);
    return true;
}
