/*
 * resolve.c — from a model reference to a local file (see hub.h): list the repository with the hub API, choose
 * the file, and download it into the cache unless it is already there; and hub_resolve_model(), the cache-first
 * variant `serve -m` uses.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <cJSON.h>

#include "err.h"
#include "hub.h"
#include "hub_int.h"

#define RS_API_MAX_BYTES (64u << 20) /* bytes: largest API response read */
#define RS_MAX_PAGES     100         /* tree API pages followed */

/* One file of a repository as the hub lists it. */
typedef struct {
    char *path;         /* repository-relative */
    int64_t size_bytes; /* -1 when the listing does not say */
    char sha256[65];    /* the LFS SHA-256, or "" */
} rs_file_t;

typedef struct {
    rs_file_t *v;
    size_t n, cap;
} rs_files_t;

static void rs_files_free(rs_files_t *f) {
    for (size_t i = 0; i < f->n; i++)
        free(f->v[i].path);
    free(f->v);
    memset(f, 0, sizeof *f);
}

static int rs_files_push(rs_files_t *f, const char *path, int64_t size, const char *sha) {
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 64;
        rs_file_t *v = realloc(f->v, cap * sizeof *v);
        if (!v) return ERR_NOMEM;
        f->v = v;
        f->cap = cap;
    }
    rs_file_t *e = &f->v[f->n];
    e->path = strdup(path);
    if (!e->path) return ERR_NOMEM;
    e->size_bytes = size;
    e->sha256[0] = '\0';
    if (sha && strlen(sha) == 64 && strspn(sha, "0123456789abcdefABCDEF") == 64) memcpy(e->sha256, sha, 65);
    f->n++;
    return 0;
}

/* A JSON number that is a whole non-negative byte count, else -1. */
static int64_t rs_json_size(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9.0e15) return -1;
    return (int64_t)v->valuedouble;
}

static const char *rs_json_str(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/*
 * Adds the entries of one tree API page: [{"type":"file","path":...,"size":N,"lfs":{"oid":SHA256,"size":N}}, ...].
 * Directories and entries with unusable paths are skipped.
 */
static int rs_parse_tree(const char *json, rs_files_t *out, char *err, size_t err_len, const char *what) {
    cJSON *root = cJSON_Parse(json);
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return err_set(err, err_len, ERR_FORMAT, "%s: the hub's file listing is not a JSON array", what);
    }
    int rc = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, root) {
        const char *type = rs_json_str(e, "type"), *path = rs_json_str(e, "path");
        if (!path || (type && strcmp(type, "file")) || !hub_path_ok(path)) continue;
        const cJSON *lfs = cJSON_GetObjectItemCaseSensitive(e, "lfs");
        int64_t size = rs_json_size(e, "size");
        const char *sha = NULL;
        if (cJSON_IsObject(lfs)) {
            sha = rs_json_str(lfs, "oid");
            if (sha && !strncmp(sha, "sha256:", 7)) sha += 7;
            if (rs_json_size(lfs, "size") >= 0) size = rs_json_size(lfs, "size");
        }
        if ((rc = rs_files_push(out, path, size, sha))) {
            err_set(err, err_len, rc, "out of memory");
            break;
        }
    }
    cJSON_Delete(root);
    return rc;
}

/* Adds the siblings of the model info API: {"siblings":[{"rfilename":...,"size":N,"lfs":{"sha256":...}}]}. */
static int rs_parse_info(const char *json, rs_files_t *out, char *err, size_t err_len, const char *what) {
    cJSON *root = cJSON_Parse(json);
    const cJSON *sib = cJSON_GetObjectItemCaseSensitive(root, "siblings");
    if (!cJSON_IsArray(sib)) {
        cJSON_Delete(root);
        return err_set(err, err_len, ERR_FORMAT, "%s: the hub's model info has no file list (siblings)", what);
    }
    int rc = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, sib) {
        const char *path = rs_json_str(e, "rfilename");
        if (!path || !hub_path_ok(path)) continue;
        const cJSON *lfs = cJSON_GetObjectItemCaseSensitive(e, "lfs");
        int64_t size = rs_json_size(e, "size");
        const char *sha = cJSON_IsObject(lfs) ? rs_json_str(lfs, "sha256") : NULL;
        if ((rc = rs_files_push(out, path, size, sha))) {
            err_set(err, err_len, rc, "out of memory");
            break;
        }
    }
    cJSON_Delete(root);
    return rc;
}

/* HF_ENDPOINT without trailing slashes, checked to be an http(s) URL. */
static int rs_endpoint(const config_env_t *env, char *out, size_t cap, char *err, size_t err_len) {
    const char *e = env->hf_endpoint ? env->hf_endpoint : CONFIG_HF_ENDPOINT_DEFAULT;
    if (strncmp(e, "http://", 7) && strncmp(e, "https://", 8))
        return err_set(err, err_len, ERR_INVAL, "HF_ENDPOINT must be an http:// or https:// URL, not '%s'", e);
    size_t n = strlen(e);
    while (n > 8 && e[n - 1] == '/')
        n--;
    if (n >= cap) return err_set(err, err_len, ERR_RANGE, "HF_ENDPOINT is too long");
    memcpy(out, e, n);
    out[n] = '\0';
    return 0;
}

/*
 * Lists the repository's files: the tree API (sizes and SHA-256s, all pages), else the model info API for
 * mirrors that lack it. Returns 0, a network error, or *status_out set to the failing HTTP status with the
 * message already in err (rc is then that error's code).
 */
static int rs_list(const config_env_t *env, const char *endpoint, const hub_ref_t *ref, rs_files_t *out,
                   long *status_out, char *err, size_t err_len) {
    char url[HUB__URL_MAX], what[2 * HUB_NAME_MAX + 2];
    snprintf(what, sizeof what, "%s/%s", ref->owner, ref->repo);
    *status_out = 0;
    hub__resp_t r;
    int rc = 0;
    snprintf(url, sizeof url, "%s/api/models/%s/%s/tree/main?recursive=true", endpoint, ref->owner, ref->repo);
    for (int page = 0; page < RS_MAX_PAGES; page++) {
        rc = hub__http_get(url, env->hf_token, RS_API_MAX_BYTES, &r, err, err_len);
        if (rc) {
            hub__resp_free(&r);
            return rc;
        }
        if (r.hd.status != 200) break;
        rc = rs_parse_tree(r.data, out, err, err_len, what);
        const char *next = r.hd.next_url;
        size_t ne = strlen(endpoint);
        /* Follow the next page only on the same endpoint, so the token goes nowhere else. */
        bool more = !rc && next[0] && !strncmp(next, endpoint, ne) && next[ne] == '/';
        if (more) snprintf(url, sizeof url, "%s", next);
        hub__resp_free(&r);
        if (rc || !more) return rc;
    }
    if (r.hd.status == 200) { /* RS_MAX_PAGES pages and still more */
        hub__resp_free(&r);
        return 0;
    }
    long tree_status = r.hd.status;
    if (tree_status == 401 || tree_status == 403) { /* the info API would say the same */
        *status_out = tree_status;
        rs_files_free(out);
        rc = hub__http_error(&r.hd, what, env->hf_token != NULL, err, err_len);
        hub__resp_free(&r);
        return rc;
    }
    hub__resp_free(&r);
    /* Fall back to the model info API (some mirrors serve only it). */
    rs_files_free(out);
    snprintf(url, sizeof url, "%s/api/models/%s/%s?blobs=true", endpoint, ref->owner, ref->repo);
    rc = hub__http_get(url, env->hf_token, RS_API_MAX_BYTES, &r, err, err_len);
    if (!rc) {
        if (r.hd.status == 200) {
            rc = rs_parse_info(r.data, out, err, err_len, what);
        } else {
            *status_out = r.hd.status;
            rc = hub__http_error(&r.hd, what, env->hf_token != NULL, err, err_len);
        }
    }
    hub__resp_free(&r);
    return rc;
}

void hub_pull_default_opts(hub_pull_opts_t *o) {
    memset(o, 0, sizeof *o);
    o->n_retries = 3;
}

static void rs_note(const hub_pull_opts_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rs_note(const hub_pull_opts_t *o, const char *fmt, ...) {
    if (!o->report.note) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    o->report.note(o->report.ud, msg);
}

/* The repository's .gguf files, comma-separated and truncated to fit buf. */
static void rs_gguf_list(const rs_files_t *f, char *buf, size_t cap) {
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < f->n && len + 1 < cap; i++) {
        size_t n = strlen(f->v[i].path);
        if (n < 5 || strcasecmp(f->v[i].path + n - 5, ".gguf")) continue;
        int w = snprintf(buf + len, cap - len, "%s%s", len ? ", " : "", f->v[i].path);
        if (w < 0) break;
        len = (size_t)w >= cap - len ? cap - 1 : len + (size_t)w;
    }
}

static int rs_copy_out(const char *path, char *out, size_t cap, char *err, size_t err_len) {
    size_t n = strlen(path);
    if (n >= cap) return err_set(err, err_len, ERR_RANGE, "path too long for the caller's buffer: %s", path);
    memcpy(out, path, n + 1);
    return 0;
}

int hub_pull(const config_env_t *env, const char *refstr, const hub_pull_opts_t *opts, char *path_out, size_t cap,
             char *err, size_t err_len) {
    hub_pull_opts_t defaults;
    if (!opts) {
        hub_pull_default_opts(&defaults);
        opts = &defaults;
    }
    hub_ref_t ref;
    char endpoint[HUB__URL_MAX / 2], dest[HUB_PATH_MAX], url[HUB__URL_MAX], escaped[3 * HUB_FILE_MAX + 1];
    char what[2 * HUB_NAME_MAX + HUB_FILE_MAX + 3], sz[32];
    rs_files_t files = {0};
    const char **paths = NULL;
    int rc = hub_ref_parse(refstr, &ref, err, err_len);
    if (!rc) rc = rs_endpoint(env, endpoint, sizeof endpoint, err, err_len);
    if (rc) return rc;

    long status = 0;
    rc = rs_list(env, endpoint, &ref, &files, &status, err, err_len);
    const char *file = NULL;
    int64_t size = -1;
    const char *sha = NULL;
    if (rc) {
        /* A named file can still be fetched from a server that lists nothing (a plain mirror); anything else
         * (network, auth, an unknown repository for the :QUANT form) stops here. */
        if (!ref.file[0] || status == 0 || status == 401 || status == 403) goto cleanup;
        rc = 0;
        file = ref.file;
    } else if (ref.file[0]) {
        for (size_t i = 0; i < files.n && !file; i++)
            if (!strcmp(files.v[i].path, ref.file)) {
                file = files.v[i].path;
                size = files.v[i].size_bytes;
                sha = files.v[i].sha256[0] ? files.v[i].sha256 : NULL;
            }
        if (!file) {
            char list[400];
            rs_gguf_list(&files, list, sizeof list);
            rc = err_set(err, err_len, ERR_NOTFOUND, "%s/%s has no file '%s'; its .gguf files: %s", ref.owner, ref.repo,
                         ref.file, list[0] ? list : "none");
            goto cleanup;
        }
    } else {
        paths = calloc(files.n ? files.n : 1, sizeof *paths);
        if (!paths) {
            rc = err_set(err, err_len, ERR_NOMEM, "out of memory");
            goto cleanup;
        }
        for (size_t i = 0; i < files.n; i++)
            paths[i] = files.v[i].path;
        size_t idx;
        char detail[512];
        rc = hub_pick_file(paths, files.n, ref.quant, &idx, detail, sizeof detail);
        if (rc) {
            err_set(err, err_len, rc, "%s/%s: %s", ref.owner, ref.repo, detail);
            goto cleanup;
        }
        file = files.v[idx].path;
        size = files.v[idx].size_bytes;
        sha = files.v[idx].sha256[0] ? files.v[idx].sha256 : NULL;
    }

    snprintf(what, sizeof what, "%s/%s/%s", ref.owner, ref.repo, file);
    rc = hub_cache_path(env, ref.owner, ref.repo, file, dest, sizeof dest, err, err_len);
    if (rc) goto cleanup;
    struct stat st;
    if (!stat(dest, &st) && S_ISREG(st.st_mode) && (size < 0 || (int64_t)st.st_size == size)) {
        rs_note(opts, "%s is up to date (%s)", what, hub_format_size((int64_t)st.st_size, sz, sizeof sz));
        rc = rs_copy_out(dest, path_out, cap, err, err_len);
        goto cleanup;
    }
    if (hub_url_escape_path(file, escaped, sizeof escaped)) {
        rc = err_set(err, err_len, ERR_RANGE, "file path too long: %s", file);
        goto cleanup;
    }
    int w = snprintf(url, sizeof url, "%s/%s/%s/resolve/main/%s", endpoint, ref.owner, ref.repo, escaped);
    if (w < 0 || (size_t)w >= sizeof url) {
        rc = err_set(err, err_len, ERR_RANGE, "URL too long for %s", what);
        goto cleanup;
    }
    rs_note(opts, "pulling %s (%s)", what, hub_format_size(size, sz, sizeof sz));
    hub_download_opts_t d;
    hub_download_default_opts(&d);
    d.token = env->hf_token;
    d.sha256 = sha;
    d.size_bytes = size;
    d.n_retries = opts->n_retries;
    d.what = what;
    d.report = opts->report;
    rc = hub_download(url, dest, &d, err, err_len);
    if (!rc) rc = rs_copy_out(dest, path_out, cap, err, err_len);
cleanup:
    free(paths);
    rs_files_free(&files);
    return rc;
}

/*
 * Whether a model argument reads as a local path rather than a hub reference: absolute or dot/tilde paths, a
 * bare name, "dir/model.gguf" (two components ending in .gguf), or a path whose first component is a local
 * directory (a mistyped "models/sub/x.gguf" should say "no such file", not ask the hub).
 */
static bool rs_looks_local(const char *s) {
    if (s[0] == '/' || s[0] == '.' || s[0] == '~') return true;
    const char *slash = strchr(s, '/');
    if (!slash) return true;
    size_t n = strlen(s);
    bool gguf = n >= 5 && !strcasecmp(s + n - 5, ".gguf");
    if (gguf && !strchr(slash + 1, '/')) return true;
    char first[HUB_PATH_MAX];
    size_t len = (size_t)(slash - s);
    if (len >= sizeof first) return false;
    memcpy(first, s, len);
    first[len] = '\0';
    struct stat st;
    return !stat(first, &st) && S_ISDIR(st.st_mode);
}

/*
 * The cached file a reference stands for, without the network: 0 with path_out set, ERR_NOTFOUND when the cache
 * has no such file (or cannot be read), ERR_RANGE (message in err) when the path does not fit path_out.
 */
static int rs_cached(const config_env_t *env, const hub_ref_t *ref, char *path_out, size_t cap, char *err,
                     size_t err_len) {
    char dest[HUB_PATH_MAX], msg[256];
    struct stat st;
    if (ref->file[0]) {
        if (hub_cache_path(env, ref->owner, ref->repo, ref->file, dest, sizeof dest, msg, sizeof msg))
            return ERR_NOTFOUND;
        if (stat(dest, &st) || !S_ISREG(st.st_mode)) return ERR_NOTFOUND;
        return rs_copy_out(dest, path_out, cap, err, err_len);
    }
    hub_cached_t *items = NULL;
    size_t n = 0;
    if (hub_cache_list(env, &items, &n, msg, sizeof msg)) return ERR_NOTFOUND;
    char prefix[2 * HUB_NAME_MAX + 3];
    snprintf(prefix, sizeof prefix, "%s/%s/", ref->owner, ref->repo);
    size_t np = strlen(prefix);
    const char **rel = calloc(n ? n : 1, sizeof *rel);
    size_t *which = calloc(n ? n : 1, sizeof *which);
    size_t m = 0;
    int rc = ERR_NOTFOUND;
    if (rel && which) {
        for (size_t i = 0; i < n; i++)
            if (!items[i].partial && !strncmp(items[i].ref, prefix, np)) {
                rel[m] = items[i].ref + np;
                which[m++] = i;
            }
        size_t idx;
        if (m && !hub_pick_file(rel, m, ref->quant, &idx, msg, sizeof msg))
            rc = rs_copy_out(items[which[idx]].path, path_out, cap, err, err_len);
    }
    free(rel);
    free(which);
    hub_cache_list_free(items, n);
    return rc;
}

int hub_resolve_model(const config_env_t *env, const char *ref, char *path_out, size_t cap, char *err, size_t err_len) {
    if (!ref || !ref[0]) return err_set(err, err_len, ERR_INVAL, "no model given");
    struct stat st;
    if (!stat(ref, &st)) {
        if (!S_ISREG(st.st_mode)) return err_set(err, err_len, ERR_INVAL, "%s is not a regular file", ref);
        return rs_copy_out(ref, path_out, cap, err, err_len);
    }
    if (rs_looks_local(ref)) return err_set(err, err_len, ERR_NOTFOUND, "%s: no such file", ref);
    hub_ref_t r;
    int rc = hub_ref_parse(ref, &r, err, err_len);
    if (rc) return rc;
    rc = rs_cached(env, &r, path_out, cap, err, err_len);
    if (rc != ERR_NOTFOUND) return rc;
    hub_pull_opts_t o;
    hub_progress_state_t st_progress;
    hub_pull_default_opts(&o);
    hub_reporter_stderr(&o.report, &st_progress);
    return hub_pull(env, ref, &o, path_out, cap, err, err_len);
}
