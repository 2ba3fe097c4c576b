/*
 * hub.h — models from the Hugging Face Hub: model references, the local cache, and downloads.
 *
 * Owns:
 *   - model references: `OWNER/REPO[:QUANT]` (pick the .gguf of that quantization, or a default) and
 *     `OWNER/REPO/PATH/FILE.gguf` (exactly that file), optionally prefixed with `hf.co/` or `huggingface.co/`;
 *   - the cache, `$XDG_CACHE_HOME/cinder` or `~/.cache/cinder`, laid out as `models/OWNER/REPO/PATH/FILE.gguf`
 *     (a download in progress is `FILE.gguf.part` beside it);
 *   - the transfer (libcurl): resume of a `.part` file with a Range request, restart when the server ignores the
 *     range, SHA-256 verification against the digest the hub publishes (the tree API's `lfs.oid`, else the
 *     `X-Linked-Etag` or `ETag` header of the resolve URL when it is a SHA-256), an atomic rename into place, and
 *     one-line errors for 401/403 (mentioning HF_TOKEN), 404 and network failures.
 *
 * Does not: read the environment (config/env.h hands in HF_ENDPOINT, HF_TOKEN, XDG_CACHE_HOME, HOME), load or
 * validate GGUF contents (engine/gguf does that when the file is opened), or delete cached models.
 *
 * Hub API used: `GET {endpoint}/api/models/{owner}/{repo}/tree/main?recursive=true` (paths, sizes, lfs.oid;
 * pages followed through the `Link: <...>; rel="next"` header), falling back to `GET
 * {endpoint}/api/models/{owner}/{repo}` (`siblings[].rfilename`) for mirrors without the tree API; files come
 * from `{endpoint}/{owner}/{repo}/resolve/main/{path}`. The token goes to the endpoint's host only (libcurl drops
 * the Authorization header when a redirect leads to another host, such as the hub's CDN).
 *
 * Threads: every function may be called from any thread; nothing is shared between calls except libcurl's global
 * initialisation (done once, thread-safely). A download holds an exclusive flock() on its `.part` file, so two
 * processes pulling the same file do not interleave; the second fails with ERR_STATE.
 *
 * Ownership: strings passed in are borrowed for the call; results go into caller buffers, except
 * hub_cache_list()'s array, which the caller frees with hub_cache_list_free().
 */
#ifndef CINDER_HUB_H
#define CINDER_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/env.h"

#define HUB_NAME_MAX  96   /* bytes: owner or repository name (the hub's own limit) */
#define HUB_FILE_MAX  512  /* bytes: path of a file inside a repository */
#define HUB_QUANT_MAX 32   /* bytes: quantization name such as Q4_K_M */
#define HUB_PATH_MAX  4096 /* bytes: local paths produced here, NUL included */

/* The quantizations tried, in order, when a reference names none: the first one with exactly one file wins. */
#define HUB_DEFAULT_QUANTS                                                                                             \
    { "Q8_0", "Q4_K_M", "Q6_K", "Q4_0", "F16", "BF16", "F32" }

/* A parsed model reference. Either file or quant (or neither) is set, never both. */
typedef struct {
    char owner[HUB_NAME_MAX + 1];  /* "HuggingFaceTB" */
    char repo[HUB_NAME_MAX + 1];   /* "SmolLM2-360M-Instruct-GGUF" */
    char file[HUB_FILE_MAX + 1];   /* "smollm2-360m-instruct-q8_0.gguf", or "" for the :QUANT form */
    char quant[HUB_QUANT_MAX + 1]; /* "Q8_0", or "" (none given, or the file form) */
} hub_ref_t;

/* ---- references (ref.c; pure) ------------------------------------------------------------------------------ */

/*
 * Parses `OWNER/REPO`, `OWNER/REPO:QUANT` or `OWNER/REPO/PATH.gguf` (with an optional `hf.co/` or
 * `huggingface.co/` prefix) into *out. Names follow the hub's rules (letters, digits, `-`, `_`, `.`; no `--` or
 * `..`; not starting or ending with `-` or `.`; at most 96 bytes); a file path must end in `.gguf`, and no
 * component may be empty, `.` or `..` or hold a backslash or control character, so it is safe as a path under the
 * cache directory. Returns 0, or ERR_INVAL with the reason in err.
 */
int hub_ref_parse(const char *s, hub_ref_t *out, char *err, size_t err_len);

/*
 * Whether a repository-relative path is acceptable as a local path under the cache (the checks of
 * hub_ref_parse for the FILE part, without the `.gguf` requirement). Used on paths the server lists too.
 */
bool hub_path_ok(const char *path);

/*
 * Whether path (a repository-relative file path) is tagged with quant: quant occurs, case-insensitively, with no
 * letter or digit right before it and nothing but `.`, `-`, `/` or the end right after it. So "Q4_K_M" matches
 * "Llama-3.2-1B-Instruct-Q4_K_M.gguf" and "model.q4_k_m.gguf", but "Q4_K" does not match it and "Q4_XS" does not
 * match "IQ4_XS".
 */
bool hub_quant_match(const char *path, const char *quant);

/*
 * Chooses the model file among n repository paths. Only `.gguf` files count; `mmproj*` projector files and the
 * shards of a split model (`-00001-of-00003.gguf`, which cinder cannot load) are left out. With a quant: the
 * one file hub_quant_match() accepts, else the one file whose path merely contains the quant case-insensitively.
 * Without (quant NULL or ""): the first of HUB_DEFAULT_QUANTS with exactly one file, else the only .gguf file.
 * Returns 0 with *idx set; ERR_NOTFOUND when nothing matches, ERR_INVAL when several files match equally (both
 * messages list the candidates so the user can name one), ERR_UNSUPPORTED when only split shards match.
 */
int hub_pick_file(const char *const *paths, size_t n, const char *quant, size_t *idx, char *err, size_t err_len);

/*
 * Percent-encodes a repository path for a URL: unreserved characters and `/` stay, every other byte becomes
 * %XX. Returns 0, or ERR_RANGE when out (cap bytes) is too small.
 */
int hub_url_escape_path(const char *path, char *out, size_t cap);

/* Writes a human-readable size ("12.3 MiB", "512 B", "?" when negative) into buf and returns buf. cap >= 16. */
const char *hub_format_size(int64_t bytes, char *buf, size_t cap);

/* ---- the cache (cache.c) ----------------------------------------------------------------------------------- */

/*
 * The cache root: `$XDG_CACHE_HOME/cinder` when XDG_CACHE_HOME is an absolute path (the XDG spec says to ignore
 * a relative one), else `$HOME/.cache/cinder`. Creates nothing. Returns 0, ERR_NOTFOUND when neither variable
 * is usable, ERR_RANGE when the path would not fit in cap bytes.
 */
int hub_cache_root(const config_env_t *env, char *out, size_t cap, char *err, size_t err_len);

/*
 * The local path of repository file `path` of owner/repo: `<root>/models/<owner>/<repo>/<path>`. The names
 * must already be valid (hub_ref_parse / hub_path_ok). Returns 0 or ERR_RANGE / ERR_NOTFOUND as above.
 */
int hub_cache_path(const config_env_t *env, const char *owner, const char *repo, const char *path, char *out,
                   size_t cap, char *err, size_t err_len);

/* One file in the cache. */
typedef struct {
    char *ref;          /* "owner/repo/path.gguf" (what `cinder pull` accepts); owned by the list */
    char *path;         /* absolute local path; owned by the list */
    int64_t size_bytes; /* bytes on disk (for a partial download, how much has arrived) */
    bool partial;       /* a `.part` file: an interrupted download that `pull` would resume */
} hub_cached_t;

/*
 * Lists the .gguf files (and unfinished .gguf.part downloads) in the cache, sorted by ref. An absent cache is an
 * empty list. On success *items is malloc'd (NULL when *n is 0) and freed with hub_cache_list_free(). Returns 0,
 * ERR_NOMEM, ERR_IO (an unreadable directory, named in err).
 */
int hub_cache_list(const config_env_t *env, hub_cached_t **items, size_t *n, char *err, size_t err_len);

/* Frees a list from hub_cache_list(). NULL is a no-op. */
void hub_cache_list_free(hub_cached_t *items, size_t n);

/* ---- downloads (download.c, progress.c) -------------------------------------------------------------------- */

/*
 * Reporting hooks, both optional. note() gets one-line status messages ("resuming at 12.0 MiB"); progress() is
 * called as bytes arrive (often: throttle in the callback) with total_bytes -1 when unknown, and once more with
 * done == true at the end of a transfer attempt.
 */
typedef struct {
    void (*note)(void *ud, const char *msg);
    void (*progress)(void *ud, const char *name, int64_t done_bytes, int64_t total_bytes, bool done);
    void *ud;
} hub_reporter_t;

/* State of the stderr reporter below. Embed it; hub_reporter_stderr() initialises it. */
typedef struct {
    bool tty;            /* stderr is a terminal: redraw one bar in place; otherwise print a line per 10% */
    double t_start_s;    /* monotonic time the current transfer started */
    double t_last_s;     /* when the bar was last drawn */
    int last_decile;     /* last 10% step printed (non-terminal mode) */
    int64_t start_bytes; /* bytes already present when the transfer started (excluded from the speed) */
    int64_t last_bytes;  /* bytes shown by the last line printed (non-terminal mode) */
    bool active;         /* a bar is on screen without its newline */
} hub_progress_state_t;

/*
 * A reporter that writes to stderr: on a terminal (isatty(2)) a bar redrawn in place at most 10 times a
 * second (name, percent, MiB done/total, MiB/s); otherwise plain lines at every 10%. Notes are printed as
 * "cinder: <msg>". st must outlive the reporter's use.
 */
void hub_reporter_stderr(hub_reporter_t *r, hub_progress_state_t *st);

/* Options of one download. Start from hub_download_default_opts(). */
typedef struct {
    const char *token;      /* bearer token or NULL; refused if it holds a CR or LF */
    const char *sha256;     /* expected digest (64 hex digits) or NULL: then the response headers' digest, if any */
    int64_t size_bytes;     /* expected size or -1 when unknown */
    int n_retries;          /* extra attempts after a network failure, each resuming where the last stopped */
    long connect_timeout_s; /* per connection attempt */
    long stall_timeout_s;   /* abort an attempt that receives nothing for this long */
    const char *what;       /* the name used in messages ("owner/repo/file.gguf"); NULL: the destination path */
    hub_reporter_t report;  /* optional hooks */
} hub_download_opts_t;

/* Defaults: no token, no digest, unknown size, 3 retries, 30 s connect and 60 s stall timeouts, no reporting. */
void hub_download_default_opts(hub_download_opts_t *o);

/*
 * Downloads url to dest: bytes go to `dest.part` (resumed with a Range request when it exists; restarted from
 * zero when the server answers 200 instead of 206), are hashed as they arrive, and the file is renamed to dest
 * only when the size and SHA-256 are right (fsync'd first), so dest is never partial or corrupt. A checksum or
 * size mismatch deletes the .part file; a network failure keeps it for the next attempt (after n_retries
 * automatic ones). Creates dest's directory. Returns 0; ERR_IO (network, HTTP or file errors), ERR_NOTFOUND
 * (HTTP 404), ERR_FORMAT (checksum or size mismatch), ERR_STATE (another process is downloading the same file),
 * ERR_INVAL (bad token), ERR_NOMEM; err holds one line.
 */
int hub_download(const char *url, const char *dest, const hub_download_opts_t *o, char *err, size_t err_len);

/* ---- pull: reference -> local file (resolve.c) ------------------------------------------------------------- */

/* Options of hub_pull(). */
typedef struct {
    int n_retries;         /* as hub_download_opts_t (default 3) */
    hub_reporter_t report; /* optional hooks (default none) */
} hub_pull_opts_t;

/* Defaults: 3 retries, no reporting. */
void hub_pull_default_opts(hub_pull_opts_t *o);

/*
 * Resolves a reference against the hub (listing the repository, choosing the file with hub_pick_file()) and
 * downloads it into the cache unless a file of the listed size is already there. Writes the local path into
 * path_out (cap bytes). Returns 0, or an error from hub_ref_parse / hub_pick_file / hub_download, with HTTP 401
 * and 403 explained in terms of HF_TOKEN and 404 as a missing repository or file.
 */
int hub_pull(const config_env_t *env, const char *ref, const hub_pull_opts_t *opts, char *path_out, size_t cap,
             char *err, size_t err_len);

/*
 * What `serve -m ARG` calls: turns a model argument into a local GGUF path, pulling on demand.
 *   - ARG names an existing file: path_out = ARG (no network).
 *   - ARG is a hub reference already in the cache (for `:QUANT`, exactly one cached file of that quantization;
 *     for no quant, one chosen as hub_pick_file() would): its cached path (no network, so it works offline).
 *   - otherwise: hub_pull() with progress on stderr (hub_reporter_stderr) and 3 retries.
 * An argument that looks like a local path (starts with `/`, `.` or `~`, or is `A/B.gguf` or `A.gguf`) and does
 * not exist is ERR_NOTFOUND "no such file", not a hub lookup. Returns 0 or the error of the step that failed.
 */
int hub_resolve_model(const config_env_t *env, const char *ref, char *path_out, size_t cap, char *err, size_t err_len);

#endif
