/*
 * cmd_perplexity.c — `cinder perplexity`: llama-perplexity's method, so the numbers compare directly.
 *
 * The whole text (less one trailing newline, as llama.cpp's -f drops it) is tokenized once with BOS; it is cut into floor(n_tokens / n_ctx) consecutive chunks of n_ctx
 * tokens; each chunk starts from an empty cache with its first token replaced by BOS and runs as one batch with
 * logits for every position; positions n_ctx/2 .. n_ctx-2 are scored, each predicting the next token; the
 * result is exp(mean negative log-likelihood) over all scored tokens.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "err.h"
#include "model.h"

static void ppl_usage(FILE *to) {
    fprintf(to, "usage: cinder perplexity -m MODEL -f TEXTFILE [-c N] [-t N]\n"
                "  -m, --model PATH     GGUF model file\n"
                "  -f, --file PATH      text to score\n"
                "  -c, --ctx-size N     tokens per chunk (default 512; at most 4096 and the model's context)\n"
                "  -t, --threads N      threads (default: number of CPUs)\n"
                "  prints a running estimate per chunk and `PPL = <value>` as its last line\n");
}

/* Reads a whole file into a NUL-terminated malloc'd buffer; refuses files over 256 MiB. */
static int ppl_read_file(const char *path, char **out, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return ERR_IO;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (cap - n < 65536) {
            if (cap > (256u << 20)) {
                rc = ERR_LIMIT;
                break;
            }
            char *nb = realloc(buf, cap + (1u << 20));
            if (!nb) {
                rc = ERR_NOMEM;
                break;
            }
            buf = nb;
            cap += 1u << 20;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) rc = ERR_IO;
            break;
        }
    }
    fclose(f);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

/* -log softmax(logits)[target], with the max subtracted and the sum in double. */
static double ppl_nll(const float *logits, int32_t n_vocab, int32_t target) {
    float max = logits[0];
    for (int32_t i = 1; i < n_vocab; i++)
        if (logits[i] > max) max = logits[i];
    double sum = 0.0;
    for (int32_t i = 0; i < n_vocab; i++) sum += exp((double)(logits[i] - max));
    return -((double)(logits[target] - max) - log(sum));
}

int cmd_perplexity(int argc, char **argv) {
    const char *cmd = "perplexity", *path = NULL, *file = NULL;
    long long n_ctx = 512, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            ppl_usage(stdout);
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!(path = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            if (!(file = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_int(cmd, a, v, 4, 4096, &n_ctx)) return 2;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_int(cmd, a, v, 1, 512, &threads)) return 2;
        } else {
            fprintf(stderr, "cinder perplexity: unknown option '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (!path || !file) {
        fprintf(stderr, "cinder perplexity: -m MODEL and -f TEXTFILE are required (see --help)\n");
        return 2;
    }

    char err[512] = "";
    int status = 1, rc;
    model_t *m = NULL;
    model_ctx_t *c = NULL;
    model_seq_t *s = NULL;
    char *text = NULL;
    int32_t *ids = NULL;
    float *logits = NULL;
    size_t len = 0, n_tok = 0;

    if ((rc = ppl_read_file(file, &text, &len))) {
        fprintf(stderr, "cinder perplexity: cannot read '%s': %s\n", file, err_str(rc));
        goto cleanup;
    }
    if (len > 0 && text[len - 1] == '\n') text[--len] = '\0'; /* as llama.cpp's -f does, so counts agree */
    if (model_load(path, &m, err, sizeof err)) {
        fprintf(stderr, "cinder perplexity: %s\n", err);
        goto cleanup;
    }
    const model_hparams_t *hp = model_hparams(m);
    const tok_t *tok = model_tok(m);
    if (hp->pooling != MODEL_POOL_NONE) {
        fprintf(stderr, "cinder perplexity: %s is an embedding model: it predicts no tokens\n", path);
        goto cleanup;
    }
    if (n_ctx > hp->n_ctx_train) {
        fprintf(stderr, "cinder perplexity: -c %lld exceeds the model's context of %d\n", n_ctx, hp->n_ctx_train);
        goto cleanup;
    }
    size_t cap = len + 16;
    ids = malloc(cap * sizeof *ids);
    if (!ids || tok_encode(tok, text, len, TOK_ADD_SPECIAL, ids, cap, &n_tok)) {
        fprintf(stderr, "cinder perplexity: cannot tokenize '%s'\n", file);
        goto cleanup;
    }
    long long n_chunk = (long long)n_tok / n_ctx;
    if (n_tok < 2 * (size_t)n_ctx) {
        fprintf(stderr, "cinder perplexity: '%s' has %zu tokens; at least 2 x %lld are needed\n", file, n_tok,
                n_ctx);
        goto cleanup;
    }
    if (model_ctx_create(m, (int)threads, (int32_t)n_ctx, (int32_t)n_ctx, &c) ||
        model_seq_create(m, (int32_t)n_ctx, &s) ||
        !(logits = malloc((size_t)n_ctx * (size_t)hp->n_vocab * sizeof(float)))) {
        fprintf(stderr, "cinder perplexity: out of memory\n");
        goto cleanup;
    }
    int32_t bos = tok_bos(tok);
    const long long first = n_ctx / 2;
    double nll = 0.0;
    long long count = 0;
    double t0 = cli_now();
    fprintf(stderr, "cinder perplexity: %zu tokens, %lld chunks of %lld\n", n_tok, n_chunk, n_ctx);
    for (long long ch = 0; ch < n_chunk; ch++) {
        int32_t *chunk = ids + ch * n_ctx;
        int32_t saved = chunk[0];
        if (bos >= 0) chunk[0] = bos;
        model_seq_clear(s);
        rc = model_forward(c, s, chunk, (int32_t)n_ctx, true, logits);
        chunk[0] = saved;
        if (rc) {
            fprintf(stderr, "cinder perplexity: forward pass failed: %s\n", err_str(rc));
            goto cleanup;
        }
        for (long long i = first; i < n_ctx - 1; i++) {
            nll += ppl_nll(logits + (size_t)i * hp->n_vocab, hp->n_vocab, chunk[i + 1]);
            count++;
        }
        printf("[%lld]%.4f%s", ch + 1, exp(nll / (double)count), ch + 1 == n_chunk ? "\n" : " ");
        fflush(stdout);
    }
    fprintf(stderr, "cinder perplexity: %.2f s, %.1f tokens/s\n", cli_now() - t0,
            (double)(n_chunk * n_ctx) / (cli_now() - t0));
    printf("PPL = %.4f\n", exp(nll / (double)count));
    status = 0;
cleanup:
    free(logits);
    free(ids);
    free(text);
    model_seq_free(s);
    model_ctx_free(c);
    model_free(m);
    return status;
}
