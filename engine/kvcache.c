/*
 * kvcache.c — block pool, per-sequence block tables, and the prefix index (open addressing, linear probing
 * with backward-shift deletion) with an LRU list of evictable blocks.
 */
#include "kvcache.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

typedef struct {
    int32_t ref;        /* sequences using the block */
    bool keyed;         /* entered in the prefix index */
    uint64_t key;       /* prefix key when keyed */
    uint64_t parent;    /* the key of the block before it (0 for the first block) */
    int32_t prev, next; /* LRU links while ref == 0 && keyed; -1 ends */
} kv_meta_t;

typedef struct {
    uint64_t key;
    int32_t block; /* -1 empty */
} kv_slot_t;

struct kv_cache {
    kv_params_t p;
    size_t block_bytes, layer_bytes; /* layer_bytes = keys + values of one layer */
    uint8_t *pool;                   /* n_blocks * block_bytes */
    kv_meta_t *meta;                 /* (n_blocks,) */
    int32_t *tokens;                 /* (n_blocks, block_tokens) ids of keyed blocks, to verify hits */
    int32_t *free_stack;             /* never used or invalidated blocks */
    int32_t n_free;
    int32_t lru_head, lru_tail;      /* head = least recently used */
    int32_t n_cached, n_used;
    kv_slot_t *index;
    uint64_t index_mask;
    uint64_t hit_tokens, lookup_tokens;
};

size_t kv_block_bytes(const kv_params_t *p) {
    return (size_t)p->n_layer * (size_t)p->block_tokens * ((size_t)p->k_dim + (size_t)p->v_dim) * sizeof(uint16_t);
}

int kv_create(const kv_params_t *p, kv_cache_t **out) {
    *out = NULL;
    if (p->n_layer <= 0 || p->k_dim <= 0 || p->v_dim <= 0 || p->block_tokens <= 0 || p->n_blocks <= 0 || p->block_tokens > 4096)
        return ERR_INVAL;
    kv_cache_t *kv = calloc(1, sizeof *kv);
    if (!kv) return ERR_NOMEM;
    kv->p = *p;
    kv->layer_bytes = (size_t)p->block_tokens * ((size_t)p->k_dim + (size_t)p->v_dim) * sizeof(uint16_t);
    kv->block_bytes = kv_block_bytes(p);
    uint64_t cap = 16;
    while (cap < 2u * (uint64_t)p->n_blocks) cap <<= 1;
    kv->index_mask = cap - 1;
    if (kv->block_bytes > SIZE_MAX / (size_t)p->n_blocks) goto fail;
    kv->pool = malloc(kv->block_bytes * (size_t)p->n_blocks);
    kv->meta = calloc((size_t)p->n_blocks, sizeof *kv->meta);
    kv->tokens = malloc((size_t)p->n_blocks * (size_t)p->block_tokens * sizeof(int32_t));
    kv->free_stack = malloc((size_t)p->n_blocks * sizeof(int32_t));
    kv->index = malloc((size_t)cap * sizeof *kv->index);
    if (!kv->pool || !kv->meta || !kv->tokens || !kv->free_stack || !kv->index) goto fail;
    for (uint64_t i = 0; i < cap; i++) kv->index[i].block = -1;
    for (int32_t b = 0; b < p->n_blocks; b++) {
        kv->free_stack[b] = p->n_blocks - 1 - b; /* hand out low ids first */
        kv->meta[b].prev = kv->meta[b].next = -1;
    }
    kv->n_free = p->n_blocks;
    kv->lru_head = kv->lru_tail = -1;
    *out = kv;
    return 0;
fail:
    kv_free(kv);
    return ERR_NOMEM;
}

void kv_free(kv_cache_t *kv) {
    if (!kv) return;
    free(kv->pool);
    free(kv->meta);
    free(kv->tokens);
    free(kv->free_stack);
    free(kv->index);
    free(kv);
}

const kv_params_t *kv_params(const kv_cache_t *kv) { return &kv->p; }

uint16_t *kv_block_k(kv_cache_t *kv, int32_t block, int32_t layer) {
    return (uint16_t *)(kv->pool + (size_t)block * kv->block_bytes + (size_t)layer * kv->layer_bytes);
}

uint16_t *kv_block_v(kv_cache_t *kv, int32_t block, int32_t layer) {
    return kv_block_k(kv, block, layer) + (size_t)kv->p.block_tokens * (size_t)kv->p.k_dim;
}

/* ---- prefix keys and the index ---------------------------------------------------------------------------- */

static uint64_t kv__mix(uint64_t x) { /* splitmix64 finaliser */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static uint64_t kv__key(uint64_t parent, const int32_t *tokens, int32_t n) {
    uint64_t h = kv__mix(parent ^ 0x9e3779b97f4a7c15ull);
    for (int32_t i = 0; i < n; i++) h = kv__mix(h ^ (uint64_t)(uint32_t)tokens[i]);
    return h ? h : 1; /* 0 means "not keyed" */
}

static int32_t kv__index_find(const kv_cache_t *kv, uint64_t key) {
    for (uint64_t i = key & kv->index_mask;; i = (i + 1) & kv->index_mask) {
        if (kv->index[i].block < 0) return -1;
        if (kv->index[i].key == key) return kv->index[i].block;
    }
}

static void kv__index_insert(kv_cache_t *kv, uint64_t key, int32_t block) {
    uint64_t i = key & kv->index_mask;
    while (kv->index[i].block >= 0) i = (i + 1) & kv->index_mask;
    kv->index[i].key = key;
    kv->index[i].block = block;
}

static void kv__index_remove(kv_cache_t *kv, uint64_t key) {
    uint64_t i = key & kv->index_mask;
    while (kv->index[i].block >= 0 && kv->index[i].key != key) i = (i + 1) & kv->index_mask;
    if (kv->index[i].block < 0) return;
    /* backward-shift deletion keeps every probe chain unbroken without tombstones */
    uint64_t j = i;
    for (;;) {
        kv->index[i].block = -1;
        for (;;) {
            j = (j + 1) & kv->index_mask;
            if (kv->index[j].block < 0) return;
            uint64_t home = kv->index[j].key & kv->index_mask;
            /* move j into the hole at i unless its home lies cyclically in (i, j] */
            bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
            if (!stays) break;
        }
        kv->index[i] = kv->index[j];
        i = j;
    }
}

/* ---- LRU of evictable blocks ------------------------------------------------------------------------------ */

static void kv__lru_remove(kv_cache_t *kv, int32_t b) {
    kv_meta_t *m = &kv->meta[b];
    if (m->prev >= 0) kv->meta[m->prev].next = m->next;
    else kv->lru_head = m->next;
    if (m->next >= 0) kv->meta[m->next].prev = m->prev;
    else kv->lru_tail = m->prev;
    m->prev = m->next = -1;
    kv->n_cached--;
}

static void kv__lru_push(kv_cache_t *kv, int32_t b) { /* most recently used end */
    kv_meta_t *m = &kv->meta[b];
    m->prev = kv->lru_tail;
    m->next = -1;
    if (kv->lru_tail >= 0) kv->meta[kv->lru_tail].next = b;
    else kv->lru_head = b;
    kv->lru_tail = b;
    kv->n_cached++;
}

/* Takes one block for exclusive use: a free one, else the least recently used cached one. */
static int32_t kv__take(kv_cache_t *kv) {
    int32_t b;
    if (kv->n_free > 0) {
        b = kv->free_stack[--kv->n_free];
    } else if (kv->lru_head >= 0) {
        b = kv->lru_head;
        kv__lru_remove(kv, b);
        kv__index_remove(kv, kv->meta[b].key);
        kv->meta[b].keyed = false;
    } else {
        return -1;
    }
    kv->meta[b].ref = 1;
    kv->meta[b].keyed = false;
    kv->n_used++;
    return b;
}

/* ---- sequences -------------------------------------------------------------------------------------------- */

static int kv__seq_grow(kv_seq_t *seq, int32_t need) {
    if (need <= seq->cap) return 0;
    int32_t cap = seq->cap ? seq->cap : 8;
    while (cap < need) cap *= 2;
    int32_t *blocks = realloc(seq->blocks, (size_t)cap * sizeof *blocks);
    if (!blocks) return ERR_NOMEM;
    seq->blocks = blocks;
    uint64_t *hashes = realloc(seq->hashes, (size_t)cap * sizeof *hashes);
    if (!hashes) return ERR_NOMEM;
    seq->hashes = hashes;
    seq->cap = cap;
    return 0;
}

int kv_seq_match_prefix(kv_cache_t *kv, kv_seq_t *seq, const int32_t *tokens, int32_t n) {
    const int32_t bt = kv->p.block_tokens;
    int32_t max_blocks = n > 0 ? (n - 1) / bt : 0; /* keep at least one token to compute */
    kv->lookup_tokens += (uint64_t)(n > 0 ? n : 0);
    if (seq->n_tokens != 0 || seq->n_blocks != 0 || max_blocks == 0) return 0;
    if (kv__seq_grow(seq, max_blocks)) return ERR_NOMEM;
    uint64_t parent = 0;
    int32_t got = 0;
    for (; got < max_blocks; got++) {
        const int32_t *t = tokens + (size_t)got * bt;
        uint64_t key = kv__key(parent, t, bt);
        int32_t b = kv__index_find(kv, key);
        if (b < 0 || kv->meta[b].parent != parent ||
            memcmp(kv->tokens + (size_t)b * bt, t, (size_t)bt * sizeof *t) != 0)
            break;
        if (kv->meta[b].ref == 0) {
            kv__lru_remove(kv, b);
            kv->n_used++;
        }
        kv->meta[b].ref++;
        seq->blocks[got] = b;
        seq->hashes[got] = key;
        parent = key;
    }
    seq->n_blocks = got;
    seq->n_hashed = got;
    seq->n_tokens = got * bt;
    kv->hit_tokens += (uint64_t)seq->n_tokens;
    return 0;
}

int32_t kv_seq_blocks_needed(const kv_cache_t *kv, const kv_seq_t *seq, int32_t n_new) {
    const int32_t bt = kv->p.block_tokens;
    int64_t total = (int64_t)seq->n_tokens + n_new;
    int64_t need = (total + bt - 1) / bt - seq->n_blocks;
    return need > 0 ? (int32_t)need : 0;
}

int32_t kv_available(const kv_cache_t *kv) { return kv->n_free + kv->n_cached; }

int kv_seq_reserve(kv_cache_t *kv, kv_seq_t *seq, int32_t n_new) {
    int32_t need = kv_seq_blocks_needed(kv, seq, n_new);
    if (need == 0) return 0;
    if (need > kv_available(kv)) return ERR_FULL;
    if (kv__seq_grow(seq, seq->n_blocks + need)) return ERR_NOMEM;
    for (int32_t i = 0; i < need; i++) {
        int32_t b = kv__take(kv);
        seq->hashes[seq->n_blocks] = 0;
        seq->blocks[seq->n_blocks++] = b;
    }
    return 0;
}

int kv_seq_commit(kv_cache_t *kv, kv_seq_t *seq, const int32_t *all_tokens, int32_t n) {
    const int32_t bt = kv->p.block_tokens;
    seq->n_tokens += n;
    int32_t full = seq->n_tokens / bt;
    while (seq->n_hashed < full && seq->n_hashed < seq->n_blocks) {
        int32_t i = seq->n_hashed;
        uint64_t parent = i > 0 ? seq->hashes[i - 1] : 0;
        const int32_t *t = all_tokens + (size_t)i * bt;
        uint64_t key = kv__key(parent, t, bt);
        seq->hashes[i] = key;
        seq->n_hashed++;
        int32_t b = seq->blocks[i];
        if (kv->meta[b].keyed || kv__index_find(kv, key) >= 0) continue; /* shared already, or a twin is */
        kv->meta[b].keyed = true;
        kv->meta[b].key = key;
        kv->meta[b].parent = parent;
        memcpy(kv->tokens + (size_t)b * bt, t, (size_t)bt * sizeof *t);
        kv__index_insert(kv, key, b);
    }
    return 0;
}

void kv_seq_release(kv_cache_t *kv, kv_seq_t *seq) {
    /* release the tail first so that, among one sequence's blocks, later ones are evicted first */
    for (int32_t i = seq->n_blocks - 1; i >= 0; i--) {
        int32_t b = seq->blocks[i];
        if (--kv->meta[b].ref > 0) continue;
        kv->n_used--;
        if (kv->meta[b].keyed) kv__lru_push(kv, b);
        else kv->free_stack[kv->n_free++] = b;
    }
    free(seq->blocks);
    free(seq->hashes);
    memset(seq, 0, sizeof *seq);
}

void kv_stats(const kv_cache_t *kv, kv_stats_t *out) {
    out->n_blocks = kv->p.n_blocks;
    out->used = kv->n_used;
    out->cached = kv->n_cached;
    out->free = kv->n_free;
    out->hit_tokens = kv->hit_tokens;
    out->lookup_tokens = kv->lookup_tokens;
}
