/*
 * test_template_golden.c — the acceptance corpus: real chat templates rendered against Jinja2's own output.
 *
 * TEST_SHARED_DIR/templates holds jinja/NAME.jinja (templates from real models), contexts/CTX.json (chat
 * requests) and expected/NAME/CTX.txt (what Python's Jinja2 rendered, with SOURCE_DATE_EPOCH=1795651200) or
 * expected/NAME/CTX.error (Jinja2 raised). Every .txt must be reproduced byte for byte and every .error case
 * must fail. Failures are listed with the first differing byte and a snippet of both sides, then counted.
 *
 * The chat templates carried in the vocab GGUFs of current model families (TEST_SHARED_DIR/models/vocab/
 * ggml-vocab-VOCAB.gguf: Qwen3, Llama 3.1, Gemma 3, gpt-oss) are read from the files themselves and rendered with
 * the shared contexts and ours (tests/templates/contexts: builtin tools, training turns, parallel calls, content
 * parts, ...), against tests/templates/expected/VOCAB/CTX.{txt,error}, which tests/templates/gen_expected.py
 * rendered with Jinja2 in Hugging Face's environment (its --check mode reproduces the whole shared corpus).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cJSON.h>

#include "gguf.h"
#include "template/tmpl.h"

#ifndef TEST_SHARED_DIR
#define TEST_SHARED_DIR "/work/shared"
#endif

#define GOLDEN_DIR TEST_SHARED_DIR "/templates"
#define GOLDEN_NOW 1795651200 /* the SOURCE_DATE_EPOCH the expectations were rendered with */

/* Reads a whole file (NUL-terminated); NULL if it does not exist. */
static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) return NULL;
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

/* Sorted names in dir ending with suffix, suffix removed. Returns the count; *names is malloc'd. */
static size_t list_dir(const char *dir, const char *suffix, char ***names) {
    struct dirent **ents;
    int n = scandir(dir, &ents, NULL, alphasort);
    size_t count = 0, sl = strlen(suffix);
    *names = NULL;
    if (n < 0) return 0;
    *names = calloc((size_t)n + 1, sizeof(char *));
    for (int i = 0; i < n; i++) {
        size_t l = strlen(ents[i]->d_name);
        if (*names && l > sl && strcmp(ents[i]->d_name + l - sl, suffix) == 0)
            (*names)[count++] = strndup(ents[i]->d_name, l - sl);
        free(ents[i]);
    }
    free(ents);
    return count;
}

static void free_names(char **names, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Prints s[from..from+len) with control characters escaped. */
static void print_snippet(const char *label, const char *s, size_t n, size_t from, size_t len) {
    char buf[512];
    size_t o = 0;
    for (size_t i = from; i < n && i < from + len && o + 5 < sizeof(buf); i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\\n");
        else if (c < 0x20)
            o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\\x%02x", c);
        else
            buf[o++] = (char)c;
    }
    buf[o] = 0;
    print_error("    %s: \"%s\"\n", label, buf);
}

typedef struct {
    int passed, failed, skipped;
} tally_t;

/* Renders t with CONTEXT_DIR/cname.json and compares with EXPECTED_DIR/name/cname.{txt,error}. */
static void check_pair(const char *context_dir, const char *expected_dir, const char *name, const tmpl_t *t,
                       const char *compile_err, const char *cname, tally_t *tally) {
    char path[1024], err[1024] = "";
    size_t want_len = 0, got_len = 0;
    snprintf(path, sizeof(path), "%s/%s/%s.txt", expected_dir, name, cname);
    char *want = slurp(path, &want_len);
    snprintf(path, sizeof(path), "%s/%s/%s.error", expected_dir, name, cname);
    struct stat st;
    bool want_error = !want && stat(path, &st) == 0;
    if (!want && !want_error) {
        tally->skipped++;
        return;
    }
    snprintf(path, sizeof(path), "%s/%s.json", context_dir, cname);
    char *ctx_text = slurp(path, NULL);
    cJSON *ctx = ctx_text ? cJSON_Parse(ctx_text) : NULL;
    char *got = NULL;
    int rc = -1;
    if (t && ctx) {
        tmpl_render_opts_t opts;
        tmpl_render_opts_default(&opts);
        opts.now = GOLDEN_NOW;
        rc = tmpl_render(t, ctx, &opts, &got, &got_len, err, sizeof(err));
    } else {
        snprintf(err, sizeof(err), "%s", !t ? compile_err : "cannot read the context");
    }
    if (want_error) {
        if (rc != 0)
            tally->passed++;
        else {
            tally->failed++;
            print_error("FAIL %s / %s: Jinja2 raised an error but this rendered %zu bytes\n", name, cname, got_len);
        }
    } else if (rc != 0) {
        tally->failed++;
        print_error("FAIL %s / %s: render failed: %s\n", name, cname, err);
    } else if (got_len != want_len || memcmp(got, want, want_len) != 0) {
        size_t at = 0;
        while (at < got_len && at < want_len && got[at] == want[at])
            at++;
        tally->failed++;
        print_error("FAIL %s / %s: output differs at byte %zu (expected %zu bytes, got %zu)\n", name, cname, at,
                    want_len, got_len);
        size_t from = at > 40 ? at - 40 : 0;
        print_snippet("expected", want, want_len, from, 100);
        print_snippet("got     ", got, got_len, from, 100);
    } else {
        tally->passed++;
    }
    free(got);
    cJSON_Delete(ctx);
    free(ctx_text);
    free(want);
}

static void test_golden_corpus(void **state) {
    char **tnames, **cnames;
    size_t nt = list_dir(GOLDEN_DIR "/jinja", ".jinja", &tnames);
    size_t nc = list_dir(GOLDEN_DIR "/contexts", ".json", &cnames);
    tally_t tally = {0};
    for (size_t i = 0; i < nt; i++) {
        char path[1024], err[1024] = "";
        size_t len;
        snprintf(path, sizeof(path), GOLDEN_DIR "/jinja/%s.jinja", tnames[i]);
        char *src = slurp(path, &len);
        tmpl_t *t = NULL;
        if (!src)
            snprintf(err, sizeof(err), "cannot read %.900s", path);
        else if (tmpl_compile(src, len, &t, err, sizeof(err)) != 0)
            t = NULL;
        for (size_t j = 0; j < nc; j++)
            check_pair(GOLDEN_DIR "/contexts", GOLDEN_DIR "/expected", tnames[i], t, err, cnames[j], &tally);
        tmpl_free(t);
        free(src);
    }
    print_message("golden: %d passed, %d failed, %d without expectation (%zu templates x %zu contexts)\n", tally.passed,
                  tally.failed, tally.skipped, nt, nc);
    free_names(tnames, nt);
    free_names(cnames, nc);
    assert_true(nt > 0 && nc > 0);
    assert_int_equal(tally.failed, 0);
}

/* The repository's tests/templates/SUB, found from this file's path (tests/unit/test_template_golden.c). */
static void repo_templates_dir(char *out, size_t cap, const char *sub) {
    const char *me = __FILE__, *p = strstr(me, "tests/unit/");
    snprintf(out, cap, "%.*stests/templates/%s", (int)(p ? p - me : 0), me, sub);
}

static const char *const vocab_names[] = {"qwen3", "llama3_1", "gemma3", "gptoss"};

static void test_vocab_templates(void **state) {
    (void)state;
    char dir[512], ours[512];
    repo_templates_dir(dir, sizeof dir, "expected");
    repo_templates_dir(ours, sizeof ours, "contexts");
    char **cnames, **onames;
    size_t nc = list_dir(GOLDEN_DIR "/contexts", ".json", &cnames);
    size_t no = list_dir(ours, ".json", &onames);
    tally_t tally = {0};
    for (size_t i = 0; i < sizeof vocab_names / sizeof vocab_names[0]; i++) {
        char path[1024], err[1024] = "";
        snprintf(path, sizeof(path), TEST_SHARED_DIR "/models/vocab/ggml-vocab-%s.gguf", vocab_names[i]);
        gguf_t *g = NULL;
        gguf_str_t src;
        tmpl_t *t = NULL;
        if (gguf_open(path, &g, err, sizeof err) != 0)
            ;
        else if (gguf_get_str(g, "tokenizer.chat_template", &src) != 0)
            snprintf(err, sizeof(err), "%.900s has no tokenizer.chat_template", path);
        else if (tmpl_compile(src.ptr, (size_t)src.len, &t, err, sizeof(err)) != 0)
            t = NULL;
        for (size_t j = 0; j < nc; j++)
            check_pair(GOLDEN_DIR "/contexts", dir, vocab_names[i], t, err, cnames[j], &tally);
        for (size_t j = 0; j < no; j++)
            check_pair(ours, dir, vocab_names[i], t, err, onames[j], &tally);
        tmpl_free(t);
        gguf_close(g);
    }
    print_message("vocab templates: %d passed, %d failed, %d without expectation (%zu templates x %zu contexts)\n",
                  tally.passed, tally.failed, tally.skipped, sizeof vocab_names / sizeof vocab_names[0], nc + no);
    free_names(cnames, nc);
    free_names(onames, no);
    assert_true(no > 0);
    assert_int_equal(tally.skipped, 0);
    assert_int_equal(tally.passed, (int)((nc + no) * (sizeof vocab_names / sizeof vocab_names[0])));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_corpus),
        cmocka_unit_test(test_vocab_templates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
