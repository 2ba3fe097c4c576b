/*
 * pool.c — the kernels' fork-join thread pool (see pool.h).
 *
 * Protocol. A run has nth work items, ith = 0..nth-1. The owner publishes (fn, ctx), zeroes `done`, and stores
 * `state` = (generation << 32 | next item = 0), then bumps the 32-bit `gen` that idle workers watch. Any thread,
 * owner included, claims items by compare-and-swap on `state` (so an item is claimed once, and only within its
 * generation), runs fn for each item it claims, and adds one to `done`. The owner claims items like everyone
 * else and then waits for done == nth.
 *
 * Why claim items instead of giving item i to worker i: on a loaded machine a worker may not get a CPU for
 * milliseconds; with claiming, the owner simply runs that worker's share itself instead of waiting for it.
 * A worker that wakes late finds no items (or a newer generation) and goes back to waiting.
 *
 * Waiting. Idle workers poll `gen` for KERN_POOL_SPIN_US, then sleep on it with FUTEX_WAIT after announcing
 * themselves in `n_sleeping` (the owner calls FUTEX_WAKE only when that count is non-zero). The owner waits for
 * `done` the same way, announcing itself in `owner_sleeping`. Sleeping rather than spinning for long also lets
 * the kernel move a preempted worker onto the CPU the sleeper frees. Each "announce, then re-check" pair uses
 * sequentially consistent operations, and FUTEX_WAIT re-checks the word atomically, so no wakeup is lost.
 */
#include "pool.h"

#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "err.h"

typedef struct {
    kern_pool_t *pool;
} pool__worker_t;

struct kern_pool {
    int n_threads;
    pthread_t *threads;      /* n_threads - 1 workers */
    pool__worker_t *workers; /* their arguments */
    uint32_t owner_gen;      /* the owner's copy of the generation */
    void (*fn)(void *ctx, int ith, int nth);
    void *ctx;
    _Alignas(64) _Atomic uint64_t state; /* generation << 32 | next unclaimed item */
    _Alignas(64) _Atomic uint32_t gen;   /* generation; futex word of idle workers */
    _Atomic uint32_t n_sleeping;         /* workers in (or about to enter) FUTEX_WAIT on gen */
    _Atomic int stop;                    /* set by kern_pool_free */
    _Alignas(64) _Atomic uint32_t done;  /* items finished in this generation; futex word of the owner */
    _Atomic uint32_t owner_sleeping;
};

static void pool__futex_wait(_Atomic uint32_t *addr, uint32_t expected) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void pool__futex_wake(_Atomic uint32_t *addr, int n) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

static inline void pool__pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static uint64_t pool__now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/*
 * Polls *addr until (*addr == value) == until_eq, for at most KERN_POOL_SPIN_US. True when that happened,
 * false when the time ran out and the caller should sleep.
 */
static bool pool__spin(_Atomic uint32_t *addr, uint32_t value, bool until_eq) {
    uint64_t start = 0;
    for (uint32_t i = 1;; i++) {
        if ((atomic_load_explicit(addr, memory_order_acquire) == value) == until_eq) return true;
        pool__pause();
        if ((i & 255u) == 0) { /* read the clock rarely: it costs more than a poll */
            uint64_t now = pool__now_us();
            if (start == 0)
                start = now;
            else if (now - start > KERN_POOL_SPIN_US)
                return false;
        }
    }
}

/* Claims and runs items of generation g until none are left (or a newer generation has started). */
static void pool__work(kern_pool_t *p, uint32_t g) {
    const uint32_t n = (uint32_t)p->n_threads;
    uint64_t st = atomic_load_explicit(&p->state, memory_order_acquire);
    for (;;) {
        if ((uint32_t)(st >> 32) != g || (uint32_t)st >= n) return;
        if (!atomic_compare_exchange_weak_explicit(&p->state, &st, st + 1, memory_order_acq_rel, memory_order_acquire))
            continue; /* st was reloaded */
        /* the item is ours, so the run cannot finish (nor fn/ctx change) before we report it */
        p->fn(p->ctx, (int)(uint32_t)st, (int)n);
        if (atomic_fetch_add(&p->done, 1) + 1 == n && atomic_load(&p->owner_sleeping)) pool__futex_wake(&p->done, 1);
        st = atomic_load_explicit(&p->state, memory_order_acquire);
    }
}

static void *pool__worker_main(void *arg) {
    kern_pool_t *p = ((pool__worker_t *)arg)->pool;
    uint32_t seen = 0; /* gen starts at 0 and the first run makes it 1 */
    for (;;) {
        if (!pool__spin(&p->gen, seen, false)) {
            atomic_fetch_add(&p->n_sleeping, 1);
            while (atomic_load(&p->gen) == seen)
                pool__futex_wait(&p->gen, seen);
            atomic_fetch_sub(&p->n_sleeping, 1);
        }
        seen = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (atomic_load_explicit(&p->stop, memory_order_acquire)) break;
        pool__work(p, seen);
    }
    return NULL;
}

/* Publishes a new generation of gen (after state) and wakes workers that went to sleep. */
static void pool__kick(kern_pool_t *p, uint32_t g) {
    atomic_store(&p->gen, g); /* seq_cst: ordered before the n_sleeping load below */
    if (atomic_load(&p->n_sleeping) > 0) pool__futex_wake(&p->gen, INT_MAX);
}

int kern_pool_create(int n_threads, kern_pool_t **out) {
    if (!out) return ERR_INVAL;
    *out = NULL;
    if (n_threads < 1 || n_threads > 256) return ERR_INVAL;
    /* the atomics sit on their own cache lines (_Alignas(64)), which calloc does not guarantee */
    kern_pool_t *p = aligned_alloc(64, (sizeof *p + 63) & ~(size_t)63);
    if (!p) return ERR_NOMEM;
    memset(p, 0, sizeof *p);
    p->n_threads = n_threads;
    atomic_init(&p->state, 0);
    atomic_init(&p->gen, 0);
    atomic_init(&p->n_sleeping, 0);
    atomic_init(&p->stop, 0);
    atomic_init(&p->done, 0);
    atomic_init(&p->owner_sleeping, 0);
    if (n_threads > 1) {
        p->threads = calloc((size_t)n_threads - 1, sizeof *p->threads);
        p->workers = calloc((size_t)n_threads - 1, sizeof *p->workers);
        if (!p->threads || !p->workers) {
            free(p->threads);
            free(p->workers);
            free(p);
            return ERR_NOMEM;
        }
    }
    for (int i = 0; i < n_threads - 1; i++) {
        p->workers[i].pool = p;
        if (pthread_create(&p->threads[i], NULL, pool__worker_main, &p->workers[i]) != 0) {
            p->n_threads = i + 1; /* join only the ones that started */
            kern_pool_free(p);
            return ERR_NOMEM;
        }
    }
    *out = p;
    return 0;
}

void kern_pool_free(kern_pool_t *p) {
    if (!p) return;
    if (p->n_threads > 1) {
        atomic_store_explicit(&p->stop, 1, memory_order_release);
        pool__kick(p, ++p->owner_gen);
        for (int i = 0; i < p->n_threads - 1; i++)
            pthread_join(p->threads[i], NULL);
    }
    free(p->threads);
    free(p->workers);
    free(p);
}

int kern_pool_n_threads(const kern_pool_t *p) { return p ? p->n_threads : 1; }

void kern_pool_run(kern_pool_t *p, void (*fn)(void *ctx, int ith, int nth), void *ctx) {
    if (!p || p->n_threads == 1) {
        fn(ctx, 0, 1);
        return;
    }
    const uint32_t n = (uint32_t)p->n_threads, g = ++p->owner_gen;
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    atomic_store_explicit(&p->state, (uint64_t)g << 32, memory_order_release);
    pool__kick(p, g);
    pool__work(p, g);
    if (pool__spin(&p->done, n, true)) return;
    uint32_t v;
    while ((v = atomic_load_explicit(&p->done, memory_order_acquire)) != n) {
        atomic_store(&p->owner_sleeping, 1);
        v = atomic_load(&p->done);
        if (v != n) pool__futex_wait(&p->done, v);
        atomic_store(&p->owner_sleeping, 0);
    }
}
