/*
 * env.c — config_env_load(): the project's only getenv() calls (see env.h).
 */
#include "env.h"

#include <stdlib.h>

/* getenv() with "" treated as unset. */
static const char *env_get(const char *name) {
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

void config_env_load(config_env_t *out) {
    out->hf_endpoint = env_get("HF_ENDPOINT");
    if (!out->hf_endpoint) out->hf_endpoint = CONFIG_HF_ENDPOINT_DEFAULT;
    out->hf_token = env_get("HF_TOKEN");
    out->xdg_cache_home = env_get("XDG_CACHE_HOME");
    out->home = env_get("HOME");
}
