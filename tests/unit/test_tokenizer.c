/*
 * test_tokenizer.c — the tokenizer against llama.cpp's golden ids and the format's rules.
 *
 * Golden data (from TEST_SHARED_DIR): the test vectors of llama.cpp's test-tokenizer-0 (models/vocab/X.inp and .out:
 * every string, add-special and parse-special off), the prompt tokens of llama.cpp's greedy runs of
 * stories260K (with BOS) and their generated text. Everything else is derived from the definitions: UTF-8
 * (Unicode Table 3-7), GGUF (a small writer below builds vocabularies in memory), and the documented contracts of
 * tokenizer.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "gguf.h"
#include "log.h"
#include "tokenizer/tok_internal.h"
#include "tokenizer/tokenizer.h"

#ifndef TEST_SHARED_DIR
#define TEST_SHARED_DIR "/work/shared"
#endif

/* ---------- helpers ---------- */

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    assert_non_null(buf);
    *n = fread(buf, 1, (size_t)len, f);
    buf[*n] = '\0';
    fclose(f);
    return buf;
}

/* Loads models/<rel>, then closes the GGUF at once (the tokenizer must not need it any more). */
static tok_t *load_tok(const char *rel) {
    char path[512], err[256] = "";
    snprintf(path, sizeof path, "%s/models/%s", TEST_SHARED_DIR, rel);
    gguf_t *g = NULL;
    int rc = gguf_open(path, &g, err, sizeof err);
    if (rc) fail_msg("gguf_open %s: %s", path, err);
    tok_t *t = NULL;
    rc = tok_load(g, &t, err, sizeof err);
    gguf_close(g);
    if (rc) fail_msg("tok_load %s: %s", path, err);
    return t;
}

/* Encodes into a malloc'd array (the size query path: cap 0 first, then the exact size). */
static int32_t *encode(const tok_t *t, const char *s, size_t len, unsigned flags, size_t *n) {
    size_t need = 0;
    int rc = tok_encode(t, s, len, flags, NULL, 0, &need);
    assert_true(rc == 0 || rc == ERR_RANGE);
    int32_t *ids = malloc((need + 1) * sizeof *ids);
    assert_non_null(ids);
    assert_int_equal(tok_encode(t, s, len, flags, ids, need, n), 0);
    assert_int_equal(*n, need);
    return ids;
}

static char *decode(const tok_t *t, const int32_t *ids, size_t n, bool skip_prefix, size_t *len) {
    size_t need = 0;
    int rc = tok_decode(t, ids, n, false, skip_prefix, NULL, 0, &need);
    assert_true(rc == 0 || rc == ERR_RANGE);
    char *buf = malloc(need + 1);
    assert_non_null(buf);
    assert_int_equal(tok_decode(t, ids, n, false, skip_prefix, buf, need, len), 0);
    buf[*len] = '\0';
    return buf;
}

static int32_t find_text(const tok_t *t, const char *text) {
    for (int32_t i = 0; i < tok_n_vocab(t); i++)
        if (strcmp(tok_text(t, i), text) == 0) return i;
    return -1;
}

/* Well-formed per Unicode Table 3-7 (written out independently of the module). */
static bool utf8_valid(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t len;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) len = 2;
        else if (c == 0xE0) len = 3, lo = 0xA0;
        else if (c == 0xED) len = 3, hi = 0x9F;
        else if (c >= 0xE1 && c <= 0xEF) len = 3;
        else if (c == 0xF0) len = 4, lo = 0x90;
        else if (c == 0xF4) len = 4, hi = 0x8F;
        else if (c >= 0xF1 && c <= 0xF3) len = 4;
        else return false;
        if (n - i < len) return false;
        if (s[i + 1] < lo || s[i + 1] > hi) return false;
        for (size_t k = 2; k < len; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF) return false;
        i += len;
    }
    return true;
}

/* ---------- llama.cpp's test vectors ---------- */

/*
 * Every string of models/vocab/<name>.inp (strings separated by "\n__ggml_vocab_test__\n", as test-tokenizer-0
 * reads them) must give the ids on the matching line of <name>.out, with add-special and parse-special off.
 * Decoding must give the string back (SPM: after the space the encoder prefixed; an NFC tokenizer: its normal
 * form, which must encode to the same ids).
 */
static void check_vectors(const char *vocab, const char *name, int n_strings) {
    char rel[256], path[512];
    snprintf(rel, sizeof rel, "vocab/%s", vocab);
    tok_t *t = load_tok(rel);
    bool spm = strcmp(tok_model_name(t), "llama") == 0, wpm = strcmp(tok_model_name(t), "bert") == 0;

    size_t n_inp, n_out;
    snprintf(path, sizeof path, "%s/models/vocab/%s.inp", TEST_SHARED_DIR, name);
    char *inp = slurp(path, &n_inp);
    snprintf(path, sizeof path, "%s/models/vocab/%s.out", TEST_SHARED_DIR, name);
    char *out = slurp(path, &n_out);
    assert_non_null(inp);
    assert_non_null(out);

    static const char sep[] = "\n__ggml_vocab_test__\n";
    const size_t sep_len = sizeof sep - 1;
    char *p = inp, *line = out;
    int n_tests = 0, n_failed = 0;
    while (p < inp + n_inp) {
        char *end = memmem(p, (size_t)(inp + n_inp - p), sep, sep_len);
        size_t len = end ? (size_t)(end - p) : (size_t)(inp + n_inp - p);
        assert_true(line < out + n_out);
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';

        /* expected ids */
        int32_t want[4096];
        size_t n_want = 0;
        for (char *q = line; *q;) {
            while (*q == ' ') q++;
            if (!*q) break;
            assert_true(n_want < 4096);
            want[n_want++] = (int32_t)strtol(q, &q, 10);
        }

        size_t n;
        int32_t *ids = encode(t, p, len, 0, &n);
        bool ok = n == n_want && memcmp(ids, want, n * sizeof *ids) == 0;
        if (!ok) {
            n_failed++;
            print_message("%s: mismatch for [%.*s]: got %zu ids, want %zu\n", name, (int)len, p, n, n_want);
        }

        if (wpm) { /* WordPiece normalises (case, accents, white space): no round trip */
            free(ids);
            n_tests++;
            line = nl ? nl + 1 : line + strlen(line);
            p = end ? end + sep_len : inp + n_inp;
            continue;
        }
        size_t dlen;
        char *text = decode(t, ids, n, false, &dlen);
        if (spm && t->add_space_prefix && len > 0) {
            assert_true(dlen == len + 1 && text[0] == ' ' && memcmp(text + 1, p, len) == 0);
            free(text);
            text = decode(t, ids, n, true, &dlen); /* llama.cpp's detokenizer drops the prefixed space */
        }
        if (dlen != len || memcmp(text, p, len) != 0) {
            /* a normalising tokenizer gives the normal form back: it must encode to the same ids */
            size_t n2 = 0;
            int32_t *ids2 = t->nfc ? encode(t, text, dlen, 0, &n2) : NULL;
            if (!ids2 || n2 != n || memcmp(ids2, ids, n * sizeof *ids) != 0) {
                n_failed++;
                print_message("%s: round trip of [%.*s] gave [%s]\n", name, (int)len, p, text);
            }
            free(ids2);
        }
        free(text);
        free(ids);

        n_tests++;
        line = nl ? nl + 1 : line + strlen(line);
        p = end ? end + sep_len : inp + n_inp;
    }
    assert_int_equal(n_tests, n_strings);
    assert_int_equal(n_failed, 0);
    free(inp);
    free(out);
    tok_free(t);
}

static void check_vocab(const char *name) { check_vectors(name, name, 46); }
static void check_vocab_n(const char *name, int n_strings) { check_vectors(name, name, n_strings); }

static void test_vocab_llama_spm(void **state) { (void)state; check_vocab("ggml-vocab-llama-spm.gguf"); }
static void test_vocab_phi3(void **state) { (void)state; check_vocab("ggml-vocab-phi-3.gguf"); }
static void test_vocab_gpt2(void **state) { (void)state; check_vocab("ggml-vocab-gpt-2.gguf"); }
static void test_vocab_mpt(void **state) { (void)state; check_vocab("ggml-vocab-mpt.gguf"); }
static void test_vocab_falcon(void **state) { (void)state; check_vocab("ggml-vocab-falcon.gguf"); }
static void test_vocab_starcoder(void **state) { (void)state; check_vocab("ggml-vocab-starcoder.gguf"); }
static void test_vocab_refact(void **state) { (void)state; check_vocab("ggml-vocab-refact.gguf"); }
static void test_vocab_deepseek_coder(void **state) { (void)state; check_vocab("ggml-vocab-deepseek-coder.gguf"); }
static void test_vocab_deepseek_llm(void **state) { (void)state; check_vocab("ggml-vocab-deepseek-llm.gguf"); }
/* WordPiece (bge's uncased BERT vocabulary: no normalizer keys, so lowercased with accents stripped) */
static void test_vocab_bert_bge(void **state) { (void)state; check_vocab("ggml-vocab-bert-bge.gguf"); }

/* WordPiece on the real bge vocabulary: [CLS] and [SEP] around the input with TOK_ADD_SPECIAL, words split at
   punctuation, CJK ideographs one word each, accents stripped, control characters dropped. */
static void test_wpm_bge_special(void **state) {
    (void)state;
    tok_t *t = load_tok("vocab/ggml-vocab-bert-bge.gguf");
    assert_string_equal(tok_model_name(t), "bert");
    assert_true(tok_add_bos(t));
    assert_true(tok_add_sep(t));
    assert_false(tok_add_eos(t));
    size_t n;
    int32_t *ids = encode(t, "Hello, world!", 13, TOK_ADD_SPECIAL, &n);
    static const int32_t want[] = {101, 7592, 1010, 2088, 999, 102}; /* [CLS] hello , world ! [SEP] */
    assert_int_equal(n, 6);
    assert_memory_equal(ids, want, sizeof want);
    free(ids);
    int32_t *plain = encode(t, "hello world", 11, 0, &n);
    size_t n2;
    ids = encode(t, "H\xC3\xA9llo\x01 w\xCC\x81orld", 15, 0, &n2); /* é precomposed, a control, a combining ́ */
    assert_int_equal(n2, n);
    assert_memory_equal(ids, plain, n * sizeof *ids);
    free(ids);
    free(plain);
    ids = encode(t, "[CLS] x [SEP]", 13, TOK_PARSE_SPECIAL, &n); /* control tokens when parsing specials */
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], 101);
    assert_int_equal(ids[2], 102);
    free(ids);
    /* decoding: a word-initial piece starts with a space */
    char buf[64];
    size_t dlen;
    static const int32_t hw[] = {7592, 2088};
    assert_int_equal(tok_decode(t, hw, 2, false, false, buf, sizeof buf, &dlen), 0);
    assert_int_equal(dlen, 12);
    assert_memory_equal(buf, " hello world", 12);
    tok_free(t);
}

/* The vocabularies of current model families, against their Hugging Face tokenizer's ids (63 strings each, the
   ones llama.cpp gets wrong included: models/vocab/X.llamacpp-differs.json). */
static void test_vocab_qwen3(void **state) { (void)state; check_vocab_n("ggml-vocab-qwen3.gguf", 63); }
static void test_vocab_llama3_1(void **state) { (void)state; check_vocab_n("ggml-vocab-llama3_1.gguf", 63); }
static void test_vocab_gemma3(void **state) { (void)state; check_vocab_n("ggml-vocab-gemma3.gguf", 63); }
static void test_vocab_gptoss(void **state) { (void)state; check_vocab_n("ggml-vocab-gptoss.gguf", 63); }

/* The repository's tests/tokenizer/NAME, found from this file's path (tests/unit/test_tokenizer.c). */
static void repo_tokenizer_path(char *out, size_t cap, const char *name) {
    const char *me = __FILE__, *p = strstr(me, "tests/unit/");
    snprintf(out, cap, "%.*stests/tokenizer/%s", (int)(p ? p - me : 0), me, name);
}

/*
 * tests/tokenizer/hf-<vocab>.jsonl: 500 seeded random strings over many scripts (combining marks, decomposed
 * accents, Hangul jamo, emoji sequences, white space of every kind; the last 100 with the vocabulary's special
 * tokens, encoded with TOK_PARSE_SPECIAL) and the ids the Hugging Face tokenizer gave them
 * (tests/tokenizer/gen_hf_vectors.mjs). Every one must match.
 */
static void check_hf_random(const char *vocab) {
    char rel[256], path[512];
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", vocab);
    tok_t *t = load_tok(rel);
    snprintf(rel, sizeof rel, "hf-%s.jsonl", vocab);
    repo_tokenizer_path(path, sizeof path, rel);
    size_t n_file;
    char *file = slurp(path, &n_file);
    if (!file) fail_msg("cannot read %s", path);
    int n_tests = 0, n_failed = 0, n_special = 0;
    for (char *line = file; *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        cJSON *j = cJSON_Parse(line);
        assert_non_null(j);
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(j, "text");
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(j, "ids");
        assert_true(cJSON_IsString(text) && cJSON_IsArray(ids));
        bool special = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "special"));
        size_t n;
        int32_t *got = encode(t, text->valuestring, strlen(text->valuestring), special ? TOK_PARSE_SPECIAL : 0, &n);
        bool ok = n == (size_t)cJSON_GetArraySize(ids);
        for (size_t k = 0; ok && k < n; k++) ok = got[k] == (int32_t)cJSON_GetArrayItem(ids, (int)k)->valuedouble;
        if (!ok) {
            n_failed++;
            print_message("%s: mismatch for [%s]%s: got %zu ids, want %d\n", vocab, text->valuestring,
                          special ? " (special)" : "", n, cJSON_GetArraySize(ids));
        }
        n_special += special;
        n_tests++;
        free(got);
        cJSON_Delete(j);
        line = nl ? nl + 1 : line + strlen(line);
    }
    assert_int_equal(n_tests, 500);
    assert_int_equal(n_special, 100);
    assert_int_equal(n_failed, 0);
    free(file);
    tok_free(t);
}

static void test_vocab_hf_random(void **state) {
    (void)state;
    check_hf_random("qwen3");
    check_hf_random("llama3_1");
    check_hf_random("gemma3");
    check_hf_random("gptoss");
}

/* llama.cpp's vectors whose vocab file is not here but has the same tokens and merges as one that is: Qwen2's
   (and DeepSeek-R1-Distill-Qwen's) as Qwen3's, Llama 3's as Llama 3.1's. */
static void test_vocab_no_gguf(void **state) {
    (void)state;
    check_vectors("ggml-vocab-qwen3.gguf", "no-gguf/ggml-vocab-qwen2.gguf", 46);
    check_vectors("ggml-vocab-qwen3.gguf", "no-gguf/ggml-vocab-deepseek-r1-qwen.gguf", 46);
    check_vectors("ggml-vocab-llama3_1.gguf", "no-gguf/ggml-vocab-llama-bpe.gguf", 46);
}

/* ---------- stories260K: BOS, llama.cpp's prompts and generated text ---------- */

static void test_stories_reference(void **state) {
    (void)state;
    tok_t *t = load_tok("stories260K.gguf");
    assert_int_equal(tok_bos(t), 1);
    assert_int_equal(tok_eos(t), 2);
    assert_true(tok_add_bos(t));
    assert_false(tok_add_eos(t));
    assert_true(tok_is_eog(t, 2));
    assert_false(tok_is_eog(t, 1));
    assert_true(tok_is_control(t, 1));
    assert_string_equal(tok_model_name(t), "llama");
    assert_string_equal(tok_pre_name(t), "default");

    char path[512];
    snprintf(path, sizeof path, "%s/models/reference/stories260K.greedy.jsonl", TEST_SHARED_DIR);
    size_t n_file;
    char *file = slurp(path, &n_file);
    assert_non_null(file);
    int n_lines = 0;
    for (char *line = strtok(file, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        assert_non_null(j);
        const char *prompt = cJSON_GetStringValue(cJSON_GetObjectItem(j, "prompt"));
        const char *content = cJSON_GetStringValue(cJSON_GetObjectItem(j, "content"));
        cJSON *want = cJSON_GetObjectItem(j, "prompt_tokens");
        cJSON *gen = cJSON_GetObjectItem(j, "tokens");
        assert_non_null(prompt);
        assert_non_null(content);
        assert_true(cJSON_IsArray(want) && cJSON_IsArray(gen));

        size_t n;
        int32_t *ids = encode(t, prompt, strlen(prompt), TOK_ADD_SPECIAL, &n);
        assert_int_equal(n, (size_t)cJSON_GetArraySize(want));
        for (size_t i = 0; i < n; i++) assert_int_equal(ids[i], cJSON_GetArrayItem(want, (int)i)->valueint);
        assert_int_equal(ids[0], 1);
        free(ids);

        /* the generated ids decode to llama.cpp's content, piece by piece */
        int n_gen = cJSON_GetArraySize(gen);
        int32_t *g = malloc((size_t)n_gen * sizeof *g);
        for (int i = 0; i < n_gen; i++) g[i] = cJSON_GetArrayItem(gen, i)->valueint;
        size_t len;
        char *text = decode(t, g, (size_t)n_gen, false, &len);
        assert_string_equal(text, content);
        free(text);
        free(g);
        cJSON_Delete(j);
        n_lines++;
    }
    assert_int_equal(n_lines, 12);
    free(file);

    /* empty input: nothing, or just BOS */
    size_t n;
    int32_t id;
    assert_int_equal(tok_encode(t, "", 0, 0, &id, 1, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(tok_encode(t, "", 0, TOK_ADD_SPECIAL, &id, 1, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(id, 1);
    tok_free(t);
}

/* ---------- accessors and buffer contracts ---------- */

static void test_accessors(void **state) {
    (void)state;
    tok_t *t = load_tok("vocab/ggml-vocab-gpt-2.gguf");
    assert_string_equal(tok_model_name(t), "gpt2");
    assert_string_equal(tok_pre_name(t), "gpt-2");
    assert_false(tok_pre_is_fallback(t));
    assert_int_equal(tok_n_vocab(t), 50257);
    assert_int_equal(tok_bos(t), 50256);
    assert_int_equal(tok_eos(t), 50256);
    assert_false(tok_add_bos(t)); /* BPE default, no add_bos_token key */
    assert_true(tok_is_eog(t, 50256));
    assert_true(tok_is_control(t, 50256));
    assert_false(tok_is_eog(t, 0));
    assert_false(tok_is_eog(t, -1));
    assert_false(tok_is_eog(t, 50257));
    assert_string_equal(tok_text(t, 50256), "<|endoftext|>");
    assert_null(tok_text(t, -1));
    assert_null(tok_text(t, 50257));

    char buf[64];
    size_t n = 99;
    assert_int_equal(tok_piece(t, 50257, true, buf, sizeof buf, &n), ERR_RANGE);
    assert_int_equal(n, 0);
    assert_int_equal(tok_piece(t, 50256, false, buf, sizeof buf, &n), 0); /* control: nothing unless rendered */
    assert_int_equal(n, 0);
    assert_int_equal(tok_piece(t, 50256, true, buf, sizeof buf, &n), 0);
    assert_int_equal(n, 13);
    assert_memory_equal(buf, "<|endoftext|>", 13);
    assert_int_equal(tok_piece(t, 50256, true, buf, 4, &n), ERR_RANGE); /* too small: the prefix and the size */
    assert_int_equal(n, 13);
    assert_memory_equal(buf, "<|en", 4);
    int32_t hello = find_text(t, "\xC4\xA0Hello"); /* "ĠHello": GPT-2's alphabet writes ' ' as U+0120 */
    assert_true(hello >= 0);
    assert_int_equal(tok_piece(t, hello, false, buf, sizeof buf, &n), 0);
    assert_int_equal(n, 6);
    assert_memory_equal(buf, " Hello", 6);
    assert_true(tok_max_piece_len(t) >= 13);

    /* ERR_RANGE from encode reports the needed count and fills what fits */
    const char *s = "Hello world, hello tokens";
    int32_t ids[2];
    assert_int_equal(tok_encode(t, s, strlen(s), 0, ids, 2, &n), ERR_RANGE);
    size_t full;
    int32_t *all = encode(t, s, strlen(s), 0, &full);
    assert_int_equal(n, full);
    assert_true(full > 2);
    assert_memory_equal(ids, all, 2 * sizeof *ids);
    free(all);
    assert_int_equal(tok_encode(t, NULL, 3, 0, ids, 2, &n), ERR_INVAL);
    assert_int_equal(tok_encode(NULL, s, 3, 0, ids, 2, &n), ERR_INVAL);
    tok_free(t);
    tok_free(NULL);

    t = load_tok("vocab/ggml-vocab-deepseek-llm.gguf");
    assert_true(tok_add_bos(t)); /* add_bos_token = true in the file */
    assert_int_equal(tok_bos(t), 100000);
    assert_true(tok_is_eog(t, 100001));
    tok_free(t);

    t = load_tok("vocab/ggml-vocab-phi-3.gguf");
    assert_true(tok_is_eog(t, 32000)); /* <|endoftext|>: EOS */
    int32_t end = find_text(t, "<|end|>");
    assert_true(end >= 0);
    assert_true(tok_is_eog(t, end)); /* by its text, as llama.cpp */
    assert_false(tok_is_eog(t, find_text(t, "<|user|>")));
    tok_free(t);
}

/* ---------- special tokens ---------- */

static void test_special_tokens(void **state) {
    (void)state;
    size_t n;
    int32_t *ids;

    /* GPT-2: a control token's text is a token only with parse-special */
    tok_t *t = load_tok("vocab/ggml-vocab-gpt-2.gguf");
    const char *eot = "a<|endoftext|>b";
    ids = encode(t, eot, strlen(eot), TOK_PARSE_SPECIAL, &n);
    assert_int_equal(n, 3);
    assert_int_equal(ids[1], 50256);
    free(ids);
    ids = encode(t, eot, strlen(eot), 0, &n);
    assert_true(n > 3);
    for (size_t i = 0; i < n; i++) assert_int_not_equal(ids[i], 50256);
    free(ids);
    tok_free(t);

    /* Phi-3 (SPM): special tokens split the text; each run after one gets the SPM space prefix; Phi-3's
       special tokens eat the whitespace after them (llama.cpp's RSTRIP for this model) */
    t = load_tok("vocab/ggml-vocab-phi-3.gguf");
    int32_t user = find_text(t, "<|user|>"), end = find_text(t, "<|end|>");
    assert_true(user >= 0 && end >= 0);
    const char *chat = "<|user|>\n  Hi there<|end|>";
    ids = encode(t, chat, strlen(chat), TOK_PARSE_SPECIAL | TOK_ADD_SPECIAL, &n);
    size_t n_hi;
    int32_t *hi = encode(t, "Hi there", 8, 0, &n_hi);
    assert_int_equal(n, n_hi + 3);
    assert_int_equal(ids[0], 1); /* BOS */
    assert_int_equal(ids[1], user);
    assert_memory_equal(ids + 2, hi, n_hi * sizeof *hi);
    assert_int_equal(ids[n - 1], end);
    free(ids);
    free(hi);
    /* without parse-special the same text is plain text */
    ids = encode(t, chat, strlen(chat), 0, &n);
    for (size_t i = 0; i < n; i++) assert_true(ids[i] != user && ids[i] != end);
    free(ids);
    /* "</s>" is user-defined in this file, but as an end-of-turn text llama.cpp makes it control: plain text
       unless parse-special */
    ids = encode(t, "x</s>", 5, 0, &n);
    for (size_t i = 0; i < n; i++) assert_int_not_equal(ids[i], 2);
    free(ids);
    ids = encode(t, "x</s>", 5, TOK_PARSE_SPECIAL, &n);
    assert_int_equal(ids[n - 1], 2);
    free(ids);
    tok_free(t);

    /* deepseek-llm: user-defined tokens are matched even without parse-special */
    t = load_tok("vocab/ggml-vocab-deepseek-llm.gguf");
    int32_t ud = find_text(t, "\xC3\xB8"); /* "ø", type 4 */
    assert_true(ud >= 100000);
    ids = encode(t, "x\xC3\xB8y", 4, 0, &n);
    assert_int_equal(n, 3);
    assert_int_equal(ids[1], ud);
    free(ids);
    tok_free(t);

    /* MPT: user-defined runs of spaces, longest first */
    t = load_tok("vocab/ggml-vocab-mpt.gguf");
    char spaces[40];
    memset(spaces, ' ', sizeof spaces);
    int32_t s24 = find_text(t, "                        "); /* 24 spaces */
    int32_t s16 = find_text(t, "                "); /* 16 */
    assert_true(s24 >= 0 && s16 >= 0);
    ids = encode(t, spaces, 40, 0, &n);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], s24);
    assert_int_equal(ids[1], s16);
    free(ids);
    tok_free(t);

    /* stories260K: "<s>" is a control token; without parse-special it is text */
    t = load_tok("stories260K.gguf");
    ids = encode(t, "<s>", 3, 0, &n);
    for (size_t i = 0; i < n; i++) assert_int_not_equal(ids[i], 1);
    free(ids);
    ids = encode(t, "<s>", 3, TOK_PARSE_SPECIAL | TOK_ADD_SPECIAL, &n);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 1);
    free(ids);
    tok_free(t);
}

/* ---------- streaming detokenization ---------- */

/* Pushes every id through a stream; checks each chunk is well-formed UTF-8; returns the concatenation. */
static char *stream_all(const tok_t *t, const int32_t *ids, size_t n, size_t *len, int *n_partial) {
    size_t cap = tok_stream_cap(t);
    char *chunk = malloc(cap);
    char *all = malloc(cap * (n + 1) + 4);
    tok_stream_t s;
    tok_stream_init(&s);
    size_t k = 0, m;
    *n_partial = 0;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(tok_stream_push(&s, t, ids[i], chunk, cap, &m), 0);
        assert_true(utf8_valid((const unsigned char *)chunk, m));
        if (s.n_pending > 0) (*n_partial)++;
        memcpy(all + k, chunk, m);
        k += m;
    }
    assert_int_equal(tok_stream_flush(&s, chunk, cap, &m), 0);
    memcpy(all + k, chunk, m);
    k += m;
    all[k] = '\0';
    *len = k;
    free(chunk);
    return all;
}

static void test_stream_utf8(void **state) {
    (void)state;
    char out[256];
    size_t n;

    /* SPM byte fallback: '€' = E2 82 AC arrives as three byte tokens */
    tok_t *t = load_tok("stories260K.gguf");
    int32_t e2 = find_text(t, "<0xE2>"), x82 = find_text(t, "<0x82>"), xac = find_text(t, "<0xAC>");
    int32_t x61 = find_text(t, "<0x61>"), x80 = find_text(t, "<0x80>"), xf0 = find_text(t, "<0xF0>");
    int32_t x9f = find_text(t, "<0x9F>");
    assert_true(e2 >= 0 && x82 >= 0 && xac >= 0 && x61 >= 0 && x80 >= 0 && xf0 >= 0 && x9f >= 0);
    size_t n_ids;
    int32_t *ids = encode(t, "\xF0\x9F\xA6\x99", 4, 0, &n_ids); /* a character this vocab lacks */
    assert_int_equal(n_ids, 5);                                     /* '▁' then its four byte tokens */
    assert_int_equal(ids[1], xf0);
    assert_int_equal(ids[2], x9f);
    free(ids);

    tok_stream_t s;
    tok_stream_init(&s);
    assert_int_equal(tok_stream_push(&s, t, e2, out, sizeof out, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(tok_stream_push(&s, t, x82, out, sizeof out, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(tok_stream_push(&s, t, xac, out, sizeof out, &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(out, "\xE2\x82\xAC", 3);

    /* an interrupted sequence: U+FFFD for the prefix, then the new byte */
    assert_int_equal(tok_stream_push(&s, t, e2, out, sizeof out, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(tok_stream_push(&s, t, x61, out, sizeof out, &n), 0);
    assert_int_equal(n, 4);
    assert_memory_equal(out, "\xEF\xBF\xBD" "a", 4);
    /* a lone continuation byte */
    assert_int_equal(tok_stream_push(&s, t, x80, out, sizeof out, &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(out, "\xEF\xBF\xBD", 3);
    /* an incomplete tail at the end of the stream */
    assert_int_equal(tok_stream_push(&s, t, xf0, out, sizeof out, &n), 0);
    assert_int_equal(tok_stream_push(&s, t, x9f, out, sizeof out, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(tok_stream_flush(&s, out, 2, &n), ERR_RANGE); /* too small: nothing changes */
    assert_int_equal(n, 3);
    assert_int_equal(s.n_pending, 2);
    assert_int_equal(tok_stream_flush(&s, out, sizeof out, &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(out, "\xEF\xBF\xBD", 3);
    assert_int_equal(tok_stream_flush(&s, out, sizeof out, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(tok_stream_push(&s, t, 512, out, sizeof out, &n), ERR_RANGE);

    /* ERR_RANGE leaves the state alone; the retry gets everything */
    assert_int_equal(tok_stream_push(&s, t, e2, out, sizeof out, &n), 0);
    assert_int_equal(tok_stream_push(&s, t, x82, out, sizeof out, &n), 0);
    assert_int_equal(tok_stream_push(&s, t, xac, out, 2, &n), ERR_RANGE);
    assert_int_equal(n, 3);
    assert_int_equal(tok_stream_push(&s, t, xac, out, 3, &n), 0);
    assert_memory_equal(out, "\xE2\x82\xAC", 3);
    tok_free(t);

    /* raw bytes: overlong, surrogate, out of range, bad continuations (one U+FFFD per maximal subpart) */
    static const struct {
        const char *in;
        size_t n_in;
        const char *want;
    } cases[] = {
        {"\xC0\x80", 2, "\xEF\xBF\xBD\xEF\xBF\xBD"},
        {"\xED\xA0\x80", 3, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
        {"\xF4\x90\x80\x80", 4, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
        {"\xE2\x82" "x", 3, "\xEF\xBF\xBD" "x"},
        {"\xF0\x9F\x98\x80" "\xFF", 5, "\xF0\x9F\x98\x80\xEF\xBF\xBD"},
        {"ok", 2, "ok"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tok_stream_init(&s);
        size_t n2;
        assert_int_equal(tok_stream_push_bytes(&s, cases[i].in, cases[i].n_in, out, sizeof out, &n), 0);
        assert_int_equal(tok_stream_flush(&s, out + n, sizeof out - n, &n2), 0);
        assert_int_equal(n + n2, strlen(cases[i].want));
        assert_memory_equal(out, cases[i].want, n + n2);
    }

    /* byte-level BPE: tokens split multi-byte characters; the stream never shows a partial one */
    t = load_tok("vocab/ggml-vocab-gpt-2.gguf");
    const char *text = "llama \xF0\x9F\xA6\x99 rocket \xF0\x9F\x9A\x80, euro \xE2\x82\xAC, \xE1\x9E\x80\xE1\x9E\xB6";
    ids = encode(t, text, strlen(text), 0, &n_ids);
    size_t len;
    int n_partial;
    char *all = stream_all(t, ids, n_ids, &len, &n_partial);
    assert_true(n_partial > 0); /* some token ended inside a character, so the test means something */
    assert_int_equal(len, strlen(text));
    assert_memory_equal(all, text, len);
    free(all);
    free(ids);
    tok_free(t);
}

/* ---------- invalid UTF-8 ---------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)rng_state;
}

static void test_invalid_utf8(void **state) {
    (void)state;
    size_t n, m;

    /* BPE: a byte that cannot start a sequence reads as U+FFFD (llama.cpp) */
    tok_t *t = load_tok("vocab/ggml-vocab-gpt-2.gguf");
    int32_t *a = encode(t, "x\xFFy", 3, 0, &n);
    int32_t *b = encode(t, "x\xEF\xBF\xBDy", 5, 0, &m);
    assert_int_equal(n, m);
    assert_memory_equal(a, b, n * sizeof *a);
    free(a);
    free(b);
    /* an overlong form reads as its code point */
    a = encode(t, "\xC1\x81", 2, 0, &n);
    b = encode(t, "A", 1, 0, &m);
    assert_int_equal(n, m);
    assert_memory_equal(a, b, n * sizeof *a);
    free(a);
    free(b);

    /* random bytes: never an error; BPE decodes to the sanitised text; SPM (byte fallback) to the input */
    tok_t *spm = load_tok("vocab/ggml-vocab-llama-spm.gguf");
    tok_t *ds = load_tok("vocab/ggml-vocab-deepseek-llm.gguf");
    for (int iter = 0; iter < 200; iter++) {
        unsigned char buf[48];
        size_t len = rng() % sizeof buf;
        for (size_t i = 0; i < len; i++) {
            uint32_t r = rng();
            buf[i] = (r & 3) == 0 ? (unsigned char)(' ' + r % 90) : (unsigned char)(r >> 8);
        }
        const tok_t *bpe[2] = {t, ds};
        for (int k = 0; k < 2; k++) {
            int32_t *ids = encode(bpe[k], (const char *)buf, len, TOK_PARSE_SPECIAL, &n);
            size_t dlen;
            char *text = decode(bpe[k], ids, n, false, &dlen);
            tok__buf_t u = {0}, v = {0};
            assert_int_equal(tok__bpe_sanitize((const char *)buf, len, &u, &v), 0);
            assert_int_equal(dlen, u.n);
            assert_memory_equal(text, u.p, dlen);
            free(u.p);
            free(v.p);
            free(text);
            free(ids);
        }
        /* SPM tokenizes the raw bytes (llama.cpp: one symbol per lead byte's announced length, so an invalid
           lead byte may swallow part of an escaped space); it must not fail, and its output must decode */
        int32_t *ids = encode(spm, (const char *)buf, len, 0, &n);
        for (size_t i = 0; i < n; i++) assert_true(ids[i] >= 0 && ids[i] < tok_n_vocab(spm));
        size_t dlen;
        char *text = decode(spm, ids, n, true, &dlen);
        free(text);
        free(ids);

        /* valid UTF-8 (random code points, most not in the vocab): SPM byte fallback is lossless */
        char valid[4 * 16];
        size_t vlen = 0;
        for (int k = (int)(rng() % 16); k > 0; k--) {
            uint32_t cp = rng() % 0x30000;
            if (cp >= 0xD800 && cp < 0xE000) cp = ' ';
            vlen += tok__utf8_put(cp, valid + vlen);
        }
        ids = encode(spm, valid, vlen, 0, &n);
        text = decode(spm, ids, n, true, &dlen);
        assert_int_equal(dlen, vlen);
        assert_memory_equal(text, valid, vlen);
        free(text);
        free(ids);
    }
    /* a byte no token covers: its byte token */
    int32_t *ids = encode(spm, "\xFF", 1, 0, &n);
    assert_int_equal(n, 2); /* '▁', <0xFF> */
    assert_string_equal(tok_text(spm, ids[1]), "<0xFF>");
    free(ids);
    tok_free(spm);
    tok_free(ds);
    tok_free(t);
}

/* ---------- vocabularies built in memory ---------- */

typedef struct {
    unsigned char *p;
    size_t n, cap;
    uint64_t n_kv;
} gb_t;

static void gb_put(gb_t *g, const void *d, size_t n) {
    if (g->n + n > g->cap) {
        g->cap = (g->n + n) * 2 + 64;
        g->p = realloc(g->p, g->cap);
        assert_non_null(g->p);
    }
    memcpy(g->p + g->n, d, n);
    g->n += n;
}
static void gb_u32(gb_t *g, uint32_t v) { gb_put(g, &v, 4); } /* little-endian host */
static void gb_u64(gb_t *g, uint64_t v) { gb_put(g, &v, 8); }
static void gb_str(gb_t *g, const char *s) {
    gb_u64(g, strlen(s));
    gb_put(g, s, strlen(s));
}
static void gb_key(gb_t *g, const char *key, uint32_t type) {
    gb_str(g, key);
    gb_u32(g, type);
    g->n_kv++;
}
static void gb_kv_str(gb_t *g, const char *key, const char *v) {
    gb_key(g, key, GGUF_STRING);
    gb_str(g, v);
}
static void gb_kv_u32(gb_t *g, const char *key, uint32_t v) {
    gb_key(g, key, GGUF_UINT32);
    gb_u32(g, v);
}
static void gb_kv_strs(gb_t *g, const char *key, const char *const *v, size_t n) {
    gb_key(g, key, GGUF_ARRAY);
    gb_u32(g, GGUF_STRING);
    gb_u64(g, n);
    for (size_t i = 0; i < n; i++) gb_str(g, v[i]);
}
static void gb_kv_f32s(gb_t *g, const char *key, const float *v, size_t n) {
    gb_key(g, key, GGUF_ARRAY);
    gb_u32(g, GGUF_FLOAT32);
    gb_u64(g, n);
    gb_put(g, v, 4 * n);
}
static void gb_kv_i32s(gb_t *g, const char *key, const int32_t *v, size_t n) {
    gb_key(g, key, GGUF_ARRAY);
    gb_u32(g, GGUF_INT32);
    gb_u64(g, n);
    gb_put(g, v, 4 * n);
}

/* Wraps the key/values in a GGUF v3 header (no tensors) and loads a tokenizer from it. */
static int gb_load(gb_t *g, tok_t **t, char *err, size_t err_len) {
    gb_t file = {0};
    gb_put(&file, "GGUF", 4);
    gb_u32(&file, 3);
    gb_u64(&file, 0);
    gb_u64(&file, g->n_kv);
    gb_put(&file, g->p, g->n);
    gguf_t *gg = NULL;
    int rc = gguf_open_mem(file.p, file.n, "mem.gguf", &gg, err, err_len);
    assert_int_equal(rc, 0);
    rc = tok_load(gg, t, err, err_len);
    gguf_close(gg);
    free(file.p);
    free(g->p);
    memset(g, 0, sizeof *g);
    return rc;
}

static void test_synthetic(void **state) {
    (void)state;
    char err[256];
    tok_t *t = NULL;
    gb_t g = {0};
    size_t n;
    int32_t ids[16];

    /* no model key / an unsupported model / gpt2 without merges / short scores */
    gb_kv_u32(&g, "x", 1);
    assert_int_equal(gb_load(&g, &t, err, sizeof err), ERR_FORMAT);
    assert_null(t);
    static const char *const toks[] = {"<unk>", "<s>", "</s>", "\xE2\x96\x81", "a", "b", "\xE2\x96\x81" "a", "ab",
                                       "\xE2\x96\x81" "ab"};
    static const float scores[] = {0, 0, 0, -1, -2, -3, -1.5f, -0.5f, -0.25f};
    static const int32_t types[] = {2, 3, 3, 1, 1, 1, 1, 1, 1};
    gb_kv_str(&g, "tokenizer.ggml.model", "t5");
    gb_kv_strs(&g, "tokenizer.ggml.tokens", toks, 9);
    assert_int_equal(gb_load(&g, &t, err, sizeof err), ERR_UNSUPPORTED);
    gb_kv_str(&g, "tokenizer.ggml.model", "gpt2");
    gb_kv_strs(&g, "tokenizer.ggml.tokens", toks, 9);
    assert_int_equal(gb_load(&g, &t, err, sizeof err), ERR_FORMAT);
    gb_kv_str(&g, "tokenizer.ggml.model", "llama");
    gb_kv_strs(&g, "tokenizer.ggml.tokens", toks, 9);
    gb_kv_f32s(&g, "tokenizer.ggml.scores", scores, 8);
    assert_int_equal(gb_load(&g, &t, err, sizeof err), ERR_FORMAT);
    gb_kv_str(&g, "tokenizer.ggml.model", "llama");
    gb_kv_strs(&g, "tokenizer.ggml.tokens", toks, 0);
    assert_int_equal(gb_load(&g, &t, err, sizeof err), ERR_FORMAT);

    /* a small SPM vocab without byte tokens: merges by score, unknown characters give <unk> */
    gb_kv_str(&g, "tokenizer.ggml.model", "llama");
    gb_kv_strs(&g, "tokenizer.ggml.tokens", toks, 9);
    gb_kv_f32s(&g, "tokenizer.ggml.scores", scores, 9);
    gb_kv_i32s(&g, "tokenizer.ggml.token_type", types, 9);
    assert_int_equal(gb_load(&g, &t, err, sizeof err), 0);
    assert_int_equal(tok_bos(t), 1);
    assert_int_equal(tok_encode(t, "ab", 2, 0, ids, 16, &n), 0);
    assert_int_equal(n, 1); /* "▁ab" (score -0.25) */
    assert_int_equal(ids[0], 8);
    assert_int_equal(tok_encode(t, "ab zb", 5, TOK_ADD_SPECIAL, ids, 16, &n), 0);
    int32_t want[] = {1, 8, 3, 0, 5}; /* BOS "▁ab" "▁" <unk> "b" */
    assert_int_equal(n, 5);
    assert_memory_equal(ids, want, sizeof want);
    tok_free(t);

    /* a small BPE vocab: merges by rank, unknown pre-tokenizer names fall back to the default */
    static const char *const btoks[] = {"a", "b", "c", "ab", "abc", "\xC4\xA0", "\xC4\xA0" "a", "<|eot|>"};
    static const char *const merges[] = {"a b", "ab c", "\xC4\xA0 a"};
    gb_kv_str(&g, "tokenizer.ggml.model", "gpt2");
    gb_kv_str(&g, "tokenizer.ggml.pre", "no-such-pre-tokenizer");
    gb_kv_strs(&g, "tokenizer.ggml.tokens", btoks, 8);
    gb_kv_strs(&g, "tokenizer.ggml.merges", merges, 3);
    gb_kv_u32(&g, "tokenizer.ggml.eos_token_id", 7);
    assert_int_equal(gb_load(&g, &t, err, sizeof err), 0);
    assert_true(tok_pre_is_fallback(t));
    assert_string_equal(tok_pre_name(t), "default");
    assert_int_equal(tok_eos(t), 7);
    assert_int_equal(tok_bos(t), -1); /* llama.cpp's BPE default (11) is outside this vocab */
    assert_true(tok_is_eog(t, 7));
    assert_int_equal(tok_encode(t, "abc ab a", 8, 0, ids, 16, &n), 0);
    int32_t bwant[] = {4, 5, 3, 6}; /* "abc" "Ġ" "ab" "Ġa" */
    assert_int_equal(n, 4);
    assert_memory_equal(ids, bwant, sizeof bwant);
    tok_free(t);
}

static void gb_kv_i32(gb_t *g, const char *key, int32_t v) {
    gb_key(g, key, GGUF_INT32);
    gb_put(g, &v, 4);
}

/* A small SPM vocab plus one integer key (NULL: none) holding v, as UINT32 or (as_i32) INT32. */
static int gb_load_with(const char *key, int64_t v, bool as_i32, tok_t **t, char *err, size_t err_len) {
    static const char *const toks[] = {"<unk>", "<s>", "</s>", "\xE2\x96\x81", "a", "b"};
    static const float scores[] = {0, 0, 0, -1, -2, -3};
    gb_t g = {0};
    gb_kv_str(&g, "tokenizer.ggml.model", "llama");
    gb_kv_strs(&g, "tokenizer.ggml.tokens", toks, 6);
    gb_kv_f32s(&g, "tokenizer.ggml.scores", scores, 6);
    if (key && as_i32) gb_kv_i32(&g, key, (int32_t)v);
    else if (key) gb_kv_u32(&g, key, (uint32_t)v);
    return gb_load(&g, t, err, err_len);
}

/*
 * Special ids outside the vocabulary: the ones that change tokens or stopping (BOS, EOS, EOT, EOM, UNK) make the
 * load fail with a line naming the key and the value; the others (padding, FIM, ...) load with one warning line;
 * -1 and 0xFFFFFFFF mean "no such token".
 */
static void test_special_id_range(void **state) {
    (void)state;
    char err[256];
    tok_t *t = NULL;
    static const char *const required[] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                                           "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id",
                                           "tokenizer.ggml.unknown_token_id"};
    for (size_t k = 0; k < 5; k++) {
        err[0] = '\0';
        assert_int_equal(gb_load_with(required[k], 6, false, &t, err, sizeof err), ERR_FORMAT);
        assert_null(t);
        assert_non_null(strstr(err, required[k]));
        assert_non_null(strstr(err, "= 6 is not a token id (the vocabulary has 6)"));
        assert_null(strchr(err, '\n'));
        assert_int_equal(gb_load_with(required[k], -7, true, &t, err, sizeof err), ERR_FORMAT);
        assert_non_null(strstr(err, "= -7 is not a token id"));
    }

    /* in range, and the two spellings of "none" */
    assert_int_equal(gb_load_with("tokenizer.ggml.eos_token_id", 5, false, &t, err, sizeof err), 0);
    assert_int_equal(tok_eos(t), 5);
    tok_free(t);
    assert_int_equal(gb_load_with("tokenizer.ggml.bos_token_id", 0xFFFFFFFFu, false, &t, err, sizeof err), 0);
    assert_int_equal(tok_bos(t), -1);
    tok_free(t);
    assert_int_equal(gb_load_with("tokenizer.ggml.bos_token_id", -1, true, &t, err, sizeof err), 0);
    assert_int_equal(tok_bos(t), -1);
    assert_int_equal(tok_eos(t), 2);
    tok_free(t);

    /* ids cinder does not act on: a warning line each, on the log */
    static const char *const warned[] = {"tokenizer.ggml.padding_token_id", "tokenizer.ggml.fim_pre_token_id",
                                         "tokenizer.ggml.mask_token_id"};
    for (size_t k = 0; k < 3; k++) {
        FILE *logf = tmpfile();
        assert_non_null(logf);
        log_setup(LOG_INFO, LOG_FORMAT_LOGFMT, logf);
        int rc = gb_load_with(warned[k], 1000, false, &t, err, sizeof err);
        log_setup(LOG_INFO, LOG_FORMAT_LOGFMT, NULL);
        assert_int_equal(rc, 0);
        assert_int_equal(tok_bos(t), 1);
        tok_free(t);
        char line[1024] = "";
        rewind(logf);
        size_t n = fread(line, 1, sizeof line - 1, logf);
        line[n] = '\0';
        fclose(logf);
        assert_non_null(strstr(line, "level=warn"));
        assert_non_null(strstr(line, warned[k]));
        assert_non_null(strstr(line, "= 1000 is not a token id (the vocabulary has 6); ignored"));
        assert_ptr_equal(strchr(line, '\n'), line + n - 1); /* one line */
    }
}

/* ---------- pre-tokenizers without a vocab file here ---------- */

/* Splits text with the named pre-tokenizer and compares with want (words joined by '|'). */
static void check_split(const char *pre, const char *text, const char *want) {
    tok__pretok_t *p = NULL;
    bool fallback, ignore_merges, add_bos, no_bos, nfc;
    char err[256];
    assert_int_equal(
        tok__pretok_create(pre, &p, &fallback, &ignore_merges, &add_bos, &no_bos, &nfc, err, sizeof err), 0);
    assert_false(fallback);
    tok__spans_t w = {0};
    assert_int_equal(tok__pretok_split(p, text, strlen(text), &w), 0);
    char got[512];
    size_t k = 0;
    for (size_t i = 0; i < w.n; i++) {
        if (i) got[k++] = '|';
        assert_true(k + w.v[i].len < sizeof got);
        memcpy(got + k, text + w.v[i].off, w.v[i].len);
        k += w.v[i].len;
    }
    got[k] = '\0';
    if (strcmp(got, want) != 0) fail_msg("%s: [%s] split as [%s], want [%s]", pre, text, got, want);
    free(w.v);
    tok__pretok_free(p);
}

/*
 * The regexes of Llama 3, Qwen2, SmolLM2 and Command-R (whose vocab files are not in the shared folder), on
 * strings whose split follows from the regex definitions by hand; and Unicode's White_Space set (NEL is
 * white space, U+180E is not, whatever PCRE2's own \s says).
 */
static void test_pretokenizers(void **state) {
    (void)state;
    const char *s = "Hello world 12345 I'm\n\n  ok";
    check_split("llama-bpe", s, "Hello| world| |123|45| I|'m|\n\n| | ok");
    check_split("qwen2", s, "Hello| world| |1|2|3|4|5| I|'m|\n\n| | ok");
    check_split("deepseek-r1-qwen", s, "Hello| world| |1|2|3|4|5| I|'m|\n\n| | ok");
    check_split("smollm", s, "Hello| world| |1|2|3|4|5| I|'m|\n\n | ok");
    check_split("command-r", s, "Hello| world| |1|2|3|4|5| I|'m|\n\n | ok");
    check_split("gpt-2", s, "Hello| world| 12345| I|'m|\n\n | ok");
    check_split("llama-bpe", "He'S DON'T ...\r\nx", "He|'S| DON|'T| ...\r\n|x");
    check_split("gpt-2", "He'S", "He|'|S");
    check_split("gpt-2", "!\xE1\xA0\x8E!", "!\xE1\xA0\x8E!"); /* U+180E: not white space */
    check_split("gpt-2", "!\xC2\x85!", "!|\xC2\x85|!");         /* U+0085: white space */
    check_split("default", "a+=1000", "a|+=|100|0");
    check_split("default", "x 1000", "x| |100|0");
}

/* ---------- NFC ---------- */

static void check_nfc(const char *in, const char *want) {
    tok__buf_t o = {0};
    assert_int_equal(tok__nfc(in, strlen(in), &o), 0);
    if (o.n != strlen(want) || memcmp(o.p, want, o.n) != 0)
        fail_msg("NFC of [%s] gave [%.*s], want [%s]", in, (int)o.n, o.p, want);
    free(o.p);
}

/*
 * Normalization Form C on cases that follow from UAX #15's definitions (its examples, Hangul arithmetic,
 * composition exclusions, singletons, blocking); the tables were also compared with Python's unicodedata on
 * every code point that decomposes or combines and on 20,000 random strings of them when they were generated.
 */
static void test_nfc(void **state) {
    (void)state;
    check_nfc("plain ASCII", "plain ASCII");
    check_nfc("cafe\xCC\x81", "caf\xC3\xA9");                      /* e + U+0301 -> U+00E9 */
    check_nfc("caf\xC3\xA9", "caf\xC3\xA9");                       /* already composed */
    check_nfc("\xE1\xB8\x8B\xCC\xA3", "\xE1\xB8\x8D\xCC\x87");    /* U+1E0B U+0323 -> U+1E0D U+0307 */
    check_nfc("q\xCC\x87\xCC\xA3", "q\xCC\xA3\xCC\x87");            /* reordered by class, nothing composes */
    check_nfc("\xE2\x84\xAB", "\xC3\x85");                         /* U+212B ANGSTROM SIGN -> U+00C5 */
    check_nfc("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8", "\xEA\xB0\x81"); /* Hangul L V T -> U+AC01 */
    check_nfc("\xEA\xB0\x80\xE1\x86\xA8", "\xEA\xB0\x81");          /* LV + T -> LVT */
    check_nfc("\xE0\xA5\x98", "\xE0\xA4\x95\xE0\xA4\xBC");          /* U+0958: excluded, stays decomposed */
    check_nfc("a\xCC\x8A\xCC\x81", "\xC7\xBB");                    /* a + ring + acute -> U+01FB, two steps */
    check_nfc("a\xCC\x81\xCC\x81", "\xC3\xA1\xCC\x81");             /* the second acute is blocked */
    check_nfc("\xCC\x81" "a", "\xCC\x81" "a");                         /* a leading mark has no starter */
    check_nfc("\xED\xA0\x80\xCC\x81", "\xED\xA0\x80\xCC\x81");       /* a surrogate (sanitised input) is kept */

    /* the tokenizer applies it to Qwen's runs only: "e" + U+0301 and U+00E9 give the same ids there */
    tok_t *t = load_tok("vocab/ggml-vocab-qwen3.gguf");
    size_t n1, n2;
    int32_t *a = encode(t, "Am\xC3\xA9lie", 7, 0, &n1);
    int32_t *b = encode(t, "Ame\xCC\x81lie", 8, 0, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1 * sizeof *a);
    free(a);
    free(b);
    tok_free(t);
    t = load_tok("vocab/ggml-vocab-llama3_1.gguf");
    a = encode(t, "Am\xC3\xA9lie", 7, 0, &n1);
    b = encode(t, "Ame\xCC\x81lie", 8, 0, &n2);
    assert_false(n1 == n2 && memcmp(a, b, n1 * sizeof *a) == 0);
    free(a);
    free(b);
    tok_free(t);
}

/* ---------- threads ---------- */

typedef struct {
    const tok_t *t;
    const char *text;
    size_t len;
    int32_t *ids;
    size_t n;
} job_t;

static void *encode_job(void *arg) {
    job_t *j = arg;
    for (int k = 0; k < 20; k++) {
        size_t n;
        if (tok_encode(j->t, j->text, j->len, TOK_ADD_SPECIAL, j->ids, 4096, &n) != 0 || n != j->n) j->n = 0;
    }
    return NULL;
}

static void test_threads(void **state) {
    (void)state;
    tok_t *t = load_tok("vocab/ggml-vocab-deepseek-llm.gguf");
    char path[512];
    snprintf(path, sizeof path, "%s/models/reference/stories.txt", TEST_SHARED_DIR);
    size_t len;
    char *text = slurp(path, &len);
    assert_non_null(text);
    size_t n;
    int32_t *want = encode(t, text, len, TOK_ADD_SPECIAL, &n);
    assert_true(n < 4096);
    job_t jobs[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        jobs[i] = (job_t){t, text, len, malloc(4096 * sizeof(int32_t)), n};
        assert_int_equal(pthread_create(&th[i], NULL, encode_job, &jobs[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(jobs[i].n, n);
        assert_memory_equal(jobs[i].ids, want, n * sizeof *want);
        free(jobs[i].ids);
    }
    free(want);
    free(text);
    tok_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vocab_llama_spm),
        cmocka_unit_test(test_vocab_phi3),
        cmocka_unit_test(test_vocab_gpt2),
        cmocka_unit_test(test_vocab_mpt),
        cmocka_unit_test(test_vocab_falcon),
        cmocka_unit_test(test_vocab_starcoder),
        cmocka_unit_test(test_vocab_refact),
        cmocka_unit_test(test_vocab_deepseek_coder),
        cmocka_unit_test(test_vocab_deepseek_llm),
        cmocka_unit_test(test_vocab_bert_bge),
        cmocka_unit_test(test_wpm_bge_special),
        cmocka_unit_test(test_vocab_qwen3),
        cmocka_unit_test(test_vocab_llama3_1),
        cmocka_unit_test(test_vocab_gemma3),
        cmocka_unit_test(test_vocab_gptoss),
        cmocka_unit_test(test_vocab_no_gguf),
        cmocka_unit_test(test_vocab_hf_random),
        cmocka_unit_test(test_stories_reference),
        cmocka_unit_test(test_accessors),
        cmocka_unit_test(test_special_tokens),
        cmocka_unit_test(test_stream_utf8),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_synthetic),
        cmocka_unit_test(test_special_id_range),
        cmocka_unit_test(test_pretokenizers),
        cmocka_unit_test(test_nfc),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
