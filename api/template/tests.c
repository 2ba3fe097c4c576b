/*
 * tests.c — Jinja2's builtin tests, the right-hand side of `x is name(args)` and the tests select/reject apply.
 *
 * Owns: tt_test_id/tt_apply and the tests boolean, callable, defined, divisibleby, eq/equalto/==, escaped, even,
 * false, filter, float, ge/>=, gt/greaterthan/>, in, integer, iterable, le/<=, lower, lt/lessthan/<, mapping,
 * ne/!=, none, number, odd, sameas, sequence, string, test, true, undefined, upper.
 * Type tests follow Python's isinstance checks as Jinja 3.1 writes them: `True is number` holds (bool is a
 * Number), dicts and strings are sequences, namespaces are not mappings, Undefined is iterable.
 *
 * Single-threaded per render.
 */
#include <string.h>

#include "err.h"
#include "eval.h"

typedef enum {
    T_BOOLEAN,
    T_CALLABLE,
    T_DEFINED,
    T_DIVISIBLEBY,
    T_EQ,
    T_ESCAPED,
    T_EVEN,
    T_FALSE,
    T_FILTER,
    T_FLOAT,
    T_GE,
    T_GT,
    T_IN,
    T_INTEGER,
    T_ITERABLE,
    T_LE,
    T_LOWER,
    T_LT,
    T_MAPPING,
    T_NE,
    T_NONE,
    T_NUMBER,
    T_ODD,
    T_SAMEAS,
    T_SEQUENCE,
    T_STRING,
    T_TEST,
    T_TRUE,
    T_UNDEFINED,
    T_UPPER,
} ttest_t;

static const struct {
    const char *name;
    ttest_t id;
} tests[] = {
    {"boolean", T_BOOLEAN},
    {"callable", T_CALLABLE},
    {"defined", T_DEFINED},
    {"divisibleby", T_DIVISIBLEBY},
    {"eq", T_EQ},
    {"equalto", T_EQ},
    {"==", T_EQ},
    {"escaped", T_ESCAPED},
    {"even", T_EVEN},
    {"false", T_FALSE},
    {"filter", T_FILTER},
    {"float", T_FLOAT},
    {"ge", T_GE},
    {">=", T_GE},
    {"gt", T_GT},
    {"greaterthan", T_GT},
    {">", T_GT},
    {"in", T_IN},
    {"integer", T_INTEGER},
    {"iterable", T_ITERABLE},
    {"le", T_LE},
    {"<=", T_LE},
    {"lower", T_LOWER},
    {"lt", T_LT},
    {"lessthan", T_LT},
    {"<", T_LT},
    {"mapping", T_MAPPING},
    {"ne", T_NE},
    {"!=", T_NE},
    {"none", T_NONE},
    {"number", T_NUMBER},
    {"odd", T_ODD},
    {"sameas", T_SAMEAS},
    {"sequence", T_SEQUENCE},
    {"string", T_STRING},
    {"test", T_TEST},
    {"true", T_TRUE},
    {"undefined", T_UNDEFINED},
    {"upper", T_UPPER},
};
#define N_TESTS (sizeof(tests) / sizeof(tests[0]))

int tt_test_id(const char *name) {
    for (size_t i = 0; i < N_TESTS; i++)
        if (!strcmp(tests[i].name, name)) return (int)i;
    return -1;
}

/* value % divisor == rem, with Python's modulo. */
static int mod_is(trender_t *r, tval_t v, tval_t divisor, int64_t rem, bool *res) {
    tval_t m;
    int rc = to_binop(r, OP_MOD, v, divisor, &m);
    if (rc) return rc;
    *res = tv_eq(m, tv_int(rem));
    tv_release(m);
    return 0;
}

/* str(v).islower() / isupper(): at least one cased character and none of the other case. */
static int case_test(trender_t *r, tval_t v, bool upper, bool *res) {
    tval_t s;
    int rc = tv_to_str(r, v, &s);
    if (rc) return rc;
    bool cased = false, bad = false;
    for (size_t i = 0; i < tv_s(s)->len && !bad;) {
        uint32_t c = tu_decode(tv_s(s)->s, tv_s(s)->len, &i);
        if (upper ? tu_iscased_upper(c) : tu_iscased_lower(c))
            cased = true;
        else if (upper ? tu_iscased_lower(c) : tu_iscased_upper(c))
            bad = true;
    }
    tv_release(s);
    *res = cased && !bad;
    return 0;
}

static int compare(trender_t *r, int op, tval_t a, tval_t b, bool *res) {
    tval_t v = tv_undef();
    int rc = to_binop(r, op, a, b, &v);
    if (!rc) *res = tv_truthy(v);
    tv_release(v);
    return rc;
}

int tt_apply(trender_t *r, int id, tval_t v, const targs_t *a, bool *res) {
    int rc;
    if ((rc = te_step(r))) return rc;
    if (id < 0 || (size_t)id >= N_TESTS) return te_fail(r, ERR_TEMPLATE, "unknown test");
    ttest_t t = tests[id].id;
    const char *name = tests[id].name;
    size_t want = t == T_DIVISIBLEBY || t == T_EQ || t == T_GE || t == T_GT || t == T_IN || t == T_LE || t == T_LT ||
                          t == T_NE || t == T_SAMEAS
                      ? 1
                      : 0;
    if (a->nkw) return te_fail(r, ERR_TEMPLATE, "test '%s' takes no keyword arguments", name);
    if (a->npos != want)
        return te_fail(r, ERR_TEMPLATE, "test '%s' takes %zu argument%s (%zu given)", name, want, want == 1 ? "" : "s",
                       a->npos);
    tval_t x = want ? a->pos[0] : tv_undef();
    *res = false;
    switch (t) {
    case T_BOOLEAN: *res = v.kind == TV_BOOL; return 0;
    case T_CALLABLE:
        *res = v.kind == TV_MACRO || v.kind == TV_FUNC || v.kind == TV_METHOD || v.kind == TV_LOOP ||
               v.kind == TV_UNDEF || (v.kind == TV_CYCLER && ((tcycler_t *)v.u.o)->joiner);
        return 0;
    case T_DEFINED: *res = v.kind != TV_UNDEF; return 0;
    case T_UNDEFINED: *res = v.kind == TV_UNDEF; return 0;
    case T_DIVISIBLEBY: return mod_is(r, v, x, 0, res);
    case T_EVEN: return mod_is(r, v, tv_int(2), 0, res);
    case T_ODD: return mod_is(r, v, tv_int(2), 1, res);
    case T_ESCAPED: *res = v.kind == TV_STR && v.safe; return 0;
    case T_FALSE: *res = v.kind == TV_BOOL && !v.u.i; return 0;
    case T_TRUE: *res = v.kind == TV_BOOL && v.u.i; return 0;
    case T_NONE: *res = v.kind == TV_NONE; return 0;
    case T_FLOAT: *res = v.kind == TV_FLOAT; return 0;
    case T_INTEGER: *res = v.kind == TV_INT; return 0;
    case T_NUMBER: *res = tv_is_num(v); return 0;
    case T_STRING: *res = v.kind == TV_STR; return 0;
    case T_MAPPING: *res = v.kind == TV_DICT; return 0;
    case T_SEQUENCE:
        *res = v.kind == TV_STR || (v.kind == TV_LIST && !tv_l(v)->view) || v.kind == TV_DICT || v.kind == TV_UNDEF;
        return 0;
    case T_ITERABLE:
        *res = v.kind == TV_STR || v.kind == TV_LIST || v.kind == TV_DICT || v.kind == TV_UNDEF || v.kind == TV_GEN ||
               v.kind == TV_LOOP;
        return 0;
    case T_LOWER: return case_test(r, v, false, res);
    case T_UPPER: return case_test(r, v, true, res);
    case T_SAMEAS:
        if (v.kind != x.kind)
            *res = false;
        else if (tv_is_heap(v))
            *res = v.u.o == x.u.o;
        else
            *res = v.kind == TV_FLOAT ? v.u.f == x.u.f : v.u.i == x.u.i;
        return 0;
    case T_IN: return to_contains(r, x, v, res);
    case T_EQ: return compare(r, OP_EQ, v, x, res);
    case T_NE: return compare(r, OP_NE, v, x, res);
    case T_LT: return compare(r, OP_LT, v, x, res);
    case T_LE: return compare(r, OP_LE, v, x, res);
    case T_GT: return compare(r, OP_GT, v, x, res);
    case T_GE: return compare(r, OP_GE, v, x, res);
    case T_FILTER: *res = v.kind == TV_STR && tf_filter_id(tv_s(v)->s) >= 0; return 0;
    case T_TEST: *res = v.kind == TV_STR && tt_test_id(tv_s(v)->s) >= 0; return 0;
    }
    return 0;
}
