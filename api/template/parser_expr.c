/*
 * parser_expr.c — expressions, with Jinja2's grammar and precedence (lowest first): conditional `a if b else c`,
 * or, and, not, comparisons (chained, with in / not in), + -, ~, * / // %, **, unary - +, then postfix
 * (.attr, [item], [a:b:c], calls) and filters / `is` tests, and literals.
 *
 * Filter and test names are resolved here; unknown ones keep fn = -1 and are judged by parser.c's check pass
 * (compile-time error, or a runtime one inside if-branches, as Jinja2 does). Recursion is bounded by TP_MAX_NEST
 * through tp_enter/tp_leave. Reentrant.
 */
#include <stdio.h>
#include <string.h>

#include "parser.h"

static tnode_t *parse_unary(ps_t *p, bool with_filter);
static tnode_t *parse_primary(ps_t *p);
static tnode_t *parse_postfix(ps_t *p, tnode_t *node);
static tnode_t *parse_filter_expr(ps_t *p, tnode_t *node);

/* Parses `(args)` into call-like node x (whose k[0] is already set). */
static bool parse_call_args(ps_t *p, tnode_t *x) {
    if (!tp_expect_op(p, OP_LPAREN)) return false;
    bool need_comma = false, seen_kw = false, seen_star = false, seen_dstar = false;
    while (!tok_op(cur(p), OP_RPAREN)) {
        if (need_comma) {
            if (!tp_expect_op(p, OP_COMMA)) return false;
            if (tok_op(cur(p), OP_RPAREN)) break;
        }
        const ttok_t *t = cur(p);
        tnode_t *arg;
        if (tok_op(t, OP_MUL) || tok_op(t, OP_POW)) {
            bool dstar = tok_op(t, OP_POW);
            if (seen_dstar || (!dstar && seen_star))
                return tp_fail(p, t, "invalid syntax for function call expression"), false;
            adv(p);
            tnode_t *e = tp_parse_expression(p, true);
            if (!e) return false;
            arg = tp_mk1(p, dstar ? N_DSTAR : N_STAR, t->line, e);
            if (dstar)
                seen_dstar = true;
            else
                seen_star = true;
        } else if (t->kind == TK_NAME && tok_op(peek(p, 1), OP_ASSIGN)) {
            if (seen_dstar) return tp_fail(p, t, "invalid syntax for function call expression"), false;
            const char *name = tp_name_dup(p, t);
            adv(p);
            adv(p);
            tnode_t *e = name ? tp_parse_expression(p, true) : NULL;
            if (!e) return false;
            arg = tp_mk1(p, N_KWARG, t->line, e);
            if (arg) arg->name = name;
            seen_kw = true;
        } else {
            if (seen_kw || seen_star || seen_dstar)
                return tp_fail(p, t, "invalid syntax for function call expression"), false;
            arg = tp_parse_expression(p, true);
        }
        if (!arg || !tp_add(p, x, arg)) return false;
        need_comma = true;
    }
    return tp_expect_op(p, OP_RPAREN);
}

static tnode_t *parse_subscribed(ps_t *p) {
    const ttok_t *t = cur(p);
    tnode_t *parts[3] = {NULL, NULL, NULL};
    if (tok_op(t, OP_COLON)) {
        adv(p);
    } else {
        tnode_t *e = tp_parse_expression(p, true);
        if (!e || !tok_op(cur(p), OP_COLON)) return e;
        adv(p);
        parts[0] = e;
    }
    if (!tok_op(cur(p), OP_COLON) && !tok_op(cur(p), OP_RBRACKET) && !tok_op(cur(p), OP_COMMA)) {
        if (!(parts[1] = tp_parse_expression(p, true))) return NULL;
    }
    if (tok_op(cur(p), OP_COLON)) {
        adv(p);
        if (!tok_op(cur(p), OP_RBRACKET) && !tok_op(cur(p), OP_COMMA)) {
            if (!(parts[2] = tp_parse_expression(p, true))) return NULL;
        }
    }
    tnode_t *x = tp_mk(p, N_SLICE, t->line);
    if (!x || !tp_add(p, x, NULL)) return NULL;
    for (int i = 0; i < 3; i++)
        if (!tp_add(p, x, parts[i])) return NULL;
    return x;
}

static tnode_t *parse_subscript(ps_t *p, tnode_t *node) {
    const ttok_t *t = cur(p);
    adv(p);
    if (tok_op(t, OP_DOT)) {
        const ttok_t *a = cur(p);
        if (a->kind == TK_NAME) {
            adv(p);
            tnode_t *x = tp_mk1(p, N_ATTR, t->line, node);
            if (x && !(x->name = tp_name_dup(p, a))) return NULL;
            return x;
        }
        if (a->kind == TK_INT) {
            adv(p);
            tnode_t *c = tp_mk(p, N_CONST, a->line);
            if (!c) return NULL;
            c->val = tv_int(a->i);
            return tp_mk2(p, N_ITEM, t->line, node, c);
        }
        return tp_fail(p, a, "expected name or number");
    }
    /* '[' */
    tnode_t *args = tp_mk(p, N_TUPLE, t->line);
    if (!args) return NULL;
    while (!tok_op(cur(p), OP_RBRACKET)) {
        if (args->n && !tp_expect_op(p, OP_COMMA)) return NULL;
        if (args->n && tok_op(cur(p), OP_RBRACKET)) break;
        tnode_t *e = parse_subscribed(p);
        if (!e || !tp_add(p, args, e)) return NULL;
    }
    if (!tp_expect_op(p, OP_RBRACKET)) return NULL;
    if (args->n == 0) return tp_fail(p, t, "expected an expression inside []");
    if (args->n == 1 && args->k[0]->kind == N_SLICE) {
        args->k[0]->k[0] = node;
        return args->k[0];
    }
    for (uint32_t i = 0; i < args->n; i++)
        if (args->k[i]->kind == N_SLICE) return tp_fail(p, t, "slices inside a tuple subscript are not supported");
    return tp_mk2(p, N_ITEM, t->line, node, args->n == 1 ? args->k[0] : args);
}

static tnode_t *parse_postfix(ps_t *p, tnode_t *node) {
    while (node) {
        const ttok_t *t = cur(p);
        if (tok_op(t, OP_DOT) || tok_op(t, OP_LBRACKET)) {
            node = parse_subscript(p, node);
        } else if (tok_op(t, OP_LPAREN)) {
            tnode_t *x = tp_mk1(p, N_CALL, t->line, node);
            node = x && parse_call_args(p, x) ? x : NULL;
        } else {
            break;
        }
    }
    return node;
}

/* A possibly dotted filter or test name; returns it NUL-terminated in the arena. */
static const char *parse_dotted_name(ps_t *p) {
    const ttok_t *t = cur(p);
    if (t->kind != TK_NAME) return tp_unexpected(p, "a name"), NULL;
    char buf[256];
    size_t n = 0;
    for (;;) {
        t = cur(p);
        if (t->kind != TK_NAME) return tp_unexpected(p, "a name"), NULL;
        if (n + t->n + 2 > sizeof(buf)) return tp_fail(p, t, "name too long"), NULL;
        memcpy(buf + n, t->s, t->n);
        n += t->n;
        adv(p);
        if (!tok_op(cur(p), OP_DOT)) break;
        buf[n++] = '.';
        adv(p);
    }
    const char *s = ta_strdup(p->a, buf, n);
    if (!s) tp_oom(p);
    return s;
}

tnode_t *tp_parse_filter(ps_t *p, tnode_t *node, bool start_inline) {
    while (tok_op(cur(p), OP_PIPE) || start_inline) {
        if (!start_inline) adv(p);
        start_inline = false;
        const ttok_t *t = cur(p);
        const char *name = parse_dotted_name(p);
        if (!name) return NULL;
        int id = tf_filter_id(name);
        tnode_t *x = tp_mk1(p, N_FILTER, t->line, node);
        if (!x) return NULL;
        x->name = name;
        x->fn = (int16_t)id;
        if (tok_op(cur(p), OP_LPAREN) && !parse_call_args(p, x)) return NULL;
        node = x;
    }
    return node;
}

static tnode_t *parse_test(ps_t *p, tnode_t *node) {
    const ttok_t *is = cur(p);
    adv(p);
    bool negated = false;
    if (tok_name(cur(p), "not")) {
        adv(p);
        negated = true;
    }
    const char *name = parse_dotted_name(p);
    if (!name) return NULL;
    int id = tt_test_id(name);
    tnode_t *x = tp_mk1(p, N_TEST, is->line, node);
    if (!x) return NULL;
    x->name = name;
    x->fn = (int16_t)id;
    const ttok_t *c = cur(p);
    if (tok_op(c, OP_LPAREN)) {
        if (!parse_call_args(p, x)) return NULL;
    } else if ((c->kind == TK_NAME || c->kind == TK_STRING || c->kind == TK_INT || c->kind == TK_FLOAT ||
                tok_op(c, OP_LBRACKET) || tok_op(c, OP_LBRACE)) &&
               !tok_name(c, "else") && !tok_name(c, "or") && !tok_name(c, "and")) {
        if (tok_name(c, "is")) return tp_fail(p, c, "You cannot chain multiple tests with is");
        tnode_t *arg = parse_postfix(p, parse_primary(p));
        if (!arg || !tp_add(p, x, arg)) return NULL;
    }
    return negated ? tp_mk1(p, N_NOT, is->line, x) : x;
}

static tnode_t *parse_filter_expr(ps_t *p, tnode_t *node) {
    while (node) {
        const ttok_t *t = cur(p);
        if (tok_op(t, OP_PIPE)) {
            node = tp_parse_filter(p, node, false);
        } else if (tok_name(t, "is")) {
            node = parse_test(p, node);
        } else if (tok_op(t, OP_LPAREN)) {
            tnode_t *x = tp_mk1(p, N_CALL, t->line, node);
            node = x && parse_call_args(p, x) ? x : NULL;
        } else {
            break;
        }
    }
    return node;
}

static tnode_t *parse_primary(ps_t *p) {
    const ttok_t *t = cur(p);
    tnode_t *x;
    if (!tp_enter(p)) return NULL;
    switch (t->kind) {
    case TK_NAME:
        adv(p);
        if (tok_name(t, "true") || tok_name(t, "True") || tok_name(t, "false") || tok_name(t, "False")) {
            if ((x = tp_mk(p, N_CONST, t->line))) x->val = tv_bool(t->s[0] == 't' || t->s[0] == 'T');
        } else if (tok_name(t, "none") || tok_name(t, "None")) {
            if ((x = tp_mk(p, N_CONST, t->line))) x->val = tv_none();
        } else if ((x = tp_mk(p, N_NAME, t->line))) {
            if (!(x->name = tp_name_dup(p, t))) {
                x = NULL;
            } else {
                uint8_t use = !strcmp(x->name, "caller")    ? TP_USES_CALLER
                              : !strcmp(x->name, "varargs") ? TP_USES_VARARGS
                              : !strcmp(x->name, "kwargs")  ? TP_USES_KWARGS
                                                            : 0;
                for (struct tp_uses *u = p->uses; u && use; u = u->up)
                    *u->flags |= use;
            }
        }
        break;
    case TK_STRING: {
        size_t total = 0, k = 0;
        while (peek(p, k)->kind == TK_STRING)
            total += peek(p, k++)->n;
        char *buf = ta_alloc(p->a, total + 1);
        if (!buf) {
            x = tp_oom(p);
            break;
        }
        size_t o = 0;
        while (cur(p)->kind == TK_STRING) {
            memcpy(buf + o, cur(p)->s, cur(p)->n);
            o += cur(p)->n;
            adv(p);
        }
        if ((x = tp_mk(p, N_CONST, t->line)) && ta_const_str(p->a, buf, o, &x->val)) x = tp_oom(p);
        break;
    }
    case TK_INT:
    case TK_FLOAT:
        adv(p);
        if ((x = tp_mk(p, N_CONST, t->line))) x->val = t->kind == TK_INT ? tv_int(t->i) : tv_float(t->f);
        break;
    case TK_OP:
        if (t->op == OP_LPAREN) {
            adv(p);
            x = tp_parse_tuple(p, true, NULL, true);
            if (x && !tp_expect_op(p, OP_RPAREN)) x = NULL;
        } else if (t->op == OP_LBRACKET) {
            adv(p);
            x = tp_mk(p, N_LIST, t->line);
            while (x && !tok_op(cur(p), OP_RBRACKET)) {
                if (x->n && !tp_expect_op(p, OP_COMMA))
                    x = NULL;
                else if (x->n && tok_op(cur(p), OP_RBRACKET))
                    break;
                else {
                    tnode_t *e = tp_parse_expression(p, true);
                    if (!e || !tp_add(p, x, e)) x = NULL;
                }
            }
            if (x && !tp_expect_op(p, OP_RBRACKET)) x = NULL;
        } else if (t->op == OP_LBRACE) {
            adv(p);
            x = tp_mk(p, N_DICT, t->line);
            while (x && !tok_op(cur(p), OP_RBRACE)) {
                if (x->n && !tp_expect_op(p, OP_COMMA))
                    x = NULL;
                else if (x->n && tok_op(cur(p), OP_RBRACE))
                    break;
                else {
                    tnode_t *k = tp_parse_expression(p, true);
                    tnode_t *v = k && tp_expect_op(p, OP_COLON) ? tp_parse_expression(p, true) : NULL;
                    if (!v || !tp_add(p, x, k) || !tp_add(p, x, v)) x = NULL;
                }
            }
            if (x && !tp_expect_op(p, OP_RBRACE)) x = NULL;
        } else {
            char got[80];
            tp_describe(t, got, sizeof(got));
            x = tp_fail(p, t, "unexpected '%s'", got);
        }
        break;
    default: {
        char got[80];
        tp_describe(t, got, sizeof(got));
        x = tp_fail(p, t, "unexpected '%s'", got);
    }
    }
    tp_leave(p);
    return x;
}

static tnode_t *parse_unary(ps_t *p, bool with_filter) {
    const ttok_t *t = cur(p);
    tnode_t *node;
    if (!tp_enter(p)) return NULL;
    if (tok_op(t, OP_SUB) || tok_op(t, OP_ADD)) {
        adv(p);
        tnode_t *e = parse_unary(p, false);
        node = e ? tp_mk1(p, N_UNARY, t->line, e) : NULL;
        if (node) node->op = t->op;
    } else {
        node = parse_primary(p);
    }
    node = parse_postfix(p, node);
    if (with_filter) node = parse_filter_expr(p, node);
    tp_leave(p);
    return node;
}

static tnode_t *binary(ps_t *p, tnode_t *l, const ttok_t *t, tnode_t *r, int kind) {
    if (!l || !r) return NULL;
    tnode_t *x = tp_mk2(p, kind, t->line, l, r);
    if (x) x->op = t->kind == TK_OP ? t->op : OP_NONE;
    return x;
}

static tnode_t *parse_pow(ps_t *p) {
    tnode_t *l = parse_unary(p, true);
    while (l && tok_op(cur(p), OP_POW)) {
        const ttok_t *t = cur(p);
        adv(p);
        l = binary(p, l, t, parse_unary(p, true), N_BIN);
    }
    return l;
}

static tnode_t *parse_math2(ps_t *p) {
    tnode_t *l = parse_pow(p);
    while (l && (tok_op(cur(p), OP_MUL) || tok_op(cur(p), OP_DIV) || tok_op(cur(p), OP_FLOORDIV) ||
                 tok_op(cur(p), OP_MOD))) {
        const ttok_t *t = cur(p);
        adv(p);
        l = binary(p, l, t, parse_pow(p), N_BIN);
    }
    return l;
}

static tnode_t *parse_concat(ps_t *p) {
    tnode_t *l = parse_math2(p);
    while (l && tok_op(cur(p), OP_TILDE)) {
        const ttok_t *t = cur(p);
        adv(p);
        l = binary(p, l, t, parse_math2(p), N_BIN);
    }
    return l;
}

static tnode_t *parse_math1(ps_t *p) {
    tnode_t *l = parse_concat(p);
    while (l && (tok_op(cur(p), OP_ADD) || tok_op(cur(p), OP_SUB))) {
        const ttok_t *t = cur(p);
        adv(p);
        l = binary(p, l, t, parse_concat(p), N_BIN);
    }
    return l;
}

static tnode_t *parse_compare(ps_t *p) {
    tnode_t *first = parse_math1(p);
    tnode_t *x = NULL;
    while (first) {
        const ttok_t *t = cur(p);
        int op;
        if (t->kind == TK_OP && (t->op == OP_EQ || t->op == OP_NE || t->op == OP_LT || t->op == OP_LE ||
                                 t->op == OP_GT || t->op == OP_GE)) {
            op = t->op;
            adv(p);
        } else if (tok_name(t, "in")) {
            op = OP_IN;
            adv(p);
        } else if (tok_name(t, "not") && tok_name(peek(p, 1), "in")) {
            op = OP_NOTIN;
            adv(p);
            adv(p);
        } else {
            break;
        }
        if (!x && !(x = tp_mk1(p, N_CMP, first->line, first))) return NULL;
        tnode_t *r = parse_math1(p);
        tnode_t *o = r ? tp_mk1(p, N_CMPOP, t->line, r) : NULL;
        if (!o || !tp_add(p, x, o)) return NULL;
        o->op = (uint8_t)op;
    }
    return x ? x : first;
}

static tnode_t *parse_not(ps_t *p) {
    const ttok_t *t = cur(p);
    if (!tok_name(t, "not")) return parse_compare(p);
    if (!tp_enter(p)) return NULL;
    adv(p);
    tnode_t *e = parse_not(p);
    tp_leave(p);
    return e ? tp_mk1(p, N_NOT, t->line, e) : NULL;
}

static tnode_t *parse_and(ps_t *p) {
    tnode_t *l = parse_not(p);
    while (l && tok_name(cur(p), "and")) {
        const ttok_t *t = cur(p);
        adv(p);
        l = binary(p, l, t, parse_not(p), N_AND);
    }
    return l;
}

static tnode_t *parse_or(ps_t *p) {
    tnode_t *l = parse_and(p);
    while (l && tok_name(cur(p), "or")) {
        const ttok_t *t = cur(p);
        adv(p);
        l = binary(p, l, t, parse_and(p), N_OR);
    }
    return l;
}

static tnode_t *parse_condexpr(ps_t *p) {
    if (!tp_enter(p)) return NULL;
    tnode_t *e1 = parse_or(p);
    while (e1 && tok_name(cur(p), "if")) {
        const ttok_t *t = cur(p);
        adv(p);
        tnode_t *cond = parse_or(p), *e3 = NULL;
        if (!cond) {
            e1 = NULL;
            break;
        }
        if (tok_name(cur(p), "else")) {
            adv(p);
            if (!(e3 = parse_condexpr(p))) {
                e1 = NULL;
                break;
            }
        }
        tnode_t *x = tp_mk2(p, N_COND, t->line, cond, e1);
        e1 = x && tp_add(p, x, e3) ? x : NULL;
    }
    tp_leave(p);
    return e1;
}

tnode_t *tp_parse_expression(ps_t *p, bool with_condexpr) { return with_condexpr ? parse_condexpr(p) : parse_or(p); }

bool tp_is_tuple_end(ps_t *p, const char *extra_end) {
    const ttok_t *t = cur(p);
    if (t->kind == TK_VAR_END || t->kind == TK_BLOCK_END || tok_op(t, OP_RPAREN)) return true;
    return extra_end && tok_name(t, extra_end);
}

tnode_t *tp_parse_tuple(ps_t *p, bool with_condexpr, const char *extra_end, bool explicit_parens) {
    const ttok_t *t0 = cur(p);
    tnode_t *tup = tp_mk(p, N_TUPLE, t0->line);
    bool is_tuple = false;
    while (tup) {
        if (tup->n && !tp_expect_op(p, OP_COMMA)) return NULL;
        if (tp_is_tuple_end(p, extra_end)) break;
        tnode_t *e = tp_parse_expression(p, with_condexpr);
        if (!e || !tp_add(p, tup, e)) return NULL;
        if (tok_op(cur(p), OP_COMMA))
            is_tuple = true;
        else
            break;
    }
    if (!tup) return NULL;
    if (!is_tuple) {
        if (tup->n) return tup->k[0];
        if (!explicit_parens) {
            char got[80];
            tp_describe(cur(p), got, sizeof(got));
            return tp_fail(p, cur(p), "Expected an expression, got '%s'", got);
        }
    }
    return tup;
}
