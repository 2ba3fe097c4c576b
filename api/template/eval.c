/*
 * eval.c — walks the syntax tree: scopes, expressions and statements, with Jinja2's scoping rules.
 *
 * Owns: errors and limits of a render (te_fail, te_charge, te_step), scopes (frames), expression evaluation,
 * statement execution (output, if, for with loop/else/filter/recursive, set, block set, macro, call, filter
 * blocks, with, break/continue) and the top-level render.
 * Does not own: calls, attribute and item access (calls.c), operators (ops.c), builtins.
 *
 * Scoping, as Jinja2 behaves: `if` shares its scope; each for-loop iteration, macro call, with/filter/set block
 * gets a fresh child scope whose assignments vanish when it ends; reads fall through to enclosing scopes at the
 * time of the read; a macro's body sees the scope it was defined in (its closure), not its caller's. Namespace
 * objects are the only way to carry values out of a loop.
 *
 * One thread per render; the tree is only read.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "eval.h"

/* ---- errors and limits ---- */

int te_fail(trender_t *r, int code, const char *fmt, ...) {
    if (r->rc) return r->rc;
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    r->rc = code;
    if (r->line > 0)
        err_set(r->err, r->err_len, code, "%s (template line %d)", msg, r->line);
    else
        err_set(r->err, r->err_len, code, "%s", msg);
    return code;
}

int te_charge(trender_t *r, size_t bytes) {
    if (bytes > r->budget) {
        r->budget = 0;
        return te_fail(r, ERR_LIMIT, "template exceeded its memory budget");
    }
    r->budget -= bytes;
    return 0;
}

int te_step(trender_t *r) {
    if (r->steps == 0) return te_fail(r, ERR_LIMIT, "template exceeded its limit on loop iterations and calls");
    r->steps--;
    return 0;
}

/* ---- scopes ---- */

tframe_t *te_frame_new(trender_t *r, tframe_t *parent) {
    if (te_charge(r, sizeof(tframe_t))) return NULL;
    tframe_t *f = calloc(1, sizeof(*f));
    if (!f) {
        te_fail(r, ERR_NOMEM, "out of memory");
        return NULL;
    }
    f->parent = parent;
    return f;
}

static void frame_free(tframe_t *f) {
    for (size_t i = 0; i < f->n; i++)
        tv_release(f->vars[i].v);
    free(f->vars);
    free(f);
}

void te_frame_leave(trender_t *r, tframe_t *f) {
    if (!f) return;
    if (f->captured) {
        f->retained = r->retained;
        r->retained = f;
    } else {
        frame_free(f);
    }
}

void te_capture(tframe_t *f) {
    for (; f && !f->captured; f = f->parent)
        f->captured = 1;
}

static tval_t *frame_find(tframe_t *f, const char *name) {
    for (size_t i = f->n; i-- > 0;)
        if (strcmp(f->vars[i].name, name) == 0) return &f->vars[i].v;
    return NULL;
}

int te_frame_set(trender_t *r, tframe_t *f, const char *name, tval_t v) {
    tval_t *slot = frame_find(f, name);
    if (slot) {
        tv_release(*slot);
        *slot = v;
        return 0;
    }
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        struct tvar *nv = NULL;
        if (te_charge(r, (cap - f->cap) * sizeof(*nv)) || !(nv = realloc(f->vars, cap * sizeof(*nv)))) {
            tv_release(v);
            return r->rc ? r->rc : te_fail(r, ERR_NOMEM, "out of memory");
        }
        f->vars = nv;
        f->cap = cap;
    }
    f->vars[f->n].name = name;
    f->vars[f->n].v = v;
    f->n++;
    return 0;
}

static const struct {
    const char *name;
    tv_func_t id;
} globals[] = {
    {"range", TV_FN_RANGE},           {"dict", TV_FN_DICT},
    {"namespace", TV_FN_NAMESPACE},   {"raise_exception", TV_FN_RAISE},
    {"strftime_now", TV_FN_STRFTIME}, {"cycler", TV_FN_CYCLER},
    {"joiner", TV_FN_JOINER},         {"lipsum", TV_FN_LIPSUM},
};

static int lookup(trender_t *r, tframe_t *f, const char *name, tval_t *out) {
    for (; f; f = f->parent) {
        tval_t *v = frame_find(f, name);
        if (v) {
            tv_retain(*v);
            *out = *v;
            return 0;
        }
    }
    for (size_t i = 0; i < sizeof(globals) / sizeof(globals[0]); i++)
        if (!strcmp(globals[i].name, name)) {
            *out = tv_func(globals[i].id);
            return 0;
        }
    tval_t key;
    int rc = tv_str_cstr(r, name, &key);
    if (rc) return rc;
    rc = tv_undef_new(r, TU_NAME, NULL, key, out);
    tv_release(key);
    return rc;
}

/* ---- call arguments ---- */

typedef struct {
    tval_t *pos;
    const char **kwn;
    tval_t *kwv;
    size_t npos, nkw, cap;
    tval_t hold; /* a **mapping whose keys kwn points into */
} argv_t;

static void args_free(argv_t *a) {
    for (size_t i = 0; i < a->npos; i++)
        tv_release(a->pos[i]);
    for (size_t i = 0; i < a->nkw; i++)
        tv_release(a->kwv[i]);
    tv_release(a->hold);
    free(a->pos);
    free(a->kwn);
    free(a->kwv);
    memset(a, 0, sizeof(*a));
}

static int args_reserve(trender_t *r, argv_t *a, size_t more) {
    size_t need = (a->npos > a->nkw ? a->npos : a->nkw) + more;
    if (need <= a->cap) return 0;
    size_t cap = need < 8 ? 8 : need * 2;
    if (cap > 100000) return te_fail(r, ERR_LIMIT, "too many call arguments");
    tval_t *p = realloc(a->pos, cap * sizeof(tval_t));
    if (p) a->pos = p;
    const char **kn = realloc(a->kwn, cap * sizeof(char *));
    if (kn) a->kwn = kn;
    tval_t *kv = realloc(a->kwv, cap * sizeof(tval_t));
    if (kv) a->kwv = kv;
    if (!p || !kn || !kv) return te_fail(r, ERR_NOMEM, "out of memory");
    a->cap = cap;
    return 0;
}

/* Evaluates the argument nodes n->k[first..] into a. */
static int eval_args(trender_t *r, const tnode_t *n, uint32_t first, tframe_t *f, argv_t *a) {
    for (uint32_t i = first; i < n->n; i++) {
        const tnode_t *x = n->k[i];
        tval_t v;
        int rc = te_eval(r, x->kind == N_KWARG || x->kind == N_STAR || x->kind == N_DSTAR ? x->k[0] : x, f, &v);
        if (rc) return rc;
        if (x->kind == N_STAR) {
            tval_t l;
            rc = te_to_list(r, v, &l);
            tv_release(v);
            if (rc) return rc;
            tlist_t *lst = tv_l(l);
            rc = args_reserve(r, a, lst->n);
            for (size_t j = 0; !rc && j < lst->n; j++) {
                tv_retain(lst->v[j]);
                a->pos[a->npos++] = lst->v[j];
            }
            tv_release(l);
        } else if (x->kind == N_DSTAR) {
            if (v.kind != TV_DICT || a->hold.kind != TV_UNDEF) {
                tv_release(v);
                return te_fail(r, ERR_TEMPLATE, "argument after ** must be a mapping");
            }
            a->hold = v;
            tdict_t *d = tv_d(v);
            rc = args_reserve(r, a, d->n);
            for (size_t j = 0; !rc && j < d->n; j++) {
                if (d->k[j].kind != TV_STR) return te_fail(r, ERR_TEMPLATE, "keywords must be strings");
                tv_retain(d->v[j]);
                a->kwn[a->nkw] = tv_s(d->k[j])->s;
                a->kwv[a->nkw++] = d->v[j];
            }
        } else if (x->kind == N_KWARG) {
            if ((rc = args_reserve(r, a, 1))) {
                tv_release(v);
                return rc;
            }
            a->kwn[a->nkw] = x->name;
            a->kwv[a->nkw++] = v;
        } else {
            if ((rc = args_reserve(r, a, 1))) {
                tv_release(v);
                return rc;
            }
            a->pos[a->npos++] = v;
        }
        if (rc) return rc;
    }
    return 0;
}

static targs_t args_view(const argv_t *a) {
    return (targs_t){.pos = a->pos, .npos = a->npos, .kwn = (const char *const *)a->kwn, .kwv = a->kwv, .nkw = a->nkw};
}

/* Applies a filter node (and the filters it wraps) to input; a NULL innermost input means `input` itself. */
static int apply_filter(trender_t *r, const tnode_t *n, tframe_t *f, tval_t input, tval_t *out) {
    tval_t in;
    int rc;
    if (n->k[0])
        rc = n->k[0]->kind == N_FILTER && !n->k[0]->k[0] ? apply_filter(r, n->k[0], f, input, &in)
                                                         : te_eval(r, n->k[0], f, &in);
    else {
        tv_retain(input);
        in = input;
        rc = 0;
    }
    if (rc) return rc;
    argv_t a = {0};
    rc = eval_args(r, n, 1, f, &a);
    if (!rc && n->fn < 0) rc = te_fail(r, ERR_TEMPLATE, "No filter named '%s' found.", n->name);
    if (!rc) {
        targs_t view = args_view(&a);
        r->line = n->line;
        rc = tf_apply(r, n->fn, in, &view, out);
    }
    args_free(&a);
    tv_release(in);
    return rc;
}

/* ---- expressions ---- */

static int eval_seq(trender_t *r, const tnode_t *n, tframe_t *f, bool tuple, tval_t *out) {
    int rc = tv_list_new(r, n->n, tuple, out);
    for (uint32_t i = 0; !rc && i < n->n; i++) {
        tval_t v;
        rc = te_eval(r, n->k[i], f, &v);
        if (!rc) rc = tv_list_push(r, tv_l(*out), v);
    }
    return rc;
}

static int eval_dict(trender_t *r, const tnode_t *n, tframe_t *f, tval_t *out) {
    int rc = tv_dict_new(r, n->n / 2, out);
    for (uint32_t i = 0; !rc && i + 1 < n->n; i += 2) {
        tval_t k, v;
        if ((rc = te_eval(r, n->k[i], f, &k))) break;
        if (k.kind == TV_LIST && !tv_l(k)->tuple)
            rc = te_fail(r, ERR_TEMPLATE, "unhashable type: 'list'");
        else if (k.kind == TV_DICT)
            rc = te_fail(r, ERR_TEMPLATE, "unhashable type: 'dict'");
        if (rc || (rc = te_eval(r, n->k[i + 1], f, &v))) {
            tv_release(k);
            break;
        }
        rc = tv_dict_set(r, tv_d(*out), k, v);
    }
    return rc;
}

static int eval_compare(trender_t *r, const tnode_t *n, tframe_t *f, tval_t *out) {
    tval_t left;
    int rc = te_eval(r, n->k[0], f, &left);
    bool result = true;
    for (uint32_t i = 1; !rc && i < n->n && result; i++) {
        tval_t right, res = tv_undef();
        if ((rc = te_eval(r, n->k[i]->k[0], f, &right))) break;
        r->line = n->k[i]->line;
        rc = to_binop(r, n->k[i]->op, left, right, &res);
        if (!rc) result = tv_truthy(res);
        tv_release(res);
        tv_release(left);
        left = right;
    }
    tv_release(left);
    if (!rc) *out = tv_bool(result);
    return rc;
}

static int eval_call(trender_t *r, const tnode_t *n, tframe_t *f, tval_t caller, tval_t *out) {
    tval_t callee;
    int rc = te_eval(r, n->k[0], f, &callee);
    if (rc) return rc;
    argv_t a = {0};
    rc = eval_args(r, n, 1, f, &a);
    if (!rc && caller.kind != TV_UNDEF && !(rc = args_reserve(r, &a, 1))) {
        tv_retain(caller);
        a.kwn[a.nkw] = "caller";
        a.kwv[a.nkw++] = caller;
    }
    if (!rc) {
        targs_t view = args_view(&a);
        r->line = n->line;
        rc = te_call(r, callee, &view, out);
    }
    args_free(&a);
    tv_release(callee);
    return rc;
}

static int eval_node(trender_t *r, const tnode_t *n, tframe_t *f, tval_t *out) {
    tval_t a, b;
    int rc;
    switch (n->kind) {
    case N_CONST: *out = n->val; return 0;
    case N_NAME: return lookup(r, f, n->name, out);
    case N_LIST: return eval_seq(r, n, f, false, out);
    case N_TUPLE: return eval_seq(r, n, f, true, out);
    case N_DICT: return eval_dict(r, n, f, out);
    case N_ATTR:
        if ((rc = te_eval(r, n->k[0], f, &a))) return rc;
        r->line = n->line;
        rc = te_getattr(r, a, n->name, strlen(n->name), out);
        tv_release(a);
        return rc;
    case N_ITEM:
        if ((rc = te_eval(r, n->k[0], f, &a))) return rc;
        if ((rc = te_eval(r, n->k[1], f, &b))) {
            tv_release(a);
            return rc;
        }
        r->line = n->line;
        rc = te_getitem(r, a, b, out);
        tv_release(a);
        tv_release(b);
        return rc;
    case N_SLICE: {
        tval_t part[3] = {tv_none(), tv_none(), tv_none()};
        if ((rc = te_eval(r, n->k[0], f, &a))) return rc;
        for (int i = 0; !rc && i < 3; i++)
            if (n->k[i + 1]) rc = te_eval(r, n->k[i + 1], f, &part[i]);
        if (!rc) {
            r->line = n->line;
            rc = to_slice(r, a, part[0], part[1], part[2], out);
        }
        for (int i = 0; i < 3; i++)
            tv_release(part[i]);
        tv_release(a);
        return rc;
    }
    case N_UNARY:
        if ((rc = te_eval(r, n->k[0], f, &a))) return rc;
        rc = to_unary(r, n->op, a, out);
        tv_release(a);
        return rc;
    case N_NOT:
        if ((rc = te_eval(r, n->k[0], f, &a))) return rc;
        *out = tv_bool(!tv_truthy(a));
        tv_release(a);
        return 0;
    case N_BIN:
        if ((rc = te_eval(r, n->k[0], f, &a))) return rc;
        if ((rc = te_eval(r, n->k[1], f, &b))) {
            tv_release(a);
            return rc;
        }
        r->line = n->line;
        rc = to_binop(r, n->op, a, b, out);
        tv_release(a);
        tv_release(b);
        return rc;
    case N_AND:
    case N_OR:
        if ((rc = te_eval(r, n->k[0], f, &a))) return rc;
        if (tv_truthy(a) == (n->kind == N_OR)) {
            *out = a;
            return 0;
        }
        tv_release(a);
        return te_eval(r, n->k[1], f, out);
    case N_CMP: return eval_compare(r, n, f, out);
    case N_COND:
        if ((rc = te_eval(r, n->k[0], f, &a))) return rc;
        bool t = tv_truthy(a);
        tv_release(a);
        if (t) return te_eval(r, n->k[1], f, out);
        if (n->k[2]) return te_eval(r, n->k[2], f, out);
        return tv_undef_msg(r, "the inline if-expression evaluated to false and no else section was defined.", out);
    case N_CALL: return eval_call(r, n, f, tv_undef(), out);
    case N_FILTER: return apply_filter(r, n, f, tv_undef(), out);
    case N_TEST: {
        if ((rc = te_eval(r, n->k[0], f, &a))) return rc;
        argv_t args = {0};
        bool res = false;
        rc = eval_args(r, n, 1, f, &args);
        if (!rc && n->fn < 0) rc = te_fail(r, ERR_TEMPLATE, "No test named '%s' found.", n->name);
        if (!rc) {
            targs_t view = args_view(&args);
            r->line = n->line;
            rc = tt_apply(r, n->fn, a, &view, &res);
        }
        args_free(&args);
        tv_release(a);
        if (!rc) *out = tv_bool(res);
        return rc;
    }
    default: return te_fail(r, ERR_TEMPLATE, "cannot evaluate this expression");
    }
}

int te_eval(trender_t *r, const tnode_t *n, tframe_t *f, tval_t *out) {
    *out = tv_undef();
    if (r->rc) return r->rc;
    if (++r->cdepth > TE_MAX_CDEPTH) {
        r->cdepth--;
        return te_fail(r, ERR_LIMIT, "template recursion too deep");
    }
    r->line = n->line;
    int rc = eval_node(r, n, f, out);
    r->cdepth--;
    if (rc) {
        tv_clear(out);
        if (!r->rc) r->rc = rc;
    }
    return rc;
}

/* ---- statements ---- */

/* Binds target (a name, a tuple of targets, or namespace.attr) to v, taking v. */
static int assign(trender_t *r, const tnode_t *target, tframe_t *f, tval_t v) {
    if (target->kind == N_NAME) return te_frame_set(r, f, target->name, v);
    if (target->kind == N_ATTR) {
        tval_t ns;
        int rc = lookup(r, f, target->k[0]->name, &ns);
        if (!rc && ns.kind != TV_NS) rc = te_fail(r, ERR_TEMPLATE, "cannot assign attribute on non-namespace object");
        tval_t key = tv_undef();
        if (!rc) rc = tv_str_cstr(r, target->name, &key);
        if (!rc)
            rc = tv_dict_set(r, tv_d(ns), key, v);
        else
            tv_release(v);
        tv_release(ns);
        return rc;
    }
    /* tuple unpacking */
    tval_t items;
    int rc = te_to_list(r, v, &items);
    tv_release(v);
    if (rc) return rc;
    tlist_t *l = tv_l(items);
    if (l->n != target->n) {
        rc = l->n > target->n
                 ? te_fail(r, ERR_TEMPLATE, "too many values to unpack (expected %u)", target->n)
                 : te_fail(r, ERR_TEMPLATE, "not enough values to unpack (expected %u, got %zu)", target->n, l->n);
    }
    for (uint32_t i = 0; !rc && i < target->n; i++) {
        tv_retain(l->v[i]);
        rc = assign(r, target->k[i], f, l->v[i]);
    }
    tv_release(items);
    return rc;
}

/* Renders body in a child scope of f into a new string. */
static int render_block(trender_t *r, const tnode_t *body, tframe_t *f, tval_t *out) {
    tframe_t *child = te_frame_new(r, f);
    if (!child) return r->rc;
    tbuf_t b = {0};
    int rc = te_exec(r, body, child, &b);
    te_frame_leave(r, child);
    if (rc > 0) rc = 0;
    if (!rc) rc = tb_finish(r, &b, out);
    tb_free(&b);
    return rc;
}

static int make_macro(trender_t *r, const tnode_t *def, tframe_t *f, tval_t *out) {
    if (te_charge(r, sizeof(tmacro_t))) return r->rc;
    tmacro_t *m = calloc(1, sizeof(*m));
    if (!m) return te_fail(r, ERR_NOMEM, "out of memory");
    m->h.refs = 1;
    m->h.kind = TV_MACRO;
    m->def = def;
    m->closure = f;
    te_capture(f);
    *out = tv_obj(TV_MACRO, m);
    return 0;
}

/*
 * Runs the body of for-node n over the items of lp (one child scope per item), then the else block if no
 * iteration ran to the end of the body. That is Jinja2's rule, quirk included: it clears its "no iteration"
 * flag at the end of the body, so a loop whose every iteration ends in break or continue also runs its else.
 */
static int run_loop(trender_t *r, tloop_t *lp, tframe_t *f, tbuf_t *out) {
    const tnode_t *n = lp->node;
    tlist_t *items = lp->items;
    int rc = 0;
    bool completed = false;
    for (size_t i = 0; i < items->n; i++) {
        if ((rc = te_step(r))) return rc;
        lp->i = i;
        tframe_t *it = te_frame_new(r, f);
        if (!it) return r->rc;
        tv_retain(items->v[i]);
        rc = assign(r, n->k[0], it, items->v[i]);
        if (!rc) {
            tv_retain(tv_obj(TV_LOOP, lp));
            rc = te_frame_set(r, it, "loop", tv_obj(TV_LOOP, lp));
        }
        if (!rc) rc = te_exec(r, n->k[3], it, out);
        te_frame_leave(r, it);
        if (rc == 0) completed = true;
        if (rc == TE_BREAK) {
            rc = 0;
            break;
        }
        if (rc == TE_CONTINUE) rc = 0;
        if (rc) return rc;
    }
    if (!completed && n->k[4]) {
        tframe_t *ef = te_frame_new(r, f);
        if (!ef) return r->rc;
        rc = te_exec(r, n->k[4], ef, out);
        te_frame_leave(r, ef);
    }
    return rc;
}

/* Builds the loop object for iterable v (applying the loop filter) and runs the loop. */
static int for_loop(trender_t *r, const tnode_t *n, tframe_t *f, tval_t v, int depth0, tbuf_t *out) {
    tval_t all;
    int rc = te_to_list(r, v, &all);
    if (rc) return rc;
    if (n->k[2]) { /* `for x in xs if cond`: filter before numbering */
        tval_t kept;
        rc = tv_list_new(r, 0, false, &kept);
        for (size_t i = 0; !rc && i < tv_l(all)->n; i++) {
            tval_t item = tv_l(all)->v[i], c;
            tframe_t *it = te_frame_new(r, f);
            if (!it) {
                rc = r->rc;
                break;
            }
            tv_retain(item);
            rc = assign(r, n->k[0], it, item);
            if (!rc) rc = te_eval(r, n->k[2], it, &c);
            te_frame_leave(r, it);
            if (rc) break;
            if (tv_truthy(c)) {
                tv_retain(item);
                rc = tv_list_push(r, tv_l(kept), item);
            }
            tv_release(c);
        }
        tv_release(all);
        if (rc) {
            tv_release(kept);
            return rc;
        }
        all = kept;
    }
    if (te_charge(r, sizeof(tloop_t))) {
        tv_release(all);
        return r->rc;
    }
    tloop_t *lp = calloc(1, sizeof(*lp));
    if (!lp) {
        tv_release(all);
        return te_fail(r, ERR_NOMEM, "out of memory");
    }
    lp->h.refs = 1;
    lp->h.kind = TV_LOOP;
    lp->items = tv_l(all);
    lp->depth0 = depth0;
    lp->node = n;
    lp->frame = f;
    lp->active = 1;
    rc = run_loop(r, lp, f, out);
    lp->active = 0;
    tv_clear(&lp->changed_last);
    tv_release(tv_obj(TV_LOOP, lp));
    return rc;
}

int te_loop_again(trender_t *r, tloop_t *lp, tval_t items, tbuf_t *out) {
    if (!lp->active || !(lp->node->flags & TP_RECURSIVE))
        return te_fail(r, ERR_TEMPLATE, "this loop is not recursive or has ended");
    if (++r->depth > r->max_depth) {
        r->depth--;
        return te_fail(r, ERR_LIMIT, "recursion deeper than %d calls", r->max_depth);
    }
    int rc = for_loop(r, lp->node, lp->frame, items, lp->depth0 + 1, out);
    r->depth--;
    return rc;
}

static int exec_node(trender_t *r, const tnode_t *n, tframe_t *f, tbuf_t *out) {
    tval_t v;
    int rc;
    switch (n->kind) {
    case N_BODY:
        for (uint32_t i = 0; i < n->n; i++)
            if ((rc = te_exec(r, n->k[i], f, out))) return rc;
        return 0;
    case N_TEXT: return tb_put(r, out, tv_s(n->val)->s, tv_s(n->val)->len);
    case N_PRINT:
        if ((rc = te_eval(r, n->k[0], f, &v))) return rc;
        rc = v.kind == TV_STR ? tb_put(r, out, tv_s(v)->s, tv_s(v)->len) : tv_write_str(r, out, v);
        tv_release(v);
        return rc;
    case N_IF:
        if ((rc = te_eval(r, n->k[0], f, &v))) return rc;
        bool t = tv_truthy(v);
        tv_release(v);
        if (t) return te_exec(r, n->k[1], f, out);
        return n->k[2] ? te_exec(r, n->k[2], f, out) : 0;
    case N_FOR:
        if ((rc = te_eval(r, n->k[1], f, &v))) return rc;
        rc = for_loop(r, n, f, v, 0, out);
        tv_release(v);
        return rc;
    case N_SET:
        if ((rc = te_eval(r, n->k[1], f, &v))) return rc;
        return assign(r, n->k[0], f, v);
    case N_SETBLOCK:
        if ((rc = render_block(r, n->k[1], f, &v))) return rc;
        if (n->k[2]) {
            tval_t filtered;
            rc = apply_filter(r, n->k[2], f, v, &filtered);
            tv_release(v);
            if (rc) return rc;
            v = filtered;
        }
        return assign(r, n->k[0], f, v);
    case N_MACRO:
        if ((rc = make_macro(r, n, f, &v))) return rc;
        return te_frame_set(r, f, n->name, v);
    case N_CALLBLOCK: {
        tval_t caller, res;
        if ((rc = make_macro(r, n, f, &caller))) return rc;
        rc = eval_call(r, n->k[0], f, caller, &res);
        tv_release(caller);
        if (rc) return rc;
        rc = tv_write_str(r, out, res);
        tv_release(res);
        return rc;
    }
    case N_FILTERBLOCK: {
        tval_t res;
        if ((rc = render_block(r, n->k[1], f, &v))) return rc;
        rc = apply_filter(r, n->k[0], f, v, &res);
        tv_release(v);
        if (rc) return rc;
        if (res.kind != TV_STR) /* Jinja joins the filtered result into the output as it is */
            rc = te_fail(r, ERR_TEMPLATE, "sequence item 0: expected str instance, %s found", tv_type_name(res));
        else
            rc = tb_put(r, out, tv_s(res)->s, tv_s(res)->len);
        tv_release(res);
        return rc;
    }
    case N_WITH: {
        tframe_t *wf = te_frame_new(r, f);
        if (!wf) return r->rc;
        rc = 0;
        for (uint32_t i = 1; !rc && i + 1 < n->n; i += 2) {
            if (!(rc = te_eval(r, n->k[i + 1], f, &v))) rc = assign(r, n->k[i], wf, v);
        }
        if (!rc) rc = te_exec(r, n->k[0], wf, out);
        te_frame_leave(r, wf);
        return rc;
    }
    case N_SCOPE: {
        tframe_t *sf = te_frame_new(r, f);
        if (!sf) return r->rc;
        rc = te_exec(r, n->k[0], sf, out);
        te_frame_leave(r, sf);
        return rc;
    }
    case N_BREAK: return TE_BREAK;
    case N_CONTINUE: return TE_CONTINUE;
    default: return te_fail(r, ERR_TEMPLATE, "cannot execute this statement");
    }
}

int te_exec(trender_t *r, const tnode_t *n, tframe_t *f, tbuf_t *out) {
    if (r->rc) return r->rc;
    if (++r->cdepth > TE_MAX_CDEPTH) {
        r->cdepth--;
        return te_fail(r, ERR_LIMIT, "template recursion too deep");
    }
    r->line = n->line;
    int rc = exec_node(r, n, f, out);
    r->cdepth--;
    if (rc < 0 && !r->rc) r->rc = rc;
    return rc;
}

int te_render(trender_t *r, tbuf_t *out) {
    int rc = te_exec(r, r->root, r->globals, out);
    return rc > 0 ? 0 : rc;
}

void te_cleanup(trender_t *r) {
    if (r->namespaces) { /* empty every namespace first: that breaks cycles such as ns.self = ns */
        tlist_t *l = r->namespaces;
        for (size_t i = 0; i < l->n; i++) {
            tdict_t *d = tv_d(l->v[i]);
            size_t n = d->n;
            d->n = 0;
            for (size_t j = 0; j < n; j++) {
                tv_release(d->k[j]);
                tv_release(d->v[j]);
            }
        }
        tv_release(tv_obj(TV_LIST, l));
        r->namespaces = NULL;
    }
    while (r->retained) {
        tframe_t *f = r->retained;
        r->retained = f->retained;
        frame_free(f);
    }
    if (r->globals) frame_free(r->globals);
    r->globals = NULL;
}
