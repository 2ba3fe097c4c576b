/*
 * test_grammar.c — the grammar core (builder, lowering checks, the byte-level matcher, limits) and the regex subset.
 *
 * Expected verdicts come from the definitions: a regex matches the whole input (gram_from_regex is anchored) and
 * follows ECMA-262 syntax; the builder's operators are those of gram_build.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "grammar/gram_build.h"
#include "grammar/grammar.h"

/* 1 when s (n bytes) is a complete document of g, 0 when it is a viable prefix only, -1 when rejected. */
static int run(const gram_t *g, const char *s, size_t n) {
    gram_matcher_t *m = NULL;
    char err[256];
    assert_int_equal(gram_matcher_create(g, NULL, NULL, &m, err, sizeof err), 0);
    int rc = gram_matcher_accept_bytes(m, s, n);
    int res = rc ? -1 : gram_matcher_accepting(m) ? 1 : 0;
    gram_matcher_free(m);
    return res;
}

static int runs(const gram_t *g, const char *s) { return run(g, s, strlen(s)); }

static gram_t *regex(const char *re) {
    gram_t *g = NULL;
    char err[256] = "";
    int rc = gram_from_regex(re, strlen(re), &g, err, sizeof err);
    if (rc) fail_msg("regex %s: %s", re, err);
    return g;
}

static void test_builder_literals_and_repeats(void **state) {
    (void)state;
    gram_builder_t *b = gram_build_new();
    gram_set_t digits;
    memset(&digits, 0, sizeof digits);
    gram_set_add_range(&digits, '0', '9');
    /* root: "id=" [0-9]{2,4} ("!" | "?")? */
    uint32_t root = gram_seqv(b, 3, gram_str(b, "id="), gram_repeat(b, gram_set(b, &digits), 2, 4),
                              gram_repeat(b, gram_altv(b, 2, gram_str(b, "!"), gram_str(b, "?")), 0, 1));
    gram_rule_define(b, GRAM_ROOT, root);
    gram_t *g = NULL;
    char err[256];
    assert_int_equal(gram_build_compile(b, &g, err, sizeof err), 0);
    gram_build_free(b);
    assert_int_equal(runs(g, "id=12"), 1);
    assert_int_equal(runs(g, "id=1234"), 1);
    assert_int_equal(runs(g, "id=1234!"), 1);
    assert_int_equal(runs(g, "id=12?"), 1);
    assert_int_equal(runs(g, "id=1"), 0);
    assert_int_equal(runs(g, "id="), 0);
    assert_int_equal(runs(g, "id=12345"), -1);
    assert_int_equal(runs(g, "id=12!!"), -1);
    assert_int_equal(runs(g, "ID=12"), -1);
    assert_int_equal(runs(g, ""), 0);

    /* done: after "!" nothing may follow; after "12" more digits may */
    gram_matcher_t *m = NULL;
    assert_int_equal(gram_matcher_create(g, NULL, NULL, &m, err, sizeof err), 0);
    assert_int_equal(gram_matcher_accept_bytes(m, "id=12", 5), 0);
    assert_true(gram_matcher_accepting(m));
    assert_false(gram_matcher_done(m));
    gram_matcher_t *c = NULL;
    assert_int_equal(gram_matcher_create(g, NULL, NULL, &c, err, sizeof err), 0);
    assert_int_equal(gram_matcher_copy(c, m), 0);
    assert_int_equal(gram_matcher_accept_bytes(m, "!", 1), 0);
    assert_true(gram_matcher_done(m));
    assert_int_equal(gram_matcher_accept_bytes(m, "x", 1), ERR_STATE);
    /* the copy is independent and a rejected byte leaves it unchanged */
    assert_int_equal(gram_matcher_accept_bytes(c, "x", 1), ERR_STATE);
    assert_int_equal(gram_matcher_accept_bytes(c, "34", 2), 0);
    assert_true(gram_matcher_accepting(c));
    assert_int_equal(gram_matcher_accept_bytes(c, "5", 1), ERR_STATE);
    gram_matcher_reset(c);
    assert_false(gram_matcher_accepting(c));
    assert_int_equal(gram_matcher_accept_bytes(c, "id=99?", 6), 0);
    assert_true(gram_matcher_done(c));
    gram_matcher_free(m);
    gram_matcher_free(c);
    /* a retained grammar survives one gram_free */
    assert_ptr_equal(gram_retain(g), g);
    gram_free(g);
    assert_int_equal(runs(g, "id=12"), 1);
    gram_free(g);
}

/* P -> "(" P ")" P | "" : balanced parentheses, by recursion through a named rule. */
static gram_t *parens(void) {
    gram_builder_t *b = gram_build_new();
    uint32_t p = GRAM_ROOT;
    gram_rule_define(b, p,
                     gram_altv(b, 2,
                               gram_seqv(b, 4, gram_str(b, "("), gram_ref(b, p), gram_str(b, ")"), gram_ref(b, p)),
                               gram_empty(b)));
    gram_t *g = NULL;
    char err[256];
    assert_int_equal(gram_build_compile(b, &g, err, sizeof err), 0);
    gram_build_free(b);
    return g;
}

static void test_recursion(void **state) {
    (void)state;
    gram_t *g = parens();
    assert_int_equal(runs(g, ""), 1);
    assert_int_equal(runs(g, "()"), 1);
    assert_int_equal(runs(g, "(()())()"), 1);
    assert_int_equal(runs(g, "(()"), 0);
    assert_int_equal(runs(g, "())"), -1);
    assert_int_equal(runs(g, ")"), -1);
    /* a long document, fed byte by byte: the arena is compacted many times on the way */
    gram_matcher_t *m = NULL;
    char err[256];
    assert_int_equal(gram_matcher_create(g, NULL, NULL, &m, err, sizeof err), 0);
    const char *unit = "(()(()))(((())))";
    int depth = 0;
    for (int rep = 0; rep < 4000; rep++)
        for (const char *p = unit; *p; p++) {
            assert_int_equal(gram_matcher_accept_bytes(m, p, 1), 0);
            depth += *p == '(' ? 1 : -1;
            assert_int_equal(gram_matcher_accepting(m), depth == 0);
        }
    assert_true(gram_matcher_accepting(m));
    assert_int_equal(gram_matcher_accept_bytes(m, ")", 1), ERR_STATE);
    gram_matcher_t *c = NULL;
    assert_int_equal(gram_matcher_create(g, NULL, NULL, &c, err, sizeof err), 0);
    assert_int_equal(gram_matcher_accept_bytes(m, "((", 2), 0);
    assert_int_equal(gram_matcher_copy(c, m), 0);
    assert_int_equal(gram_matcher_accept_bytes(c, "))", 2), 0);
    assert_true(gram_matcher_accepting(c));
    assert_false(gram_matcher_accepting(m));
    gram_matcher_free(c);
    gram_matcher_free(m);
    gram_free(g);
}

static void test_depth_limit(void **state) {
    (void)state;
    gram_t *g = parens();
    size_t n = GRAM_MAX_DEPTH + 10;
    char *s = malloc(n);
    memset(s, '(', n);
    gram_matcher_t *m = NULL;
    char err[256];
    assert_int_equal(gram_matcher_create(g, NULL, NULL, &m, err, sizeof err), 0);
    int rc = 0;
    size_t i = 0;
    for (; i < n && rc == 0; i++)
        rc = gram_matcher_accept_bytes(m, s + i, 1);
    assert_int_equal(rc, ERR_LIMIT); /* refused at the cap, no crash */
    assert_true(i > GRAM_MAX_DEPTH / 2 && i <= GRAM_MAX_DEPTH + 1);
    assert_int_equal(gram_matcher_accept_bytes(m, ")", 1), 0); /* the matcher is still usable */
    gram_matcher_free(m);
    free(s);
    gram_free(g);
}

static int compile_err(gram_builder_t *b, char *err, size_t n) {
    gram_t *g = NULL;
    int rc = gram_build_compile(b, &g, err, n);
    gram_free(g);
    gram_build_free(b);
    return rc;
}

static void test_build_errors(void **state) {
    (void)state;
    char err[256];
    /* left recursion: R -> R "a" | "a" */
    gram_builder_t *b = gram_build_new();
    gram_rule_define(b, GRAM_ROOT,
                     gram_altv(b, 2, gram_seqv(b, 2, gram_ref(b, GRAM_ROOT), gram_str(b, "a")), gram_str(b, "a")));
    assert_int_equal(compile_err(b, err, sizeof err), ERR_FORMAT);
    assert_non_null(strstr(err, "left recursion"));
    /* hidden left recursion through a nullable prefix: R -> X R "a" | "b", X -> "" | "x" */
    b = gram_build_new();
    uint32_t x = gram_rule_new(b);
    gram_rule_define(b, x, gram_altv(b, 2, gram_empty(b), gram_str(b, "x")));
    gram_rule_define(
        b, GRAM_ROOT,
        gram_altv(b, 2, gram_seqv(b, 3, gram_ref(b, x), gram_ref(b, GRAM_ROOT), gram_str(b, "a")), gram_str(b, "b")));
    assert_int_equal(compile_err(b, err, sizeof err), ERR_FORMAT);
    /* a root that never finishes: R -> "a" R */
    b = gram_build_new();
    gram_rule_define(b, GRAM_ROOT, gram_seqv(b, 2, gram_str(b, "a"), gram_ref(b, GRAM_ROOT)));
    assert_int_equal(compile_err(b, err, sizeof err), ERR_FORMAT);
    assert_non_null(strstr(err, "never finish"));
    /* an undefined rule */
    b = gram_build_new();
    uint32_t u = gram_rule_new(b);
    gram_rule_define(b, GRAM_ROOT, gram_ref(b, u));
    assert_int_equal(compile_err(b, err, sizeof err), ERR_FORMAT);
    /* repetition bounds */
    b = gram_build_new();
    gram_rule_define(b, GRAM_ROOT, gram_repeat(b, gram_str(b, "a"), 0, GRAM_MAX_REPEAT + 1));
    assert_int_equal(compile_err(b, err, sizeof err), ERR_LIMIT);
    b = gram_build_new();
    gram_rule_define(b, GRAM_ROOT, gram_repeat(b, gram_str(b, "a"), 5, 3));
    assert_int_equal(compile_err(b, err, sizeof err), ERR_FORMAT);
    /* an unproductive alternative is dropped, the rest works: R -> "a" R | "b" Q, Q -> "q" Q */
    b = gram_build_new();
    uint32_t q = gram_rule_new(b);
    gram_rule_define(b, q, gram_seqv(b, 2, gram_str(b, "q"), gram_ref(b, q)));
    gram_rule_define(b, GRAM_ROOT,
                     gram_altv(b, 3, gram_seqv(b, 2, gram_str(b, "a"), gram_ref(b, GRAM_ROOT)),
                               gram_seqv(b, 2, gram_str(b, "b"), gram_ref(b, q)), gram_str(b, "c")));
    gram_t *g = NULL;
    assert_int_equal(gram_build_compile(b, &g, err, sizeof err), 0);
    gram_build_free(b);
    assert_int_equal(runs(g, "aac"), 1);
    assert_int_equal(runs(g, "ab"), -1);
    gram_free(g);
}

/* Nullable items under bounded repetition: the closure must not blow up exponentially. */
static void test_ambiguity_is_linear(void **state) {
    (void)state;
    gram_t *g = regex("(a?){0,200}(a|b)*b{0,200}");
    clock_t t0 = clock();
    char s[402];
    memset(s, 'a', 200);
    memset(s + 200, 'b', 201);
    s[401] = 0;
    assert_int_equal(runs(g, s), 1);
    assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 5.0);
    gram_free(g);
}

typedef struct {
    const char *re;
    const char *yes[6];
    const char *no[6];
} rx_case_t;

static void test_regex_table(void **state) {
    (void)state;
    static const rx_case_t cases[] = {
        {"abc", {"abc"}, {"ab", "abcd", "abd", ""}},
        {"a|bc|", {"a", "bc", ""}, {"b", "ac"}},
        {"^[a-c]+$", {"a", "cab", "abcabc"}, {"", "d", "abcd"}},
        {"[^a-c]", {"d", "z", "\xc3\xa9"}, {"a", "b", "", "dd"}},
        {"x{2}y{1,3}z{2,}", {"xxyzz", "xxyyyzzzz"}, {"xyzz", "xxyyyyzz", "xxyz"}},
        {"\\d+\\.\\d*", {"1.", "12.50"}, {".5", "a.1"}},
        {"\\w\\W\\s\\S", {"a-\tb", "_  x"}, {"-a b", "aa b"}},
        {"(?:ab)+|(?<n>c)d?", {"ab", "abab", "c", "cd"}, {"a", "aba", "cdd"}},
        {"[\\]\\-]x", {"]x", "-x"}, {"\\x", "x"}},
        {".", {"a", "\xe2\x82\xac", "\xf0\x9f\x98\x80"}, {"\n", "\r", "\xe2\x82", "\xc0\x80"}},
        {"[α-γ]+", {"\xce\xb1", "\xce\xb2\xce\xb3"}, {"\xce\xb4", "a"}},
        {"\\u00e9\\x41\\u{1F600}",
         {"\xc3\xa9"
          "A\xf0\x9f\x98\x80"},
         {"\xc3\xa9"
          "A"}},
        {"a{,2}", {"a{,2}"}, {"aa"}}, /* not a quantifier: literal (ECMA Annex B) */
        {"[0-9]{3}-[0-9]{4}", {"555-1234"}, {"5551234", "55-1234"}},
        {"a*?b+?", {"b", "aabb"}, {"a"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gram_t *g = regex(cases[i].re);
        for (size_t k = 0; k < 6 && cases[i].yes[k]; k++)
            if (runs(g, cases[i].yes[k]) != 1) fail_msg("regex %s should match '%s'", cases[i].re, cases[i].yes[k]);
        for (size_t k = 0; k < 6 && cases[i].no[k]; k++)
            if (runs(g, cases[i].no[k]) == 1) fail_msg("regex %s should not match '%s'", cases[i].re, cases[i].no[k]);
        gram_free(g);
    }
    /* surrogates are never produced: [\ud000-\ue000] holds no encoded surrogate */
    gram_t *g = regex("[\\ud000-\\ue000]");
    assert_int_equal(runs(g, "\xed\x80\x80"), 1);  /* U+D000 */
    assert_int_equal(runs(g, "\xed\xa0\x80"), -1); /* U+D800, not UTF-8 */
    assert_int_equal(runs(g, "\xee\x80\x80"), 1);  /* U+E000 */
    gram_free(g);
}

static void test_regex_unsupported(void **state) {
    (void)state;
    static const struct {
        const char *re;
        int rc;
        const char *word;
    } bad[] = {
        {"(a)\\1", ERR_UNSUPPORTED, "backreference"},
        {"a(?=b)", ERR_UNSUPPORTED, "lookaround"},
        {"a(?!b)", ERR_UNSUPPORTED, "lookaround"},
        {"(?<=a)b", ERR_UNSUPPORTED, "lookaround"},
        {"\\bword", ERR_UNSUPPORTED, "word boundary"},
        {"\\p{L}", ERR_UNSUPPORTED, "Unicode property"},
        {"(?i)abc", ERR_UNSUPPORTED, "inline flags"},
        {"a++", ERR_UNSUPPORTED, "possessive"},
        {"a^b", ERR_UNSUPPORTED, "anchor"},
        {"(a*)*", ERR_UNSUPPORTED, "can be empty"},
        {"(ab", ERR_FORMAT, "missing )"},
        {"[ab", ERR_FORMAT, "missing ]"},
        {"*a", ERR_FORMAT, "quantifier"},
        {"a{3,1}", ERR_FORMAT, "m < n"},
        {"[z-a]", ERR_FORMAT, "out of order"},
        {"a{20000}", ERR_LIMIT, "10000"},
        {"\\", ERR_FORMAT, "escape"},
        {"a\xdc" "A", ERR_FORMAT, "invalid UTF-8"},
        {"[\xc0\x80]", ERR_FORMAT, "invalid UTF-8"},
        {"\xed\xa0\x80", ERR_FORMAT, "invalid UTF-8"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gram_t *g = NULL;
        char err[256] = "";
        int rc = gram_from_regex(bad[i].re, strlen(bad[i].re), &g, err, sizeof err);
        if (rc != bad[i].rc) fail_msg("regex %s: rc %d (%s), want %d", bad[i].re, rc, err, bad[i].rc);
        if (!strstr(err, bad[i].word)) fail_msg("regex %s: message '%s' lacks '%s'", bad[i].re, err, bad[i].word);
        assert_null(g);
    }
    /* nesting cap */
    char deep[1024];
    memset(deep, '(', 300);
    memset(deep + 300, ')', 300);
    gram_t *g = NULL;
    char err[256];
    assert_int_equal(gram_from_regex(deep, 600, &g, err, sizeof err), ERR_LIMIT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builder_literals_and_repeats),
        cmocka_unit_test(test_recursion),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_ambiguity_is_linear),
        cmocka_unit_test(test_regex_table),
        cmocka_unit_test(test_regex_unsupported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
