/*
 * cmd_bench.c — `cinder bench`: prompt processing and generation speed, measured as llama-bench measures
 * pp512 and tg128: pp runs P prompt tokens as one batch into an empty cache; tg decodes G tokens one at a time
 * into an empty cache. Each test runs once as a warm-up, then R times; the mean and standard deviation of
 * tokens/s are printed as a table. With --bandwidth the machine's memory read bandwidth is measured in the same
 * run (kern_read_bandwidth, same threads), and tg is also given as a fraction of the limit it sets:
 * weight bytes x tokens/s / bandwidth (the KV cache of a short tg run adds little).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "err.h"
#include "kernels/kern.h"
#include "model.h"

static void bench_usage(FILE *to) {
    fprintf(to, "usage: cinder bench -m MODEL [-p 512] [-n 128] [-r 5] [-t N] [-c N] [--isa NAME] [--bandwidth]\n"
                "       cinder bench --bandwidth [-t N]\n"
                "  -p N        prompt tokens processed as one batch (pp test; 0 skips it)\n"
                "  -n N        tokens generated one at a time (tg test; 0 skips it)\n"
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
    long long n_pp = 512, n_tg = 128, reps = 5, threads = 0, n_ctx = 0;
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
    if (model_ctx_create(m, (int)threads, n_pp > 0 ? (int32_t)n_pp : 1, cap, &c) ||
        model_seq_create(m, n_max, &s) || !(ids = malloc((size_t)n_max * sizeof *ids)) ||
        !(logits = malloc((size_t)hp->n_vocab * sizeof(float)))) {
        fprintf(stderr, "cinder bench: out of memory\n");
        goto cleanup;
    }
    /* Fixed pseudo-random tokens, as llama-bench uses random ids: the speed does not depend on them. */
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int32_t i = 0; i < n_max; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        ids[i] = (int32_t)(x % (uint64_t)hp->n_vocab);
    }
    double tg_tps = 0;
    printf("| model | size | threads | test | t/s |\n|---|---|---|---|---|\n");
    for (int test = 0; test < 2; test++) {
        long long n = test == 0 ? n_pp : n_tg;
        if (n == 0) continue;
        bool batch = test == 0;
        if (bench_run(c, s, ids, (int32_t)n, batch, logits) < 0) goto fail;
        double sum = 0, sum2 = 0;
        for (long long r = 0; r < reps; r++) {
            double t = bench_run(c, s, ids, (int32_t)n, batch, logits);
            if (t < 0) goto fail;
            double tps = (double)n / t;
            sum += tps;
            sum2 += tps * tps;
        }
        double mean = sum / (double)reps, var = sum2 / (double)reps - mean * mean;
        const char *slash = strrchr(path, '/');
        printf("| %s | %.2f MiB | %d | %s%lld | %.2f ± %.2f |\n", slash ? slash + 1 : path,
               (double)model_weight_bytes(m) / (1024.0 * 1024.0), model_ctx_n_threads(c), batch ? "pp" : "tg", n,
               mean, var > 0 ? sqrt(var) : 0.0);
        if (!batch && bw_gbs > 0) tg_tps = mean;
        fflush(stdout);
    }
    if (tg_tps > 0) {
        const double gbs = (double)model_weight_bytes(m) * tg_tps / 1e9;
        printf("tg%lld: %.2f GB/s of weights read = %.0f%% of the measured read bandwidth (%.1f GB/s)\n", n_tg, gbs,
               100.0 * gbs / bw_gbs, bw_gbs);
    }
    status = 0;
    goto cleanup;
fail:
    fprintf(stderr, "cinder bench: forward pass failed\n");
cleanup:
    free(logits);
    free(ids);
    model_seq_free(s);
    model_ctx_free(c);
    model_free(m);
    return status;
}
