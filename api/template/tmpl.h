/*
 * tmpl.h — Jinja chat templates: compile a model's `tokenizer.chat_template` once, render it many times.
 *
 * Owns: a Jinja2 engine that renders chat templates exactly as Hugging Face's apply_chat_template does:
 * Jinja2's ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks, the loopcontrols extension
 * (break/continue), the {% generation %} block, the globals raise_exception(msg) and strftime_now(fmt), and the
 * tojson filter with Python json.dumps output. Supported: {{ }}, {% %}, {# #}, whitespace control, if/elif/else,
 * for (else, loop.*, unpacking, filters, recursive), set and block set, namespace(), macro/call, filter blocks,
 * with, Python-like literals, operators, tests, filters and str/list/dict methods. See the files in
 * api/template/ for each part.
 *
 * Does not own: choosing which variables to pass (the caller builds the context: messages, tools,
 * add_generation_prompt, bos_token, eos_token, ...), reading files, the clock, or the environment — the time for
 * strftime_now comes in through tmpl_render_opts_t so the engine never calls time() or getenv().
 *
 * Threads: a compiled tmpl_t is immutable; any number of threads may call tmpl_render on the same template at
 * once. Each render allocates its own state. tmpl_compile and tmpl_free are not concurrent with renders of the
 * same template.
 *
 * Safety: no file, network or system access from templates. Every render is bounded (output size, total
 * allocation, loop iterations and calls, recursion depth); exceeding a bound fails with ERR_LIMIT instead of
 * exhausting the process. Any input — template or context — either renders or fails with a message; it never
 * crashes. Error messages name the problem and the template line, e.g.
 *   "System role not supported (template line 3)"        (raise_exception in the template)
 *   "'dict object' has no attribute 'description' (template line 12)"
 *   "Encountered unknown tag 'endfor'. ... (template line 40)"
 *
 * Stack: a render needs up to 256 KiB of C stack (1 MiB under AddressSanitizer); recursion deeper than that is
 * refused with ERR_LIMIT.
 *
 * Known differences from Python's Jinja2 (none affect the acceptance corpus): integers are 64-bit (overflow is
 * an error, where Python grows a big integer); integral JSON numbers in the context become ints even when
 * written as 2.0 (cJSON keeps one double per number); map/select/... are computed when the filter runs, so an
 * error in them surfaces even if the generator is never consumed; |pprint prints repr() on one line; Unicode
 * case mapping and character classes cover the common scripts, not all of Unicode.
 */
#ifndef CINDER_TMPL_H
#define CINDER_TMPL_H

#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

typedef struct tmpl tmpl_t;

/* Per-render inputs and limits. Get defaults from tmpl_render_opts_default() and override fields. */
typedef struct tmpl_render_opts {
    int64_t now;             /* strftime_now() time: Unix seconds, formatted as UTC (default 0: the epoch) */
    size_t max_output_bytes; /* bytes: the output and any single string or list built while rendering */
    size_t max_alloc_bytes;  /* bytes: total allocation one render may make (bounds memory and work) */
    uint64_t max_steps;      /* loop iterations + macro/method/filter calls */
    int max_depth;           /* nesting of macro calls, caller() and recursive loops */
} tmpl_render_opts_t;

#define TMPL_MAX_SOURCE_BYTES (8u << 20) /* longest template source tmpl_compile accepts */

/* Fills o with the defaults: now 0, 16 MiB output, 512 MiB allocation, 2,000,000 steps, depth 100. */
void tmpl_render_opts_default(tmpl_render_opts_t *o);

/*
 * Compiles template source src[0..len) (UTF-8; need not be NUL-terminated). On success *out is a new template
 * owned by the caller (free with tmpl_free) and 0 is returned. On failure returns ERR_TEMPLATE (syntax error,
 * unknown tag/filter/test), ERR_RANGE (source longer than TMPL_MAX_SOURCE_BYTES), ERR_INVAL or ERR_NOMEM, with
 * a one-line message including the template line in err (if err_len > 0); *out is NULL.
 */
int tmpl_compile(const char *src, size_t len, tmpl_t **out, char *err, size_t err_len);

/*
 * Renders t with the variables of context (a JSON object whose members become template variables; NULL for
 * none) under opts (NULL for the defaults). On success returns 0 and sets *out to a NUL-terminated malloc'd
 * string the caller frees with free(), and *out_len to its length in bytes (the output may contain NUL bytes).
 * On failure returns ERR_TEMPLATE (the template raised or misused a value: an undefined attribute, a type error,
 * raise_exception), ERR_LIMIT (a bound in opts was exceeded), ERR_INVAL (context not an object) or ERR_NOMEM,
 * with the message in err, and sets *out to NULL. context and t are only read.
 */
int tmpl_render(const tmpl_t *t, const cJSON *context, const tmpl_render_opts_t *opts, char **out, size_t *out_len,
                char *err, size_t err_len);

/* Frees a compiled template. tmpl_free(NULL) is a no-op. */
void tmpl_free(tmpl_t *t);

#endif
