/*
 * weights_check.h — refusing a model file whose weights hold a NaN or an infinity.
 *
 * Owns: one rule per tensor type saying where its floats are: every element of an F32, F16 or BF16 tensor, and
 * the F16 scale fields (d, and dmin where the type has one) of every block of a quantized type. A new block
 * type adds one line to the table in weights_check.c; wcheck_has_rule tells tests that every supported type has
 * its line.
 * Does not: look at the quantized integers (every bit pattern of those is a valid number), judge finite values
 * (a huge but finite weight passes; the engine reports logits that overflow), or read metadata floats.
 *
 * Why: a single NaN scale makes every product that reads its block NaN; the sampler then sees nothing but NaN
 * and the model "generates" silence. Refusing the file at load with the tensor named turns that into a clear
 * error. The check reads every byte of the weights once, which model_prefault would read anyway: on a warm page
 * cache it runs at memory speed (see README, models section, for the measured cost).
 *
 * Threads: pure functions over a read-only gguf_t; any thread.
 */
#ifndef CINDER_WEIGHTS_CHECK_H
#define CINDER_WEIGHTS_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "dtype.h"
#include "gguf.h"

/*
 * Checks one tensor of g. Returns 0 when every float it holds is finite; ERR_FORMAT with one line in err naming
 * the file, the tensor, the element or block and the value, e.g.
 *   "m.gguf: tensor 'blk.3.ffn_down.weight' (Q4_K) block 17: scale dmin is NaN; the file is corrupt"
 * or ERR_UNSUPPORTED when the tensor's type has no rule (a type added to dtype.h without its line here).
 */
int wcheck_tensor(const gguf_t *g, const gguf_tensor_t *t, char *err, size_t err_len);

/* wcheck_tensor over every tensor of g in file order; stops at the first failure. */
int wcheck_gguf(const gguf_t *g, char *err, size_t err_len);

/* True when type id has a rule (every type dtype_supported accepts must). */
bool wcheck_has_rule(uint32_t id);

#endif
