/*
 * value.h — template values: the Python objects a Jinja template computes with (internal to api/template).
 *
 * Owns: the tagged value type (tval_t), reference counting, strings, lists/tuples, dicts, namespaces, the
 * Undefined object with its error hint, string buffers, UTF-8 helpers, and the Python semantics shared by every
 * other file: truthiness, equality, ordering, str() and repr().
 * Does not own: evaluation (eval.c), filters, methods, JSON (json.c).
 *
 * Values are passed by value (16 bytes). Heap objects carry a reference count; "retain" and "release" are
 * single-threaded because every heap value lives in exactly one render. The only values shared between threads
 * are the constants inside a compiled template: they are immortal (refs < 0) and never touched by
 * retain/release, which keeps compiled templates immutable and safe to render from many threads at once.
 *
 * Ownership convention: a function that "returns" a value through `tval_t *out` hands the caller one reference;
 * a function taking `tval_t v` by value borrows it unless its comment says it takes (consumes) it.
 *
 * Internal sub-prefixes: tv_ (values), tb_ (byte buffers), tu_ (UTF-8 and Unicode helpers).
 */
#ifndef CINDER_TMPL_VALUE_H
#define CINDER_TMPL_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct trender trender_t; /* one render's state: limits, error, frames (eval.h) */

typedef enum {
    TV_UNDEF = 0, /* Jinja Undefined; u.o is NULL or a tundef_t hint */
    TV_NONE,
    TV_BOOL,   /* u.i is 0 or 1 */
    TV_INT,    /* u.i */
    TV_FLOAT,  /* u.f */
    TV_FUNC,   /* a global function (range, namespace, ...); u.i is its tv_func_t id */
    TV_STR,    /* tstr_t; tval_t.safe marks a Markup string */
    TV_LIST,   /* tlist_t; also tuples (tlist_t.tuple) */
    TV_DICT,   /* tdict_t, insertion ordered */
    TV_NS,     /* namespace(): a tdict_t whose values templates may assign */
    TV_MACRO,  /* tmacro_t (eval.h) */
    TV_METHOD, /* tmethod_t: a bound str/list/dict method, e.g. the value of `s.split` */
    TV_LOOP,   /* tloop_t (eval.h): the `loop` variable */
    TV_GEN,    /* tgen_t: a one-shot iterator (the result of map, select, unique, reverse...) */
    TV_CYCLER, /* tcycler_t (eval.h): cycler() and joiner() objects */
} tv_kind_t;

/* The common header of every heap object. refs < 0 marks an immortal constant owned by a compiled template. */
typedef struct tobj {
    int32_t refs;
    uint8_t kind;           /* tv_kind_t */
    struct tobj *dead_next; /* free list while releasing, so freeing deep nests needs no recursion */
} tobj_t;

typedef struct tval {
    uint8_t kind; /* tv_kind_t */
    uint8_t safe; /* TV_STR only: 1 for a Markup string (the result of |safe, |e) */
    union {
        int64_t i;
        double f;
        tobj_t *o;
    } u;
} tval_t;

typedef struct tstr {
    tobj_t h;
    size_t len; /* bytes, UTF-8 */
    char s[];   /* len bytes and a terminating NUL */
} tstr_t;

typedef struct tlist {
    tobj_t h;
    uint8_t tuple; /* 1: a Python tuple (prints with parentheses) */
    uint8_t group; /* a groupby() result pair, which also answers .grouper and .list */
    uint8_t view;  /* TV_VIEW_*: the result of dict.keys()/values()/items(), not a real list */
    size_t n, cap; /* items used / allocated */
    tval_t *v;     /* n items */
} tlist_t;

enum { TV_VIEW_NONE, TV_VIEW_KEYS, TV_VIEW_VALUES, TV_VIEW_ITEMS };

typedef struct tdict {
    tobj_t h;
    size_t n, cap; /* entries used / allocated */
    tval_t *k;     /* n keys, insertion order */
    tval_t *v;     /* n values */
} tdict_t;

typedef enum { TU_NAME, TU_ATTR, TU_ELEM, TU_UNSAFE, TU_MSG } tundef_how_t;

/* Why a value is undefined, kept to produce Jinja's message when the value is finally misused. */
typedef struct tundef {
    tobj_t h;
    uint8_t how;       /* tundef_how_t */
    const char *owner; /* TU_ATTR/TU_ELEM/TU_UNSAFE: Python type name of the object ("dict"), static */
    const char *msg;   /* TU_MSG: the whole message, static */
    tval_t key;        /* TU_NAME/TU_ATTR/TU_ELEM/TU_UNSAFE: the missing name or index (owned) */
} tundef_t;

typedef struct tmethod {
    tobj_t h;
    tval_t self;      /* the receiver (owned) */
    const char *name; /* method name, static */
} tmethod_t;

typedef struct tgen {
    tobj_t h;
    const char *type; /* Python type name for messages: "generator", "list_reverseiterator" */
    tlist_t *items;   /* materialised items (owned) */
    size_t pos;       /* next item; the generator is exhausted when pos == items->n */
} tgen_t;

/* Global functions templates can call. */
typedef enum {
    TV_FN_RANGE = 1,
    TV_FN_DICT,
    TV_FN_NAMESPACE,
    TV_FN_RAISE,
    TV_FN_STRFTIME,
    TV_FN_CYCLER,
    TV_FN_JOINER,
    TV_FN_LIPSUM,
} tv_func_t;

/* ---- immediates ---- */
static inline tval_t tv_undef(void) { return (tval_t){.kind = TV_UNDEF}; }
static inline tval_t tv_none(void) { return (tval_t){.kind = TV_NONE}; }
static inline tval_t tv_bool(bool b) { return (tval_t){.kind = TV_BOOL, .u.i = b ? 1 : 0}; }
static inline tval_t tv_int(int64_t i) { return (tval_t){.kind = TV_INT, .u.i = i}; }
static inline tval_t tv_float(double f) { return (tval_t){.kind = TV_FLOAT, .u.f = f}; }
static inline tval_t tv_func(tv_func_t id) { return (tval_t){.kind = TV_FUNC, .u.i = id}; }
static inline tval_t tv_obj(uint8_t kind, void *o) { return (tval_t){.kind = kind, .u.o = (tobj_t *)o}; }

static inline bool tv_is_heap(tval_t v) { return v.kind >= TV_STR || (v.kind == TV_UNDEF && v.u.o); }
static inline tstr_t *tv_s(tval_t v) { return (tstr_t *)v.u.o; }
static inline tlist_t *tv_l(tval_t v) { return (tlist_t *)v.u.o; }
static inline tdict_t *tv_d(tval_t v) { return (tdict_t *)v.u.o; }
static inline bool tv_is_num(tval_t v) { return v.kind == TV_BOOL || v.kind == TV_INT || v.kind == TV_FLOAT; }
static inline bool tv_is_intlike(tval_t v) { return v.kind == TV_BOOL || v.kind == TV_INT; }
static inline double tv_num(tval_t v) { return v.kind == TV_FLOAT ? v.u.f : (double)v.u.i; }

/* ---- reference counting ---- */
void tv_retain(tval_t v);
void tv_release(tval_t v);
/* Releases *v and sets it to Undefined, so cleanup paths may call it twice. */
void tv_clear(tval_t *v);

/* ---- construction; each charges the render's memory budget and fails with ERR_NOMEM/ERR_LIMIT ---- */
int tv_str_new(trender_t *r, const char *s, size_t n, tval_t *out);
int tv_str_cstr(trender_t *r, const char *s, tval_t *out);
int tv_list_new(trender_t *r, size_t cap, bool tuple, tval_t *out);
/* Appends v to the list, taking the reference (released on failure too). */
int tv_list_push(trender_t *r, tlist_t *l, tval_t v);
int tv_dict_new(trender_t *r, size_t cap, tval_t *out);
/* Sets d[k] = v, taking both references (released on failure too). Keys compare with Python ==. */
int tv_dict_set(trender_t *r, tdict_t *d, tval_t k, tval_t v);
/* Borrowed pointer to d[k], or NULL. */
tval_t *tv_dict_get(const tdict_t *d, tval_t k);
tval_t *tv_dict_get_str(const tdict_t *d, const char *s, size_t n);
/* Undefined values carrying the reason; key is borrowed (retained inside). */
int tv_undef_new(trender_t *r, tundef_how_t how, const char *owner, tval_t key, tval_t *out);
int tv_undef_msg(trender_t *r, const char *msg, tval_t *out);
int tv_method_new(trender_t *r, tval_t self, const char *name, tval_t *out);
/* A generator over the items of `items` (a list value whose reference is taken). */
int tv_gen_new(trender_t *r, tval_t items, const char *type, tval_t *out);

/* ---- Python semantics ---- */
bool tv_truthy(tval_t v);
/* Python ==. Nested containers deeper than TV_MAX_NEST compare unequal. */
bool tv_eq(tval_t a, tval_t b);
/* Python ordering (<, >): *res is <0, 0 or >0. Fails with a TypeError-style message for unorderable types. */
int tv_cmp(trender_t *r, tval_t a, tval_t b, int *res);
/* Python type name ("str", "int", "NoneType", "dict", "Undefined", ...). Static storage. */
const char *tv_type_name(tval_t v);
/* Jinja's message for a misused Undefined, as an error on the render (returns ERR_TEMPLATE). */
int tv_undef_fail(trender_t *r, tval_t u);
/* Builds the Undefined's message into buf. */
void tv_undef_text(tval_t u, char *buf, size_t len);
/* Jinja's object_type_repr: "dict object", "None", "jinja2.utils.Namespace object". Static storage. */
const char *tv_owner_name(tval_t v);

#define TV_MAX_NEST 200 /* deepest container nesting printed, compared or serialised */

/* ---- byte buffers that become strings without a copy ---- */
typedef struct tbuf {
    tstr_t *s;  /* NULL until the first write */
    size_t cap; /* bytes allocated for s->s, excluding the NUL */
} tbuf_t;

int tb_put(trender_t *r, tbuf_t *b, const char *p, size_t n);
int tb_putc(trender_t *r, tbuf_t *b, char c);
int tb_puts(trender_t *r, tbuf_t *b, const char *p);
int tb_printf(trender_t *r, tbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Appends the UTF-8 encoding of code point cp. */
int tb_putcp(trender_t *r, tbuf_t *b, uint32_t cp);
static inline size_t tb_len(const tbuf_t *b) { return b->s ? b->s->len : 0; }
static inline const char *tb_data(const tbuf_t *b) { return b->s ? b->s->s : ""; }
/* Turns the buffer into a string value (the buffer is left empty). */
int tb_finish(trender_t *r, tbuf_t *b, tval_t *out);
void tb_free(tbuf_t *b);

/* Python str(v) and repr(v), appended to b. */
int tv_write_str(trender_t *r, tbuf_t *b, tval_t v);
int tv_write_repr(trender_t *r, tbuf_t *b, tval_t v);
/* str(v) as a string value: strings are returned as they are (one more reference, Markup kept). */
int tv_to_str(trender_t *r, tval_t v, tval_t *out);
/* Python repr of a float (shortest round-trip digits, "1e-05", "2.0", "inf"); buf must hold 32 bytes. */
void tv_fmt_float(double f, char *buf, size_t len);

/* ---- UTF-8 and Unicode helpers (unicode.c) ---- */
/* Decodes one code point at s[*i] (n bytes), advancing *i. Invalid bytes decode to U+DC80+byte, so any byte
 * string round-trips through tu_decode/tb_putcp. */
uint32_t tu_decode(const char *s, size_t n, size_t *i);
/* Number of code points in s. */
size_t tu_len(const char *s, size_t n);
/* Byte offset of code point index cp (clamped to n). */
size_t tu_offset(const char *s, size_t n, size_t cp);
bool tu_isspace(uint32_t cp);   /* Python str.isspace for one character */
bool tu_isprint(uint32_t cp);   /* Python str.isprintable (approximate outside common scripts) */
bool tu_isalpha(uint32_t cp);   /* letters: ASCII, and the non-ASCII ranges the case tables know */
bool tu_isdigit(uint32_t cp);   /* ASCII digits */
bool tu_isalnum_w(uint32_t cp); /* regex \w: letters, digits, underscore, and any other non-ASCII non-space */
uint32_t tu_upper(uint32_t cp); /* simple case mapping; unchanged if none */
uint32_t tu_lower(uint32_t cp);
bool tu_iscased_upper(uint32_t cp);
bool tu_iscased_lower(uint32_t cp);
/* Appends the Python upper()/lower() of one character (ß upper-cases to "SS"). */
int tu_put_upper(trender_t *r, tbuf_t *b, uint32_t cp);
int tu_put_lower(trender_t *r, tbuf_t *b, uint32_t cp);
int tu_put_title(trender_t *r, tbuf_t *b, uint32_t cp); /* title case of one character (ß -> "Ss") */

#endif
