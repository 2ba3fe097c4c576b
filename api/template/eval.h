/*
 * eval.h — the state of one render and the interfaces between the evaluator and the builtins (internal).
 *
 * Owns: trender_t (limits, error, clock), scopes (tframe_t), the objects only evaluation creates (macros, the
 * `loop` variable, cyclers), call arguments (targs_t), and the entry points each part provides: the tree walk
 * (eval.c), calls and lookups (calls.c), operators (ops.c), string formatting (format.c), filters (filters.c,
 * filters_seq.c), tests (tests.c), Python methods (methods.c) and JSON (json.c).
 * Does not own: parsing (ast.h) or value representation (value.h).
 *
 * A trender_t belongs to one thread for one tmpl_render call; nothing in it is shared.
 *
 * Internal sub-prefixes: te_ (evaluator, calls), tf_ (filters), tt_ (tests), tm_ (methods), tj_ (JSON),
 * to_ (operators and formatting).
 */
#ifndef CINDER_TMPL_EVAL_H
#define CINDER_TMPL_EVAL_H

#include <stdint.h>

#include <cJSON.h>

#include "ast.h"
#include "value.h"

/* One scope: a for-loop iteration, a macro call, a with/filter/set block, or the template's top level. */
typedef struct tframe tframe_t;
struct tframe {
    tframe_t *parent;   /* enclosing scope (the closure, for macro calls) */
    tframe_t *retained; /* next frame in trender_t.retained */
    uint8_t captured;   /* a macro closes over this frame: keep it until the render ends */
    size_t n, cap;      /* variables used / allocated */
    struct tvar {
        const char *name; /* borrowed: the template's arena or the context's cJSON keys, both outlive the render */
        tval_t v;         /* owned */
    } * vars;
};

typedef struct tmacro {
    tobj_t h;
    const tnode_t *def; /* N_MACRO, or N_CALLBLOCK for a `caller` */
    tframe_t *closure;  /* the defining scope, kept alive by its captured flag */
} tmacro_t;

typedef struct tloop {
    tobj_t h;
    tlist_t *items;      /* the filtered items being iterated (owned) */
    size_t i;            /* index0 of the current item */
    int depth0;          /* recursion depth of a recursive loop */
    tval_t changed_last; /* argument of the previous loop.changed() call (owned; Undefined at first) */
    const tnode_t *node; /* the N_FOR, for recursive loop(...) calls */
    tframe_t *frame;     /* the scope the for statement runs in, while active */
    uint8_t active;      /* 0 once the loop has finished: calling it is then an error */
} tloop_t;

typedef struct tcycler {
    tobj_t h;
    uint8_t joiner; /* 1: joiner(sep) — returns "" the first call, sep afterwards */
    uint8_t used;   /* joiner: called before */
    tlist_t *items; /* cycler items, or [sep] for a joiner (owned) */
    size_t pos;
} tcycler_t;

/* Limits of one render; see tmpl_render_opts_t in tmpl.h. */
struct trender {
    const tnode_t *root;
    tframe_t *globals;    /* the context's variables and the template's top-level assignments */
    tframe_t *retained;   /* captured frames, freed when the render ends */
    tlist_t *namespaces;  /* every namespace created, emptied at the end to break reference cycles */
    int64_t now;          /* strftime_now clock, Unix seconds (UTC) */
    size_t max_str;       /* bytes: the longest string, list or output allowed */
    size_t budget;        /* bytes of allocation left to this render */
    uint64_t steps;       /* loop iterations, calls and filter items left */
    int depth, max_depth; /* macro/caller/recursive-loop call depth and its limit */
    int cdepth;           /* C recursion depth of the evaluator */
    int line;             /* template line being evaluated, for messages */
    int rc;               /* first error code, 0 while none */
    char *err;            /* caller's message buffer */
    size_t err_len;
};

/* Evaluator recursion (statements + expressions + calls). At this depth a render uses under 256 KiB of C stack
 * (under 1 MiB with AddressSanitizer), well inside the default 8 MiB thread stack. */
#define TE_MAX_CDEPTH 1000

/* Call arguments: positional values then keyword values. All borrowed. */
typedef struct targs {
    const tval_t *pos;
    size_t npos;
    const char *const *kwn; /* keyword names */
    const tval_t *kwv;      /* keyword values */
    size_t nkw;
} targs_t;

/* ---- errors and limits (eval.c) ---- */
/* Records the first error of the render (with the current template line) and returns code. */
int te_fail(trender_t *r, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Charges bytes against the allocation budget; ERR_LIMIT when exhausted. */
int te_charge(trender_t *r, size_t bytes);
/* Consumes one step (loop iteration, call, filtered item); ERR_LIMIT when exhausted. */
int te_step(trender_t *r);

/*
 * Binds args to the parameter names of a builtin: slots[i] receives the value for names[i] (borrowed) and
 * given[i] whether it was passed. Fails on unknown keywords or too many positional arguments.
 */
int te_bind(trender_t *r, const targs_t *a, const char *fn, const char *const *names, size_t n, tval_t *slots,
            bool *given);
/* Creates a namespace object registered with the render (so reference cycles through it are broken at the end). */
int te_namespace_new(trender_t *r, tval_t *out);

/* ---- scopes and execution (eval.c) ---- */
tframe_t *te_frame_new(trender_t *r, tframe_t *parent);
/* Ends a scope: frees it, or keeps it until the render ends when a macro closes over it. */
void te_frame_leave(trender_t *r, tframe_t *f);
/* Marks f and its ancestors as captured by a closure. */
void te_capture(tframe_t *f);
/* Sets name in f, taking v. */
int te_frame_set(trender_t *r, tframe_t *f, const char *name, tval_t v);
/* Evaluates an expression node: *out receives one reference. */
int te_eval(trender_t *r, const tnode_t *n, tframe_t *f, tval_t *out);
/* Executes a statement node, appending output to out. Returns 0, a negative error, or TE_BREAK/TE_CONTINUE. */
int te_exec(trender_t *r, const tnode_t *n, tframe_t *f, tbuf_t *out);
enum { TE_BREAK = 1, TE_CONTINUE = 2 };
/* Runs a recursive loop's body again over items (the call `loop(items)`), appending output to out. */
int te_loop_again(trender_t *r, tloop_t *lp, tval_t items, tbuf_t *out);
/* Renders the whole template with the given top-level scope (render entry used by tmpl.c). */
int te_render(trender_t *r, tbuf_t *out);
/* Frees what the render still holds: retained frames, namespaces, the globals frame. */
void te_cleanup(trender_t *r);

/* ---- evaluation services for the builtins (calls.c) ---- */
/* Jinja's environment.getattr: attribute first (methods, namespace fields), then item; Undefined if neither. */
int te_getattr(trender_t *r, tval_t obj, const char *name, size_t len, tval_t *out);
/* Jinja's environment.getitem: item first, then attribute; Undefined if neither. */
int te_getitem(trender_t *r, tval_t obj, tval_t key, tval_t *out);
/* Calls a macro, global function, bound method, loop or cycler value. */
int te_call(trender_t *r, tval_t callee, const targs_t *a, tval_t *out);
/* list(v): the items of any iterable as a new list (generators are consumed; dicts give keys). */
int te_to_list(trender_t *r, tval_t v, tval_t *out);
/* Dotted attribute path ("a.b.0") as selectattr/map/sort use it. */
int te_getattr_path(trender_t *r, tval_t obj, tval_t path, tval_t *out);

/* ---- operators (ops.c) ---- */
/* Binary operator op (OP_ADD ... OP_TILDE, comparisons, OP_IN, OP_NOTIN) with Python semantics. */
int to_binop(trender_t *r, int op, tval_t a, tval_t b, tval_t *out);
/* Unary minus/plus. */
int to_unary(trender_t *r, int op, tval_t a, tval_t *out);
/* Python `a in b`. */
int to_contains(trender_t *r, tval_t container, tval_t item, bool *res);
/* Python slicing s[start:stop:step] of str, list or tuple; absent parts are None/Undefined. */
int to_slice(trender_t *r, tval_t obj, tval_t start, tval_t stop, tval_t step, tval_t *out);
/* Python subscription obj[key] for str/list/tuple/dict; *found false when the key is missing. */
int to_subscript(trender_t *r, tval_t obj, tval_t key, tval_t *out, bool *found);
/* Markup escaping of str(v) (& < > ' "), as Markup. */
int to_escape(trender_t *r, tval_t v, tval_t *out);
/* ---- string formatting (format.c) ---- */
/* Python printf-style formatting: fmt % args (args a tuple, a dict or a single value). */
int to_percent_format(trender_t *r, tval_t fmt, tval_t args, tval_t *out);
/* Python str.format(*args, **kwargs) on fmt. */
int to_str_format(trender_t *r, tval_t fmt, const targs_t *a, tval_t *out);

/* ---- builtins ---- */
typedef int (*tf_fn_t)(trender_t *r, tval_t in, const targs_t *a, tval_t *out);
typedef struct {
    const char *name;
    tf_fn_t fn;
} tf_entry_t;
extern const tf_entry_t tf_seq_filters[]; /* filters_seq.c: filters over sequences */
extern const size_t tf_n_seq_filters;
/* Sorts n values in place (stable) by key (keys[i] for vals[i]; keys may be vals), Python's `<`. */
int tf_sort_values(trender_t *r, tval_t *vals, tval_t *keys, size_t n, bool reverse);
/* The lower-cased copy of a string (other values returned as they are): Jinja's ignore_case. */
int tf_ignore_case(trender_t *r, tval_t v, tval_t *out);
int tf_apply(trender_t *r, int id, tval_t input, const targs_t *a, tval_t *out); /* filters.c */
int tt_apply(trender_t *r, int id, tval_t input, const targs_t *a, bool *res);   /* tests.c */
/* Returns true if `name` is a method of v's type (so attribute access yields a bound method). */
bool tm_has_method(tval_t v, const char *name, bool *unsafe);
int tm_call(trender_t *r, tval_t self, const char *name, const targs_t *a, tval_t *out); /* methods.c */

/* ---- JSON (json.c) ---- */
/* Converts a cJSON tree to a value (objects -> dict, arrays -> list, integral numbers -> int). */
int tj_from_cjson(trender_t *r, const cJSON *j, tval_t *out);
typedef struct tj_opts {
    bool ensure_ascii;
    bool sort_keys;
    bool indent_set;    /* indent given (not None) */
    const char *indent; /* indent string */
    size_t indent_len;
    const char *item_sep, *key_sep; /* separators; NULL: Python's defaults */
    size_t item_sep_len, key_sep_len;
} tj_opts_t;
/* Python json.dumps(v, ...) appended to b. */
int tj_dumps(trender_t *r, tbuf_t *b, tval_t v, const tj_opts_t *o);

#endif
