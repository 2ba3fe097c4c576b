/*
 * gram_build.h — building a grammar as expressions: byte literals, byte classes, sequences, alternatives,
 * bounded repetition and named rules (which may refer to each other and recurse), then compiling it.
 *
 * Owns: the expression nodes of one grammar under construction (gram_builder_t). gram_build_compile lowers them
 * into a gram_t: every alternative nested inside a sequence and every repetition becomes an anonymous rule, byte
 * classes are deduplicated, and the rules are checked (no left recursion: a rule that can reach itself without
 * consuming a byte; rules that can never finish are removed, and a root that can never finish is an error).
 * Does not: parse a text grammar format. gram_regex.c and gram_schema.c are its two users in this folder; the
 * API layer can use it to wrap schemas in a tool-call format, e.g. for Hermes/Qwen with two tools:
 *
 *     uint32_t call_a = gram_seqv(b, 3, gram_str(b, "{\"name\": \"get_weather\", \"arguments\": "),
 *                                 gram_schema_expr(b, params_a, len_a, NULL), gram_str(b, "}"));
 *     uint32_t call_b = ...;
 *     uint32_t call = gram_seqv(b, 3, gram_str(b, "\n"), gram_altv(b, 2, call_a, call_b), gram_str(b,
 * "\n</tool_call>")); gram_rule_define(b, GRAM_ROOT, call);     then gram_build_compile, and a lazy matcher on
 * "<tool_call>"
 *
 * (parallel calls: gram_repeat over "<tool_call>" call, as the format writes them).
 *
 * Errors are sticky: a failing call (over a limit, out of memory) records the first error and returns
 * GRAM_NONE; every later call taking GRAM_NONE returns GRAM_NONE; gram_build_compile reports the recorded
 * error. Callers can therefore build a whole expression and check once.
 *
 * Threads: a builder is used by one thread.
 */
#ifndef CINDER_GRAM_BUILD_H
#define CINDER_GRAM_BUILD_H

#include <stdarg.h>

#include "grammar.h"

#define GRAM_NONE UINT32_MAX /* "no node": the result of a failed call */

typedef struct gram_builder gram_builder_t;

/* A set of bytes: bit (b & 31) of word (b >> 5). */
typedef struct {
    uint32_t w[8];
} gram_set_t;

static inline void gram_set_add(gram_set_t *s, unsigned b) { s->w[(b >> 5) & 7] |= 1u << (b & 31); }
static inline void gram_set_add_range(gram_set_t *s, unsigned lo, unsigned hi) {
    for (unsigned b = lo; b <= hi && b < 256; b++)
        gram_set_add(s, b);
}
static inline bool gram_set_has(const gram_set_t *s, unsigned b) { return (s->w[(b >> 5) & 7] >> (b & 31)) & 1u; }

/* A new builder with rule 0 (the root) declared and undefined. Returns NULL when out of memory. */
gram_builder_t *gram_build_new(void);

void gram_build_free(gram_builder_t *b);

/* The first error recorded (0 if none), and its message (never NULL). */
int gram_build_error(const gram_builder_t *b);
const char *gram_build_error_msg(const gram_builder_t *b);

/* Records an error (the first one wins) and returns GRAM_NONE. */
uint32_t gram_build_fail(gram_builder_t *b, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Expressions. Node ids are builder-local; a node may be used in several places (it is shared, not copied). */
uint32_t gram_empty(gram_builder_t *b);                               /* matches "" */
uint32_t gram_bytes(gram_builder_t *b, const void *bytes, size_t n);  /* exactly these bytes */
uint32_t gram_str(gram_builder_t *b, const char *s);                  /* gram_bytes of a C string */
uint32_t gram_set(gram_builder_t *b, const gram_set_t *set);          /* one byte of the set (none: fails to match) */
uint32_t gram_seq(gram_builder_t *b, const uint32_t *kids, size_t n); /* kids in order */
uint32_t gram_alt(gram_builder_t *b, const uint32_t *kids, size_t n); /* any one of kids */
uint32_t gram_seqv(gram_builder_t *b, size_t n, ...);                 /* gram_seq of n uint32_t arguments */
uint32_t gram_altv(gram_builder_t *b, size_t n, ...);                 /* gram_alt of n uint32_t arguments */
uint32_t gram_repeat(gram_builder_t *b, uint32_t kid, uint32_t min, uint32_t max); /* kid{min,max}; max may be
                                                                                     GRAM_REPEAT_INF */

/* Rules: declare (returns a rule id), refer to it (a node, usable before the rule is defined), define it once. */
uint32_t gram_rule_new(gram_builder_t *b);
uint32_t gram_ref(gram_builder_t *b, uint32_t rule);
void gram_rule_define(gram_builder_t *b, uint32_t rule, uint32_t node);

/* Rule 0 is the root. */
#define GRAM_ROOT 0u

/*
 * Lowers the rules into a compiled grammar and checks them (see above). Every declared rule must be defined.
 * Returns 0 and *out (free with gram_free), or the builder's recorded error, ERR_FORMAT (an undefined rule, left
 * recursion, a root that never finishes), ERR_LIMIT or ERR_NOMEM, with a message in err. The builder stays
 * usable for gram_build_free only.
 */
int gram_build_compile(gram_builder_t *b, gram_t **out, char *err, size_t err_len);

/* Appends to b an expression for the regex re (len bytes; see gram_regex.c). json_string: the expression matches
   the regex's text as it appears inside a JSON string (characters JSON must escape are escaped). Returns the node
   or GRAM_NONE (the error recorded in b: ERR_UNSUPPORTED names the feature, ERR_FORMAT a malformed regex). */
uint32_t gram_regex_expr(gram_builder_t *b, const char *re, size_t len, bool json_string);

/* Appends to b an expression for the JSON documents of a JSON Schema (len bytes of JSON; opts may be NULL), as
   gram_from_schema compiles them: for wrapping a schema in a tool-call format, or offering several schemas as
   alternatives. Returns the node or GRAM_NONE (the error recorded in b, as gram_from_schema reports it). */
uint32_t gram_schema_expr(gram_builder_t *b, const char *json, size_t len, const gram_schema_opts_t *opts);

#endif
