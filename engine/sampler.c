/*
 * sampler.c — logit_bias, penalties, temperature, top_k / top_p / min_p and the draw (see sampler.h).
 *
 * One call works in the scratch array `cand` (one (id, logit, p) triple per vocabulary entry): it is filled
 * with the logits indexed by id, adjusted in place by bias and penalties (while cand[i].id == i), then
 * compacted to the tokens that are not -inf. The filters order tokens by their adjusted logit — the exact order
 * of their probabilities, free of exp's rounding — and weigh them by p = exp((l - max) / T) in (0, 1] (the best
 * token has p = 1 exactly), computed by kern_exp_weights: SIMD, with the same bits on every platform and ISA, so a
 * seed draws the same tokens everywhere. Sums of weights run in four interleaved chains (one chain would wait on
 * the adder's latency at every token of a 150k vocabulary).
 *
 * The filters never sort the whole vocabulary: top_k is a quickselect (expected O(n)); min_p is one
 * partition pass; top_p is a quickselect variant that descends into the side of the pivot where the cumulative
 * mass crosses the threshold (expected O(n)). Both selections keep a depth budget and finish with a heapsort of
 * what is left when the budget runs out, so adversarial rows cost O(n log n), never O(n^2). The order they
 * select by is total — logit descending, then id ascending — so the kept sets do not depend on the algorithm.
 */
#include "sampler.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "kernels/kern.h"

/* NaN and inf handling and bit-exact results need IEEE semantics. */
#if defined(__FAST_MATH__)
#error "engine/sampler.c must not be built with -ffast-math (it relies on NaN, inf and exact rounding)"
#endif

/* Bit-for-bit results across platforms: no fused multiply-add in this file, whatever the build flags. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

typedef struct {
    int32_t id;
    float l; /* adjusted logit: what the filters order by */
    float p; /* unnormalised probability exp((l - max l) / T) in (0, 1], once computed */
} sampler__cand_t;

struct sampler {
    sampler_params_t p; /* validated copy; p.logit_bias points at bias below */
    int32_t n_vocab;
    sampler_bias_t *bias; /* (n_bias) deduplicated: one entry per id */
    size_t n_bias;
    sampler_rng_t rng;
    sampler__cand_t *cand; /* (n_vocab) scratch for one call */
    bool cand_borrowed;    /* cand is a shared scratch (sampler_share_scratch), not ours to free */
    int32_t *gen_count;    /* (n_vocab) times each id was generated, saturating at INT32_MAX */
    int32_t *gen_ids;      /* (n_vocab) distinct generated ids in first-seen order; n_gen_ids used */
    int32_t n_gen_ids;
    uint8_t *mark;      /* (n_vocab) all zero between calls; marks ids already penalised */
    int32_t *window;    /* (penalty_last_n) ring of the last prompt+generated ids */
    int32_t window_len; /* entries filled, <= penalty_last_n */
    int32_t window_pos; /* next slot to write */
    uint64_t n_generated;
    size_t last_n;    /* sampler_propose with temperature > 0: its candidates cand[0..last_n) stay for a redraw */
    double last_mass; /* their total mass; 0 = nothing to redraw from */
};

/* ---- random numbers ---------------------------------------------------------------------------------- */

static uint64_t sampler__splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t sampler__rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void sampler_rng_seed(sampler_rng_t *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = sampler__splitmix64(&x);
}

uint64_t sampler_rng_next(sampler_rng_t *r) {
    uint64_t *s = r->s;
    const uint64_t result = sampler__rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = sampler__rotl(s[3], 45);
    return result;
}

double sampler_rng_uniform(sampler_rng_t *r) {
    /* 53 random bits, centred in their interval: the result is exact in binary64 and lies in (0, 1). */
    return ((double)(sampler_rng_next(r) >> 11) + 0.5) * 0x1.0p-53;
}

/* ---- ordering and selection on candidates ---------------------------------------------------------- */

/* The total order the filters select by: larger adjusted logit first, then lower id. */
static inline bool sampler__before(const sampler__cand_t *a, const sampler__cand_t *b) {
    return a->l > b->l || (a->l == b->l && a->id < b->id);
}

static inline void sampler__swap(sampler__cand_t *a, sampler__cand_t *b) {
    sampler__cand_t t = *a;
    *a = *b;
    *b = t;
}

static void sampler__insertion_sort(sampler__cand_t *c, size_t n) {
    for (size_t i = 1; i < n; i++) {
        sampler__cand_t x = c[i];
        size_t j = i;
        while (j > 0 && sampler__before(&x, &c[j - 1])) {
            c[j] = c[j - 1];
            j--;
        }
        c[j] = x;
    }
}

static void sampler__sift_down(sampler__cand_t *c, size_t root, size_t n) {
    /* Heap whose root is the element that comes LAST in before() order. */
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n) return;
        if (child + 1 < n && sampler__before(&c[child], &c[child + 1])) child++;
        if (!sampler__before(&c[root], &c[child])) return;
        sampler__swap(&c[root], &c[child]);
        root = child;
    }
}

/* Sorts c[0..n) in before() order (best first). In place, O(n log n), no allocation. */
static void sampler__sort(sampler__cand_t *c, size_t n) {
    if (n <= 16) {
        sampler__insertion_sort(c, n);
        return;
    }
    for (size_t i = n / 2; i-- > 0;)
        sampler__sift_down(c, i, n);
    for (size_t end = n - 1; end > 0; end--) {
        sampler__swap(&c[0], &c[end]);
        sampler__sift_down(c, 0, end);
    }
}

/* Partitions c[lo..hi) (hi - lo >= 3) around the median of three; returns the pivot's final index p:
   c[lo..p) come before the pivot, c[p+1..hi) after it. */
static size_t sampler__partition(sampler__cand_t *c, size_t lo, size_t hi) {
    size_t mid = lo + (hi - lo) / 2, last = hi - 1;
    if (sampler__before(&c[mid], &c[lo])) sampler__swap(&c[mid], &c[lo]);
    if (sampler__before(&c[last], &c[lo])) sampler__swap(&c[last], &c[lo]);
    if (sampler__before(&c[last], &c[mid])) sampler__swap(&c[last], &c[mid]);
    sampler__swap(&c[mid], &c[last]); /* the median is the pivot, parked at the end */
    size_t store = lo;
    for (size_t i = lo; i < last; i++)
        if (sampler__before(&c[i], &c[last])) sampler__swap(&c[i], &c[store++]);
    sampler__swap(&c[store], &c[last]);
    return store;
}

static int sampler__depth_budget(size_t n) {
    int d = 8;
    while (n > 1) {
        n >>= 1;
        d += 2;
    }
    return d;
}

/* Rearranges c[0..n) so that c[0..k) holds the k first elements in before() order (unordered), 0 < k < n. */
static void sampler__select_k(sampler__cand_t *c, size_t n, size_t k) {
    size_t lo = 0, hi = n;
    int budget = sampler__depth_budget(n);
    while (hi - lo > 16) {
        if (budget-- == 0) break;
        size_t p = sampler__partition(c, lo, hi);
        if (p == k || p + 1 == k) return;
        if (p < k)
            lo = p + 1;
        else
            hi = p;
    }
    sampler__sort(c + lo, hi - lo);
}

/*
 * top_p: with c[0..n) holding unnormalised probabilities, finds the shortest prefix in before() order whose
 * mass reaches `need`, moves it to c[0..m) (unordered) and returns m >= 1. If the whole set falls short
 * (min_p removed mass first, or rounding), everything is kept.
 */
static size_t sampler__top_p(sampler__cand_t *c, size_t n, double need) {
    size_t lo = 0, hi = n; /* c[0..lo) is kept; the crossing point lies in [lo, hi) */
    int budget = sampler__depth_budget(n);
    while (hi - lo > 16 && budget-- > 0) {
        size_t p = sampler__partition(c, lo, hi);
        double mass = 0.0;
        for (size_t i = lo; i < p; i++)
            mass += c[i].p;
        if (mass >= need) {
            hi = p; /* the prefix ends before the pivot; everything from it on is dropped */
            continue;
        }
        need -= mass + c[p].p;
        lo = p + 1;
        if (need <= 0.0) return lo;
    }
    sampler__sort(c + lo, hi - lo);
    for (size_t i = lo; i < hi; i++) {
        need -= c[i].p;
        if (need <= 0.0) return i + 1;
    }
    return hi > 0 ? hi : 1;
}

/* ---- parameters, create, free -------------------------------------------------------------------- */

sampler_params_t sampler_default_params(void) {
    sampler_params_t p;
    memset(&p, 0, sizeof p);
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.presence_penalty = 0.0f;
    p.frequency_penalty = 0.0f;
    p.repetition_penalty = 1.0f;
    p.penalty_last_n = SAMPLER_DEFAULT_PENALTY_LAST_N;
    p.seed = 0;
    p.logit_bias = NULL;
    p.n_logit_bias = 0;
    return p;
}

/* Range checks, written so that NaN fails every one of them. */
static int sampler__validate(const sampler_params_t *p, int32_t n_vocab, char *err, size_t err_len) {
    if (n_vocab < 1) return err_set(err, err_len, ERR_RANGE, "n_vocab must be at least 1, got %d", (int)n_vocab);
    if (!(p->temperature >= 0.0f && p->temperature <= 2.0f))
        return err_set(err, err_len, ERR_RANGE, "temperature must be in [0, 2], got %g", (double)p->temperature);
    if (p->top_k < 0) return err_set(err, err_len, ERR_RANGE, "top_k must be >= 0, got %d", (int)p->top_k);
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
        return err_set(err, err_len, ERR_RANGE, "top_p must be in (0, 1], got %g", (double)p->top_p);
    if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
        return err_set(err, err_len, ERR_RANGE, "min_p must be in [0, 1], got %g", (double)p->min_p);
    if (!(p->presence_penalty >= -2.0f && p->presence_penalty <= 2.0f))
        return err_set(err, err_len, ERR_RANGE, "presence_penalty must be in [-2, 2], got %g",
                       (double)p->presence_penalty);
    if (!(p->frequency_penalty >= -2.0f && p->frequency_penalty <= 2.0f))
        return err_set(err, err_len, ERR_RANGE, "frequency_penalty must be in [-2, 2], got %g",
                       (double)p->frequency_penalty);
    if (!(p->repetition_penalty > 0.0f && isfinite(p->repetition_penalty)))
        return err_set(err, err_len, ERR_RANGE, "repetition_penalty must be > 0 and finite, got %g",
                       (double)p->repetition_penalty);
    if (p->penalty_last_n < 0 || p->penalty_last_n > SAMPLER_MAX_PENALTY_LAST_N)
        return err_set(err, err_len, ERR_RANGE, "penalty_last_n must be in [0, %d], got %d", SAMPLER_MAX_PENALTY_LAST_N,
                       (int)p->penalty_last_n);
    if (p->n_logit_bias > 0 && !p->logit_bias)
        return err_set(err, err_len, ERR_INVAL, "logit_bias is NULL but n_logit_bias is %zu", p->n_logit_bias);
    for (size_t i = 0; i < p->n_logit_bias; i++) {
        const sampler_bias_t *b = &p->logit_bias[i];
        if (b->id < 0 || b->id >= n_vocab)
            return err_set(err, err_len, ERR_RANGE, "logit_bias: token id %d is outside the vocabulary [0, %d)",
                           (int)b->id, (int)n_vocab);
        if (!(b->bias >= -100.0f && b->bias <= 100.0f))
            return err_set(err, err_len, ERR_RANGE, "logit_bias: bias for token %d must be in [-100, 100], got %g",
                           (int)b->id, (double)b->bias);
    }
    return 0;
}

static void *sampler__calloc(size_t n, size_t size) { return n ? calloc(n, size) : NULL; }

int sampler_create(const sampler_params_t *p, int32_t n_vocab, sampler_t **out, char *err, size_t err_len) {
    if (!out) return err_set(err, err_len, ERR_INVAL, "sampler_create: out is NULL");
    *out = NULL;
    if (!p) return err_set(err, err_len, ERR_INVAL, "sampler_create: params are NULL");
    int rc = sampler__validate(p, n_vocab, err, err_len);
    if (rc) return rc;

    size_t nv = (size_t)n_vocab;
    sampler_t *s = calloc(1, sizeof *s);
    if (!s) return err_set(err, err_len, ERR_NOMEM, "sampler: out of memory");
    s->p = *p;
    s->n_vocab = n_vocab;
    s->cand = sampler__calloc(nv, sizeof *s->cand);
    s->gen_count = sampler__calloc(nv, sizeof *s->gen_count);
    s->gen_ids = sampler__calloc(nv, sizeof *s->gen_ids);
    s->mark = sampler__calloc(nv, sizeof *s->mark);
    s->window = sampler__calloc((size_t)p->penalty_last_n, sizeof *s->window);
    s->bias = sampler__calloc(p->n_logit_bias, sizeof *s->bias);
    if (!s->cand || !s->gen_count || !s->gen_ids || !s->mark || (p->penalty_last_n > 0 && !s->window) ||
        (p->n_logit_bias > 0 && !s->bias)) {
        rc = err_set(err, err_len, ERR_NOMEM, "sampler: out of memory for a vocabulary of %d tokens", (int)n_vocab);
        goto cleanup;
    }

    /* Deduplicate logit_bias, last entry winning: walk backwards and keep the first sighting of each id. */
    for (size_t i = p->n_logit_bias; i-- > 0;) {
        const sampler_bias_t *b = &p->logit_bias[i];
        if (s->mark[b->id]) continue;
        s->mark[b->id] = 1;
        s->bias[s->n_bias++] = *b;
    }
    for (size_t i = 0; i < s->n_bias; i++)
        s->mark[s->bias[i].id] = 0;
    s->p.logit_bias = s->bias;
    s->p.n_logit_bias = s->n_bias;

    sampler_rng_seed(&s->rng, p->seed);
    *out = s;
    return 0;

cleanup:
    sampler_free(s);
    return rc;
}

void sampler_free(sampler_t *s) {
    if (!s) return;
    if (!s->cand_borrowed) free(s->cand);
    free(s->gen_count);
    free(s->gen_ids);
    free(s->mark);
    free(s->window);
    free(s->bias);
    free(s);
}

/* ---- history ----------------------------------------------------------------------------------------- */

static void sampler__window_push(sampler_t *s, int32_t id) {
    int32_t cap = s->p.penalty_last_n;
    if (cap == 0) return;
    s->window[s->window_pos] = id;
    s->window_pos = s->window_pos + 1 == cap ? 0 : s->window_pos + 1;
    if (s->window_len < cap) s->window_len++;
}

void sampler_add_prompt(sampler_t *s, const int32_t *ids, size_t n) {
    if (!s || !ids) return;
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= 0 && ids[i] < s->n_vocab) sampler__window_push(s, ids[i]);
}

void sampler_accept(sampler_t *s, int32_t id) {
    if (!s || id < 0 || id >= s->n_vocab) return;
    if (s->gen_count[id] == 0) s->gen_ids[s->n_gen_ids++] = id; /* at most n_vocab distinct ids */
    if (s->gen_count[id] < INT32_MAX) s->gen_count[id]++;
    sampler__window_push(s, id);
    s->n_generated++;
}

uint64_t sampler_n_generated(const sampler_t *s) { return s ? s->n_generated : 0; }

/* ---- the pipeline ------------------------------------------------------------------------------------ */

/* Steps 1-4: cand[i] = {i, adjusted logit of i} for every i. */
static void sampler__adjust(sampler_t *s, const float *logits) {
    sampler__cand_t *c = s->cand;
    const int32_t nv = s->n_vocab;
    for (int32_t i = 0; i < nv; i++) {
        c[i].id = i;
        c[i].l = isnan(logits[i]) ? -INFINITY : logits[i];
    }

    for (size_t i = 0; i < s->n_bias; i++)
        c[s->bias[i].id].l += s->bias[i].bias;

    const float rp = s->p.repetition_penalty;
    if (rp != 1.0f && s->window_len > 0) {
        for (int32_t i = 0; i < s->window_len; i++) {
            int32_t id = s->window[i];
            if (s->mark[id]) continue; /* once per distinct id, however often it repeats */
            s->mark[id] = 1;
            c[id].l = c[id].l > 0.0f ? c[id].l / rp : c[id].l * rp;
        }
        for (int32_t i = 0; i < s->window_len; i++)
            s->mark[s->window[i]] = 0;
    }

    const float fp = s->p.frequency_penalty, pp = s->p.presence_penalty;
    if (fp != 0.0f || pp != 0.0f) {
        for (int32_t i = 0; i < s->n_gen_ids; i++) {
            int32_t id = s->gen_ids[i];
            c[id].l -= (float)s->gen_count[id] * fp + pp;
        }
    }
}

/* Greedy on the adjusted logits of c[0..n) (ascending ids): the id of the largest value, ties to the lowest id;
   c[0]'s id if all are -inf. */
static int32_t sampler__argmax(const sampler__cand_t *c, size_t n) {
    size_t best = 0;
    float best_l = c[0].l; /* kept in a register: reloading c[best] chains every iteration on a load */
    for (size_t i = 1; i < n; i++)
        if (c[i].l > best_l) {
            best_l = c[i].l;
            best = i;
        }
    return c[best].id;
}

/*
 * Step 6 up to the draw, after sampler__adjust with temperature > 0, on the candidates cand[0..nv) (ascending
 * ids: the whole vocabulary, or what a mask allows). Leaves the survivors in cand[0..*n_out) with their
 * unnormalised probabilities in .p and returns their total mass (> 0). Returns 0 with *n_out = 0 when every
 * logit is -inf.
 */
static double sampler__filter(sampler_t *s, size_t nv, size_t *n_out) {
    sampler__cand_t *c = s->cand;
    *n_out = 0;

    float mx[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY}; /* four chains: the max is the same in any order */
    size_t i4 = 0;
    for (; i4 + 4 <= nv; i4 += 4)
        for (int k = 0; k < 4; k++)
            if (c[i4 + k].l > mx[k]) mx[k] = c[i4 + k].l;
    for (; i4 < nv; i4++)
        if (c[i4].l > mx[0]) mx[0] = c[i4].l;
    const float m = fmaxf(fmaxf(mx[0], mx[1]), fmaxf(mx[2], mx[3])); /* no NaN: adjust made them -inf */
    if (m == -INFINITY) return 0.0;

    /* Compact to the tokens that are not -inf (ids stay ascending). At +inf only the +inf tokens remain,
       all with p = 1: equal shares, the limit of softmax. */
    size_t n = 0;
    for (size_t i = 0; i < nv; i++)
        if (c[i].l != -INFINITY && (m != INFINITY || c[i].l == INFINITY)) c[n++] = c[i];

    /* top_k by logit: the order of the probabilities without exp's rounding (temperature is monotone). */
    if (s->p.top_k > 0 && (size_t)s->p.top_k < n) {
        sampler__select_k(c, n, (size_t)s->p.top_k);
        n = (size_t)s->p.top_k;
    }

    /* p = exp((l - m) / T) in (0, 1]; the best token has p = 1 exactly. Tokens whose p underflows float
       (below ~1e-45 of the best token's) are dropped: they could not be drawn anyway. */
    const float t = s->p.temperature;
    double zs[4] = {0.0, 0.0, 0.0, 0.0}; /* the total, in four chains (a zero weight adds nothing) */
    float p_max = 0.0f;
    size_t live = 0;
    enum { BLOCK = 512 }; /* weights by kern_exp_weights (SIMD, the same bits at every ISA), a block at a time */
    float lb[BLOCK], pb[BLOCK];
    for (size_t i0 = 0; i0 < n; i0 += BLOCK) {
        const size_t nb = n - i0 < BLOCK ? n - i0 : BLOCK;
        for (size_t j = 0; j < nb; j++)
            lb[j] = c[i0 + j].l;
        if (m == INFINITY) {
            for (size_t j = 0; j < nb; j++)
                pb[j] = 1.0f;
        } else {
            kern_exp_weights(lb, (int64_t)nb, m, t, pb);
        }
        size_t j = 0;
        for (; j + 4 <= nb; j += 4)
            for (int k = 0; k < 4; k++)
                zs[k] += pb[j + k];
        for (; j < nb; j++)
            zs[0] += pb[j];
        for (j = 0; j < nb; j++) { /* live <= i0 + j: compaction never overwrites what is unread */
            const float pi = pb[j];
            if (pi == 0.0f) continue;
            c[live] = c[i0 + j];
            c[live].p = pi;
            live++;
            if (pi > p_max) p_max = pi;
        }
    }
    n = live;
    const double z = (zs[0] + zs[1]) + (zs[2] + zs[3]);

    /* min_p, then top_p with the threshold measured against the top_k set: both keep a prefix of the same
       order, so this gives the same set as top_p first (on the mass top_k left) and min_p after. */
    if (s->p.min_p > 0.0f) {
        const double thr = (double)s->p.min_p * (double)p_max;
        size_t kept = 0;
        for (size_t i = 0; i < n; i++)
            if ((double)c[i].p >= thr) sampler__swap(&c[i], &c[kept++]);
        n = kept; /* >= 1: the best token has p == p_max */
    }
    if (s->p.top_p < 1.0f) n = sampler__top_p(c, n, (double)s->p.top_p * z);

    /* the mass of what is left: without min_p and top_p that is z */
    double mass = z;
    if (s->p.min_p > 0.0f || s->p.top_p < 1.0f) {
        double ms[4] = {0.0, 0.0, 0.0, 0.0};
        size_t i = 0;
        for (; i + 4 <= n; i += 4)
            for (int k = 0; k < 4; k++)
                ms[k] += c[i + k].p;
        for (; i < n; i++)
            ms[0] += c[i].p;
        mass = (ms[0] + ms[1]) + (ms[2] + ms[3]);
    }
    *n_out = n;
    return mass;
}

size_t sampler_scratch_bytes(int32_t n_vocab) { return n_vocab > 0 ? (size_t)n_vocab * sizeof(sampler__cand_t) : 0; }

int sampler_share_scratch(sampler_t *s, void *scratch) {
    if (!s || !scratch) return ERR_INVAL;
    if (!s->cand_borrowed) free(s->cand);
    s->cand = scratch;
    s->cand_borrowed = true;
    return 0;
}

/* One draw from cand[0..n) by their .p (mass = their sum). */
static int32_t sampler__draw(sampler_t *s, size_t n, double mass) {
    const sampler__cand_t *c = s->cand;
    double target = sampler_rng_uniform(&s->rng) * mass, cum = 0.0;
    size_t pick = n; /* if rounding leaves target >= the running sum, take the last token with p > 0 */
    for (size_t i = 0; i < n; i++) {
        cum += c[i].p;
        if (target < cum) {
            pick = i;
            break;
        }
    }
    if (pick == n) {
        pick = 0;
        for (size_t i = n; i-- > 0;)
            if (c[i].p > 0.0f) {
                pick = i;
                break;
            }
    }
    return c[pick].id;
}

/*
 * Moves the candidates mask allows to cand[0..n) (ascending ids; cand[i] holds id i before) and returns n. One
 * pass over the mask's words: the cost follows the allowed tokens, not the vocabulary.
 */
static size_t sampler__keep_masked(sampler_t *s, const uint32_t *mask) {
    sampler__cand_t *c = s->cand;
    const size_t nv = (size_t)s->n_vocab, words = (nv + 31) / 32;
    size_t n = 0;
    for (size_t w = 0; w < words; w++) {
        uint32_t bits = mask[w];
        if (w == words - 1 && nv % 32) bits &= (1u << (nv % 32)) - 1u; /* bits past the vocabulary */
        if (bits == UINT32_MAX) { /* a whole word allowed: one block move (none while nothing was dropped) */
            if (n != w * 32) memmove(&c[n], &c[w * 32], 32 * sizeof *c);
            n += 32;
            continue;
        }
        while (bits) {
            c[n++] = c[w * 32 + (size_t)__builtin_ctz(bits)]; /* n <= the id: nothing unread is overwritten */
            bits &= bits - 1u;
        }
    }
    return n;
}

/* Steps 1-6 and the draw, over the tokens mask allows (all when NULL) after step 4. Records nothing. */
static int32_t sampler__pick(sampler_t *s, const float *logits, const uint32_t *mask) {
    s->last_mass = 0.0;
    sampler__adjust(s, logits);
    size_t nc = (size_t)s->n_vocab;
    if (mask) {
        nc = sampler__keep_masked(s, mask);
        if (nc == 0) return ERR_STATE;
    }
    const int32_t first = s->cand[0].id; /* the lowest candidate id */

    int32_t id;
    if (s->p.temperature == 0.0f) {
        id = sampler__argmax(s->cand, nc); /* all -inf: the first candidate */
    } else {
        size_t n;
        double mass = sampler__filter(s, nc, &n);
        if (n == 0) {
            id = first; /* every logit -inf: documented fallback, no draw */
        } else {
            id = sampler__draw(s, n, mass);
            if (!mask) {
                s->last_n = n;
                s->last_mass = mass;
            }
        }
    }
    return id;
}

int32_t sampler_sample(sampler_t *s, const float *logits) {
    if (!s || !logits) return ERR_INVAL;
    int32_t id = sampler__pick(s, logits, NULL);
    s->last_mass = 0.0; /* only a proposal can be redrawn */
    sampler_accept(s, id);
    return id;
}

int32_t sampler_propose(sampler_t *s, const float *logits) {
    if (!s || !logits) return ERR_INVAL;
    return sampler__pick(s, logits, NULL);
}

int32_t sampler_redraw(sampler_t *s) {
    if (!s) return ERR_INVAL;
    if (s->last_mass <= 0.0) return ERR_STATE;
    return sampler__draw(s, s->last_n, s->last_mass);
}

int32_t sampler_redraw_masked(sampler_t *s, const uint32_t *mask) {
    if (!s || !mask) return ERR_INVAL;
    if (s->last_mass <= 0.0) return ERR_STATE;
    const sampler__cand_t *c = s->cand;
    const size_t n = s->last_n;
    double mass = 0.0;
    for (size_t i = 0; i < n; i++)
        if ((mask[c[i].id >> 5] >> (c[i].id & 31)) & 1u) mass += c[i].p;
    if (mass <= 0.0) return ERR_STATE; /* the truncation left no allowed token */
    double target = sampler_rng_uniform(&s->rng) * mass, cum = 0.0;
    int32_t last = -1;
    for (size_t i = 0; i < n; i++) {
        if (!((mask[c[i].id >> 5] >> (c[i].id & 31)) & 1u) || c[i].p <= 0.0f) continue;
        last = c[i].id;
        cum += c[i].p;
        if (target < cum) return c[i].id;
    }
    return last; /* rounding left target at the sum: the last allowed token */
}

int32_t sampler_sample_masked(sampler_t *s, const float *logits, const uint32_t *mask) {
    if (!s || !logits) return ERR_INVAL;
    int32_t id = sampler__pick(s, logits, mask);
    if (id >= 0) sampler_accept(s, id);
    return id;
}

int sampler_adjusted_logits(sampler_t *s, const float *logits, float *out) {
    if (!s || !logits || !out) return ERR_INVAL;
    sampler__adjust(s, logits);
    for (int32_t i = 0; i < s->n_vocab; i++)
        out[i] = s->cand[i].l;
    return 0;
}

int sampler_candidates(sampler_t *s, const float *logits, int32_t *ids, float *probs, int32_t cap, int32_t *n_out) {
    if (!s || !logits || !n_out || cap < 0 || (cap > 0 && (!ids || !probs))) return ERR_INVAL;
    sampler__adjust(s, logits);
    if (s->p.temperature == 0.0f) {
        *n_out = 1;
        if (cap > 0) {
            ids[0] = sampler__argmax(s->cand, (size_t)s->n_vocab);
            probs[0] = 1.0f;
        }
        return 0;
    }
    size_t n;
    double mass = sampler__filter(s, (size_t)s->n_vocab, &n);
    sampler__sort(s->cand, n);
    *n_out = (int32_t)n;
    for (size_t i = 0; i < n && i < (size_t)cap; i++) {
        ids[i] = s->cand[i].id;
        probs[i] = (float)((double)s->cand[i].p / mass);
    }
    return 0;
}

/* ---- logprobs ------------------------------------------------------------------------------------- */

/* One token's log-probability given the row's max m and log normaliser (see the modes in sampler_logprobs). */
static float sampler__logprob(float l, int mode, double m, double log_z) {
    if (mode == 2) return (float)-log_z;
    if (mode == 1) return l == INFINITY ? (float)-log_z : -INFINITY;
    return l > -INFINITY ? (float)(((double)l - m) - log_z) : -INFINITY; /* NaN fails the test too */
}

int sampler_logprobs(const float *logits, int32_t n_vocab, int32_t id, int k, float *id_logprob, int32_t *top_ids,
                     float *top_logprobs) {
    if (!logits) return ERR_INVAL;
    if (n_vocab < 1 || k < 0 || k > SAMPLER_MAX_TOP_LOGPROBS || k > n_vocab) return ERR_RANGE;
    if (k > 0 && (!top_ids || !top_logprobs)) return ERR_INVAL;
    if (id_logprob && (id < 0 || id >= n_vocab)) return ERR_RANGE;

    /* log p_i = (l_i - m) - log sum_j exp(l_j - m), in double; NaN counts as -inf. */
    double m = -INFINITY;
    for (int32_t i = 0; i < n_vocab; i++)
        if (logits[i] > m) m = logits[i];                  /* NaN compares false */
    int mode = m == INFINITY ? 1 : m == -INFINITY ? 2 : 0; /* 1: +inf tokens share; 2: uniform */
    double log_z;
    if (mode == 0) {
        double z = 0.0;
        for (int32_t i = 0; i < n_vocab; i++)
            if (logits[i] > -INFINITY) z += exp((double)logits[i] - m);
        log_z = log(z);
    } else if (mode == 1) {
        int32_t n_inf = 0;
        for (int32_t i = 0; i < n_vocab; i++)
            n_inf += logits[i] == INFINITY;
        log_z = log((double)n_inf);
    } else {
        log_z = log((double)n_vocab);
    }

    if (id_logprob) *id_logprob = sampler__logprob(logits[id], mode, m, log_z);

    /* Top k by (logprob desc, id asc): a sorted insertion list of at most 20. Ids are visited in ascending
       order, so a later id enters only when strictly better than the current last entry. */
    int n = 0;
    for (int32_t i = 0; i < n_vocab && k > 0; i++) {
        float lp = sampler__logprob(logits[i], mode, m, log_z);
        if (n == k && !(lp > top_logprobs[k - 1])) continue;
        int j = n < k ? n++ : k - 1;
        while (j > 0 && lp > top_logprobs[j - 1]) {
            top_logprobs[j] = top_logprobs[j - 1];
            top_ids[j] = top_ids[j - 1];
            j--;
        }
        top_logprobs[j] = lp;
        top_ids[j] = i;
    }
    return 0;
}
