/*
 * fuzz_model.c — libFuzzer target for the GGUF loader and one forward pass: gguf_open_mem over the input, then
 * model_load over the same bytes (through a memfd, so the real mmap path runs with no disk I/O), which validates
 * the header, hyperparameters, tensor shapes and weights (finite values, weights_check.c) and loads the tokenizer;
 * a model that loads tokenizes a fixed prompt and runs it through one forward pass (every row's logits), then one
 * decode step with a token taken from the input. Logits may be anything (random weights overflow); a crash, a hang
 * or anything ASan/UBSan/LSan reports is a bug, as is a load error without a message.
 *
 * Seeds: tests/fuzz/corpus/model/ holds tiny synthetic models with random weights and stories260K's vocab, made by
 *   ../shared/tools/synth_gguf.py --donor ../shared/models/stories260K.gguf --dims D,1,2,1,2D,32 --type T -o tiny-T.gguf
 * (D = 16 for f32 and f16, 32 for q8_0, q4_0 and q8_0 with --tied), and tiny-bf16.gguf converted from tiny-f32.gguf
 * by llama.cpp's `llama-quantize tiny-f32.gguf tiny-bf16.gguf BF16` (data only; no llama.cpp code is used). K-quant
 * seeds are left out: their 256-column blocks make a seed of ~400 KB, which slows every run; test_kernels*.c cover
 * those kernels on random blocks. Encoder seeds (embedding models, pooled into a vector instead of logits):
 *   synth_gguf.py --donor ../shared/models/stories260K.gguf --arch A --dims 16,1,2,2,32,32 --type f32
 *   -o tiny-A-f32.gguf for A = bert and nomic-bert.
 * Build and run: `make fuzz` (see the Makefile's fuzz section).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "err.h"
#include "gguf.h"
#include "model.h"
#include "tokenizer/tokenizer.h"

static int fz__fd = -1;
static char fz__path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fz__fd = memfd_create("fuzz_model.gguf", 0);
    if (fz__fd < 0) abort();
    snprintf(fz__path, sizeof fz__path, "/proc/self/fd/%d", fz__fd);
    return 0;
}

/* Replaces the memfd's contents with data. */
static int fz__store(const uint8_t *data, size_t size) {
    if (ftruncate(fz__fd, 0) != 0) return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t k = pwrite(fz__fd, data + done, size - done, (off_t)done);
        if (k <= 0) return -1;
        done += (size_t)k;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[512];
    gguf_t *g = NULL;
    err[0] = 0;
    if (gguf_open_mem(data, size, "fuzz.gguf", &g, err, sizeof err) != 0) {
        if (!err[0]) abort();
        return 0;
    }
    gguf_close(g);

    if (fz__store(data, size) != 0) abort();
    model_t *m = NULL;
    err[0] = 0;
    if (model_load(fz__path, &m, err, sizeof err) != 0) {
        if (!err[0] || m) abort();
        return 0;
    }
    const model_hparams_t *hp = model_hparams(m);
    int32_t ids[8];
    size_t n = 0;
    static const char prompt[] = "Once upon a time <s> there";
    const int rc = tok_encode(model_tok(m), prompt, sizeof prompt - 1, TOK_ADD_SPECIAL | TOK_PARSE_SPECIAL, ids, 8, &n);
    if (rc == ERR_RANGE) n = 8;
    else if (rc != 0) abort();
    if (n == 0) {
        ids[0] = 0;
        n = 1;
    }
    model_ctx_t *c = NULL;
    model_seq_t *s = NULL;
    if (hp->pooling != MODEL_POOL_NONE) { /* an embedding model: one pass pooled into a vector, no logits */
        kv_params_t kp = model_kv_params(m, 16, 1);
        kv_cache_t *kv = NULL;
        kv_seq_t seq = {0};
        float *embd = malloc((size_t)hp->n_embd * sizeof(float));
        if (embd && model_ctx_create(m, 1, 8, 16, &c) == 0 && kv_create(&kp, &kv) == 0 &&
            kv_seq_reserve(kv, &seq, (int32_t)n) == 0) {
            model_batch_seq_t bs = {.kv = &seq, .tokens = ids, .n = (int32_t)n, .embd = embd};
            int frc = model_forward_batch(c, kv, &bs, 1, NULL);
            if (frc != 0 && frc != ERR_CONTEXT) abort();
            bs.n_logits = 1; /* logits of an embedding model: refused */
            if (model_forward_batch(c, kv, &bs, 1, embd) != ERR_INVAL) abort();
        }
        if (kv) kv_seq_release(kv, &seq);
        kv_free(kv);
        free(embd);
        model_ctx_free(c);
        model_free(m);
        return 0;
    }
    float *logits = malloc((size_t)hp->n_vocab * 9 * sizeof(float));
    if (logits && model_ctx_create(m, 1, 8, 16, &c) == 0 && model_seq_create(m, 16, &s) == 0) {
        int frc = model_forward(c, s, ids, (int32_t)n, true, logits); /* ERR_CONTEXT: a file's tiny context */
        if (frc != 0 && frc != ERR_CONTEXT) abort();
        int32_t next = (int32_t)((size > 4 ? data[size - 1] | data[size - 2] << 8 : 0) % hp->n_vocab);
        if (frc == 0 && (frc = model_forward(c, s, &next, 1, false, logits)) != 0 && frc != ERR_CONTEXT) abort();
        int32_t bad = hp->n_vocab; /* out of range: refused, sequence unchanged */
        const int32_t pos = model_seq_pos(s);
        if (model_forward(c, s, &bad, 1, false, logits) == 0 || model_seq_pos(s) != pos) abort();
    }
    model_seq_free(s);
    model_ctx_free(c);
    free(logits);
    model_free(m);
    return 0;
}
