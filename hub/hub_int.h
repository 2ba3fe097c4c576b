/*
 * hub_int.h — what the hub's own files share (not for other modules): libcurl set-up, a small HTTP GET for the
 * JSON APIs, the headers the hub sends, and the mapping of HTTP failures to one-line messages.
 * Threads: as hub.h (no shared state beyond libcurl's one-time global initialisation).
 */
#ifndef CINDER_HUB_INT_H
#define CINDER_HUB_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HUB__URL_MAX 4096 /* bytes: URLs built or followed here, NUL included */

/* The headers of interest, gathered over every response of a request (redirects included). */
typedef struct {
    long status;                 /* status of the last response seen */
    int64_t content_length;      /* of the last response, -1 when absent */
    int64_t range_start;         /* Content-Range "bytes START-END/TOTAL" of the last response, -1 if none */
    int64_t range_total;         /* its TOTAL, -1 when absent or '*' */
    int64_t linked_size;         /* X-Linked-Size from any response (the hub's size of an LFS file), -1 */
    char sha256[65];             /* a SHA-256 from X-Linked-Etag (preferred) or an ETag of any response, or "" */
    bool sha_from_linked;        /* sha256 came from X-Linked-Etag (an ETag must not override it) */
    char error_code[64];         /* X-Error-Code of the last response ("RepoNotFound", "EntryNotFound") */
    char error_message[256];     /* X-Error-Message of the last response */
    char next_url[HUB__URL_MAX]; /* Link: <...>; rel="next" of the last response (API pagination), or "" */
} hub__headers_t;

/* Clears every field (numbers to -1, strings to ""), for a new request. */
void hub__headers_reset(hub__headers_t *hd);

/*
 * Feeds one raw header line (as libcurl delivers it, with or without CRLF). A status line ("HTTP/1.1 302 ...")
 * starts a new response: the per-response fields are cleared, while the digest and linked size gathered from an
 * earlier response (the hub's redirect) are kept. Malformed lines are ignored.
 */
void hub__header_line(hub__headers_t *hd, const char *line, size_t len);

/* A response body held in memory, NUL-terminated. */
typedef struct {
    char *data;
    size_t len;
    hub__headers_t hd;
} hub__resp_t;

/*
 * GETs url (following redirects) with the bearer token when non-NULL, reading at most max_bytes of body. Returns
 * 0 when a response arrived, whatever its status (r->hd.status); ERR_IO for a network failure, ERR_LIMIT for a
 * larger body, ERR_INVAL for a token with CR/LF, ERR_NOMEM. Free r with hub__resp_free() in every case.
 */
int hub__http_get(const char *url, const char *token, size_t max_bytes, hub__resp_t *r, char *err, size_t err_len);

/* Frees the body of r; the struct itself is the caller's. */
void hub__resp_free(hub__resp_t *r);

/*
 * Turns a failed HTTP status for `what` (a repository or file name) into an err.h code and one line: 401/403
 * explain HF_TOKEN (whether one was sent is have_token), 404 becomes ERR_NOTFOUND, the hub's X-Error-Message is
 * quoted when present. Returns the code.
 */
int hub__http_error(const hub__headers_t *hd, const char *what, bool have_token, char *err, size_t err_len);

#endif
