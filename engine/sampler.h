/*
 * sampler.h — picks the next token from a row of logits, with OpenAI's sampling parameters.
 *
 * Owns: one sequence's sampling state — a copy of its parameters and logit_bias map, the token history the
 * penalties need (counts of generated tokens, a window of the last `penalty_last_n` prompt+generated tokens),
 * a seeded random number generator of its own, and all the scratch one call needs, sized for n_vocab at create.
 * Does not: compute logits, decide when to stop, parse requests (api/ validates JSON types; sampler_create
 * re-checks every range), or allocate after create — sampler_sample never allocates.
 *
 * The pipeline, in this order (one call of sampler_sample):
 *   1. Copy the logits; NaN becomes -inf (a NaN token is never sampled).
 *   2. logit_bias:  l[id] += bias                                         (OpenAI, -100..100)
 *   3. repetition:  for each distinct id in the last penalty_last_n tokens of prompt+generated:
 *                   l[id] = l[id] > 0 ? l[id] / r : l[id] * r             (CTRL / llama.cpp, r = repetition_penalty)
 *   4. presence/frequency, over the tokens generated so far (not the prompt), c = count of id:
 *                   l[id] -= c * frequency_penalty + (c > 0) * presence_penalty      (OpenAI)
 *   5. temperature == 0: return the argmax of l, ties to the lowest id. No random number is drawn.
 *   6. temperature > 0: s = (l - max l) / temperature, p ∝ exp(s) over the tokens whose l is not -inf; then
 *        top_k  keeps the k most likely tokens (ties to the lower id);
 *        top_p  keeps the smallest prefix of the tokens sorted by p (desc, ties id asc) whose mass, renormalised
 *               over what top_k kept, reaches top_p (the token that crosses the threshold is kept);
 *               "sorted by p" uses the adjusted logits, which order the tokens exactly as p does;
 *        min_p  keeps the tokens with p >= min_p * max p.
 *      All three act on the temperature-scaled distribution (temperature first, as OpenAI and Hugging Face do;
 *      llama.cpp applies its temperature last). The most likely token always survives, so the set is never
 *      empty. Tokens whose p underflows float (below ~1e-45 of the best token's) count as impossible. Then
 *      one uniform draw in (0,1) picks a token in proportion to p over the survivors.
 *
 * logit_bias is added, never turned into -inf: -100 makes a token's probability about e^-100 of what it was
 * (a ban in practice, as OpenAI describes it), +100 makes it dominate.
 *
 * Special values: if some logit is +inf after steps 1-4, the tokens at +inf share all the mass (the limit of
 * softmax) and are sampled uniformly (greedy: the lowest such id). If every logit is -inf or NaN, the result is
 * token 0 (the greedy tie rule applied to a row of equal values) and no random number is drawn.
 *
 * Determinism: the RNG is xoshiro256** seeded through splitmix64; exp() is computed by this module with plain
 * IEEE-754 double arithmetic (no libm transcendental functions) and sums run in a fixed order, so the same
 * seed, parameters and logits give the same tokens on every platform with IEEE-754 arithmetic
 * (FLT_EVAL_METHOD 0; floating-point contraction is disabled in sampler.c).
 *
 * Threads: a sampler_t belongs to one sequence and may be used by one thread at a time. sampler_logprobs and
 * the sampler_rng_* functions touch only their arguments and are reentrant.
 */
#ifndef CINDER_SAMPLER_H
#define CINDER_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#define SAMPLER_MAX_TOP_LOGPROBS       20        /* OpenAI's limit on top_logprobs */
#define SAMPLER_MAX_PENALTY_LAST_N     (1 << 20) /* tokens; the window is allocated at create */
#define SAMPLER_DEFAULT_PENALTY_LAST_N 64

/* One logit_bias entry: `bias` (-100..100) is added to token `id`'s logit. */
typedef struct {
    int32_t id;
    float bias;
} sampler_bias_t;

typedef struct {
    float temperature;                /* 0..2; 0 = greedy (argmax, ties to the lowest id) */
    int32_t top_k;                    /* >= 0; 0 = off; values >= n_vocab keep everything */
    float top_p;                      /* (0, 1]; 1 = off */
    float min_p;                      /* [0, 1]; 0 = off */
    float presence_penalty;           /* -2..2; 0 = off; generated tokens only */
    float frequency_penalty;          /* -2..2; 0 = off; generated tokens only */
    float repetition_penalty;         /* > 0, finite; 1 = off; prompt + generated, last penalty_last_n tokens */
    int32_t penalty_last_n;           /* tokens, 0..SAMPLER_MAX_PENALTY_LAST_N; 0 turns repetition_penalty off.
                                         (llama.cpp's -1 = "whole context": pass the context length instead.) */
    uint64_t seed;                    /* any value; the caller picks a random one when a request gives none */
    const sampler_bias_t *logit_bias; /* n_logit_bias entries, borrowed; copied at create. A repeated id: the
                                         last entry wins (as a JSON object's last duplicate key would). */
    size_t n_logit_bias;
} sampler_params_t;

typedef struct sampler sampler_t;

/* A xoshiro256** generator. Plain data: copy it to fork a stream. */
typedef struct {
    uint64_t s[4];
} sampler_rng_t;

/*
 * The defaults of OpenAI's API: temperature 1, top_p 1, no penalties, no bias; top_k 0, min_p 0,
 * repetition_penalty 1, penalty_last_n 64, seed 0.
 */
sampler_params_t sampler_default_params(void);

/*
 * Validates *p against n_vocab and allocates a sampler with all its scratch (about 21 bytes per vocabulary entry
 * plus 4 per penalty_last_n). Returns 0 and *out (free with sampler_free), or ERR_INVAL (NULL p/out, or
 * logit_bias NULL with n_logit_bias > 0), ERR_RANGE (a parameter outside its range; err names the field and
 * the value, e.g. "top_p must be in (0, 1], got 0"; a logit_bias id outside [0, n_vocab) or a bias outside
 * -100..100 or not finite; n_vocab < 1), or ERR_NOMEM. *out is NULL on failure. p is borrowed for the call.
 */
int sampler_create(const sampler_params_t *p, int32_t n_vocab, sampler_t **out, char *err, size_t err_len);

/* Frees the sampler and everything it owns. sampler_free(NULL) is a no-op. */
void sampler_free(sampler_t *s);

/* Bytes of the per-call scratch (one candidate per vocabulary entry) a sampler needs for n_vocab tokens. */
size_t sampler_scratch_bytes(int32_t n_vocab);

/*
 * Makes s use `scratch` (sampler_scratch_bytes(n_vocab) bytes, 8-byte aligned, borrowed) instead of its own
 * candidate array, which it frees. Samplers used by one thread one call at a time (an engine's sequences) can
 * share one scratch, so memory no longer grows by n_vocab candidates per running sequence. The scratch must
 * outlive s and must never be used by two calls at once. Returns 0, or ERR_INVAL for NULL arguments.
 */
int sampler_share_scratch(sampler_t *s, void *scratch);

/*
 * Records n prompt tokens, in order. They enter the repetition_penalty window only (OpenAI's presence and
 * frequency penalties count generated tokens). Ids outside [0, n_vocab) are skipped. ids is borrowed.
 */
void sampler_add_prompt(sampler_t *s, const int32_t *ids, size_t n);

/*
 * Records a token as generated without sampling it (e.g. one the caller forced); sampler_sample already records
 * what it returns. An id outside [0, n_vocab) is ignored.
 */
void sampler_accept(sampler_t *s, int32_t id);

/*
 * Runs the pipeline above on logits (n_vocab floats, borrowed, not modified), records the chosen token as
 * generated and returns it: an id in [0, n_vocab). Draws exactly one random number when temperature > 0 and
 * some logit is not -inf, none otherwise. Never allocates. Returns ERR_INVAL if s or logits is NULL.
 */
int32_t sampler_sample(sampler_t *s, const float *logits);

/*
 * Grammar masks (engine/grammar/grammar.h). mask is uint32_t[ceil(n_vocab / 32)], borrowed: bit (id & 31) of
 * word (id >> 5) set = token id allowed. sampler_sample_masked runs the pipeline with every disallowed token's
 * logit set to -inf after step 4 (logit_bias and penalties act as always; the mask wins over a +100 bias), so
 * temperature, top_k, top_p and min_p see only allowed tokens; it records and returns an allowed id. If every
 * allowed token is at -inf it returns the lowest allowed id (no draw); an empty mask gives ERR_STATE (nothing
 * recorded); NULL mask = sampler_sample.
 *
 * The fast path most steps take: sampler_propose runs the unmasked pipeline and draws, but records nothing.
 * If the grammar allows the proposal, the caller records it with sampler_accept; otherwise it fills the mask and
 * calls sampler_sample_masked (a second draw). With greedy decoding the result equals masked sampling exactly.
 * With temperature and no truncation (top_k 0, top_p 1, min_p 0) it is exact in distribution too (rejection
 * sampling: an allowed token is drawn with p / P(allowed) either way). With truncation it can differ, because the
 * truncated set is computed before the mask; callers that need exactness skip the fast path.
 * Either way only allowed tokens come out. Like sampler_sample, both never allocate. sampler_sample_masked's
 * cost after steps 1-4 follows the allowed tokens (one pass over the mask's words, then the filters on what it
 * allows), so with a small mask it is far cheaper than a proposal over the whole vocabulary.
 */
int32_t sampler_sample_masked(sampler_t *s, const float *logits, const uint32_t *mask);
int32_t sampler_propose(sampler_t *s, const float *logits);

/*
 * Another draw from the candidates of the last sampler_propose (temperature > 0), without running the pipeline
 * again; records nothing. Redrawing until the grammar allows a token samples the truncated distribution
 * restricted to the allowed tokens, exactly (rejection sampling), which is what a first proposal that happens to
 * be allowed samples too; so a few redraws before falling back to sampler_sample_masked keep the fast path's
 * meaning while sparing the full mask. Returns a token id, ERR_STATE when there is nothing to redraw from
 * (greedy decoding, or no proposal since the last other call on s or on its shared scratch), ERR_INVAL for NULL.
 * The candidates live in the scratch: call it right after sampler_propose, before any other sampler uses it.
 */
int32_t sampler_redraw(sampler_t *s);

/*
 * The same draw restricted to the tokens of mask (see sampler_sample_masked): the proposal's candidates that the
 * grammar allows, by their probabilities; records nothing. What the redraws would converge to, in one O(candidates)
 * pass instead of a second run of the pipeline. ERR_STATE when there is nothing to draw from (as sampler_redraw)
 * or when the truncation left no allowed token (then sampler_sample_masked masks before truncating), ERR_INVAL for
 * NULL arguments.
 */
int32_t sampler_redraw_masked(sampler_t *s, const uint32_t *mask);

/*
 * Writes into out (n_vocab floats) the logits after steps 1-4 (NaN -> -inf, logit_bias, penalties): what the
 * temperature and filters see. Records nothing and draws nothing. Returns 0 or ERR_INVAL (a NULL argument).
 */
int sampler_adjusted_logits(sampler_t *s, const float *logits, float *out);

/*
 * Runs steps 1-6 up to (not including) the draw and reports the surviving tokens: *n_out = their count,
 * and the first min(cap, count) of them go into ids/probs sorted by adjusted logit descending (that is, by
 * probability), ties by id ascending, with probabilities renormalised over the survivors (they sum to 1).
 * With temperature 0 the one survivor is the argmax, probability 1. With temperature > 0 and every logit
 * -inf, *n_out = 0 (sampler_sample then returns token 0). Records nothing and draws nothing. O(n log n) in
 * the survivors: for tests, debugging and "post-sampling" probabilities, not for the decode loop. Returns 0
 * or ERR_INVAL (a NULL argument, cap < 0, or cap > 0 with NULL arrays).
 */
int sampler_candidates(sampler_t *s, const float *logits, int32_t *ids, float *probs, int32_t cap, int32_t *n_out);

/* Tokens generated so far (sampled or accepted). */
uint64_t sampler_n_generated(const sampler_t *s);

/*
 * Log-probabilities for OpenAI's `logprobs`: the log-softmax of the raw logits (n_vocab floats, before bias,
 * penalties and temperature — the model's own distribution, as OpenAI reports it). Writes *id_logprob for
 * token `id` (skipped when id_logprob is NULL) and the k most likely tokens into top_ids/top_logprobs, sorted
 * by logprob descending, ties by id ascending. k is 0..SAMPLER_MAX_TOP_LOGPROBS and at most n_vocab.
 * NaN logits count as -inf; their logprob is -inf. If some logits are +inf they share the mass equally
 * (logprob -log(count)), the rest get -inf. If every logit is -inf/NaN the distribution is taken as uniform.
 * -inf results are returned as -INFINITY: the api layer decides how to print them (OpenAI prints -9999.0).
 * Computed in double. Returns 0, ERR_INVAL (NULL logits, or NULL arrays with k > 0) or ERR_RANGE (n_vocab < 1,
 * id outside [0, n_vocab) while id_logprob is wanted, k out of range).
 */
int sampler_logprobs(const float *logits, int32_t n_vocab, int32_t id, int k, float *id_logprob, int32_t *top_ids,
                     float *top_logprobs);

/* The sampler_rng_* functions take a non-NULL r. */

/* Seeds r: its four state words are four successive splitmix64 outputs from seed (never all zero). */
void sampler_rng_seed(sampler_rng_t *r, uint64_t seed);

/* The next 64-bit output of xoshiro256** (Blackman & Vigna, 2018). */
uint64_t sampler_rng_next(sampler_rng_t *r);

/* A uniform double in the open interval (0, 1): ((next >> 11) + 0.5) * 2^-53. Never 0, never 1. */
double sampler_rng_uniform(sampler_rng_t *r);

#endif
