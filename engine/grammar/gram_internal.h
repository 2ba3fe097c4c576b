/*
 * gram_internal.h — the data shared by the files of engine/grammar/ (not for other modules).
 *
 * A compiled grammar is a flat array of elements. Each rule has alternatives; an alternative is a run of
 * elements ending in GE_END. Element kinds: GE_SET (match one byte of a byte class), GE_REF (enter a rule),
 * GE_END (the alternative is over: return to the caller). Positions 0 and 1 hold [REF root, END], the start.
 *
 * A parse is a stack of frames kept as persistent nodes {pos, parent}: the top node's pos is the GE_SET element
 * the parse waits at, each parent node holds the position to continue at when the frame below it ends. Parses
 * share their lower frames. A set of parses (the grammar may be ambiguous) is an array of top node indices;
 * GM_END stands for "the bottom frame ended": the document is complete (matcher) or the frame handed control
 * back to an unknown caller (cache computation).
 */
#ifndef CINDER_GRAM_INTERNAL_H
#define CINDER_GRAM_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "gram_build.h"
#include "grammar.h"

#define GE_END             0u
#define GE_SET             1u
#define GE_REF             2u
#define GE_MAKE(type, arg) (((uint32_t)(type) << 30) | (uint32_t)(arg))
#define GE_TYPE(e)         ((e) >> 30)
#define GE_ARG(e)          ((e)&0x3fffffffu)

#define GM_NONE UINT32_MAX       /* no parent: the bottom frame */
#define GM_END  (UINT32_MAX - 1) /* a top meaning "the bottom frame ended" */

#define GRAM_CACHE_BASE   2 /* frames a full trie walk classifies tokens under (see gram_mask.c) */
#define GRAM_CACHE_FRAMES 6 /* frames the uncertain tokens are refined under, one more per level */

/* A cached token set of the top n_frames frames of a parse (see gram_mask.c). A base entry (n_frames <=
   GRAM_CACHE_BASE) holds its accepted tokens in the smallest of three forms: ids holds n_list sorted accepted
   ids, or (list_is_rejected) the rejected ids, or (bits != NULL) n_list is 0 and bits is the accepted set as a
   mask. A refined entry (one more frame than the entry it refines) lists the tokens it newly accepts. Then come
   n_unc sorted context-dependent ids. */
typedef struct {
    uint32_t key[GRAM_CACHE_FRAMES]; /* the frames' positions, top first; UINT32_MAX past n_frames */
    uint32_t n_frames;
    uint32_t n_list;
    uint32_t n_unc;
    bool list_is_rejected;
    uint32_t *bits; /* (mask words) or NULL; points into this allocation after ids */
    int32_t ids[];
} gram_centry_t;

struct gram {
    _Atomic uint32_t refs; /* gram_retain / gram_free */
    uint32_t *elems;       /* (n_elems) GE_MAKE(kind, arg) */
    uint32_t n_elems;
    gram_set_t *sets; /* (n_sets) byte classes of GE_SET elements */
    uint32_t n_sets;
    uint32_t n_rules;
    uint32_t *rule_alt; /* (n_rules + 1) rule r's alternatives are alts[rule_alt[r] .. rule_alt[r + 1]) */
    uint32_t *alts;     /* start positions of the alternatives that can finish */

    pthread_mutex_t mu;        /* guards the fields below */
    const gram_vocab_t *vocab; /* the vocabulary the cache is for (the first matcher's) */
    gram_centry_t **cache;     /* (cache_cap) open-addressing table by key, NULL = empty slot */
    uint32_t cache_cap;
    uint32_t n_cached;
};

/* One trie node in preorder; children follow their parent, node `end` is the first after its subtree. */
typedef struct {
    uint32_t end;    /* index of the first node after this subtree */
    uint32_t tok_lo; /* this node's tokens are toks[tok_lo .. next node's tok_lo); the subtree's end at end's */
    uint16_t depth;  /* bytes from the root (the root is 0) */
    uint8_t byte;    /* the byte leading here from the parent */
} gram_tnode_t;

struct gram_vocab {
    int32_t n_vocab;
    uint32_t *off; /* (n_vocab + 1) token id's bytes are bytes[off[id] .. off[id + 1]) (empty: not in the trie) */
    uint8_t *bytes;
    gram_tnode_t *trie; /* (n_trie + 1) node 0 is the root; node n_trie is a sentinel (tok_lo = n_toks) */
    uint32_t n_trie;
    int32_t *toks; /* (n_toks) token ids in trie preorder */
    uint32_t n_toks;
    int32_t *eog; /* (n_eog) end-of-generation ids */
    uint32_t n_eog;
    uint32_t max_len;    /* longest token in the trie, bytes */
    uint32_t *trie_bits; /* (mask words) the tokens in the trie */
};

/* ---- parse stacks (gram_match.c) ---------------------------------------------------------------------- */

typedef struct {
    uint32_t pos;
    uint32_t parent;
    uint32_t depth; /* frames from the bottom, 1 for a bottom frame */
} gm_node_t;

typedef struct {
    uint64_t key;
    uint32_t val;
    uint32_t stamp;
} gm_slot_t;

/* Node storage plus the scratch an advance needs. Grows on demand (the only allocations after create). */
typedef struct {
    gm_node_t *nodes;
    uint32_t n, cap;
    uint32_t *work; /* closure worklist: (pos, parent) pairs */
    uint32_t n_work, cap_work;
    gm_slot_t *map; /* hash-consing of nodes and visited closure items, cleared per step by stamp */
    uint32_t map_cap, map_used, stamp;
    bool overflow; /* a parse hit GRAM_MAX_DEPTH or GRAM_MAX_STACKS and was dropped */
    bool nomem;
} gm_arena_t;

void gm_arena_free(gm_arena_t *a);

/* Starts a step: clears the per-step map. */
void gm_step_begin(gm_arena_t *a);

/* Closes (pos, parent) over rule entries and frame ends and appends the resulting tops to out (deduplicated;
   at most GRAM_MAX_STACKS). Returns 0 or ERR_NOMEM. */
int gm_close(const gram_t *g, gm_arena_t *a, uint32_t pos, uint32_t parent, uint32_t *out, uint32_t *n_out);

/* One byte: for each top in in[0..n_in) whose class holds c, the closure of the next position. out must hold
   GRAM_MAX_STACKS entries. Returns 0 or ERR_NOMEM. Calls gm_step_begin itself. */
int gm_advance(const gram_t *g, gm_arena_t *a, const uint32_t *in, uint32_t n_in, uint8_t c, uint32_t *out,
               uint32_t *n_out);

/* True when some top in set is not GM_END (the parse can consume more bytes). */
bool gm_has_live(const uint32_t *set, uint32_t n);

/* ---- matcher internals shared with gram_mask.c (gram_match.c) ------------------------------------------- */

gram_t *gm__grammar(gram_matcher_t *m);
const gram_vocab_t *gm__vocab(gram_matcher_t *m);
gm_arena_t *gm__arena(gram_matcher_t *m);
const uint32_t *gm__tops(gram_matcher_t *m, uint32_t *n); /* the current parse set */
uint32_t *gm__row(gram_matcher_t *m);                     /* a scratch mask row */
bool gm__done(gram_matcher_t *m);
uint32_t *gm__lvl(gram_matcher_t *m, size_t need); /* scratch of at least need entries, NULL: no memory */
int gm__start_set(gram_matcher_t *m, uint32_t *dst, uint32_t *n);
bool gm__is_trigger_token(const gram_matcher_t *m, int32_t id);
size_t gm__trigger_end(const gram_matcher_t *m, const uint8_t *bytes, size_t n);
/* Whether bytes can follow the parse set in[0..n_in) (the arena is rolled back). */
bool gm__viable(gram_matcher_t *m, const uint32_t *in, uint32_t n_in, const uint8_t *bytes, size_t n);

/* ---- JSON building blocks (gram_json.c) ---------------------------------------------------------------- */

/* Shared nodes of one JSON grammar under construction, made on first use (GRAM_NONE until then). */
typedef struct {
    gram_builder_t *b;
    uint32_t ws_max; /* whitespace bytes allowed at each place */
    uint32_t ws, chr, string, number, integer, value, object_any;
} gj_t;

void gj_init(gj_t *j, gram_builder_t *b, uint32_t ws_max);
uint32_t gj_ws(gj_t *j);                                 /* [ \t\n\r]{0,ws_max} */
uint32_t gj_char(gj_t *j);                               /* one character inside a JSON string (raw or escaped) */
uint32_t gj_string(gj_t *j, uint32_t min, uint32_t max); /* a string of min..max characters */
uint32_t gj_number(gj_t *j);                             /* any JSON number */
uint32_t gj_integer(gj_t *j);                            /* any integer: -?(0|[1-9][0-9]*) */
uint32_t gj_value(gj_t *j);                              /* any JSON value (a recursive rule) */
uint32_t gj_object_any(gj_t *j);                         /* any JSON object */
/* Integers in [lo, hi] exactly (a missing side is unbounded). |bounds| <= GJ_MAX_BOUND. */
uint32_t gj_int_range(gj_t *j, bool has_lo, int64_t lo, bool has_hi, int64_t hi);
/* Decimal numbers (no exponent) in [lo, hi] exactly, for integer lo / hi. */
uint32_t gj_num_range(gj_t *j, bool has_lo, int64_t lo, bool has_hi, int64_t hi);
/* The separator between members or items: ws ',' ws. */
uint32_t gj_comma(gj_t *j);

#define GJ_MAX_BOUND 9000000000000000LL /* numeric bounds beyond +-9e15 are refused (doubles stop being exact) */

/* ---- caches (gram_mask.c) ------------------------------------------------------------------------------ */

void gram__cache_free(gram_t *g);

#endif
