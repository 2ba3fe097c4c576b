/*
 * gram_vocab.c — the token trie a vocabulary's masks walk (see grammar.h).
 *
 * The tokens' bytes are sorted; one pass over the sorted list then emits the trie in preorder, so a node's
 * subtree is the index range [node, node.end) and its tokens the range [tok_lo, trie[end].tok_lo) of `toks`.
 * Skipping a dead subtree is one assignment, and "every token below here" is one contiguous range.
 */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "gram_internal.h"

typedef struct {
    const uint8_t *b;
    uint32_t n;
    int32_t id;
} gv_tok_t;

static int gv__cmp(const void *pa, const void *pb) {
    const gv_tok_t *a = pa, *b = pb;
    uint32_t n = a->n < b->n ? a->n : b->n;
    int c = n ? memcmp(a->b, b->b, n) : 0;
    if (c) return c;
    if (a->n != b->n) return a->n < b->n ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

int gram_vocab_create(const tok_t *t, gram_vocab_t **out, char *err, size_t err_len) {
    if (!out) return err_set(err, err_len, ERR_INVAL, "gram_vocab_create: out is NULL");
    *out = NULL;
    if (!t) return err_set(err, err_len, ERR_INVAL, "gram_vocab_create: tokenizer is NULL");
    int32_t nv = tok_n_vocab(t);
    if (nv < 1) return err_set(err, err_len, ERR_INVAL, "gram_vocab_create: empty vocabulary");
    size_t maxp = tok_max_piece_len(t);
    if (maxp > 65535) return err_set(err, err_len, ERR_LIMIT, "a token piece is longer than 65535 bytes");

    int rc = ERR_NOMEM;
    gv_tok_t *list = NULL;
    uint32_t *path = NULL;
    char *buf = malloc(maxp + 1);
    gram_vocab_t *v = calloc(1, sizeof *v);
    if (!v || !buf) goto nomem;
    v->n_vocab = nv;
    v->off = malloc(((size_t)nv + 1) * sizeof *v->off);
    v->eog = malloc((size_t)nv * sizeof *v->eog);
    v->trie_bits = calloc(gram_mask_words(nv) + 1, sizeof *v->trie_bits);
    list = malloc((size_t)nv * sizeof *list);
    if (!v->off || !v->eog || !v->trie_bits || !list) goto nomem;

    /* Pass 1: sizes; pass 2: bytes. Tokens outside the trie keep an empty range. */
    size_t total = 0;
    for (int32_t id = 0; id < nv; id++) {
        size_t n = 0;
        bool eog = tok_is_eog(t, id);
        if (eog) v->eog[v->n_eog++] = id;
        if (eog) continue;
        int r = tok_piece(t, id, tok_is_control(t, id), buf, maxp, &n);
        if (r) n = 0;
        total += n;
    }
    v->bytes = malloc(total ? total : 1);
    if (!v->bytes) goto nomem;
    size_t o = 0, n_list = 0;
    for (int32_t id = 0; id < nv; id++) {
        v->off[id] = (uint32_t)o;
        size_t n = 0;
        if (tok_is_eog(t, id)) continue;
        if (tok_piece(t, id, tok_is_control(t, id), buf, maxp, &n) || n == 0 || o + n > total) continue;
        memcpy(v->bytes + o, buf, n);
        list[n_list++] = (gv_tok_t){v->bytes + o, (uint32_t)n, id};
        v->trie_bits[id >> 5] |= 1u << (id & 31);
        if (n > v->max_len) v->max_len = (uint32_t)n;
        o += n;
    }
    v->off[nv] = (uint32_t)o;
    qsort(list, n_list, sizeof *list, gv__cmp);

    /* At most one node per byte of every token, plus the root and the sentinel. */
    size_t cap = total + 2;
    v->trie = malloc(cap * sizeof *v->trie);
    v->toks = malloc((n_list ? n_list : 1) * sizeof *v->toks);
    path = malloc(((size_t)v->max_len + 1) * sizeof *path);
    if (!v->trie || !v->toks || !path) goto nomem;
    v->trie[0] = (gram_tnode_t){0, 0, 0, 0};
    path[0] = 0;
    uint32_t n_path = 1, n_trie = 1; /* path[d] = the open node at depth d */
    const gv_tok_t *prev = NULL;
    for (size_t i = 0; i < n_list; i++) {
        const gv_tok_t *k = &list[i];
        uint32_t lcp = 0;
        if (prev)
            while (lcp < prev->n && lcp < k->n && prev->b[lcp] == k->b[lcp])
                lcp++;
        while (n_path > lcp + 1) /* close the nodes deeper than the common prefix */
            v->trie[path[--n_path]].end = n_trie;
        for (uint32_t d = lcp + 1; d <= k->n; d++) {
            v->trie[n_trie] = (gram_tnode_t){0, v->n_toks, (uint16_t)d, k->b[d - 1]};
            path[n_path++] = n_trie++;
        }
        v->toks[v->n_toks++] = k->id;
        prev = k;
    }
    while (n_path > 0)
        v->trie[path[--n_path]].end = n_trie;
    v->trie[n_trie] = (gram_tnode_t){n_trie + 1, v->n_toks, 0, 0}; /* sentinel */
    v->n_trie = n_trie;
    *out = v;
    v = NULL;
    rc = 0;
    goto cleanup;
nomem:
    rc = err_set(err, err_len, ERR_NOMEM, "grammar vocabulary: out of memory");
cleanup:
    gram_vocab_free(v);
    free(list);
    free(path);
    free(buf);
    return rc;
}

void gram_vocab_free(gram_vocab_t *v) {
    if (!v) return;
    free(v->off);
    free(v->bytes);
    free(v->trie);
    free(v->toks);
    free(v->eog);
    free(v->trie_bits);
    free(v);
}

int32_t gram_vocab_n_vocab(const gram_vocab_t *v) { return v ? v->n_vocab : 0; }

const uint8_t *gram_vocab_bytes(const gram_vocab_t *v, int32_t id, size_t *n) {
    if (!v || id < 0 || id >= v->n_vocab) {
        if (n) *n = 0;
        return NULL;
    }
    if (n) *n = v->off[id + 1] - v->off[id];
    return v->bytes + v->off[id];
}
