/*
 * tok_internal.h — what the tokenizer's files share: the tok_t layout, token attributes, the hash tables, the
 * growable scratch vectors, and the entry points of the SPM, BPE and pre-tokenizer parts.
 *
 * Owns nothing itself. Not for use outside engine/tokenizer/ (and the tokenizer's unit test).
 *
 * Files: tokenizer.c (load, special tokens, partition, encode dispatch), tok_spm.c (SentencePiece-style merges),
 * tok_bpe.c (byte-level BPE: byte alphabet, merge ranks), tok_pretok.c (pre-tokenizer regexes, PCRE2),
 * tok_nfc.c (NFC normalisation; tables in the generated tok_nfc_data.c), tok_wpm.c (WordPiece for BERT
 * vocabularies; tables in the generated tok_wpm_data.c), tok_detok.c (pieces, decode, streaming UTF-8).
 *
 * Threads: everything reachable from a tok_t is read-only after tok_load; the scratch vectors belong to one call.
 */
#ifndef CINDER_TOK_INTERNAL_H
#define CINDER_TOK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"

/* Token attributes, a bit set (a token can gain CONTROL or UNUSED on top of its stored type, as in llama.cpp). */
enum {
    TOK__ATTR_UNKNOWN = 1u << 0,
    TOK__ATTR_UNUSED = 1u << 1,
    TOK__ATTR_NORMAL = 1u << 2,
    TOK__ATTR_CONTROL = 1u << 3,
    TOK__ATTR_USER_DEFINED = 1u << 4,
    TOK__ATTR_BYTE = 1u << 5,
    TOK__ATTR_LSTRIP = 1u << 6, /* partitioning eats whitespace before the token's text */
    TOK__ATTR_RSTRIP = 1u << 7, /* ... and after it */
    TOK__ATTR_EOG = 1u << 8,    /* ends generation (not a GGUF attribute: our own mark) */
};

/* Tokens that take part in special-token partitioning (llama.cpp's cache_special_tokens). */
#define TOK__ATTR_SPECIAL (TOK__ATTR_CONTROL | TOK__ATTR_USER_DEFINED | TOK__ATTR_UNKNOWN)

typedef enum { TOK__SPM = 1, TOK__BPE = 2, TOK__WPM = 3 } tok__kind_t;

/* Open-addressing hash index of int32 entries keyed by byte strings the owner knows how to compare. */
typedef struct {
    int32_t *slot;  /* (mask + 1) entries, -1 = empty */
    uint32_t *hash; /* (mask + 1) the entry's hash, for a cheap first comparison */
    uint32_t mask;  /* capacity - 1, capacity a power of two >= 2 * entries */
} tok__table_t;

/* One node of the byte trie over special-token texts (first-child / next-sibling). */
typedef struct {
    int32_t child;   /* first child node, -1 none */
    int32_t sibling; /* next sibling node, -1 none */
    int32_t special; /* index into tok_t.special of the token ending here, -1 none */
    uint8_t byte;
} tok__trie_t;

typedef struct tok__pretok tok__pretok_t;

struct tok {
    tok__kind_t kind;
    int32_t n_vocab;

    char *text;         /* every token's text, each NUL-terminated */
    uint32_t *text_off; /* (n_vocab + 1) token i's text is text + text_off[i], text_off[i+1] - text_off[i] - 1 long */
    char *piece;        /* every token's bytes as tok_piece renders them with render_special (not terminated) */
    uint32_t *piece_off; /* (n_vocab + 1) */
    float *score;       /* (n_vocab) SPM merge priority; 0 when the file has none */
    uint16_t *attr;     /* (n_vocab) TOK__ATTR_* */
    tok__table_t vocab; /* text -> id; a later duplicate text wins, as in llama.cpp's map */

    /* BPE merges: merge r joins left and right, stored as one string left+right (no separator). */
    char *merge_text;
    uint32_t *merge_off;  /* (n_merges + 1) */
    uint32_t *merge_llen; /* (n_merges) bytes of the left part */
    int32_t n_merges;
    tok__table_t merges; /* (left+right, llen) -> rank; the first of duplicate merges wins */

    int32_t bos, eos, eot, eom, unk; /* -1 = none */
    int32_t sep;                     /* WPM: the separator ([SEP]) closing an input, -1 = none */
    bool add_bos, add_eos, add_sep, add_space_prefix, ignore_merges;
    bool wpm_lowercase, wpm_strip_accents; /* WPM: the BERT normaliser's options */
    size_t wpm_max_len;                    /* WPM: the longest token text (bytes) */
    bool nfc; /* BPE: each text run is put in Unicode NFC before pre-tokenization (Qwen's normalizer) */

    int32_t *special; /* ids of TOK__ATTR_SPECIAL tokens, longest text first (ties: lower id first) */
    int32_t n_special;
    tok__trie_t *trie; /* over the special texts, for finding which occur in an input */
    int32_t n_trie;
    int32_t trie_root[256]; /* first-level node per byte, -1 none */

    int32_t byte_tok[256]; /* SPM: the <0xXX> token (or the one-byte token) of each byte, -1 none */

    tok__pretok_t *pre; /* BPE only */
    char pre_name[64];
    bool pre_fallback;

    size_t max_piece; /* bytes */
};

/* A growable array of ids (the encoder's output). */
typedef struct {
    int32_t *v;
    size_t n, cap;
} tok__ids_t;

/* A byte range of some buffer. */
typedef struct {
    size_t off, len;
} tok__span_t;

typedef struct {
    tok__span_t *v;
    size_t n, cap;
} tok__spans_t;

/* A growable byte buffer. */
typedef struct {
    char *p;
    size_t n, cap;
} tok__buf_t;

int tok__ids_push(tok__ids_t *o, int32_t id);
int tok__spans_push(tok__spans_t *s, size_t off, size_t len);
int tok__buf_reserve(tok__buf_t *b, size_t cap); /* makes b->cap >= cap; ERR_NOMEM */

/* Allocates an empty index sized for n entries (all slots -1). ERR_NOMEM. */
int tok__table_init(tok__table_t *tb, size_t n);

/* Hash of n bytes (seeded, so the same bytes can be keyed differently). */
uint32_t tok__hash(const void *p, size_t n, uint64_t seed);

/* The id of the token whose text is exactly s[0..n), or -1. */
int32_t tok__find(const tok_t *t, const char *s, size_t n);

/* The rank of the merge (left = s[0..llen), right = s[llen..n)), or -1. */
int32_t tok__merge_rank(const tok_t *t, const char *s, size_t llen, size_t n);

/* Length of the UTF-8 sequence a lead byte announces (1 for continuation and invalid bytes), as llama.cpp's
   unicode_len_utf8: by the top four bits. */
static inline size_t tok__utf8_len(unsigned char c) {
    static const unsigned char lookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lookup[c >> 4];
}

/* Writes cp (<= 0x10FFFF, surrogates allowed) as UTF-8 into o (>= 4 bytes); returns the byte count. */
size_t tok__utf8_put(uint32_t cp, char *o);

/* --- tok_spm.c --- */

/* Appends the SPM ids of one text run (raw bytes; spaces are escaped to '▁' here, and one '▁' is prefixed when
   prefix_space). ERR_NOMEM. */
int tok__spm_encode(const tok_t *t, const char *text, size_t len, bool prefix_space, tok__ids_t *out);

/* --- tok_bpe.c --- */

/* The GPT-2 byte alphabet: byte b stands for code point tok__bpe_byte_cp(b). */
uint32_t tok__bpe_byte_cp(unsigned char b);

/* The byte a code point of the GPT-2 alphabet stands for, or -1 when cp is not in it. */
int tok__bpe_cp_byte(uint32_t cp);

/* Copies the `tokenizer.ggml.merges` strings into t and builds the rank index. ERR_FORMAT / ERR_NOMEM. */
int tok__bpe_load_merges(tok_t *t, const gguf_arr_t *merges, char *err, size_t err_len);

/* Reads text as llama.cpp's unicode_cpts_from_utf8 does and writes it back as UTF-8 into u: a byte that does not
   start a complete sequence (and a code point above U+10FFFF) becomes U+FFFD, overlong forms are shortened,
   surrogate code points are kept. m gets the same with surrogates as U+FFFD (for PCRE2), or m->n == 0 when
   there were none. ERR_NOMEM. */
int tok__bpe_sanitize(const char *text, size_t len, tok__buf_t *u, tok__buf_t *m);

/* Appends the BPE ids of one text run (raw bytes: sanitised to UTF-8, pre-tokenized, byte-encoded, merged).
   ERR_NOMEM / ERR_LIMIT. */
int tok__bpe_encode(const tok_t *t, const char *text, size_t len, tok__ids_t *out);

/* --- tok_wpm.c --- */

/* Appends the WordPiece ids of one text run (raw bytes: normalised, split into words, matched longest first).
   ERR_NOMEM. */
int tok__wpm_encode(const tok_t *t, const char *text, size_t len, tok__ids_t *out);

/* --- tok_pretok.c --- */

/*
 * Looks up a `tokenizer.ggml.pre` name (NULL or unknown: llama.cpp's default regexes, *fallback true when a name
 * was given but not known) and compiles its regexes. *ignore_merges / *add_bos get the name's defaults (llama.cpp:
 * whole-word lookup before merging; BOS by default); *no_bos is set for names whose BOS default is "none"; *nfc
 * for the names whose Hugging Face tokenizer normalises to NFC first (Qwen's).
 */
int tok__pretok_create(const char *name, tok__pretok_t **out, bool *fallback, bool *ignore_merges, bool *add_bos,
                       bool *no_bos, bool *nfc, char *err, size_t err_len);
void tok__pretok_free(tok__pretok_t *p);

/*
 * Splits text[0..len) (well-formed UTF-8 without surrogates) into words as llama.cpp's unicode_regex_split does:
 * each regex in turn splits every piece of the previous one into its matches and the gaps between them.
 * Appends the words' spans (offsets into text) to words. ERR_NOMEM / ERR_LIMIT.
 */
int tok__pretok_split(const tok__pretok_t *p, const char *text, size_t len, tok__spans_t *words);

/* --- tok_nfc.c --- */

/* True when text may change under NFC (it has a code point of U+0300 or above); false means it is NFC. */
bool tok__nfc_needed(const char *text, size_t len);

/* Writes the NFC form of text[0..len) (well-formed UTF-8, surrogate code points allowed and kept) into out
   (replacing its contents). ERR_NOMEM. */
int tok__nfc(const char *text, size_t len, tok__buf_t *out);

/* tok_nfc_data.c (generated by scripts/gen_nfc_tables.py): sorted by code point. */
extern const char tok__nfc_unicode_version[];
extern const uint32_t tok__nfc_ccc[];       /* (cp << 8) | canonical combining class, classes != 0 only */
extern const uint32_t tok__nfc_n_ccc;
extern const uint32_t tok__nfc_decomp[][2]; /* {cp, (pool offset << 3) | length}: full canonical decomposition */
extern const uint32_t tok__nfc_n_decomp;
extern const uint32_t tok__nfc_pool[];
extern const uint32_t tok__nfc_comp[][3]; /* {a, b, composite}, sorted by (a, b) */
extern const uint32_t tok__nfc_n_comp;

/* --- tok_detok.c --- */

/* Computes every token's piece into t->piece / t->piece_off and t->max_piece. ERR_NOMEM / ERR_FORMAT. */
int tok__build_pieces(tok_t *t, char *err, size_t err_len);

#endif
