/*
 * pool.h — a persistent pool of worker threads for the kernels (part of the kern module; included by kern.h).
 *
 * Owns: n_threads - 1 worker threads that live as long as the pool. A run splits a job into n_threads items
 * (fork-join) that the caller's thread and the workers claim; a pool of 1 runs everything inline.
 * Does not: queue work, balance load (jobs split work themselves, e.g. with an atomic counter), or nest.
 *
 * Latency is the point: a small model calls kern_pool_run a few hundred times per token, so idle workers spin
 * on an atomic generation counter for a while (KERN_POOL_SPIN_US) and only then sleep on a futex; the caller
 * waits for completion the same way. On a loaded machine a worker that has not started yet does not hold the
 * run up: the caller runs the items nobody has claimed.
 *
 * Threads: one owner thread calls kern_pool_run and kern_pool_free; kern_pool_n_threads is safe anywhere.
 */
#ifndef CINDER_KERN_POOL_H
#define CINDER_KERN_POOL_H

typedef struct kern_pool kern_pool_t;

/* How long (microseconds) an idle thread polls for the next run before it sleeps. */
#define KERN_POOL_SPIN_US 100

/*
 * Starts n_threads - 1 worker threads (the caller of kern_pool_run is the n_threads-th). n_threads must be in
 * [1, 256]. Returns 0 and *out, ERR_INVAL for a bad count, or ERR_NOMEM when memory or threads run out.
 */
int kern_pool_create(int n_threads, kern_pool_t **out);

/* Stops and joins the workers and frees the pool. kern_pool_free(NULL) is a no-op. Not during a run. */
void kern_pool_free(kern_pool_t *p);

/* The thread count the pool was created with (>= 1, including the caller). */
int kern_pool_n_threads(const kern_pool_t *p);

/*
 * Calls fn(ctx, ith, nth) exactly once for every ith in [0, nth), nth = kern_pool_n_threads(p), in parallel on
 * up to nth threads, and returns when every call has returned; the writes of all calls are then visible to the
 * caller. Which thread runs which ith is not fixed, and one thread may run several items one after another (the
 * caller usually runs ith 0 and picks up items that idle workers were too slow to claim), so use ith to split
 * work and to index per-item scratch, never to identify an OS thread. fn must not call kern_pool_run on the
 * same pool. Only the thread that owns the pool may call this.
 */
void kern_pool_run(kern_pool_t *p, void (*fn)(void *ctx, int ith, int nth), void *ctx);

#endif
