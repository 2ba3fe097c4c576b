/*
 * tok_spm.c — the SentencePiece-style encoder ("llama" vocabularies): greedy bigram merging by score.
 *
 * Owns: the encoding of one plain-text run. Does not: special tokens, BOS/EOS (tokenizer.c).
 *
 * Algorithm (as llama.cpp's llm_tokenizer_spm_session, which follows SentencePiece's BPE model):
 *   1. Spaces become U+2581 '▁'; one '▁' is prefixed when asked.
 *   2. The text is cut into symbols, one per UTF-8 character (by the lead byte; an invalid byte is one symbol).
 *   3. Every adjacent pair whose concatenation is a token goes into a max-heap keyed by that token's score
 *      (ties: the leftmost pair). The best pair is merged, and the pairs it forms with its neighbours are pushed;
 *      a popped pair whose symbols have changed since it was pushed is stale and skipped.
 *   4. Each final symbol is its token, or, when no token has its text, one byte token per byte (<0xXX>); a
 *      vocabulary without byte tokens gives the unknown token once for the symbol instead.
 * O(n log n) in the run's length.
 *
 * Threads: reads the tok_t only; all scratch is allocated per call.
 */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "tok_internal.h"

typedef struct {
    int32_t prev, next; /* neighbouring live symbols, -1 at the ends */
    uint32_t off, n;    /* bytes of the escaped text; n == 0 once merged into its left neighbour */
} spm_sym_t;

typedef struct {
    float score;
    int32_t left, right;
    uint32_t size; /* bytes of left + right when pushed: a later mismatch means the pair is stale */
} spm_bigram_t;

typedef struct {
    spm_bigram_t *v;
    size_t n, cap;
} spm_heap_t;

/* a goes above b: higher score, then the leftmost pair (llama.cpp's comparator). */
static bool spm_above(const spm_bigram_t *a, const spm_bigram_t *b) {
    if (a->score != b->score) return a->score > b->score;
    return a->left < b->left;
}

static int spm_heap_push(spm_heap_t *h, spm_bigram_t b) {
    if (h->n == h->cap) {
        size_t c = h->cap ? h->cap * 2 : 64;
        spm_bigram_t *v = realloc(h->v, c * sizeof *v);
        if (!v) return ERR_NOMEM;
        h->v = v;
        h->cap = c;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!spm_above(&b, &h->v[p])) break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = b;
    return 0;
}

static spm_bigram_t spm_heap_pop(spm_heap_t *h) {
    spm_bigram_t top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && spm_above(&h->v[c + 1], &h->v[c])) c++;
        if (!spm_above(&h->v[c], &last)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n > 0) h->v[i] = last;
    return top;
}

/* Pushes the pair (left, right) when their concatenation is a token. */
static int spm_try_pair(const tok_t *t, const char *s, const spm_sym_t *sym, int32_t left, int32_t right,
                        spm_heap_t *h) {
    if (left < 0 || right < 0) return 0;
    uint32_t size = sym[left].n + sym[right].n;
    int32_t id = tok__find(t, s + sym[left].off, size);
    if (id < 0) return 0;
    spm_bigram_t b = {t->score[id], left, right, size};
    return spm_heap_push(h, b);
}

/* Emits the ids of one final symbol. */
static int spm_emit(const tok_t *t, const char *s, const spm_sym_t *sym, tok__ids_t *out) {
    int32_t id = tok__find(t, s + sym->off, sym->n);
    if (id >= 0) return tok__ids_push(out, id);
    const unsigned char *b = (const unsigned char *)s + sym->off;
    bool all_bytes = true;
    for (uint32_t j = 0; j < sym->n; j++)
        if (t->byte_tok[b[j]] < 0) all_bytes = false;
    if (!all_bytes) return t->unk >= 0 ? tok__ids_push(out, t->unk) : 0;
    for (uint32_t j = 0; j < sym->n; j++) {
        int rc = tok__ids_push(out, t->byte_tok[b[j]]);
        if (rc) return rc;
    }
    return 0;
}

int tok__spm_encode(const tok_t *t, const char *text, size_t len, bool prefix_space, tok__ids_t *out) {
    static const char space[3] = {'\xE2', '\x96', '\x81'}; /* U+2581 */
    int rc = 0;
    char *s = NULL;
    spm_sym_t *sym = NULL;
    spm_heap_t heap = {0};

    /* 1. escape: every ' ' becomes 3 bytes (len <= TOK_MAX_INPUT_BYTES keeps this inside uint32). */
    size_t n_space = prefix_space ? 1 : 0;
    for (size_t i = 0; i < len; i++) n_space += text[i] == ' ';
    size_t n = len + 2 * n_space + (prefix_space ? 1 : 0);
    if (n == 0) return 0;
    if (n > UINT32_MAX / 2) return ERR_LIMIT;
    s = malloc(n);
    sym = malloc(n * sizeof *sym);
    if (!s || !sym) {
        rc = ERR_NOMEM;
        goto cleanup;
    }
    size_t k = 0;
    if (prefix_space) memcpy(s + k, space, 3), k += 3;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') memcpy(s + k, space, 3), k += 3;
        else s[k++] = text[i];
    }

    /* 2. one symbol per UTF-8 character */
    int32_t n_sym = 0;
    for (size_t off = 0; off < n;) {
        size_t l = tok__utf8_len((unsigned char)s[off]);
        if (l > n - off) l = n - off;
        sym[n_sym].off = (uint32_t)off;
        sym[n_sym].n = (uint32_t)l;
        sym[n_sym].prev = n_sym - 1;
        off += l;
        sym[n_sym].next = off == n ? -1 : n_sym + 1;
        n_sym++;
    }

    /* 3. merge the best pairs */
    for (int32_t i = 1; i < n_sym; i++)
        if ((rc = spm_try_pair(t, s, sym, i - 1, i, &heap))) goto cleanup;
    while (heap.n > 0) {
        spm_bigram_t b = spm_heap_pop(&heap);
        spm_sym_t *l = &sym[b.left], *r = &sym[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = b.left;
        if ((rc = spm_try_pair(t, s, sym, l->prev, b.left, &heap))) goto cleanup;
        if ((rc = spm_try_pair(t, s, sym, b.left, l->next, &heap))) goto cleanup;
    }

    /* 4. emit */
    for (int32_t i = 0; i >= 0; i = sym[i].next)
        if ((rc = spm_emit(t, s, &sym[i], out))) goto cleanup;

cleanup:
    free(s);
    free(sym);
    free(heap.v);
    return rc;
}
