/*
 * toolfmt.c — which tool-call family a chat template speaks, and the grammar of calls in that family's format
 * (see toolfmt.h and docs/tool-calls.md). The output parser is toolparse.c.
 *
 * Detection reads the template's source, not a model name: a template is classified by the markers it renders
 * a call with, so fine-tunes and renamed models that keep a family's template get that family's format, and a
 * template that merely mentions a marker in prose does not (Apriel's "<tool_calls>[...]" or Qwen3-Coder's XML
 * "<tool_call><function=...>" are not Hermes). Anything not recognised is GENERIC: the server describes the
 * tools itself and asks for a fenced ```tool_call block, which works with any instruction-following model.
 *
 * The grammars follow the text each template renders for an assistant call in history, so the model is held to
 * its own training format: one alternative per tool (the name is a literal, the arguments that tool's
 * parameters schema), wrapped in the family's markers, repeated with the family's separator for parallel calls.
 */
#include "toolfmt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

/* ---- detection ------------------------------------------------------------------------------------------ */

const char *api__tf_name(api_tf_family_t f) {
    switch (f) {
    case API_TF_GENERIC: return "generic";
    case API_TF_HERMES: return "hermes";
    case API_TF_LLAMA3: return "llama3";
    case API_TF_MISTRAL: return "mistral";
    case API_TF_MISTRAL_V11: return "mistral-v11";
    case API_TF_PHI4: return "phi4";
    case API_TF_GPTOSS: return "gpt-oss";
    }
    return "unknown";
}

static bool tf__has(const char *src, const char *s) { return strstr(src, s) != NULL; }

/*
 * The rules, first match wins:
 *   GPTOSS       harmony: "<|channel|>", "<|message|>" and a "functions." recipient
 *   MISTRAL_V11  "[TOOL_CALLS]" and "[ARGS]" (a call is NAME[ARGS]{...})
 *   MISTRAL      "[TOOL_CALLS]" (a JSON array of calls)
 *   PHI4         "<|tool_call|>" closed by "<|/tool_call|>" (Granite 3.3 has the opener only: generic)
 *   HERMES       "<tool_call>" and an "arguments" key, and not Qwen3-Coder/StepFun's XML ("<function=") nor
 *                GLM's ("<arg_key>") nor a "<tool_calls>" list (Apriel)
 *   LLAMA3       Llama 3's headers ("<|start_header_id|>") and a call rendered with a "parameters" key
 *   GENERIC      everything else, templates without tools included (Gemma 2/3, Phi-3.5, DeepSeek R1 distills,
 *                Qwen3-Coder, GLM, Granite, ...)
 * Thinking: harmony always (its analysis channel); otherwise a template that writes both "<think>" and
 * "</think>" (Qwen3, QwQ, the R1 distills, SmolLM3, ...) thinks with those tags.
 */
void api__tf_detect(const char *src, api_tf_t *out) {
    memset(out, 0, sizeof *out);
    out->family = API_TF_GENERIC;
    if (!src || !*src) return;
    if (tf__has(src, "<|channel|>") && tf__has(src, "<|message|>") && tf__has(src, "functions."))
        out->family = API_TF_GPTOSS;
    else if (tf__has(src, "[TOOL_CALLS]"))
        out->family = tf__has(src, "[ARGS]") ? API_TF_MISTRAL_V11 : API_TF_MISTRAL;
    else if (tf__has(src, "<|tool_call|>") && tf__has(src, "<|/tool_call|>"))
        out->family = API_TF_PHI4;
    else if (tf__has(src, "<tool_call>") && tf__has(src, "arguments") && !tf__has(src, "<function=") &&
             !tf__has(src, "<arg_key>") && !tf__has(src, "<tool_calls>"))
        out->family = API_TF_HERMES;
    else if (tf__has(src, "<|start_header_id|>") && tf__has(src, "\"parameters\": "))
        out->family = API_TF_LLAMA3;
    out->native_tools = out->family != API_TF_GENERIC;
    if (out->family == API_TF_GPTOSS) {
        out->thinks = true; /* the analysis channel; think_open/close stay "" */
    } else if (tf__has(src, "<think>") && tf__has(src, "</think>")) {
        out->thinks = true;
        snprintf(out->think_open, sizeof out->think_open, "%s", "<think>");
        snprintf(out->think_close, sizeof out->think_close, "%s", "</think>");
        /* the generation prompt itself opens the thought (R1 distills, QwQ): "<think>\n'}}" in the source */
        out->think_prefilled = tf__has(src, "<think>\\n'}}") || tf__has(src, "<think>\\n' }}");
    }
}

/* ---- grammar pieces ------------------------------------------------------------------------------------- */

/*
 * Any bytes that do not contain close, then close: the automaton of a substring search (KMP), one rule per
 * matched prefix length k; rule k moves on each byte to the rule of the new prefix length, and ends on the last
 * byte of close. The references are in tail position, so a thought of any length parses in constant depth.
 */
static uint32_t tf__until(gram_builder_t *b, const char *close) {
    size_t m = strlen(close);
    if (m == 0 || m > 64) return gram_build_fail(b, ERR_INVAL, "close tag of %zu bytes", m);
    size_t fail[64];
    fail[0] = 0;
    for (size_t i = 1, k = 0; i < m; i++) {
        while (k > 0 && close[i] != close[k])
            k = fail[k - 1];
        if (close[i] == close[k]) k++;
        fail[i] = k;
    }
    uint32_t rules[64];
    for (size_t k = 0; k < m; k++)
        rules[k] = gram_rule_new(b);
    for (size_t k = 0; k < m; k++) {
        gram_set_t to[64];
        memset(to, 0, sizeof to);
        for (unsigned c = 0; c < 256; c++) {
            size_t j = k;
            while (j > 0 && (unsigned char)close[j] != c)
                j = fail[j - 1];
            if ((unsigned char)close[j] == c) j++;
            if (j < m) gram_set_add(&to[j], c);
        }
        uint32_t alts[65];
        size_t n = 0;
        for (size_t j = 0; j < m; j++) {
            bool any = false;
            for (int w = 0; w < 8; w++)
                any |= to[j].w[w] != 0;
            if (any) alts[n++] = gram_seqv(b, 2, gram_set(b, &to[j]), gram_ref(b, rules[j]));
        }
        if (k == m - 1) alts[n++] = gram_bytes(b, &close[k], 1);
        gram_rule_define(b, rules[k], gram_alt(b, alts, n));
    }
    return gram_ref(b, rules[0]);
}

/* Optional whitespace after a reasoning block (bounded: the model cannot pad forever). */
static uint32_t tf__ws(gram_builder_t *b, uint32_t max) {
    gram_set_t ws = {{0}};
    gram_set_add(&ws, ' ');
    gram_set_add(&ws, '\n');
    gram_set_add(&ws, '\r');
    gram_set_add(&ws, '\t');
    return gram_repeat(b, gram_set(b, &ws), 0, max);
}

/*
 * Think tags: an optional block "<think>" ... "</think>" and the whitespace after it. The opening tag is
 * optional inside the block only for templates that pre-fill it in the prompt (the R1 distills, QwQ), where the
 * model starts inside the thought; elsewhere text without it would be free text the parser shows as content. Harmony: an optional analysis message and the start of the next assistant message
 * ("<|channel|>analysis<|message|>" ... "<|end|><|start|>assistant").
 */
uint32_t api__tf_reasoning_expr(gram_builder_t *b, const api_tf_t *f) {
    if (!f->thinks) return gram_empty(b);
    uint32_t block;
    if (f->family == API_TF_GPTOSS)
        block = gram_seqv(b, 3, gram_str(b, "<|channel|>analysis<|message|>"), tf__until(b, "<|end|>"),
                          gram_str(b, "<|start|>assistant"));
    else
        block = gram_seqv(b, 3,
                          f->think_prefilled ? gram_repeat(b, gram_str(b, f->think_open), 0, 1)
                                             : gram_str(b, f->think_open),
                          tf__until(b, f->think_close), tf__ws(b, 8));
    return gram_repeat(b, block, 0, 1);
}

/* A JSON string literal's body for s (quotes not included), escaped as JSON requires. */
static char *tf__json_body(const char *s) {
    size_t n = strlen(s);
    char *o = malloc(n * 6 + 1);
    if (!o) return NULL;
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            o[k++] = '\\';
            o[k++] = (char)*p;
        } else if (*p < 0x20) {
            k += (size_t)sprintf(o + k, "\\u%04x", *p);
        } else {
            o[k++] = (char)*p;
        }
    }
    o[k] = '\0';
    return o;
}

/* The arguments of one tool: its parameters schema, or "{}" when it has none. Returns GRAM_NONE with err set
   (naming the tool) when the schema is refused. */
static uint32_t tf__args(gram_builder_t *b, const api_tf_tool_t *t, int *rc, char *err, size_t err_len) {
    if (!t->parameters) return gram_str(b, "{}");
    char *json = cJSON_PrintUnformatted(t->parameters);
    if (!json) {
        *rc = err_set(err, err_len, ERR_NOMEM, "tool '%s': out of memory", t->name);
        return GRAM_NONE;
    }
    gram_schema_opts_t o = gram_schema_default_opts();
    o.strict = t->strict;
    uint32_t e = gram_schema_expr(b, json, strlen(json), &o);
    free(json);
    if (e == GRAM_NONE) {
        int code = gram_build_error(b);
        *rc = err_set(err, err_len, code ? code : ERR_NOMEM, "tool '%s': %s", t->name, gram_build_error_msg(b));
    }
    return e;
}

/* printf into a node: gram_str of the formatted text. */
static uint32_t tf__strf(gram_builder_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static uint32_t tf__strf(gram_builder_t *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) return gram_build_fail(b, ERR_NOMEM, "out of memory");
    uint32_t e = gram_bytes(b, s, (size_t)n);
    free(s);
    return e;
}

/*
 * One call of tool t as the family writes it, without the family's opener (which the lazy trigger or the root
 * adds). name_only: LLAMA3's lazy form, which starts after `{"name": ` and so begins with the quoted name.
 */
static uint32_t tf__call(gram_builder_t *b, const api_tf_t *f, const api_tf_tool_t *t, bool name_only, int *rc,
                         char *err, size_t err_len) {
    char *name = tf__json_body(t->name);
    if (!name) {
        *rc = err_set(err, err_len, ERR_NOMEM, "out of memory");
        return GRAM_NONE;
    }
    uint32_t args = tf__args(b, t, rc, err, err_len), e = GRAM_NONE;
    if (args == GRAM_NONE) goto cleanup;
    switch (f->family) {
    case API_TF_LLAMA3:
        e = gram_seqv(b, 3, tf__strf(b, "%s\"%s\", \"parameters\": ", name_only ? "" : "{\"name\": ", name), args,
                      gram_str(b, "}"));
        break;
    case API_TF_MISTRAL: {
        gram_set_t an = {{0}};
        gram_set_add_range(&an, '0', '9');
        gram_set_add_range(&an, 'A', 'Z');
        gram_set_add_range(&an, 'a', 'z');
        e = gram_seqv(b, 5, tf__strf(b, "{\"name\": \"%s\", \"arguments\": ", name), args, gram_str(b, ", \"id\": \""),
                      gram_repeat(b, gram_set(b, &an), 9, 9), gram_str(b, "\"}"));
        break;
    }
    case API_TF_MISTRAL_V11: {
        gram_set_t an = {{0}};
        gram_set_add_range(&an, '0', '9');
        gram_set_add_range(&an, 'A', 'Z');
        gram_set_add_range(&an, 'a', 'z');
        uint32_t id = gram_seqv(b, 2, gram_str(b, "[CALL_ID]"), gram_repeat(b, gram_set(b, &an), 9, 9));
        e = gram_seqv(b, 4, gram_str(b, t->name), gram_repeat(b, id, 0, 1), gram_str(b, "[ARGS]"), args);
        break;
    }
    case API_TF_GPTOSS: {
        /* The recipient header as the model writes it (harmony: "... to=functions.N <|constrain|>json") and as
           the template renders history ("to=functions.N<|channel|>commentary json"); the call ends with the
           <|call|> token, which ends generation (an EOG token, outside the grammar). */
        uint32_t tail = gram_altv(b, 2, gram_str(b, " <|constrain|>json<|message|>"),
                                  gram_str(b, "<|channel|>commentary json<|message|>"));
        e = gram_seqv(b, 3, gram_str(b, t->name), tail, args);
        break;
    }
    default: /* HERMES, PHI4, GENERIC */
        e = gram_seqv(b, 3, tf__strf(b, "{\"name\": \"%s\", \"arguments\": ", name), args, gram_str(b, "}"));
        break;
    }
cleanup:
    free(name);
    return e;
}

/* One alternative per tool. */
static uint32_t tf__calls_alt(gram_builder_t *b, const api_tf_t *f, const api_tf_tool_t *tools, size_t n,
                              bool name_only, int *rc, char *err, size_t err_len) {
    uint32_t *alts = calloc(n, sizeof *alts);
    if (!alts) {
        *rc = err_set(err, err_len, ERR_NOMEM, "out of memory");
        return GRAM_NONE;
    }
    uint32_t e = GRAM_NONE;
    for (size_t i = 0; i < n; i++) {
        if (!tools[i].name || !tools[i].name[0]) {
            *rc = err_set(err, err_len, ERR_INVAL, "tool %zu has no name", i);
            goto cleanup;
        }
        alts[i] = tf__call(b, f, &tools[i], name_only, rc, err, err_len);
        if (alts[i] == GRAM_NONE) goto cleanup;
    }
    e = gram_alt(b, alts, n);
cleanup:
    free(alts);
    return e;
}

/* The family's markers around one call, and between calls. */
typedef struct {
    const char *open;  /* before a call (the lazy trigger) */
    const char *close; /* after a call */
    const char *sep;   /* between two calls of a parallel answer */
} tf_marks_t;

static tf_marks_t tf__marks(api_tf_family_t fam) {
    switch (fam) {
    case API_TF_HERMES: return (tf_marks_t){"<tool_call>", "\n</tool_call>", "\n"};
    case API_TF_PHI4: return (tf_marks_t){"<|tool_call|>", "<|/tool_call|>", ""};
    case API_TF_MISTRAL_V11: return (tf_marks_t){"[TOOL_CALLS]", "", ""};
    case API_TF_GENERIC: return (tf_marks_t){"```tool_call", "\n```", "\n"};
    default: return (tf_marks_t){"", "", ""};
    }
}

/*
 * The root, per family (C: one call, the alternatives of the tools; R: the reasoning block; + one or more):
 *   HERMES       required: R "<tool_call>\n" C "\n</tool_call>" ("\n<tool_call>\n" C "\n</tool_call>")+
 *                auto: trigger "<tool_call>", root "\n" C "\n</tool_call>" ("\n<tool_call>\n" C ...)*
 *   PHI4         the same with "<|tool_call|>" C "<|/tool_call|>", no separator
 *   GENERIC      the same with "```tool_call\n" C "\n```", separator "\n"
 *   MISTRAL_V11  "[TOOL_CALLS]" NAME ("[CALL_ID]" id)? "[ARGS]" ARGS, repeated
 *   MISTRAL      "[TOOL_CALLS][" C (", " C)* "]"; auto: trigger "[TOOL_CALLS]"
 *   LLAMA3       required: R ("<|python_tag|>")? C, one call (the template refuses several per message);
 *                auto: trigger `{"name": ` (there is no opener: a call is the message's JSON object), root
 *                `"NAME", "parameters": ARGS}`. The trigger fires wherever the text appears, and toolparse.c
 *                takes it as a call wherever it appears, so the two agree.
 *   GPTOSS       required: R ("<|channel|>commentary to=functions." | " to=functions.") NAME HEADER_TAIL ARGS;
 *                auto: trigger "to=functions.", root NAME HEADER_TAIL ARGS; one call (<|call|> ends the turn)
 */
int api__tf_grammar(const api_tf_t *f, const api_tf_tool_t *tools, size_t n, bool required, bool parallel,
                    const api_tf_doc_t *doc, gram_t **out, api_tf_triggers_t *trig, char *err, size_t err_len) {
    if (!f || !tools || n == 0 || !out || !trig) return err_set(err, err_len, ERR_INVAL, "no tools");
    *out = NULL;
    memset(trig, 0, sizeof *trig);
    gram_builder_t *b = gram_build_new();
    if (!b) return err_set(err, err_len, ERR_NOMEM, "out of memory");
    int rc = 0;
    if (doc) required = true; /* the calls as required writes them, the document beside them */
    bool lazy_llama = f->family == API_TF_LLAMA3 && !required;
    uint32_t call = tf__calls_alt(b, f, tools, n, lazy_llama, &rc, err, err_len);
    if (call == GRAM_NONE) {
        if (!rc)
            rc = err_set(err, err_len, gram_build_error(b) ? gram_build_error(b) : ERR_NOMEM, "%s",
                         gram_build_error_msg(b));
        goto cleanup;
    }
    uint32_t root;
    tf_marks_t mk = tf__marks(f->family);
    switch (f->family) {
    case API_TF_LLAMA3:
        if (required)
            root = gram_seqv(b, 2, gram_repeat(b, gram_str(b, "<|python_tag|>"), 0, 1), call);
        else
            root = call, trig->texts[trig->n_texts++] = "{\"name\": ";
        break;
    case API_TF_GPTOSS:
        if (required)
            root = gram_seqv(
                b, 2,
                gram_altv(b, 2, gram_str(b, "<|channel|>commentary to=functions."), gram_str(b, " to=functions.")),
                call);
        else
            root = call, trig->texts[trig->n_texts++] = "to=functions.";
        break;
    case API_TF_MISTRAL: {
        uint32_t more = gram_repeat(b, gram_seqv(b, 2, gram_str(b, ", "), call), 0, parallel ? GRAM_REPEAT_INF : 0);
        uint32_t list = gram_seqv(b, 4, gram_str(b, "["), call, more, gram_str(b, "]"));
        if (required)
            root = gram_seqv(b, 2, gram_str(b, "[TOOL_CALLS]"), list);
        else
            root = list, trig->texts[trig->n_texts++] = "[TOOL_CALLS]";
        break;
    }
    default: { /* HERMES, PHI4, GENERIC, MISTRAL_V11: open C close (sep open C close)* */
        bool nl_first = f->family == API_TF_HERMES || f->family == API_TF_GENERIC;
        uint32_t body = gram_seqv(b, 3, gram_str(b, nl_first ? "\n" : ""), call, gram_str(b, mk.close));
        uint32_t next = gram_seqv(b, 3, gram_str(b, mk.sep), gram_str(b, mk.open), body);
        uint32_t more = gram_repeat(b, next, 0, parallel ? GRAM_REPEAT_INF : 0);
        if (required)
            root = gram_seqv(b, 3, gram_str(b, mk.open), body, more);
        else
            root = gram_seqv(b, 2, body, more), trig->texts[trig->n_texts++] = mk.open;
        break;
    }
    }
    if (doc) {
        uint32_t d = gram_schema_expr(b, doc->json, doc->len, &doc->opts);
        if (d == GRAM_NONE) {
            rc = err_set(err, err_len, gram_build_error(b) ? gram_build_error(b) : ERR_NOMEM, "%s",
                         gram_build_error_msg(b));
            goto cleanup;
        }
        root = gram_altv(b, 2, d, root);
    }
    if (required) root = gram_seqv(b, 2, api__tf_reasoning_expr(b, f), root);
    gram_rule_define(b, GRAM_ROOT, root);
    rc = gram_build_compile(b, out, err, err_len);
cleanup:
    gram_build_free(b);
    if (rc) memset(trig, 0, sizeof *trig);
    return rc;
}

/* ---- GENERIC: the tools described in a system message --------------------------------------------------- */

char *api__tf_generic_prompt(const api_tf_tool_t *tools, size_t n, bool required) {
    cJSON *list = cJSON_CreateArray();
    char *json = NULL, *out = NULL;
    if (!list) return NULL;
    for (size_t i = 0; i < n; i++) {
        cJSON *t = cJSON_CreateObject();
        if (!t) goto cleanup;
        cJSON_AddItemToArray(list, t);
        if (!cJSON_AddStringToObject(t, "name", tools[i].name ? tools[i].name : "")) goto cleanup;
        cJSON *p = tools[i].parameters ? cJSON_Duplicate(tools[i].parameters, true) : cJSON_CreateObject();
        if (!p) goto cleanup;
        cJSON_AddItemToObject(t, "parameters", p);
    }
    json = cJSON_PrintUnformatted(list);
    if (!json) goto cleanup;
    const char *when = required ? "You must answer with one or more function calls and nothing else."
                                : "When a function helps, call it; otherwise answer normally.";
    if (asprintf(&out,
                 "You can call the following functions. Each is given as a JSON object with its name and the JSON "
                 "Schema of its arguments:\n%s\n\n%s To call a function, write a fenced block exactly like this, "
                 "one block per call:\n```tool_call\n{\"name\": \"<function-name>\", \"arguments\": "
                 "<arguments-json-object>}\n```",
                 json, when) < 0)
        out = NULL;
cleanup:
    free(json);
    cJSON_Delete(list);
    return out;
}
