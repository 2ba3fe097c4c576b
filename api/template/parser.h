/*
 * parser.h — state and helpers shared by the two halves of the parser (internal to api/template):
 * parser.c (statements, tree building helpers, tp_parse) and parser_expr.c (expressions).
 *
 * Every helper that can fail records the first error in ps_t (rc and the caller's message buffer) and returns
 * NULL/false, so parse functions simply propagate NULL.
 */
#ifndef CINDER_TMPL_PARSER_H
#define CINDER_TMPL_PARSER_H

#include <stdbool.h>
#include <string.h>

#include "ast.h"

/* A macro or call block being parsed. Like Jinja2, a reference to caller/varargs/kwargs anywhere inside a body
 * (nested macros and call blocks included) makes every enclosing callable accept it. */
struct tp_uses {
    uint8_t *flags; /* the callable's TP_USES_* flags */
    struct tp_uses *up;
};

/* One parse: the token stream, position, nesting and the first error. */
typedef struct {
    tarena_t *a;
    const ttok_t *t;
    size_t n, i;          /* tokens, current index (t[n-1] is TK_EOF) */
    int depth;            /* expression/statement nesting */
    int loops;            /* enclosing for loops in the current macro body (for break/continue) */
    struct tp_uses *uses; /* the macros and call blocks being parsed, innermost first */
    int rc;
    char *err;
    size_t err_len;
} ps_t;

/* ---- token stream ---- */
static inline const ttok_t *cur(ps_t *p) { return &p->t[p->i]; }
static inline const ttok_t *peek(ps_t *p, size_t k) { return &p->t[p->i + k < p->n ? p->i + k : p->n - 1]; }
static inline void adv(ps_t *p) {
    if (p->i + 1 < p->n) p->i++;
}

static inline bool tok_name(const ttok_t *t, const char *name) {
    return t->kind == TK_NAME && t->n == strlen(name) && memcmp(t->s, name, t->n) == 0;
}
static inline bool tok_op(const ttok_t *t, int op) { return t->kind == TK_OP && t->op == op; }

/* ---- errors and tree building (parser.c) ---- */
/* Writes a short description of token t ("end of print statement", "integer", the name itself). */
void tp_describe(const ttok_t *t, char *buf, size_t len);
/* Records a syntax error at token t ("... (template line N)") unless one is recorded; returns NULL. */
tnode_t *tp_fail(ps_t *p, const ttok_t *t, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
tnode_t *tp_oom(ps_t *p);
/* "expected <what>, got '<current token>'". */
tnode_t *tp_unexpected(ps_t *p, const char *expected);
tnode_t *tp_mk(ps_t *p, int kind, int line);
tnode_t *tp_mk1(ps_t *p, int kind, int line, tnode_t *a);
tnode_t *tp_mk2(ps_t *p, int kind, int line, tnode_t *a, tnode_t *b);
/* Appends a child (NULL allowed for an absent optional part); false on OOM. */
bool tp_add(ps_t *p, tnode_t *x, tnode_t *kid);
const char *tp_name_dup(ps_t *p, const ttok_t *t);
bool tp_expect_op(ps_t *p, int op);
bool tp_expect_kind(ps_t *p, int kind);
/* Nesting guard around recursive productions (TP_MAX_NEST). */
bool tp_enter(ps_t *p);
void tp_leave(ps_t *p);

/* ---- expressions (parser_expr.c) ---- */
tnode_t *tp_parse_expression(ps_t *p, bool with_condexpr);
/* Comma-separated expressions: a tuple node when there is a comma (or explicit parentheses), else the one. */
tnode_t *tp_parse_tuple(ps_t *p, bool with_condexpr, const char *extra_end, bool explicit_parens);
/* `| name(args) | ...` applied to node (NULL for filter blocks); start_inline: the first `|` is implied. */
tnode_t *tp_parse_filter(ps_t *p, tnode_t *node, bool start_inline);
bool tp_is_tuple_end(ps_t *p, const char *extra_end);

#endif
