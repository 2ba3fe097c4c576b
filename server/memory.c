/*
 * memory.c — the startup check that every configured model fits in memory: weights (the GGUF file's size) plus
 * the KV pool each engine will allocate, against /proc/meminfo's MemAvailable (memory the kernel can hand out
 * without swapping, page cache included). Run by server_run on the main thread before anything is loaded, so a
 * configuration that cannot fit fails at once with a line saying what each model needs, instead of the machine
 * swapping or the OOM killer stopping the server later. See server.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine.h"
#include "err.h"
#include "kvcache.h"
#include "log.h"
#include "model.h"
#include "server.h"

int server_memory_estimate(const server_model_t *m, server_mem_t *out, char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    struct stat st;
    if (stat(m->engine.model_path, &st) != 0)
        return err_set(err, err_len, ERR_IO, "%s: %s", m->engine.model_path, strerror(errno));
    out->weights_bytes = (uint64_t)st.st_size;
    model_t *model = NULL;
    int rc = model_load(m->engine.model_path, &model, err, err_len);
    if (rc) return rc;
    int32_t n_ctx = 0;
    rc = engine_plan_kv(model, &m->engine, &out->kv_tokens, &out->kv_bytes, &n_ctx);
    model_free(model);
    if (rc) return err_set(err, err_len, rc, "%s: KV cache parameters are out of range", m->engine.model_path);
    out->n_ctx = n_ctx;
    return 0;
}

int server_parse_meminfo(const char *text, uint64_t *available_bytes) {
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        unsigned long long kib;
        char unit[8] = "";
        if (!strncmp(p, "MemAvailable:", 13) && sscanf(p + 13, "%llu %7s", &kib, unit) >= 1) {
            *available_bytes = (uint64_t)kib * 1024u; /* the kernel writes "kB" and means KiB */
            return 0;
        }
    }
    return ERR_NOTFOUND;
}

/* "386.4 MiB", "1.2 GiB". */
static const char *mem__size(uint64_t bytes, char *buf, size_t cap) {
    if (bytes >= (1ull << 30))
        snprintf(buf, cap, "%.1f GiB", (double)bytes / (double)(1ull << 30));
    else
        snprintf(buf, cap, "%.1f MiB", (double)bytes / (double)(1ull << 20));
    return buf;
}

int server_memory_check(const server_model_t *models, size_t n, char *err, size_t err_len) {
    char detail[1024] = "";
    size_t dl = 0;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        server_mem_t m;
        int rc = server_memory_estimate(&models[i], &m, err, err_len);
        if (rc) return rc;
        char w[32], k[32];
        mem__size(m.weights_bytes, w, sizeof w);
        mem__size(m.kv_bytes, k, sizeof k);
        log_kv(LOG_DEBUG, "memory estimate",
               (log_kv_t[]){LOG_S("model", models[i].id), LOG_I("weights_bytes", m.weights_bytes),
                            LOG_I("kv_bytes", m.kv_bytes), LOG_I("kv_tokens", m.kv_tokens), LOG_I("n_ctx", m.n_ctx)},
               5);
        if (dl < sizeof detail)
            dl += (size_t)snprintf(detail + dl, sizeof detail - dl, "%s%s %s weights + %s KV cache (%lld tokens)",
                                   i ? "; " : "", models[i].id, w, k, (long long)m.kv_tokens);
        total += m.weights_bytes + m.kv_bytes;
    }
    FILE *f = fopen("/proc/meminfo", "r");
    char text[8192];
    size_t got = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f) fclose(f);
    text[got] = '\0';
    uint64_t avail = 0;
    if (!got || server_parse_meminfo(text, &avail)) {
        log_msg(LOG_WARN, "cannot read MemAvailable from /proc/meminfo: memory is not checked");
        return 0;
    }
    char t[32], a[32];
    if (total > avail)
        return err_set(err, err_len, ERR_NOMEM,
                       "the models need %s of memory but only %s is available (%.700s); use smaller models or "
                       "quantizations, a smaller ctx_size or kv_tokens, fewer models, or --no-memory-check",
                       mem__size(total, t, sizeof t), mem__size(avail, a, sizeof a), detail);
    log_kv(LOG_DEBUG, "memory check passed", (log_kv_t[]){LOG_I("need_bytes", total), LOG_I("available_bytes", avail)},
           2);
    return 0;
}
