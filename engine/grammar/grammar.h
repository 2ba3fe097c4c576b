/*
 * grammar.h — grammar-constrained decoding: compiled grammars, per-sequence matchers and token masks.
 *
 * Owns: a compiled grammar (gram_t: byte-level rules, immutable once built, plus a lazily filled cache of token
 * sets per parse context — the top frames of a parse, see gram_mask.c), a token trie per vocabulary (gram_vocab_t,
 * built once per tokenizer and shared by every grammar), and per-sequence matchers (gram_matcher_t) that advance byte
 * by byte or token by token. Does not: parse requests (api/ turns a response_format or tool list into a schema and a
 * 400 on error), render chat templates, or sample (sampler.h applies the mask this module fills).
 *
 * Grammars come from three front ends, all in this folder: gram_build.h (a small expression builder: literals,
 * byte classes, sequences, alternatives, bounded repetition, named rules that may recurse), gram_regex.c (a regex
 * subset, for JSON Schema `pattern` and `format`) and gram_schema.c (JSON Schema, OpenAI's Structured Outputs subset).
 *
 * How a sequence uses a grammar (the engine's decode loop; everything below is one thread per sequence):
 *
 *     gram_vocab_t *v;    gram_vocab_create(tok, &v, ...)            once per loaded model, shared
 *     gram_t *g;          gram_from_schema(json, &opts, &g, ...)      once per request (n choices share it)
 *     gram_matcher_t *m;  gram_matcher_create(g, v, NULL, &m, ...)    one per sequence, owned by the sequence
 *     per step:
 *         id = sampler_propose(smp, logits);                    sample as if unconstrained (the fast path)
 *         if (gram_matcher_allows(m, id)) sampler_accept(smp, id);
 *         else { gram_matcher_fill_mask(m, mask); id = sampler_sample_masked(smp, logits, mask); }
 *         gram_matcher_accept(m, id);                            advance (cannot fail for an allowed id, except
 *                                                               ERR_LIMIT at the run-time caps: end the sequence)
 *         stop when gram_matcher_done(m) (end of sequence accepted, or nothing but one may follow: the engine
 *         ends the sequence as if EOS had been sampled, finish_reason "stop")
 *
 * sampler_propose draws as if unconstrained and records nothing; see sampler.h for when that fast path equals
 * masked sampling. A step that must fill the mask costs (quick measurements on a loaded 2-core machine, Qwen3's
 * 151,936-token vocabulary, a 9-property schema, random walks, tests/bench/bench_grammar.c): ~3 us at the median,
 * ~10 us on average and ~30 us at p99 when the parse context is cached; the first visit of a context costs
 * ~0.25 ms at the median, up to tens of ms for the first string of a grammar (a trie walk; about 0.4 s per
 * grammar in all for that schema — share compiled grammars with gram_retain where requests repeat a schema);
 * one uncached trie walk per step would cost ~16 ms, checking every token one by one ~11 ms.
 *
 * `mask` is uint32_t[gram_mask_words(n_vocab)]: bit (id & 31) of word (id >> 5) is set when token id may come
 * next. Inside an active grammar the mask allows exactly the tokens whose bytes are a viable continuation and,
 * when the grammar is complete, the end-of-generation tokens (tok_is_eog). Control tokens and tokens with no
 * bytes are never allowed inside a grammar; user-defined tokens (Qwen's <tool_call>, <think>) count as their
 * text, so a grammar that spells "</tool_call>" admits that token. A lazy matcher (gram_lazy_t) allows everything until
 * a trigger token or text has been generated; then the grammar applies to what follows the trigger.
 *
 * Threads: gram_vocab_t and gram_t are safe to share between threads once built (gram_t's position cache is
 * filled under its own mutex). A gram_matcher_t is used by one thread at a time. The grammar and the vocab must
 * outlive every matcher made from them.
 *
 * Limits (user input cannot make any of them grow without an error): GRAM_MAX_* below. Exceeding one at compile
 * time fails with ERR_LIMIT and a message; at run time a parse that would nest deeper than GRAM_MAX_DEPTH or keep
 * more than GRAM_MAX_STACKS ambiguous parses is refused (that continuation is masked out), never a crash.
 *
 * Return codes (common/err.h): 0, ERR_INVAL (NULL or malformed arguments), ERR_FORMAT (a schema or regex that is
 * not what it claims to be), ERR_UNSUPPORTED (a keyword or regex feature outside the subset: err names it),
 * ERR_LIMIT (a cap above), ERR_NOMEM, ERR_STATE (a token the grammar does not allow).
 */
#ifndef CINDER_GRAMMAR_H
#define CINDER_GRAMMAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer/tokenizer.h"

#define GRAM_MAX_RULES  (1u << 18) /* rules after lowering (named and anonymous) */
#define GRAM_MAX_ELEMS  (1u << 21) /* grammar elements after lowering (about one per byte class in a sequence) */
#define GRAM_MAX_NODES  (1u << 21) /* expression nodes while building */
#define GRAM_MAX_REPEAT 10000u     /* the largest finite repetition bound ({n,m}, minLength, maxItems, ...) */
#define GRAM_MAX_DEPTH  2048u      /* nested rule frames of one parse at run time */
#define GRAM_MAX_STACKS 1024u      /* simultaneous ambiguous parses at run time */
#define GRAM_REPEAT_INF UINT32_MAX /* an unbounded repetition's max */

typedef struct gram gram_t;
typedef struct gram_vocab gram_vocab_t;
typedef struct gram_matcher gram_matcher_t;

/* ---- vocabularies ---------------------------------------------------------------------------------------- */

/*
 * Builds the token trie of t's vocabulary: every token that is not an end-of-generation token and has a non-empty
 * piece, keyed by its bytes; control tokens by their text (tok_piece with render_special), so a grammar can spell a
 * tool-call marker such as "[TOOL_CALLS]" and the engine renders those tokens' text whenever a grammar is active. Costs one sort of the
 * vocabulary (tens of ms for 150k tokens); about 12 bytes per trie node plus the pieces. t is borrowed for the
 * call only. Returns 0 and *out (free with gram_vocab_free), ERR_INVAL or ERR_NOMEM.
 */
int gram_vocab_create(const tok_t *t, gram_vocab_t **out, char *err, size_t err_len);

void gram_vocab_free(gram_vocab_t *v);

/* Words of a mask for n_vocab tokens: ceil(n_vocab / 32). */
static inline size_t gram_mask_words(int32_t n_vocab) { return n_vocab > 0 ? ((size_t)n_vocab + 31) / 32 : 0; }

int32_t gram_vocab_n_vocab(const gram_vocab_t *v);

/* The bytes of token id as the grammar sees them (*n = 0 for tokens outside the trie: EOG, empty), or
   NULL for an id out of range. Owned by v. */
const uint8_t *gram_vocab_bytes(const gram_vocab_t *v, int32_t id, size_t *n);

/* ---- compiled grammars ----------------------------------------------------------------------------------- */

/* Drops one reference; the last one frees the grammar and its cache. gram_free(NULL) is a no-op. No matcher
   may use a freed grammar. */
void gram_free(gram_t *g);

/* Adds a reference (a compiled grammar starts with one), for grammars shared between requests, e.g. a cache of
   compiled schemas keyed by their text: each user calls gram_free when done. Any thread. Returns g. */
gram_t *gram_retain(gram_t *g);

/* Rules, elements and live cache entries, for tests and logs. */
typedef struct {
    uint32_t n_rules;
    uint32_t n_elems;
    uint32_t n_sets;
    uint32_t n_cached; /* positions whose token sets are cached */
} gram_stats_t;

void gram_stats(const gram_t *g, gram_stats_t *out);

/*
 * Compiles a regex (see gram_regex.c for the subset) into a grammar over raw bytes: the whole input must match
 * (anchors ^ and $ are accepted and implied). For JSON string contents use gram_from_schema with `pattern`.
 */
int gram_from_regex(const char *re, size_t len, gram_t **out, char *err, size_t err_len);

/* Options of the JSON Schema compiler. */
typedef struct {
    uint32_t ws_max; /* whitespace bytes allowed at each place JSON allows them (0..64); default 16 */
    bool any_object; /* ignore the schema: any JSON object (response_format json_object) */
    bool strict;     /* also enforce OpenAI's strict-mode rules (ERR_UNSUPPORTED naming the rule and place): the
                        root is a `type: "object"` schema, every object sets additionalProperties: false and
                        lists every property in `required` */
} gram_schema_opts_t;

gram_schema_opts_t gram_schema_default_opts(void);

/*
 * Compiles a JSON Schema (len bytes of JSON text) into a grammar whose documents are the JSON texts that schema
 * accepts (see gram_schema.c for the keywords, what is exact and where the grammar is narrower than the schema).
 * A keyword outside the subset fails with ERR_UNSUPPORTED and err like "unsupported keyword 'allOf' at
 * /properties/a"; malformed JSON or a keyword of the wrong type fails with ERR_FORMAT. opts may be NULL.
 */
int gram_from_schema(const char *json, size_t len, const gram_schema_opts_t *opts, gram_t **out, char *err,
                     size_t err_len);

/* ---- matchers ---------------------------------------------------------------------------------------------- */

/*
 * Lazy grammars: free text until a trigger, then the grammar. Either list may be empty (not both). A quiet region
 * (optional) is text in which triggers do not count: from quiet_open to quiet_close (e.g. a model's "<think>" and
 * "</think>", as texts, and as single tokens when the tags are control tokens: quiet_tokens {open id, close id}
 * with n_quiet_tokens 2), and from the start when quiet_at_start (a prompt that opened the thought itself).
 */
typedef struct {
    const char *const *texts; /* n_texts NUL-terminated trigger strings (e.g. "<tool_call>"), borrowed */
    size_t n_texts;
    const int32_t *tokens; /* n_tokens trigger token ids (e.g. the id of "<tool_call>"), borrowed */
    size_t n_tokens;
    const char *quiet_open, *quiet_close; /* both or neither; borrowed */
    int32_t quiet_tokens[2];
    size_t n_quiet_tokens; /* 0 or 2 */
    bool quiet_at_start;
} gram_lazy_t;

/*
 * Makes a matcher at the start of g. v may be NULL for a byte-level matcher (gram_matcher_accept_bytes and the
 * state queries only; no tokens, masks or lazy triggers). With lazy != NULL the matcher waits for a trigger: a trigger
 * token, or the generated bytes containing a trigger text; the grammar then starts right after the trigger (the bytes
 * of the same token after the trigger text are its first input). lazy is copied. v must be the vocabulary every call
 * will use; the first matcher binds g's cache to v and a matcher for another vocabulary fails with ERR_INVAL.
 * Returns 0 and *out (free with gram_matcher_free), ERR_INVAL, ERR_LIMIT (a trigger longer than 256 bytes or more
 * than 64 triggers) or ERR_NOMEM.
 */
int gram_matcher_create(const gram_t *g, const gram_vocab_t *v, const gram_lazy_t *lazy, gram_matcher_t **out,
                        char *err, size_t err_len);

void gram_matcher_free(gram_matcher_t *m);

/* Back to the state gram_matcher_create made (lazy matchers wait for a trigger again). Keeps its memory. */
void gram_matcher_reset(gram_matcher_t *m);

/* Copies src's state into dst (same grammar, vocabulary and lazy triggers; e.g. for n choices sharing a
   prompt). Returns 0, ERR_INVAL (different grammar or vocabulary) or ERR_NOMEM. */
int gram_matcher_copy(gram_matcher_t *dst, const gram_matcher_t *src);

/* True while a lazy matcher waits for its trigger (everything allowed). */
bool gram_matcher_waiting(const gram_matcher_t *m);

/* True while the next byte may be most of the 256 (a lazy matcher waiting, or a parse inside free text such as a
   JSON string's characters), when most tokens are allowed and a proposal from the whole vocabulary rarely fails;
   false at a document's structure, where few tokens are allowed. A function of the parse alone (not of the mask
   cache), so callers may choose their sampling order by it and keep seeded outputs reproducible. */
bool gram_matcher_broad(const gram_matcher_t *m);

/* True when the bytes so far form a complete document of the grammar (end of generation is allowed). */
bool gram_matcher_accepting(const gram_matcher_t *m);

/* True when nothing but end of generation may follow (the grammar is complete and no byte can extend it), or an
   end-of-generation token was accepted. */
bool gram_matcher_done(const gram_matcher_t *m);

/* Whether token id may come next (the fast path: one token, no state change). */
bool gram_matcher_allows(gram_matcher_t *m, int32_t id);

/*
 * Advances by token id. Returns 0, ERR_STATE when id is not allowed (the matcher is unchanged), ERR_RANGE for an
 * id out of range, ERR_LIMIT when the parse outgrew GRAM_MAX_DEPTH / GRAM_MAX_STACKS (the matcher is unchanged).
 * Accepting an end-of-generation token while the grammar is complete makes the matcher done.
 */
int gram_matcher_accept(gram_matcher_t *m, int32_t id);

/* Advances by raw bytes (e.g. a forced prefix); same returns as gram_matcher_accept. For an active grammar only
   (a waiting lazy matcher scans them for a trigger first). */
int gram_matcher_accept_bytes(gram_matcher_t *m, const void *bytes, size_t n);

/*
 * Fills mask (gram_mask_words(n_vocab) words) with the tokens that may come next. Uses g's per-position cache
 * (computed on first use, then shared) and checks only the context-dependent tokens against the full parse.
 * Returns 0, or ERR_NOMEM (the mask then allows nothing). Never allows nothing otherwise: a grammar either has a
 * continuation or is complete (then the EOG tokens are allowed).
 */
int gram_matcher_fill_mask(gram_matcher_t *m, uint32_t *mask);

/* The same mask by walking the whole trie from the full parse state, without the cache: the reference the
   cached path is tested against, and the fallback for huge parse states. */
int gram_matcher_fill_mask_nocache(gram_matcher_t *m, uint32_t *mask);

#endif
