/*
 * engine.h — the facade of the inference engine: one loaded model, one engine thread, many requests.
 *
 * Owns: the model, the engine thread and its forward-pass context, the paged KV cache shared by all sequences,
 * the queue of submitted requests and every running sequence's state (block table, sampler, detokenizer).
 *
 * Scheduling (continuous batching): every engine step runs ONE forward pass over a batch that holds the next
 * token of every generating sequence plus chunks of prompts still being read (chunked prefill), up to n_batch
 * tokens, so weights are read once per step for everyone and a long prompt never stalls running streams.
 * Embedding requests (ENGINE_REQ_EMBED, on a model whose hparams have a pooling type) join the same steps: each
 * input runs whole in one entry of one pass (an encoder's attention sees the whole input), its cache blocks are
 * freed at once and never enter the prefix cache, and its vector is reported before END; on an embedding model
 * n_batch is raised to the context, so that any input fits one pass.
 * Requests start first come, first served, when a slot (n_parallel) and cache blocks for their prompt are
 * free; finished ones leave at once. When the cache runs dry mid-generation the most recently started sequence
 * is preempted: its blocks are released (full ones stay in the prefix cache) and it is recomputed when it
 * returns to the head of the queue, invisibly to its client. Prompts that start with cached blocks (a shared
 * system prompt, the earlier turns of a chat) skip those blocks' prefill.
 * Does not: parse HTTP or JSON, render chat templates, or match stop strings (the api layer does, and cancels the
 * request when a stop string appears).
 *
 * Threading model. engine_create starts one engine thread that owns all compute. Any thread may call
 * engine_submit, engine_cancel and engine_stats; they only take the queue's mutex for a few instructions and
 * never wait for compute. The engine thread calls each request's on_event callback from inside its loop: the
 * callback must not block (copy what it needs, push it to a queue, wake the HTTP loop, return). Pointers inside
 * an event are valid only during the call. Every accepted request gets exactly one ENGINE_EV_END event, after
 * which the engine never touches the request's `user` pointer again — so the submitter keeps its per-request
 * state alive until it has seen ENGINE_EV_END, even after calling engine_cancel.
 *
 * Output of a request depends only on its own prompt, parameters and seed, never on what else is queued.
 */
#ifndef CINDER_ENGINE_H
#define CINDER_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "grammar/grammar.h"
#include "model.h"
#include "sampler.h"

typedef struct engine engine_t;

typedef struct {
    const char *model_path;
    int n_threads;      /* compute threads; 0 = the number of online CPUs */
    int32_t n_ctx;      /* most tokens (prompt + generated) of one sequence; 0 = the model's training context */
    int32_t n_parallel; /* sequences at once; 0 = ENGINE_GEN_PARALLEL, or ENGINE_EMBED_PARALLEL for an embedding
                           model */
    int32_t max_queue;  /* requests waiting to start before engine_submit answers ERR_FULL */
    int32_t n_batch;    /* most tokens per forward pass (decode tokens + prefill chunks); 0 = ENGINE_GEN_BATCH, or
                           ENGINE_EMBED_BATCH for an embedding model */
    int64_t kv_tokens;  /* KV cache pool size in tokens, shared by all sequences; 0 = default (see below) */
    int64_t kv_bytes;   /* alternatively its size in bytes (used when kv_tokens is 0); 0 = default */
    /* Read the weights into memory before engine_create returns (gguf_prefault), so that the first requests do
       not wait for the disk, reporting on_load(load_user, done, total) on the way (optional); false = pages are
       read when first used. */
    bool prefault;
    void (*on_load)(void *user, uint64_t done_bytes, uint64_t total_bytes);
    void *load_user;
} engine_params_t;

/*
 * Defaults: all CPUs, the model's context, 16 sequences at once, a queue of 64, batches of 512 tokens, and a KV
 * pool of 256 MiB (at least one full context, at most 16 contexts). An embedding model's inputs hold a sequence
 * only for their one pass, so it runs ENGINE_EMBED_PARALLEL of them at once in passes of up to ENGINE_EMBED_BATCH
 * tokens: a request of 64 short inputs is one pass, not four.
 */
#define ENGINE_GEN_PARALLEL   16
#define ENGINE_GEN_BATCH      512
#define ENGINE_EMBED_PARALLEL 64
#define ENGINE_EMBED_BATCH    2048
engine_params_t engine_default_params(void);

/*
 * Loads the model and starts the engine thread. Returns 0, or an error from model_load (with its one-line
 * message in err), ERR_INVAL for bad parameters, ERR_NOMEM. The caller frees *out with engine_free.
 */
int engine_create(const engine_params_t *p, engine_t **out, char *err, size_t err_len);

/*
 * Stops the engine thread: requests still queued or running end with ENGINE_FINISH_CANCELLED events (from
 * the engine thread, before this returns), then frees everything. engine_free(NULL) is a no-op.
 */
void engine_free(engine_t *e);

/* What engine_create would allocate for p on model m (after defaults): the KV pool in tokens and bytes and the
 * context per sequence in effect (a pool smaller than the context caps it). Returns 0, or ERR_INVAL when the
 * pool would be out of range. Pure: used by engine_create and by the server's startup memory check. */
int engine_plan_kv(const model_t *m, const engine_params_t *p, int64_t *kv_tokens, uint64_t *kv_bytes,
                   int32_t *n_ctx);

/* The loaded model (immutable, shareable): for tokenizing and reading metadata such as the chat template. */
const model_t *engine_model(const engine_t *e);

/* The context size per sequence in effect (engine_params_t.n_ctx after defaults). */
int32_t engine_n_ctx(const engine_t *e);

/* The compute threads in use (engine_params_t.n_threads, 0 resolved to the number of online CPUs). */
int engine_n_threads(const engine_t *e);

/* The sequences at once and the tokens per pass in effect (engine_params_t.n_parallel and n_batch after
   defaults). */
int32_t engine_n_parallel(const engine_t *e);
int32_t engine_n_batch(const engine_t *e);

/*
 * The instruction set the compute kernels run with in this process ("avx512vnni", "avx2" or "scalar"; static
 * storage), and engine_cap_isa: caps it at `name` (the same names, or "auto" for the CPU's best) for the rest of the
 * process, to serve as a CPU without AVX-512 VNNI (or AVX2) would. engine_cap_isa returns the name now in effect
 * (lower than asked when this CPU lacks it) or NULL for an unknown name; call it before any engine is created.
 */
const char *engine_isa(void);
const char *engine_cap_isa(const char *name);

typedef enum {
    ENGINE_EV_TOKEN = 1,     /* one generated token */
    ENGINE_EV_END = 2,       /* the request is over; the last event it gets */
    ENGINE_EV_EMBEDDING = 3, /* ENGINE_REQ_EMBED: the pooled, L2-normalised vector (once, before END) */
    ENGINE_EV_PROMPT_LP = 4, /* ENGINE_REQ_SCORE: one prompt token's logprob (tokens 1..n-1, in order, before END) */
} engine_ev_type_t;

/* What a request asks for. */
typedef enum {
    ENGINE_REQ_GENERATE = 0, /* read the prompt, then sample tokens (the default) */
    ENGINE_REQ_EMBED = 1,    /* embedding models (model_hparams(engine_model(e))->pooling != MODEL_POOL_NONE): one
                                prompt-only pass, pooled as the model says (mean, CLS, last) and L2-normalised;
                                no KV cache kept, no sampler; events: one EMBEDDING (n_embd floats), then END
                                (finish STOP, n_prompt set, n_generated 0) */
    ENGINE_REQ_SCORE = 2,    /* causal models: the prompt is read with logits at every position, reporting each
                                prompt token's logprob under the tokens before it (and n_top_logprobs
                                alternatives); max_tokens 0 generates nothing (the last prompt token is not even
                                fed), max_tokens > 0 then generates as GENERATE does (legacy echo + logprobs).
                                The prompt takes no prefix-cache hit (every position's logits are needed) and is
                                fed in chunks of at most 64 tokens, batched with the other requests' steps. */
} engine_req_kind_t;

typedef enum {
    ENGINE_FINISH_STOP = 1,      /* the model produced an end-of-generation token */
    ENGINE_FINISH_LENGTH = 2,    /* max_tokens reached, or the sequence's context is full */
    ENGINE_FINISH_CANCELLED = 3, /* engine_cancel, or engine shutdown */
    ENGINE_FINISH_ERROR = 4,     /* a failure inside the engine; see err / err_msg (ERR_NUMERIC: the model's
                                    logits turned NaN or inf, and a warning was logged) */
} engine_finish_t;

#define ENGINE_MAX_TOP_LOGPROBS 20

typedef struct {
    engine_ev_type_t type;
    uint64_t id; /* the id engine_submit returned */
    /* ENGINE_EV_TOKEN */
    int32_t token;
    const char *text; /* the bytes this token completes: only whole UTF-8 characters, so possibly empty, and
                         possibly including bytes held back from earlier tokens; not NUL-terminated */
    size_t text_len;
    float logprob;    /* log-probability of `token` under the model (when the request asked for logprobs) */
    int n_top;        /* entries in top_ids / top_logprobs */
    const int32_t *top_ids;
    const float *top_logprobs;
    /* ENGINE_EV_EMBEDDING */
    const float *embedding; /* (n_embedding,) unit length */
    int32_t n_embedding;
    /* ENGINE_EV_PROMPT_LP: token, logprob, n_top/top_ids/top_logprobs and text as for TOKEN (text: the token's
       piece), plus its position in the prompt */
    int32_t pos;
    /* ENGINE_EV_END */
    engine_finish_t finish;
    int32_t n_prompt;    /* prompt tokens */
    int32_t n_generated; /* tokens generated (EOG excluded) */
    int32_t n_cached;    /* prompt tokens served from the prefix cache (usage.prompt_tokens_details) */
    int err;             /* ERR_* when finish == ENGINE_FINISH_ERROR */
    const char *err_msg;
    double t_queue_ms, t_prompt_ms, t_gen_ms; /* waiting, prefill, decode */
} engine_event_t;

typedef void (*engine_event_fn)(void *user, const engine_event_t *ev);

/* Bytes engine_event_copy needs for a deep copy of ev (the struct and everything its pointers reach). */
size_t engine_event_size(const engine_event_t *ev);

/* Copies ev and what its pointers reach into buf (cap >= engine_event_size(ev) bytes, suitably aligned for
   engine_event_t), so it outlives the callback: the one place that knows an event's pointers. Returns the copy
   (inside buf), or NULL when cap is too small. */
engine_event_t *engine_event_copy(const engine_event_t *ev, void *buf, size_t cap);

typedef struct {
    engine_req_kind_t kind; /* ENGINE_REQ_GENERATE (0) unless set */
    const int32_t *prompt; /* copied by engine_submit */
    size_t n_prompt;       /* >= 1 */
    int32_t max_tokens;    /* GENERATE: >= 1; SCORE: >= 0; EMBED: 0; prompt + max_tokens must fit the context */
    sampler_params_t sampling;
    bool logprobs;          /* report each token's logprob */
    int n_top_logprobs;     /* 0..ENGINE_MAX_TOP_LOGPROBS alternatives per token */
    gram_t *grammar;        /* NULL, or the grammar the output must follow (grammar/grammar.h): every sampled token
                               keeps the output a viable prefix of it, end of generation comes only once it is
                               complete, and the request ends (ENGINE_FINISH_STOP) when nothing else may follow.
                               Borrowed for the call: the engine takes its own reference (gram_retain). */
    gram_lazy_t lazy;       /* with grammar: trigger texts / tokens after which it starts (none = from the first
                               token); the strings and ids are copied by engine_submit */
    bool render_special;    /* control tokens' texts appear in the event text (tool-call and channel markers the api
                               parses); always so with a grammar, whose vocabulary spells control tokens by their
                               text. End-of-generation tokens never appear. */
    engine_event_fn on_event;
    void *user;
} engine_req_t;

/*
 * Queues a request. Returns 0 and its id (never 0) in *id; ERR_FULL when max_queue requests are waiting;
 * ERR_CONTEXT when n_prompt + max_tokens exceeds the context or could never fit the KV pool (err says why, for an
 * embedding in OpenAI's words: "this model's maximum context length is N tokens, but the input has M tokens");
 * ERR_INVAL for bad fields (with the field named in err), a completion asked of an embedding model or an embedding
 * asked of a model without pooling (err says which); ERR_RANGE for bad sampling parameters; ERR_STATE while
 * shutting down. On error no event is ever delivered. Any thread.
 */
int engine_submit(engine_t *e, const engine_req_t *r, uint64_t *id, char *err, size_t err_len);

/*
 * Asks the engine to stop request id: a queued request ends before it starts, a running one at the next step,
 * both with ENGINE_FINISH_CANCELLED (unless it had already ended). Returns 0, or ERR_NOTFOUND when the id is not
 * queued or running. Any thread; never blocks on compute.
 */
int engine_cancel(engine_t *e, uint64_t id);

/*
 * Pauses (paused = true) or resumes request id, for backpressure: the HTTP side pauses a stream whose client
 * stopped reading. A paused request keeps its place: a running one keeps its slot and its KV cache blocks, so
 * resuming costs nothing and its output is exactly what it would have been, but it takes no part in forward
 * passes until resumed, while the others go on. When the cache runs dry a paused sequence is preempted before any
 * other. It can be cancelled as usual. Returns 0, or ERR_NOTFOUND when the id is not queued or running. Any
 * thread; never blocks on compute.
 */
int engine_pause(engine_t *e, uint64_t id, bool paused);

typedef struct {
    int32_t queued;       /* waiting to start */
    int32_t running;      /* admitted: reading the prompt or generating */
    uint64_t n_completed; /* requests ended since start */
    uint64_t n_preempted; /* times a sequence was preempted for memory */
    int32_t kv_blocks_total, kv_blocks_used, kv_blocks_cached; /* cache blocks: pool, referenced, reusable */
    int32_t kv_block_tokens;
    uint64_t prefix_hit_tokens, prefix_lookup_tokens; /* prompt tokens served from / looked up in the cache */
    uint64_t n_steps;     /* forward passes run */
} engine_stats_t;

/* A snapshot of the engine's counters. Any thread. */
void engine_stats(engine_t *e, engine_stats_t *out);

#endif
