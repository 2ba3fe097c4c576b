/*
 * calls.c — calling things and reaching into things: macros, global functions, bound methods, attribute and
 * item access, and iteration.
 *
 * Owns: te_call (macros with defaults/varargs/kwargs/caller, range, dict, namespace, raise_exception,
 * strftime_now, cycler, joiner, recursive loop calls), te_bind (argument binding for builtins), te_getattr and
 * te_getitem with Jinja2's sandboxed lookup order, te_to_list.
 * Does not own: the methods themselves (methods.c) or the tree walk (eval.c).
 *
 * Sandbox: attribute names starting with an underscore and the mutating methods of lists and dicts (append, pop,
 * update, ...) resolve to an "unsafe" Undefined whose use raises the same SecurityError message as Hugging Face's
 * ImmutableSandboxedEnvironment. Nothing here touches files, the environment or the clock: strftime_now formats
 * the time the caller passed in the render options.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "eval.h"

int te_bind(trender_t *r, const targs_t *a, const char *fn, const char *const *names, size_t n, tval_t *slots,
            bool *given) {
    for (size_t i = 0; i < n; i++)
        given[i] = false;
    if (a->npos > n)
        return te_fail(r, ERR_TEMPLATE, "%s() takes at most %zu argument%s (%zu given)", fn, n, n == 1 ? "" : "s",
                       a->npos);
    for (size_t i = 0; i < a->npos; i++) {
        slots[i] = a->pos[i];
        given[i] = true;
    }
    for (size_t k = 0; k < a->nkw; k++) {
        size_t i = 0;
        while (i < n && strcmp(names[i], a->kwn[k]) != 0)
            i++;
        if (i == n) return te_fail(r, ERR_TEMPLATE, "%s() got an unexpected keyword argument '%s'", fn, a->kwn[k]);
        if (given[i]) return te_fail(r, ERR_TEMPLATE, "%s() got multiple values for argument '%s'", fn, a->kwn[k]);
        slots[i] = a->kwv[k];
        given[i] = true;
    }
    return 0;
}

int te_namespace_new(trender_t *r, tval_t *out) {
    int rc = tv_dict_new(r, 0, out);
    if (rc) return rc;
    out->kind = TV_NS;
    out->u.o->kind = TV_NS;
    if (!r->namespaces) {
        tval_t l;
        if ((rc = tv_list_new(r, 0, false, &l))) goto fail;
        r->namespaces = tv_l(l);
    }
    tv_retain(*out);
    if ((rc = tv_list_push(r, r->namespaces, *out))) goto fail;
    return 0;
fail:
    tv_clear(out);
    return rc;
}

/* ---- iteration ---- */

int te_to_list(trender_t *r, tval_t v, tval_t *out) {
    *out = tv_undef();
    int rc;
    switch (v.kind) {
    case TV_UNDEF: return tv_list_new(r, 0, false, out);
    case TV_LIST: {
        tlist_t *l = tv_l(v);
        if ((rc = tv_list_new(r, l->n, false, out))) return rc;
        for (size_t i = 0; i < l->n; i++) {
            tv_retain(l->v[i]);
            tv_l(*out)->v[i] = l->v[i];
        }
        tv_l(*out)->n = l->n;
        return 0;
    }
    case TV_DICT: {
        tdict_t *d = tv_d(v);
        if ((rc = tv_list_new(r, d->n, false, out))) return rc;
        for (size_t i = 0; i < d->n; i++) {
            tv_retain(d->k[i]);
            tv_l(*out)->v[i] = d->k[i];
        }
        tv_l(*out)->n = d->n;
        return 0;
    }
    case TV_STR: {
        tstr_t *s = tv_s(v);
        if ((rc = tv_list_new(r, 0, false, out))) return rc;
        for (size_t i = 0; i < s->len;) {
            size_t start = i;
            tu_decode(s->s, s->len, &i);
            tval_t ch;
            if ((rc = tv_str_new(r, s->s + start, i - start, &ch)) || (rc = tv_list_push(r, tv_l(*out), ch))) {
                tv_clear(out);
                return rc;
            }
        }
        return 0;
    }
    case TV_GEN: {
        tgen_t *g = (tgen_t *)v.u.o;
        size_t n = g->items->n - g->pos;
        if ((rc = tv_list_new(r, n, false, out))) return rc;
        for (size_t i = 0; i < n; i++) {
            tv_retain(g->items->v[g->pos + i]);
            tv_l(*out)->v[i] = g->items->v[g->pos + i];
        }
        tv_l(*out)->n = n;
        g->pos = g->items->n; /* a generator runs once */
        return 0;
    }
    case TV_LOOP: return te_to_list(r, tv_obj(TV_LIST, ((tloop_t *)v.u.o)->items), out);
    default: return te_fail(r, ERR_TEMPLATE, "'%s' object is not iterable", tv_type_name(v));
    }
}

/* ---- attribute and item access ---- */

static int undef_attr(trender_t *r, tval_t obj, tval_t key, tval_t *out) {
    return tv_undef_new(r, key.kind == TV_STR ? TU_ATTR : TU_ELEM, tv_owner_name(obj), key, out);
}

static int undef_attr_name(trender_t *r, tval_t obj, const char *name, size_t len, tundef_how_t how, tval_t *out) {
    tval_t key;
    int rc = tv_str_new(r, name, len, &key);
    if (rc) return rc;
    rc = tv_undef_new(r, how, how == TU_UNSAFE ? tv_type_name(obj) : tv_owner_name(obj), key, out);
    tv_release(key);
    return rc;
}

static int loop_attr(trender_t *r, tloop_t *lp, const char *name, tval_t *out, bool *found) {
    size_t n = lp->items->n, i = lp->i;
    *found = true;
    if (!strcmp(name, "index"))
        *out = tv_int((int64_t)i + 1);
    else if (!strcmp(name, "index0"))
        *out = tv_int((int64_t)i);
    else if (!strcmp(name, "revindex"))
        *out = tv_int((int64_t)(n - i));
    else if (!strcmp(name, "revindex0"))
        *out = tv_int((int64_t)(n - i - 1));
    else if (!strcmp(name, "first"))
        *out = tv_bool(i == 0);
    else if (!strcmp(name, "last"))
        *out = tv_bool(i + 1 == n);
    else if (!strcmp(name, "length"))
        *out = tv_int((int64_t)n);
    else if (!strcmp(name, "depth"))
        *out = tv_int(lp->depth0 + 1);
    else if (!strcmp(name, "depth0"))
        *out = tv_int(lp->depth0);
    else if (!strcmp(name, "previtem")) {
        if (i == 0) return tv_undef_msg(r, "there is no previous item", out);
        tv_retain(lp->items->v[i - 1]);
        *out = lp->items->v[i - 1];
    } else if (!strcmp(name, "nextitem")) {
        if (i + 1 >= n) return tv_undef_msg(r, "there is no next item", out);
        tv_retain(lp->items->v[i + 1]);
        *out = lp->items->v[i + 1];
    } else {
        *found = false;
    }
    return 0;
}

int te_getattr(trender_t *r, tval_t obj, const char *name, size_t len, tval_t *out) {
    *out = tv_undef();
    bool unsafe = false;
    if (obj.kind == TV_UNDEF) return tv_undef_fail(r, obj);
    if (len > 0 && name[0] == '_') return undef_attr_name(r, obj, name, len, TU_UNSAFE, out);
    if (memchr(name, 0, len) == NULL && strlen(name) == len && tm_has_method(obj, name, &unsafe)) {
        if (unsafe) return undef_attr_name(r, obj, name, len, TU_UNSAFE, out);
        return tv_method_new(r, obj, name, out);
    }
    switch (obj.kind) {
    case TV_DICT:
    case TV_NS: {
        tval_t *v = tv_dict_get_str(tv_d(obj), name, len);
        if (v) {
            tv_retain(*v);
            *out = *v;
            return 0;
        }
        break;
    }
    case TV_LOOP: {
        bool found;
        int rc = loop_attr(r, (tloop_t *)obj.u.o, name, out, &found);
        if (rc || found) return rc;
        break;
    }
    case TV_CYCLER: {
        tcycler_t *c = (tcycler_t *)obj.u.o;
        if (!c->joiner && !strcmp(name, "current") && c->items->n) {
            tv_retain(c->items->v[c->pos]);
            *out = c->items->v[c->pos];
            return 0;
        }
        break;
    }
    case TV_LIST:
        if (tv_l(obj)->group && (!strcmp(name, "grouper") || !strcmp(name, "list"))) {
            *out = tv_l(obj)->v[name[0] == 'l'];
            tv_retain(*out);
            return 0;
        }
        break;
    case TV_MACRO: {
        const tnode_t *def = ((tmacro_t *)obj.u.o)->def;
        uint32_t first = def->kind == N_MACRO ? 1 : 2;
        if (!strcmp(name, "name")) return tv_str_cstr(r, def->kind == N_MACRO ? def->name : "caller", out);
        if (!strcmp(name, "catch_kwargs")) return *out = tv_bool(def->flags & TP_USES_KWARGS), 0;
        if (!strcmp(name, "catch_varargs")) return *out = tv_bool(def->flags & TP_USES_VARARGS), 0;
        if (!strcmp(name, "caller")) return *out = tv_bool(def->flags & TP_USES_CALLER), 0;
        if (!strcmp(name, "arguments")) { /* the parameter names, as a tuple */
            int rc = tv_list_new(r, def->n > first ? def->n - first : 0, true, out);
            for (uint32_t i = first; !rc && i < def->n; i++) {
                tval_t pn;
                if (!(rc = tv_str_cstr(r, def->k[i]->name, &pn))) rc = tv_list_push(r, tv_l(*out), pn);
            }
            if (rc) tv_clear(out);
            return rc;
        }
        break;
    }
    default: break;
    }
    return undef_attr_name(r, obj, name, len, TU_ATTR, out);
}

int te_getitem(trender_t *r, tval_t obj, tval_t key, tval_t *out) {
    *out = tv_undef();
    if (obj.kind == TV_UNDEF) return tv_undef_fail(r, obj);
    if (obj.kind == TV_STR || obj.kind == TV_LIST || obj.kind == TV_DICT) {
        bool found = false;
        int rc = to_subscript(r, obj, key, out, &found);
        if (rc || found) return rc;
    }
    if (key.kind == TV_STR) return te_getattr(r, obj, tv_s(key)->s, tv_s(key)->len, out);
    return undef_attr(r, obj, key, out);
}

int te_getattr_path(trender_t *r, tval_t obj, tval_t path, tval_t *out) {
    if (path.kind != TV_STR) return te_getitem(r, obj, path, out);
    const char *s = tv_s(path)->s;
    size_t n = tv_s(path)->len, b = 0;
    tval_t cur = obj;
    tv_retain(cur);
    for (;;) {
        size_t e = b;
        while (e < n && s[e] != '.')
            e++;
        tval_t key, next;
        int rc;
        bool digits = e > b;
        for (size_t i = b; i < e; i++)
            digits = digits && s[i] >= '0' && s[i] <= '9' && e - b < 18;
        if (digits)
            key = tv_int(strtoll(s + b, NULL, 10)), rc = 0;
        else
            rc = tv_str_new(r, s + b, e - b, &key);
        if (!rc) rc = te_getitem(r, cur, key, &next);
        tv_release(key);
        tv_release(cur);
        if (rc) return rc;
        cur = next;
        if (e >= n) break;
        b = e + 1;
    }
    *out = cur;
    return 0;
}

/* ---- global functions ---- */

static int fn_range(trender_t *r, const targs_t *a, tval_t *out) {
    int64_t v[3] = {0, 0, 1};
    if (a->npos < 1 || a->npos > 3 || a->nkw) return te_fail(r, ERR_TEMPLATE, "range expected 1 to 3 arguments");
    for (size_t i = 0; i < a->npos; i++) {
        if (!tv_is_intlike(a->pos[i]))
            return te_fail(r, ERR_TEMPLATE, "'%s' object cannot be interpreted as an integer", tv_type_name(a->pos[i]));
    }
    if (a->npos == 1)
        v[1] = a->pos[0].u.i;
    else {
        v[0] = a->pos[0].u.i;
        v[1] = a->pos[1].u.i;
        if (a->npos == 3) v[2] = a->pos[2].u.i;
    }
    if (v[2] == 0) return te_fail(r, ERR_TEMPLATE, "range() arg 3 must not be zero");
    /* Python's len(range(start, stop, step)), computed without int64 overflow */
    __int128 span = (__int128)v[1] - v[0], step = v[2];
    __int128 count = span / step > 0 ? (span + step + (step > 0 ? -1 : 1)) / step : 0;
    if (count > 100000)
        return te_fail(r, ERR_LIMIT, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    size_t n = (size_t)count;
    int rc = tv_list_new(r, n, false, out);
    for (size_t i = 0; !rc && i < n; i++)
        tv_l(*out)->v[i] = tv_int(v[0] + (int64_t)i * v[2]);
    if (!rc) tv_l(*out)->n = n;
    return rc;
}

/* dict(mapping_or_pairs?, **kw) and namespace(mapping?, **kw). */
static int fn_dict(trender_t *r, const targs_t *a, bool ns, tval_t *out) {
    if (a->npos > 1) return te_fail(r, ERR_TEMPLATE, "%s expected at most 1 argument", ns ? "namespace" : "dict");
    int rc = ns ? te_namespace_new(r, out) : tv_dict_new(r, 0, out);
    if (rc) return rc;
    if (a->npos == 1) {
        tval_t src = a->pos[0];
        if (src.kind == TV_DICT || src.kind == TV_NS) {
            tdict_t *d = tv_d(src);
            for (size_t i = 0; !rc && i < d->n; i++) {
                tv_retain(d->k[i]);
                tv_retain(d->v[i]);
                rc = tv_dict_set(r, tv_d(*out), d->k[i], d->v[i]);
            }
        } else {
            tval_t items;
            if (!(rc = te_to_list(r, src, &items))) {
                for (size_t i = 0; !rc && i < tv_l(items)->n; i++) {
                    tval_t pair = tv_l(items)->v[i];
                    if (pair.kind != TV_LIST || tv_l(pair)->n != 2) {
                        rc =
                            te_fail(r, ERR_TEMPLATE, "dictionary update sequence element #%zu has the wrong length", i);
                        break;
                    }
                    tv_retain(tv_l(pair)->v[0]);
                    tv_retain(tv_l(pair)->v[1]);
                    rc = tv_dict_set(r, tv_d(*out), tv_l(pair)->v[0], tv_l(pair)->v[1]);
                }
                tv_release(items);
            }
        }
    }
    for (size_t i = 0; !rc && i < a->nkw; i++) {
        tval_t k;
        if (!(rc = tv_str_cstr(r, a->kwn[i], &k))) {
            tv_retain(a->kwv[i]);
            rc = tv_dict_set(r, tv_d(*out), k, a->kwv[i]);
        }
    }
    if (rc) tv_clear(out);
    return rc;
}

static int fn_strftime(trender_t *r, const targs_t *a, tval_t *out) {
    if (a->npos != 1 || a->nkw || a->pos[0].kind != TV_STR)
        return te_fail(r, ERR_TEMPLATE, "strftime_now() takes one string argument");
    tstr_t *fmt = tv_s(a->pos[0]);
    /* Python's naive datetime: %f is microseconds (0 here), %z and %Z are empty. */
    tbuf_t f = {0}, o = {0};
    int rc = 0;
    for (size_t i = 0; !rc && i < fmt->len; i++) {
        if (fmt->s[i] == '%' && i + 1 < fmt->len && strchr("fzZ", fmt->s[i + 1])) {
            if (fmt->s[i + 1] == 'f') rc = tb_puts(r, &f, "000000");
            i++;
        } else if (fmt->s[i] == '%' && i + 1 < fmt->len && fmt->s[i + 1] == '%') {
            rc = tb_put(r, &f, "%%", 2);
            i++;
        } else {
            rc = tb_putc(r, &f, fmt->s[i]);
        }
    }
    if (!rc) {
        time_t t = (time_t)r->now;
        struct tm tm;
        gmtime_r(&t, &tm);
        size_t cap = 256 + 16 * tb_len(&f), n = 0;
        if (cap > r->max_str) cap = r->max_str;
        if (!(rc = te_charge(r, cap))) {
            char *buf = malloc(cap);
            if (!buf)
                rc = te_fail(r, ERR_NOMEM, "out of memory");
            else {
                n = tb_len(&f) ? strftime(buf, cap, tb_data(&f), &tm) : 0;
                rc = tb_put(r, &o, buf, n);
                free(buf);
            }
        }
    }
    if (!rc) rc = tb_finish(r, &o, out);
    tb_free(&f);
    tb_free(&o);
    return rc;
}

static int fn_cycler(trender_t *r, const targs_t *a, bool joiner, tval_t *out) {
    tval_t items;
    int rc;
    if (joiner) {
        if (a->npos > 1 || a->nkw > 1 || (a->nkw && strcmp(a->kwn[0], "sep")))
            return te_fail(r, ERR_TEMPLATE, "joiner() takes at most one argument 'sep'");
        tval_t sep;
        if (a->npos)
            rc = tv_to_str(r, a->pos[0], &sep);
        else if (a->nkw)
            rc = tv_to_str(r, a->kwv[0], &sep);
        else
            rc = tv_str_new(r, ", ", 2, &sep);
        if (rc) return rc;
        if ((rc = tv_list_new(r, 1, false, &items))) {
            tv_release(sep);
            return rc;
        }
        tv_l(items)->v[0] = sep;
        tv_l(items)->n = 1;
    } else {
        if (a->nkw || a->npos == 0) return te_fail(r, ERR_TEMPLATE, "cycler() takes one or more positional arguments");
        if ((rc = tv_list_new(r, a->npos, false, &items))) return rc;
        for (size_t i = 0; i < a->npos; i++) {
            tv_retain(a->pos[i]);
            tv_l(items)->v[i] = a->pos[i];
        }
        tv_l(items)->n = a->npos;
    }
    if (te_charge(r, sizeof(tcycler_t))) {
        tv_release(items);
        return r->rc;
    }
    tcycler_t *c = calloc(1, sizeof(*c));
    if (!c) {
        tv_release(items);
        return te_fail(r, ERR_NOMEM, "out of memory");
    }
    c->h.refs = 1;
    c->h.kind = TV_CYCLER;
    c->joiner = joiner;
    c->items = tv_l(items);
    *out = tv_obj(TV_CYCLER, c);
    return 0;
}

static int call_func(trender_t *r, int id, const targs_t *a, tval_t *out) {
    switch (id) {
    case TV_FN_RANGE: return fn_range(r, a, out);
    case TV_FN_DICT: return fn_dict(r, a, false, out);
    case TV_FN_NAMESPACE: return fn_dict(r, a, true, out);
    case TV_FN_RAISE: {
        tval_t msg = tv_undef();
        if (a->npos >= 1)
            msg = a->pos[0];
        else if (a->nkw >= 1)
            msg = a->kwv[0];
        tbuf_t b = {0};
        int rc = tv_write_str(r, &b, msg);
        if (!rc) rc = te_fail(r, ERR_TEMPLATE, "%s", tb_data(&b));
        tb_free(&b);
        return rc;
    }
    case TV_FN_STRFTIME: return fn_strftime(r, a, out);
    case TV_FN_CYCLER: return fn_cycler(r, a, false, out);
    case TV_FN_JOINER: return fn_cycler(r, a, true, out);
    default: return te_fail(r, ERR_UNSUPPORTED, "this global function is not supported");
    }
}

/* ---- macros ---- */

static int call_macro(trender_t *r, tmacro_t *m, const targs_t *a, tval_t *out) {
    const tnode_t *def = m->def;
    bool is_caller = def->kind == N_CALLBLOCK;
    const tnode_t *body = is_caller ? def->k[1] : def->k[0];
    uint32_t first = is_caller ? 2 : 1, nparams = def->n - first;
    const char *mname = is_caller ? "caller" : def->name;
    int rc;
    if ((rc = te_step(r))) return rc;
    if (++r->depth > r->max_depth) {
        r->depth--;
        return te_fail(r, ERR_LIMIT, "recursion deeper than %d calls", r->max_depth);
    }
    tframe_t *mf = te_frame_new(r, m->closure);
    tval_t varargs = tv_undef(), kwargs = tv_undef();
    bool *given = NULL, has_caller = false;
    if (!mf) {
        rc = r->rc;
        goto cleanup;
    }
    if (a->npos > nparams && !(def->flags & TP_USES_VARARGS)) {
        rc = te_fail(r, ERR_TEMPLATE, "macro '%s' takes not more than %u argument(s)", mname, nparams);
        goto cleanup;
    }
    given = calloc(nparams + 1, sizeof(bool));
    if (!given) {
        rc = te_fail(r, ERR_NOMEM, "out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < a->npos && i < nparams; i++) {
        tv_retain(a->pos[i]);
        if ((rc = te_frame_set(r, mf, def->k[first + i]->name, a->pos[i]))) goto cleanup;
        given[i] = true;
    }
    if ((def->flags & TP_USES_VARARGS)) {
        if ((rc = tv_list_new(r, 0, true, &varargs))) goto cleanup;
        for (size_t i = nparams; i < a->npos; i++) {
            tv_retain(a->pos[i]);
            if ((rc = tv_list_push(r, tv_l(varargs), a->pos[i]))) goto cleanup;
        }
    }
    if ((def->flags & TP_USES_KWARGS) && (rc = tv_dict_new(r, 0, &kwargs))) goto cleanup;
    for (size_t k = 0; k < a->nkw; k++) {
        const char *kn = a->kwn[k];
        uint32_t i = 0;
        while (i < nparams && strcmp(def->k[first + i]->name, kn))
            i++;
        if (i < nparams) {
            if (given[i]) {
                rc = te_fail(r, ERR_TEMPLATE, "macro '%s' got multiple values for argument '%s'", mname, kn);
                goto cleanup;
            }
            given[i] = true;
            tv_retain(a->kwv[k]);
            if ((rc = te_frame_set(r, mf, def->k[first + i]->name, a->kwv[k]))) goto cleanup;
        } else if (!strcmp(kn, "caller") && (def->flags & TP_USES_CALLER)) {
            tv_retain(a->kwv[k]);
            if ((rc = te_frame_set(r, mf, "caller", a->kwv[k]))) goto cleanup;
            has_caller = true;
        } else if (!strcmp(kn, "caller")) {
            rc = te_fail(r, ERR_TEMPLATE,
                         "macro '%s' was invoked with two values for the special caller argument. This is most "
                         "likely a bug.",
                         mname);
            goto cleanup;
        } else if (def->flags & TP_USES_KWARGS) {
            tval_t key;
            if ((rc = tv_str_cstr(r, kn, &key))) goto cleanup;
            tv_retain(a->kwv[k]);
            if ((rc = tv_dict_set(r, tv_d(kwargs), key, a->kwv[k]))) goto cleanup;
        } else {
            rc = te_fail(r, ERR_TEMPLATE, "macro '%s' takes no keyword argument '%s'", mname, kn);
            goto cleanup;
        }
    }
    for (uint32_t i = 0; i < nparams; i++) { /* defaults, evaluated in the macro's scope in order */
        if (given[i]) continue;
        const tnode_t *p = def->k[first + i];
        tval_t v;
        if (p->n > 0)
            rc = te_eval(r, p->k[0], mf, &v);
        else {
            tval_t key;
            if (!(rc = tv_str_cstr(r, p->name, &key))) {
                rc = tv_undef_new(r, TU_NAME, NULL, key, &v);
                tv_release(key);
            }
        }
        if (rc || (rc = te_frame_set(r, mf, p->name, v))) goto cleanup;
    }
    if ((def->flags & TP_USES_CALLER) && !has_caller) {
        tval_t none;
        if ((rc = tv_undef_msg(r, "No caller defined", &none)) || (rc = te_frame_set(r, mf, "caller", none)))
            goto cleanup;
    }
    if (varargs.kind != TV_UNDEF) {
        rc = te_frame_set(r, mf, "varargs", varargs);
        varargs = tv_undef();
        if (rc) goto cleanup;
    }
    if (kwargs.kind != TV_UNDEF) {
        rc = te_frame_set(r, mf, "kwargs", kwargs);
        kwargs = tv_undef();
        if (rc) goto cleanup;
    }
    tbuf_t b = {0};
    rc = te_exec(r, body, mf, &b);
    if (rc > 0) rc = 0;
    if (!rc) rc = tb_finish(r, &b, out);
    tb_free(&b);
cleanup:
    free(given);
    tv_release(varargs);
    tv_release(kwargs);
    te_frame_leave(r, mf);
    r->depth--;
    return rc;
}

int te_call(trender_t *r, tval_t callee, const targs_t *a, tval_t *out) {
    *out = tv_undef();
    switch (callee.kind) {
    case TV_UNDEF: return tv_undef_fail(r, callee);
    case TV_MACRO: return call_macro(r, (tmacro_t *)callee.u.o, a, out);
    case TV_FUNC: return call_func(r, (int)callee.u.i, a, out);
    case TV_METHOD: {
        tmethod_t *m = (tmethod_t *)callee.u.o;
        return tm_call(r, m->self, m->name, a, out);
    }
    case TV_LOOP: {
        if (a->npos != 1 || a->nkw) return te_fail(r, ERR_TEMPLATE, "loop() takes exactly one argument");
        tbuf_t b = {0};
        int rc = te_loop_again(r, (tloop_t *)callee.u.o, a->pos[0], &b);
        if (!rc) rc = tb_finish(r, &b, out);
        tb_free(&b);
        return rc;
    }
    case TV_CYCLER: {
        tcycler_t *c = (tcycler_t *)callee.u.o;
        if (!c->joiner) return te_fail(r, ERR_TEMPLATE, "'Cycler' object is not callable");
        if (!c->used) {
            c->used = 1;
            return tv_str_new(r, "", 0, out);
        }
        tv_retain(c->items->v[0]);
        *out = c->items->v[0];
        return 0;
    }
    default: return te_fail(r, ERR_TEMPLATE, "'%s' object is not callable", tv_type_name(callee));
    }
}
