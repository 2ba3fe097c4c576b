/*
 * download.c — HTTP transfers with libcurl (see hub.h): the resumable, verified file download and the small GET
 * the JSON APIs use. The only file of the project that includes curl/curl.h.
 *
 * A download writes to `<dest>.part`, locked with flock() for its whole life. Bytes are hashed as they are
 * written, after the bytes already in a resumed `.part` have been hashed once, so each byte is read only once.
 * Every attempt ends by truncating the file to the bytes actually accounted for, so a write cut in the middle
 * never leaves garbage that a later resume would trust. Only a complete file whose size and digest are right is
 * fsync'd and renamed to dest.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "err.h"
#include "hub.h"
#include "hub_int.h"
#include "sha256.h"

#define DL_READ_CHUNK  (1u << 20) /* bytes: read size when hashing an existing .part */
#define DL_ERRBODY_MAX 512        /* bytes of an error response body kept */
#define DL_USER_AGENT  "cinder/1 (+libcurl)"

/* ---- libcurl set-up ----------------------------------------------------------------------------------------- */

static pthread_once_t dl_once = PTHREAD_ONCE_INIT;
static CURLcode dl_global_rc = CURLE_FAILED_INIT;

static void dl_global_init(void) { dl_global_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* Initialises libcurl once per process (thread-safe) and returns a new easy handle, or NULL. */
static CURL *dl_easy(char *err, size_t err_len) {
    pthread_once(&dl_once, dl_global_init);
    if (dl_global_rc != CURLE_OK) {
        err_set(err, err_len, ERR_IO, "libcurl initialisation failed: %s", curl_easy_strerror(dl_global_rc));
        return NULL;
    }
    CURL *h = curl_easy_init();
    if (!h) err_set(err, err_len, ERR_NOMEM, "libcurl: cannot create a transfer handle");
    return h;
}

/*
 * Options every request shares: redirects (the hub sends LFS files from a CDN), http(s) only, no signals (we run
 * in threads), connect and stall timeouts, and the bearer token. libcurl (>= 7.58) does not forward a custom
 * Authorization header to another host after a redirect, so the token never reaches the CDN.
 */
static int dl_common(CURL *h, const char *url, const char *token, long connect_s, long stall_s,
                     struct curl_slist **hdrs, char *errbuf, char *err, size_t err_len) {
    if (token && strpbrk(token, "\r\n"))
        return err_set(err, err_len, ERR_INVAL, "HF_TOKEN holds a line break; it is not a valid token");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85: the string form; the bitmask form is deprecated there */
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(h, CURLOPT_USERAGENT, DL_USER_AGENT);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, connect_s);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, stall_s);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    errbuf[0] = '\0';
    if (token) {
        char line[64 + 4096];
        int w = snprintf(line, sizeof line, "Authorization: Bearer %s", token);
        if (w < 0 || (size_t)w >= sizeof line) return err_set(err, err_len, ERR_INVAL, "HF_TOKEN is too long");
        struct curl_slist *n = curl_slist_append(*hdrs, line);
        if (!n) return err_set(err, err_len, ERR_NOMEM, "out of memory");
        *hdrs = n;
    }
    if (*hdrs) curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
    return 0;
}

/* The message of a failed transfer: libcurl's detailed buffer when filled, else its generic text. */
static const char *dl_curl_msg(CURLcode rc, const char *errbuf) { return errbuf[0] ? errbuf : curl_easy_strerror(rc); }

/* ---- response headers --------------------------------------------------------------------------------------- */

void hub__headers_reset(hub__headers_t *hd) {
    memset(hd, 0, sizeof *hd);
    hd->content_length = hd->range_start = hd->range_total = hd->linked_size = -1;
}

/* Copies value (len bytes) into dst (cap bytes), truncating. */
static void dl_copy(char *dst, size_t cap, const char *v, size_t len) {
    if (len >= cap) len = cap - 1;
    memcpy(dst, v, len);
    dst[len] = '\0';
}

/* An ETag value without W/ and quotes, if it is 64 hex digits (a SHA-256), into out (65 bytes). */
static bool dl_etag_sha(const char *v, size_t len, char out[65]) {
    if (len >= 2 && !strncmp(v, "W/", 2)) v += 2, len -= 2;
    if (len >= 2 && v[0] == '"' && v[len - 1] == '"') v++, len -= 2;
    if (len != 64) return false;
    for (size_t i = 0; i < 64; i++) {
        char c = v[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
        out[i] = (char)(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
    }
    out[64] = '\0';
    return true;
}

/* A whole non-negative decimal of at most 18 digits, or -1. */
static int64_t dl_int(const char *v, size_t len) {
    if (len == 0 || len > 18) return -1;
    int64_t x = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9') return -1;
        x = x * 10 + (v[i] - '0');
    }
    return x;
}

/* Content-Range: bytes START-END/TOTAL (TOTAL may be '*'). */
static void dl_content_range(hub__headers_t *hd, const char *v, size_t len) {
    if (len < 6 || strncasecmp(v, "bytes ", 6)) return;
    const char *p = v + 6, *end = v + len;
    const char *dash = memchr(p, '-', (size_t)(end - p));
    const char *slash = memchr(p, '/', (size_t)(end - p));
    if (!dash || !slash || slash < dash) return;
    hd->range_start = dl_int(p, (size_t)(dash - p));
    hd->range_total = dl_int(slash + 1, (size_t)(end - slash - 1));
}

/* Link: <url>; rel="next", <url2>; rel="prev" — the URL whose parameters say rel="next" (or rel=next). */
static void dl_link_next(hub__headers_t *hd, const char *v, size_t len) {
    const char *p = v, *end = v + len;
    while (p < end) {
        const char *lt = memchr(p, '<', (size_t)(end - p));
        if (!lt) return;
        const char *gt = memchr(lt, '>', (size_t)(end - lt));
        if (!gt) return;
        const char *params = gt + 1;
        const char *stop = memchr(params, '<', (size_t)(end - params));
        if (!stop) stop = end;
        for (const char *q = params; q + 8 <= stop; q++) {
            bool quoted = stop - q >= 10 && !strncasecmp(q, "rel=\"next\"", 10);
            if (quoted || !strncasecmp(q, "rel=next", 8)) {
                size_t n = (size_t)(gt - lt - 1);
                if (n < sizeof hd->next_url) dl_copy(hd->next_url, sizeof hd->next_url, lt + 1, n);
                return;
            }
        }
        p = stop;
    }
}

void hub__header_line(hub__headers_t *hd, const char *line, size_t len) {
    while (len && (line[len - 1] == '\r' || line[len - 1] == '\n'))
        len--;
    if (len >= 5 && !strncmp(line, "HTTP/", 5)) {
        const char *sp = memchr(line, ' ', len);
        hd->status = sp && (size_t)(sp - line) + 4 <= len ? (long)dl_int(sp + 1, 3) : 0;
        hd->content_length = hd->range_start = hd->range_total = -1;
        hd->error_code[0] = hd->error_message[0] = hd->next_url[0] = '\0';
        return;
    }
    const char *colon = memchr(line, ':', len);
    if (!colon) return;
    size_t nlen = (size_t)(colon - line);
    const char *v = colon + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t vlen = (size_t)(end - v);
#define DL_IS(name) (nlen == sizeof(name) - 1 && !strncasecmp(line, name, nlen))
    char sha[65];
    if (DL_IS("Content-Length"))
        hd->content_length = dl_int(v, vlen);
    else if (DL_IS("Content-Range"))
        dl_content_range(hd, v, vlen);
    else if (DL_IS("X-Linked-Size"))
        hd->linked_size = dl_int(v, vlen);
    else if (DL_IS("X-Linked-Etag") && dl_etag_sha(v, vlen, sha)) {
        memcpy(hd->sha256, sha, sizeof sha);
        hd->sha_from_linked = true;
    } else if (DL_IS("ETag") && !hd->sha_from_linked && dl_etag_sha(v, vlen, sha))
        memcpy(hd->sha256, sha, sizeof sha);
    else if (DL_IS("X-Error-Code"))
        dl_copy(hd->error_code, sizeof hd->error_code, v, vlen);
    else if (DL_IS("X-Error-Message"))
        dl_copy(hd->error_message, sizeof hd->error_message, v, vlen);
    else if (DL_IS("Link"))
        dl_link_next(hd, v, vlen);
#undef DL_IS
}

static size_t dl_on_header(char *p, size_t size, size_t n, void *ud) {
    hub__header_line(ud, p, size * n);
    return size * n;
}

/* ---- HTTP errors -------------------------------------------------------------------------------------------- */

int hub__http_error(const hub__headers_t *hd, const char *what, bool have_token, char *err, size_t err_len) {
    char hub_says[300] = "";
    if (hd->error_message[0]) snprintf(hub_says, sizeof hub_says, " (hub: %s)", hd->error_message);
    long s = hd->status;
    if (s == 401) {
        if (!strcmp(hd->error_code, "RepoNotFound"))
            return err_set(err, err_len, ERR_NOTFOUND,
                           "%s: repository not found (HTTP 401)%s; if it is private or gated, %s", what, hub_says,
                           have_token ? "check that HF_TOKEN can read it" : "set HF_TOKEN to an access token");
        if (have_token)
            return err_set(err, err_len, ERR_IO, "%s: HF_TOKEN was rejected (HTTP 401)%s; check the token", what,
                           hub_says);
        return err_set(err, err_len, ERR_IO,
                       "%s: authentication required (HTTP 401)%s; set HF_TOKEN to a Hugging Face access token", what,
                       hub_says);
    }
    if (s == 403)
        return err_set(err, err_len, ERR_IO,
                       "%s: access denied (HTTP 403)%s; the repository may be gated (accept its terms on the hub) "
                       "%s",
                       what, hub_says, have_token ? "or HF_TOKEN lacks read access to it" : "and need HF_TOKEN set");
    if (s == 404) {
        const char *kind = !strcmp(hd->error_code, "RepoNotFound")       ? "repository not found"
                           : !strcmp(hd->error_code, "EntryNotFound")    ? "file not found"
                           : !strcmp(hd->error_code, "RevisionNotFound") ? "revision not found"
                                                                         : "not found";
        return err_set(err, err_len, ERR_NOTFOUND, "%s: %s (HTTP 404)%s", what, kind, hub_says);
    }
    if (s == 429)
        return err_set(err, err_len, ERR_IO, "%s: the hub is rate-limiting requests (HTTP 429)%s; try again later",
                       what, hub_says);
    if (s == 0) return err_set(err, err_len, ERR_IO, "%s: no HTTP response", what);
    return err_set(err, err_len, ERR_IO, "%s: HTTP %ld%s", what, s, hub_says);
}

/* ---- GET into memory (JSON APIs) ---------------------------------------------------------------------------- */

typedef struct {
    hub__resp_t *r;
    size_t cap, max_bytes;
    bool too_big, nomem;
} dl_mem_t;

static size_t dl_on_mem(char *p, size_t size, size_t n, void *ud) {
    dl_mem_t *m = ud;
    size_t len = size * n;
    if (m->r->len + len > m->max_bytes) {
        m->too_big = true;
        return 0;
    }
    if (m->r->len + len + 1 > m->cap) {
        size_t cap = m->cap ? m->cap : 16384;
        while (cap < m->r->len + len + 1)
            cap *= 2;
        char *d = realloc(m->r->data, cap);
        if (!d) {
            m->nomem = true;
            return 0;
        }
        m->r->data = d;
        m->cap = cap;
    }
    memcpy(m->r->data + m->r->len, p, len);
    m->r->len += len;
    m->r->data[m->r->len] = '\0';
    return len;
}

int hub__http_get(const char *url, const char *token, size_t max_bytes, hub__resp_t *r, char *err, size_t err_len) {
    memset(r, 0, sizeof *r);
    hub__headers_reset(&r->hd);
    CURL *h = dl_easy(err, err_len);
    if (!h) return ERR_IO;
    struct curl_slist *hdrs = NULL;
    char errbuf[CURL_ERROR_SIZE];
    dl_mem_t m = {.r = r, .max_bytes = max_bytes};
    int rc = dl_common(h, url, token, 30, 60, &hdrs, errbuf, err, err_len);
    if (rc) goto cleanup;
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, ""); /* any compression libcurl supports */
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, dl_on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &r->hd);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, dl_on_mem);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &m);
    CURLcode c = curl_easy_perform(h);
    if (m.nomem)
        rc = err_set(err, err_len, ERR_NOMEM, "out of memory reading %s", url);
    else if (m.too_big)
        rc = err_set(err, err_len, ERR_LIMIT, "%s: the response is larger than %zu bytes", url, max_bytes);
    else if (c != CURLE_OK)
        rc = err_set(err, err_len, ERR_IO, "network error fetching %s: %s", url, dl_curl_msg(c, errbuf));
    if (!rc && !r->data) { /* an empty body is still a string */
        r->data = calloc(1, 1);
        if (!r->data) rc = err_set(err, err_len, ERR_NOMEM, "out of memory");
    }
cleanup:
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return rc;
}

void hub__resp_free(hub__resp_t *r) {
    if (!r) return;
    free(r->data);
    r->data = NULL;
    r->len = 0;
}

/* ---- the file download -------------------------------------------------------------------------------------- */

enum { DL_OK = 0, DL_WRITE_FAILED, DL_TOO_LONG, DL_BAD_RANGE };

typedef struct {
    const hub_download_opts_t *o;
    const char *what;  /* name in messages */
    const char *part;  /* path of the .part file */
    int fd;            /* the locked .part file */
    int64_t offset;    /* bytes in the file that are written and hashed */
    int64_t total;     /* expected final size for progress, -1 unknown */
    sha256_t sha;      /* hash of bytes [0, offset) */
    hub__headers_t hd; /* headers of the current request */
    bool body_started; /* the write callback has seen the current response's body */
    bool writing;      /* the current response's body goes to the file */
    int fail;          /* why the write callback stopped the transfer (DL_*) */
    int sys_errno;     /* errno of a failed write */
    char errbody[DL_ERRBODY_MAX + 1];
    size_t errbody_len;
} dl_t;

static void dl_note(dl_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void dl_note(dl_t *d, const char *fmt, ...) {
    if (!d->o->report.note) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    d->o->report.note(d->o->report.ud, msg);
}

static void dl_progress(dl_t *d, bool done) {
    if (d->o->report.progress) d->o->report.progress(d->o->report.ud, d->what, d->offset, d->total, done);
}

/* Empties the .part file and the hash (a restart from byte 0). */
static int dl_restart(dl_t *d) {
    if (ftruncate(d->fd, 0)) return -1;
    d->offset = 0;
    sha256_init(&d->sha);
    return 0;
}

/* Decides, at the first body byte of a response (or at its end when it has none), where its bytes go. */
static int dl_begin_body(dl_t *d) {
    const hub__headers_t *hd = &d->hd;
    d->writing = false;
    if (hd->status == 200) {
        if (d->offset > 0) {
            dl_note(d, "the server ignored the range request; downloading %s from the start", d->what);
            if (dl_restart(d)) {
                d->fail = DL_WRITE_FAILED;
                d->sys_errno = errno;
                return -1;
            }
        }
        d->writing = true;
        if (d->o->size_bytes < 0) d->total = hd->content_length >= 0 ? hd->content_length : hd->linked_size;
    } else if (hd->status == 206) {
        if (hd->range_start != d->offset) {
            d->fail = DL_BAD_RANGE;
            return -1;
        }
        d->writing = true;
        if (d->o->size_bytes < 0)
            d->total = hd->range_total >= 0      ? hd->range_total
                       : hd->content_length >= 0 ? d->offset + hd->content_length
                                                 : hd->linked_size;
    }
    return 0;
}

static size_t dl_on_body(char *p, size_t size, size_t n, void *ud) {
    dl_t *d = ud;
    size_t len = size * n;
    if (!d->body_started) {
        d->body_started = true;
        if (dl_begin_body(d)) return 0;
    }
    if (!d->writing) { /* an error page: keep its start for the message */
        size_t take = DL_ERRBODY_MAX - d->errbody_len < len ? DL_ERRBODY_MAX - d->errbody_len : len;
        memcpy(d->errbody + d->errbody_len, p, take);
        d->errbody_len += take;
        d->errbody[d->errbody_len] = '\0';
        return len;
    }
    if (d->o->size_bytes >= 0 && d->offset + (int64_t)len > d->o->size_bytes) {
        d->fail = DL_TOO_LONG;
        return 0;
    }
    for (size_t done = 0; done < len;) {
        ssize_t w = pwrite(d->fd, p + done, len - done, (off_t)(d->offset + (int64_t)done));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            d->fail = DL_WRITE_FAILED;
            d->sys_errno = w < 0 ? errno : ENOSPC;
            return 0;
        }
        done += (size_t)w;
    }
    sha256_update(&d->sha, p, len);
    d->offset += (int64_t)len;
    dl_progress(d, false);
    return len;
}

/* Header callback of a download: also marks the start of each new response. */
static size_t dl_on_dl_header(char *p, size_t size, size_t n, void *ud) {
    dl_t *d = ud;
    size_t len = size * n;
    if (len >= 5 && !strncmp(p, "HTTP/", 5)) {
        d->body_started = false;
        d->writing = false;
        d->errbody_len = 0;
        d->errbody[0] = '\0';
    }
    hub__header_line(&d->hd, p, len);
    return len;
}

/* Hashes the bytes already in the .part file (a resume), setting d->offset to its size. */
static int dl_hash_existing(dl_t *d, char *err, size_t err_len) {
    struct stat st;
    if (fstat(d->fd, &st)) return err_set(err, err_len, ERR_IO, "cannot stat %s: %s", d->part, strerror(errno));
    sha256_init(&d->sha);
    d->offset = 0;
    int64_t size = (int64_t)st.st_size;
    if (d->o->size_bytes >= 0 && size > d->o->size_bytes) { /* longer than the file can be: start over */
        if (dl_restart(d)) return err_set(err, err_len, ERR_IO, "cannot truncate %s: %s", d->part, strerror(errno));
        return 0;
    }
    if (size == 0) return 0;
    char *buf = malloc(DL_READ_CHUNK);
    if (!buf) return err_set(err, err_len, ERR_NOMEM, "out of memory");
    int rc = 0;
    while (d->offset < size) {
        ssize_t r = pread(d->fd, buf, DL_READ_CHUNK, (off_t)d->offset);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            rc = err_set(err, err_len, ERR_IO, "cannot read %s: %s", d->part, r < 0 ? strerror(errno) : "short file");
            break;
        }
        sha256_update(&d->sha, buf, (size_t)r);
        d->offset += r;
    }
    free(buf);
    return rc;
}

/* Creates every missing directory of path's parent (mkdir -p of dirname). */
static int dl_mkdirs(const char *path, char *err, size_t err_len) {
    char dir[HUB_PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof dir) return err_set(err, err_len, ERR_RANGE, "path too long: %s", path);
    memcpy(dir, path, n + 1);
    char *last = strrchr(dir, '/');
    if (!last || last == dir) return 0;
    *last = '\0';
    for (char *p = dir + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(dir, 0755) && errno != EEXIST)
                return err_set(err, err_len, ERR_IO, "cannot create directory %s: %s", dir, strerror(errno));
            *p = c;
            if (!c) break;
        }
    }
    return 0;
}

/* fsyncs the directory holding path, so a rename in it survives a crash. Best effort. */
static void dl_sync_dir(const char *path) {
    char dir[HUB_PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof dir) return;
    memcpy(dir, path, n + 1);
    char *last = strrchr(dir, '/');
    if (!last) return;
    if (last == dir)
        last[1] = '\0'; /* the file is in "/" */
    else
        *last = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Network failures worth another attempt (a dropped or stalled connection, a refused one, a server hiccup). */
static bool dl_retryable(CURLcode c) {
    switch (c) {
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_COULDNT_CONNECT:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR: return true;
    default: return false;
    }
}

static void dl_sleep_s(int s) {
    struct timespec ts = {.tv_sec = s, .tv_nsec = 0};
    while (nanosleep(&ts, &ts) && errno == EINTR) {
    }
}

/*
 * One GET of the remaining bytes. Returns 0 when a response was received completely (any status: see d->hd),
 * else the CURLcode as a positive number (d->fail says whether our own callback stopped it).
 */
static int dl_attempt(dl_t *d, const char *url, char *errbuf, char *err, size_t err_len, int *rc_out) {
    *rc_out = 0;
    CURL *h = dl_easy(err, err_len);
    if (!h) {
        *rc_out = ERR_IO;
        return -1;
    }
    struct curl_slist *hdrs = curl_slist_append(NULL, "Accept-Encoding: identity");
    int c = -1;
    if (!hdrs) {
        *rc_out = err_set(err, err_len, ERR_NOMEM, "out of memory");
        goto cleanup;
    }
    *rc_out =
        dl_common(h, url, d->o->token, d->o->connect_timeout_s, d->o->stall_timeout_s, &hdrs, errbuf, err, err_len);
    if (*rc_out) goto cleanup;
    char range[48];
    if (d->offset > 0) {
        snprintf(range, sizeof range, "%lld-", (long long)d->offset);
        curl_easy_setopt(h, CURLOPT_RANGE, range);
    }
    hub__headers_reset(&d->hd);
    d->fail = DL_OK;
    d->body_started = d->writing = false;
    d->errbody_len = 0;
    d->errbody[0] = '\0';
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, dl_on_dl_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, d);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, dl_on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, d);
    c = (int)curl_easy_perform(h);
    if (c == CURLE_OK && !d->body_started && d->fail == DL_OK) dl_begin_body(d); /* an empty body */
cleanup:
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return c;
}

void hub_download_default_opts(hub_download_opts_t *o) {
    memset(o, 0, sizeof *o);
    o->size_bytes = -1;
    o->n_retries = 3;
    o->connect_timeout_s = 30;
    o->stall_timeout_s = 60;
}

int hub_download(const char *url, const char *dest, const hub_download_opts_t *o, char *err, size_t err_len) {
    char part[HUB_PATH_MAX], sz1[32];
    int w = snprintf(part, sizeof part, "%s.part", dest);
    if (w < 0 || (size_t)w >= sizeof part) return err_set(err, err_len, ERR_RANGE, "path too long: %s", dest);
    dl_t *d = calloc(1, sizeof *d);
    if (!d) return err_set(err, err_len, ERR_NOMEM, "out of memory");
    d->o = o;
    d->what = o->what ? o->what : dest;
    d->part = part;
    d->fd = -1;
    d->total = o->size_bytes;
    bool delete_part = false;
    char errbuf[CURL_ERROR_SIZE];
    int rc = dl_mkdirs(dest, err, err_len);
    if (rc) goto cleanup;

    d->fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (d->fd < 0) {
        rc = err_set(err, err_len, ERR_IO, "cannot open %s: %s", part, strerror(errno));
        goto cleanup;
    }
    if (flock(d->fd, LOCK_EX | LOCK_NB)) {
        rc =
            err_set(err, err_len, ERR_STATE, "%s is being downloaded by another process (%s is locked)", d->what, part);
        goto cleanup;
    }
    rc = dl_hash_existing(d, err, err_len);
    if (rc) goto cleanup;

    int failures = 0;
    /* Transfer until the file is complete; a .part already of the expected size needs no request. */
    while (!(o->size_bytes >= 0 && d->offset == o->size_bytes && d->offset > 0)) {
        int64_t start = d->offset;
        if (start > 0) dl_note(d, "resuming %s at %s", d->what, hub_format_size(start, sz1, sizeof sz1));
        int c = dl_attempt(d, url, errbuf, err, err_len, &rc);
        if (rc) goto cleanup;
        dl_progress(d, true);
        if (ftruncate(d->fd, (off_t)d->offset)) { /* drop a chunk that was written only in part */
            rc = err_set(err, err_len, ERR_IO, "cannot truncate %s: %s", part, strerror(errno));
            goto cleanup;
        }
        if (d->fail == DL_WRITE_FAILED) {
            rc = err_set(err, err_len, ERR_IO, "cannot write %s: %s", part, strerror(d->sys_errno));
            goto cleanup;
        }
        if (d->fail == DL_TOO_LONG) {
            delete_part = true;
            rc = err_set(err, err_len, ERR_FORMAT, "%s: the server sent more than the expected %lld bytes", d->what,
                         (long long)o->size_bytes);
            goto cleanup;
        }
        const char *why = "";
        if (d->fail == DL_BAD_RANGE) {
            why = "the server answered with another range";
            dl_restart(d);
        } else if (c != CURLE_OK) {
            why = dl_curl_msg((CURLcode)c, errbuf);
            if (!dl_retryable((CURLcode)c)) {
                rc = err_set(err, err_len, ERR_IO, "%s: network error: %s", d->what, why);
                goto cleanup;
            }
        } else if (d->hd.status == 416 && d->offset > 0) { /* our .part is not a prefix of what the server has now */
            why = "the server refused the range (HTTP 416)";
            dl_restart(d);
        } else if (d->hd.status >= 500 || d->hd.status == 429) {
            why = d->hd.status == 429 ? "rate limited (HTTP 429)" : "server error";
        } else if (d->hd.status != 200 && d->hd.status != 206) {
            rc = hub__http_error(&d->hd, d->what, o->token != NULL, err, err_len);
            goto cleanup;
        } else {
            break; /* a complete 200/206 response */
        }
        if (d->offset > start) failures = 0; /* progress was made: only consecutive fruitless attempts count */
        if (failures >= o->n_retries) {
            if (d->offset > 0)
                rc = err_set(err, err_len, ERR_IO,
                             "%s: download interrupted (%s); %s kept in %s, run the command again to resume", d->what,
                             why, hub_format_size(d->offset, sz1, sizeof sz1), part);
            else if (d->hd.status >= 400)
                rc = hub__http_error(&d->hd, d->what, o->token != NULL, err, err_len);
            else
                rc = err_set(err, err_len, ERR_IO, "%s: network error: %s", d->what, why);
            goto cleanup;
        }
        failures++;
        dl_note(d, "%s: %s; retrying (%d of %d)", d->what, why, failures, o->n_retries);
        dl_sleep_s(d->offset > start ? 1 : (failures < 8 ? failures : 8));
    }

    /* Complete: check the size, then the digest. */
    int64_t want_size = o->size_bytes >= 0 ? o->size_bytes : d->total;
    if (want_size >= 0 && d->offset != want_size) {
        delete_part = true;
        rc = err_set(err, err_len, ERR_FORMAT, "%s: size mismatch: expected %lld bytes, received %lld; deleted %s",
                     d->what, (long long)want_size, (long long)d->offset, part);
        goto cleanup;
    }
    const char *want_sha = o->sha256 && o->sha256[0] ? o->sha256 : d->hd.sha256[0] ? d->hd.sha256 : NULL;
    if (want_sha) {
        uint8_t digest[SHA256_DIGEST_BYTES];
        char got[SHA256_HEX_LEN + 1];
        sha256_final(&d->sha, digest);
        sha256_hex(digest, got);
        if (strcasecmp(got, want_sha)) {
            delete_part = true;
            rc = err_set(err, err_len, ERR_FORMAT,
                         "%s: checksum mismatch: the hub says sha256 %s, the download is %s; deleted it, run the "
                         "command again to retry",
                         d->what, want_sha, got);
            goto cleanup;
        }
    } else {
        dl_note(d, "%s: the server published no SHA-256; only the size was checked", d->what);
    }
    if (fsync(d->fd)) {
        rc = err_set(err, err_len, ERR_IO, "cannot sync %s: %s", part, strerror(errno));
        goto cleanup;
    }
    if (rename(part, dest)) {
        rc = err_set(err, err_len, ERR_IO, "cannot rename %s to %s: %s", part, dest, strerror(errno));
        goto cleanup;
    }
    dl_sync_dir(dest);
cleanup:
    /* A failure before any byte arrived leaves nothing worth resuming: no empty .part in the cache. The lock is
     * still held here, so no other process is using the file. */
    if (rc && rc != ERR_STATE && d->fd >= 0 && d->offset == 0) delete_part = true;
    if (delete_part) unlink(part);
    if (d->fd >= 0) close(d->fd);
    free(d);
    return rc;
}
