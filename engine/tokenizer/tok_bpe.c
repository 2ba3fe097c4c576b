/*
 * tok_bpe.c — the byte-level BPE encoder ("gpt2" vocabularies) and its merge-rank index.
 *
 * Owns: the GPT-2 byte alphabet, loading `tokenizer.ggml.merges`, and the encoding of one plain-text run.
 * Does not: choose or run the pre-tokenizer regexes (tok_pretok.c), special tokens or BOS/EOS (tokenizer.c).
 *
 * Algorithm (as llama.cpp's llm_tokenizer_bpe_session):
 *   1. The run is read as UTF-8 the way llama.cpp's unicode_cpts_from_utf8 reads it: a byte that does not start
 *      a complete sequence becomes U+FFFD, overlong forms are accepted and re-encoded in their shortest form
 *      (code points above U+10FFFF, which llama.cpp cannot re-encode, become U+FFFD too).
 *      A tokenizer with an NFC normalizer (Qwen's) then puts the run in NFC (tok_nfc.c), as Hugging Face's does.
 *   2. The pre-tokenizer splits it into words.
 *   3. Each word's bytes are written in GPT-2's alphabet (byte b -> one printable code point), one symbol per byte.
 *      With ignore_merges (Llama 3 and some others), a word that is a token as a whole is that token.
 *   4. Adjacent symbols are merged by rank: a min-heap of pairs that have a merge, lowest rank first, ties to
 *      the leftmost; stale pairs (a side changed since the push) are skipped. O(w log w) per word of w bytes.
 *   5. Each final symbol is its token; a symbol that is not a token (possible only in vocabularies whose merges
 *      produce texts they lack) gives, as llama.cpp, the tokens of those of its bytes that are one-byte tokens.
 *
 * The merge index is keyed by the two sides' bytes: merge "a b" (split at the first space after the first byte,
 * as llama.cpp splits it) is stored as "ab" with the left length, so a candidate pair — which lies contiguously
 * in the word buffer — is looked up without building a string.
 *
 * Threads: reads the tok_t only; scratch is per call.
 */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "tok_internal.h"

uint32_t tok__bpe_byte_cp(unsigned char b) {
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) return b;
    /* the other 68 bytes, in increasing order, take 256, 257, ... */
    if (b <= 0x20) return 256u + b;
    if (b <= 0xA0) return 256u + 33u + (b - 0x7Fu);
    return 256u + 67u; /* 0xAD */
}

int tok__bpe_cp_byte(uint32_t cp) {
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF)) return (int)cp;
    if (cp >= 256 && cp <= 256 + 0x20) return (int)(cp - 256);
    if (cp >= 256 + 33 && cp <= 256 + 66) return (int)(cp - 256 - 33 + 0x7F);
    if (cp == 256 + 67) return 0xAD;
    return -1;
}

static uint32_t bpe_merge_hash(const char *s, size_t llen, size_t n) {
    return tok__hash(s, n, (uint64_t)llen + 1);
}

int32_t tok__merge_rank(const tok_t *t, const char *s, size_t llen, size_t n) {
    if (!t->merges.slot) return -1;
    uint32_t h = bpe_merge_hash(s, llen, n);
    for (uint32_t i = h & t->merges.mask;; i = (i + 1) & t->merges.mask) {
        int32_t r = t->merges.slot[i];
        if (r < 0) return -1;
        if (t->merges.hash[i] != h || t->merge_llen[r] != llen) continue;
        uint32_t off = t->merge_off[r];
        if (t->merge_off[r + 1] - off == n && memcmp(t->merge_text + off, s, n) == 0) return r;
    }
}

int tok__bpe_load_merges(tok_t *t, const gguf_arr_t *merges, char *err, size_t err_len) {
    if (merges->n >= INT32_MAX || (merges->n > 0 && !merges->strs))
        return err_set(err, err_len, ERR_FORMAT, "tokenizer: bad tokenizer.ggml.merges");
    int32_t n = (int32_t)merges->n;
    uint64_t total = 0;
    for (int32_t i = 0; i < n; i++) total += merges->strs[i].len;
    if (total >= UINT32_MAX) return err_set(err, err_len, ERR_FORMAT, "tokenizer: merges too large");

    t->n_merges = n;
    t->merge_text = malloc((size_t)total + 1);
    t->merge_off = malloc(((size_t)n + 1) * sizeof(uint32_t));
    t->merge_llen = malloc(((size_t)n + 1) * sizeof(uint32_t));
    if (!t->merge_text || !t->merge_off || !t->merge_llen || tok__table_init(&t->merges, (size_t)n))
        return err_set(err, err_len, ERR_NOMEM, "tokenizer: out of memory");

    uint32_t off = 0;
    for (int32_t i = 0; i < n; i++) {
        gguf_str_t s = merges->strs[i];
        const char *sp = s.len > 1 ? memchr(s.ptr + 1, ' ', (size_t)s.len - 1) : NULL;
        t->merge_off[i] = off;
        if (!sp) { /* llama.cpp keys such a merge as ("", ""): it can never apply */
            t->merge_llen[i] = 0;
            continue;
        }
        size_t llen = (size_t)(sp - s.ptr), rlen = (size_t)s.len - llen - 1;
        memcpy(t->merge_text + off, s.ptr, llen);
        memcpy(t->merge_text + off + llen, sp + 1, rlen);
        t->merge_llen[i] = (uint32_t)llen;
        off += (uint32_t)(llen + rlen);
    }
    t->merge_off[n] = off;

    for (int32_t i = 0; i < n; i++) {
        uint32_t o = t->merge_off[i], len = t->merge_off[i + 1] - o;
        if (len == 0) continue;
        if (tok__merge_rank(t, t->merge_text + o, t->merge_llen[i], len) >= 0) continue; /* the first one wins */
        uint32_t h = bpe_merge_hash(t->merge_text + o, t->merge_llen[i], len);
        uint32_t j = h & t->merges.mask;
        while (t->merges.slot[j] >= 0) j = (j + 1) & t->merges.mask;
        t->merges.slot[j] = i;
        t->merges.hash[j] = h;
    }
    return 0;
}

/* ---------- UTF-8 as llama.cpp reads it ---------- */

/*
 * Decodes one code point at s[i..n) with llama.cpp's rules (continuation bytes checked, overlongs and
 * surrogates accepted); returns its length, or 0 when the byte at i does not start a complete sequence.
 */
static size_t bpe_decode_lenient(const unsigned char *s, size_t i, size_t n, uint32_t *cp) {
    unsigned char c = s[i];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v;
    if (!(c & 0x40)) return 0;
    if (!(c & 0x20)) len = 2, v = c & 0x1Fu;
    else if (!(c & 0x10)) len = 3, v = c & 0x0Fu;
    else if (!(c & 0x08)) len = 4, v = c & 0x07u;
    else return 0;
    if (n - i < len) return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[i + k] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i + k] & 0x3Fu);
    }
    *cp = v;
    return len;
}

/*
 * Rewrites text as well-formed code points: u gets llama.cpp's view (canonical re-encoding, U+FFFD for bad
 * bytes; surrogate code points kept), m the same with surrogates also as U+FFFD so PCRE2 can match it (equal
 * length, so spans carry over). m->n == 0 when no surrogate occurred (then match on u).
 */
int tok__bpe_sanitize(const char *text, size_t len, tok__buf_t *u, tok__buf_t *m) {
    const unsigned char *s = (const unsigned char *)text;
    static const char fffd[3] = {'\xEF', '\xBF', '\xBD'};
    bool surrogate = false;
    u->n = m->n = 0;
    if (tok__buf_reserve(u, 3 * len + 4)) return ERR_NOMEM; /* a bad byte grows to 3 bytes */
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t l = bpe_decode_lenient(s, i, len, &cp);
        if (l == 0 || cp > 0x10FFFF) {
            memcpy(u->p + u->n, fffd, 3);
            u->n += 3;
            i += l ? l : 1;
            continue;
        }
        if (l == 4 || cp < 0x80 || (cp >= 0xD800 && cp <= 0xDFFF) || l != (cp < 0x800 ? 2u : 3u)) {
            surrogate |= cp >= 0xD800 && cp <= 0xDFFF;
            u->n += tok__utf8_put(cp, u->p + u->n);
        } else {
            memcpy(u->p + u->n, s + i, l); /* already canonical */
            u->n += l;
        }
        i += l;
    }
    if (!surrogate) return 0;
    if (tok__buf_reserve(m, u->n)) return ERR_NOMEM;
    memcpy(m->p, u->p, u->n);
    m->n = u->n;
    for (size_t i = 0; i + 2 < m->n; i++) {
        unsigned char c = (unsigned char)m->p[i];
        if (c == 0xED && (unsigned char)m->p[i + 1] >= 0xA0) memcpy(m->p + i, fffd, 3), i += 2;
    }
    return 0;
}

/* ---------- merging one word ---------- */

typedef struct {
    int32_t prev, next;
    uint32_t off, n; /* in the byte-encoded word; n == 0 once merged away */
} bpe_sym_t;

typedef struct {
    int32_t rank, left, right;
    uint32_t size;
} bpe_pair_t;

typedef struct {
    bpe_sym_t *sym;
    size_t sym_cap;
    bpe_pair_t *heap;
    size_t n_heap, heap_cap;
    tok__buf_t word; /* the byte-encoded word */
} bpe_scratch_t;

static bool bpe_above(const bpe_pair_t *a, const bpe_pair_t *b) {
    if (a->rank != b->rank) return a->rank < b->rank;
    return a->left < b->left;
}

static int bpe_push(bpe_scratch_t *w, bpe_pair_t p) {
    if (w->n_heap == w->heap_cap) {
        size_t c = w->heap_cap ? w->heap_cap * 2 : 64;
        bpe_pair_t *v = realloc(w->heap, c * sizeof *v);
        if (!v) return ERR_NOMEM;
        w->heap = v;
        w->heap_cap = c;
    }
    size_t i = w->n_heap++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!bpe_above(&p, &w->heap[parent])) break;
        w->heap[i] = w->heap[parent];
        i = parent;
    }
    w->heap[i] = p;
    return 0;
}

static bpe_pair_t bpe_pop(bpe_scratch_t *w) {
    bpe_pair_t top = w->heap[0], last = w->heap[--w->n_heap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= w->n_heap) break;
        if (c + 1 < w->n_heap && bpe_above(&w->heap[c + 1], &w->heap[c])) c++;
        if (!bpe_above(&w->heap[c], &last)) break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (w->n_heap > 0) w->heap[i] = last;
    return top;
}

static int bpe_try_pair(const tok_t *t, bpe_scratch_t *w, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return 0;
    const bpe_sym_t *l = &w->sym[left], *r = &w->sym[right];
    int32_t rank = tok__merge_rank(t, w->word.p + l->off, l->n, l->n + r->n);
    if (rank < 0) return 0;
    bpe_pair_t p = {rank, left, right, l->n + r->n};
    return bpe_push(w, p);
}

static int bpe_emit(const tok_t *t, const char *s, uint32_t n, tok__ids_t *out) {
    int32_t id = tok__find(t, s, n);
    if (id >= 0) return tok__ids_push(out, id);
    for (uint32_t j = 0; j < n; j++) {
        id = tok__find(t, s + j, 1);
        if (id >= 0 && tok__ids_push(out, id)) return ERR_NOMEM;
    }
    return 0;
}

/* Encodes one pre-tokenized word (well-formed bytes) and appends its ids. */
static int bpe_word(const tok_t *t, bpe_scratch_t *w, const unsigned char *b, size_t n, tok__ids_t *out) {
    if (n == 0) return 0;
    if (tok__buf_reserve(&w->word, 2 * n) != 0) return ERR_NOMEM;
    if (n > w->sym_cap) {
        bpe_sym_t *s = realloc(w->sym, n * sizeof *s);
        if (!s) return ERR_NOMEM;
        w->sym = s;
        w->sym_cap = n;
    }
    uint32_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t len = (uint32_t)tok__utf8_put(tok__bpe_byte_cp(b[i]), w->word.p + k);
        w->sym[i].off = k;
        w->sym[i].n = len;
        w->sym[i].prev = (int32_t)i - 1;
        w->sym[i].next = i + 1 == n ? -1 : (int32_t)i + 1;
        k += len;
    }
    w->word.n = k;
    if (t->ignore_merges) {
        int32_t id = tok__find(t, w->word.p, k);
        if (id >= 0) return tok__ids_push(out, id);
    }

    int rc;
    w->n_heap = 0;
    for (size_t i = 1; i < n; i++)
        if ((rc = bpe_try_pair(t, w, (int32_t)i - 1, (int32_t)i))) return rc;
    while (w->n_heap > 0) {
        bpe_pair_t p = bpe_pop(w);
        bpe_sym_t *l = &w->sym[p.left], *r = &w->sym[p.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != p.size) continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) w->sym[r->next].prev = p.left;
        if ((rc = bpe_try_pair(t, w, l->prev, p.left))) return rc;
        if ((rc = bpe_try_pair(t, w, p.left, l->next))) return rc;
    }
    for (int32_t i = 0; i >= 0; i = w->sym[i].next)
        if ((rc = bpe_emit(t, w->word.p + w->sym[i].off, w->sym[i].n, out))) return rc;
    return 0;
}

int tok__bpe_encode(const tok_t *t, const char *text, size_t len, tok__ids_t *out) {
    tok__buf_t u = {0}, m = {0};
    tok__spans_t words = {0};
    bpe_scratch_t w = {0};
    int rc = tok__bpe_sanitize(text, len, &u, &m);
    if (rc) goto cleanup;
    if (t->nfc && tok__nfc_needed(u.p, u.n)) {
        tok__buf_t v = {0};
        rc = tok__nfc(u.p, u.n, &v);
        if (rc == 0) {
            m.n = 0;
            rc = tok__bpe_sanitize(v.p, v.n, &u, &m); /* for m: NFC keeps surrogates where they were */
        }
        free(v.p);
        if (rc) goto cleanup;
    }
    rc = tok__pretok_split(t->pre, m.n ? m.p : u.p, u.n, &words);
    if (rc) goto cleanup;
    for (size_t i = 0; i < words.n; i++) {
        rc = bpe_word(t, &w, (const unsigned char *)u.p + words.v[i].off, words.v[i].len, out);
        if (rc) goto cleanup;
    }

cleanup:
    free(u.p);
    free(m.p);
    free(words.v);
    free(w.sym);
    free(w.heap);
    free(w.word.p);
    return rc;
}
