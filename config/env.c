/*
 * env.c — the project's only reads of the environment (see env.h).
 */
#include "env.h"

#include <stdlib.h>
#include <string.h>

const char *config_getenv(const char *const *envp, const char *name) {
    const char *v = NULL;
    if (!envp) {
        v = getenv(name);
    } else {
        size_t n = strlen(name);
        for (const char *const *e = envp; *e && !v; e++)
            if (!strncmp(*e, name, n) && (*e)[n] == '=') v = *e + n + 1; /* the first one, as getenv() */
    }
    return v && v[0] ? v : NULL;
}

void config_env_load_from(const char *const *envp, config_env_t *out) {
    out->hf_endpoint = config_getenv(envp, "HF_ENDPOINT");
    if (!out->hf_endpoint) out->hf_endpoint = CONFIG_HF_ENDPOINT_DEFAULT;
    out->hf_token = config_getenv(envp, "HF_TOKEN");
    out->xdg_cache_home = config_getenv(envp, "XDG_CACHE_HOME");
    out->xdg_data_home = config_getenv(envp, "XDG_DATA_HOME");
    out->home = config_getenv(envp, "HOME");
    out->source_date_epoch = config_getenv(envp, "SOURCE_DATE_EPOCH");
}

void config_env_load(config_env_t *out) { config_env_load_from(NULL, out); }
