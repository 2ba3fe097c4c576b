/*
 * ref.c — model references, repository paths and quantization matching (see hub.h). Pure string work: no I/O,
 * no allocation, safe from any thread.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "hub.h"

#define REF_LIST_MAX 6 /* candidates named in an error message */

static bool ref_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

static bool ref_ends_with_ci(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcasecmp(s + n - m, suffix);
}

/*
 * An owner or repository name by the hub's rules: 1..96 of [A-Za-z0-9._-], no "--" or "..", no leading or
 * trailing '-' or '.'. Returns NULL when fine, else the reason.
 */
static const char *ref_name_problem(const char *s, size_t n) {
    if (n == 0) return "is empty";
    if (n > HUB_NAME_MAX) return "is longer than 96 characters";
    for (size_t i = 0; i < n; i++)
        if (!ref_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return "may only hold letters, digits, '-', '_' and '.'";
    if (s[0] == '-' || s[0] == '.' || s[n - 1] == '-' || s[n - 1] == '.') return "may not start or end with '-' or '.'";
    for (size_t i = 0; i + 1 < n; i++)
        if ((s[i] == '-' && s[i + 1] == '-') || (s[i] == '.' && s[i + 1] == '.')) return "may not contain '--' or '..'";
    return NULL;
}

bool hub_path_ok(const char *path) {
    size_t n = strlen(path);
    if (n == 0 || n > HUB_FILE_MAX || path[0] == '/') return false;
    const char *comp = path;
    for (size_t i = 0; i <= n; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c == '/' || c == '\0') {
            size_t len = (size_t)(path + i - comp);
            if (len == 0) return false;                                     /* "a//b" or a trailing '/' */
            if (len == 1 && comp[0] == '.') return false;                   /* "." */
            if (len == 2 && comp[0] == '.' && comp[1] == '.') return false; /* ".." */
            comp = path + i + 1;
        } else if (c < 0x20 || c == 0x7f || c == '\\') {
            return false;
        }
    }
    return true;
}

int hub_ref_parse(const char *s, hub_ref_t *out, char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    if (!s || !s[0]) return err_set(err, err_len, ERR_INVAL, "empty model reference");
    const char *orig = s;
    if (!strncmp(s, "hf.co/", 6))
        s += 6;
    else if (!strncmp(s, "huggingface.co/", 15))
        s += 15;
    const char *slash1 = strchr(s, '/');
    if (!slash1)
        return err_set(err, err_len, ERR_INVAL,
                       "'%s' is not a model reference: expected OWNER/REPO[:QUANT] or "
                       "OWNER/REPO/FILE.gguf",
                       orig);
    const char *owner = s, *repo = slash1 + 1;
    size_t owner_len = (size_t)(slash1 - s);
    const char *slash2 = strchr(repo, '/');
    const char *repo_end = slash2 ? slash2 : repo + strlen(repo);
    const char *colon = memchr(repo, ':', (size_t)(repo_end - repo));
    if (colon && slash2)
        return err_set(err, err_len, ERR_INVAL, "'%s': use either OWNER/REPO:QUANT or OWNER/REPO/FILE.gguf", orig);
    size_t repo_len = (size_t)((colon ? colon : repo_end) - repo);

    const char *why = ref_name_problem(owner, owner_len);
    if (why) return err_set(err, err_len, ERR_INVAL, "'%s': the owner name %s", orig, why);
    why = ref_name_problem(repo, repo_len);
    if (why) return err_set(err, err_len, ERR_INVAL, "'%s': the repository name %s", orig, why);
    memcpy(out->owner, owner, owner_len);
    memcpy(out->repo, repo, repo_len);

    if (colon) {
        const char *q = colon + 1;
        size_t qn = strlen(q);
        if (qn == 0 || qn > HUB_QUANT_MAX)
            return err_set(err, err_len, ERR_INVAL, "'%s': the quantization after ':' must be 1 to %d characters", orig,
                           HUB_QUANT_MAX);
        for (size_t i = 0; i < qn; i++)
            if (!ref_alnum(q[i]) && q[i] != '_' && q[i] != '-' && q[i] != '.')
                return err_set(err, err_len, ERR_INVAL,
                               "'%s': the quantization may only hold letters, digits, '_', '-' and '.'", orig);
        memcpy(out->quant, q, qn);
    } else if (slash2) {
        const char *f = slash2 + 1;
        if (!hub_path_ok(f))
            return err_set(err, err_len, ERR_INVAL,
                           "'%s': the file path must be relative, at most %d bytes, without empty, '.' or '..' "
                           "components, backslashes or control characters",
                           orig, HUB_FILE_MAX);
        if (!ref_ends_with_ci(f, ".gguf"))
            return err_set(err, err_len, ERR_INVAL, "'%s': the file must be a .gguf file", orig);
        memcpy(out->file, f, strlen(f));
    }
    return 0;
}

bool hub_quant_match(const char *path, const char *quant) {
    size_t n = strlen(path), m = strlen(quant);
    if (m == 0 || m > n) return false;
    for (size_t i = 0; i + m <= n; i++) {
        if (strncasecmp(path + i, quant, m)) continue;
        if (i > 0 && ref_alnum(path[i - 1])) continue;
        char after = path[i + m];
        if (after == '\0' || after == '.' || after == '-' || after == '/') return true;
    }
    return false;
}

/* Case-insensitive substring search. */
static bool ref_contains_ci(const char *s, const char *needle) {
    size_t n = strlen(s), m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++)
        if (!strncasecmp(s + i, needle, m)) return true;
    return false;
}

/* The last path component. */
static const char *ref_base(const char *path) {
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

/* A shard of a split model: the name ends in "-NNNNN-of-NNNNN.gguf". */
static bool ref_is_shard(const char *path) {
    const char *b = ref_base(path);
    size_t n = strlen(b);
    const char *tail = "-00000-of-00000.gguf";
    size_t m = strlen(tail);
    if (n < m) return false;
    const char *p = b + n - m;
    for (size_t i = 0; i < m; i++) {
        if (tail[i] == '0') {
            if (!isdigit((unsigned char)p[i])) return false;
        } else if (tolower((unsigned char)p[i]) != tail[i]) {
            return false;
        }
    }
    return true;
}

/* Whether a listed path is a candidate model file at all. */
static bool ref_candidate(const char *path) {
    return ref_ends_with_ci(path, ".gguf") && strncasecmp(ref_base(path), "mmproj", 6) != 0;
}

/* Appends up to REF_LIST_MAX of the chosen paths, comma-separated, to buf. */
static void ref_list(char *buf, size_t cap, const char *const *paths, size_t n, const bool *chosen) {
    size_t len = strlen(buf), shown = 0, total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!chosen[i]) continue;
        total++;
        if (shown == REF_LIST_MAX || len + 1 >= cap) continue;
        int w = snprintf(buf + len, cap - len, "%s%s", shown ? ", " : "", paths[i]);
        if (w < 0) return;
        len = (size_t)w >= cap - len ? cap - 1 : len + (size_t)w;
        shown++;
    }
    if (total > shown && len + 1 < cap) snprintf(buf + len, cap - len, " and %zu more", total - shown);
}

/*
 * Marks the candidates matching quant (bounded when strict, else substring) in hit[], counting single files and
 * shards separately.
 */
static void ref_mark(const char *const *paths, size_t n, const char *quant, bool strict, bool *hit, size_t *n_files,
                     size_t *n_shards, size_t *first) {
    *n_files = *n_shards = 0;
    *first = n;
    for (size_t i = 0; i < n; i++) {
        hit[i] = false;
        if (!ref_candidate(paths[i])) continue;
        if (!(strict ? hub_quant_match(paths[i], quant) : ref_contains_ci(paths[i], quant))) continue;
        if (ref_is_shard(paths[i])) {
            (*n_shards)++;
            continue;
        }
        hit[i] = true;
        if (*n_files == 0) *first = i;
        (*n_files)++;
    }
}

int hub_pick_file(const char *const *paths, size_t n, const char *quant, size_t *idx, char *err, size_t err_len) {
    enum { LIST_CAP = 400 };
    char list[LIST_CAP] = "";
    bool small[64];
    bool *hit = n <= 64 ? small : calloc(n, sizeof *hit);
    if (!hit) return err_set(err, err_len, ERR_NOMEM, "out of memory choosing among %zu files", n);
    int rc = 0;
    size_t n_files, n_shards, first;

    if (quant && quant[0]) {
        for (int strict = 1; strict >= 0; strict--) {
            ref_mark(paths, n, quant, strict, hit, &n_files, &n_shards, &first);
            if (n_files == 1) {
                *idx = first;
                goto cleanup;
            }
            if (n_files > 1) {
                ref_list(list, sizeof list, paths, n, hit);
                rc = err_set(err, err_len, ERR_INVAL, "%zu files match '%s' (%s): name one as OWNER/REPO/FILE.gguf",
                             n_files, quant, list);
                goto cleanup;
            }
            if (n_shards) {
                rc = err_set(err, err_len, ERR_UNSUPPORTED,
                             "'%s' is only available split into several files (-00001-of-N.gguf), which cinder "
                             "cannot load",
                             quant);
                goto cleanup;
            }
        }
    } else {
        static const char *const defaults[] = HUB_DEFAULT_QUANTS;
        for (size_t d = 0; d < sizeof defaults / sizeof defaults[0]; d++) {
            ref_mark(paths, n, defaults[d], true, hit, &n_files, &n_shards, &first);
            if (n_files == 1) {
                *idx = first;
                goto cleanup;
            }
            if (n_files > 1) {
                ref_list(list, sizeof list, paths, n, hit);
                rc = err_set(err, err_len, ERR_INVAL,
                             "%zu files match the default '%s' (%s): name one as OWNER/REPO/FILE.gguf", n_files,
                             defaults[d], list);
                goto cleanup;
            }
        }
        /* No known quantization tag: a repository with one model file needs no choice. */
        n_files = 0;
        for (size_t i = 0; i < n; i++) {
            hit[i] = ref_candidate(paths[i]) && !ref_is_shard(paths[i]);
            if (hit[i] && n_files++ == 0) first = i;
        }
        if (n_files == 1) {
            *idx = first;
            goto cleanup;
        }
        if (n_files > 1) {
            ref_list(list, sizeof list, paths, n, hit);
            rc = err_set(err, err_len, ERR_INVAL,
                         "no file of the default quantizations (Q8_0, Q4_K_M, Q6_K, Q4_0, F16, BF16, F32); choose "
                         "with :QUANT among %s",
                         list);
            goto cleanup;
        }
    }
    /* Nothing matched: name what there is. */
    for (size_t i = 0; i < n; i++)
        hit[i] = ref_candidate(paths[i]);
    ref_list(list, sizeof list, paths, n, hit);
    if (list[0])
        rc = err_set(err, err_len, ERR_NOTFOUND, "no .gguf file matches '%s'; available: %s",
                     quant && quant[0] ? quant : "the default quantizations", list);
    else
        rc = err_set(err, err_len, ERR_NOTFOUND, "the repository has no .gguf file");
cleanup:
    if (hit != small) free(hit);
    return rc;
}

int hub_url_escape_path(const char *path, char *out, size_t cap) {
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        bool keep = ref_alnum((char)*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~' || *p == '/';
        size_t need = keep ? 1 : 3;
        if (o + need >= cap) return ERR_RANGE;
        if (keep) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    if (o >= cap) return ERR_RANGE;
    out[o] = '\0';
    return 0;
}
