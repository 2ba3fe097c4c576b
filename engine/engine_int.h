/*
 * engine_int.h — the engine's internals shared by its files (engine.c: the thread, admission and batching;
 * engine_emit.c: sampling a slot's next token and reporting every event). Not for use outside engine/.
 */
#ifndef CINDER_ENGINE_INT_H
#define CINDER_ENGINE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "engine.h"

#define ENGINE_BLOCK_TOKENS     16
#define ENGINE_DEFAULT_KV_BYTES (256ll << 20)
/* Logits rows per step given to prompt scoring (ENGINE_REQ_SCORE), beyond the one row per slot of generation: a
 * scored prompt is fed in chunks of at most this many tokens, each of which needs its own row of n_vocab floats
 * (64 rows of a 152k vocabulary are 39 MB, allocated at the first scoring request). */
#define ENGINE_SCORE_ROWS 64

typedef struct engine_job {
    struct engine_job *next; /* queue link */
    uint64_t id;
    engine_req_t req; /* req.prompt points into tokens */
    bool cancel;      /* set under mu */
    bool paused;      /* set under mu (engine_pause): takes no part in steps, keeps its slot and blocks */
    double t_submit;
    /* generation state: engine thread only; survives preemption */
    int32_t *tokens; /* (n_prompt + max_tokens,) prompt, then generated tokens */
    int32_t n_all;   /* tokens known */
    int32_t n_generated;
    sampler_t *smp;     /* created at first admission */
    gram_matcher_t *gm; /* the output's grammar matcher (req.grammar holds a reference), or NULL */
    tok_stream_t stream;
    double t_start, t_first;
    int32_t n_scored; /* ENGINE_REQ_SCORE: prompt tokens 1..n_scored have had their PROMPT_LP event */
    int32_t n_cached; /* prompt tokens the prefix cache served at the first admission */
    bool admitted_once;
} engine_job_t;

typedef struct {
    engine_job_t *job; /* NULL when free; written under mu */
    kv_seq_t kv;       /* its block table; kv.n_tokens = tokens fed */
    uint64_t admitted; /* admission order, to pick the newest for preemption */
} engine_slot_t;

struct engine {
    model_t *model;
    model_ctx_t *ctx;
    kv_cache_t *kv;
    engine_params_t p;
    engine_slot_t *slots;     /* n_parallel */
    model_batch_seq_t *batch; /* (n_parallel,) entries of a step */
    int32_t *batch_slot;      /* (n_parallel,) slot of each entry */
    float *logits;            /* (logit_rows, n_vocab), NULL for an embedding model */
    int32_t logit_rows;       /* n_parallel, or n_parallel + ENGINE_SCORE_ROWS once a prompt was scored */
    float *embd;              /* (n_parallel, n_embd) embeddings of a step's ENGINE_REQ_EMBED entries, or NULL */
    uint64_t n_admitted;
    uint64_t next_id;     /* under mu */
    bool *cancel;         /* (n_parallel,) engine thread scratch */
    bool *paused;         /* (n_parallel,) engine thread: the slots' pause flags for this step */
    char *text;           /* (text_cap,) the detokenized bytes of one token event */
    void *smp_scratch;    /* candidates scratch shared by every job's sampler */
    gram_vocab_t *gvocab; /* the vocabulary's token trie for grammars: built at the first request with one */
    uint32_t *mask;       /* (gram_mask_words(n_vocab),) engine thread: a grammar's allowed tokens */
    size_t text_cap;
    pthread_t thread;
    bool thread_started;

    pthread_mutex_t mu;
    pthread_mutex_t gv_mu; /* guards building gvocab */
    pthread_cond_t cv;
    uint64_t events;           /* bumped by every submit, cancel and stop: wakes an idle engine thread */
    engine_job_t *head, *tail; /* queued jobs, FIFO (preempted ones go back to the head) */
    bool stopping;
    engine_stats_t stats; /* snapshot for engine_stats */
};

static inline double engine__now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* engine_emit.c. Engine thread only. */

/* Frees a job that was never reported (or after its END event). */
void engine__free_job(engine_job_t *job);

/* Reports the END event of a job and frees it; releases its slot (if any) first. */
void engine__end(engine_t *e, engine_slot_t *s, engine_job_t *job, engine_finish_t finish, int err, const char *msg);

/* Samples the next token of a slot from its logits row and reports it; ends the job when it is over. */
void engine__emit(engine_t *e, engine_slot_t *s, const float *logits);

/* Reports an embedding request's vector (embd, n_embd wide) and ends it. */
void engine__emit_embedding(engine_t *e, engine_slot_t *s, const float *embd);

/* Reports the PROMPT_LP event of prompt token pos for a SCORE job, unless an earlier pass did. Returns false when
   the row is not finite: the job has then ended with ERR_NUMERIC. */
bool engine__score_row(engine_t *e, engine_slot_t *s, int32_t pos, const float *logits);

#endif
