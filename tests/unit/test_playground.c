/*
 * test_playground.c — the playground page compiled into the binary (server/playground.h): its bytes are
 * server/playground/index.html exactly, and the Content-Security-Policy the generator (scripts/embed_playground.sh)
 * wrote admits the page's inline script and style by hash — recomputed here with hub/'s SHA-256 and a base64
 * encoder written from RFC 4648, so a generator that hashed the wrong bytes fails here, without a browser — and
 * allows nothing else: no 'unsafe-inline', no other hosts, and a page that links to no outside URL. The page's
 * behaviour is tested in headless Chromium by tests/e2e/test_playground.sh.
 * Run from the repository root (as `make unit` does): the page's source is read from there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub/sha256.h"
#include "server/playground.h"

#define PG_SOURCE "server/playground/index.html"

/* The embedded page as a NUL-terminated copy (the array has no terminator). */
static char *pg_page(void) {
    char *s = malloc(srv__playground_html_len + 1);
    assert_non_null(s);
    memcpy(s, srv__playground_html, srv__playground_html_len);
    s[srv__playground_html_len] = '\0';
    return s;
}

/* RFC 4648 base64 with padding of n bytes into out (4 * ceil(n / 3) + 1 bytes). */
static void pg_base64(const uint8_t *in, size_t n, char *out) {
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n) v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n) v |= in[i + 2];
        out[o++] = abc[(v >> 18) & 63];
        out[o++] = abc[(v >> 12) & 63];
        out[o++] = i + 1 < n ? abc[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? abc[v & 63] : '=';
    }
    out[o] = '\0';
}

/* "'sha256-BASE64'" of the text between the first `open` tag and the next `close` tag of page. */
static void pg_element_hash(const char *page, const char *open, const char *close, char *out, size_t cap) {
    const char *a = strstr(page, open);
    assert_non_null(a);
    a += strlen(open);
    const char *b = strstr(a, close);
    assert_non_null(b);
    sha256_t s;
    uint8_t d[SHA256_DIGEST_BYTES];
    char b64[48];
    sha256_init(&s);
    sha256_update(&s, a, (size_t)(b - a));
    sha256_final(&s, d);
    pg_base64(d, sizeof d, b64);
    snprintf(out, cap, "'sha256-%s'", b64);
}

static size_t pg_count(const char *hay, const char *needle) {
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void test_base64_rfc4648_vectors(void **state) {
    (void)state;
    static const char *const want[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    char out[16];
    for (size_t n = 0; n <= 6; n++) {
        pg_base64((const uint8_t *)"foobar", n, out);
        assert_string_equal(out, want[n]);
    }
}

static void test_embedded_page_is_the_source(void **state) {
    (void)state;
    FILE *f = fopen(PG_SOURCE, "rb");
    if (!f) fail_msg("cannot open %s: run from the repository root", PG_SOURCE);
    char *src = malloc(srv__playground_html_len + 2);
    assert_non_null(src);
    size_t n = fread(src, 1, srv__playground_html_len + 1, f); /* one more, to see a longer file */
    fclose(f);
    assert_int_equal(n, srv__playground_html_len);
    assert_memory_equal(src, srv__playground_html, n);
    free(src);
}

static void test_page_is_self_contained(void **state) {
    (void)state;
    char *page = pg_page();
    assert_int_equal(strlen(page), srv__playground_html_len); /* no NUL inside */
    assert_true(!strncmp(page, "<!doctype html>", 15));
    assert_non_null(strstr(page, "<meta charset=\"utf-8\">"));
    /* one script and one style element, no inline handlers or style attributes the policy would block */
    assert_int_equal(pg_count(page, "<script"), 1);
    assert_int_equal(pg_count(page, "<style"), 1);
    assert_int_equal(pg_count(page, " onclick="), 0);
    assert_int_equal(pg_count(page, " style=\""), 0);
    /* it talks to the public API only, and to no other host (comments aside) */
    assert_non_null(strstr(page, "\"/v1/models\""));
    assert_non_null(strstr(page, "\"/v1/chat/completions\""));
    char *c;
    while ((c = strstr(page, "<!--"))) {
        char *e = strstr(c, "-->");
        assert_non_null(e);
        memmove(c, e + 3, strlen(e + 3) + 1);
    }
    assert_null(strstr(page, "http://"));
    assert_null(strstr(page, "https://"));
    assert_null(strstr(page, "src=\"//"));
    free(page);
}

static void test_csp_admits_exactly_the_inline_code(void **state) {
    (void)state;
    char *page = pg_page();
    char script[80], style[80], want[200];
    pg_element_hash(page, "<script>", "</script>", script, sizeof script);
    pg_element_hash(page, "<style>", "</style>", style, sizeof style);
    const char *csp = srv__playground_csp;
    snprintf(want, sizeof want, "script-src %s;", script);
    if (!strstr(csp, want)) fail_msg("the policy lacks \"%s\": %s", want, csp);
    snprintf(want, sizeof want, "style-src %s;", style);
    if (!strstr(csp, want)) fail_msg("the policy lacks \"%s\": %s", want, csp);
    assert_true(!strncmp(csp, "default-src 'none';", 19));
    assert_non_null(strstr(csp, "connect-src 'self';"));
    assert_non_null(strstr(csp, "frame-ancestors 'none'"));
    assert_null(strstr(csp, "unsafe"));
    assert_null(strstr(csp, "http"));
    assert_null(strchr(csp, '*'));
    assert_null(strpbrk(csp, "\r\n\"")); /* a valid header value */
    free(page);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64_rfc4648_vectors),
        cmocka_unit_test(test_embedded_page_is_the_source),
        cmocka_unit_test(test_page_is_self_contained),
        cmocka_unit_test(test_csp_admits_exactly_the_inline_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
