/*
 * model.h — a transformer loaded from GGUF (any architecture of arch.h: decoders, and the encoders of embedding
 * models), and its forward pass.
 *
 * Owns: the GGUF mapping the weights live in (weights are used in place, never converted whole), the
 * hyperparameters read from `<arch>.*` metadata, the tokenizer, and the tensor table of every layer.
 * Does not: sample (sampler.h), schedule requests, or own any per-sequence state: keys and values live in a
 * paged cache (kvcache.h) that the caller owns, and scratch memory for a forward pass lives in a model_ctx_t.
 *
 * Two ways in: model_forward_batch runs any mix of sequences (a decode token of some, prompt chunks of others)
 * through one pass, so every weight matrix is read once per step for all of them; model_forward is the
 * one-sequence convenience over a private cache (model_seq_t) for the command line.
 *
 * The shape every architecture shares: token embedding; per layer RMSNorm -> grouped-query attention with rotary
 * embeddings -> residual, RMSNorm -> gated FFN (dense, or a mixture of experts) -> residual; final RMSNorm; output
 * matrix (or the embedding matrix when tied). The architecture's descriptor (arch.h) switches the optional steps
 * on: biases, q/k norms, post norms, soft-caps, sliding-window layers, fused matrices, experts. Encoders (BERT)
 * take the same pass with their switches: absolute position embeddings, LayerNorm after each residual add,
 * bidirectional attention, a plain GELU FFN, and pooled hidden states instead of logits.
 *
 * Threads: a loaded model_t is immutable and may be shared by any number of threads. A model_ctx_t belongs to
 * one thread at a time (it drives the kernel thread pool). A model_seq_t is used by one forward pass at a time.
 */
#ifndef CINDER_MODEL_H
#define CINDER_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf.h"
#include "kvcache.h"
#include "tokenizer/tokenizer.h"

typedef struct model model_t;
typedef struct model_ctx model_ctx_t;
typedef struct model_seq model_seq_t;

/* How the rotary frequencies are stretched for contexts beyond training (<arch>.rope.scaling.type). */
typedef enum { MODEL_ROPE_SCALING_NONE, MODEL_ROPE_SCALING_LINEAR, MODEL_ROPE_SCALING_YARN,
               MODEL_ROPE_SCALING_LONGROPE } model_rope_scaling_t;

/* How an embedding model turns its hidden states into one vector (<arch>.pooling_type, llama.cpp's values). */
typedef enum {
    MODEL_POOL_NONE = 0, /* a generative model: no embeddings */
    MODEL_POOL_MEAN = 1, /* the mean of every token's hidden state */
    MODEL_POOL_CLS = 2,  /* the first token's ([CLS]) */
    MODEL_POOL_LAST = 3, /* the last token's (decoder embedding models, Qwen3-Embedding) */
} model_pool_t;

/* "none", "mean", "cls" or "last" (static storage). */
const char *model_pool_name(model_pool_t p);

typedef struct {
    const char *arch;      /* general.architecture (static storage, from the architecture table) */
    uint32_t features;     /* ARCH_F_* (arch.h) this file uses: the descriptor's, less what its metadata turns off */
    int32_t n_vocab;       /* rows of the embedding / output matrices */
    int32_t n_ctx_train;   /* <arch>.context_length: the context the model was trained with */
    int32_t n_embd;        /* width of the residual stream */
    int32_t n_layer;
    int32_t n_head;        /* query heads */
    int32_t n_head_kv;     /* key/value heads (n_head / n_head_kv queries share one) */
    int32_t head_dim;      /* query and key values per head (<arch>.attention.key_length) */
    int32_t head_dim_v;    /* value values per head (<arch>.attention.value_length) */
    int32_t n_rot;         /* rotated values per head (<arch>.rope.dimension_count) */
    bool rope_neox;        /* RoPE rotates the two halves of the rotated part (else adjacent pairs) */
    int32_t n_ff;          /* dense FFN hidden width */
    int32_t n_expert;      /* experts per MoE layer (0: dense FFN) */
    int32_t n_expert_used; /* experts each token is routed to */
    int32_t n_ff_exp;      /* hidden width of one expert */
    int32_t n_ff_shexp;    /* hidden width of the shared expert (0: none) */
    float rope_freq_base;  /* theta base */
    float rope_freq_scale; /* 1 / scaling factor (linear and YaRN) */
    float rope_freq_base_swa;  /* theta base of sliding-window layers */
    float rope_freq_scale_swa; /* their frequency scale */
    model_rope_scaling_t rope_scaling;
    int32_t n_ctx_orig;    /* context before scaling (YaRN's correction range, LongRoPE's long/short choice) */
    float yarn_beta_fast, yarn_beta_slow;
    float rope_attn_factor; /* cos/sin magnitude factor (<arch>.rope.scaling.attn_factor; YaRN's mscale) */
    float norm_eps;        /* RMSNorm epsilon */
    int32_t n_swa;         /* sliding window in positions (0: every layer attends to everything) */
    float attn_softcap;    /* attention logits capped to (-c, c) by c * tanh(s / c); 0: none */
    float final_softcap;   /* output logits likewise */
    float q_scale;         /* queries multiplied by this before attention (Gemma, Phi-3), else 1 */
    float kq_scale;        /* attention scores multiplied by this: 1 / sqrt(head_dim), or 1 after q_scale */
    float embd_scale;      /* token embeddings multiplied by this (Gemma: sqrt(n_embd)), else 1 */
    bool tied_output;      /* output matrix is the token embedding */
    model_pool_t pooling;  /* MODEL_POOL_NONE for generative models; else an embedding model, which has no logits:
                              n_embd wide unit vectors come out of model_batch_seq_t.embd */
    bool causal;           /* each token attends to the positions before it (false: encoders, the whole sequence) */
} model_hparams_t;

/*
 * Loads the model at path: maps the file, checks the architecture, reads the hyperparameters (missing
 * required keys are errors), finds and shape-checks every tensor, checks that every weight and block scale is
 * finite (weights_check.h: one pass over the weights), and loads the tokenizer.
 * Returns 0, or ERR_IO / ERR_FORMAT / ERR_UNSUPPORTED / ERR_NOMEM with one line in err naming the file and
 * the problem. The caller frees *out with model_free.
 */
int model_load(const char *path, model_t **out, char *err, size_t err_len);

/* Frees the model and unmaps its file. model_free(NULL) is a no-op. */
void model_free(model_t *m);

/* Borrowed views, valid until model_free. */
const model_hparams_t *model_hparams(const model_t *m);
const tok_t *model_tok(const model_t *m);
const gguf_t *model_gguf(const model_t *m);

/*
 * Reads the weights every forward pass reads in full into memory (gguf_prefault): all tensors but the token
 * embedding, of which only the rows of the tokens seen are read, unless the output projection reuses it.
 */
void model_prefault(const model_t *m, void (*progress)(void *user, uint64_t done, uint64_t total), void *user);

/*
 * One line naming the architecture and every feature in use, e.g. "gemma3 (features: embd-scale, post-norms,
 * qk-norm, sliding-window, q-prescale; sliding window 512 on 5 of 6 layers, local rope base 10000)", written to
 * buf (always terminated, truncated to len). Returns buf.
 */
char *model_describe(const model_t *m, char *buf, size_t len);

/* Bytes of weights (the tensors the forward pass reads), and the most common weight type's name. */
uint64_t model_weight_bytes(const model_t *m);
const char *model_weight_type(const model_t *m);

/*
 * Creates a forward-pass context: a kernel thread pool of n_threads (0 = the number of online CPUs) and all
 * scratch memory for batches of up to max_batch tokens and sequences of up to max_ctx positions, so that
 * forward passes never allocate. Returns 0, ERR_INVAL, or ERR_NOMEM.
 */
int model_ctx_create(const model_t *m, int n_threads, int32_t max_batch, int32_t max_ctx, model_ctx_t **out);
void model_ctx_free(model_ctx_t *c);
int model_ctx_n_threads(const model_ctx_t *c);

/* Key/value cache parameters for this model: layers, kv_dim, and the given block size and count. */
kv_params_t model_kv_params(const model_t *m, int32_t block_tokens, int32_t n_blocks);

/* One sequence's part of a batched forward pass. */
typedef struct {
    kv_seq_t *kv;          /* its block table: positions [kv->n_tokens, +n) are computed and written; the caller
                              has reserved them (kv_seq_reserve) and commits them afterwards (kv_seq_commit) */
    const int32_t *tokens; /* (n,) token ids at those positions */
    int32_t n;             /* >= 1 */
    int32_t n_logits;      /* 0: no logits; 1: logits of the last token; n: logits of every token (generative
                              models only) */
    float *embd;           /* NULL, or (n_embd,): receives the entry's pooled, L2-normalised embedding (embedding
                              models only; the entry must hold the whole sequence: kv->n_tokens == 0) */
} model_batch_seq_t;

/*
 * Runs the tokens of n_seqs sequences (at most the context's max_batch tokens in all, each sequence at most
 * max_ctx positions) as one batch over the paged cache kv. Each sequence attends only to its own positions (the
 * ones up to each token, or with an encoder all of the entry's). Logits (n_vocab floats per row) are written to
 * logits in order: the rows each entry asked for, entry by entry. Entries with embd get their embedding instead:
 * the final hidden states (after a decoder's output norm) pooled as hp->pooling says, scaled to unit length.
 * Does not advance kv->n_tokens (the caller commits). Returns 0, ERR_INVAL (bad token id, sizes, a missing
 * reservation, logits asked of an embedding model, an embedding of a generative model or of a sequence not read
 * from its start) or ERR_CONTEXT (past max_ctx).
 */
int model_forward_batch(model_ctx_t *c, kv_cache_t *kv, const model_batch_seq_t *seqs, int32_t n_seqs,
                        float *logits);

/*
 * A single sequence with a private cache of n_ctx positions, for the command line and tests. Returns 0,
 * ERR_INVAL or ERR_NOMEM.
 */
int model_seq_create(const model_t *m, int32_t n_ctx, model_seq_t **out);
void model_seq_free(model_seq_t *s);

/* Positions already in the cache, and its capacity. */
int32_t model_seq_pos(const model_seq_t *s);
int32_t model_seq_capacity(const model_seq_t *s);

/* Empties the sequence. */
void model_seq_clear(model_seq_t *s);

/*
 * Runs n tokens (n <= the context's max_batch) at positions model_seq_pos(s) .. +n-1 and appends them to s.
 * Writes logits for the last token only when all_logits is false, or for every token (n rows) when it is
 * true; logits may be NULL. Returns 0, ERR_INVAL (bad token id, n out of range) or ERR_CONTEXT (full); on
 * error the sequence is unchanged.
 */
int model_forward(model_ctx_t *c, model_seq_t *s, const int32_t *tokens, int32_t n, bool all_logits,
                  float *logits);

#endif
