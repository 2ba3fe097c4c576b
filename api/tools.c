/*
 * tools.c — the tool-calling and reasoning fields of chat requests, and what they become: the tools the template
 * sees, the grammar that makes a call valid, the text pre-filled for a forced call, and the template variables for
 * reasoning.
 *
 *   tools                 [{type: "function", function: {name, description, parameters, strict}}] (at most 128)
 *   tool_choice           "none" | "auto" | "required" | {type: "function", function: {name}} |
 *                         {type: "allowed_tools", allowed_tools: {mode: "auto" | "required", tools: [...]}}
 *   parallel_tool_calls   false = at most one call
 *   functions, function_call   the deprecated forms, mapped onto the same machinery (answered with
 *                         message.function_call and finish_reason "function_call")
 *   reasoning_effort      none | minimal | low | medium | high: to templates that read it (gpt-oss), or Qwen3-style
 *                         enable_thinking (off for none / minimal); a 400 for a model that does not reason
 *
 * tool_choice auto: a lazy grammar — free text until the family's opener, then a valid call. required and named:
 * the opener is pre-filled after the generation prompt and the grammar holds from the first generated token, so
 * the answer is calls only (a forced call skips the reasoning block). none: the template still sees the tools,
 * no call is parsed. The output is parsed per family (toolfmt.h) in call.c.
 * Loop thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "err.h"
#include "jr.h"

#define T_INVALID "invalid_request_error"
#define T_MAX_TOOLS 128

static int tools__oom(api_err_t *e) {
    return api_err_set(e, ERR_NOMEM, 503, "server_error", NULL, NULL, "The server is out of memory.");
}

/* Validates one function definition {name, description?, parameters?, strict?} at `param` and adds it to s. */
static int tools__function(const cJSON *fn, const char *param, api_spec_t *s, api_err_t *e) {
    char p[96];
    bool present;
    const char *name = NULL, *desc = NULL;
    if (!cJSON_IsObject(fn)) return jr_type_error(e, param, "an object", fn);
    snprintf(p, sizeof p, "%s.name", param);
    int rc = jr_string(fn, "name", p, &name, NULL, &present, e);
    if (rc) return rc;
    if (!present)
        return api_err_set(e, ERR_INVAL, 400, T_INVALID, "missing_required_parameter", p,
                           "Missing required parameter: '%s'.", p);
    if (!jr_name_ok(name))
        return api_err_set(e, ERR_INVAL, 400, T_INVALID, "invalid_value", p,
                           "Invalid '%s': string does not match pattern. Expected a string of at most 64 characters "
                           "that matches the pattern '^[a-zA-Z0-9_-]+$'.",
                           p);
    for (size_t i = 0; i < s->n_tools; i++)
        if (!strcmp(s->tools[i].name, name))
            return api_err_set(e, ERR_INVAL, 400, T_INVALID, "invalid_value", p,
                               "Invalid '%s': the function name '%s' is given twice.", p, name);
    snprintf(p, sizeof p, "%s.description", param);
    if ((rc = jr_string(fn, "description", p, &desc, NULL, &present, e))) return rc;
    bool strict = false;
    snprintf(p, sizeof p, "%s.strict", param);
    if ((rc = jr_bool(fn, "strict", p, &strict, &present, e))) return rc;
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
    if (params && cJSON_IsNull(params)) params = NULL;
    snprintf(p, sizeof p, "%s.parameters", param);
    if (params && !cJSON_IsObject(params)) return jr_type_error(e, p, "an object", params);
    s->tools[s->n_tools++] = (api_tf_tool_t){.name = name, .parameters = params, .strict = strict};
    return 0;
}

/* tools (or the deprecated functions): validated into s->tools, and the OpenAI-shaped list the template sees. */
static int tools__list(const cJSON *root, api_spec_t *s, api_err_t *e) {
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(root, "tools");
    const cJSON *fns = cJSON_GetObjectItemCaseSensitive(root, "functions");
    if (tools && cJSON_IsNull(tools)) tools = NULL;
    if (fns && cJSON_IsNull(fns)) fns = NULL;
    if (tools && fns)
        return api_err_set(e, ERR_INVAL, 400, T_INVALID, "invalid_value", "functions",
                           "Invalid request: 'functions' and 'tools' cannot both be given; use 'tools'.");
    const cJSON *list = tools ? tools : fns;
    const char *what = tools ? "tools" : "functions";
    if (!list) return 0;
    if (!cJSON_IsArray(list)) return jr_type_error(e, what, "an array", list);
    int n = cJSON_GetArraySize(list);
    if (n > T_MAX_TOOLS)
        return api_err_set(e, ERR_RANGE, 400, T_INVALID, "array_above_max_length", what,
                           "Invalid '%s': array too long. Expected an array with maximum length %d, but got an array "
                           "with length %d instead.",
                           what, T_MAX_TOOLS, n);
    if (n == 0) return 0;
    s->tools = calloc((size_t)n, sizeof *s->tools);
    s->tools_json = cJSON_CreateArray();
    if (!s->tools || !s->tools_json) return tools__oom(e);
    s->legacy_functions = fns != NULL;
    int i = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, list) {
        char param[64];
        snprintf(param, sizeof param, "%s[%d]", what, i++);
        const cJSON *fn = t;
        if (tools) {
            if (!cJSON_IsObject(t)) return jr_type_error(e, param, "an object", t);
            char tp[80];
            snprintf(tp, sizeof tp, "%s.type", param);
            const char *type = NULL;
            bool present;
            int rc = jr_string(t, "type", tp, &type, NULL, &present, e);
            if (rc) return rc;
            if (!present)
                return api_err_set(e, ERR_INVAL, 400, T_INVALID, "missing_required_parameter", tp,
                                   "Missing required parameter: '%s'.", tp);
            if (strcmp(type, "function"))
                return api_err_set(e, ERR_UNSUPPORTED, 400, T_INVALID, "unsupported_value", tp,
                                   "Unsupported value: tools of type '%.40s' are not supported by this server "
                                   "(function tools only).",
                                   type);
            snprintf(param + strlen(param), sizeof param - strlen(param), ".function");
            fn = cJSON_GetObjectItemCaseSensitive(t, "function");
            if (!fn || cJSON_IsNull(fn))
                return api_err_set(e, ERR_INVAL, 400, T_INVALID, "missing_required_parameter", param,
                                   "Missing required parameter: '%s'.", param);
        }
        int rc = tools__function(fn, param, s, e);
        if (rc) return rc;
        /* the template sees OpenAI's shape, {type: "function", function: {...}}, for both forms */
        cJSON *entry = cJSON_CreateObject();
        cJSON *copy = cJSON_Duplicate(fn, true);
        if (!entry || !copy || !cJSON_AddItemToArray(s->tools_json, entry)) {
            cJSON_Delete(entry);
            cJSON_Delete(copy);
            return tools__oom(e);
        }
        if (!cJSON_AddStringToObject(entry, "type", "function") || !cJSON_AddItemToObject(entry, "function", copy)) {
            cJSON_Delete(copy);
            return tools__oom(e);
        }
        /* gpt-oss's template concatenates the description (an undefined one fails there as in Jinja2) */
        if (s->slot->tf.family == API_TF_GPTOSS && !jr_given(copy, "description") &&
            !cJSON_AddStringToObject(copy, "description", ""))
            return tools__oom(e);
    }
    /* s->tools borrows from the request tree; point it at the copies the spec owns instead, which outlive it */
    i = 0;
    cJSON_ArrayForEach(t, s->tools_json) {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function");
        s->tools[i].name = cJSON_GetObjectItemCaseSensitive(fn, "name")->valuestring;
        const cJSON *pr = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
        s->tools[i].parameters = pr && cJSON_IsObject(pr) ? pr : NULL;
        i++;
    }
    return 0;
}

/* The index of the tool named `name`, or -1. */
static int tools__find(const api_spec_t *s, const char *name) {
    for (size_t i = 0; i < s->n_tools; i++)
        if (!strcmp(s->tools[i].name, name)) return (int)i;
    return -1;
}

/* Keeps only the tools whose `keep` flag is set (named choices and allowed_tools). */
static void tools__filter(api_spec_t *s, const bool *keep) {
    size_t k = 0;
    for (size_t i = 0; i < s->n_tools; i++)
        if (keep[i]) s->tools[k++] = s->tools[i];
    s->n_tools = k;
}

/* {type: "function", function: {name}} at param: marks that tool in keep. */
static int tools__named(const cJSON *o, const char *param, const api_spec_t *s, bool *keep, api_err_t *e) {
    char p[128];
    snprintf(p, sizeof p, "%s.function", param);
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(o, "function");
    if (!fn || !cJSON_IsObject(fn)) {
        if (fn && !cJSON_IsNull(fn)) return jr_type_error(e, p, "an object", fn);
        return api_err_set(e, ERR_INVAL, 400, T_INVALID, "missing_required_parameter", p,
                           "Missing required parameter: '%s'.", p);
    }
    snprintf(p, sizeof p, "%s.function.name", param);
    const char *name = NULL;
    bool present;
    int rc = jr_string(fn, "name", p, &name, NULL, &present, e);
    if (rc) return rc;
    if (!present)
        return api_err_set(e, ERR_INVAL, 400, T_INVALID, "missing_required_parameter", p,
                           "Missing required parameter: '%s'.", p);
    int i = tools__find(s, name);
    if (i < 0)
        return api_err_set(e, ERR_INVAL, 400, T_INVALID, "invalid_value", p,
                           "Invalid value for '%s': no function named '%.64s' was specified in '%s'.", p, name,
                           s->legacy_functions ? "functions" : "tools");
    keep[i] = true;
    return 0;
}

/* tool_choice (or function_call): sets s->tool_choice and narrows s->tools to the allowed ones. */
static int tools__choice(const cJSON *root, api_spec_t *s, api_err_t *e) {
    const char *what = s->legacy_functions ? "function_call" : "tool_choice";
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(root, what);
    const cJSON *other = cJSON_GetObjectItemCaseSensitive(root, s->legacy_functions ? "tool_choice" : "function_call");
    if (other && !cJSON_IsNull(other))
        return api_err_set(e, ERR_INVAL, 400, T_INVALID, "invalid_value", other->string,
                           "Invalid request: '%s' goes with '%s'; use 'tools' with 'tool_choice'.", other->string,
                           s->legacy_functions ? "tools" : "functions");
    s->tool_choice = s->n_tools ? API_TC_AUTO : API_TC_NONE;
    if (!tc || cJSON_IsNull(tc)) return 0;
    if (cJSON_IsString(tc)) {
        const char *v = tc->valuestring;
        if (!strcmp(v, "none")) {
            s->tool_choice = API_TC_NONE;
            return 0;
        }
        bool required = !strcmp(v, "required") && !s->legacy_functions;
        if (strcmp(v, "auto") && !required)
            return api_err_set(e, ERR_INVAL, 400, T_INVALID, "invalid_value", what,
                               "Invalid value: '%.40s'. Supported values are: 'none', 'auto'%s.", v,
                               s->legacy_functions ? "" : " and 'required'");
        if (!s->n_tools)
            return api_err_set(e, ERR_INVAL, 400, T_INVALID, "invalid_value", what,
                               "Invalid value for '%s': '%s' is only allowed when '%s' are specified.", what,
                               what, s->legacy_functions ? "functions" : "tools");
        s->tool_choice = required ? API_TC_REQUIRED : API_TC_AUTO;
        return 0;
    }
    if (!cJSON_IsObject(tc)) return jr_type_error(e, what, "a string or an object", tc);
    if (!s->n_tools)
        return api_err_set(e, ERR_INVAL, 400, T_INVALID, "invalid_value", what,
                           "Invalid value for '%s': '%s' is only allowed when '%s' are specified.", what, what,
                           s->legacy_functions ? "functions" : "tools");
    bool *keep = calloc(s->n_tools, sizeof *keep);
    if (!keep) return tools__oom(e);
    int rc = 0;
    if (s->legacy_functions) { /* {name} */
        const char *name = NULL;
        bool present;
        char p[64] = "function_call.name";
        rc = jr_string(tc, "name", p, &name, NULL, &present, e);
        if (!rc && !present)
            rc = api_err_set(e, ERR_INVAL, 400, T_INVALID, "missing_required_parameter", p,
                             "Missing required parameter: '%s'.", p);
        int i = rc ? -1 : tools__find(s, name);
        if (!rc && i < 0)
            rc = api_err_set(e, ERR_INVAL, 400, T_INVALID, "invalid_value", p,
                             "Invalid value for '%s': no function named '%.64s' was specified in 'functions'.", p,
                             name);
        if (!rc) keep[i] = true;
        s->tool_choice = API_TC_REQUIRED;
    } else {
        const char *type = NULL;
        bool present;
        rc = jr_string(tc, "type", "tool_choice.type", &type, NULL, &present, e);
        if (!rc && !present)
            rc = api_err_set(e, ERR_INVAL, 400, T_INVALID, "missing_required_parameter", "tool_choice.type",
                             "Missing required parameter: 'tool_choice.type'.");
        if (!rc && !strcmp(type, "function")) {
            rc = tools__named(tc, "tool_choice", s, keep, e);
            s->tool_choice = API_TC_REQUIRED;
        } else if (!rc && !strcmp(type, "allowed_tools")) {
            const cJSON *at = cJSON_GetObjectItemCaseSensitive(tc, "allowed_tools");
            const char *mode = NULL;
            if (!at || !cJSON_IsObject(at))
                rc = at && !cJSON_IsNull(at) ? jr_type_error(e, "tool_choice.allowed_tools", "an object", at)
                                             : api_err_set(e, ERR_INVAL, 400, T_INVALID, "missing_required_parameter",
                                                           "tool_choice.allowed_tools",
                                                           "Missing required parameter: 'tool_choice.allowed_tools'.");
            if (!rc) rc = jr_string(at, "mode", "tool_choice.allowed_tools.mode", &mode, NULL, &present, e);
            if (!rc && (!present || (strcmp(mode, "auto") && strcmp(mode, "required"))))
                rc = api_err_set(e, ERR_INVAL, 400, T_INVALID, "invalid_value", "tool_choice.allowed_tools.mode",
                                 "Invalid value for 'tool_choice.allowed_tools.mode': expected 'auto' or "
                                 "'required'.");
            const cJSON *list = rc ? NULL : cJSON_GetObjectItemCaseSensitive(at, "tools");
            if (!rc && (!list || !cJSON_IsArray(list) || cJSON_GetArraySize(list) == 0))
                rc = api_err_set(e, ERR_INVAL, 400, T_INVALID, "invalid_value", "tool_choice.allowed_tools.tools",
                                 "Invalid 'tool_choice.allowed_tools.tools': expected a non-empty array of "
                                 "{\"type\": \"function\", \"function\": {\"name\": ...}}.");
            int i = 0;
            const cJSON *t;
            if (!rc) cJSON_ArrayForEach(t, list) {
                    char p[64];
                    snprintf(p, sizeof p, "tool_choice.allowed_tools.tools[%d]", i++);
                    if (!cJSON_IsObject(t)) {
                        rc = jr_type_error(e, p, "an object", t);
                        break;
                    }
                    if ((rc = tools__named(t, p, s, keep, e))) break;
                }
            if (!rc) s->tool_choice = !strcmp(mode, "required") ? API_TC_REQUIRED : API_TC_AUTO;
        } else if (!rc) {
            rc = api_err_set(e, ERR_INVAL, 400, T_INVALID, "invalid_value", "tool_choice.type",
                             "Invalid value: '%.40s'. Supported values are: 'function' and 'allowed_tools'.", type);
        }
    }
    if (!rc) tools__filter(s, keep);
    free(keep);
    return rc;
}

/* reasoning_effort: template variables for the models that reason. */
static int tools__effort(const cJSON *root, api_spec_t *s, api_err_t *e) {
    static const char *const levels[] = {"none", "minimal", "low", "medium", "high"};
    const char *v = NULL;
    bool present;
    int rc = jr_string(root, "reasoning_effort", NULL, &v, NULL, &present, e);
    if (rc || !present) return rc;
    bool known = false;
    for (size_t i = 0; i < sizeof levels / sizeof *levels; i++)
        known |= !strcmp(v, levels[i]);
    if (!known)
        return api_err_set(e, ERR_INVAL, 400, T_INVALID, "invalid_value", "reasoning_effort",
                           "Invalid value: '%.40s'. Supported values are: 'none', 'minimal', 'low', 'medium', and "
                           "'high'.",
                           v);
    const api_slot_t *m = s->slot;
    if (!m->tf.thinks || !(m->tmpl_has_effort || m->tmpl_has_thinking_switch))
        return api_err_set(e, ERR_UNSUPPORTED, 400, T_INVALID, "unsupported_parameter", "reasoning_effort",
                           "Unsupported parameter: 'reasoning_effort' is not supported with this model.");
    if (!s->tmpl_vars && !(s->tmpl_vars = cJSON_CreateObject())) return tools__oom(e);
    bool off = !strcmp(v, "none") || !strcmp(v, "minimal");
    if (m->tmpl_has_effort) {
        /* harmony knows low / medium / high: "none" and "minimal" ask for the least it has */
        if (!cJSON_AddStringToObject(s->tmpl_vars, "reasoning_effort", off ? "low" : v)) return tools__oom(e);
    } else if (!cJSON_AddBoolToObject(s->tmpl_vars, "enable_thinking", !off)) {
        return tools__oom(e);
    }
    return 0;
}

/* Resolves the trigger texts into the engine's lazy triggers, adding the token id of each that is one token. */
static int tools__triggers(api_spec_t *s, const api_tf_triggers_t *trig, api_err_t *e) {
    const tok_t *tok = s->slot->tok;
    for (size_t i = 0; i < trig->n_texts && i < API_TF_MAX_TRIGGERS; i++) {
        s->trig_texts[s->lazy.n_texts++] = trig->texts[i];
        int32_t ids[4];
        size_t n = 0;
        int rc = tok_encode(tok, trig->texts[i], strlen(trig->texts[i]), TOK_PARSE_SPECIAL, ids, 4, &n);
        if (rc == 0 && n == 1 && tok_is_control(tok, ids[0])) s->trig_tokens[s->lazy.n_tokens++] = ids[0];
        else if (rc && rc != ERR_RANGE) return tools__oom(e);
    }
    s->lazy.texts = s->trig_texts;
    s->lazy.tokens = s->trig_tokens;
    /* a thought is a quiet region: a call's opener written while thinking is thought, not a call */
    const api_tf_t *f = &s->slot->tf;
    if (f->thinks && f->think_open[0] && f->think_close[0]) {
        s->lazy.quiet_open = f->think_open;
        s->lazy.quiet_close = f->think_close;
        s->lazy.quiet_at_start = f->think_prefilled;
        int32_t ids[2][4];
        size_t n[2] = {0, 0};
        const char *tags[2] = {f->think_open, f->think_close};
        for (int k = 0; k < 2; k++)
            if (tok_encode(tok, tags[k], strlen(tags[k]), TOK_PARSE_SPECIAL, ids[k], 4, &n[k]) != 0) n[k] = 0;
        if (n[0] == 1 && n[1] == 1 && tok_is_control(tok, ids[0][0]) && tok_is_control(tok, ids[1][0])) {
            s->lazy.quiet_tokens[0] = ids[0][0];
            s->lazy.quiet_tokens[1] = ids[1][0];
            s->lazy.n_quiet_tokens = 2;
        }
    }
    return 0;
}

/* The grammar of the calls, and for forced calls the opener to pre-fill. */
static int tools__grammar(api_spec_t *s, api_err_t *e) {
    const api_slot_t *m = s->slot;
    bool parallel = s->parallel_tools && !s->legacy_functions;
    api_tf_triggers_t trig = {0};
    char msg[256] = "";
    /* response_format beside tools in auto mode: the answer is that document or calls, from the first token */
    api_tf_doc_t doc = {0};
    const bool with_doc = s->format_json && s->tool_choice == API_TC_AUTO;
    if (with_doc) doc = (api_tf_doc_t){s->format_json, strlen(s->format_json), s->format_opts};
    /* the cache key: the format, the flags, the document, and each tool as it shapes the grammar */
    cJSON *k = cJSON_CreateArray();
    bool ok = k && cJSON_AddItemToArray(k, cJSON_CreateNumber(m->tf.family)) &&
              cJSON_AddItemToArray(k, cJSON_CreateBool(parallel)) &&
              cJSON_AddItemToArray(k, cJSON_CreateBool(m->tf.thinks)) &&
              cJSON_AddItemToArray(k, cJSON_CreateBool(m->tf.think_prefilled)) &&
              cJSON_AddItemToArray(k, with_doc ? cJSON_CreateString(doc.json) : cJSON_CreateNull()) &&
              cJSON_AddItemToArray(k, cJSON_CreateNumber(with_doc ? doc.opts.strict * 2 + doc.opts.any_object : -1)) &&
              cJSON_AddItemToArray(k, cJSON_CreateNumber(with_doc ? doc.opts.ws_max : 0));
    for (size_t i = 0; ok && i < s->n_tools; i++)
        ok = cJSON_AddItemToArray(k, cJSON_CreateString(s->tools[i].name)) &&
             cJSON_AddItemToArray(k, cJSON_CreateBool(s->tools[i].strict)) &&
             cJSON_AddItemToArray(k, s->tools[i].parameters ? cJSON_Duplicate(s->tools[i].parameters, true)
                                                            : cJSON_CreateNull());
    char *key = ok ? cJSON_PrintUnformatted(k) : NULL;
    cJSON_Delete(k);
    if (!key) return tools__oom(e);
    int rc = 0;
    if (!(s->grammar = api__gcache_get(s->slot, key, &trig))) {
        rc = api__tf_grammar(&m->tf, s->tools, s->n_tools, false, parallel, with_doc ? &doc : NULL, &s->grammar,
                             &trig, msg, sizeof msg);
        if (!rc) api__gcache_put(s->slot, key, s->grammar, &trig);
    }
    cJSON_free(key);
    if (rc == ERR_NOMEM) return tools__oom(e);
    if (rc)
        return api_err_set(e, rc, 400, T_INVALID, rc == ERR_UNSUPPORTED ? "unsupported_value" : "invalid_value",
                           s->legacy_functions ? "functions" : "tools", "Invalid function parameters: %s.", msg);
    if (with_doc) return 0; /* holds from the first token: no opener to pre-fill, no trigger */
    if (trig.n_texts == 0) return api_err_set(e, ERR_STATE, 500, "server_error", NULL, NULL, "no tool-call trigger");
    if (s->tool_choice == API_TC_REQUIRED) {
        s->prefill = trig.texts[0]; /* the grammar then holds from the first token */
        return 0;
    }
    return tools__triggers(s, &trig, e);
}

int api__tools(const api_ctx_t *c, const cJSON *root, api_spec_t *s, api_err_t *e) {
    int rc;
    bool present;
    s->parallel_tools = true;
    if ((rc = tools__list(root, s, e))) return rc;
    if ((rc = jr_bool(root, "parallel_tool_calls", NULL, &s->parallel_tools, &present, e))) return rc;
    if ((rc = tools__choice(root, s, e))) return rc;
    if ((rc = tools__effort(root, s, e))) return rc;
    if (s->tool_choice != API_TC_NONE) {
        /* response_format's grammar gives way to the calls' (required: calls only; auto: the document or calls) */
        gram_free(s->grammar);
        s->grammar = NULL;
        if ((rc = tools__grammar(s, e))) return rc;
    }
    const api_slot_t *m = s->slot;
    s->parse_output = s->tool_choice != API_TC_NONE || (m->tf.thinks && !c->reasoning_inline);
    return 0;
}

/* ---- messages for the template ------------------------------------------------------------------------------ */

/* Mistral's templates accept only 9 alphanumeric call ids: a stable one derived from the client's id. */
static void tools__mistral_id(const char *id, char out[10]) {
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    for (int i = 0; i < 9; i++) {
        out[i] = al[h % 62];
        h = h / 62 + (h << 40) * 31; /* keep mixing: 9 digits need more than 53 bits */
    }
    out[9] = '\0';
}

/* Validates an assistant message's tool_calls at param and rewrites them as templates expect them: arguments as a
   JSON value (they arrive as a string), Mistral ids. */
static int tools__history_calls(cJSON *calls, const char *param, bool mistral, api_err_t *e) {
    int i = 0;
    cJSON *tc;
    cJSON_ArrayForEach(tc, calls) {
        char p[128];
        snprintf(p, sizeof p, "%s[%d]", param, i++);
        if (!cJSON_IsObject(tc)) return jr_type_error(e, p, "an object", tc);
        const char *id = NULL, *type = NULL, *name = NULL, *args = NULL;
        bool present;
        char q[160];
        snprintf(q, sizeof q, "%s.id", p);
        int rc = jr_string(tc, "id", q, &id, NULL, &present, e);
        if (rc) return rc;
        snprintf(q, sizeof q, "%s.type", p);
        if ((rc = jr_string(tc, "type", q, &type, NULL, &present, e))) return rc;
        if (present && strcmp(type, "function"))
            return api_err_set(e, ERR_INVAL, 400, T_INVALID, "invalid_value", q,
                               "Invalid value: '%.40s'. Supported values are: 'function'.", type);
        cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
        snprintf(q, sizeof q, "%s.function", p);
        if (!fn || !cJSON_IsObject(fn))
            return fn && !cJSON_IsNull(fn) ? jr_type_error(e, q, "an object", fn)
                                           : api_err_set(e, ERR_INVAL, 400, T_INVALID, "missing_required_parameter",
                                                         q, "Missing required parameter: '%s'.", q);
        snprintf(q, sizeof q, "%s.function.name", p);
        if ((rc = jr_string(fn, "name", q, &name, NULL, &present, e))) return rc;
        if (!present)
            return api_err_set(e, ERR_INVAL, 400, T_INVALID, "missing_required_parameter", q,
                               "Missing required parameter: '%s'.", q);
        snprintf(q, sizeof q, "%s.function.arguments", p);
        if ((rc = jr_string(fn, "arguments", q, &args, NULL, &present, e))) return rc;
        cJSON *val = present ? cJSON_Parse(args) : cJSON_CreateObject();
        if (val) { /* a string that is not JSON goes to the template as the string it is; none: {} */
            bool ok = cJSON_GetObjectItemCaseSensitive(fn, "arguments")
                          ? cJSON_ReplaceItemInObjectCaseSensitive(fn, "arguments", val)
                          : cJSON_AddItemToObject(fn, "arguments", val);
            if (!ok) cJSON_Delete(val);
        }
        if (mistral && id) {
            char mid[10];
            tools__mistral_id(id, mid);
            cJSON *s = cJSON_CreateString(mid);
            if (!s) return tools__oom(e);
            cJSON_ReplaceItemInObjectCaseSensitive(tc, "id", s);
        }
    }
    return 0;
}

/* Appends text to a message's content string. */
static int tools__append(cJSON *msg, const char *sep, const char *text, api_err_t *e) {
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(msg, "content");
    const char *old = cJSON_IsString(c) ? c->valuestring : "";
    size_t n = strlen(old) + strlen(sep) + strlen(text) + 1;
    char *buf = malloc(n);
    if (!buf) return tools__oom(e);
    snprintf(buf, n, "%s%s%s", old, *old ? sep : "", text);
    cJSON *s = cJSON_CreateString(buf);
    free(buf);
    if (!s) return tools__oom(e);
    if (c)
        cJSON_ReplaceItemInObjectCaseSensitive(msg, "content", s);
    else
        cJSON_AddItemToObject(msg, "content", s);
    return 0;
}

/* GENERIC templates know no tools: calls become fenced blocks in the assistant's text, results become user
   turns (consecutive user turns merged, as templates that alternate roles require), and the tools are described
   in the system message, or at the start of the first user turn when there is none (Gemma refuses a system
   role). */
static int tools__generic(api_spec_t *s, api_err_t *e) {
    cJSON *msgs = s->messages, *m = msgs->child;
    while (m) {
        cJSON *next = m->next;
        const char *role = cJSON_GetObjectItemCaseSensitive(m, "role")->valuestring;
        cJSON *calls = cJSON_DetachItemFromObjectCaseSensitive(m, "tool_calls");
        if (calls) {
            const cJSON *tc;
            cJSON_ArrayForEach(tc, calls) {
                const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
                cJSON *call = cJSON_CreateObject();
                cJSON_AddStringToObject(call, "name", cJSON_GetObjectItemCaseSensitive(fn, "name")->valuestring);
                cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
                cJSON_AddItemToObject(call, "arguments", args ? cJSON_Duplicate(args, true) : cJSON_CreateObject());
                char *json = cJSON_PrintUnformatted(call);
                cJSON_Delete(call);
                if (!json) {
                    cJSON_Delete(calls);
                    return tools__oom(e);
                }
                size_t n = strlen(json) + 32;
                char *block = malloc(n);
                if (block) snprintf(block, n, "```tool_call\n%s\n```", json);
                cJSON_free(json);
                int rc = block ? tools__append(m, "\n", block, e) : tools__oom(e);
                free(block);
                if (rc) {
                    cJSON_Delete(calls);
                    return rc;
                }
            }
            cJSON_Delete(calls);
        }
        if (!strcmp(role, "tool")) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(m, "tool_call_id");
            const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "content");
            size_t n = strlen(c->valuestring) + 128;
            char *buf = malloc(n);
            if (!buf) return tools__oom(e);
            snprintf(buf, n, "Result of tool call %s:\n%s", cJSON_IsString(id) ? id->valuestring : "",
                     c->valuestring);
            cJSON *fresh = cJSON_CreateObject();
            int rc = fresh && cJSON_AddStringToObject(fresh, "role", "user") ? tools__append(fresh, "", buf, e)
                                                                               : tools__oom(e);
            free(buf);
            if (rc) {
                cJSON_Delete(fresh);
                return rc;
            }
            cJSON_ReplaceItemViaPointer(msgs, m, fresh);
            m = fresh;
            /* a result after a user turn (another result) joins it */
            if (m != msgs->child && !strcmp(cJSON_GetObjectItemCaseSensitive(m->prev, "role")->valuestring, "user")) {
                rc = tools__append(m->prev, "\n\n", cJSON_GetObjectItemCaseSensitive(m, "content")->valuestring, e);
                if (rc) return rc;
                cJSON_Delete(cJSON_DetachItemViaPointer(msgs, m));
            }
        }
        m = next;
    }
    if (!s->tools_json) return 0;
    char *desc = api__tf_generic_prompt(s->tools, s->n_tools, s->tool_choice == API_TC_REQUIRED);
    if (!desc) return tools__oom(e);
    /* into the system message, or else in front of the first user turn (some templates refuse a system role) */
    cJSON *first = msgs->child, *target = NULL;
    if (first && !strcmp(cJSON_GetObjectItemCaseSensitive(first, "role")->valuestring, "system")) target = first;
    cJSON_ArrayForEach(m, msgs) {
        if (target) break;
        if (!strcmp(cJSON_GetObjectItemCaseSensitive(m, "role")->valuestring, "user")) target = m;
    }
    int rc = 0;
    if (target == first && target) {
        rc = tools__append(target, "\n\n", desc, e);
    } else if (target) { /* the description first, then what the user wrote */
        const char *old = cJSON_GetObjectItemCaseSensitive(target, "content")->valuestring;
        size_t n = strlen(desc) + strlen(old) + 3;
        char *buf = malloc(n);
        cJSON *str = buf ? (snprintf(buf, n, "%s\n\n%s", desc, old), cJSON_CreateString(buf)) : NULL;
        free(buf);
        if (!str) rc = tools__oom(e);
        else cJSON_ReplaceItemInObjectCaseSensitive(target, "content", str);
    }
    free(desc);
    return rc;
}

int api__tool_messages(api_spec_t *s, api_err_t *e) {
    const api_tf_t *tf = &s->slot->tf;
    bool mistral = tf->family == API_TF_MISTRAL || tf->family == API_TF_MISTRAL_V11;
    int i = 0;
    cJSON *m;
    cJSON_ArrayForEach(m, s->messages) {
        char param[64];
        snprintf(param, sizeof param, "messages[%d].tool_calls", i++);
        cJSON *calls = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
        int rc = calls ? tools__history_calls(calls, param, mistral, e) : 0;
        if (rc) return rc;
        cJSON *id = cJSON_GetObjectItemCaseSensitive(m, "tool_call_id");
        if (mistral && cJSON_IsString(id)) {
            char mid[10];
            tools__mistral_id(id->valuestring, mid);
            cJSON *str = cJSON_CreateString(mid);
            if (!str) return tools__oom(e);
            cJSON_ReplaceItemInObjectCaseSensitive(m, "tool_call_id", str);
        }
    }
    bool any = s->tools_json != NULL;
    cJSON_ArrayForEach(m, s->messages) {
        any |= cJSON_GetObjectItemCaseSensitive(m, "tool_calls") != NULL ||
               !strcmp(cJSON_GetObjectItemCaseSensitive(m, "role")->valuestring, "tool");
    }
    return tf->native_tools || !any ? 0 : tools__generic(s, e);
}
