/*
 * toolparse.c — the output parser of toolfmt.h: splits a generation into reasoning, content and tool calls as
 * its bytes arrive, in the family's format (see docs/tool-calls.md for what goes where).
 *
 * The parser keeps every byte fed (one generation's output) and a decision point `pos`: bytes before it have
 * been routed for good, bytes after it are held back because they might still become a marker ("<tool_" at the
 * end of a chunk). Each state below consumes as much as it can decide; final = true decides everything. So a
 * chunking of the same text never changes the result, and what an accessor showed never changes later.
 *
 * Tool-call arguments are delimited, not re-serialised: a small JSON scanner follows strings, escapes and nesting
 * and copies the argument value's bytes exactly as the model wrote them. A call becomes visible (counted by
 * api__tf_n_calls) once its whole name is known; its arguments then grow as they are written.
 *
 * Malformed text (possible when no grammar constrained the model): a call that breaks its family's syntax before
 * its name was known is given back as content, from its opening marker on, and parsing resumes at the byte that
 * broke it; a call that breaks after its name was shown stays with the arguments it has (complete = false unless
 * they were a whole JSON value) and the rest is content. No byte is dropped except a family's own syntax (markers,
 * the JSON around name and arguments, the whitespace that separates calls or follows a reasoning block).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "toolfmt.h"

#define TP_MAX_NAME   256 /* bytes of a tool name */
#define TP_MAX_KEY    64  /* bytes of a key in a call object we look at */
#define TP_MAX_HEADER 512 /* bytes of a harmony message header */
#define TP_MAX_ID     64  /* bytes of a Mistral v11 call id */

typedef struct {
    char *p;
    size_t n, cap;
} tp_buf_t;

static int tp__put(tp_buf_t *b, const char *s, size_t n) {
    if (n == 0) return 0;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) return ERR_NOMEM;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 0;
}

/* A JSON value's extent: depth of brackets, inside a string, after a backslash; started once a byte was seen. */
typedef struct {
    int depth;
    bool str, esc, started, prim;
} tp_val_t;

/* Feeds byte c to a value scanner. Returns 1 when c belongs to the value and ends it, 0 when it belongs to it
   and more follows, -1 when c is not part of the value (a primitive ended before it), -2 when c cannot start
   or continue a value. */
static int tp__val(tp_val_t *v, unsigned char c) {
    if (!v->started) {
        v->started = true;
        if (c == '{' || c == '[') return v->depth = 1, 0;
        if (c == '"') return v->str = true, 0;
        if ((c >= '0' && c <= '9') || c == '-' || c == 't' || c == 'f' || c == 'n') return v->prim = true, 0;
        return -2;
    }
    if (v->prim) {
        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '.' || c == '+' || c == '-' || c == 'E') return 0;
        return -1;
    }
    if (v->str) {
        if (v->esc)
            v->esc = false;
        else if (c == '\\')
            v->esc = true;
        else if (c == '"') {
            v->str = false;
            if (v->depth == 0) return 1;
        }
        return 0;
    }
    if (c == '"')
        v->str = true;
    else if (c == '{' || c == '[')
        v->depth++;
    else if (c == '}' || c == ']') {
        if (--v->depth == 0) return 1;
    }
    return 0;
}

typedef enum {
    TP_TEXT,      /* content, watching for markers */
    TP_THINK,     /* inside <think> ... </think> */
    TP_OBJ_PRE,   /* before a call object's "{" */
    TP_KEY_PRE,   /* before a key (or "}") */
    TP_KEY,       /* inside a key string */
    TP_COLON,     /* before ":" */
    TP_VAL_PRE,   /* before a value */
    TP_NAME,      /* inside the name string */
    TP_ARGS,      /* inside the arguments value (streamed) */
    TP_SKIP,      /* inside another key's value */
    TP_AFTER_VAL, /* before "," or "}" */
    TP_CLOSE,     /* after the call object: whitespace then the family's closer */
    TP_LIST,      /* Mistral: after a call object in the array: "," or "]" */
    TP_MIS_PRE,   /* Mistral: after [TOOL_CALLS], before "[" (or a bare object) */
    TP_V11_NAME,  /* Mistral v11: the name, up to [CALL_ID] or [ARGS] */
    TP_V11_ID,    /* Mistral v11: the call id, up to [ARGS] */
    TP_H_HEAD,    /* harmony: a message header, up to <|message|> */
    TP_H_BODY,    /* harmony: a message body, up to its end marker */
    TP_H_ARGS,    /* harmony: a call's arguments */
    TP_H_END,     /* harmony: after a call's arguments, before its end marker */
    TP_RAW,       /* plain content to the end (harmony output that is not harmony) */
} tp_state_t;

typedef enum { TP_TO_CONTENT, TP_TO_REASONING, TP_TO_RAW } tp_route_t;

/* A run of input bytes [from, to) that went to the content as they were. */
typedef struct {
    size_t from, to;
} tp_run_t;

struct api_tf_parser {
    api_tf_t f;
    bool calls, split;
    tp_buf_t in, content, reasoning;
    tp_run_t *runs; /* where the content came from in `in`, in order (logprobs of the content's tokens) */
    size_t n_runs, cap_runs;
    size_t pos; /* in[0..pos) is decided */
    tp_state_t st;
    bool think_allowed; /* a <think> at the very start opens reasoning */
    bool at_start;      /* nothing decided yet */
    bool skip_ws;       /* drop whitespace before the next content (after a call or a reasoning block) */
    bool in_think;      /* for api__tf_in_reasoning */
    api_tf_call_t *calls_v;
    size_t n_calls_v, cap_calls;
    /* the call being parsed */
    size_t call_start; /* offset in `in` of its opening marker */
    bool mis_list;     /* Mistral: inside a [...] list */
    bool args_seen;    /* its arguments value has started */
    char key[TP_MAX_KEY + 1];
    size_t key_n;
    bool key_esc;
    tp_buf_t name;
    bool name_esc;
    tp_val_t val;
    /* harmony */
    tp_route_t h_route;
};

/* ---- helpers ------------------------------------------------------------------------------------------------ */

static bool tp__ws(unsigned char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

/* Length of the longest proper prefix of m that ends s[0..n) (0 if none). */
static size_t tp__partial(const char *s, size_t n, const char *m) {
    size_t ml = strlen(m);
    size_t k = ml - 1 < n ? ml - 1 : n;
    for (; k > 0; k--)
        if (!memcmp(s + n - k, m, k)) return k;
    return 0;
}

/* Compares s[0..n) with marker m: 2 = m is a prefix of s, 1 = s is a proper prefix of m, 0 = neither. */
static int tp__starts(const char *s, size_t n, const char *m) {
    size_t ml = strlen(m);
    if (n >= ml) return memcmp(s, m, ml) == 0 ? 2 : 0;
    return memcmp(s, m, n) == 0 ? 1 : 0;
}

static api_tf_call_t *tp__cur(api_tf_parser_t *p) { return &p->calls_v[p->n_calls_v - 1]; }

static int tp__new_call(api_tf_parser_t *p) {
    if (p->n_calls_v == p->cap_calls) {
        size_t cap = p->cap_calls ? p->cap_calls * 2 : 4;
        api_tf_call_t *v = realloc(p->calls_v, cap * sizeof *v);
        if (!v) return ERR_NOMEM;
        p->calls_v = v;
        p->cap_calls = cap;
    }
    memset(&p->calls_v[p->n_calls_v++], 0, sizeof(api_tf_call_t));
    p->name.n = 0;
    p->key_n = 0;
    p->args_seen = false;
    return 0;
}

/* Capacity of an arguments buffer of len bytes: the next power of two above it (args carries no capacity
   field, so it is derived from the length: growth stays amortised). */
static size_t tp__args_cap(size_t len) {
    size_t cap = 16;
    while (cap < len + 1)
        cap *= 2;
    return cap;
}

static int tp__args(api_tf_parser_t *p, const char *s, size_t n) {
    api_tf_call_t *c = tp__cur(p);
    if (!c->args || c->args_len + n + 1 > tp__args_cap(c->args_len)) {
        char *q = realloc(c->args, tp__args_cap(c->args_len + n));
        if (!q) return ERR_NOMEM;
        c->args = q;
    }
    memcpy(c->args + c->args_len, s, n);
    c->args_len += n;
    c->args[c->args_len] = '\0';
    return 0;
}

/* Appends s[0..n), a slice of p->in, to the content and notes where it came from. */
static int tp__content(api_tf_parser_t *p, const char *s, size_t n) {
    if (n == 0) return 0;
    if (tp__put(&p->content, s, n)) return ERR_NOMEM;
    uintptr_t at = (uintptr_t)s, base = (uintptr_t)p->in.p;
    if (at < base || at + n > base + p->in.n) return 0; /* not from the input (never the case): no origin */
    size_t from = (size_t)(at - base);
    if (p->n_runs && p->runs[p->n_runs - 1].to == from) {
        p->runs[p->n_runs - 1].to = from + n;
        return 0;
    }
    if (p->n_runs == p->cap_runs) {
        size_t cap = p->cap_runs ? p->cap_runs * 2 : 8;
        tp_run_t *r = realloc(p->runs, cap * sizeof *r);
        if (!r) return ERR_NOMEM;
        p->runs = r;
        p->cap_runs = cap;
    }
    p->runs[p->n_runs++] = (tp_run_t){from, from + n};
    return 0;
}

/* Routes bytes to content or reasoning (reasoning goes to content when it is not split out). */
static int tp__emit(api_tf_parser_t *p, tp_route_t r, const char *s, size_t n) {
    if (n == 0) return 0;
    p->at_start = false;
    if (r == TP_TO_REASONING && p->split) return tp__put(&p->reasoning, s, n);
    if (p->skip_ws && r != TP_TO_REASONING) {
        while (n > 0 && tp__ws((unsigned char)*s))
            s++, n--;
        if (n == 0) return 0;
        p->skip_ws = false;
    }
    return tp__content(p, s, n);
}

/* ---- the family's markers ----------------------------------------------------------------------------------- */

/* The texts that open a call in TEXT state (none when calls are off or for harmony). */
static size_t tp__openers(const api_tf_parser_t *p, const char *out[2]) {
    if (!p->calls) return 0;
    switch (p->f.family) {
    case API_TF_HERMES: out[0] = "<tool_call>"; return 1;
    case API_TF_PHI4: out[0] = "<|tool_call|>"; return 1;
    case API_TF_MISTRAL:
    case API_TF_MISTRAL_V11: out[0] = "[TOOL_CALLS]"; return 1;
    case API_TF_GENERIC: out[0] = "```tool_call"; return 1;
    case API_TF_LLAMA3:
        out[0] = "{\"name\": ";
        out[1] = "<|python_tag|>";
        return 2;
    default: return 0;
    }
}

static const char *tp__closer(api_tf_family_t f) {
    switch (f) {
    case API_TF_HERMES: return "</tool_call>";
    case API_TF_PHI4: return "<|/tool_call|>";
    case API_TF_GENERIC: return "```";
    default: return NULL;
    }
}

/* A call broke its syntax at pos. Before its name was shown, its text (from the opener) becomes content and
   the call is forgotten; after, it stays as it is. Either way parsing resumes in TEXT at pos. */
static int tp__malformed(api_tf_parser_t *p) {
    api_tf_call_t *c = tp__cur(p);
    int rc = 0;
    if (!c->name) {
        free(c->args);
        p->n_calls_v--;
        p->skip_ws = false; /* the opener is not whitespace: the text goes back as it was */
        rc = tp__emit(p, TP_TO_CONTENT, p->in.p + p->call_start, p->pos - p->call_start);
    } else if (c->args_len > 0 && p->st != TP_ARGS && p->st != TP_H_ARGS) {
        c->complete = true; /* the arguments were a whole value; only the text after them broke */
    }
    p->st = p->f.family == API_TF_GPTOSS ? TP_RAW : TP_TEXT;
    return rc;
}

/* The call's text ended well. */
static void tp__done(api_tf_parser_t *p) {
    tp__cur(p)->complete = true;
    p->st = p->f.family == API_TF_GPTOSS ? TP_H_HEAD : TP_TEXT;
    p->skip_ws = true;
}

/* The name is whole: show the call (its args a string from now on, "" until they start). Fails (malformed) on
   an empty name. */
static int tp__set_name(api_tf_parser_t *p, const char *s, size_t n) {
    api_tf_call_t *c = tp__cur(p);
    if (n == 0 || c->name) return ERR_FORMAT;
    if (tp__args(p, "", 0)) return ERR_NOMEM;
    c->name = malloc(n + 1);
    if (!c->name) return ERR_NOMEM;
    memcpy(c->name, s, n);
    c->name[n] = '\0';
    return 0;
}

/* ---- states ------------------------------------------------------------------------------------------------- */

/* Each step returns 1 when it consumed something or changed state, 0 when it needs more bytes, < 0 on error. */

static int tp__text(api_tf_parser_t *p, bool final) {
    const char *s = p->in.p + p->pos;
    size_t n = p->in.n - p->pos;
    if (p->at_start && p->think_allowed && p->f.think_open[0]) {
        int k = tp__starts(s, n, p->f.think_open);
        if (k == 1 && !final) return 0;
        if (k == 2) {
            size_t ol = strlen(p->f.think_open);
            p->at_start = false;
            p->in_think = true;
            p->st = TP_THINK;
            p->pos += ol;
            if (!p->split) return tp__content(p, s, ol) ? ERR_NOMEM : 1;
            return 1;
        }
    }
    const char *ops[2];
    size_t n_ops = tp__openers(p, ops);
    size_t best = n;
    int which = -1;
    for (size_t i = 0; i < n_ops; i++) {
        const char *hit = memmem(s, n, ops[i], strlen(ops[i]));
        if (hit && (size_t)(hit - s) < best) best = (size_t)(hit - s), which = (int)i;
    }
    if (which >= 0) {
        int rc = tp__emit(p, TP_TO_CONTENT, s, best);
        if (rc) return rc;
        if (tp__new_call(p)) return ERR_NOMEM;
        p->call_start = p->pos + best;
        p->pos += best + strlen(ops[which]);
        p->at_start = false;
        switch (p->f.family) {
        case API_TF_LLAMA3:
            if (which == 0) { /* `{"name": ` : the name's value is next */
                memcpy(p->key, "name", 5);
                p->key_n = 4;
                p->st = TP_VAL_PRE;
            } else {
                p->st = TP_OBJ_PRE;
            }
            break;
        case API_TF_MISTRAL: p->st = TP_MIS_PRE; break;
        case API_TF_MISTRAL_V11: p->st = TP_V11_NAME; break;
        default: p->st = TP_OBJ_PRE; break;
        }
        return 1;
    }
    size_t hold = 0;
    if (!final)
        for (size_t i = 0; i < n_ops; i++) {
            size_t h = tp__partial(s, n, ops[i]);
            if (h > hold) hold = h;
        }
    if (n - hold == 0) return 0;
    int rc = tp__emit(p, TP_TO_CONTENT, s, n - hold);
    p->pos += n - hold;
    return rc ? rc : (hold ? 0 : 1);
}

static int tp__think(api_tf_parser_t *p, bool final) {
    const char *s = p->in.p + p->pos, *close = p->f.think_close;
    size_t n = p->in.n - p->pos, cl = strlen(close);
    const char *hit = memmem(s, n, close, cl);
    if (hit) {
        size_t k = (size_t)(hit - s);
        int rc = tp__emit(p, TP_TO_REASONING, s, k);
        if (!rc && !p->split) rc = tp__content(p, hit, cl);
        if (rc) return rc;
        p->pos += k + cl;
        p->at_start = false;
        p->in_think = false;
        p->st = TP_TEXT;
        p->skip_ws = p->split; /* the whitespace after the block separates it from the answer */
        return 1;
    }
    size_t hold = final ? 0 : tp__partial(s, n, close);
    int rc = tp__emit(p, TP_TO_REASONING, s, n - hold);
    p->pos += n - hold;
    return rc ? rc : 0;
}

/* One byte of a JSON call object (`{"name": ..., "arguments": ...}`, other keys skipped). */
static int tp__obj(api_tf_parser_t *p, bool final) {
    unsigned char c = (unsigned char)p->in.p[p->pos];
    switch (p->st) {
    case TP_OBJ_PRE:
    case TP_KEY_PRE:
    case TP_COLON:
    case TP_VAL_PRE:
    case TP_AFTER_VAL:
    case TP_CLOSE:
    case TP_LIST:
    case TP_MIS_PRE:
        if (tp__ws(c)) return p->pos++, 1;
        break;
    default: break;
    }
    switch (p->st) {
    case TP_OBJ_PRE:
        if (c != '{') return tp__malformed(p) ? ERR_NOMEM : 1;
        p->st = TP_KEY_PRE;
        return p->pos++, 1;
    case TP_MIS_PRE:
        if (c == '[') {
            p->mis_list = true;
            p->st = TP_OBJ_PRE;
            return p->pos++, 1;
        }
        p->mis_list = false;
        p->st = TP_OBJ_PRE;
        return 1;
    case TP_KEY_PRE:
        if (c == '"') {
            p->key_n = 0;
            p->key_esc = false;
            p->st = TP_KEY;
            return p->pos++, 1;
        }
        if (c == '}') goto object_end;
        return tp__malformed(p) ? ERR_NOMEM : 1;
    case TP_KEY:
        if (!p->key_esc && c == '"') {
            p->key[p->key_n] = '\0';
            p->st = TP_COLON;
        } else if (!p->key_esc && c == '\\') {
            p->key_esc = true;
        } else {
            p->key_esc = false;
            if (p->key_n == TP_MAX_KEY) return tp__malformed(p) ? ERR_NOMEM : 1;
            p->key[p->key_n++] = (char)c;
        }
        return p->pos++, 1;
    case TP_COLON:
        if (c != ':') return tp__malformed(p) ? ERR_NOMEM : 1;
        p->st = TP_VAL_PRE;
        return p->pos++, 1;
    case TP_VAL_PRE:
        memset(&p->val, 0, sizeof p->val);
        if (!strcmp(p->key, "name")) {
            if (c != '"' || tp__cur(p)->name) return tp__malformed(p) ? ERR_NOMEM : 1;
            p->name.n = 0;
            p->name_esc = false;
            p->st = TP_NAME;
            return p->pos++, 1;
        }
        p->st = (!strcmp(p->key, "arguments") || !strcmp(p->key, "parameters")) && !p->args_seen ? TP_ARGS : TP_SKIP;
        p->args_seen |= p->st == TP_ARGS;
        return 1;
    case TP_NAME:
        if (p->name_esc) {
            p->name_esc = false;
            const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
            const char *k = c ? strchr(from, c) : NULL;
            char d = k ? to[k - from] : (char)c;
            if (tp__put(&p->name, &d, 1)) return ERR_NOMEM;
        } else if (c == '\\') {
            p->name_esc = true;
        } else if (c == '"') {
            int rc = tp__set_name(p, p->name.p, p->name.n);
            if (rc == ERR_NOMEM) return rc;
            if (rc) return tp__malformed(p) ? ERR_NOMEM : 1;
            p->st = TP_AFTER_VAL;
        } else if (c < 0x20 || p->name.n >= TP_MAX_NAME) {
            return tp__malformed(p) ? ERR_NOMEM : 1;
        } else if (tp__put(&p->name, (const char *)&c, 1)) {
            return ERR_NOMEM;
        }
        return p->pos++, 1;
    case TP_ARGS:
    case TP_SKIP: {
        int r = tp__val(&p->val, c);
        if (r == -2) return tp__malformed(p) ? ERR_NOMEM : 1;
        if (r == -1) { /* a primitive ended before c */
            p->st = TP_AFTER_VAL;
            return 1;
        }
        if (p->st == TP_ARGS && tp__args(p, (const char *)&c, 1)) return ERR_NOMEM;
        p->pos++;
        if (r == 1) p->st = TP_AFTER_VAL;
        return 1;
    }
    case TP_AFTER_VAL:
        if (c == ',') {
            p->st = TP_KEY_PRE;
            return p->pos++, 1;
        }
        if (c == '}') goto object_end;
        return tp__malformed(p) ? ERR_NOMEM : 1;
    case TP_CLOSE: {
        const char *cl = tp__closer(p->f.family);
        int k = tp__starts(p->in.p + p->pos, p->in.n - p->pos, cl);
        if (k == 1 && !final) return 0;
        if (k == 2) {
            p->pos += strlen(cl);
            tp__done(p);
            return 1;
        }
        return tp__malformed(p) ? ERR_NOMEM : 1;
    }
    case TP_LIST:
        if (c == ',') {
            tp__cur(p)->complete = true;
            if (tp__new_call(p)) return ERR_NOMEM;
            p->call_start = p->pos;
            p->st = TP_OBJ_PRE;
            return p->pos++, 1;
        }
        if (c == ']') {
            p->pos++;
            tp__done(p);
            return 1;
        }
        return tp__malformed(p) ? ERR_NOMEM : 1;
    default: return ERR_STATE;
    }
object_end:
    p->pos++;
    if (!tp__cur(p)->name) return tp__malformed(p) ? ERR_NOMEM : 1;
    if (!p->args_seen && tp__args(p, "{}", 2)) return ERR_NOMEM; /* no arguments written: none */
    if (p->f.family == API_TF_MISTRAL && p->mis_list)
        p->st = TP_LIST;
    else if (tp__closer(p->f.family))
        p->st = TP_CLOSE;
    else
        tp__done(p);
    return 1;
}

/* At the end of the generation inside a call. */
static int tp__flush_call(api_tf_parser_t *p) {
    api_tf_call_t *c = tp__cur(p);
    bool whole = c->name && c->args_len > 0 &&
                 (p->st == TP_CLOSE || p->st == TP_LIST || p->st == TP_H_END ||
                  ((p->st == TP_ARGS || p->st == TP_H_ARGS) && p->val.prim));
    if (!c->name) return tp__malformed(p);
    c->complete = whole;
    p->st = TP_TEXT;
    return 0;
}

/* Mistral v11: NAME ([CALL_ID]id)? [ARGS] — the name and id as held-back text until the marker is whole. */
static int tp__v11(api_tf_parser_t *p, bool final) {
    const char *s = p->in.p + p->pos;
    size_t n = p->in.n - p->pos;
    const char *lb = memchr(s, '[', n);
    size_t k = lb ? (size_t)(lb - s) : n;
    size_t limit = p->st == TP_V11_NAME ? TP_MAX_NAME : TP_MAX_ID;
    for (size_t i = 0; i < k; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (p->st == TP_V11_NAME && (c == '_' || c == '-' || c == '.'));
        if (!ok || i >= limit) {
            p->pos += i;
            return tp__malformed(p) ? ERR_NOMEM : 1;
        }
    }
    if (!lb) {
        if (final) return p->pos += n, tp__malformed(p) ? ERR_NOMEM : 1;
        return 0;
    }
    int a = tp__starts(lb, n - k, "[ARGS]"), d = p->st == TP_V11_NAME ? tp__starts(lb, n - k, "[CALL_ID]") : 0;
    if ((a == 1 || d == 1) && !final) return 0;
    if (a != 2 && d != 2) {
        p->pos += k;
        return tp__malformed(p) ? ERR_NOMEM : 1;
    }
    if (p->st == TP_V11_NAME) {
        int rc = tp__set_name(p, s, k);
        if (rc == ERR_NOMEM) return rc;
        if (rc) return p->pos += k, tp__malformed(p) ? ERR_NOMEM : 1;
    }
    p->pos += k + (a == 2 ? 6 : 9);
    memset(&p->val, 0, sizeof p->val);
    p->st = a == 2 ? TP_ARGS : TP_V11_ID;
    return 1;
}

/* Mistral v11 arguments: one JSON value, then the call is done. */
static int tp__v11_args(api_tf_parser_t *p) {
    unsigned char c = (unsigned char)p->in.p[p->pos];
    if (!p->val.started && tp__ws(c)) return p->pos++, 1;
    int r = tp__val(&p->val, c);
    if (r == -2) return tp__malformed(p) ? ERR_NOMEM : 1;
    if (r == -1) return tp__done(p), 1;
    if (tp__args(p, (const char *)&c, 1)) return ERR_NOMEM;
    p->pos++;
    if (r == 1) tp__done(p);
    return 1;
}

/* ---- harmony (gpt-oss) ------------------------------------------------------------------------------------- */

static const char *const tp__h_ends[] = {"<|end|>", "<|return|>", "<|call|>", NULL};

/* A header: bytes up to "<|message|>"; its channel and recipient choose where the body goes. */
static int tp__h_head(api_tf_parser_t *p, bool final) {
    const char *s = p->in.p + p->pos;
    size_t n = p->in.n - p->pos;
    static const char *const starts[] = {"<|start|>", "<|channel|>", " to=", "to=", "<|constrain|>", NULL};
    bool may = false;
    for (const char *const *m = starts; *m; m++)
        may |= tp__starts(s, n, *m) != 0;
    const char *msg = memmem(s, n, "<|message|>", 11);
    /* (a header may be TP_MAX_HEADER bytes: wait until "<|message|>" could no longer start within it) */
    if (!may || (!msg && (final || n >= TP_MAX_HEADER + 11)) || (msg && (size_t)(msg - s) > TP_MAX_HEADER)) {
        p->st = TP_RAW;
        return 1;
    }
    if (!msg) return 0;
    size_t hl = (size_t)(msg - s);
    char head[TP_MAX_HEADER + 1];
    memcpy(head, s, hl);
    head[hl] = '\0';
    char channel[32] = "", to[TP_MAX_NAME + 1] = "";
    const char *ch = strstr(head, "<|channel|>");
    if (ch) {
        ch += 11;
        size_t k = 0;
        while (ch[k] && ch[k] != ' ' && ch[k] != '<' && k < sizeof channel - 1)
            k++;
        memcpy(channel, ch, k);
        channel[k] = '\0';
    }
    const char *t = strstr(head, "to=");
    if (t) {
        t += 3;
        size_t k = 0;
        while (t[k] && t[k] != ' ' && t[k] != '<' && k < sizeof to - 1)
            k++;
        memcpy(to, t, k);
        to[k] = '\0';
    }
    if (p->calls && !strncmp(to, "functions.", 10) && to[10]) {
        if (tp__new_call(p)) return ERR_NOMEM;
        p->call_start = p->pos;
        if (tp__set_name(p, to + 10, strlen(to + 10))) return ERR_NOMEM;
        p->pos += hl + 11;
        memset(&p->val, 0, sizeof p->val);
        p->st = TP_H_ARGS;
        return 1;
    }
    p->pos += hl + 11;
    if (to[0]) { /* a call while calls are off, or to another recipient: the message as it was written */
        if (tp__emit(p, TP_TO_CONTENT, s, hl + 11)) return ERR_NOMEM;
        p->h_route = TP_TO_RAW;
    } else {
        p->h_route = !strcmp(channel, "analysis") ? TP_TO_REASONING : TP_TO_CONTENT;
    }
    p->in_think = p->h_route == TP_TO_REASONING;
    p->st = TP_H_BODY;
    return 1;
}

/* A body up to its end marker. */
static int tp__h_body(api_tf_parser_t *p, bool final) {
    const char *s = p->in.p + p->pos;
    size_t n = p->in.n - p->pos, best = n, ml = 0;
    for (const char *const *m = tp__h_ends; *m; m++) {
        const char *hit = memmem(s, n, *m, strlen(*m));
        if (hit && (size_t)(hit - s) < best) best = (size_t)(hit - s), ml = strlen(*m);
    }
    tp_route_t r = p->h_route == TP_TO_RAW ? TP_TO_CONTENT : p->h_route;
    if (ml) {
        int rc = tp__emit(p, r, s, best);
        if (!rc && p->h_route == TP_TO_RAW) rc = tp__emit(p, r, s + best, ml);
        if (rc) return rc;
        p->pos += best + ml;
        p->in_think = false;
        p->st = TP_H_HEAD;
        return 1;
    }
    size_t hold = 0;
    if (!final)
        for (const char *const *m = tp__h_ends; *m; m++) {
            size_t h = tp__partial(s, n, *m);
            if (h > hold) hold = h;
        }
    int rc = tp__emit(p, r, s, n - hold);
    p->pos += n - hold;
    return rc ? rc : 0;
}

/* A call's arguments (one JSON value), then its end marker. */
static int tp__h_args(api_tf_parser_t *p, bool final) {
    if (p->st == TP_H_ARGS) {
        unsigned char c = (unsigned char)p->in.p[p->pos];
        if (!p->val.started && tp__ws(c)) return p->pos++, 1;
        int r = tp__val(&p->val, c);
        if (r == -2) return tp__malformed(p) ? ERR_NOMEM : 1;
        if (r == -1) return p->st = TP_H_END, 1;
        if (tp__args(p, (const char *)&c, 1)) return ERR_NOMEM;
        p->pos++;
        if (r == 1) p->st = TP_H_END;
        return 1;
    }
    const char *s = p->in.p + p->pos;
    size_t n = p->in.n - p->pos;
    if (tp__ws((unsigned char)*s)) return p->pos++, 1;
    bool partial = false;
    for (const char *const *m = tp__h_ends; *m; m++) {
        int k = tp__starts(s, n, *m);
        if (k == 2) {
            p->pos += strlen(*m);
            tp__done(p);
            return 1;
        }
        partial |= k == 1;
    }
    if (partial && !final) return 0;
    return tp__malformed(p) ? ERR_NOMEM : 1;
}

/* ---- the parser -------------------------------------------------------------------------------------------- */

/* Where the prompt left the reasoning block: 1 open (the model starts inside it), 0 closed by the template
   (Qwen3's enable_thinking=false tail "<think>\n\n</think>\n\n": no reasoning will come), -1 no block. */
static int tp__tail_state(const api_tf_t *f, const char *tail) {
    if (!tail || !f->think_open[0]) return -1;
    const char *open = NULL, *close = NULL, *q;
    for (q = tail; (q = strstr(q, f->think_open)); q++)
        open = q;
    for (q = tail; (q = strstr(q, f->think_close)); q++)
        close = q;
    if (open && (!close || close < open)) return 1;
    if (close) {
        for (q = close + strlen(f->think_close); *q; q++)
            if (!tp__ws((unsigned char)*q)) return -1;
        return 0;
    }
    return -1;
}

int api__tf_parser_new(const api_tf_t *f, bool calls, bool split_reasoning, const char *prompt_tail,
                       api_tf_parser_t **out) {
    *out = NULL;
    api_tf_parser_t *p = calloc(1, sizeof *p);
    if (!p) return ERR_NOMEM;
    p->f = *f;
    p->calls = calls;
    p->split = split_reasoning;
    p->at_start = true;
    if (f->family == API_TF_GPTOSS) {
        p->st = TP_H_HEAD;
    } else {
        int ts = f->thinks ? tp__tail_state(f, prompt_tail) : -1;
        p->think_allowed = f->thinks && ts != 0;
        p->st = ts == 1 ? TP_THINK : TP_TEXT;
        p->in_think = ts == 1;
    }
    *out = p;
    return 0;
}

void api__tf_parser_free(api_tf_parser_t *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n_calls_v; i++) {
        free(p->calls_v[i].name);
        free(p->calls_v[i].args);
    }
    free(p->calls_v);
    free(p->in.p);
    free(p->content.p);
    free(p->runs);
    free(p->reasoning.p);
    free(p->name.p);
    free(p);
}

/* One step of the current state (see the step contract above). */
static int tp__step(api_tf_parser_t *p, bool final) {
    switch (p->st) {
    case TP_TEXT: return tp__text(p, final);
    case TP_THINK: return tp__think(p, final);
    case TP_V11_NAME:
    case TP_V11_ID: return tp__v11(p, final);
    case TP_ARGS:
        if (p->f.family == API_TF_MISTRAL_V11) return tp__v11_args(p);
        return tp__obj(p, final);
    case TP_H_HEAD: return tp__h_head(p, final);
    case TP_H_BODY: return tp__h_body(p, final);
    case TP_H_ARGS:
    case TP_H_END: return tp__h_args(p, final);
    case TP_RAW: {
        int rc = tp__emit(p, TP_TO_CONTENT, p->in.p + p->pos, p->in.n - p->pos);
        p->pos = p->in.n;
        return rc ? rc : 0;
    }
    default: return tp__obj(p, final);
    }
}

int api__tf_feed(api_tf_parser_t *p, const char *s, size_t n, bool final) {
    if (tp__put(&p->in, s, n)) return ERR_NOMEM;
    for (;;) {
        int r = 0;
        if (p->pos < p->in.n) r = tp__step(p, final);
        if (r < 0) return r;
        if (r > 0) continue;
        if (!final) return 0;
        if (p->pos < p->in.n) { /* every state decides everything when final; this is a safety net */
            if (tp__content(p, p->in.p + p->pos, p->in.n - p->pos)) return ERR_NOMEM;
            p->pos = p->in.n;
        }
        break;
    }
    /* The end of the generation: a call still open is complete if its arguments were whole. */
    switch (p->st) {
    case TP_TEXT:
    case TP_THINK:
    case TP_H_HEAD:
    case TP_H_BODY:
    case TP_RAW: break;
    default:
        if (tp__flush_call(p)) return ERR_NOMEM;
    }
    p->in_think = false;
    return 0;
}

const char *api__tf_content(const api_tf_parser_t *p, size_t *len) {
    *len = p->content.n;
    return p->content.p ? p->content.p : "";
}

const char *api__tf_reasoning(const api_tf_parser_t *p, size_t *len) {
    *len = p->reasoning.n;
    return p->reasoning.p ? p->reasoning.p : "";
}

bool api__tf_in_reasoning(const api_tf_parser_t *p) { return p->in_think; }

size_t api__tf_decided(const api_tf_parser_t *p) { return p->pos; }

bool api__tf_content_from(const api_tf_parser_t *p, size_t from, size_t to) {
    for (size_t i = 0; i < p->n_runs; i++)
        if (p->runs[i].from < to && from < p->runs[i].to) return true;
    return false;
}

size_t api__tf_n_calls(const api_tf_parser_t *p) {
    size_t n = p->n_calls_v;
    if (n > 0 && !p->calls_v[n - 1].name) n--;
    return n;
}

const api_tf_call_t *api__tf_call(const api_tf_parser_t *p, size_t i) {
    return i < api__tf_n_calls(p) ? &p->calls_v[i] : NULL;
}
