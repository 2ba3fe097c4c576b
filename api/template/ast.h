/*
 * ast.h — tokens, syntax tree and compiled-template layout (internal to api/template).
 *
 * Owns: the token stream the lexer produces (lexer.c), the syntax tree the parser builds (parser.c), and the
 * arena both allocate from. A compiled template is the arena plus the root node; nothing in it changes after
 * tmpl_compile returns, so any number of threads may walk it at once.
 * Does not own: evaluation (eval.c reads the tree and never writes it).
 *
 * Internal sub-prefixes: ta_ (arena), tl_ (lexer), tp_ (parser).
 */
#ifndef CINDER_TMPL_AST_H
#define CINDER_TMPL_AST_H

#include <stddef.h>
#include <stdint.h>

#include "value.h"

/* ---- arena: every token, node and constant of one template, freed at once ---- */
typedef struct tachunk tachunk_t;
typedef struct tarena {
    tachunk_t *head; /* newest chunk first */
    size_t used;     /* bytes allocated so far, all chunks */
} tarena_t;

/* Zeroed, 16-byte aligned memory, or NULL when out of memory. */
void *ta_alloc(tarena_t *a, size_t n);
/* A NUL-terminated copy of s[0..n). */
char *ta_strdup(tarena_t *a, const char *s, size_t n);
/* An immortal string constant (refs < 0), for literals and template text. */
int ta_const_str(tarena_t *a, const char *s, size_t n, tval_t *out);
void ta_free(tarena_t *a);

/* ---- tokens ---- */
typedef enum {
    TK_EOF,
    TK_DATA,        /* template text between tags (whitespace control already applied) */
    TK_VAR_BEGIN,   /* {{ */
    TK_VAR_END,     /* }} */
    TK_BLOCK_BEGIN, /* {% */
    TK_BLOCK_END,   /* %} */
    TK_NAME,
    TK_STRING, /* s/n: the decoded literal */
    TK_INT,    /* i */
    TK_FLOAT,  /* f */
    TK_OP,     /* op: tl_op_t */
} tk_kind_t;

typedef enum {
    OP_NONE,
    OP_ADD,
    OP_SUB,
    OP_MUL,
    OP_DIV,
    OP_FLOORDIV,
    OP_MOD,
    OP_POW,
    OP_TILDE,
    OP_LBRACKET,
    OP_RBRACKET,
    OP_LPAREN,
    OP_RPAREN,
    OP_LBRACE,
    OP_RBRACE,
    OP_EQ,
    OP_NE,
    OP_LT,
    OP_LE,
    OP_GT,
    OP_GE,
    OP_ASSIGN,
    OP_DOT,
    OP_COLON,
    OP_PIPE,
    OP_COMMA,
    OP_SEMI,
    /* comparison operators that are names in the source */
    OP_IN,
    OP_NOTIN,
} tl_op_t;

typedef struct ttok {
    uint8_t kind;  /* tk_kind_t */
    uint8_t op;    /* TK_OP: tl_op_t */
    int line;      /* 1-based source line */
    const char *s; /* TK_DATA, TK_NAME, TK_STRING: bytes (arena or source copy), not NUL-terminated */
    size_t n;
    int64_t i; /* TK_INT */
    double f;  /* TK_FLOAT */
} ttok_t;

/*
 * Splits normalised source (newlines already "\n", trailing newline already dropped) into tokens, applying
 * Hugging Face's environment: trim_blocks, lstrip_blocks, and the `-`/`+` whitespace markers.
 * *toks is an arena array of *n_toks tokens ending with TK_EOF. Returns 0, or ERR_TEMPLATE with the message
 * (and line) in err.
 */
int tl_lex(tarena_t *a, const char *src, size_t len, ttok_t **toks, size_t *n_toks, char *err, size_t err_len);
const char *tl_op_text(int op);

/* ---- syntax tree ---- */
typedef enum {
    /* expressions */
    N_CONST,  /* val */
    N_NAME,   /* name */
    N_LIST,   /* k[]: items */
    N_TUPLE,  /* k[]: items */
    N_DICT,   /* k[]: key0, value0, key1, value1, ... */
    N_ATTR,   /* k[0].name */
    N_ITEM,   /* k[0][k[1]] */
    N_SLICE,  /* k[0][k[1]:k[2]:k[3]], absent parts NULL */
    N_UNARY,  /* op (OP_SUB, OP_ADD) k[0] */
    N_NOT,    /* not k[0] */
    N_BIN,    /* k[0] op k[1] for arithmetic ops and OP_TILDE */
    N_AND,    /* k[0] and k[1] */
    N_OR,     /* k[0] or k[1] */
    N_CMP,    /* k[0] then N_CMPOP operands: a < b < c */
    N_CMPOP,  /* op, k[0] */
    N_COND,   /* k[1] if k[0] else k[2] (k[2] may be NULL) */
    N_CALL,   /* k[0](k[1..]); arguments may be N_KWARG, N_STAR, N_DSTAR */
    N_KWARG,  /* name=k[0] */
    N_STAR,   /* *k[0] */
    N_DSTAR,  /* **k[0] */
    N_FILTER, /* k[0]|name(k[1..]); fn: filter id; k[0] NULL in filter blocks and `set x | f` */
    N_TEST,   /* k[0] is name(k[1..]); fn: test id */
    /* statements */
    N_BODY,        /* k[]: statements */
    N_TEXT,        /* val: template text */
    N_PRINT,       /* {{ k[0] }} */
    N_IF,          /* if k[0]: k[1] else k[2] (N_BODY, an N_IF for elif, or NULL) */
    N_FOR,         /* for k[0] in k[1] if k[2]: k[3] else k[4]; flags & TP_RECURSIVE */
    N_SET,         /* set k[0] = k[1]; k[0] is N_NAME, N_TUPLE of names, or N_ATTR (namespace) */
    N_SETBLOCK,    /* set k[0] | k[2] ... k[1] endset */
    N_MACRO,       /* macro name(params k[1..]) k[0]; a param is N_NAME with its default in k[0] */
    N_CALLBLOCK,   /* call(params k[2..]) k[0] (an N_CALL) with body k[1] */
    N_FILTERBLOCK, /* filter k[0] (N_FILTER chain) body k[1] */
    N_WITH,        /* with targets/values k[1], k[2], ... body k[0] */
    N_SCOPE,       /* block, generation: renders body k[0] in its own scope */
    N_BREAK,
    N_CONTINUE,
} tnode_kind_t;

/* N_MACRO / N_CALLBLOCK flags: what the body refers to. N_FOR: recursive loop. */
enum { TP_USES_CALLER = 1, TP_USES_VARARGS = 2, TP_USES_KWARGS = 4, TP_RECURSIVE = 8 };

typedef struct tnode tnode_t;
struct tnode {
    uint8_t kind;     /* tnode_kind_t */
    uint8_t op;       /* tl_op_t for N_UNARY, N_BIN, N_CMPOP */
    uint8_t flags;    /* TP_* */
    int16_t fn;       /* N_FILTER, N_TEST: builtin id (filters.c) */
    int line;         /* 1-based source line */
    tval_t val;       /* N_CONST, N_TEXT: immortal constant */
    const char *name; /* NUL-terminated, arena */
    uint32_t n;       /* number of children */
    uint32_t cap;     /* children allocated (parser only) */
    tnode_t **k;      /* children, meaning per kind above (some may be NULL) */
};

/* Parses tokens into a tree rooted at an N_BODY. Returns 0 or ERR_TEMPLATE/ERR_NOMEM with the message. */
int tp_parse(tarena_t *a, const ttok_t *toks, size_t n_toks, tnode_t **root, char *err, size_t err_len);

/* Builtin filter and test ids by name (filters.c, tests.c), or -1: the parser rejects unknown names at compile
 * time, as Jinja2 does. */
int tf_filter_id(const char *name);
int tt_test_id(const char *name);

/* Nesting bound for brackets, expressions and blocks; protects the parser's and evaluator's C stacks. */
#define TP_MAX_NEST 100

#endif
