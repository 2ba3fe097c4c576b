/*
 * config_json.c — the configuration file (JSON, parsed with cJSON) and --print-config (see config.h).
 *
 * The file is one object: server-wide keys at the top level, and "models", an array of objects with the
 * per-model keys. Keys starting with '_' are ignored anywhere (notes: "_comment"); any other unknown key, a
 * key given twice, a wrong type or a value out of range is an error naming the key's path, e.g.
 * "cinder.json: models[1].ctx_size: expected an integer from 0 to 16777216, got 1.5". Main thread only.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "err.h"

int cfg__read_file(const char *path, char **out, size_t *len, char *err, size_t err_len) {
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(err, err_len, ERR_IO, "cannot open configuration file '%.200s': %s", path, strerror(errno));
    char *buf = malloc((size_t)CONFIG_MAX_FILE_BYTES + 1);
    if (!buf) {
        fclose(f);
        return err_set(err, err_len, ERR_NOMEM, "out of memory");
    }
    size_t n = fread(buf, 1, (size_t)CONFIG_MAX_FILE_BYTES + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n > CONFIG_MAX_FILE_BYTES) {
        free(buf);
        return err_set(err, err_len, ERR_IO, "cannot read configuration file '%.200s' (%s)", path,
                       bad ? "read error" : "larger than 1 MiB");
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

/* ---- values ----------------------------------------------------------------------------------------------- */

/* A short description of a JSON value for error messages: its text, or its kind for containers. */
static void cfgj__describe(const cJSON *v, char *out, size_t cap) {
    if (cJSON_IsArray(v)) {
        snprintf(out, cap, "an array");
    } else if (cJSON_IsObject(v)) {
        snprintf(out, cap, "an object");
    } else {
        char *s = cJSON_PrintUnformatted(v);
        snprintf(out, cap, "%.60s%s", s ? s : "?", s && strlen(s) > 60 ? "..." : "");
        free(s);
    }
}

static int cfgj__type_error(const char *where, const char *expected, const cJSON *v, char *err, size_t err_len) {
    char got[80];
    cfgj__describe(v, got, sizeof got);
    return err_set(err, err_len, ERR_INVAL, "%s: expected %s, got %s", where, expected, got);
}

/* Sets setting o (field f) from JSON value v found at `where` ("file: models[0].port"). */
static int cfgj__set(const cfg_opt_t *o, void *f, const cJSON *v, const char *where, char *err, size_t err_len) {
    switch (o->type) {
    case CFG_OPTSTR:
        if (cJSON_IsNull(v)) return cfg__set_string(f, NULL);
        /* fall through */
    case CFG_STR:
        if (!cJSON_IsString(v) || !*v->valuestring)
            return cfgj__type_error(where, o->type == CFG_OPTSTR ? "a non-empty string or null" : "a non-empty string",
                                    v, err, err_len);
        return cfg__set_string(f, v->valuestring) ? err_set(err, err_len, ERR_NOMEM, "out of memory") : 0;
    case CFG_INT: {
        char expect[96];
        snprintf(expect, sizeof expect, "an integer from %lld to %lld", (long long)o->lo, (long long)o->hi);
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble != floor(v->valuedouble) ||
            v->valuedouble < (double)o->lo || v->valuedouble > (double)o->hi)
            return cfgj__type_error(where, expect, v, err, err_len);
        if (o->wide)
            *(int64_t *)f = (int64_t)v->valuedouble;
        else
            *(int32_t *)f = (int32_t)v->valuedouble;
        return 0;
    }
    case CFG_BOOL:
        if (!cJSON_IsBool(v)) return cfgj__type_error(where, "true or false", v, err, err_len);
        *(bool *)f = cJSON_IsTrue(v);
        return 0;
    case CFG_LEVEL:
        if (!cJSON_IsString(v) || log_level_parse(v->valuestring, f))
            return cfgj__type_error(where, "\"debug\", \"info\", \"warn\" or \"error\"", v, err, err_len);
        return 0;
    case CFG_FORMAT:
        if (!cJSON_IsString(v) || log_format_parse(v->valuestring, f))
            return cfgj__type_error(where, "\"logfmt\" or \"json\"", v, err, err_len);
        return 0;
    case CFG_LIST: {
        char ***list = f;
        size_t *n = (size_t *)((char *)f + sizeof(char **));
        if (!cJSON_IsArray(v)) return cfgj__type_error(where, "an array of strings", v, err, err_len);
        cfg__list_clear(list, n);
        int i = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, v) {
            char at[256];
            snprintf(at, sizeof at, "%.200s[%d]", where, i++);
            if (!cJSON_IsString(it) || !*it->valuestring)
                return cfgj__type_error(at, "a non-empty string", it, err, err_len);
            int rc = cfg__list_add(list, n, it->valuestring);
            if (rc == ERR_LIMIT) return err_set(err, err_len, rc, "%s: at most %d entries", where, CONFIG_MAX_LIST);
            if (rc) return err_set(err, err_len, rc, "out of memory");
        }
        return 0;
    }
    case CFG_ACTION: break;
    }
    return err_set(err, err_len, ERR_INVAL, "%s: cannot be set in a file", where);
}

/* ---- api_keys: strings, or objects with quotas --------------------------------------------------------------- */

/* "api_keys": an array whose entries are a key, or {"key": "...", "rpm": N, "tpm": N} (quotas per minute, 0 =
   none). Replaces c's keys and quotas. */
static int cfgj__api_keys(config_t *c, const cJSON *v, const char *where, char *err, size_t err_len) {
    if (!cJSON_IsArray(v)) return cfgj__type_error(where, "an array of keys (strings or objects)", v, err, err_len);
    cfg__list_clear(&c->api_keys, &c->n_api_keys);
    cfg__key_limits_clear(c);
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, v) {
        char at[256];
        snprintf(at, sizeof at, "%.200s[%d]", where, i++);
        const char *key = cJSON_IsString(it) ? it->valuestring : NULL;
        int64_t lim[2] = {0, 0}; /* rpm, tpm */
        if (cJSON_IsObject(it)) {
            for (const cJSON *m = it->child; m; m = m->next) {
                char mat[320];
                snprintf(mat, sizeof mat, "%s.%.40s", at, m->string ? m->string : "");
                const char *name = m->string ? m->string : "";
                if (name[0] == '_') continue;
                if (!strcmp(name, "key")) {
                    if (!cJSON_IsString(m) || !*m->valuestring)
                        return cfgj__type_error(mat, "a non-empty string", m, err, err_len);
                    key = m->valuestring;
                } else if (!strcmp(name, "rpm") || !strcmp(name, "tpm")) {
                    if (!cJSON_IsNumber(m) || m->valuedouble != floor(m->valuedouble) || m->valuedouble < 0 ||
                        m->valuedouble > 1e12)
                        return cfgj__type_error(mat, "an integer from 0 to 1000000000000", m, err, err_len);
                    lim[name[0] == 't'] = (int64_t)m->valuedouble;
                } else {
                    return err_set(err, err_len, ERR_INVAL, "%s: unknown key (expected key, rpm, tpm)", mat);
                }
            }
            if (!key) return err_set(err, err_len, ERR_INVAL, "%s.key: required", at);
        } else if (!key || !*key) {
            return cfgj__type_error(at, "a non-empty string or an object {\"key\", \"rpm\", \"tpm\"}", it, err,
                                    err_len);
        }
        int rc = cfg__list_add(&c->api_keys, &c->n_api_keys, key);
        if (rc == ERR_LIMIT) return err_set(err, err_len, rc, "%s: at most %d entries", where, CONFIG_MAX_LIST);
        if (rc) return err_set(err, err_len, rc, "out of memory");
        if (lim[0] || lim[1]) {
            config_key_limit_t *l = realloc(c->key_limits, (c->n_key_limits + 1) * sizeof *l);
            if (!l) return err_set(err, err_len, ERR_NOMEM, "out of memory");
            c->key_limits = l;
            l[c->n_key_limits] = (config_key_limit_t){.key = strdup(key), .rpm = lim[0], .tpm = lim[1]};
            if (!l[c->n_key_limits].key) return err_set(err, err_len, ERR_NOMEM, "out of memory");
            c->n_key_limits++;
        }
    }
    return 0;
}

/* ---- objects ---------------------------------------------------------------------------------------------- */

/* Applies the members of obj (the top level, or one models[] entry) to c / m. `at` is the object's path prefix
   ("file: " or "file: models[1]."). */
static int cfgj__object(config_t *c, config_model_t *m, const cJSON *obj, cfg_scope_t scope, const char *at, char *err,
                        size_t err_len) {
    for (const cJSON *it = obj->child; it; it = it->next) {
        const char *k = it->string ? it->string : "";
        char where[192];
        snprintf(where, sizeof where, "%s%.100s", at, k);
        for (const cJSON *prev = obj->child; prev != it; prev = prev->next)
            if (prev->string && !strcmp(prev->string, k))
                return err_set(err, err_len, ERR_INVAL, "%s: given twice", where);
        if (k[0] == '_') continue; /* notes */
        if (scope == CFG_GLOBAL && !strcmp(k, "models")) continue;
        if (scope == CFG_GLOBAL && !strcmp(k, "api_keys")) {
            int rc = cfgj__api_keys(c, it, where, err, err_len);
            if (rc) return rc;
            continue;
        }
        const cfg_opt_t *o = cfg__by_key(k, scope);
        if (!o) {
            const char *other = cfg__by_key(k, scope == CFG_GLOBAL ? CFG_MODEL : CFG_GLOBAL) ? k : NULL;
            const char *near = cfg__suggest(k, scope);
            if (other && scope == CFG_GLOBAL)
                return err_set(err, err_len, ERR_INVAL, "%s: a per-model setting: put it in each entry of \"models\"",
                               where);
            if (other)
                return err_set(err, err_len, ERR_INVAL, "%s: a server-wide setting: put it at the top level", where);
            return err_set(err, err_len, ERR_INVAL, "%s: unknown key%s%s%s", where, near ? " (did you mean '" : "",
                           near ? near : "", near ? "'?)" : "");
        }
        int rc = cfgj__set(o, cfg__field(o, c, m), it, where, err, err_len);
        if (rc) return rc;
    }
    return 0;
}

static int cfgj__models(config_t *c, const cJSON *arr, const char *name, char *err, size_t err_len) {
    char where[160];
    snprintf(where, sizeof where, "%.100s: models", name);
    if (!cJSON_IsArray(arr)) return cfgj__type_error(where, "an array of objects", arr, err, err_len);
    int n = cJSON_GetArraySize(arr);
    if (n > CONFIG_MAX_MODELS)
        return err_set(err, err_len, ERR_LIMIT, "%s: at most %d models, got %d", where, CONFIG_MAX_MODELS, n);
    config_model_t *ms = n ? calloc((size_t)n, sizeof *ms) : NULL;
    if (n && !ms) return err_set(err, err_len, ERR_NOMEM, "out of memory");
    int rc = 0, i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        char at[160];
        snprintf(at, sizeof at, "%.100s: models[%d]", name, i);
        cfg__model_defaults(&ms[i]);
        i++;
        if (!cJSON_IsObject(it)) {
            rc = cfgj__type_error(at, "an object", it, err, err_len);
            break;
        }
        strcat(at, ".");
        if ((rc = cfgj__object(c, &ms[i - 1], it, CFG_MODEL, at, err, err_len))) break;
        if (!ms[i - 1].model) {
            rc = err_set(err, err_len, ERR_INVAL,
                         "%.100s: models[%d].model: required (a GGUF file or a Hugging Face "
                         "reference)",
                         name, i - 1);
            break;
        }
    }
    if (rc) {
        for (int j = 0; j < i; j++) {
            free(ms[j].model);
            free(ms[j].alias);
            free(ms[j].chat_template);
        }
        free(ms);
        return rc;
    }
    for (size_t j = 0; j < c->n_models; j++) {
        free(c->models[j].model);
        free(c->models[j].alias);
        free(c->models[j].chat_template);
    }
    free(c->models);
    c->models = ms;
    c->n_models = (size_t)n;
    return 0;
}

int cfg__apply_json(config_t *c, const char *text, size_t len, const char *name, char *err, size_t err_len) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
    const char *stop = root ? end : (end ? end : cJSON_GetErrorPtr());
    if (root && stop) { /* only whitespace may follow the value */
        while (stop < text + len && (*stop == ' ' || *stop == '\t' || *stop == '\n' || *stop == '\r'))
            stop++;
        if (stop < text + len) {
            cJSON_Delete(root);
            root = NULL;
        }
    }
    if (!root) {
        int line = 1, col = 1;
        for (const char *p = text; stop && p < stop && p < text + len; p++) {
            if (*p == '\n')
                line++, col = 1;
            else
                col++;
        }
        return err_set(err, err_len, ERR_FORMAT, "%.200s:%d:%d: not valid JSON", name, line, col);
    }
    int rc;
    if (!cJSON_IsObject(root)) {
        rc = err_set(err, err_len, ERR_INVAL, "%.200s: expected a JSON object at the top level", name);
    } else {
        char at[224];
        snprintf(at, sizeof at, "%.200s: ", name);
        rc = cfgj__object(c, NULL, root, CFG_GLOBAL, at, err, err_len);
        const cJSON *models = cJSON_GetObjectItemCaseSensitive(root, "models");
        if (!rc && models) rc = cfgj__models(c, models, name, err, err_len);
    }
    cJSON_Delete(root);
    return rc;
}

/* ---- --print-config --------------------------------------------------------------------------------------- */

static cJSON *cfgj__value(const cfg_opt_t *o, const void *f, bool redact) {
    switch (o->type) {
    case CFG_STR:
    case CFG_OPTSTR: {
        const char *s = *(char *const *)f;
        return s ? cJSON_CreateString(redact ? "<redacted>" : s) : cJSON_CreateNull();
    }
    case CFG_INT: return cJSON_CreateNumber(o->wide ? (double)*(const int64_t *)f : (double)*(const int32_t *)f);
    case CFG_BOOL: return cJSON_CreateBool(*(const bool *)f);
    case CFG_LEVEL: return cJSON_CreateString(log_level_name(*(const log_level_t *)f));
    case CFG_FORMAT: return cJSON_CreateString(*(const log_format_t *)f == LOG_FORMAT_JSON ? "json" : "logfmt");
    case CFG_LIST: {
        char *const *list = *(char **const *)f;
        size_t n = *(const size_t *)((const char *)f + sizeof(char **));
        cJSON *a = cJSON_CreateArray();
        for (size_t i = 0; a && i < n; i++) {
            cJSON *s = cJSON_CreateString(redact ? "<redacted>" : list[i]);
            if (!s || !cJSON_AddItemToArray(a, s)) {
                cJSON_Delete(s);
                cJSON_Delete(a);
                return NULL;
            }
        }
        return a;
    }
    case CFG_ACTION: break;
    }
    return NULL;
}

char *config_to_json(const config_t *c) {
    cJSON *root = cJSON_CreateObject(), *models = cJSON_CreateArray();
    bool ok = root && models;
    for (size_t i = 0; ok && i < cfg__n_opts; i++) {
        const cfg_opt_t *o = &cfg__opts[i];
        if (!o->key || o->scope != CFG_GLOBAL) continue;
        cJSON *v = cfgj__value(o, cfg__field(o, (config_t *)c, NULL),
                               !strcmp(o->key, "api_keys") || !strcmp(o->key, "metrics_api_key"));
        if (v && !strcmp(o->key, "api_keys")) /* keys with quotas print as objects, redacted too */
            for (size_t k = 0; k < c->n_api_keys; k++)
                for (size_t j = 0; j < c->n_key_limits; j++) {
                    if (strcmp(c->api_keys[k], c->key_limits[j].key)) continue;
                    cJSON *o2 = cJSON_CreateObject();
                    if (o2) {
                        cJSON_AddStringToObject(o2, "key", "<redacted>");
                        cJSON_AddNumberToObject(o2, "rpm", (double)c->key_limits[j].rpm);
                        cJSON_AddNumberToObject(o2, "tpm", (double)c->key_limits[j].tpm);
                        cJSON_ReplaceItemInArray(v, (int)k, o2);
                    }
                    break;
                }
        ok = v && cJSON_AddItemToObject(root, o->key, v);
        if (!ok) cJSON_Delete(v);
    }
    for (size_t m = 0; ok && m < c->n_models; m++) {
        cJSON *obj = cJSON_CreateObject();
        ok = obj && cJSON_AddItemToArray(models, obj);
        if (!ok) cJSON_Delete(obj);
        for (size_t i = 0; ok && i < cfg__n_opts; i++) {
            const cfg_opt_t *o = &cfg__opts[i];
            if (!o->key || o->scope != CFG_MODEL) continue;
            cJSON *v = cfgj__value(o, cfg__field(o, (config_t *)c, &c->models[m]), false);
            ok = v && cJSON_AddItemToObject(obj, o->key, v);
            if (!ok) cJSON_Delete(v);
        }
    }
    if (ok) {
        ok = cJSON_AddItemToObject(root, "models", models);
        if (ok) models = NULL;
    }
    char *out = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(models);
    cJSON_Delete(root);
    return out;
}
