/*
 * bench_grammar.c — time per token of grammar masks on a real vocabulary (not a unit test; no assertions).
 *
 *   bench_grammar [-v vocab.gguf] [-s schema.json] [-n walks] [-r seed]
 *     -v  a GGUF with a tokenizer (default ../shared/models/vocab/ggml-vocab-qwen3.gguf, 151,936 entries)
 *     -s  a JSON Schema file (default: a 9-property extraction schema in OpenAI's strict form, below)
 *     -n  random walks (default 20); -r  RNG seed
 *
 * Each walk generates one document by sampling allowed tokens at random (biased towards structural tokens so
 * that strings and numbers end), as decoding with random weights would. Per step it times: the cached mask
 * (gram_matcher_fill_mask), split into steps that had to compute a new cache entry ("cold") and steps served by
 * the cache ("warm"); the uncached trie walk (gram_matcher_fill_mask_nocache); the fast path (one
 * gram_matcher_allows on a random token); and, on a few steps, checking every token one by one (what a grammar
 * engine without trie or cache does). Also the one-time costs: trie build and schema compile.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gguf.h"
#include "grammar/grammar.h"
#include "tokenizer/tokenizer.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static const char *default_schema =
    "{\"type\":\"object\",\"properties\":{"
    "\"name\":{\"type\":\"string\",\"description\":\"full name\"},"
    "\"age\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":150},"
    "\"email\":{\"type\":\"string\",\"format\":\"email\"},"
    "\"born\":{\"type\":\"string\",\"format\":\"date\"},"
    "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"enum\":[\"customer\",\"vip\",\"staff\"]},"
    "\"maxItems\":4},"
    "\"score\":{\"type\":[\"number\",\"null\"]},"
    "\"address\":{\"type\":\"object\",\"properties\":{\"street\":{\"type\":\"string\"},\"city\":{\"type\":\"string\"},"
    "\"zip\":{\"type\":\"string\",\"pattern\":\"^[0-9]{5}$\"}},\"required\":[\"street\",\"city\",\"zip\"],"
    "\"additionalProperties\":false},"
    "\"notes\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
    "\"active\":{\"type\":\"boolean\"}},"
    "\"required\":[\"name\",\"age\",\"email\",\"born\",\"tags\",\"score\",\"address\",\"notes\",\"active\"],"
    "\"additionalProperties\":false}";

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) n = 0;
    if (b) b[n] = 0;
    fclose(f);
    return b;
}

int main(int argc, char **argv) {
    const char *vocab = "../shared/models/vocab/ggml-vocab-qwen3.gguf", *schema_path = NULL;
    int walks = 20;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-v"))
            vocab = argv[i + 1];
        else if (!strcmp(argv[i], "-s"))
            schema_path = argv[i + 1];
        else if (!strcmp(argv[i], "-n"))
            walks = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-r"))
            rng = strtoull(argv[i + 1], NULL, 10) | 1;
        else {
            fprintf(stderr, "usage: bench_grammar [-v vocab.gguf] [-s schema.json] [-n walks] [-r seed]\n");
            return 2;
        }
    }
    char err[256] = "";
    gguf_t *gg = NULL;
    tok_t *t = NULL;
    if (gguf_open(vocab, &gg, err, sizeof err) || tok_load(gg, &t, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", vocab, err);
        return 1;
    }
    gguf_close(gg);
    int32_t nv = tok_n_vocab(t);
    double t0 = now_s();
    gram_vocab_t *v = NULL;
    if (gram_vocab_create(t, &v, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    double t_vocab = now_s() - t0;
    char *schema = schema_path ? slurp(schema_path) : strdup(default_schema);
    if (!schema) {
        fprintf(stderr, "cannot read %s\n", schema_path);
        return 1;
    }
    t0 = now_s();
    gram_t *g = NULL;
    if (gram_from_schema(schema, strlen(schema), NULL, &g, err, sizeof err)) {
        fprintf(stderr, "schema: %s\n", err);
        return 1;
    }
    double t_compile = now_s() - t0;
    gram_stats_t st;
    gram_stats(g, &st);
    printf("vocabulary: %d tokens, trie built in %.1f ms\n", nv, t_vocab * 1e3);
    printf("schema: %zu bytes, compiled in %.2f ms (%u rules, %u elements)\n", strlen(schema), t_compile * 1e3,
           st.n_rules, st.n_elems);

    gram_matcher_t *m = NULL;
    gram_matcher_create(g, v, NULL, &m, err, sizeof err);
    size_t words = gram_mask_words(nv);
    uint32_t *mask = malloc(words * 4), *tmp = malloc(words * 4);
    int32_t *buf = malloc((size_t)nv * sizeof *buf);
    size_t cap = 1 << 20, n_warm = 0, n_cold = 0, n_nocache = 0, n_fast = 0, n_brute = 0, steps = 0;
    double *warm = malloc(cap * sizeof *warm), *cold = malloc(cap * sizeof *cold), cold_sum = 0, nocache_sum = 0,
           fast_sum = 0, brute_sum = 0;
    size_t doc_bytes = 0;
    for (int w = 0; w < walks; w++) {
        gram_matcher_reset(m);
        while (!gram_matcher_done(m) && steps < cap) {
            gram_stats(g, &st);
            uint32_t cached = st.n_cached;
            double a = now_s();
            gram_matcher_fill_mask(m, mask);
            double b = now_s();
            gram_stats(g, &st);
            if (st.n_cached != cached)
                cold_sum += b - a, cold[n_cold++] = b - a;
            else
                warm[n_warm++] = b - a;
            if (steps % 7 == 0) {
                a = now_s();
                gram_matcher_fill_mask_nocache(m, tmp);
                nocache_sum += now_s() - a;
                n_nocache++;
            }
            if (steps % 97 == 0 && n_brute < 5) {
                a = now_s();
                for (int32_t id = 0; id < nv; id++)
                    gram_matcher_allows(m, id);
                brute_sum += now_s() - a;
                n_brute++;
            }
            int32_t probe = (int32_t)(rnd() % (uint64_t)nv);
            a = now_s();
            gram_matcher_allows(m, probe);
            fast_sum += now_s() - a;
            n_fast++;
            /* pick: EOG if allowed, else half the time a structural token, else any allowed token */
            int32_t n = 0, id = -1;
            for (int32_t k = 0; k < nv && id < 0; k++)
                if ((mask[k >> 5] >> (k & 31)) & 1u) {
                    if (tok_is_eog(t, k))
                        id = k;
                    else
                        buf[n++] = k;
                }
            if (id < 0 && rnd() % 2) {
                int32_t ns = 0;
                for (int32_t k = 0; k < n; k++) {
                    size_t len;
                    const uint8_t *bytes = gram_vocab_bytes(v, buf[k], &len);
                    if (memchr(bytes, '"', len) || memchr(bytes, '}', len) || memchr(bytes, ']', len) ||
                        memchr(bytes, ',', len))
                        buf[ns++] = buf[k];
                }
                if (ns)
                    id = buf[rnd() % (uint64_t)ns];
                else
                    n = 0;
            }
            if (id < 0 && n == 0)
                for (int32_t k = 0; k < nv; k++)
                    if ((mask[k >> 5] >> (k & 31)) & 1u) buf[n++] = k;
            if (id < 0) id = buf[rnd() % (uint64_t)n];
            size_t len;
            gram_vocab_bytes(v, id, &len);
            doc_bytes += len;
            if (gram_matcher_accept(m, id)) {
                fprintf(stderr, "token %d refused\n", id);
                return 1;
            }
            steps++;
        }
    }
    qsort(warm, n_warm, sizeof *warm, cmp_d);
    qsort(cold, n_cold, sizeof *cold, cmp_d);
    double warm_sum = 0;
    for (size_t i = 0; i < n_warm; i++)
        warm_sum += warm[i];
    gram_stats(g, &st);
    printf("walks: %d, %zu tokens, %zu document bytes, %u cache entries\n", walks, steps, doc_bytes, st.n_cached);
    printf("mask, cached (warm):     mean %8.1f us  p50 %8.1f us  p99 %8.1f us  max %8.1f us  (%zu steps)\n",
           n_warm ? warm_sum / (double)n_warm * 1e6 : 0, n_warm ? warm[n_warm / 2] * 1e6 : 0,
           n_warm ? warm[(size_t)((double)n_warm * 0.99)] * 1e6 : 0, n_warm ? warm[n_warm - 1] * 1e6 : 0, n_warm);
    printf("mask, new cache entry:   mean %8.1f us  p50 %8.1f us  p99 %8.1f us  max %8.1f us  (%zu steps; once per "
           "grammar and parse context), %.0f ms in all\n",
           n_cold ? cold_sum / (double)n_cold * 1e6 : 0, n_cold ? cold[n_cold / 2] * 1e6 : 0,
           n_cold ? cold[(size_t)((double)n_cold * 0.99)] * 1e6 : 0, n_cold ? cold[n_cold - 1] * 1e6 : 0, n_cold,
           cold_sum * 1e3);
    printf("mask, all steps:         mean %8.1f us\n", (warm_sum + cold_sum) / (double)(steps ? steps : 1) * 1e6);
    printf("mask, uncached trie walk: mean %7.1f us  (%zu steps)\n",
           nocache_sum / (double)(n_nocache ? n_nocache : 1) * 1e6, n_nocache);
    printf("fast path, one token:    mean %8.2f us\n", fast_sum / (double)(n_fast ? n_fast : 1) * 1e6);
    printf("every token one by one:  mean %8.1f us  (%zu steps)\n", brute_sum / (double)(n_brute ? n_brute : 1) * 1e6,
           n_brute);
    gram_matcher_free(m);
    gram_free(g);
    gram_vocab_free(v);
    tok_free(t);
    free(mask);
    free(tmp);
    free(buf);
    free(warm);
    free(cold);
    free(schema);
    return 0;
}
