/*
 * config.h — the settings of `cinder serve`: one config_t, built once, read-only afterwards.
 *
 * Owns: the list of settings (one table in config.c: JSON key, CINDER_* variable, command-line flag, type, range
 * and help text), their defaults, and the layering
 *
 *     defaults  <  JSON file (--config FILE or CINDER_CONFIG)  <  CINDER_* environment  <  command-line flags
 *
 * (each layer overrides the ones before it, key by key), with validation that names the offending key, variable
 * or flag: "config.json: models[1].ctx_size: expected an integer from 0 to 16777216, got -4". Unknown keys in the
 * file are errors (with a "did you mean" when one is close); keys that start with '_' are ignored anywhere in the
 * file, so "_comment" (or "_port": "why 8080") can carry notes, since JSON has none. Unknown CINDER_* variables
 * are ignored (test harnesses and wrappers use the prefix too).
 *
 * Models. The file may list several models (a "models" array of objects with the per-model keys). A model given
 * with -m / CINDER_MODEL replaces that list with this one model. Per-model settings given in the environment or
 * on the command line (-c, -np, --max-queue, -b, --kv-tokens, -t, --chat-template) apply to every model in the
 * list; --alias / CINDER_ALIAS only when there is one.
 *
 * Does not: resolve Hugging Face references or check that files exist (cli/cmd_serve.c calls hub/ for that),
 * read chat template files, or know engine/ or server/ types (dependencies point into config/, never out).
 *
 * Threads: config_load() once, on the main thread, before other threads start; the result is read-only and may
 * be shared by any thread until config_free(). Every string in a config_t is owned by it (env's are borrowed
 * from the process environment, see env.h).
 */
#ifndef CINDER_CONFIG_H
#define CINDER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config/env.h"
#include "log.h"

/* What `make run` serves when no model is named: a small llama-architecture instruct model (386 MB, Q8_0). */
#define CONFIG_DEFAULT_MODEL "bartowski/SmolLM2-360M-Instruct-GGUF:Q8_0"

#define CONFIG_MAX_MODELS     16        /* models in one server */
#define CONFIG_MAX_LIST       64        /* entries of api_keys / cors_origins */
#define CONFIG_MAX_FILE_BYTES (1 << 20) /* a configuration file larger than this is refused */

/* One served model ("models": [ {...} ] in the file). */
typedef struct {
    char *model;         /* "model": a GGUF path, or a Hugging Face reference OWNER/REPO[:QUANT] or
                            OWNER/REPO/FILE.gguf (pulled into the cache on first use) */
    char *alias;         /* "alias": the id clients send as `model`; NULL = the file name without .gguf */
    int32_t ctx_size;    /* "ctx_size": tokens per sequence (prompt + completion); 0 = the model's own */
    int32_t parallel;    /* "parallel": sequences generating at once */
    int32_t max_queue;   /* "max_queue": requests waiting to start before new ones get 503 */
    int32_t batch_size;  /* "batch_size": most tokens per forward pass */
    int64_t kv_tokens;   /* "kv_tokens": KV cache pool in tokens; 0 = 256 MiB (at least one context) */
    int64_t kv_memory;   /* "kv_memory": KV cache pool in bytes, used when kv_tokens is 0; 0 = the default */
    int32_t threads;     /* "threads": compute threads; 0 = every online CPU */
    char *chat_template; /* "chat_template": a Jinja file replacing the model's template; NULL = the model's */
} config_model_t;

/* Quotas of one API key: an "api_keys" entry written as {"key": "...", "rpm": N, "tpm": N} in the file. */
typedef struct {
    char *key;   /* the key (also in api_keys) */
    int64_t rpm; /* requests per minute, 0 = no limit */
    int64_t tpm; /* tokens per minute, 0 = no limit */
} config_key_limit_t;

typedef struct {
    char *config_file;        /* the JSON file that was read, or NULL */
    char *host;               /* "host": address to bind */
    int32_t port;             /* "port": 0 = any free port */
    char **api_keys;          /* "api_keys": n_api_keys Bearer keys; none = no authentication */
    size_t n_api_keys;        /* */
    config_key_limit_t *key_limits; /* the file's keys that carry quotas; they apply to whichever api_keys (from any
                                       layer) have the same value */
    size_t n_key_limits;            /* */
    char **cors_origins;      /* "cors_origins": allowed browser origins ("*" = any); none = CORS off */
    size_t n_cors_origins;    /* */
    int64_t max_body_bytes;   /* "max_body_bytes": larger request bodies get 413 */
    int64_t max_header_bytes; /* "max_header_bytes": memory per connection for the request line and headers */
    int32_t max_connections;  /* "max_connections": open connections at once */
    int32_t timeout_s;        /* "timeout": seconds before an idle connection is closed */
    int32_t header_timeout_s; /* "header_timeout": seconds a request head may take (0 = no deadline) */
    int32_t min_body_rate;    /* "min_body_rate": bytes/s a request body must average (0 = no minimum) */
    int32_t max_connections_per_ip; /* "max_connections_per_ip": open connections per address (0 = no limit) */
    int64_t stream_buffer_bytes;    /* "stream_buffer_bytes": unsent stream output that pauses generation */
    char *metrics_api_key;          /* "metrics_api_key": the Bearer key GET /metrics needs; NULL = open */
    char *responses_store;          /* "responses_store": the SQLite file of /v1/responses' stored responses, or
                                       "none"; NULL = responses.db in the data directory (config_data_dir) */
    int64_t responses_max_age_s;    /* "responses_max_age": seconds a stored response is kept (0 = no limit) */
    int64_t responses_max_bytes;    /* "responses_max_bytes": stored JSON bytes kept, oldest pruned (0 = none) */
    bool quiet;               /* "quiet": no per-request log lines */
    bool reasoning_inline;    /* "reasoning_inline": thinking stays in content instead of reasoning_content */
    log_level_t log_level;    /* "log_level" */
    log_format_t log_format;  /* "log_format" */
    bool memory_check;        /* "memory_check": refuse to start when the models do not fit MemAvailable */
    char *isa;                /* "isa": cap the kernels' instruction set: auto, avx512vnni, avx2 or scalar (checked
                                 here); NULL = auto */
    config_model_t *models;   /* "models": n_models entries */
    size_t n_models;          /* */
    config_env_t env;         /* HF_ENDPOINT, HF_TOKEN, XDG_CACHE_HOME, HOME, SOURCE_DATE_EPOCH */
    bool help;                /* -h / --help was given: print config_usage() and exit */
    bool print_config;        /* --print-config was given: print config_to_json() and exit */
} config_t;

/*
 * Builds *out from the defaults, the configuration file, the environment and the command line, in that order of
 * precedence. argv[0] is the subcommand's name ("serve") and is skipped. envp is a NULL-terminated "NAME=VALUE"
 * array, or NULL for the process environment. With -h/--help, returns 0 with out->help set and nothing else
 * read. Otherwise every value is checked and the result has at least one model (unless --print-config).
 * Returns 0; ERR_INVAL for an unknown flag, key or a bad value; ERR_IO when the file cannot be read;
 * ERR_FORMAT when it is not JSON; ERR_NOMEM. err gets one line that names the file, key, variable or flag. On
 * error *out holds nothing to free (it is zeroed). On success free it with config_free().
 */
int config_load(int argc, char *const *argv, const char *const *envp, config_t *out, char *err, size_t err_len);

/*
 * The data directory: $XDG_DATA_HOME/cinder, else $HOME/.local/share/cinder (written into out). Returns 0, or
 * ERR_NOTFOUND when neither variable is set, ERR_RANGE when it does not fit. Creates nothing.
 */
int config_data_dir(const config_env_t *env, char *out, size_t cap);

/* Frees everything *c owns and zeroes it. config_free(NULL) is a no-op. */
void config_free(config_t *c);

/* Prints `cinder serve --help`: every flag with its CINDER_* variable and JSON key, from the settings table. */
void config_usage(FILE *to);

/*
 * The effective configuration as JSON in the file's format (API keys shown as "<redacted>"), so that
 * `cinder serve --print-config` output can be saved as a starting configuration file. Returns a malloc'd
 * NUL-terminated string (the caller frees it) or NULL when out of memory.
 */
char *config_to_json(const config_t *c);

#endif
