/*
 * cmd_serve.c — `cinder serve`: reads the configuration (config.h: defaults < file < CINDER_* < flags), sets up
 * logging, resolves each model to a local file (hub_resolve_model: a path as is, a Hugging Face reference from
 * the cache or pulled with progress on stderr), reads chat template files, and runs the server (server.h).
 * Exit status: 0 after a clean shutdown, 2 for a configuration mistake, 1 for anything that fails at run time.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "config/config.h"
#include "err.h"
#include "hub.h"
#include "log.h"
#include "server.h"

#define SERVE_MAX_TEMPLATE_BYTES (1 << 20)

/* Reads a whole text file (at most SERVE_MAX_TEMPLATE_BYTES) into a malloc'd NUL-terminated string. */
static char *serve_read_file(const char *path, const char *what) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cinder serve: %s: cannot open '%s': %s\n", what, path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(SERVE_MAX_TEMPLATE_BYTES + 1);
    size_t n = buf ? fread(buf, 1, SERVE_MAX_TEMPLATE_BYTES + 1, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad || n > SERVE_MAX_TEMPLATE_BYTES) {
        fprintf(stderr, "cinder serve: %s: cannot read '%s' (unreadable or over %d bytes)\n", what, path,
                SERVE_MAX_TEMPLATE_BYTES);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* The default model id: the file name without directories and without ".gguf". */
static void serve_model_id(const char *path, char *out, size_t cap) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(out, cap, "%s", base);
    size_t n = strlen(out);
    if (n > 5 && !strcmp(out + n - 5, ".gguf")) out[n - 5] = '\0';
}

/* Per model: what server_model_t borrows. */
typedef struct {
    char path[HUB_PATH_MAX];
    char id[256];
    char *tmpl;
} serve_model_buf_t;

/* "--model" when the command line or environment named the model, "config.json: models[i]" otherwise. */
static void serve_where(const config_t *c, size_t i, char *out, size_t cap) {
    if (c->n_models == 1 && c->config_file == NULL)
        snprintf(out, cap, "--model");
    else
        snprintf(out, cap, "%s: models[%zu]", c->config_file ? c->config_file : "configuration", i);
}

/* mkdir -p path (mode 0700: stored responses are the users' conversations). 0, or errno's value. */
static int serve_mkdirs(const char *path) {
    char buf[HUB_PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0700) != 0 && errno != EEXIST) return errno;
            *p = c;
            if (!c) return 0;
        }
    }
}

/* The responses store's file: the configured path, NULL for "none", or responses.db in the data directory
   (created). A data directory that cannot be had (no HOME, a read-only volume) leaves the server without a store,
   with a warning: only a store that was asked for by name is worth refusing to start over. */
static const char *serve_store_path(const config_t *cfg, char *out, size_t cap) {
    if (cfg->responses_store) return strcmp(cfg->responses_store, "none") ? cfg->responses_store : NULL;
    char dir[HUB_PATH_MAX];
    int rc = config_data_dir(&cfg->env, dir, sizeof dir);
    if (rc) {
        log_kv(LOG_WARN, "no responses store: no data directory (set XDG_DATA_HOME or HOME, or --responses-store)",
               NULL, 0);
        return NULL;
    }
    if ((rc = serve_mkdirs(dir))) {
        log_kv(LOG_WARN, "no responses store: cannot create the data directory",
               (log_kv_t[]){LOG_S("dir", dir), LOG_S("error", strerror(rc))}, 2);
        return NULL;
    }
    snprintf(out, cap, "%s/responses.db", dir);
    return out;
}

/* Everything after the configuration is read; returns the exit status. */
static int serve_run(const config_t *cfg) {
    int status = 1;
    serve_model_buf_t *bufs = calloc(cfg->n_models, sizeof *bufs);
    server_model_t *models = calloc(cfg->n_models, sizeof *models);
    if (!bufs || !models) {
        fprintf(stderr, "cinder serve: out of memory\n");
        goto cleanup;
    }
    for (size_t i = 0; i < cfg->n_models; i++) {
        const config_model_t *cm = &cfg->models[i];
        serve_model_buf_t *b = &bufs[i];
        char where[300], err[1024] = "";
        serve_where(cfg, i, where, sizeof where);
        if (hub_resolve_model(&cfg->env, cm->model, b->path, sizeof b->path, err, sizeof err)) {
            fprintf(stderr, "cinder serve: %s: %s\n", where, err);
            goto cleanup;
        }
        if (cm->alias)
            snprintf(b->id, sizeof b->id, "%s", cm->alias);
        else
            serve_model_id(b->path, b->id, sizeof b->id);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(bufs[j].id, b->id)) {
                fprintf(stderr, "cinder serve: %s: the id '%s' is already the id of models[%zu] (set \"alias\")\n",
                        where, b->id, j);
                status = 2;
                goto cleanup;
            }
        if (cm->chat_template && !(b->tmpl = serve_read_file(cm->chat_template, "--chat-template"))) {
            status = 2;
            goto cleanup;
        }
        server_model_t *m = &models[i];
        m->id = b->id;
        m->source = cm->model;
        m->chat_template = b->tmpl;
        m->engine = engine_default_params();
        m->engine.model_path = b->path;
        m->engine.n_ctx = cm->ctx_size;
        m->engine.n_parallel = cm->parallel;
        m->engine.max_queue = cm->max_queue;
        m->engine.n_batch = cm->batch_size;
        m->engine.kv_tokens = cm->kv_tokens;
        m->engine.kv_bytes = cm->kv_memory;
        m->engine.n_threads = cm->threads;
        log_kv(LOG_DEBUG, "model configured",
               (log_kv_t[]){LOG_S("model", b->id), LOG_S("source", cm->model), LOG_S("path", b->path)}, 3);
    }

    server_params_t p = server_default_params();
    p.models = models;
    p.n_models = cfg->n_models;
    p.memory_check = cfg->memory_check;
    p.host = cfg->host;
    p.port = cfg->port;
    p.api_keys = (const char *const *)cfg->api_keys;
    p.n_api_keys = cfg->n_api_keys;
    p.cors_origins = (const char *const *)cfg->cors_origins;
    p.n_cors_origins = cfg->n_cors_origins;
    p.max_body_bytes = (size_t)cfg->max_body_bytes;
    p.max_header_bytes = (size_t)cfg->max_header_bytes;
    p.max_connections = (unsigned)cfg->max_connections;
    p.idle_timeout_s = (unsigned)cfg->timeout_s;
    p.header_timeout_s = (unsigned)cfg->header_timeout_s;
    p.min_body_rate = (unsigned)cfg->min_body_rate;
    p.max_connections_per_ip = (unsigned)cfg->max_connections_per_ip;
    p.stream_buffer_bytes = (size_t)cfg->stream_buffer_bytes;
    p.metrics_api_key = cfg->metrics_api_key;
    p.reasoning_inline = cfg->reasoning_inline;
    api_key_limit_t limits[CONFIG_MAX_LIST];
    for (size_t i = 0; i < cfg->n_key_limits && i < CONFIG_MAX_LIST; i++)
        limits[i] = (api_key_limit_t){cfg->key_limits[i].key, cfg->key_limits[i].rpm, cfg->key_limits[i].tpm};
    p.key_limits = limits;
    p.n_key_limits = cfg->n_key_limits < CONFIG_MAX_LIST ? cfg->n_key_limits : CONFIG_MAX_LIST;
    p.quiet = cfg->quiet;
    char store[HUB_PATH_MAX + 32];
    p.responses_store = serve_store_path(cfg, store, sizeof store);
    p.responses_max_age_s = cfg->responses_max_age_s;
    p.responses_max_bytes = cfg->responses_max_bytes;
    char err[1024] = "";
    if (server_run(&p, err, sizeof err)) {
        fprintf(stderr, "cinder serve: %s\n", err);
        goto cleanup;
    }
    status = 0;
cleanup:
    for (size_t i = 0; bufs && i < cfg->n_models; i++)
        free(bufs[i].tmpl);
    free(bufs);
    free(models);
    return status;
}

int cmd_serve(int argc, char **argv) {
    config_t cfg;
    char err[1024] = "";
    int rc = config_load(argc, argv, NULL, &cfg, err, sizeof err);
    if (rc) {
        fprintf(stderr, "cinder serve: %s\n", err);
        return rc == ERR_NOMEM ? 1 : 2;
    }
    if (cfg.help) {
        config_usage(stdout);
        config_free(&cfg);
        return 0;
    }
    log_setup(cfg.log_level, cfg.log_format, stderr);
    /* A long-running server frees many short-lived buffers of a vocabulary's size (request tokens, sampler
     * state). With glibc's sliding mmap threshold those end up recycled from the heap, where calloc must touch
     * every page and freed pages stay resident; a fixed threshold keeps them mmapped and returned on free. */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    int status = 0;
    if (cfg.print_config) {
        char *json = config_to_json(&cfg);
        if (json)
            printf("%s\n", json);
        else
            fprintf(stderr, "cinder serve: out of memory\n");
        status = json ? 0 : 1;
        free(json);
    } else {
        /* before any engine exists: the cap is process-wide (config_load checked the name) */
        const char *got = cfg.isa ? engine_cap_isa(cfg.isa) : NULL;
        if (got && strcmp(cfg.isa, "auto") && strcmp(got, cfg.isa))
            log_kv(LOG_WARN, "this CPU lacks the instruction set asked for; the kernels run with a lower one",
                   (log_kv_t[]){LOG_S("isa", cfg.isa), LOG_S("kernels", got)}, 2);
        status = serve_run(&cfg);
    }
    config_free(&cfg);
    return status;
}
