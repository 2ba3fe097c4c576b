/*
 * cmd_bench.c — `cinder bench`: prompt processing and generation speed, measured as llama-bench measures
 * pp512 and tg128: pp runs P prompt tokens as one batch into an empty cache; tg decodes G tokens one at a time
 * into an empty cache. Each test runs once as a warm-up, then R times; the mean and standard deviation of
 * tokens/s are printed as a table. With --bandwidth the machine's memory read bandwidth is measured in the same
 * run (kern_read_bandwidth, same threads), and tg is also given as a fraction of the limit it sets:
 * weight bytes x tokens/s / bandwidth (the KV cache of a short tg run adds little). With -B N the tg test runs N
 * sequences decoding together, one token each per forward pass over a shared paged cache, as the server's engine
 * steps run N streams: t/s is then the tokens of all N per second.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "err.h"
#include "kernels/kern.h"
#include "kvcache.h"
#include "model.h"

static void bench_usage(FILE *to) {
    fprintf(to,
            "usage: cinder bench -m MODEL [-p 512] [-n 128] [-B 1] [-r 5] [-t N] [-c N] [--isa NAME] [--bandwidth]\n"
            "       cinder bench --bandwidth [-t N]\n"
            "  -p N        prompt tokens processed as one batch (pp test; 0 skips it)\n"
            "  -n N        tokens generated one at a time (tg test; 0 skips it)\n"
            "  -B N        sequences decoding together in the tg test, one token each per pass (default 1;\n"
            "              t/s counts all of them)\n"
            "  -r N        repetitions after one warm-up run (default 5)\n"
            "  -c N        context capacity of the model context (default: the larger of -p and -n)\n"
            "  -t N        threads (default: number of CPUs)\n"
            "  --isa NAME  kernels: auto (default: the CPU's best), avx512vnni, avx2 or scalar, to measure\n"
            "              what CPUs without AVX-512 VNNI or AVX2 get (never above what this CPU has)\n"
            "  --bandwidth measure the memory read bandwidth (1 GiB streamed by N threads, best of 5) and\n"
            "              report tg as a fraction of the limit it sets (without -m: the bandwidth only)\n");
}

/* One run of a test: pp (n tokens in one batch) or tg (n single-token steps); returns seconds or -1. */
static double bench_run(model_ctx_t *c, model_seq_t *s, const int32_t *ids, int32_t n, bool batch, float *logits) {
    model_seq_clear(s);
    double t0 = cli_now();
    if (batch) {
        if (model_forward(c, s, ids, n, false, logits)) return -1;
    } else {
        for (int32_t i = 0; i < n; i++)
            if (model_forward(c, s, ids + i, 1, false, logits)) return -1;
    }
    return cli_now() - t0;
}

/* One tg run of n passes with `rows` sequences decoding together, sequence j reading ids + j, each from an empty
   cache; returns seconds or -1. */
static double bench_run_rows(model_ctx_t *c, kv_cache_t *kv, kv_seq_t *seqs, model_batch_seq_t *b, int32_t rows,
                             const int32_t *ids, int32_t n, float *logits) {
    for (int32_t j = 0; j < rows; j++)
        kv_seq_release(kv, &seqs[j]);
    double t0 = cli_now();
    for (int32_t i = 0; i < n; i++) {
        for (int32_t j = 0; j < rows; j++) {
            if (kv_seq_reserve(kv, &seqs[j], 1)) return -1;
            b[j] = (model_batch_seq_t){.kv = &seqs[j], .tokens = ids + j + i, .n = 1, .n_logits = 1};
        }
        if (model_forward_batch(c, kv, b, rows, logits)) return -1;
        for (int32_t j = 0; j < rows; j++)
            kv_seq_commit(kv, &seqs[j], ids + j, 1);
    }
    return cli_now() - t0;
}

/* The read bandwidth with `threads` threads (0: the CPUs), 1 GiB, best of 5; 0 or 1 after printing why. */
static int bench_bandwidth(int threads, double *gbs) {
    if (threads < 1) threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1) threads = 1;
    if (threads > 256) threads = 256;
    kern_pool_t *pool = NULL;
    int rc = kern_pool_create(threads, &pool);
    if (!rc) rc = kern_read_bandwidth(pool, (int64_t)1 << 30, 5, gbs);
    kern_pool_free(pool);
    if (rc) fprintf(stderr, "cinder bench: bandwidth: %s\n", err_str(rc));
    return rc ? 1 : 0;
}

int cmd_bench(int argc, char **argv) {
    const char *cmd = "bench", *path = NULL, *isa = NULL;
    long long n_pp = 512, n_tg = 128, reps = 5, threads = 0, n_ctx = 0, rows = 1;
    bool bandwidth = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            bench_usage(stdout);
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!(path = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "-p")) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_int(cmd, a, v, 0, 4096, &n_pp)) return 2;
        } else if (!strcmp(a, "-n")) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_int(cmd, a, v, 0, 4096, &n_tg)) return 2;
        } else if (!strcmp(a, "-B")) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_int(cmd, a, v, 1, 256, &rows)) return 2;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_int(cmd, a, v, 0, 1 << 20, &n_ctx)) return 2;
        } else if (!strcmp(a, "-r")) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_int(cmd, a, v, 1, 100, &reps)) return 2;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_int(cmd, a, v, 1, 512, &threads)) return 2;
        } else if (!strcmp(a, "--bandwidth")) {
            bandwidth = true;
        } else if (!strcmp(a, "--isa")) {
            if (!(isa = cli_value(cmd, argc, argv, &i))) return 2;
        } else {
            fprintf(stderr, "cinder bench: unknown option '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (!path && !bandwidth) {
        fprintf(stderr, "cinder bench: -m MODEL is required (see --help)\n");
        return 2;
    }
    if (isa) {
        const char *got = kern_cap_isa(isa);
        if (!got) {
            fprintf(stderr, "cinder bench: --isa: expected auto, avx512vnni, avx2 or scalar, got '%s'\n", isa);
            return 2;
        }
        if (strcmp(isa, "auto") && strcmp(got, isa))
            fprintf(stderr, "cinder bench: this CPU lacks %s; the kernels run with %s\n", isa, got);
    }
    double bw_gbs = 0;
    if (bandwidth) {
        if (bench_bandwidth((int)threads, &bw_gbs)) return 1;
        printf("read bandwidth: %.1f GB/s (%s kernels)\n", bw_gbs, kern_isa_name());
        if (!path) return 0;
    }
    char err[512] = "";
    int status = 1;
    model_t *m = NULL;
    model_ctx_t *c = NULL;
    model_seq_t *s = NULL;
    kv_cache_t *kv = NULL;
    kv_seq_t *seqs = NULL;
    model_batch_seq_t *b = NULL;
    int32_t *ids = NULL;
    float *logits = NULL;
    if (model_load(path, &m, err, sizeof err)) {
        fprintf(stderr, "cinder bench: %s\n", err);
        goto cleanup;
    }
    const model_hparams_t *hp = model_hparams(m);
    if (hp->pooling != MODEL_POOL_NONE) {
        fprintf(stderr, "cinder bench: %s is an embedding model: it generates no tokens\n", path);
        goto cleanup;
    }
    int32_t n_max = (int32_t)(n_pp > n_tg ? n_pp : n_tg);
    if (n_max < 1) n_max = 1;
    if (n_max > hp->n_ctx_train) {
        fprintf(stderr, "cinder bench: %d tokens exceed the model's context of %d\n", n_max, hp->n_ctx_train);
        goto cleanup;
    }
    /* the context's capacity (-c) sizes per-context scratch only: the speed must not depend on it */
    const int32_t cap = n_ctx > n_max ? (int32_t)n_ctx : n_max;
    if (cap > hp->n_ctx_train) {
        fprintf(stderr, "cinder bench: -c %d exceeds the model's context of %d\n", cap, hp->n_ctx_train);
        goto cleanup;
    }
    const int32_t max_batch = (int32_t)(n_pp > rows ? n_pp : rows);
    /* -B: a pool of rows sequences of n_tg positions each, in the engine's 16-token blocks */
    const kv_params_t kp = model_kv_params(m, 16, (int32_t)(rows * ((n_tg + 15) / 16 + 1)));
    if (model_ctx_create(m, (int)threads, max_batch, cap, &c) || model_seq_create(m, n_max, &s) ||
        !(ids = malloc((size_t)(n_max + rows) * sizeof *ids)) ||
        !(logits = malloc((size_t)rows * (size_t)hp->n_vocab * sizeof(float))) ||
        (rows > 1 && (kv_create(&kp, &kv) || !(seqs = calloc((size_t)rows, sizeof *seqs)) ||
                      !(b = calloc((size_t)rows, sizeof *b))))) {
        fprintf(stderr, "cinder bench: out of memory\n");
        goto cleanup;
    }
    /* Fixed pseudo-random tokens, as llama-bench uses random ids: the speed does not depend on them. */
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int32_t i = 0; i < n_max + rows; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        ids[i] = (int32_t)(x % (uint64_t)hp->n_vocab);
    }
    double tg_tps = 0;
    printf("| model | size | threads | test | t/s |\n|---|---|---|---|---|\n");
    for (int test = 0; test < 2; test++) {
        long long n = test == 0 ? n_pp : n_tg;
        if (n == 0) continue;
        bool batch = test == 0, multi = !batch && rows > 1;
        double sum = 0, sum2 = 0;
        for (long long r = -1; r < reps; r++) { /* r = -1: the warm-up */
            double t = multi ? bench_run_rows(c, kv, seqs, b, (int32_t)rows, ids, (int32_t)n, logits)
                             : bench_run(c, s, ids, (int32_t)n, batch, logits);
            if (t < 0) goto fail;
            if (r < 0) continue;
            double tps = (double)n * (multi ? (double)rows : 1.0) / t;
            sum += tps;
            sum2 += tps * tps;
        }
        double mean = sum / (double)reps, var = sum2 / (double)reps - mean * mean;
        const char *slash = strrchr(path, '/');
        char test_name[48];
        if (multi)
            snprintf(test_name, sizeof test_name, "tg%lld x%lld", n, rows);
        else
            snprintf(test_name, sizeof test_name, "%s%lld", batch ? "pp" : "tg", n);
        printf("| %s | %.2f MiB | %d | %s | %.2f ± %.2f |\n", slash ? slash + 1 : path,
               (double)model_weight_bytes(m) / (1024.0 * 1024.0), model_ctx_n_threads(c), test_name, mean,
               var > 0 ? sqrt(var) : 0.0);
        if (!batch && bw_gbs > 0) tg_tps = mean / (double)rows; /* passes per second: each reads the weights */
        fflush(stdout);
    }
    if (tg_tps > 0) {
        const double gbs = (double)model_weight_bytes(m) * tg_tps / 1e9;
        printf("tg%lld%s: %.2f GB/s of weights read = %.0f%% of the measured read bandwidth (%.1f GB/s)\n", n_tg,
               rows > 1 ? " (passes)" : "", gbs, 100.0 * gbs / bw_gbs, bw_gbs);
    }
    status = 0;
    goto cleanup;
fail:
    fprintf(stderr, "cinder bench: forward pass failed\n");
cleanup:
    if (seqs)
        for (long long j = 0; j < rows; j++)
            kv_seq_release(kv, &seqs[j]);
    free(seqs);
    free(b);
    kv_free(kv);
    free(logits);
    free(ids);
    model_seq_free(s);
    model_ctx_free(c);
    model_free(m);
    return status;
}
