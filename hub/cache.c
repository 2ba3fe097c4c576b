/*
 * cache.c — where models live on disk (see hub.h): the cache root from the environment, the path of a repository
 * file, and a listing of what is there. The cache holds plain files, `models/<owner>/<repo>/<path>`, so users can
 * inspect, copy or delete them with ordinary tools; nothing else (no index) has to be kept in step.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "err.h"
#include "hub.h"

#define CACHE_MAX_DEPTH 8 /* directory levels under a repository walked by the listing */

int hub_cache_root(const config_env_t *env, char *out, size_t cap, char *err, size_t err_len) {
    int w;
    if (env->xdg_cache_home && env->xdg_cache_home[0] == '/')
        w = snprintf(out, cap, "%s/cinder", env->xdg_cache_home);
    else if (env->home && env->home[0])
        w = snprintf(out, cap, "%s/.cache/cinder", env->home);
    else
        return err_set(err, err_len, ERR_NOTFOUND, "no cache directory: set XDG_CACHE_HOME or HOME");
    if (w < 0 || (size_t)w >= cap) return err_set(err, err_len, ERR_RANGE, "the cache directory path is too long");
    return 0;
}

int hub_cache_path(const config_env_t *env, const char *owner, const char *repo, const char *path, char *out,
                   size_t cap, char *err, size_t err_len) {
    char root[HUB_PATH_MAX];
    int rc = hub_cache_root(env, root, sizeof root, err, err_len);
    if (rc) return rc;
    int w = snprintf(out, cap, "%s/models/%s/%s/%s", root, owner, repo, path);
    if (w < 0 || (size_t)w >= cap)
        return err_set(err, err_len, ERR_RANGE, "the cache path of %s/%s/%s is too long", owner, repo, path);
    return 0;
}

/* A growing array of entries. */
typedef struct {
    hub_cached_t *items;
    size_t n, cap;
} cache_vec_t;

static int cache_push(cache_vec_t *v, const char *ref, const char *path, int64_t size, bool partial) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        hub_cached_t *p = realloc(v->items, cap * sizeof *p);
        if (!p) return ERR_NOMEM;
        v->items = p;
        v->cap = cap;
    }
    hub_cached_t *e = &v->items[v->n];
    e->ref = strdup(ref);
    e->path = strdup(path);
    if (!e->ref || !e->path) {
        free(e->ref);
        free(e->path);
        return ERR_NOMEM;
    }
    e->size_bytes = size;
    e->partial = partial;
    v->n++;
    return 0;
}

static bool cache_ends_with_ci(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcasecmp(s + n - m, suffix);
}

/*
 * Walks dir (whose ref prefix is ref, "owner/repo[/sub]") collecting .gguf and .gguf.part files. depth counts
 * directory levels: 0 = the models/ folder, 1 = an owner, 2 = a repository and below.
 */
static int cache_walk(cache_vec_t *v, const char *dir, const char *ref, int depth, char *err, size_t err_len) {
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return 0;
        return err_set(err, err_len, ERR_IO, "cannot read %s: %s", dir, strerror(errno));
    }
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue; /* ".", "..", hidden files */
        char path[HUB_PATH_MAX], sub[HUB_PATH_MAX];
        int w1 = snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        int w2 = snprintf(sub, sizeof sub, "%s%s%s", ref, ref[0] ? "/" : "", de->d_name);
        if (w1 < 0 || (size_t)w1 >= sizeof path || w2 < 0 || (size_t)w2 >= sizeof sub) continue;
        struct stat st;
        if (lstat(path, &st)) continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth < 2 + CACHE_MAX_DEPTH) rc = cache_walk(v, path, sub, depth + 1, err, err_len);
        } else if (S_ISREG(st.st_mode) && depth >= 2) {
            bool part = cache_ends_with_ci(de->d_name, ".gguf.part");
            if (part) sub[strlen(sub) - 5] = '\0'; /* the ref of a partial file is the file it will become */
            if (part || cache_ends_with_ci(de->d_name, ".gguf")) {
                rc = cache_push(v, sub, path, (int64_t)st.st_size, part);
                if (rc) err_set(err, err_len, rc, "out of memory listing the cache");
            }
        }
        if (rc) break;
    }
    closedir(d);
    return rc;
}

static int cache_cmp(const void *a, const void *b) {
    const hub_cached_t *x = a, *y = b;
    int c = strcmp(x->ref, y->ref);
    return c ? c : (int)x->partial - (int)y->partial;
}

int hub_cache_list(const config_env_t *env, hub_cached_t **items, size_t *n, char *err, size_t err_len) {
    *items = NULL;
    *n = 0;
    char root[HUB_PATH_MAX], models[HUB_PATH_MAX];
    int rc = hub_cache_root(env, root, sizeof root, err, err_len);
    if (rc) return rc;
    int w = snprintf(models, sizeof models, "%s/models", root);
    if (w < 0 || (size_t)w >= sizeof models) return err_set(err, err_len, ERR_RANGE, "cache path too long");
    cache_vec_t v = {0};
    rc = cache_walk(&v, models, "", 0, err, err_len);
    if (rc) {
        hub_cache_list_free(v.items, v.n);
        return rc;
    }
    if (v.n) qsort(v.items, v.n, sizeof *v.items, cache_cmp);
    *items = v.items;
    *n = v.n;
    return 0;
}

void hub_cache_list_free(hub_cached_t *items, size_t n) {
    if (!items) return;
    for (size_t i = 0; i < n; i++) {
        free(items[i].ref);
        free(items[i].path);
    }
    free(items);
}
