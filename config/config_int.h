/*
 * config_int.h — the settings table and helpers shared by config/config.c (layering, environment, flags,
 * validation, --help) and config/config_json.c (the file, --print-config). Internal to config/ and its tests.
 * Main thread only, like config_load().
 */
#ifndef CINDER_CONFIG_INT_H
#define CINDER_CONFIG_INT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef enum {
    CFG_STR,    /* a non-empty string (char *) */
    CFG_OPTSTR, /* a string that may be null / absent (char *, NULL = the default) */
    CFG_INT,    /* an integer in [lo, hi] (int32_t or int64_t, see `wide`) */
    CFG_BOOL,   /* bool */
    CFG_LIST,   /* an array of non-empty strings (char ** and a size_t count right after it) */
    CFG_LEVEL,  /* log_level_t from its name */
    CFG_FORMAT, /* log_format_t from its name */
    CFG_ACTION, /* a flag that asks for something (--help, --print-config): bool in config_t, no key */
} cfg_type_t;

typedef enum { CFG_GLOBAL, CFG_MODEL } cfg_scope_t;

/* One setting. */
typedef struct {
    const char *key;   /* JSON key; NULL when the file cannot set it (--config itself, actions) */
    const char *env;   /* CINDER_* variable, or NULL */
    const char *flag;  /* long flag "--port" */
    const char *alt;   /* short flag "-c", or NULL */
    cfg_type_t type;   /* */
    cfg_scope_t scope; /* config_t or config_model_t */
    size_t off;        /* offset of the field in config_t / config_model_t */
    bool wide;         /* CFG_INT: the field is int64_t (else int32_t) */
    bool negate;       /* CFG_BOOL: the flag sets false (--no-memory-check) */
    int64_t lo, hi;    /* CFG_INT range */
    const char *meta;  /* the flag's value in --help ("N", "FILE"), NULL for flags without one */
    const char *help;  /* one line (or several, joined by '\n') for --help */
} cfg_opt_t;

extern const cfg_opt_t cfg__opts[];
extern const size_t cfg__n_opts;

/* The per-model defaults (a new models[] entry before its keys are applied). */
void cfg__model_defaults(config_model_t *m);

/* The setting with this JSON key in this scope, or NULL. */
const cfg_opt_t *cfg__by_key(const char *key, cfg_scope_t scope);

/* The closest key of the scope to an unknown one (edit distance <= 2), or NULL: for "did you mean". */
const char *cfg__suggest(const char *key, cfg_scope_t scope);

/* Where a setting lives in c (CFG_GLOBAL) or m (CFG_MODEL). */
void *cfg__field(const cfg_opt_t *o, config_t *c, config_model_t *m);

/* Sets a field from a value of the right type (the string is copied). Returns 0 or ERR_NOMEM. */
int cfg__set_string(char **field, const char *v);
/* Appends a copy of v to a list field. ERR_LIMIT past CONFIG_MAX_LIST, ERR_NOMEM. */
int cfg__list_add(char ***list, size_t *n, const char *v);
void cfg__list_clear(char ***list, size_t *n);
/* Frees c's key_limits. */
void cfg__key_limits_clear(config_t *c);

/*
 * Applies the JSON file's text to c (already holding the defaults): top-level keys and the "models" array, which
 * replaces c's models. name is used in messages ("config.json: models[1].ctx_size: ..."). Returns 0, ERR_FORMAT
 * (not JSON, with line and column), ERR_INVAL (unknown key, wrong type or range), ERR_NOMEM.
 */
int cfg__apply_json(config_t *c, const char *text, size_t len, const char *name, char *err, size_t err_len);

/* Reads a whole file of at most CONFIG_MAX_FILE_BYTES into a malloc'd NUL-terminated buffer. ERR_IO, ERR_NOMEM. */
int cfg__read_file(const char *path, char **out, size_t *len, char *err, size_t err_len);

#endif
