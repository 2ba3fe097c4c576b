/*
 * toolfmt.h — the tool-call and reasoning formats of model families: which one a chat template speaks, the
 * grammar that makes a call in that format valid, and the parser that splits a model's output into reasoning,
 * content and tool calls, incrementally so that streaming never shows a call's markers as content.
 *
 * Owns: the per-family knowledge (markers, body syntax, thinking tags); a parser's buffers.
 * Does not: parse the request's `tools` (tools.c), render templates (prompt.c), assign call ids or render
 * responses (call.c, render.c). It never sees a socket, a sink or the engine.
 *
 * The families (see ../shared/notes/structured-decoding.md §3 and docs/tool-calls.md):
 *   HERMES       <tool_call>\n{"name": N, "arguments": {..}}\n</tool_call>     Hermes 2 Pro / 3, Qwen2.5, Qwen3
 *   LLAMA3       {"name": N, "parameters": {..}} as the whole message            Llama 3.1 / 3.2 / 3.3
 *   MISTRAL      [TOOL_CALLS][{"name": N, "arguments": {..}, "id": ..}, ..]     Mistral Nemo / Small 3.1
 *   MISTRAL_V11  [TOOL_CALLS]N[ARGS]{..} (or N[CALL_ID]id[ARGS]{..})           Mistral Small 3.2+, Devstral
 *   PHI4         <|tool_call|>{"name": N, "arguments": {..}}<|/tool_call|>     Phi-4-mini
 *   GPTOSS       <|channel|>commentary to=functions.N <|constrain|>json<|message|>{..}<|call|>   harmony
 *   GENERIC      templates without a tool format (Gemma 2/3, ...): the server describes the tools in a system
 *                message and the model answers a call as a fenced block ```tool_call\n{"name", "arguments"}\n```
 *
 * Threads: everything here is pure or owned by one caller (the loop thread in practice).
 */
#ifndef CINDER_API_TOOLFMT_H
#define CINDER_API_TOOLFMT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "grammar/gram_build.h"

typedef enum {
    API_TF_GENERIC = 0,
    API_TF_HERMES,
    API_TF_LLAMA3,
    API_TF_MISTRAL,
    API_TF_MISTRAL_V11,
    API_TF_PHI4,
    API_TF_GPTOSS,
} api_tf_family_t;

/* What a chat template speaks: computed once per model from the template's source. */
typedef struct {
    api_tf_family_t family;
    bool native_tools;    /* the template renders `tools` itself (else the server injects a description) */
    bool thinks;          /* the model writes reasoning that must be split out (think tags or harmony analysis) */
    char think_open[32];  /* e.g. "<think>" ("" for harmony, whose channels say it) */
    char think_close[32]; /* e.g. "</think>" */
    bool think_prefilled; /* the generation prompt opens the thought itself (R1 distills, QwQ) */
} api_tf_t;

/* Reads the family and the thinking convention off a template's source (NULL or "" = no template). */
void api__tf_detect(const char *tmpl_src, api_tf_t *out);

/* The family's name for logs and docs ("hermes", "llama3", ...). */
const char *api__tf_name(api_tf_family_t f);

/* One function tool of a request: borrowed from the request's JSON tree. */
typedef struct {
    const char *name;
    const cJSON *parameters; /* a JSON Schema object, or NULL (no arguments: {}) */
    bool strict;
} api_tf_tool_t;

/* A structured answer allowed beside the calls (response_format with tools in auto mode): a JSON Schema's text and
   the options it compiles with (gram_schema_expr). */
typedef struct {
    const char *json;
    size_t len;
    gram_schema_opts_t opts;
} api_tf_doc_t;

/* Up to API_TF_MAX_TRIGGERS texts after which a lazy tool-call grammar starts. */
#define API_TF_MAX_TRIGGERS 4
typedef struct {
    const char *texts[API_TF_MAX_TRIGGERS]; /* static strings */
    size_t n_texts;
} api_tf_triggers_t;

/*
 * Builds the grammar of tool calls in f's format for these tools (n >= 1; a named tool_choice passes just that
 * tool). required: the output must be calls only, from its first token (after the reasoning block when f.thinks),
 * so the root includes the opener and *trig is left empty; otherwise (tool_choice auto) the grammar is lazy: it
 * covers what follows one of the trigger texts written to *trig, and free text may precede it. parallel: one or
 * more calls, else exactly one. Each call's arguments follow that tool's parameters schema (strict per tool).
 * Triggers: the family's opener; LLAMA3, which has none, `{"name": ` (toolparse.c takes that text as a call
 * wherever it appears, as the lazy matcher does); GPTOSS "to=functions.". Openers that are control tokens in the
 * vocabulary ([TOOL_CALLS], <|python_tag|>) must reach the engine as token triggers. GPTOSS's grammar ends with
 * the arguments: its <|call|> is an end-of-generation token. doc (NULL for none): the output is either that JSON
 * document or calls as `required` writes them, from the first token (after the reasoning block), and *trig is
 * left empty (response_format beside tools in auto mode).
 * Returns 0 and *out (gram_free), or ERR_UNSUPPORTED / ERR_FORMAT with a message naming the tool and keyword in
 * err (a 400 for the client), ERR_INVAL (no tools, a tool without a name), ERR_NOMEM, ERR_LIMIT.
 */
int api__tf_grammar(const api_tf_t *f, const api_tf_tool_t *tools, size_t n, bool required, bool parallel,
                    const api_tf_doc_t *doc, gram_t **out, api_tf_triggers_t *trig, char *err, size_t err_len);

/* Appends to b an expression for f's optional reasoning block (e.g. "<think>" ... "</think>" and the whitespace
   after it), to put in front of a grammar that must not start before the model has thought; gram_empty(b) when
   f does not think. */
uint32_t api__tf_reasoning_expr(gram_builder_t *b, const api_tf_t *f);

/* GENERIC family: the system-message text that describes the tools and the answer format (malloc'd, NUL
   terminated), or NULL when out of memory. */
char *api__tf_generic_prompt(const api_tf_tool_t *tools, size_t n, bool required);

/* ---- the output parser --------------------------------------------------------------------------------------- */

typedef struct api_tf_parser api_tf_parser_t;

/* One call as parsed so far. */
typedef struct {
    char *name; /* NUL-terminated; set once whole (never streamed in pieces) */
    char *args; /* the arguments JSON text so far, as the model wrote it (for Llama 3's "parameters" too) */
    size_t args_len;
    bool complete; /* args is a whole JSON value and the call's text ended (closer, other text, or the end) */
} api_tf_call_t;

/*
 * A parser for one generation. calls: parse tool calls (tool_choice is not "none" and tools were given); else
 * only reasoning is split out. prompt_tail: the last bytes of the rendered prompt, to know whether the template
 * already opened the reasoning block (DeepSeek-R1 distills pre-fill "<think>\n"; Qwen3 with enable_thinking
 * false closes it) — may be NULL. split_reasoning false: reasoning stays inline in the content.
 * Returns 0 and *out, or ERR_NOMEM.
 */
int api__tf_parser_new(const api_tf_t *f, bool calls, bool split_reasoning, const char *prompt_tail,
                       api_tf_parser_t **out);
void api__tf_parser_free(api_tf_parser_t *p);

/*
 * Feeds n more bytes of the generation; final = true once generation ended (flushes text held back because it
 * might have been the start of a marker). The accessors below then show everything decided so far: bytes once
 * shown never change, so a streamer sends what is new since its last look. Returns 0 or ERR_NOMEM.
 */
int api__tf_feed(api_tf_parser_t *p, const char *s, size_t n, bool final);

const char *api__tf_content(const api_tf_parser_t *p, size_t *len);   /* user-visible text */
const char *api__tf_reasoning(const api_tf_parser_t *p, size_t *len); /* thinking text (tags removed) */
bool api__tf_in_reasoning(const api_tf_parser_t *p);                  /* inside the reasoning block now (for
                                                                      usage.reasoning_tokens) */
size_t api__tf_n_calls(const api_tf_parser_t *p);
const api_tf_call_t *api__tf_call(const api_tf_parser_t *p, size_t i);

/*
 * Where the content came from, for the logprobs of its tokens (/v1/responses' output_text): offsets count every
 * byte fed so far. api__tf_decided: the input bytes [0, n) whose routing is final (later feeds cannot change it;
 * everything once fed with final). api__tf_content_from: whether any byte of the input [from, to) went to the
 * content (markers, reasoning, calls and the whitespace dropped around them did not).
 */
size_t api__tf_decided(const api_tf_parser_t *p);
bool api__tf_content_from(const api_tf_parser_t *p, size_t from, size_t to);

#endif
