/*
 * parser.c — builds the syntax tree from tokens, following Jinja2's grammar: template data, {{ }} and the
 * statements (if/elif/else, for with else/filter/recursive, set and block set, macro, call, filter, with, block,
 * generation, break/continue, print), plus the tree-building helpers both halves of the parser share.
 * Unknown tags are compile-time errors, as in Jinja2; unknown filters and tests too, outside if-branches.
 * Does not own: expressions (parser_expr.c), tokens (lexer.c) or meaning (eval.c).
 *
 * Every node lives in the template's arena. Recursion is bounded by TP_MAX_NEST, so hostile input cannot exhaust
 * the C stack. Reentrant.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "parser.h"

/* ---- errors and tree building ---- */

void tp_describe(const ttok_t *t, char *buf, size_t len) {
    switch (t->kind) {
    case TK_EOF: snprintf(buf, len, "end of template"); break;
    case TK_DATA: snprintf(buf, len, "template data"); break;
    case TK_VAR_BEGIN: snprintf(buf, len, "begin of print statement"); break;
    case TK_VAR_END: snprintf(buf, len, "end of print statement"); break;
    case TK_BLOCK_BEGIN: snprintf(buf, len, "begin of statement block"); break;
    case TK_BLOCK_END: snprintf(buf, len, "end of statement block"); break;
    case TK_NAME: snprintf(buf, len, "%.*s", (int)(t->n > 60 ? 60 : t->n), t->s); break;
    case TK_STRING: snprintf(buf, len, "string"); break;
    case TK_INT: snprintf(buf, len, "integer"); break;
    case TK_FLOAT: snprintf(buf, len, "float"); break;
    default: snprintf(buf, len, "%s", tl_op_text(t->op)); break;
    }
}

tnode_t *tp_fail(ps_t *p, const ttok_t *t, const char *fmt, ...) {
    if (p->rc) return NULL;
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    p->rc = err_set(p->err, p->err_len, ERR_TEMPLATE, "%s (template line %d)", msg, t->line);
    return NULL;
}

tnode_t *tp_oom(ps_t *p) {
    if (!p->rc) p->rc = err_set(p->err, p->err_len, ERR_NOMEM, "out of memory while parsing the template");
    return NULL;
}

tnode_t *tp_unexpected(ps_t *p, const char *expected) {
    char got[80];
    tp_describe(cur(p), got, sizeof(got));
    return tp_fail(p, cur(p), "expected %s, got '%s'", expected, got);
}

tnode_t *tp_mk(ps_t *p, int kind, int line) {
    tnode_t *x = ta_alloc(p->a, sizeof(tnode_t));
    if (!x) return tp_oom(p);
    x->kind = (uint8_t)kind;
    x->line = line;
    x->fn = -1;
    return x;
}

/* Appends a child (which may be NULL for an absent optional part). Returns false on OOM. */
bool tp_add(ps_t *p, tnode_t *x, tnode_t *kid) {
    if (x->n == x->cap) {
        uint32_t cap = x->cap ? x->cap * 2 : 4;
        tnode_t **k = ta_alloc(p->a, cap * sizeof(*k));
        if (!k) return tp_oom(p), false;
        if (x->n) memcpy(k, x->k, x->n * sizeof(*k));
        x->k = k;
        x->cap = cap;
    }
    x->k[x->n++] = kid;
    return true;
}

tnode_t *tp_mk1(ps_t *p, int kind, int line, tnode_t *a) {
    tnode_t *x = tp_mk(p, kind, line);
    if (!x || !tp_add(p, x, a)) return NULL;
    return x;
}

tnode_t *tp_mk2(ps_t *p, int kind, int line, tnode_t *a, tnode_t *b) {
    tnode_t *x = tp_mk1(p, kind, line, a);
    if (!x || !tp_add(p, x, b)) return NULL;
    return x;
}

const char *tp_name_dup(ps_t *p, const ttok_t *t) {
    const char *s = ta_strdup(p->a, t->s, t->n);
    if (!s) tp_oom(p);
    return s;
}

bool tp_expect_op(ps_t *p, int op) {
    if (!tok_op(cur(p), op)) {
        char want[16];
        snprintf(want, sizeof(want), "'%s'", tl_op_text(op));
        tp_unexpected(p, want);
        return false;
    }
    adv(p);
    return true;
}

bool tp_expect_kind(ps_t *p, int kind) {
    if (cur(p)->kind != kind) {
        tp_unexpected(p, kind == TK_BLOCK_END ? "end of statement block"
                         : kind == TK_VAR_END ? "end of print statement"
                                              : "a name");
        return false;
    }
    adv(p);
    return true;
}

bool tp_enter(ps_t *p) {
    if (++p->depth > TP_MAX_NEST) {
        tp_fail(p, cur(p), "template nested too deeply (more than %d levels)", TP_MAX_NEST);
        return false;
    }
    return true;
}
void tp_leave(ps_t *p) { p->depth--; }

/* ---- statements ---- */

static tnode_t *subparse(ps_t *p, const char *const *ends, const char *innermost);

static bool expect_end(ps_t *p) { return tp_expect_kind(p, TK_BLOCK_END); }

static bool is_const_name(const ttok_t *t) {
    return tok_name(t, "true") || tok_name(t, "false") || tok_name(t, "none") || tok_name(t, "True") ||
           tok_name(t, "False") || tok_name(t, "None");
}

/* An assignment target: a name, or names in a (possibly parenthesised, nested) tuple. */
static tnode_t *parse_target_elem(ps_t *p);
static tnode_t *parse_target_list(ps_t *p, const char *extra_end, bool parens) {
    const ttok_t *t0 = cur(p);
    tnode_t *tup = tp_mk(p, N_TUPLE, t0->line);
    bool is_tuple = false;
    while (tup) {
        if (tup->n && !tp_expect_op(p, OP_COMMA)) return NULL;
        if (tup->n && (tp_is_tuple_end(p, extra_end) || tok_op(cur(p), OP_ASSIGN))) break;
        tnode_t *e = parse_target_elem(p);
        if (!e || !tp_add(p, tup, e)) return NULL;
        if (tok_op(cur(p), OP_COMMA))
            is_tuple = true;
        else
            break;
    }
    if (!tup) return NULL;
    return is_tuple || (parens && tup->n != 1) ? tup : tup->k[0];
}

static tnode_t *parse_target_elem(ps_t *p) {
    const ttok_t *t = cur(p);
    if (tok_op(t, OP_LPAREN)) {
        if (!tp_enter(p)) return NULL;
        adv(p);
        tnode_t *x = parse_target_list(p, NULL, true);
        tp_leave(p);
        if (x && !tp_expect_op(p, OP_RPAREN)) return NULL;
        return x;
    }
    if (t->kind != TK_NAME) return tp_unexpected(p, "a name to assign to");
    if (is_const_name(t)) return tp_fail(p, t, "can't assign to '%.*s'", (int)t->n, t->s);
    tnode_t *x = tp_mk(p, N_NAME, t->line);
    if (x && !(x->name = tp_name_dup(p, t))) return NULL;
    adv(p);
    return x;
}

/* Targets of set/with may also be `namespace.attr`. */
static tnode_t *parse_assign_target(ps_t *p, const char *extra_end, bool with_namespace) {
    const ttok_t *t = cur(p);
    if (with_namespace && t->kind == TK_NAME && tok_op(peek(p, 1), OP_DOT) && peek(p, 2)->kind == TK_NAME) {
        tnode_t *ns = tp_mk(p, N_NAME, t->line);
        if (!ns || !(ns->name = tp_name_dup(p, t))) return NULL;
        adv(p);
        adv(p);
        tnode_t *x = tp_mk1(p, N_ATTR, t->line, ns);
        if (!x || !(x->name = tp_name_dup(p, cur(p)))) return NULL;
        adv(p);
        return x;
    }
    return parse_target_list(p, extra_end, false);
}

static const char *const END_FOR[] = {"endfor", "else", NULL};
static const char *const END_FOR2[] = {"endfor", NULL};
static const char *const END_IF[] = {"elif", "else", "endif", NULL};
static const char *const END_IF2[] = {"endif", NULL};

/* Consumes `{% name %}`'s name (current token) and the block end. */
static bool end_tag(ps_t *p) {
    adv(p);
    return expect_end(p);
}

static tnode_t *parse_for(ps_t *p, const ttok_t *t) {
    tnode_t *x = tp_mk(p, N_FOR, t->line);
    tnode_t *target = x ? parse_assign_target(p, "in", false) : NULL;
    if (!target || !tp_add(p, x, target)) return NULL;
    if (!tok_name(cur(p), "in")) return tp_unexpected(p, "'in'");
    adv(p);
    tnode_t *iter = tp_parse_tuple(p, false, "recursive", false);
    if (!iter || !tp_add(p, x, iter)) return NULL;
    tnode_t *cond = NULL;
    if (tok_name(cur(p), "if")) {
        adv(p);
        if (!(cond = tp_parse_expression(p, true))) return NULL;
    }
    if (!tp_add(p, x, cond)) return NULL;
    if (tok_name(cur(p), "recursive")) {
        adv(p);
        x->flags |= TP_RECURSIVE;
    }
    if (!expect_end(p)) return NULL;
    p->loops++;
    tnode_t *body = subparse(p, END_FOR, "for");
    p->loops--;
    if (!body || !tp_add(p, x, body)) return NULL;
    tnode_t *els = NULL;
    if (tok_name(cur(p), "else")) {
        if (!end_tag(p) || !(els = subparse(p, END_FOR2, "for"))) return NULL;
    }
    if (!tp_add(p, x, els) || !end_tag(p)) return NULL;
    return x;
}

static tnode_t *parse_if(ps_t *p, const ttok_t *t) {
    tnode_t *top = tp_mk(p, N_IF, t->line), *node = top;
    for (;;) {
        tnode_t *cond = node ? tp_parse_tuple(p, false, NULL, false) : NULL;
        if (!cond || !tp_add(p, node, cond) || !expect_end(p)) return NULL;
        tnode_t *body = subparse(p, END_IF, "if");
        if (!body || !tp_add(p, node, body)) return NULL;
        const ttok_t *c = cur(p);
        if (tok_name(c, "elif")) {
            adv(p);
            tnode_t *next = tp_mk(p, N_IF, c->line);
            if (!next || !tp_add(p, node, next)) return NULL;
            node = next;
            continue;
        }
        tnode_t *els = NULL;
        if (tok_name(c, "else")) {
            if (!end_tag(p) || !(els = subparse(p, END_IF2, "if"))) return NULL;
        }
        if (!tp_add(p, node, els) || !end_tag(p)) return NULL;
        return top;
    }
}

static tnode_t *parse_set(ps_t *p, const ttok_t *t) {
    tnode_t *target = parse_assign_target(p, NULL, true);
    if (!target) return NULL;
    if (tok_op(cur(p), OP_ASSIGN)) {
        adv(p);
        tnode_t *e = tp_parse_tuple(p, true, NULL, false);
        if (!e || !expect_end(p)) return NULL;
        return tp_mk2(p, N_SET, t->line, target, e);
    }
    if (target->kind == N_TUPLE) return tp_fail(p, t, "a block assignment needs a single name");
    tnode_t *filter = NULL;
    if (tok_op(cur(p), OP_PIPE) && !(filter = tp_parse_filter(p, NULL, false))) return NULL;
    if (!expect_end(p)) return NULL;
    static const char *const ends[] = {"endset", NULL};
    tnode_t *body = subparse(p, ends, "set");
    if (!body || !end_tag(p)) return NULL;
    tnode_t *x = tp_mk2(p, N_SETBLOCK, t->line, target, body);
    return x && tp_add(p, x, filter) ? x : NULL;
}

/* `(a, b=1, ...)`: appends one N_NAME per parameter to x (after its first `first` children), the default value
 * as the parameter's child. */
static bool parse_signature(ps_t *p, tnode_t *x, uint32_t first) {
    if (!tp_expect_op(p, OP_LPAREN)) return false;
    bool seen_default = false;
    while (!tok_op(cur(p), OP_RPAREN)) {
        if (x->n > first && !tp_expect_op(p, OP_COMMA)) return false;
        if (tok_op(cur(p), OP_RPAREN)) break;
        const ttok_t *t = cur(p);
        if (t->kind != TK_NAME || is_const_name(t)) return tp_unexpected(p, "a parameter name"), false;
        tnode_t *param = tp_mk(p, N_NAME, t->line);
        if (!param || !(param->name = tp_name_dup(p, t))) return false;
        adv(p);
        if (tok_op(cur(p), OP_ASSIGN)) {
            adv(p);
            tnode_t *d = tp_parse_expression(p, true);
            if (!d || !tp_add(p, param, d)) return false;
            seen_default = true;
        } else if (seen_default) {
            return tp_fail(p, t, "non-default argument follows default argument"), false;
        }
        if (!tp_add(p, x, param)) return false;
    }
    return tp_expect_op(p, OP_RPAREN);
}

/* Parses a macro or call-block body with break/continue and caller/varargs/kwargs tracking reset. */
static tnode_t *parse_callable_body(ps_t *p, tnode_t *x, const char *end, const char *what) {
    const char *ends[] = {end, NULL};
    struct tp_uses link = {.flags = &x->flags, .up = p->uses};
    int saved_loops = p->loops;
    p->uses = &link;
    p->loops = 0;
    tnode_t *body = subparse(p, ends, what);
    p->uses = link.up;
    p->loops = saved_loops;
    if (!body || !end_tag(p)) return NULL;
    return body;
}

static tnode_t *parse_macro(ps_t *p, const ttok_t *t) {
    const ttok_t *nt = cur(p);
    if (nt->kind != TK_NAME) return tp_unexpected(p, "a macro name");
    tnode_t *x = tp_mk(p, N_MACRO, t->line);
    if (!x || !(x->name = tp_name_dup(p, nt)) || !tp_add(p, x, NULL)) return NULL;
    adv(p);
    if (!parse_signature(p, x, 1) || !expect_end(p)) return NULL;
    tnode_t *body = parse_callable_body(p, x, "endmacro", "macro");
    if (!body) return NULL;
    x->k[0] = body;
    return x;
}

static tnode_t *parse_call_block(ps_t *p, const ttok_t *t) {
    tnode_t *x = tp_mk(p, N_CALLBLOCK, t->line);
    if (!x || !tp_add(p, x, NULL) || !tp_add(p, x, NULL)) return NULL;
    if (tok_op(cur(p), OP_LPAREN) && !parse_signature(p, x, 2)) return NULL;
    const ttok_t *ct = cur(p);
    tnode_t *call = tp_parse_expression(p, true);
    if (!call) return NULL;
    if (call->kind != N_CALL) return tp_fail(p, ct, "expected call");
    if (!expect_end(p)) return NULL;
    x->k[0] = call;
    tnode_t *body = parse_callable_body(p, x, "endcall", "call");
    if (!body) return NULL;
    x->k[1] = body;
    return x;
}

static tnode_t *parse_filter_block(ps_t *p, const ttok_t *t) {
    tnode_t *chain = tp_parse_filter(p, NULL, true);
    if (!chain || !expect_end(p)) return NULL;
    static const char *const ends[] = {"endfilter", NULL};
    tnode_t *body = subparse(p, ends, "filter");
    if (!body || !end_tag(p)) return NULL;
    return tp_mk2(p, N_FILTERBLOCK, t->line, chain, body);
}

static tnode_t *parse_with(ps_t *p, const ttok_t *t) {
    tnode_t *x = tp_mk(p, N_WITH, t->line);
    if (!x || !tp_add(p, x, NULL)) return NULL;
    while (cur(p)->kind != TK_BLOCK_END) {
        if (x->n > 1 && !tp_expect_op(p, OP_COMMA)) return NULL;
        tnode_t *target = parse_assign_target(p, NULL, false);
        if (!target || !tp_expect_op(p, OP_ASSIGN)) return NULL;
        tnode_t *v = tp_parse_expression(p, true);
        if (!v || !tp_add(p, x, target) || !tp_add(p, x, v)) return NULL;
    }
    adv(p);
    static const char *const ends[] = {"endwith", NULL};
    tnode_t *body = subparse(p, ends, "with");
    if (!body || !end_tag(p)) return NULL;
    x->k[0] = body;
    return x;
}

static tnode_t *parse_scope(ps_t *p, const ttok_t *t, const char *end, const char *what, bool named) {
    if (named) {
        if (cur(p)->kind != TK_NAME) return tp_unexpected(p, "a block name");
        adv(p);
        while (tok_name(cur(p), "scoped") || tok_name(cur(p), "required"))
            adv(p);
    }
    if (!expect_end(p)) return NULL;
    const char *ends[] = {end, NULL};
    tnode_t *body = subparse(p, ends, what);
    if (!body) return NULL;
    adv(p);
    if (named && cur(p)->kind == TK_NAME) adv(p);
    if (!expect_end(p)) return NULL;
    return tp_mk1(p, N_SCOPE, t->line, body);
}

static tnode_t *parse_statement(ps_t *p) {
    const ttok_t *t = cur(p);
    if (t->kind != TK_NAME) return tp_fail(p, t, "tag name expected");
    if (!tp_enter(p)) return NULL;
    adv(p);
    tnode_t *x;
    if (tok_name(t, "for"))
        x = parse_for(p, t);
    else if (tok_name(t, "if"))
        x = parse_if(p, t);
    else if (tok_name(t, "set"))
        x = parse_set(p, t);
    else if (tok_name(t, "macro"))
        x = parse_macro(p, t);
    else if (tok_name(t, "call"))
        x = parse_call_block(p, t);
    else if (tok_name(t, "filter"))
        x = parse_filter_block(p, t);
    else if (tok_name(t, "with"))
        x = parse_with(p, t);
    else if (tok_name(t, "block"))
        x = parse_scope(p, t, "endblock", "block", true);
    else if (tok_name(t, "generation"))
        x = parse_scope(p, t, "endgeneration", "generation", false);
    else if (tok_name(t, "print")) {
        tnode_t *e = tp_parse_tuple(p, true, NULL, false);
        x = e && expect_end(p) ? tp_mk1(p, N_PRINT, t->line, e) : NULL;
    } else if (tok_name(t, "break") || tok_name(t, "continue")) {
        if (!p->loops)
            x = tp_fail(p, t, "'%.*s' outside of a loop", (int)t->n, t->s);
        else
            x = expect_end(p) ? tp_mk(p, tok_name(t, "break") ? N_BREAK : N_CONTINUE, t->line) : NULL;
    } else if (tok_name(t, "extends") || tok_name(t, "include") || tok_name(t, "import") || tok_name(t, "from")) {
        x = tp_fail(p, t, "'%.*s' is not supported: chat templates have no loader", (int)t->n, t->s);
    } else {
        x = tp_fail(p, t, "Encountered unknown tag '%.*s'.", (int)t->n, t->s);
    }
    tp_leave(p);
    return x;
}

/* Appends a text node, merging it into the previous one when both are text. */
static bool add_text(ps_t *p, tnode_t *body, const ttok_t *t) {
    tnode_t *last = body->n ? body->k[body->n - 1] : NULL;
    tval_t v;
    if (last && last->kind == N_TEXT) {
        tstr_t *s = tv_s(last->val);
        char *buf = ta_alloc(p->a, s->len + t->n + 1);
        if (!buf) return tp_oom(p), false;
        memcpy(buf, s->s, s->len);
        memcpy(buf + s->len, t->s, t->n);
        if (ta_const_str(p->a, buf, s->len + t->n, &v)) return tp_oom(p), false;
        last->val = v;
        return true;
    }
    tnode_t *x = tp_mk(p, N_TEXT, t->line);
    if (!x || ta_const_str(p->a, t->s, t->n, &x->val)) return tp_oom(p), false;
    return tp_add(p, body, x);
}

/*
 * Parses statements until `{% end %}` for one of the names in ends (NULL: until the end of the template).
 * On return the current token is that name (the caller consumes it).
 */
static tnode_t *subparse(ps_t *p, const char *const *ends, const char *innermost) {
    tnode_t *body = tp_mk(p, N_BODY, cur(p)->line);
    if (!body || !tp_enter(p)) return NULL;
    while (!p->rc) {
        const ttok_t *t = cur(p);
        if (t->kind == TK_DATA) {
            if (!add_text(p, body, t)) break;
            adv(p);
        } else if (t->kind == TK_VAR_BEGIN) {
            adv(p);
            tnode_t *e = tp_parse_tuple(p, true, NULL, false);
            if (!e || !tp_expect_kind(p, TK_VAR_END)) break;
            tnode_t *x = tp_mk1(p, N_PRINT, t->line, e);
            if (!x || !tp_add(p, body, x)) break;
        } else if (t->kind == TK_BLOCK_BEGIN) {
            adv(p);
            if (ends)
                for (const char *const *e = ends; *e; e++)
                    if (tok_name(cur(p), *e)) {
                        tp_leave(p);
                        return body;
                    }
            const ttok_t *nt = cur(p);
            if (nt->kind == TK_NAME && nt->n > 3 && !memcmp(nt->s, "end", 3)) {
                char want[120] = "";
                for (const char *const *e = ends; e && *e; e++)
                    snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s'%s'", e == ends ? "" : " or ", *e);
                if (ends)
                    tp_fail(p, nt,
                            "Encountered unknown tag '%.*s'. Jinja was looking for the following tags: %s. The "
                            "innermost block that needs to be closed is '%s'.",
                            (int)nt->n, nt->s, want, innermost);
                else
                    tp_fail(p, nt, "Encountered unknown tag '%.*s'.", (int)nt->n, nt->s);
                break;
            }
            tnode_t *x = parse_statement(p);
            if (!x || !tp_add(p, body, x)) break;
        } else if (t->kind == TK_EOF) {
            if (ends) {
                char want[120] = "";
                for (const char *const *e = ends; *e; e++)
                    snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s'%s'", e == ends ? "" : " or ", *e);
                tp_fail(p, t,
                        "Unexpected end of template. Jinja was looking for the following tags: %s. The innermost "
                        "block that needs to be closed is '%s'.",
                        want, innermost);
                break;
            }
            tp_leave(p);
            return body;
        } else {
            char got[80];
            tp_describe(t, got, sizeof(got));
            tp_fail(p, t, "unexpected '%s'", got);
            break;
        }
    }
    return NULL;
}

/*
 * Unknown filters and tests: Jinja2 rejects them at compile time, except where the compiler is in a "soft"
 * frame — the test and branches of an if statement and the operands of a conditional expression (but not the
 * bodies of loops, macros, call/filter/set/with blocks nested there, which get a fresh frame). There an unknown
 * name only fails if it is evaluated, so `{% if x is string %}{% set x = x | from_json %}{% endif %}` compiles.
 */
static bool check_names(ps_t *p, const tnode_t *n, bool soft, int depth) {
    if (!n) return true;
    if (depth > 4 * TP_MAX_NEST) return tp_fail(p, &p->t[0], "template nested too deeply"), false;
    if ((n->kind == N_FILTER || n->kind == N_TEST) && n->fn < 0 && !soft) {
        ttok_t at = {.line = n->line};
        tp_fail(p, &at, "No %s named '%s'.", n->kind == N_FILTER ? "filter" : "test", n->name);
        return false;
    }
    for (uint32_t i = 0; i < n->n; i++) {
        bool s = soft;
        switch (n->kind) {
        case N_IF:
        case N_COND: s = true; break;
        case N_FOR: s = i <= 1 ? soft : false; break;       /* target and iterable share the enclosing frame */
        case N_WITH: s = i == 0 ? false : soft; break;      /* body vs. values */
        case N_CALLBLOCK: s = i == 0 ? soft : false; break; /* the call vs. the caller's body and defaults */
        case N_MACRO:
        case N_SETBLOCK:
        case N_FILTERBLOCK:
        case N_SCOPE: s = false; break;
        default: break;
        }
        if (!check_names(p, n->k[i], s, depth + 1)) return false;
    }
    return true;
}

int tp_parse(tarena_t *a, const ttok_t *toks, size_t n_toks, tnode_t **root, char *err, size_t err_len) {
    ps_t p = {.a = a, .t = toks, .n = n_toks, .err = err, .err_len = err_len};
    if (n_toks == 0 || toks[n_toks - 1].kind != TK_EOF) return err_set(err, err_len, ERR_INVAL, "no tokens");
    *root = subparse(&p, NULL, NULL);
    if (*root && !check_names(&p, *root, false, 0)) *root = NULL;
    if (!*root) return p.rc ? p.rc : err_set(err, err_len, ERR_TEMPLATE, "template syntax error");
    return 0;
}
