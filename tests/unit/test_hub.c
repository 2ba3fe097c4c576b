/*
 * test_hub.c — the pure parts of hub/: SHA-256 against the FIPS 180-2 example vectors (and a shared model's
 * published digest), model-reference parsing, quantization matching and file choice, URL escaping, response
 * header parsing, cache paths and listing, and hub_resolve_model()'s offline paths (existing files and cache
 * hits, with HF_ENDPOINT pointing at a closed port so any network use would fail). Downloads themselves are
 * tested end to end by tests/e2e/test_pull.sh against a local stand-in for the hub.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "hub/hub.h"
#include "hub/hub_int.h"
#include "hub/sha256.h"

/* ---- SHA-256 ---------------------------------------------------------------------------------------------- */

static void sha_hex_of(const void *data, size_t len, char hex[65]) {
    sha256_t s;
    uint8_t d[32];
    sha256_init(&s);
    sha256_update(&s, data, len);
    sha256_final(&s, d);
    sha256_hex(d, hex);
}

static void test_sha256_fips_vectors(void **state) {
    (void)state;
    char hex[65];
    sha_hex_of("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha_hex_of("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha_hex_of(two, strlen(two), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

    /* One million 'a', fed in uneven pieces so every partial-block path runs. */
    sha256_t s;
    uint8_t d[32];
    char chunk[1000];
    memset(chunk, 'a', sizeof chunk);
    sha256_init(&s);
    size_t fed = 0, step = 1;
    while (fed < 1000000) {
        size_t n = step < 1000000 - fed ? step : 1000000 - fed;
        if (n > sizeof chunk) n = sizeof chunk;
        sha256_update(&s, chunk, n);
        fed += n;
        step = step * 7 % 997 + 1;
    }
    sha256_final(&s, d);
    sha256_hex(d, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* Messages of 55, 56, 63, 64 and 65 bytes straddle the padding boundary; pieces must equal one call. */
static void test_sha256_boundaries(void **state) {
    (void)state;
    uint8_t msg[130];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)(i * 31 + 7);
    const size_t lens[] = {55, 56, 57, 63, 64, 65, 119, 120, 128, 130};
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
        char one[65], pieces[65];
        sha_hex_of(msg, lens[k], one);
        sha256_t s;
        uint8_t d[32];
        sha256_init(&s);
        for (size_t i = 0; i < lens[k]; i++)
            sha256_update(&s, msg + i, 1);
        sha256_final(&s, d);
        sha256_hex(d, pieces);
        assert_string_equal(one, pieces);
    }
    /* 56 bytes of "abcdbcde..." is the FIPS two-block vector above: a length that forces a second pad block. */
}

/* The digest MANIFEST.md publishes for stories260K.gguf (1185376 bytes). */
static void test_sha256_shared_model(void **state) {
    (void)state;
    FILE *f = fopen(TEST_SHARED_DIR "/models/stories260K.gguf", "rb");
    if (!f) skip();
    sha256_t s;
    sha256_init(&s);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        sha256_update(&s, buf, n);
    fclose(f);
    uint8_t d[32];
    char hex[65];
    sha256_final(&s, d);
    sha256_hex(d, hex);
    assert_string_equal(hex, "270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d");
}

/* ---- references ----------------------------------------------------------------------------------------------- */

static void test_ref_parse_forms(void **state) {
    (void)state;
    hub_ref_t r;
    char err[256];
    assert_int_equal(hub_ref_parse("HuggingFaceTB/SmolLM2-360M-Instruct-GGUF:Q8_0", &r, err, sizeof err), 0);
    assert_string_equal(r.owner, "HuggingFaceTB");
    assert_string_equal(r.repo, "SmolLM2-360M-Instruct-GGUF");
    assert_string_equal(r.quant, "Q8_0");
    assert_string_equal(r.file, "");

    assert_int_equal(hub_ref_parse("bartowski/Llama-3.2-1B-Instruct-GGUF", &r, err, sizeof err), 0);
    assert_string_equal(r.repo, "Llama-3.2-1B-Instruct-GGUF");
    assert_string_equal(r.quant, "");

    assert_int_equal(hub_ref_parse("a/b/sub dir/model.Q4_K_M.GGUF", &r, err, sizeof err), 0);
    assert_string_equal(r.owner, "a");
    assert_string_equal(r.repo, "b");
    assert_string_equal(r.file, "sub dir/model.Q4_K_M.GGUF");
    assert_string_equal(r.quant, "");

    assert_int_equal(hub_ref_parse("hf.co/o_1/r.x:q4_k_m", &r, err, sizeof err), 0);
    assert_string_equal(r.owner, "o_1");
    assert_string_equal(r.repo, "r.x");
    assert_string_equal(r.quant, "q4_k_m");
    assert_int_equal(hub_ref_parse("huggingface.co/o/r/f.gguf", &r, err, sizeof err), 0);
    assert_string_equal(r.file, "f.gguf");

    char name96[97], ref[300];
    memset(name96, 'x', 96);
    name96[96] = '\0';
    snprintf(ref, sizeof ref, "%s/%s", name96, name96);
    assert_int_equal(hub_ref_parse(ref, &r, err, sizeof err), 0);
    assert_int_equal(strlen(r.repo), 96);
}

static void test_ref_parse_errors(void **state) {
    (void)state;
    hub_ref_t r;
    char err[256];
    const char *bad[] = {
        "",                                             /* empty */
        "justaname",                                    /* no slash */
        "/repo",                                        /* empty owner */
        "owner/",                                       /* empty repo */
        "own er/repo",                                  /* space in a name */
        "owner/re$po",                                  /* bad character */
        "-owner/repo",                                  /* leading '-' */
        "owner/repo.",                                  /* trailing '.' */
        "owner/re--po",                                 /* "--" */
        "owner/re..po",                                 /* ".." */
        "owner/repo:",                                  /* empty quant */
        "owner/repo:Q4 K",                              /* bad quant character */
        "owner/repo:Q8_0/f.gguf",                       /* both forms */
        "owner/repo/model.bin",                         /* not .gguf */
        "owner/repo/../x.gguf",                         /* escapes the cache */
        "owner/repo/a//b.gguf",                         /* empty component */
        "owner/repo/./b.gguf",                          /* "." component */
        "owner/repo/a\\b.gguf",                         /* backslash */
        "owner/repo/a\nb.gguf",                         /* control character */
        "owner/repo/sub/",                              /* trailing slash */
        "owner/repo:Q4_K_M_AND_A_VERY_LONG_SUFFIX_XYZ", /* 33-char quant */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        int rc = hub_ref_parse(bad[i], &r, err, sizeof err);
        if (rc != ERR_INVAL) fail_msg("'%s' parsed (rc %d)", bad[i], rc);
        assert_true(err[0] != '\0');
    }
    char name97[98], ref[300];
    memset(name97, 'x', 97);
    name97[97] = '\0';
    snprintf(ref, sizeof ref, "o/%s", name97);
    assert_int_equal(hub_ref_parse(ref, &r, err, sizeof err), ERR_INVAL);
    assert_int_equal(hub_ref_parse(NULL, &r, err, sizeof err), ERR_INVAL);
}

static void test_path_ok(void **state) {
    (void)state;
    assert_true(hub_path_ok("a.gguf"));
    assert_true(hub_path_ok("dir/sub/a b.gguf"));
    assert_true(hub_path_ok(".hidden/x"));
    assert_true(hub_path_ok("..x/y"));
    assert_false(hub_path_ok(""));
    assert_false(hub_path_ok("/abs"));
    assert_false(hub_path_ok(".."));
    assert_false(hub_path_ok("a/../b"));
    assert_false(hub_path_ok("a/."));
    assert_false(hub_path_ok("a/"));
    assert_false(hub_path_ok("a\tb"));
    assert_false(hub_path_ok("a\x7f"));
    char longp[HUB_FILE_MAX + 2];
    memset(longp, 'a', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    assert_false(hub_path_ok(longp));
    longp[HUB_FILE_MAX] = '\0';
    assert_true(hub_path_ok(longp));
}

/* ---- quantization ------------------------------------------------------------------------------------------ */

static void test_quant_match(void **state) {
    (void)state;
    assert_true(hub_quant_match("Llama-3.2-1B-Instruct-Q4_K_M.gguf", "Q4_K_M"));
    assert_true(hub_quant_match("model.q4_k_m.gguf", "Q4_K_M"));
    assert_true(hub_quant_match("smollm2-360m-instruct-q8_0.gguf", "Q8_0"));
    assert_true(hub_quant_match("Q8_0/model.gguf", "q8_0"));
    assert_true(hub_quant_match("x-Q8_0-00001-of-00002.gguf", "Q8_0"));
    assert_false(hub_quant_match("Llama-3.2-1B-Instruct-Q4_K_M.gguf", "Q4_K"));
    assert_false(hub_quant_match("Meta-Llama-3.1-8B-Instruct-IQ4_XS.gguf", "Q4_XS"));
    assert_false(hub_quant_match("model-Q8_0X.gguf", "Q8_0"));
    assert_false(hub_quant_match("model-F16.gguf", "BF16"));
    assert_false(hub_quant_match("model-BF16.gguf", "F16"));
    assert_false(hub_quant_match("model.gguf", ""));
    assert_false(hub_quant_match("Q8", "Q8_0"));
}

static void test_pick_quant(void **state) {
    (void)state;
    const char *files[] = {"README.md",
                           "model-Q4_K_M.gguf",
                           "model-Q4_K_S.gguf",
                           "model-Q8_0.gguf",
                           "mmproj-model-Q8_0.gguf",
                           "model-IQ4_XS.gguf",
                           "model-f16.gguf",
                           "big/model-Q6_K-00001-of-00002.gguf",
                           "big/model-Q6_K-00002-of-00002.gguf"};
    size_t n = sizeof files / sizeof files[0], idx = 99;
    char err[512];
    assert_int_equal(hub_pick_file(files, n, "q4_k_m", &idx, err, sizeof err), 0);
    assert_string_equal(files[idx], "model-Q4_K_M.gguf");
    assert_int_equal(hub_pick_file(files, n, "Q8_0", &idx, err, sizeof err), 0); /* mmproj left out */
    assert_string_equal(files[idx], "model-Q8_0.gguf");
    assert_int_equal(hub_pick_file(files, n, "IQ4_XS", &idx, err, sizeof err), 0);
    assert_string_equal(files[idx], "model-IQ4_XS.gguf");
    assert_int_equal(hub_pick_file(files, n, "F16", &idx, err, sizeof err), 0);
    assert_string_equal(files[idx], "model-f16.gguf");
    /* "Q4_K" is no tag of any file; as a substring it matches two: ambiguous, both named. */
    assert_int_equal(hub_pick_file(files, n, "Q4_K", &idx, err, sizeof err), ERR_INVAL);
    assert_non_null(strstr(err, "model-Q4_K_M.gguf"));
    assert_non_null(strstr(err, "model-Q4_K_S.gguf"));
    /* Only split shards: refused with a reason. */
    assert_int_equal(hub_pick_file(files, n, "Q6_K", &idx, err, sizeof err), ERR_UNSUPPORTED);
    assert_non_null(strstr(err, "split"));
    /* Nothing: the available files are listed. */
    assert_int_equal(hub_pick_file(files, n, "Q5_K_M", &idx, err, sizeof err), ERR_NOTFOUND);
    assert_non_null(strstr(err, "model-Q8_0.gguf"));
    assert_null(strstr(err, "README"));
    /* A substring that names one file only. */
    const char *two[] = {"tinyk-Q4_K_M.gguf", "tinyk-Q6_K.gguf"};
    assert_int_equal(hub_pick_file(two, 2, "q4_k", &idx, err, sizeof err), 0);
    assert_int_equal(idx, 0);
}

static void test_pick_default(void **state) {
    (void)state;
    char err[512];
    size_t idx = 99;
    const char *a[] = {"m-Q4_K_M.gguf", "m-F16.gguf", "m-Q8_0.gguf", "m-Q6_K.gguf"};
    assert_int_equal(hub_pick_file(a, 4, NULL, &idx, err, sizeof err), 0);
    assert_string_equal(a[idx], "m-Q8_0.gguf");
    const char *b[] = {"m-F16.gguf", "m-Q6_K.gguf", "m-Q4_K_M.gguf"};
    assert_int_equal(hub_pick_file(b, 3, "", &idx, err, sizeof err), 0);
    assert_string_equal(b[idx], "m-Q4_K_M.gguf");
    const char *c[] = {"m-BF16.gguf", "m-F32.gguf"};
    assert_int_equal(hub_pick_file(c, 2, NULL, &idx, err, sizeof err), 0);
    assert_string_equal(c[idx], "m-BF16.gguf");
    const char *d[] = {"README.md", "ggml-model.gguf"}; /* untagged but alone */
    assert_int_equal(hub_pick_file(d, 2, NULL, &idx, err, sizeof err), 0);
    assert_int_equal(idx, 1);
    const char *e[] = {"x.gguf", "y.gguf"}; /* untagged and several */
    assert_int_equal(hub_pick_file(e, 2, NULL, &idx, err, sizeof err), ERR_INVAL);
    assert_non_null(strstr(err, "x.gguf"));
    const char *f[] = {"a-Q8_0.gguf", "b-Q8_0.gguf"}; /* the default tag is ambiguous */
    assert_int_equal(hub_pick_file(f, 2, NULL, &idx, err, sizeof err), ERR_INVAL);
    const char *g[] = {"README.md", "config.json"};
    assert_int_equal(hub_pick_file(g, 2, NULL, &idx, err, sizeof err), ERR_NOTFOUND);
    assert_int_equal(hub_pick_file(NULL, 0, "Q8_0", &idx, err, sizeof err), ERR_NOTFOUND);
}

/* More than 64 paths takes the heap path of the chooser. */
static void test_pick_many(void **state) {
    (void)state;
    enum { N = 300 };
    static char names[N][32];
    const char *paths[N];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "m%03d-Q%d_0.gguf", i, i == 250 ? 8 : 4);
        paths[i] = names[i];
    }
    size_t idx = 0;
    char err[512];
    assert_int_equal(hub_pick_file(paths, N, NULL, &idx, err, sizeof err), 0);
    assert_int_equal(idx, 250);
    assert_int_equal(hub_pick_file(paths, N, "Q4_0", &idx, err, sizeof err), ERR_INVAL);
    assert_non_null(strstr(err, "more"));
}

static void test_url_escape(void **state) {
    (void)state;
    char out[64];
    assert_int_equal(hub_url_escape_path("sub dir/a+b~c_d-e.gguf", out, sizeof out), 0);
    assert_string_equal(out, "sub%20dir/a%2Bb~c_d-e.gguf");
    assert_int_equal(hub_url_escape_path("\xc3\xa9?#%", out, sizeof out), 0);
    assert_string_equal(out, "%C3%A9%3F%23%25");
    assert_int_equal(hub_url_escape_path("abc", out, 4), 0);
    assert_int_equal(hub_url_escape_path("abc", out, 3), ERR_RANGE);
    assert_int_equal(hub_url_escape_path(" ", out, 3), ERR_RANGE);
    assert_int_equal(hub_url_escape_path(" ", out, 4), 0);
    assert_int_equal(hub_url_escape_path("", out, 0), ERR_RANGE);
}

/* ---- response headers ---------------------------------------------------------------------------------------- */

static void feed(hub__headers_t *hd, const char *line) { hub__header_line(hd, line, strlen(line)); }

static void test_headers_redirect(void **state) {
    (void)state;
    hub__headers_t hd;
    hub__headers_reset(&hd);
    const char *sha = "270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d";
    char line[200];
    /* The hub's redirect: digest in X-Linked-Etag (upper case here) and ETag. */
    feed(&hd, "HTTP/1.1 302 Found\r\n");
    assert_int_equal(hd.status, 302);
    snprintf(line, sizeof line, "x-linked-etag: \"%s\"\r\n",
             "270CBA1BD5109F42D03350F60406024560464DB173C0E387D91F0426D3BD256D");
    feed(&hd, line);
    feed(&hd, "X-Linked-Size: 1185376\r\n");
    feed(&hd, "X-Error-Code: nothing\r\n");
    /* The CDN: an MD5 ETag that must not replace the digest, and a partial response. */
    feed(&hd, "HTTP/2 206\r\n");
    assert_int_equal(hd.status, 206);
    assert_string_equal(hd.error_code, "");
    feed(&hd, "ETag: \"d41d8cd98f00b204e9800998ecf8427e\"\r\n");
    feed(&hd, "Content-Range: bytes 100-1185375/1185376\r\n");
    feed(&hd, "content-length:   1185276  \r\n");
    assert_string_equal(hd.sha256, sha);
    assert_true(hd.sha_from_linked);
    assert_int_equal(hd.linked_size, 1185376);
    assert_int_equal(hd.range_start, 100);
    assert_int_equal(hd.range_total, 1185376);
    assert_int_equal(hd.content_length, 1185276);
    /* A later SHA-looking ETag does not override X-Linked-Etag either. */
    snprintf(line, sizeof line, "ETag: W/\"%064d\"", 0);
    feed(&hd, line);
    assert_string_equal(hd.sha256, sha);
}

static void test_headers_etag_and_errors(void **state) {
    (void)state;
    hub__headers_t hd;
    hub__headers_reset(&hd);
    const char *sha = "4cd29bbe9cb3b735750837816a43c3dd4b473dbd658e8612816f7c4d3926ac21";
    char line[200];
    feed(&hd, "HTTP/1.1 200 OK");
    snprintf(line, sizeof line, "ETag: W/\"%s\"", sha);
    feed(&hd, line);
    assert_string_equal(hd.sha256, sha);
    assert_false(hd.sha_from_linked);
    hub__headers_reset(&hd);
    feed(&hd, "ETag: \"0123\"");                                                            /* too short: no digest */
    feed(&hd, "ETag: \"zz29bbe9cb3b735750837816a43c3dd4b473dbd658e8612816f7c4d3926ac21\""); /* not hex */
    assert_string_equal(hd.sha256, "");
    feed(&hd, "Content-Range: bytes */1234"); /* 416 form: no start */
    assert_int_equal(hd.range_start, -1);
    feed(&hd, "Content-Length: 12a");
    assert_int_equal(hd.content_length, -1);
    feed(&hd, "Content-Length: 99999999999999999999999");
    assert_int_equal(hd.content_length, -1);
    feed(&hd, "HTTP/1.1 404 Not Found");
    feed(&hd, "X-Error-Code: RepoNotFound");
    feed(&hd, "X-Error-Message: Repository not found");
    feed(&hd, "garbage without a colon");
    feed(&hd, ":");
    feed(&hd, "HTTP/");
    assert_int_equal(hd.status, 0);
    feed(&hd, "HTTP/1.1 404 Not Found");
    feed(&hd, "X-Error-Code: RepoNotFound");
    char err[512];
    assert_int_equal(hub__http_error(&hd, "o/r", false, err, sizeof err), ERR_NOTFOUND);
    assert_non_null(strstr(err, "repository not found"));
    hd.status = 401;
    hd.error_code[0] = '\0';
    assert_int_equal(hub__http_error(&hd, "o/r", false, err, sizeof err), ERR_IO);
    assert_non_null(strstr(err, "HF_TOKEN"));
    assert_int_equal(hub__http_error(&hd, "o/r", true, err, sizeof err), ERR_IO);
    assert_non_null(strstr(err, "rejected"));
    hd.status = 403;
    assert_int_equal(hub__http_error(&hd, "o/r", false, err, sizeof err), ERR_IO);
    assert_non_null(strstr(err, "HF_TOKEN"));
    assert_non_null(strstr(err, "403"));
}

static void test_headers_link(void **state) {
    (void)state;
    hub__headers_t hd;
    hub__headers_reset(&hd);
    feed(&hd, "HTTP/1.1 200 OK");
    feed(&hd, "Link: <https://h/api/models/o/r/tree/main?cursor=abc>; rel=\"next\"");
    assert_string_equal(hd.next_url, "https://h/api/models/o/r/tree/main?cursor=abc");
    feed(&hd, "HTTP/1.1 200 OK"); /* a new response forgets it */
    assert_string_equal(hd.next_url, "");
    feed(&hd, "Link: <https://h/p1>; rel=\"prev\", <https://h/p3>; rel=next");
    assert_string_equal(hd.next_url, "https://h/p3");
    hub__headers_reset(&hd);
    feed(&hd, "Link: <https://h/p1>; rel=\"prev\"");
    feed(&hd, "Link: <unterminated; rel=\"next\"");
    feed(&hd, "Link: <x>; r");
    assert_string_equal(hd.next_url, "");
}

/* ---- the cache ---------------------------------------------------------------------------------------------- */

static void test_cache_root(void **state) {
    (void)state;
    char out[HUB_PATH_MAX], err[256];
    config_env_t env = {.xdg_cache_home = "/x/cache", .home = "/home/u"};
    assert_int_equal(hub_cache_root(&env, out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, "/x/cache/cinder");
    env.xdg_cache_home = "relative/cache"; /* ignored, as the XDG spec says */
    assert_int_equal(hub_cache_root(&env, out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, "/home/u/.cache/cinder");
    env.xdg_cache_home = NULL;
    assert_int_equal(hub_cache_root(&env, out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, "/home/u/.cache/cinder");
    env.home = NULL;
    assert_int_equal(hub_cache_root(&env, out, sizeof out, err, sizeof err), ERR_NOTFOUND);
    assert_non_null(strstr(err, "HOME"));
    env.home = "/h";
    assert_int_equal(hub_cache_root(&env, out, 10, err, sizeof err), ERR_RANGE);
    assert_int_equal(hub_cache_path(&env, "o", "r", "sub/f.gguf", out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, "/h/.cache/cinder/models/o/r/sub/f.gguf");
    assert_int_equal(hub_cache_path(&env, "o", "r", "sub/f.gguf", out, 30, err, sizeof err), ERR_RANGE);
}

static void write_file(const char *path, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < n; i++)
        fputc((int)(i & 0xff), f);
    fclose(f);
}

static void make_dirs(const char *root, const char *rel) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    for (char *s = p + strlen(root) + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            mkdir(p, 0755);
            *s = '/';
        }
    mkdir(p, 0755);
}

typedef struct {
    char dir[256];
    config_env_t env;
} cache_fixture_t;

static int cache_setup(void **state) {
    cache_fixture_t *fx = calloc(1, sizeof *fx);
    if (!fx) return -1;
    snprintf(fx->dir, sizeof fx->dir, "/tmp/cinder-test-hub-XXXXXX");
    if (!mkdtemp(fx->dir)) return -1;
    fx->env.xdg_cache_home = fx->dir;
    fx->env.hf_endpoint = "http://127.0.0.1:1"; /* a closed port: any network use fails at once */
    *state = fx;
    return 0;
}

static int cache_teardown(void **state) {
    cache_fixture_t *fx = *state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    int rc = system(cmd);
    free(fx);
    return rc == 0 ? 0 : -1;
}

/* Builds: o/r/{m-Q8_0.gguf 100, m-Q4_K_M.gguf 50, m-Q6_K.gguf.part 30, notes.txt, .hidden.gguf},
 * o/r/sub/x.gguf 10, a/b/c-F16.gguf 20, and a stray o/stray.gguf at the owner level. */
static void cache_fill(const cache_fixture_t *fx) {
    char m[300], p[400];
    snprintf(m, sizeof m, "%s/cinder/models", fx->dir);
    make_dirs(fx->dir, "cinder/models/o/r/sub");
    make_dirs(fx->dir, "cinder/models/a/b");
    const struct {
        const char *rel;
        size_t n;
    } files[] = {{"o/r/m-Q8_0.gguf", 100}, {"o/r/m-Q4_K_M.gguf", 50}, {"o/r/m-Q6_K.gguf.part", 30},
                 {"o/r/notes.txt", 5},     {"o/r/.hidden.gguf", 5},   {"o/r/sub/x.gguf", 10},
                 {"a/b/c-F16.gguf", 20},   {"o/stray.gguf", 7}};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", m, files[i].rel);
        write_file(p, files[i].n);
    }
}

static void test_cache_list(void **state) {
    cache_fixture_t *fx = *state;
    hub_cached_t *items = (hub_cached_t *)1;
    size_t n = 99;
    char err[256];
    assert_int_equal(hub_cache_list(&fx->env, &items, &n, err, sizeof err), 0); /* no cache yet */
    assert_int_equal(n, 0);
    assert_null(items);
    hub_cache_list_free(NULL, 0);

    cache_fill(fx);
    assert_int_equal(hub_cache_list(&fx->env, &items, &n, err, sizeof err), 0);
    assert_int_equal(n, 5);
    assert_string_equal(items[0].ref, "a/b/c-F16.gguf");
    assert_int_equal(items[0].size_bytes, 20);
    assert_string_equal(items[1].ref, "o/r/m-Q4_K_M.gguf");
    assert_string_equal(items[2].ref, "o/r/m-Q6_K.gguf");
    assert_true(items[2].partial);
    assert_int_equal(items[2].size_bytes, 30);
    assert_string_equal(items[3].ref, "o/r/m-Q8_0.gguf");
    assert_false(items[3].partial);
    assert_int_equal(items[3].size_bytes, 100);
    assert_string_equal(items[4].ref, "o/r/sub/x.gguf");
    char want[400];
    snprintf(want, sizeof want, "%s/cinder/models/o/r/sub/x.gguf", fx->dir);
    assert_string_equal(items[4].path, want);
    hub_cache_list_free(items, n);
}

/* hub_resolve_model without the network: files and cache hits. */
static void test_resolve_offline(void **state) {
    cache_fixture_t *fx = *state;
    cache_fill(fx);
    char out[HUB_PATH_MAX], err[512], want[400];

    /* An existing file is used as is. */
    snprintf(want, sizeof want, "%s/cinder/models/a/b/c-F16.gguf", fx->dir);
    assert_int_equal(hub_resolve_model(&fx->env, want, out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, want);
    /* A directory is not a model. */
    assert_int_equal(hub_resolve_model(&fx->env, fx->dir, out, sizeof out, err, sizeof err), ERR_INVAL);
    /* Missing things that look like paths are not looked up on the hub. */
    assert_int_equal(hub_resolve_model(&fx->env, "./nope.gguf", out, sizeof out, err, sizeof err), ERR_NOTFOUND);
    assert_non_null(strstr(err, "no such file"));
    assert_int_equal(hub_resolve_model(&fx->env, "models/nope.gguf", out, sizeof out, err, sizeof err), ERR_NOTFOUND);
    assert_int_equal(hub_resolve_model(&fx->env, "nope.gguf", out, sizeof out, err, sizeof err), ERR_NOTFOUND);
    assert_int_equal(hub_resolve_model(&fx->env, "", out, sizeof out, err, sizeof err), ERR_INVAL);

    /* Cache hits: by quant (partial files do not count), by default, by file. */
    snprintf(want, sizeof want, "%s/cinder/models/o/r/m-Q4_K_M.gguf", fx->dir);
    assert_int_equal(hub_resolve_model(&fx->env, "o/r:q4_k_m", out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, want);
    snprintf(want, sizeof want, "%s/cinder/models/o/r/m-Q8_0.gguf", fx->dir);
    assert_int_equal(hub_resolve_model(&fx->env, "hf.co/o/r", out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, want);
    snprintf(want, sizeof want, "%s/cinder/models/o/r/sub/x.gguf", fx->dir);
    assert_int_equal(hub_resolve_model(&fx->env, "o/r/sub/x.gguf", out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, want);
    assert_int_equal(hub_resolve_model(&fx->env, "o/r:Q4_K_M", out, 10, err, sizeof err), ERR_RANGE);

    /* Not cached: a pull is attempted, and the closed port makes it fail with a network error. */
    assert_int_equal(hub_resolve_model(&fx->env, "o/r:Q6_K", out, sizeof out, err, sizeof err), ERR_IO);
    assert_non_null(strstr(err, "127.0.0.1:1"));
    assert_int_equal(hub_resolve_model(&fx->env, "o/r/other.gguf", out, sizeof out, err, sizeof err), ERR_IO);
    /* A relative path under an existing local directory is a missing file, not a hub lookup. */
    char cwd[1024];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(fx->dir), 0);
    int rc = hub_resolve_model(&fx->env, "cinder/sub/x.gguf", out, sizeof out, err, sizeof err);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rc, ERR_NOTFOUND);
    assert_non_null(strstr(err, "no such file"));

    /* A bad reference is reported as such. */
    assert_int_equal(hub_resolve_model(&fx->env, "o/r:", out, sizeof out, err, sizeof err), ERR_INVAL);
}

static void test_format_size(void **state) {
    (void)state;
    char b[32];
    assert_string_equal(hub_format_size(-1, b, sizeof b), "?");
    assert_string_equal(hub_format_size(512, b, sizeof b), "512 B");
    assert_string_equal(hub_format_size(1536, b, sizeof b), "1.5 KiB");
    assert_string_equal(hub_format_size(379168, b, sizeof b), "370.3 KiB");
    assert_string_equal(hub_format_size((int64_t)3 << 30, b, sizeof b), "3.00 GiB");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_fips_vectors),
        cmocka_unit_test(test_sha256_boundaries),
        cmocka_unit_test(test_sha256_shared_model),
        cmocka_unit_test(test_ref_parse_forms),
        cmocka_unit_test(test_ref_parse_errors),
        cmocka_unit_test(test_path_ok),
        cmocka_unit_test(test_quant_match),
        cmocka_unit_test(test_pick_quant),
        cmocka_unit_test(test_pick_default),
        cmocka_unit_test(test_pick_many),
        cmocka_unit_test(test_url_escape),
        cmocka_unit_test(test_headers_redirect),
        cmocka_unit_test(test_headers_etag_and_errors),
        cmocka_unit_test(test_headers_link),
        cmocka_unit_test(test_cache_root),
        cmocka_unit_test_setup_teardown(test_cache_list, cache_setup, cache_teardown),
        cmocka_unit_test_setup_teardown(test_resolve_offline, cache_setup, cache_teardown),
        cmocka_unit_test(test_format_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
