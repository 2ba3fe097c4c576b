/*
 * playground.h — the web playground page that `cinder serve` answers GET / with.
 *
 * Owns: nothing at run time; these are constants. The page is server/playground/index.html, turned into C at
 * build time by scripts/embed_playground.sh (the Makefile's $(BUILD)/gen/playground.c), so the binary serves it
 * without reading files and the page works offline: it loads nothing but the server's own /v1 API.
 * Does not: route or send it (server/http.c does, with the headers below).
 * Threads: read-only data, any thread.
 */
#ifndef CINDER_PLAYGROUND_H
#define CINDER_PLAYGROUND_H

#include <stddef.h>

/* The page's bytes (UTF-8 HTML, not NUL-terminated) and their count. */
extern const unsigned char srv__playground_html[];
extern const size_t srv__playground_html_len;

/*
 * The Content-Security-Policy header value to send with the page: no sources but the page's own inline script
 * and style (allowed by their SHA-256), fetches to the same origin, and no framing. A page edited so that its
 * script no longer matches simply does not run, which the browser end-to-end test notices.
 */
extern const char srv__playground_csp[];

#endif
