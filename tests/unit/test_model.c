/*
 * test_model.c — the forward pass against llama.cpp: greedy continuations of stories260K.gguf must equal
 * llama.cpp's token for token (reference/stories260K.greedy.jsonl), a prompt processed as one batch must give
 * the same logits as the same prompt fed one token at a time, and bad models are refused with clear errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "model.h"

#define MODELS TEST_SHARED_DIR "/models/"

static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int32_t argmax(const float *x, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Every reference prompt: the prompt tokens (with BOS) and the greedy continuation must match exactly. */
static void test_greedy_matches_llama_cpp(void **state) {
    (void)state;
    char err[256] = "";
    model_t *m = NULL;
    assert_int_equal(model_load(MODELS "stories260K.gguf", &m, err, sizeof err), 0);
    const model_hparams_t *hp = model_hparams(m);
    model_ctx_t *c = NULL;
    assert_int_equal(model_ctx_create(m, 2, 64, 512, &c), 0);
    float *logits = malloc((size_t)hp->n_vocab * sizeof(float));
    assert_non_null(logits);

    char *text = read_all(MODELS "reference/stories260K.greedy.jsonl");
    int n_cases = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        assert_non_null(j);
        const char *prompt = cJSON_GetObjectItem(j, "prompt")->valuestring;
        int n_predict = cJSON_GetObjectItem(j, "n_predict")->valueint;
        cJSON *want_prompt = cJSON_GetObjectItem(j, "prompt_tokens");
        cJSON *want = cJSON_GetObjectItem(j, "tokens");
        const char *stop = cJSON_GetObjectItem(j, "stop")->valuestring;

        int32_t ids[512];
        size_t n = 0;
        assert_int_equal(tok_encode(model_tok(m), prompt, strlen(prompt), TOK_ADD_SPECIAL | TOK_PARSE_SPECIAL, ids,
                                    512, &n), 0);
        assert_int_equal((int)n, cJSON_GetArraySize(want_prompt));
        for (size_t i = 0; i < n; i++) assert_int_equal(ids[i], cJSON_GetArrayItem(want_prompt, (int)i)->valueint);

        model_seq_t *s = NULL;
        assert_int_equal(model_seq_create(m, 512, &s), 0);
        assert_int_equal(model_forward(c, s, ids, (int32_t)n, false, logits), 0);
        int got = 0;
        bool eos = false;
        for (; got < n_predict; got++) {
            int32_t id = argmax(logits, hp->n_vocab);
            if (tok_is_eog(model_tok(m), id)) {
                eos = true;
                break;
            }
            if (got >= cJSON_GetArraySize(want))
                fail_msg("prompt '%s': generated token %d (%d) past llama.cpp's end", prompt, got, id);
            int exp_id = cJSON_GetArrayItem(want, got)->valueint;
            if (id != exp_id) fail_msg("prompt '%s': token %d is %d, llama.cpp has %d", prompt, got, id, exp_id);
            assert_int_equal(model_forward(c, s, &id, 1, false, logits), 0);
        }
        assert_int_equal(got, cJSON_GetArraySize(want));
        assert_string_equal(eos ? "eos" : "limit", stop);
        model_seq_free(s);
        cJSON_Delete(j);
        n_cases++;
    }
    assert_true(n_cases >= 3);
    free(text);
    free(logits);
    model_ctx_free(c);
    model_free(m);
}

/* Logits of a batch equal those of the same tokens fed one at a time (within float tolerance). */
static void test_batch_equals_sequential(void **state) {
    (void)state;
    static const char *files[] = {"stories260K.gguf", "stories260K-Q8_0.gguf", "stories260K-Q4_0.gguf",
                                  "stories260K-F16.gguf", "stories260K-BF16.gguf"};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        char path[512], err[256] = "";
        snprintf(path, sizeof path, MODELS "%s", files[f]);
        model_t *m = NULL;
        assert_int_equal(model_load(path, &m, err, sizeof err), 0);
        const model_hparams_t *hp = model_hparams(m);
        model_ctx_t *c = NULL;
        assert_int_equal(model_ctx_create(m, 2, 64, 128, &c), 0);
        const char *text = "Once upon a time there was a big dog who liked to run in the sun with his friends.";
        int32_t ids[128];
        size_t n = 0;
        assert_int_equal(tok_encode(model_tok(m), text, strlen(text), TOK_ADD_SPECIAL, ids, 128, &n), 0);
        float *batch = malloc(n * (size_t)hp->n_vocab * sizeof(float));
        float *one = malloc((size_t)hp->n_vocab * sizeof(float));
        model_seq_t *s1 = NULL, *s2 = NULL;
        assert_int_equal(model_seq_create(m, 128, &s1), 0);
        assert_int_equal(model_seq_create(m, 128, &s2), 0);
        assert_int_equal(model_forward(c, s1, ids, (int32_t)n, true, batch), 0);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(model_forward(c, s2, &ids[i], 1, false, one), 0);
            double max_diff = 0, max_abs = 0;
            for (int32_t v = 0; v < hp->n_vocab; v++) {
                double dlt = fabs((double)one[v] - batch[i * (size_t)hp->n_vocab + v]);
                if (dlt > max_diff) max_diff = dlt;
                if (fabs(one[v]) > max_abs) max_abs = fabs(one[v]);
            }
            if (max_diff > 0.02 * (max_abs > 1 ? max_abs : 1))
                fail_msg("%s: token %zu logits differ by %g (scale %g)", files[f], i, max_diff, max_abs);
        }
        assert_int_equal(model_seq_pos(s1), (int32_t)n);
        free(batch);
        free(one);
        model_seq_free(s1);
        model_seq_free(s2);
        model_ctx_free(c);
        model_free(m);
    }
}

/* A full cache is refused with ERR_CONTEXT; a bad token id with ERR_INVAL; neither changes the sequence. */
static void test_forward_bounds(void **state) {
    (void)state;
    char err[256] = "";
    model_t *m = NULL;
    assert_int_equal(model_load(MODELS "stories260K.gguf", &m, err, sizeof err), 0);
    model_ctx_t *c = NULL;
    model_seq_t *s = NULL;
    assert_int_equal(model_ctx_create(m, 1, 8, 8, &c), 0);
    assert_int_equal(model_seq_create(m, 4, &s), 0);
    int32_t ids[5] = {1, 403, 407, 261, 378};
    float logits[512];
    assert_int_equal(model_forward(c, s, ids, 5, false, logits), ERR_CONTEXT);
    assert_int_equal(model_seq_pos(s), 0);
    int32_t bad = 512;
    assert_int_equal(model_forward(c, s, &bad, 1, false, logits), ERR_INVAL);
    bad = -1;
    assert_int_equal(model_forward(c, s, &bad, 1, false, logits), ERR_INVAL);
    assert_int_equal(model_forward(c, s, ids, 4, false, logits), 0);
    assert_int_equal(model_forward(c, s, ids, 1, false, logits), ERR_CONTEXT);
    assert_int_equal(model_seq_pos(s), 4);
    model_seq_clear(s);
    assert_int_equal(model_seq_pos(s), 0);
    assert_int_equal(model_forward(c, s, ids, 4, false, logits), 0);
    model_seq_free(s);
    model_ctx_free(c);
    model_free(m);
}

/* Files that are valid GGUF but not a runnable llama model get one clear line. */
static void test_load_errors(void **state) {
    (void)state;
    char err[512];
    model_t *m = NULL;
    err[0] = '\0';
    assert_int_equal(model_load(MODELS "vocab/ggml-vocab-gpt-2.gguf", &m, err, sizeof err), ERR_UNSUPPORTED);
    assert_non_null(strstr(err, "architecture 'gpt2'"));
    assert_non_null(strstr(err, "ggml-vocab-gpt-2.gguf"));
    assert_null(m);
    err[0] = '\0';
    assert_int_equal(model_load(MODELS "vocab/ggml-vocab-llama-spm.gguf", &m, err, sizeof err), ERR_FORMAT);
    assert_non_null(strstr(err, "missing tensor 'token_embd.weight'"));
    err[0] = '\0';
    assert_int_not_equal(model_load(MODELS "tinyllamas-stories-260k-f32.gguf", &m, err, sizeof err), 0);
    assert_true(strlen(err) > 0);
    err[0] = '\0';
    assert_int_equal(model_load("/nonexistent/model.gguf", &m, err, sizeof err), ERR_IO);
    assert_non_null(strstr(err, "/nonexistent/model.gguf"));
    assert_null(strchr(err, '\n'));
}

/* Hyperparameters come from metadata: stories260K's are known. Other models load with their types. */
static void test_hparams(void **state) {
    (void)state;
    char err[256] = "";
    model_t *m = NULL;
    assert_int_equal(model_load(MODELS "stories260K.gguf", &m, err, sizeof err), 0);
    const model_hparams_t *hp = model_hparams(m);
    assert_int_equal(hp->n_embd, 64);
    assert_int_equal(hp->n_layer, 5);
    assert_int_equal(hp->n_head, 8);
    assert_int_equal(hp->n_head_kv, 4);
    assert_int_equal(hp->n_ff, 172);
    assert_int_equal(hp->n_vocab, 512);
    assert_int_equal(hp->head_dim, 8);
    assert_true(hp->rope_freq_base == 10000.0f);
    model_free(m);
    static const char *more[] = {"llama-2-tiny-random.gguf", "tinyk-Q4_K_M.gguf", "tinyk-Q6_K.gguf"};
    for (size_t i = 0; i < 3; i++) {
        char path[512];
        snprintf(path, sizeof path, MODELS "%s", more[i]);
        assert_int_equal(model_load(path, &m, err, sizeof err), 0);
        model_ctx_t *c = NULL;
        model_seq_t *s = NULL;
        assert_int_equal(model_ctx_create(m, 2, 16, 16, &c), 0);
        assert_int_equal(model_seq_create(m, 16, &s), 0);
        float *logits = malloc((size_t)model_hparams(m)->n_vocab * sizeof(float));
        int32_t ids[3] = {1, 2, 3};
        assert_int_equal(model_forward(c, s, ids, 3, false, logits), 0);
        for (int32_t v = 0; v < model_hparams(m)->n_vocab; v++) assert_true(isfinite(logits[v]));
        free(logits);
        model_seq_free(s);
        model_ctx_free(c);
        model_free(m);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hparams),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_forward_bounds),
        cmocka_unit_test(test_greedy_matches_llama_cpp),
        cmocka_unit_test(test_batch_equals_sequential),
    };
    return cmocka_run_group_tests_name("model", tests, NULL, NULL);
}
