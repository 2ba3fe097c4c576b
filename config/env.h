/*
 * env.h — the environment variables cinder reads outside its `CINDER_*` settings, read in one place.
 *
 * Owns: config/'s view of the process environment. config/ is the only code that reads the environment
 * (STYLE.md: "No other module calls getenv"): the `CINDER_*` settings go through config.h's config_load(); the
 * variables below (the Hugging Face client's, the cache location, and SOURCE_DATE_EPOCH for reproducible
 * template rendering) through config_env_load(), and config_t carries the same struct.
 *
 * Does not: validate URLs, paths or numbers (hub/ and the commands do that where they are used), or copy the
 * strings.
 *
 * Threads: call config_env_load() once, early in main() or a subcommand, before threads start; the filled struct
 * is read-only afterwards and may be shared by any thread. The strings are borrowed from the process environment
 * (or the envp array given) and stay valid as long as nobody calls setenv/putenv/unsetenv (cinder never does).
 */
#ifndef CINDER_CONFIG_ENV_H
#define CINDER_CONFIG_ENV_H

#define CONFIG_HF_ENDPOINT_DEFAULT "https://huggingface.co"

typedef struct {
    const char *hf_endpoint;       /* HF_ENDPOINT, else CONFIG_HF_ENDPOINT_DEFAULT; never NULL after load */
    const char *hf_token;          /* HF_TOKEN, sent as "Authorization: Bearer"; NULL when unset or empty */
    const char *xdg_cache_home;    /* XDG_CACHE_HOME; NULL when unset or empty */
    const char *xdg_data_home;     /* XDG_DATA_HOME (the data directory: the responses store); NULL when unset */
    const char *home;              /* HOME; NULL when unset or empty */
    const char *source_date_epoch; /* SOURCE_DATE_EPOCH (unparsed: `cinder template` checks it); NULL when unset */
} config_env_t;

/*
 * Fills *out from the process environment. Empty variables count as unset (so `HF_TOKEN= cinder pull ...`
 * sends no token). Cannot fail; the strings are borrowed (see the header comment).
 */
void config_env_load(config_env_t *out);

/*
 * The same from an explicit environment: envp is a NULL-terminated array of "NAME=VALUE" strings (as main's
 * third argument), or NULL for the process environment. For tests and config_load().
 */
void config_env_load_from(const char *const *envp, config_env_t *out);

/*
 * The value of one variable in envp (NULL: the process environment), with "" counted as unset: NULL then.
 * Borrowed. The project's only read of the environment; used by config/ itself.
 */
const char *config_getenv(const char *const *envp, const char *name);

#endif
