/*
 * kvcache.h — a paged key/value cache: fixed-size blocks from one pool, a block table per sequence, and
 * prefix caching of full blocks.
 *
 * Owns: the pool memory (all blocks, allocated once at kv_create), the block metadata (reference counts,
 * prefix hashes, the LRU list of cached-but-unused blocks) and the hash index of cached blocks.
 * Does not: compute anything; the model writes keys and values into the blocks this module hands out.
 *
 * A block holds `block_tokens` consecutive positions of one sequence for every layer: per layer, keys
 * (block_tokens, k_dim) then values (block_tokens, v_dim), as F16. Sliding-window layers keep every position
 * too (the model masks what lies outside the window), so prefix caching works for them unchanged. No sequence reserves memory up front:
 * blocks are taken as its tokens arrive (kv_seq_reserve) and returned when it ends (kv_seq_release).
 *
 * Prefix caching: when a block fills, it is keyed by a hash of its tokens and of everything before it (its
 * parent block's key), so equal keys mean equal prefixes. A new sequence whose prompt starts with cached blocks
 * takes them (kv_seq_match_prefix) and skips their prefill. Shared blocks are reference-counted and read-only
 * (a sequence only ever writes past its matched prefix, into blocks it owns alone). Blocks whose count drops to
 * zero stay cached and are evicted least-recently-used when the pool runs dry.
 *
 * Threads: not thread-safe; the engine thread owns the cache. kv_stats may be called by that thread only.
 */
#ifndef CINDER_KVCACHE_H
#define CINDER_KVCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kv_cache kv_cache_t;

typedef struct {
    int32_t n_layer;
    int32_t k_dim;        /* key values per position: n_head_kv * head_dim */
    int32_t v_dim;        /* value values per position: n_head_kv * head_dim_v */
    int32_t block_tokens; /* positions per block, e.g. 16 */
    int32_t n_blocks;     /* blocks in the pool */
} kv_params_t;

/* A sequence's view of the cache: its block table and how many positions hold keys/values. Embeddable;
 * zero-initialise it, and release it with kv_seq_release. */
typedef struct {
    int32_t *blocks;   /* block ids, positions [i*block_tokens, (i+1)*block_tokens) live in blocks[i] */
    int32_t n_blocks;  /* entries in use */
    int32_t cap;       /* entries allocated */
    int32_t n_tokens;  /* positions filled */
    uint64_t *hashes;  /* (cap,) prefix key of each full block, 0 for a partial one */
    int32_t n_hashed;  /* leading blocks whose keys are known */
} kv_seq_t;

typedef struct {
    int32_t n_blocks;    /* pool size */
    int32_t used;        /* referenced by at least one sequence */
    int32_t cached;      /* unreferenced but kept for prefix hits (evictable) */
    int32_t free;        /* never used or invalidated */
    uint64_t hit_tokens;    /* prompt tokens served from the cache since creation */
    uint64_t lookup_tokens; /* prompt tokens looked up since creation */
} kv_stats_t;

/* Bytes of one block for these parameters (keys and values of every layer). */
size_t kv_block_bytes(const kv_params_t *p);

/* Allocates the pool and its metadata. Returns 0, ERR_INVAL (non-positive sizes) or ERR_NOMEM. */
int kv_create(const kv_params_t *p, kv_cache_t **out);

/* Frees the pool. Sequences must have been released. kv_free(NULL) is a no-op. */
void kv_free(kv_cache_t *kv);

const kv_params_t *kv_params(const kv_cache_t *kv);

/* Keys (block_tokens, k_dim) and values (block_tokens, v_dim) of one layer of one block, F16. */
uint16_t *kv_block_k(kv_cache_t *kv, int32_t block, int32_t layer);
uint16_t *kv_block_v(kv_cache_t *kv, int32_t block, int32_t layer);

/*
 * For an empty sequence about to run `tokens` (its whole prompt, n of them): takes the longest run of cached
 * full blocks that equals a prefix of the prompt, leaving at least one token to compute (the caller needs the
 * logits of the last prompt token). Sets seq->n_tokens to the matched count (a multiple of block_tokens, maybe
 * 0) and returns 0, or ERR_NOMEM when the block table cannot grow (nothing is taken then).
 */
int kv_seq_match_prefix(kv_cache_t *kv, kv_seq_t *seq, const int32_t *tokens, int32_t n);

/*
 * Makes room for n_new more positions after seq->n_tokens, taking free blocks first and then evicting the
 * least-recently-used cached ones. Returns 0, or ERR_FULL when the pool cannot supply them (nothing is taken
 * then), or ERR_NOMEM.
 */
int kv_seq_reserve(kv_cache_t *kv, kv_seq_t *seq, int32_t n_new);

/* Blocks kv_seq_reserve would need to take for n_new more positions of seq. */
int32_t kv_seq_blocks_needed(const kv_cache_t *kv, const kv_seq_t *seq, int32_t n_new);

/* Blocks that could be supplied now (free + evictable). */
int32_t kv_available(const kv_cache_t *kv);

/*
 * Records that the model wrote positions [seq->n_tokens, seq->n_tokens + n) from tokens (the ids at those
 * positions; all_tokens is the sequence's full token list from position 0, needed to key full blocks), and
 * advances seq->n_tokens. Every block this fills is keyed and entered into the prefix index. Returns 0.
 */
int kv_seq_commit(kv_cache_t *kv, kv_seq_t *seq, const int32_t *all_tokens, int32_t n);

/*
 * Drops the sequence's references: blocks nobody else uses become cached (keyed ones, evictable LRU) or free.
 * Frees the block table. The sequence is empty and reusable afterwards.
 */
void kv_seq_release(kv_cache_t *kv, kv_seq_t *seq);

void kv_stats(const kv_cache_t *kv, kv_stats_t *out);

#endif
