/*
 * bandwidth.c — the machine's memory read bandwidth, measured the way a decode step reads its weights: every
 * thread of a pool streams through its share of a buffer much larger than the caches. It bounds decode speed:
 * tokens/s <= bandwidth / bytes read per token (weights + KV cache), so `cinder bench --bandwidth` reports tg
 * as a fraction of that limit.
 *
 * Plain C with four independent 64-bit sums per thread (two loads per cycle at any ISA is far above what DRAM
 * delivers to one core); the sums are kept so that the reads cannot be optimised away. Called from the thread
 * that owns the pool.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "kern_impl.h"

typedef struct {
    const uint64_t *buf;
    int64_t n_words;
    uint64_t sums[256]; /* per thread item; read after the run */
} bw__job_t;

static void bw__worker(void *arg, int ith, int nth) {
    bw__job_t *job = arg;
    const int64_t per = (job->n_words / nth) & ~(int64_t)7;
    const uint64_t *p = job->buf + per * ith;
    uint64_t a = 0, b = 0, c = 0, d = 0;
    for (int64_t i = 0; i < per; i += 8) {
        a += p[i] + p[i + 4];
        b += p[i + 1] + p[i + 5];
        c += p[i + 2] + p[i + 6];
        d += p[i + 3] + p[i + 7];
    }
    job->sums[ith] = a ^ b ^ c ^ d;
}

static double bw__now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int kern_read_bandwidth(kern_pool_t *pool, int64_t bytes, int reps, double *gb_per_s) {
    if (!pool || !gb_per_s || bytes < (1 << 20) || bytes > ((int64_t)1 << 36) || reps < 1) return ERR_INVAL;
    *gb_per_s = 0;
    const int nth = kern_pool_n_threads(pool);
    bw__job_t *job = calloc(1, sizeof *job);
    uint64_t *buf = aligned_alloc(64, (size_t)bytes & ~(size_t)63);
    if (!job || !buf) {
        free(job);
        free(buf);
        return ERR_NOMEM;
    }
    memset(buf, 1, (size_t)bytes & ~(size_t)63); /* fault the pages in before timing */
    job->buf = buf;
    job->n_words = (bytes & ~(int64_t)63) / 8;
    const int64_t read = (job->n_words / nth & ~(int64_t)7) * nth * 8;
    double best = 0;
    uint64_t keep = 0;
    for (int r = 0; r <= reps; r++) { /* the first pass warms the TLB and the threads up */
        const double t0 = bw__now();
        kern_pool_run(pool, bw__worker, job);
        const double dt = bw__now() - t0;
        for (int i = 0; i < nth; i++)
            keep ^= job->sums[i];
        if (r > 0 && dt > 0 && (double)read / dt > best) best = (double)read / dt;
    }
    /* keep depends on every word read; a value that cannot occur stops the compiler from dropping the loop */
    if (keep == 0x5a5a5a5a5a5a5a5aull) best += 1e-30;
    free(buf);
    free(job);
    *gb_per_s = best / 1e9;
    return 0;
}
