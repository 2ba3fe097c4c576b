/*
 * env.h — the environment variables cinder reads, read in one place.
 *
 * Owns: the only getenv() calls in the project (STYLE.md: "No other module calls getenv"). Today that is the
 * handful of variables the Hugging Face client needs; the full config_t (defaults < file < environment < flags)
 * will fold this struct in.
 *
 * Does not: validate URLs or paths (hub/ does that where they are used), or copy the strings.
 *
 * Threads: call config_env_load() once, early in main() or a subcommand, before threads start; the filled struct
 * is read-only afterwards and may be shared by any thread. The strings are borrowed from the process environment
 * and stay valid as long as nobody calls setenv/putenv/unsetenv (cinder never does).
 */
#ifndef CINDER_CONFIG_ENV_H
#define CINDER_CONFIG_ENV_H

#define CONFIG_HF_ENDPOINT_DEFAULT "https://huggingface.co"

typedef struct {
    const char *hf_endpoint;    /* HF_ENDPOINT, else CONFIG_HF_ENDPOINT_DEFAULT; never NULL after load */
    const char *hf_token;       /* HF_TOKEN, sent as "Authorization: Bearer"; NULL when unset or empty */
    const char *xdg_cache_home; /* XDG_CACHE_HOME; NULL when unset or empty */
    const char *home;           /* HOME; NULL when unset or empty */
} config_env_t;

/*
 * Fills *out from the process environment. Empty variables count as unset (so `HF_TOKEN= cinder pull ...`
 * sends no token). Cannot fail; the strings are borrowed (see the header comment).
 */
void config_env_load(config_env_t *out);

#endif
