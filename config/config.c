/*
 * config.c — the settings table, defaults, the environment and command-line layers, validation and --help
 * (see config.h). The file layer and --print-config are in config_json.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_int.h"
#include "err.h"

#define G(field) CFG_GLOBAL, offsetof(config_t, field)
#define M(field) CFG_MODEL, offsetof(config_model_t, field)

/* clang-format off */
const cfg_opt_t cfg__opts[] = {
    /* key                env                       flag                 alt    type        scope+field          wide   neg    lo  hi  meta help */
    {NULL,               "CINDER_CONFIG",          "--config",          NULL,  CFG_STR,    G(config_file),      false, false, 0, 0, "FILE",
     "JSON configuration file (see config/cinder.example.json); CINDER_*\n"
     "variables and flags override it"},
    {"model",            "CINDER_MODEL",           "--model",           "-m",  CFG_STR,    M(model),            false, false, 0, 0, "MODEL",
     "GGUF file, or Hugging Face reference OWNER/REPO[:QUANT] or\n"
     "OWNER/REPO/FILE.gguf (pulled into the cache on first use);\n"
     "replaces the models of the configuration file"},
    {"alias",            "CINDER_ALIAS",           "--alias",           NULL,  CFG_OPTSTR, M(alias),            false, false, 0, 0, "NAME",
     "model id clients use (default: the file name without .gguf)"},
    {"host",             "CINDER_HOST",            "--host",            NULL,  CFG_STR,    G(host),             false, false, 0, 0, "ADDR",
     "address to bind (default 127.0.0.1; 0.0.0.0 or :: for all)"},
    {"port",             "CINDER_PORT",            "--port",            NULL,  CFG_INT,    G(port),             false, false, 0, 65535, "N",
     "port (default 8080; 0 = any free port)"},
    {"api_keys",         "CINDER_API_KEYS",        "--api-key",         NULL,  CFG_LIST,   G(api_keys),         false, false, 0, 0, "KEY",
     "require \"Authorization: Bearer KEY\" (repeat for several keys;\n"
     "the variable takes a comma-separated list; /health and /metrics\n"
     "never need one)"},
    {"ctx_size",         "CINDER_CTX_SIZE",        "--ctx-size",        "-c",  CFG_INT,    M(ctx_size),         false, false, 0, 1 << 24, "N",
     "tokens per sequence, prompt + completion (default 0: the model's)"},
    {"parallel",         "CINDER_PARALLEL",        "--parallel",        "-np", CFG_INT,    M(parallel),         false, false, 0, 1024, "N",
     "sequences at once (default 0: 16, or 64 for an embedding model);\n"
     "others wait in the queue"},
    {"max_queue",        "CINDER_MAX_QUEUE",       "--max-queue",       NULL,  CFG_INT,    M(max_queue),        false, false, 0, 1 << 20, "N",
     "requests waiting before new ones get 503 (default 64)"},
    {"batch_size",       "CINDER_BATCH_SIZE",      "--batch-size",      "-b",  CFG_INT,    M(batch_size),       false, false, 0, 1 << 16, "N",
     "tokens per forward pass (default 0: 512, or 2048 for an embedding\n"
     "model)"},
    {"kv_tokens",        "CINDER_KV_TOKENS",       "--kv-tokens",       NULL,  CFG_INT,    M(kv_tokens),        true,  false, 0, 1ll << 32, "N",
     "KV cache shared by a model's sequences, in tokens (default 0:\n"
     "256 MiB of it, at least one context)"},
    {"kv_memory",        "CINDER_KV_MEMORY",       "--kv-memory",       NULL,  CFG_INT,    M(kv_memory),        true,  false, 0, 1ll << 46, "BYTES",
     "alternatively the KV cache's size in bytes (used when kv_tokens\n"
     "is 0; default 0)"},
    {"threads",          "CINDER_THREADS",         "--threads",         "-t",  CFG_INT,    M(threads),          false, false, 0, 512, "N",
     "compute threads per model (default 0: the number of CPUs)"},
    {"chat_template",    "CINDER_CHAT_TEMPLATE",   "--chat-template",   NULL,  CFG_OPTSTR, M(chat_template),    false, false, 0, 0, "FILE",
     "Jinja chat template overriding the model's (a model without one\n"
     "uses ChatML)"},
    {"cors_origins",     "CINDER_CORS_ORIGINS",    "--cors-origin",     NULL,  CFG_LIST,   G(cors_origins),     false, false, 0, 0, "ORIGIN",
     "allow browser requests from ORIGIN (repeatable, comma-separated\n"
     "in the variable; * = any); off by default"},
    {"max_body_bytes",   "CINDER_MAX_BODY_BYTES",  "--max-body-bytes",  NULL,  CFG_INT,    G(max_body_bytes),   true,  false, 1, 1ll << 32, "N",
     "largest request body (default 8388608); larger gets 413"},
    {"max_header_bytes", "CINDER_MAX_HEADER_BYTES","--max-header-bytes",NULL,  CFG_INT,    G(max_header_bytes), true,  false, 4096, 1 << 24, "N",
     "memory per connection for the request line and headers\n"
     "(default 32768); larger headers are refused"},
    {"max_connections",  "CINDER_MAX_CONNECTIONS", "--max-connections", NULL,  CFG_INT,    G(max_connections),  false, false, 1, 1 << 16, "N",
     "open connections at once (default 256); more wait in the\n"
     "kernel's accept queue"},
    {"timeout",          "CINDER_TIMEOUT",         "--timeout",         NULL,  CFG_INT,    G(timeout_s),        false, false, 1, 86400, "SECONDS",
     "close a connection idle this long (default 30; generation is\n"
     "not idle)"},
    {"header_timeout",   "CINDER_HEADER_TIMEOUT",  "--header-timeout",  NULL,  CFG_INT,    G(header_timeout_s), false, false, 0, 86400, "SECONDS",
     "a request's line and headers must arrive within this (default 10;\n"
     "from the accept, or the first byte on a kept-alive connection);\n"
     "0 = no deadline"},
    {"min_body_rate",    "CINDER_MIN_BODY_RATE",   "--min-body-rate",   NULL,  CFG_INT,    G(min_body_rate),    false, false, 0, 1 << 30, "BYTES",
     "bytes per second a request body must average after a 5 s grace\n"
     "(default 1024); slower uploads are cut; 0 = no minimum"},
    {"max_connections_per_ip", "CINDER_MAX_CONNECTIONS_PER_IP", "--max-connections-per-ip", NULL, CFG_INT, G(max_connections_per_ip), false, false, 0, 1 << 16, "N",
     "open connections from one address (default 64; 0 = no limit)"},
    {"stream_buffer_bytes", "CINDER_STREAM_BUFFER_BYTES", "--stream-buffer-bytes", NULL, CFG_INT, G(stream_buffer_bytes), true, false, 4096, 1ll << 30, "BYTES",
     "a stream's unsent output past this pauses its generation until\n"
     "the client reads (default 262144)"},
    {"metrics_api_key",  "CINDER_METRICS_API_KEY", "--metrics-api-key", NULL,  CFG_OPTSTR, G(metrics_api_key),  false, false, 0, 0, "KEY",
     "GET /metrics needs \"Authorization: Bearer KEY\" (default: open)"},
    {"reasoning_inline", "CINDER_REASONING_INLINE","--reasoning-inline",NULL,  CFG_BOOL,   G(reasoning_inline), false, false, 0, 0, NULL,
     "reasoning models' thinking stays in `content` (tags included)\n"
     "instead of going to `reasoning_content`"},
    {"responses_store",  "CINDER_RESPONSES_STORE", "--responses-store", NULL,  CFG_OPTSTR, G(responses_store),  false, false, 0, 0, "FILE|none",
     "SQLite file of /v1/responses' stored responses (default:\n"
     "responses.db in $XDG_DATA_HOME/cinder or ~/.local/share/cinder);\n"
     "none = no store (requests with store: true get 400)"},
    {"responses_max_age", "CINDER_RESPONSES_MAX_AGE", "--responses-max-age", NULL, CFG_INT, G(responses_max_age_s), true, false, 0, 1ll << 40, "SECONDS",
     "stored responses older than this are deleted (default 2592000,\n"
     "30 days; 0 = kept)"},
    {"responses_max_bytes", "CINDER_RESPONSES_MAX_BYTES", "--responses-max-bytes", NULL, CFG_INT, G(responses_max_bytes), true, false, 0, 1ll << 46, "BYTES",
     "stored responses' JSON kept at most, the oldest deleted first\n"
     "(default 1073741824; 0 = no limit)"},
    {"log_format",       "CINDER_LOG_FORMAT",      "--log-format",      NULL,  CFG_FORMAT, G(log_format),       false, false, 0, 0, "logfmt|json",
     "log lines on stderr as logfmt (default) or JSON objects"},
    {"log_level",        "CINDER_LOG_LEVEL",       "--log-level",       NULL,  CFG_LEVEL,  G(log_level),        false, false, 0, 0, "LEVEL",
     "debug, info (default; one line per request), warn or error"},
    {"quiet",            "CINDER_QUIET",           "--quiet",           NULL,  CFG_BOOL,   G(quiet),            false, false, 0, 0, NULL,
     "no per-request log lines"},
    {"memory_check",     "CINDER_MEMORY_CHECK",    "--no-memory-check", NULL,  CFG_BOOL,   G(memory_check),     false, true,  0, 0, NULL,
     "start even when the models' weights and KV caches exceed\n"
     "MemAvailable (checked by default)"},
    {"isa",              "CINDER_ISA",             "--isa",             NULL,  CFG_OPTSTR, G(isa),              false, false, 0, 0, "NAME",
     "cap the kernels' instruction set: auto (default: the CPU's best),\n"
     "avx512vnni, avx2 or scalar, to serve as a CPU without AVX-512\n"
     "VNNI (or AVX2) would; never above what the CPU has"},
    {NULL,               NULL,                     "--print-config",    NULL,  CFG_ACTION, G(print_config),     false, false, 0, 0, NULL,
     "print the effective configuration as JSON (API keys redacted)\n"
     "and exit"},
    {NULL,               NULL,                     "--help",            "-h",  CFG_ACTION, G(help),             false, false, 0, 0, NULL,
     "this text"},
};
/* clang-format on */
const size_t cfg__n_opts = sizeof cfg__opts / sizeof cfg__opts[0];

#undef G
#undef M

/* CFG_LIST fields are a `char **` followed by its `size_t` count. */
_Static_assert(offsetof(config_t, n_api_keys) == offsetof(config_t, api_keys) + sizeof(char **), "list layout");
_Static_assert(offsetof(config_t, n_cors_origins) == offsetof(config_t, cors_origins) + sizeof(char **), "list layout");

/* ---- defaults and small helpers --------------------------------------------------------------------------- */

void cfg__model_defaults(config_model_t *m) {
    memset(m, 0, sizeof *m);
    m->parallel = 0; /* as engine_default_params(): decided by the model (test_config checks) */
    m->max_queue = 64;
    m->batch_size = 0; /* likewise */
}

static int cfg__defaults(config_t *c) {
    memset(c, 0, sizeof *c);
    c->port = 8080;
    c->max_body_bytes = (int64_t)8 << 20;
    c->max_header_bytes = (int64_t)32 << 10;
    c->max_connections = 256;
    c->timeout_s = 30;
    c->header_timeout_s = 10;
    c->min_body_rate = 1024;
    c->max_connections_per_ip = 64;
    c->stream_buffer_bytes = (int64_t)256 << 10;
    c->responses_max_age_s = 30 * 86400;
    c->responses_max_bytes = (int64_t)1 << 30;
    c->log_level = LOG_INFO;
    c->log_format = LOG_FORMAT_LOGFMT;
    c->memory_check = true;
    return cfg__set_string(&c->host, "127.0.0.1");
}

const cfg_opt_t *cfg__by_key(const char *key, cfg_scope_t scope) {
    for (size_t i = 0; i < cfg__n_opts; i++)
        if (cfg__opts[i].key && cfg__opts[i].scope == scope && !strcmp(cfg__opts[i].key, key)) return &cfg__opts[i];
    return NULL;
}

/* Levenshtein distance of two short strings (longer ones compare as far apart). */
static size_t cfg__distance(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    if (na > 63 || nb > 63) return 99;
    size_t row[64];
    for (size_t j = 0; j <= nb; j++)
        row[j] = j;
    for (size_t i = 1; i <= na; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[nb];
}

const char *cfg__suggest(const char *key, cfg_scope_t scope) {
    const char *best = NULL;
    size_t best_d = 3;
    for (size_t i = 0; i < cfg__n_opts; i++) {
        if (!cfg__opts[i].key || cfg__opts[i].scope != scope) continue;
        size_t d = cfg__distance(key, cfg__opts[i].key);
        if (strlen(key) >= 3 && !strncmp(key, cfg__opts[i].key, strlen(key))) d = 1; /* "ctx" -> "ctx_size" */
        if (d < best_d) best_d = d, best = cfg__opts[i].key;
    }
    if (scope == CFG_GLOBAL && cfg__distance(key, "models") < best_d) best = "models";
    return best;
}

void *cfg__field(const cfg_opt_t *o, config_t *c, config_model_t *m) {
    return o->scope == CFG_GLOBAL ? (void *)((char *)c + o->off) : (void *)((char *)m + o->off);
}

int cfg__set_string(char **field, const char *v) {
    char *s = NULL;
    if (v && !(s = strdup(v))) return ERR_NOMEM;
    free(*field);
    *field = s;
    return 0;
}

int cfg__list_add(char ***list, size_t *n, const char *v) {
    if (*n >= CONFIG_MAX_LIST) return ERR_LIMIT;
    char **l = realloc(*list, (*n + 1) * sizeof *l);
    if (!l) return ERR_NOMEM;
    *list = l;
    if (!(l[*n] = strdup(v))) return ERR_NOMEM;
    (*n)++;
    return 0;
}

void cfg__list_clear(char ***list, size_t *n) {
    for (size_t i = 0; i < *n; i++)
        free((*list)[i]);
    free(*list);
    *list = NULL;
    *n = 0;
}

void cfg__key_limits_clear(config_t *c) {
    for (size_t i = 0; i < c->n_key_limits; i++)
        free(c->key_limits[i].key);
    free(c->key_limits);
    c->key_limits = NULL;
    c->n_key_limits = 0;
}

static void cfg__model_free(config_model_t *m) {
    free(m->model);
    free(m->alias);
    free(m->chat_template);
    memset(m, 0, sizeof *m);
}

int config_data_dir(const config_env_t *env, char *out, size_t cap) {
    int n;
    if (env->xdg_data_home)
        n = snprintf(out, cap, "%s/cinder", env->xdg_data_home);
    else if (env->home)
        n = snprintf(out, cap, "%s/.local/share/cinder", env->home);
    else
        return ERR_NOTFOUND;
    return n < 0 || (size_t)n >= cap ? ERR_RANGE : 0;
}

void config_free(config_t *c) {
    if (!c) return;
    free(c->config_file);
    free(c->host);
    free(c->metrics_api_key);
    free(c->responses_store);
    free(c->isa);
    cfg__list_clear(&c->api_keys, &c->n_api_keys);
    cfg__key_limits_clear(c);
    cfg__list_clear(&c->cors_origins, &c->n_cors_origins);
    for (size_t i = 0; i < c->n_models; i++)
        cfg__model_free(&c->models[i]);
    free(c->models);
    memset(c, 0, sizeof *c);
}

/* ---- values from strings (environment and flags) ---------------------------------------------------------- */

static bool cfg__parse_bool(const char *s, bool *out) {
    static const char *const yes[] = {"1", "true", "yes", "on"}, *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i])) return *out = true, true;
        if (!strcasecmp(s, no[i])) return *out = false, true;
    }
    return false;
}

/*
 * Sets o (in c, or in model m) from the string v given by `where` (a variable or flag name). Lists: `append`
 * adds to the list, otherwise v replaces it (split at commas: the environment's form).
 */
static int cfg__set_from_string(const cfg_opt_t *o, config_t *c, config_model_t *m, const char *v, bool append,
                                const char *where, char *err, size_t err_len) {
    void *f = cfg__field(o, c, m);
    switch (o->type) {
    case CFG_STR:
    case CFG_OPTSTR:
        if (!*v) return err_set(err, err_len, ERR_INVAL, "%s: expected a non-empty value", where);
        return cfg__set_string(f, v) ? err_set(err, err_len, ERR_NOMEM, "out of memory") : 0;
    case CFG_INT: {
        char *end = NULL;
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (errno || end == v || *end || x < o->lo || x > o->hi)
            return err_set(err, err_len, ERR_INVAL, "%s: expected an integer from %lld to %lld, got '%.64s'", where,
                           (long long)o->lo, (long long)o->hi, v);
        if (o->wide)
            *(int64_t *)f = x;
        else
            *(int32_t *)f = (int32_t)x;
        return 0;
    }
    case CFG_BOOL:
        if (!cfg__parse_bool(v, f))
            return err_set(err, err_len, ERR_INVAL, "%s: expected true or false (1/0, yes/no, on/off), got '%.64s'",
                           where, v);
        return 0;
    case CFG_LEVEL:
        if (log_level_parse(v, f))
            return err_set(err, err_len, ERR_INVAL, "%s: expected debug, info, warn or error, got '%.64s'", where, v);
        return 0;
    case CFG_FORMAT:
        if (log_format_parse(v, f))
            return err_set(err, err_len, ERR_INVAL, "%s: expected logfmt or json, got '%.64s'", where, v);
        return 0;
    case CFG_LIST: {
        char ***list = f;
        size_t *n = (size_t *)((char *)f + sizeof(char **));
        int rc = 0;
        if (append) {
            if (!*v) return err_set(err, err_len, ERR_INVAL, "%s: expected a non-empty value", where);
            rc = cfg__list_add(list, n, v);
        } else {
            cfg__list_clear(list, n);
            for (const char *p = v; !rc && *p;) { /* comma-separated; empty items are skipped */
                size_t k = strcspn(p, ",");
                if (k) {
                    char item[1024];
                    if (k >= sizeof item)
                        return err_set(err, err_len, ERR_INVAL, "%s: an item is longer than %zu bytes", where,
                                       sizeof item - 1);
                    memcpy(item, p, k);
                    item[k] = '\0';
                    rc = cfg__list_add(list, n, item);
                }
                p += k + (p[k] == ',');
            }
        }
        if (rc == ERR_LIMIT) return err_set(err, err_len, rc, "%s: at most %d entries", where, CONFIG_MAX_LIST);
        return rc ? err_set(err, err_len, rc, "out of memory") : 0;
    }
    case CFG_ACTION: *(bool *)f = true; return 0;
    }
    return ERR_INVAL;
}

/* Applies a string value to a setting: a global one once, a per-model one to every model. */
static int cfg__apply_string(config_t *c, const cfg_opt_t *o, const char *v, bool append, const char *where, char *err,
                             size_t err_len) {
    if (o->scope == CFG_GLOBAL) return cfg__set_from_string(o, c, NULL, v, append, where, err, err_len);
    if (o->off == offsetof(config_model_t, alias) && c->n_models > 1)
        return err_set(err, err_len, ERR_INVAL,
                       "%s: names one model, but the configuration has %zu (set \"alias\" in each models[] entry)",
                       where, c->n_models);
    for (size_t i = 0; i < c->n_models; i++) {
        int rc = cfg__set_from_string(o, c, &c->models[i], v, append, where, err, err_len);
        if (rc) return rc;
    }
    return 0;
}

/* ---- the command line ------------------------------------------------------------------------------------- */

typedef struct {
    const cfg_opt_t *opt;
    const char *value; /* NULL for flags without a value */
    const char *name;  /* as written */
} cfg_flag_t;

static const cfg_opt_t *cfg__by_flag(const char *a) {
    for (size_t i = 0; i < cfg__n_opts; i++)
        if (!strcmp(a, cfg__opts[i].flag) || (cfg__opts[i].alt && !strcmp(a, cfg__opts[i].alt))) return &cfg__opts[i];
    return NULL;
}

/* Splits argv into flags and values (accepting --flag=value too); nothing is applied yet. */
static int cfg__scan(int argc, char *const *argv, cfg_flag_t *out, size_t *n_out, char *err, size_t err_len) {
    size_t n = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char name[64];
        const char *inline_v = NULL;
        const char *eq = !strncmp(a, "--", 2) ? strchr(a, '=') : NULL;
        if (eq && (size_t)(eq - a) < sizeof name) {
            memcpy(name, a, (size_t)(eq - a));
            name[eq - a] = '\0';
            inline_v = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a);
        }
        const cfg_opt_t *o = cfg__by_flag(name);
        if (!o) return err_set(err, err_len, ERR_INVAL, "unknown option '%.100s' (see --help)", a);
        bool takes_value = o->meta != NULL;
        const char *v = NULL;
        if (takes_value) {
            if (inline_v)
                v = inline_v;
            else if (i + 1 < argc)
                v = argv[++i];
            else
                return err_set(err, err_len, ERR_INVAL, "option %s needs a value", o->flag);
        } else if (inline_v) {
            return err_set(err, err_len, ERR_INVAL, "option %s takes no value", o->flag);
        }
        out[n].opt = o;
        out[n].value = v;
        out[n].name = o->flag;
        n++;
    }
    *n_out = n;
    return 0;
}

/* ---- validation ------------------------------------------------------------------------------------------- */

/* from: the file the models came from ("" when the command line or environment named the model). */
static int cfg__validate(const config_t *c, const char *from, char *err, size_t err_len) {
    static const char *const isas[] = {"auto", "avx512vnni", "avx2", "scalar"};
    bool isa_ok = !c->isa;
    for (size_t i = 0; i < sizeof isas / sizeof isas[0] && !isa_ok; i++)
        isa_ok = !strcmp(c->isa, isas[i]);
    if (!isa_ok)
        return err_set(err, err_len, ERR_INVAL,
                       "isa (--isa, CINDER_ISA): expected auto, avx512vnni, avx2 or scalar, got '%.64s'", c->isa);
    if (c->n_models == 0 && !c->print_config)
        return err_set(err, err_len, ERR_INVAL,
                       "no model: give -m MODEL (a GGUF file or a Hugging Face reference such as %s), or a "
                       "\"models\" list in a --config file",
                       CONFIG_DEFAULT_MODEL);
    if (c->n_models > CONFIG_MAX_MODELS)
        return err_set(err, err_len, ERR_LIMIT, "models: at most %d models, got %zu", CONFIG_MAX_MODELS, c->n_models);
    for (size_t i = 0; i < c->n_models; i++) {
        const config_model_t *m = &c->models[i];
        if (!m->model || !*m->model)
            return err_set(err, err_len, ERR_INVAL,
                           "%s%smodels[%zu].model: required (a GGUF file or a Hugging "
                           "Face reference)",
                           from, *from ? ": " : "", i);
        for (size_t j = 0; j < i && m->alias; j++)
            if (c->models[j].alias && !strcmp(c->models[j].alias, m->alias))
                return err_set(err, err_len, ERR_INVAL,
                               "%s%smodels[%zu].alias: '%.100s' is already the id of "
                               "models[%zu]",
                               from, *from ? ": " : "", i, m->alias, j);
    }
    return 0;
}

/* ---- the layers ------------------------------------------------------------------------------------------- */

int config_load(int argc, char *const *argv, const char *const *envp, config_t *out, char *err, size_t err_len) {
    cfg_flag_t *flags = NULL;
    char *text = NULL;
    size_t n_flags = 0, text_len = 0;
    int rc = cfg__defaults(out);
    if (rc) goto cleanup;
    if (argc > 1 && !(flags = calloc((size_t)argc, sizeof *flags))) {
        rc = ERR_NOMEM;
        goto cleanup;
    }
    if ((rc = cfg__scan(argc, argv, flags, &n_flags, err, err_len))) goto cleanup;
    for (size_t i = 0; i < n_flags; i++)
        if (flags[i].opt->type == CFG_ACTION && !strcmp(flags[i].opt->flag, "--help")) {
            out->help = true;
            goto cleanup; /* nothing else matters */
        }
    config_env_load_from(envp, &out->env);

    /* the file: the last --config, else CINDER_CONFIG */
    const char *path = config_getenv(envp, "CINDER_CONFIG");
    for (size_t i = 0; i < n_flags; i++)
        if (!strcmp(flags[i].opt->flag, "--config")) path = flags[i].value;
    if (path) {
        if (!*path) {
            rc = err_set(err, err_len, ERR_INVAL, "--config: expected a file name");
            goto cleanup;
        }
        if ((rc = cfg__set_string(&out->config_file, path))) goto cleanup;
        if ((rc = cfg__read_file(path, &text, &text_len, err, err_len))) goto cleanup;
        if ((rc = cfg__apply_json(out, text, text_len, path, err, err_len))) goto cleanup;
    }

    /* a model named in the environment or on the command line replaces the file's list */
    bool model_flag = false, from_file = path != NULL;
    for (size_t i = 0; i < n_flags; i++)
        model_flag |= flags[i].opt->scope == CFG_MODEL && flags[i].opt->off == offsetof(config_model_t, model);
    if (model_flag || config_getenv(envp, "CINDER_MODEL")) {
        config_model_t *one = calloc(1, sizeof *one);
        if (!one) {
            rc = ERR_NOMEM;
            goto cleanup;
        }
        for (size_t i = 0; i < out->n_models; i++)
            cfg__model_free(&out->models[i]);
        free(out->models);
        cfg__model_defaults(one);
        from_file = false;
        out->models = one;
        out->n_models = 1;
    }

    /* the environment: global settings, then per-model ones onto every model */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < cfg__n_opts; i++) {
            const cfg_opt_t *o = &cfg__opts[i];
            if (!o->env || !o->key || (int)o->scope != (pass == 0 ? CFG_GLOBAL : CFG_MODEL)) continue;
            const char *v = config_getenv(envp, o->env);
            if (v && (rc = cfg__apply_string(out, o, v, false, o->env, err, err_len))) goto cleanup;
        }

    /* the command line, in order; the first occurrence of a list flag replaces the list, later ones append */
    for (size_t i = 0; i < n_flags; i++) {
        const cfg_opt_t *o = flags[i].opt;
        if (!strcmp(o->flag, "--config")) continue;
        bool append = false;
        for (size_t j = 0; j < i && !append; j++)
            append = flags[j].opt == o;
        const char *v = flags[i].value;
        if (o->type == CFG_BOOL) v = o->negate ? "false" : "true";
        if (o->type == CFG_ACTION) v = "";
        if (o->type == CFG_LIST && !append) { /* replace what lower layers set, then add this one */
            rc = cfg__apply_string(out, o, "", false, flags[i].name, err, err_len);
            append = true;
        }
        if (!rc) rc = cfg__apply_string(out, o, v, append, flags[i].name, err, err_len);
        if (rc) goto cleanup;
    }
    rc = cfg__validate(out, from_file ? out->config_file : "", err, err_len);
cleanup:
    if (rc == ERR_NOMEM) err_set(err, err_len, rc, "out of memory");
    if (rc) config_free(out);
    free(flags);
    free(text);
    return rc;
}

/* ---- --help ----------------------------------------------------------------------------------------------- */

void config_usage(FILE *to) {
    fprintf(to, "usage: cinder serve -m MODEL [options]      or      cinder serve --config FILE [options]\n"
                "Serves models over HTTP with OpenAI's API: GET /health, GET /metrics (Prometheus), GET /v1/models,\n"
                "GET /v1/models/{id}, POST /v1/chat/completions, POST /v1/completions, POST /v1/embeddings.\n"
                "Prints \"listening on http://HOST:PORT\" on stdout once bound; /health answers 503 until every model\n"
                "is loaded. SIGINT/SIGTERM stop it (exit 0). Several models: list them in the configuration file;\n"
                "requests pick one with their \"model\" field.\n"
                "\n"
                "Settings, lowest precedence first: defaults, the JSON file (--config or CINDER_CONFIG), the CINDER_*\n"
                "variables, these flags. Below each flag: its variable and its key in the file (per-model keys go in\n"
                "the file's \"models\" entries; given as a flag or variable they apply to every model).\n\n");
    for (size_t i = 0; i < cfg__n_opts; i++) {
        const cfg_opt_t *o = &cfg__opts[i];
        char left[64];
        snprintf(left, sizeof left, "%s%s%s%s%s", o->alt ? o->alt : "", o->alt ? ", " : "    ", o->flag,
                 o->meta ? " " : "", o->meta ? o->meta : "");
        fprintf(to, "  %-30s ", left);
        for (const char *h = o->help; *h;) {
            size_t k = strcspn(h, "\n");
            fprintf(to, "%.*s\n", (int)k, h);
            h += k;
            if (*h == '\n') {
                h++;
                fprintf(to, "  %-30s ", "");
            }
        }
        if (o->env || o->key) {
            fprintf(to, "  %-30s [", "");
            if (o->env) fprintf(to, "%s", o->env);
            if (o->key)
                fprintf(to, "%s\"%s\"%s", o->env ? ", " : "", o->key, o->scope == CFG_MODEL ? " in models[]" : "");
            fprintf(to, "]\n");
        }
    }
    fprintf(to, "\nHugging Face downloads read HF_TOKEN, HF_ENDPOINT and XDG_CACHE_HOME (see `cinder pull --help`).\n");
}
