/*
 * responses.c — /v1/responses: the request body -> api_spec_t, and the stored-response routes.
 *
 * POST /v1/responses fields:
 *   supported   model, input (a string, or items: message with role user/system/developer/assistant and content
 *               input_text/output_text/refusal parts; function_call and function_call_output, mapped to the chat
 *               template's tool-call messages; reasoning, accepted and not shown to the template), instructions
 *               (a system message first; not carried through previous_response_id), previous_response_id (the
 *               stored conversation first), max_output_tokens, temperature, top_p, text.format (text,
 *               json_object, json_schema: structured.c's grammar), reasoning.effort (the template's
 *               `reasoning_effort`, or Qwen3's `enable_thinking` off for none/minimal; a 400 when the template
 *               reads neither), store (default true), stream, metadata (16 pairs, keys <= 64, values <= 512
 *               characters), truncation (disabled: 400 over the context; auto: oldest messages dropped), user,
 *               safety_identifier, prompt_cache_key, service_tier, text.verbosity (medium only: low and high
 *               would change the output, a 400 as chat's verbosity), max_tool_calls (built-in tools' only),
 *               stream_options (accepted and echoed); include ["message.output_text.logprobs"] with top_logprobs
 *               (0..20 alternatives): the message's output_text parts and deltas carry the logprobs of the tokens
 *               that made their text; function tools, tool_choice (none, auto, required, a named
 *               function, allowed_tools) and parallel_tool_calls, through tools.c as on chat (resp__calls); seed,
 *               top_k, min_p (extensions, as on chat).
 *   refused     tools other than functions (web_search, file_search, ...: a 400 naming them); include values
 *               other than the logprobs (encrypted reasoning, built-in tools' data), background: true,
 *               conversation, prompt,
 *               context_management; input_image / input_file / input_audio parts; item_reference and built-in
 *               tool-call items; the other endpoints' output-changing fields (messages, response_format,
 *               max_tokens, stop, n, penalties, logit_bias, logprobs, chat_template_kwargs, ...: a 400 naming the
 *               Responses field when there is one, as OpenAI answers).
 *   ignored     any other name (clients send many), as on chat.
 * The echoed settings (the response object repeats them) are kept as a cJSON object in api_resp_t.echo.
 *
 * GET /v1/responses/{id}, DELETE /v1/responses/{id} and GET /v1/responses/{id}/input_items (limit 1..100,
 * default 20; order asc|desc, default desc; after = an item id) read the store under the request's API key;
 * an id that is not there (never stored, deleted, pruned, another key's) is OpenAI's 404.
 * Loop thread only (see api.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_int.h"
#include "err.h"
#include "jr.h"
#include "jw.h"
#include "resp_store.h"

#define R_INVALID "invalid_request_error"
#define R_OOM(e)  api_err_set(e, ERR_NOMEM, 503, "server_error", NULL, NULL, "The server is out of memory.")

void api__resp_free(api_resp_t *r) {
    if (!r) return;
    free(r->key);
    cJSON_Delete(r->echo);
    cJSON_Delete(r->input_items);
    cJSON_Delete(r->conversation);
    cJSON_Delete(r->kwargs);
    free(r->items);
    free(r);
}

static int resp__unsupported(api_err_t *e, const char *param, const char *what) {
    return api_err_set(e, ERR_UNSUPPORTED, 400, R_INVALID, "unsupported_parameter", param,
                       "Unsupported parameter: '%s' %s is not supported by this server yet.", param, what);
}

static int resp__missing(api_err_t *e, const char *param) {
    return api_err_set(e, ERR_INVAL, 400, R_INVALID, "missing_required_parameter", param,
                       "Missing required parameter: '%s'.", param);
}

/* A required string member: 0 with *out, or the 400. */
static int resp__req_string(const cJSON *o, const char *key, const char *param, const char **out, api_err_t *e) {
    bool present;
    int rc = jr_string(o, key, param, out, NULL, &present, e);
    if (rc) return rc;
    return present ? 0 : resp__missing(e, param);
}

/* ---- tools ------------------------------------------------------------------------------------------------ */

/* OpenAI's hosted tools: this server runs none of them. */
static bool resp__builtin(const char *type) {
    static const char *const builtin[] = {"file_search",
                                          "web_search",
                                          "web_search_preview",
                                          "web_search_2025_08_26",
                                          "web_search_preview_2025_03_11",
                                          "computer",
                                          "computer_use_preview",
                                          "code_interpreter",
                                          "image_generation",
                                          "mcp",
                                          "local_shell",
                                          "shell",
                                          "apply_patch",
                                          "custom",
                                          "namespace",
                                          "tool_search",
                                          "programmatic_tool_calling"};
    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++)
        if (!strcmp(type, builtin[i])) return true;
    return false;
}

/* tools: every entry's type checked; built-in tools are a 400 naming them all; function tools go to tools.c
   (resp__calls), which checks their fields as chat's. */
static int resp__tools(const cJSON *root, api_err_t *e) {
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(root, "tools");
    if (!tools || cJSON_IsNull(tools)) return 0;
    if (!cJSON_IsArray(tools)) return jr_type_error(e, "tools", "an array", tools);
    char builtins[256] = "", first_builtin[64] = "";
    size_t bl = 0;
    int i = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, tools) {
        char p[64];
        snprintf(p, sizeof p, "tools[%d]", i);
        if (!cJSON_IsObject(t)) return jr_type_error(e, p, "an object", t);
        char tp[80];
        snprintf(tp, sizeof tp, "%s.type", p);
        const char *type = NULL;
        int rc = resp__req_string(t, "type", tp, &type, e);
        if (rc) return rc;
        if (!strcmp(type, "function")) {
            /* its fields are checked with chat's tools, by tools.c (resp__calls) */
        } else if (resp__builtin(type)) {
            if (!first_builtin[0]) snprintf(first_builtin, sizeof first_builtin, "%s", p);
            if (!strstr(builtins, type) && bl + strlen(type) + 3 < sizeof builtins)
                bl += (size_t)snprintf(builtins + bl, sizeof builtins - bl, "%s%s", bl ? ", " : "", type);
        } else {
            return api_err_set(e, ERR_INVAL, 400, R_INVALID, "invalid_value", tp,
                               "Invalid value: '%.64s'. Supported values are: 'function'.", type);
        }
        i++;
    }
    if (bl)
        return api_err_set(e, ERR_UNSUPPORTED, 400, R_INVALID, "unsupported_value", first_builtin,
                           "Built-in tools are not supported by this server: %s. Only function tools can be "
                           "given here.",
                           builtins);
    return 0;
}

/* Function tools, tool_choice and parallel_tool_calls in the chat form tools.c reads (flat {type, name, ...}
   become {type: "function", function: {name, ...}}), then the same machinery as chat: the template sees the tools,
   calls follow a grammar, the output is parsed. Error params are given back in this endpoint's names. */
static int resp__calls(const api_ctx_t *c, const cJSON *root, api_spec_t *s, api_err_t *e) {
    cJSON *syn = cJSON_CreateObject(), *tools = syn ? cJSON_AddArrayToObject(syn, "tools") : NULL;
    if (!tools) {
        cJSON_Delete(syn);
        return R_OOM(e);
    }
    bool ok = true;
    const cJSON *t, *list = cJSON_GetObjectItemCaseSensitive(root, "tools");
    if (cJSON_IsArray(list)) {
        cJSON_ArrayForEach(t, list) { /* resp__tools checked them: functions only */
            cJSON *fn = cJSON_Duplicate(t, true), *entry = cJSON_CreateObject();
            ok = ok && fn && entry && cJSON_AddItemToArray(tools, entry);
            if (!ok) {
                cJSON_Delete(fn);
                if (entry && !entry->prev) cJSON_Delete(entry);
                break;
            }
            cJSON_DeleteItemFromObjectCaseSensitive(fn, "type");
            ok = cJSON_AddStringToObject(entry, "type", "function") && cJSON_AddItemToObject(entry, "function", fn);
        }
    }
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(root, "tool_choice");
    if (ok && tc && !cJSON_IsNull(tc)) {
        cJSON *choice = NULL;
        const cJSON *type = cJSON_IsObject(tc) ? cJSON_GetObjectItemCaseSensitive(tc, "type") : NULL;
        const cJSON *name = cJSON_IsObject(tc) ? cJSON_GetObjectItemCaseSensitive(tc, "name") : NULL;
        if (cJSON_IsString(type) && !strcmp(type->valuestring, "function") && cJSON_IsString(name)) {
            cJSON *fn; /* {type: "function", name} -> {type: "function", function: {name}} */
            ok = (choice = cJSON_CreateObject()) && cJSON_AddStringToObject(choice, "type", "function") &&
                 (fn = cJSON_AddObjectToObject(choice, "function")) &&
                 cJSON_AddStringToObject(fn, "name", name->valuestring);
        } else if (cJSON_IsString(type) && !strcmp(type->valuestring, "allowed_tools")) {
            cJSON *at, *arr; /* {type, mode, tools: [{type, name}]} -> {type, allowed_tools: {mode, tools: [...]}} */
            const cJSON *mode = cJSON_GetObjectItemCaseSensitive(tc, "mode");
            ok = (choice = cJSON_CreateObject()) && cJSON_AddStringToObject(choice, "type", "allowed_tools") &&
                 (at = cJSON_AddObjectToObject(choice, "allowed_tools")) &&
                 cJSON_AddItemToObject(at, "mode", mode ? cJSON_Duplicate(mode, true) : cJSON_CreateNull()) &&
                 (arr = cJSON_AddArrayToObject(at, "tools"));
            const cJSON *lt = cJSON_GetObjectItemCaseSensitive(tc, "tools");
            if (ok && cJSON_IsArray(lt)) {
                cJSON_ArrayForEach(t, lt) {
                    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(t, "name");
                    cJSON *one = cJSON_CreateObject(), *fn;
                    ok = ok && one && cJSON_AddItemToArray(arr, one) &&
                         cJSON_AddStringToObject(one, "type", "function") &&
                         (fn = cJSON_AddObjectToObject(one, "function")) &&
                         cJSON_AddItemToObject(fn, "name", nm ? cJSON_Duplicate(nm, true) : cJSON_CreateNull());
                }
            }
        } else {
            ok = (choice = cJSON_Duplicate(tc, true)) != NULL;
        }
        ok = ok && cJSON_AddItemToObject(syn, "tool_choice", choice);
    }
    const cJSON *par = cJSON_GetObjectItemCaseSensitive(root, "parallel_tool_calls");
    if (ok && par) ok = cJSON_AddItemToObject(syn, "parallel_tool_calls", cJSON_Duplicate(par, true));
    if (!ok) {
        cJSON_Delete(syn);
        return R_OOM(e);
    }
    int rc = api__tools(c, syn, s, e);
    cJSON_Delete(syn);
    if (rc && !strcmp(e->param, "response_format")) snprintf(e->param, sizeof e->param, "text.format");
    if (rc && e->param[0]) { /* tools[0].function.name -> tools[0].name; tool_choice.function.name -> ...name */
        char *f = strstr(e->param, ".function");
        if (f && (!strncmp(e->param, "tools[", 6) || !strncmp(e->param, "tool_choice", 11))) {
            char *m; /* the message names it too */
            while ((m = strstr(e->message, "].function.")) || (m = strstr(e->message, "tool_choice.function.")))
                m = strstr(m, ".function."), memmove(m, m + 9, strlen(m + 9) + 1);
            memmove(f, f + 9, strlen(f + 9) + 1);
        }
    }
    s->parse_output = true; /* output items: reasoning, message, function calls */
    return rc;
}

/* ---- input items -> chat messages -------------------------------------------------------------------------- */

/* The text of a content value (a string, or parts of the given kinds joined by "\n") into a malloc'd *out. */
static int resp__content_text(const cJSON *content, const char *param, bool assistant, char **out, api_err_t *e) {
    *out = NULL;
    if (cJSON_IsString(content)) {
        *out = strdup(content->valuestring);
        return *out ? 0 : R_OOM(e);
    }
    if (!cJSON_IsArray(content)) return jr_type_error(e, param, "a string or an array of content parts", content);
    jw_t w;
    jw_init(&w);
    int i = 0;
    const cJSON *part;
    cJSON_ArrayForEach(part, content) {
        char pp[128], tp[140], xp[140];
        snprintf(pp, sizeof pp, "%s[%d]", param, i);
        if (!cJSON_IsObject(part)) {
            jw_free(&w);
            return jr_type_error(e, pp, "an object", part);
        }
        snprintf(tp, sizeof tp, "%s.type", pp);
        const char *type = NULL;
        int rc = resp__req_string(part, "type", tp, &type, e);
        const char *field = NULL;
        if (!rc) {
            if (!strcmp(type, "input_text") || !strcmp(type, "output_text") || !strcmp(type, "text") ||
                !strcmp(type, "summary_text") || !strcmp(type, "reasoning_text"))
                field = "text";
            else if (!strcmp(type, "refusal"))
                field = "refusal";
            else if (!strcmp(type, "input_image") || !strcmp(type, "input_file") || !strcmp(type, "input_audio"))
                rc = api_err_set(e, ERR_UNSUPPORTED, 400, R_INVALID, "unsupported_value", tp,
                                 "Unsupported value: content parts of type '%s' are not supported by this server "
                                 "yet (text only).",
                                 type);
            else
                rc = api_err_set(e, ERR_INVAL, 400, R_INVALID, "invalid_value", tp,
                                 "Invalid value: '%.40s'. Supported values are: '%s' and 'refusal'.", type,
                                 assistant ? "output_text" : "input_text");
        }
        const char *text = NULL;
        size_t len = 0;
        bool present = false;
        if (!rc) {
            snprintf(xp, sizeof xp, "%s.%s", pp, field);
            rc = jr_string(part, field, xp, &text, &len, &present, e);
            if (!rc && !present) rc = resp__missing(e, xp);
        }
        if (rc) {
            jw_free(&w);
            return rc;
        }
        if (i) jw_bytes(&w, "\n", 1);
        jw_bytes(&w, text, len);
        i++;
    }
    jw_bytes(&w, "", 0);
    size_t n = 0;
    *out = jw_finish(&w, &n);
    if (!*out) *out = i ? NULL : strdup("");
    return *out ? 0 : R_OOM(e);
}

/* Appends {role, content} to msgs. */
static cJSON *resp__add_message(cJSON *msgs, const char *role, const char *content) {
    cJSON *m = cJSON_CreateObject();
    if (!m || !cJSON_AddItemToArray(msgs, m)) {
        cJSON_Delete(m);
        return NULL;
    }
    if (!cJSON_AddStringToObject(m, "role", role) || !cJSON_AddStringToObject(m, "content", content)) return NULL;
    return m;
}

/* A copy of item with `type` and an `id` (prefix + random) when missing, for .../input_items. */
static cJSON *resp__item_copy(api_ctx_t *c, const cJSON *item, const char *type, const char *prefix) {
    cJSON *d = cJSON_Duplicate(item, true);
    if (!d) return NULL;
    if (!cJSON_GetObjectItemCaseSensitive(d, "type") && !cJSON_AddStringToObject(d, "type", type)) goto oom;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(d, "id");
    if (!cJSON_IsString(id)) {
        char buf[48];
        api__make_id(c, prefix, buf, sizeof buf);
        cJSON_DeleteItemFromObjectCaseSensitive(d, "id");
        if (!cJSON_AddStringToObject(d, "id", buf)) goto oom;
    }
    return d;
oom:
    cJSON_Delete(d);
    return NULL;
}

/* A message item as input_items shows it: content as parts, status completed. */
static cJSON *resp__message_item(api_ctx_t *c, const cJSON *item, const char *role, const char *text) {
    cJSON *d = resp__item_copy(c, item, "message", "msg_");
    if (!d) return NULL;
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(d, "content");
    bool ok = true;
    if (cJSON_IsString(content)) {
        bool assistant = !strcmp(role, "assistant");
        cJSON *parts = cJSON_CreateArray(), *p = cJSON_CreateObject();
        ok = parts && p && cJSON_AddItemToArray(parts, p);
        if (!ok) cJSON_Delete(p);
        ok = ok && cJSON_AddStringToObject(p, "type", assistant ? "output_text" : "input_text") &&
             cJSON_AddStringToObject(p, "text", text);
        if (ok && assistant) ok = cJSON_AddItemToObject(p, "annotations", cJSON_CreateArray());
        ok = ok && cJSON_ReplaceItemInObjectCaseSensitive(d, "content", parts);
        if (!ok) cJSON_Delete(parts);
    }
    if (ok && !cJSON_GetObjectItemCaseSensitive(d, "status")) ok = cJSON_AddStringToObject(d, "status", "completed");
    if (!ok) {
        cJSON_Delete(d);
        return NULL;
    }
    return d;
}

/* The open assistant message that function_call items join (the last message when it is an assistant's). */
static cJSON *resp__tool_calls_of(cJSON *msgs) {
    int n = cJSON_GetArraySize(msgs);
    cJSON *last = n ? cJSON_GetArrayItem(msgs, n - 1) : NULL;
    const cJSON *role = last ? cJSON_GetObjectItemCaseSensitive(last, "role") : NULL;
    if (!last || !cJSON_IsString(role) || strcmp(role->valuestring, "assistant")) {
        last = resp__add_message(msgs, "assistant", "");
        if (!last) return NULL;
    }
    cJSON *calls = cJSON_GetObjectItemCaseSensitive(last, "tool_calls");
    if (!calls && !(calls = cJSON_AddArrayToObject(last, "tool_calls"))) return NULL;
    return calls;
}

/* One input item: appended to msgs (chat messages) and, normalised, to items. */
static int resp__item(api_ctx_t *c, const cJSON *it, int idx, cJSON *msgs, cJSON *items, api_err_t *e) {
    char p[48], tp[64], xp[96];
    snprintf(p, sizeof p, "input[%d]", idx);
    if (!cJSON_IsObject(it)) return jr_type_error(e, p, "an object", it);
    snprintf(tp, sizeof tp, "%s.type", p);
    const char *type = "message";
    bool present;
    int rc = jr_string(it, "type", tp, &type, NULL, &present, e);
    if (rc) return rc;
    if (!present) type = "message";
    cJSON *norm = NULL;
    if (!strcmp(type, "message")) {
        static const char *const roles[] = {"user", "system", "developer", "assistant"};
        const char *role = NULL;
        snprintf(xp, sizeof xp, "%s.role", p);
        if ((rc = resp__req_string(it, "role", xp, &role, e))) return rc;
        bool known = false;
        for (size_t r = 0; r < 4; r++)
            known |= !strcmp(role, roles[r]);
        if (!known)
            return api_err_set(e, ERR_INVAL, 400, R_INVALID, "invalid_value", xp,
                               "Invalid value: '%.40s'. Supported values are: 'user', 'system', 'developer' and "
                               "'assistant'.",
                               role);
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(it, "content");
        snprintf(xp, sizeof xp, "%s.content", p);
        if (!content || cJSON_IsNull(content)) return resp__missing(e, xp);
        char *text = NULL;
        if ((rc = resp__content_text(content, xp, !strcmp(role, "assistant"), &text, e))) return rc;
        bool ok = resp__add_message(msgs, !strcmp(role, "developer") ? "system" : role, text) != NULL;
        norm = ok ? resp__message_item(c, it, role, text) : NULL;
        free(text);
    } else if (!strcmp(type, "function_call")) {
        const char *call_id = NULL, *name = NULL, *args = NULL;
        snprintf(xp, sizeof xp, "%s.call_id", p);
        if ((rc = resp__req_string(it, "call_id", xp, &call_id, e))) return rc;
        snprintf(xp, sizeof xp, "%s.name", p);
        if ((rc = resp__req_string(it, "name", xp, &name, e))) return rc;
        snprintf(xp, sizeof xp, "%s.arguments", p);
        if ((rc = resp__req_string(it, "arguments", xp, &args, e))) return rc;
        cJSON *calls = resp__tool_calls_of(msgs), *tc = cJSON_CreateObject(), *fn = NULL;
        bool ok = calls && tc && cJSON_AddItemToArray(calls, tc);
        if (!ok) cJSON_Delete(tc);
        ok = ok && cJSON_AddStringToObject(tc, "id", call_id) && cJSON_AddStringToObject(tc, "type", "function") &&
             (fn = cJSON_AddObjectToObject(tc, "function")) && cJSON_AddStringToObject(fn, "name", name) &&
             cJSON_AddStringToObject(fn, "arguments", args);
        norm = ok ? resp__item_copy(c, it, type, "fc_") : NULL;
    } else if (!strcmp(type, "function_call_output")) {
        const char *call_id = NULL;
        snprintf(xp, sizeof xp, "%s.call_id", p);
        if ((rc = resp__req_string(it, "call_id", xp, &call_id, e))) return rc;
        const cJSON *out = cJSON_GetObjectItemCaseSensitive(it, "output");
        snprintf(xp, sizeof xp, "%s.output", p);
        if (!out || cJSON_IsNull(out)) return resp__missing(e, xp);
        char *text = NULL;
        if ((rc = resp__content_text(out, xp, false, &text, e))) return rc;
        cJSON *m = resp__add_message(msgs, "tool", text);
        free(text);
        bool ok = m && cJSON_AddStringToObject(m, "tool_call_id", call_id);
        norm = ok ? resp__item_copy(c, it, type, "fco_") : NULL;
    } else if (!strcmp(type, "reasoning")) {
        norm = resp__item_copy(c, it, type, "rs_"); /* kept for input_items; the template does not see it */
    } else if (!strcmp(type, "item_reference")) {
        return api_err_set(e, ERR_UNSUPPORTED, 400, R_INVALID, "unsupported_value", tp,
                           "Unsupported value: input items of type 'item_reference' are not supported by this server "
                           "yet; send the item itself, or use previous_response_id.");
    } else if (strstr(type, "_call")) { /* web_search_call, computer_call_output, mcp_call, ... */
        return api_err_set(e, ERR_UNSUPPORTED, 400, R_INVALID, "unsupported_value", tp,
                           "Unsupported value: input items of type '%.64s' belong to built-in tools, which this "
                           "server does not run.",
                           type);
    } else {
        return api_err_set(e, ERR_INVAL, 400, R_INVALID, "invalid_value", tp,
                           "Invalid value: '%.64s'. Supported values are: 'message', 'function_call', "
                           "'function_call_output' and 'reasoning'.",
                           type);
    }
    if (!norm || !cJSON_AddItemToArray(items, norm)) {
        cJSON_Delete(norm);
        return R_OOM(e);
    }
    return 0;
}

/* input -> r->conversation (appended) and r->input_items. */
static int resp__input(api_ctx_t *c, const cJSON *root, api_resp_t *r, bool have_prev, api_err_t *e) {
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(root, "input");
    if (!in || cJSON_IsNull(in)) {
        if (have_prev) return 0;
        return resp__missing(e, "input");
    }
    if (cJSON_IsString(in)) {
        cJSON *item = cJSON_CreateObject();
        int rc = 0;
        if (!item || !cJSON_AddStringToObject(item, "role", "user") ||
            !cJSON_AddStringToObject(item, "content", in->valuestring))
            rc = R_OOM(e);
        if (!rc) rc = resp__item(c, item, 0, r->conversation, r->input_items, e);
        cJSON_Delete(item);
        return rc;
    }
    if (!cJSON_IsArray(in)) return jr_type_error(e, "input", "a string or an array of items", in);
    if (cJSON_GetArraySize(in) == 0 && !have_prev)
        return api_err_set(e, ERR_INVAL, 400, R_INVALID, "empty_array", "input",
                           "Invalid 'input': empty array. Expected an array with minimum length 1, but got an empty "
                           "array instead.");
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, in) {
        int rc = resp__item(c, it, i++, r->conversation, r->input_items, e);
        if (rc) return rc;
    }
    return 0;
}

/* ---- the other fields ------------------------------------------------------------------------------------- */

/* metadata: at most 16 string pairs, keys up to 64 characters, values up to 512 (OpenAI's limits). */
static int resp__metadata(const cJSON *root, api_err_t *e) {
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(root, "metadata");
    if (!md || cJSON_IsNull(md)) return 0;
    if (!cJSON_IsObject(md)) return jr_type_error(e, "metadata", "an object", md);
    int n = cJSON_GetArraySize(md);
    if (n > 16)
        return api_err_set(e, ERR_RANGE, 400, R_INVALID, "object_above_max_properties", "metadata",
                           "Invalid 'metadata': too many properties. Expected an object with at most 16 properties, "
                           "but got an object with %d properties instead.",
                           n);
    const cJSON *it;
    cJSON_ArrayForEach(it, md) {
        char p[96];
        snprintf(p, sizeof p, "metadata.%.64s", it->string);
        if (jr_utf8_valid_len(it->string, strlen(it->string)) != strlen(it->string) || strlen(it->string) > 64)
            return api_err_set(e, ERR_RANGE, 400, R_INVALID, "string_above_max_length", "metadata",
                               "Invalid 'metadata': keys may be at most 64 characters long.");
        if (!cJSON_IsString(it)) return jr_type_error(e, p, "a string", it);
        if (strlen(it->valuestring) > 512)
            return api_err_set(e, ERR_RANGE, 400, R_INVALID, "string_above_max_length", p,
                               "Invalid '%s': string too long. Expected a string with maximum length 512.", p);
    }
    return 0;
}

/* Fields of the other generation endpoints that would change the output here: a client that sends them means
   something this endpoint does not take under that name. OpenAI answers 400 for each (naming the Responses field
   when there is one), so does this server, instead of ignoring them as it ignores unknown fields. */
static int resp__refuse_foreign(const cJSON *root, api_err_t *e) {
    static const struct {
        const char *name, *moved_to; /* moved_to NULL: no equivalent on /v1/responses */
    } foreign[] = {
        {"messages", "input"},
        {"response_format", "text.format"},
        {"max_tokens", "max_output_tokens"},
        {"max_completion_tokens", "max_output_tokens"},
        {"reasoning_effort", "reasoning.effort"},
        {"verbosity", "text.verbosity"},
        {"functions", "tools"},
        {"function_call", "tool_choice"},
        {"logprobs", "include"},
        {"n", NULL},
        {"stop", NULL},
        {"presence_penalty", NULL},
        {"frequency_penalty", NULL},
        {"repeat_penalty", NULL},
        {"logit_bias", NULL},
        {"chat_template_kwargs", NULL},
        {"echo", NULL},
        {"suffix", NULL},
        {"best_of", NULL},
        {"modalities", NULL},
        {"audio", NULL},
        {"prediction", NULL},
        {"web_search_options", NULL},
    };
    for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++) {
        if (!jr_given(root, foreign[i].name)) continue;
        if (foreign[i].moved_to)
            return api_err_set(e, ERR_UNSUPPORTED, 400, R_INVALID, "unsupported_parameter", foreign[i].name,
                               "Unsupported parameter: '%s'. In the Responses API, this parameter has moved to "
                               "'%s'. Try again with the new parameter.",
                               foreign[i].name, foreign[i].moved_to);
        return api_err_set(e, ERR_UNSUPPORTED, 400, R_INVALID, "unsupported_parameter", foreign[i].name,
                           "Unsupported parameter: '%s' is not supported with the Responses API (it would change "
                           "the output, and /v1/responses has no such parameter).",
                           foreign[i].name);
    }
    return 0;
}

/* Refusals of fields this server knows change the output and does not do. */
static int resp__refuse(const cJSON *root, api_err_t *e) {
    static const char *const refused[] = {"conversation", "prompt", "context_management"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if (jr_given(root, refused[i])) return resp__unsupported(e, refused[i], "(this feature)");
    int frc = resp__refuse_foreign(root, e);
    if (frc) return frc;
    bool bg = false, present;
    int rc = jr_bool(root, "background", NULL, &bg, &present, e);
    if (rc) return rc;
    if (bg) return resp__unsupported(e, "background", "(background responses)");
    return 0;
}

/* include: "message.output_text.logprobs" (the output text's token logprobs) is served; the other extras belong
   to features this server does not have (built-in tools, images, encrypted reasoning): a 400 naming them. */
static int resp__include(const cJSON *root, api_resp_t *r, api_err_t *e) {
    const cJSON *inc = cJSON_GetObjectItemCaseSensitive(root, "include");
    if (!inc || cJSON_IsNull(inc)) return 0;
    if (!cJSON_IsArray(inc)) return jr_type_error(e, "include", "an array", inc);
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, inc) {
        char p[32];
        snprintf(p, sizeof p, "include[%d]", i++);
        if (!cJSON_IsString(it)) return jr_type_error(e, p, "a string", it);
        if (!strcmp(it->valuestring, "message.output_text.logprobs")) {
            r->logprobs = true;
            continue;
        }
        return api_err_set(e, ERR_UNSUPPORTED, 400, R_INVALID, "unsupported_value", p,
                           "Unsupported value: '%.80s' is not supported by this server; 'include' may name "
                           "'message.output_text.logprobs' only.",
                           it->valuestring);
    }
    return 0;
}

/* Adds a copy of root[key] (or fallback: NULL = null) to echo. */
static bool resp__echo(cJSON *echo, const cJSON *root, const char *key, cJSON *fallback) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    cJSON *d = v && !cJSON_IsNull(v) ? cJSON_Duplicate(v, true) : fallback ? fallback : cJSON_CreateNull();
    if (d != fallback) cJSON_Delete(fallback);
    if (!d) return false;
    if (!cJSON_AddItemToObject(echo, key, d)) {
        cJSON_Delete(d);
        return false;
    }
    return true;
}

/* The echoed settings, in the order OpenAI's response object lists them. */
static int resp__build_echo(const cJSON *root, const api_spec_t *s, api_resp_t *r, api_err_t *e) {
    cJSON *echo = r->echo = cJSON_CreateObject();
    if (!echo) return R_OOM(e);
    bool ok = resp__echo(echo, root, "instructions", NULL) && resp__echo(echo, root, "max_output_tokens", NULL) &&
              resp__echo(echo, root, "max_tool_calls", NULL) &&
              resp__echo(echo, root, "parallel_tool_calls", cJSON_CreateTrue()) &&
              resp__echo(echo, root, "previous_response_id", NULL);
    cJSON *reasoning = cJSON_CreateObject();
    const cJSON *rq = cJSON_GetObjectItemCaseSensitive(root, "reasoning");
    ok = ok && reasoning;
    if (ok) {
        const cJSON *eff = cJSON_IsObject(rq) ? cJSON_GetObjectItemCaseSensitive(rq, "effort") : NULL;
        const cJSON *sum = cJSON_IsObject(rq) ? cJSON_GetObjectItemCaseSensitive(rq, "summary") : NULL;
        ok = cJSON_AddItemToObject(reasoning, "effort", eff ? cJSON_Duplicate(eff, true) : cJSON_CreateNull()) &&
             cJSON_AddItemToObject(reasoning, "summary", sum ? cJSON_Duplicate(sum, true) : cJSON_CreateNull());
    }
    ok = ok && cJSON_AddItemToObject(echo, "reasoning", reasoning);
    if (!ok) cJSON_Delete(reasoning), reasoning = NULL;
    ok = ok && resp__echo(echo, root, "service_tier", cJSON_CreateString("default")) &&
         cJSON_AddBoolToObject(echo, "store", r->store) && resp__echo(echo, root, "temperature", cJSON_CreateNumber(1));
    /* text: the format as given (type text by default) and the verbosity (medium by default) */
    cJSON *text = cJSON_CreateObject();
    const cJSON *tq = cJSON_GetObjectItemCaseSensitive(root, "text");
    const cJSON *fmt = cJSON_IsObject(tq) ? cJSON_GetObjectItemCaseSensitive(tq, "format") : NULL;
    const cJSON *verb = cJSON_IsObject(tq) ? cJSON_GetObjectItemCaseSensitive(tq, "verbosity") : NULL;
    ok = ok && text;
    if (ok) {
        cJSON *f = fmt && !cJSON_IsNull(fmt) ? cJSON_Duplicate(fmt, true) : cJSON_CreateObject();
        ok = f && cJSON_AddItemToObject(text, "format", f);
        if (!ok) cJSON_Delete(f);
        if (ok && (!fmt || cJSON_IsNull(fmt))) ok = cJSON_AddStringToObject(f, "type", "text") != NULL;
        ok = ok && cJSON_AddItemToObject(text, "verbosity",
                                         verb && !cJSON_IsNull(verb) ? cJSON_Duplicate(verb, true)
                                                                     : cJSON_CreateString("medium"));
    }
    ok = ok && cJSON_AddItemToObject(echo, "text", text);
    if (!ok) cJSON_Delete(text);
    ok = ok && resp__echo(echo, root, "tool_choice", cJSON_CreateString("auto")) &&
         resp__echo(echo, root, "tools", cJSON_CreateArray()) &&
         resp__echo(echo, root, "top_logprobs", cJSON_CreateNumber(0)) &&
         resp__echo(echo, root, "top_p", cJSON_CreateNumber(1)) &&
         resp__echo(echo, root, "truncation", cJSON_CreateString("disabled")) && resp__echo(echo, root, "user", NULL) &&
         resp__echo(echo, root, "metadata", cJSON_CreateObject()) &&
         resp__echo(echo, root, "safety_identifier", NULL) && resp__echo(echo, root, "prompt_cache_key", NULL) &&
         cJSON_AddBoolToObject(echo, "background", false);
    return ok ? 0 : R_OOM(e);
}

/* The conversation previous_response_id names, prepended to r->conversation. */
static int resp__previous(api_ctx_t *c, const char *prev, api_resp_t *r, api_err_t *e) {
    char *conv = NULL, msg[256] = "";
    int rc = c->store ? resp_store_get(c->store, r->key, prev, NULL, NULL, &conv, msg, sizeof msg) : ERR_NOTFOUND;
    if (rc == ERR_NOTFOUND)
        return api_err_set(e, rc, 400, R_INVALID, "previous_response_not_found", "previous_response_id",
                           "Previous response with id '%.100s' not found.%s", prev,
                           c->store ? "" : " This server stores no responses (responses_store: none).");
    if (rc) return api_err_set(e, rc, 500, "server_error", NULL, NULL, "The responses store failed: %s", msg);
    cJSON *old = cJSON_Parse(conv);
    free(conv);
    if (!cJSON_IsArray(old)) {
        cJSON_Delete(old);
        return api_err_set(e, ERR_FORMAT, 500, "server_error", NULL, NULL, "The stored response '%.100s' is damaged.",
                           prev);
    }
    cJSON *m = r->conversation->child; /* move this input's messages after the old ones */
    r->conversation->child = NULL;
    while (m) {
        cJSON *next = m->next;
        m->prev = m->next = NULL;
        cJSON_AddItemToArray(old, m);
        m = next;
    }
    cJSON_Delete(r->conversation);
    r->conversation = old;
    return 0;
}

int api__resp_parse(api_ctx_t *c, const cJSON *root, const char *key, api_spec_t *s, api_err_t *e) {
    memset(s, 0, sizeof *s);
    s->kind = API_RESP;
    s->sp = sampler_default_params();
    s->sp.penalty_last_n = 0;
    s->n = 1;
    if (!cJSON_IsObject(root)) return jr_type_error(e, "body", "an object", root);
    api_resp_t *r = s->resp = calloc(1, sizeof *r);
    if (!r || (key && !(r->key = strdup(key))) || !(r->input_items = cJSON_CreateArray()) ||
        !(r->conversation = cJSON_CreateArray()))
        return R_OOM(e);
    bool present;
    int rc = resp__req_string(root, "model", "model", &s->model, e);
    if (rc) return rc;
    if (!(s->slot = api__find(c, s->model)))
        return api_err_set(e, ERR_NOTFOUND, 404, R_INVALID, "model_not_found", NULL,
                           "The model `%.200s` does not exist or you do not have access to it.", s->model);
    if (!s->slot->attached)
        return api_err_set(e, ERR_STATE, 503, "server_error", NULL, NULL,
                           "The model `%.200s` is still loading; retry shortly.", s->model);
    if ((rc = resp__refuse(root, e)) || (rc = resp__tools(root, e)) || (rc = resp__metadata(root, e))) return rc;
    double d;
    int64_t v;
    if ((rc = jr_number(root, "temperature", NULL, 0, 2, &d, &present, e))) return rc;
    if (present) s->sp.temperature = (float)d;
    if ((rc = jr_number(root, "top_p", NULL, 0, 1, &d, &present, e))) return rc;
    if (present) s->sp.top_p = d > 0 ? (float)d : 1e-6f;
    if ((rc = jr_int(root, "top_k", NULL, 0, INT32_MAX, &v, &present, e))) return rc;
    if (present) s->sp.top_k = (int32_t)v;
    if ((rc = jr_number(root, "min_p", NULL, 0, 1, &d, &present, e))) return rc;
    if (present) s->sp.min_p = (float)d;
    if ((rc = jr_int(root, "seed", NULL, INT64_MIN, INT64_MAX, &v, &present, e))) return rc;
    if (present) s->sp.seed = (uint64_t)v, s->seed_given = true;
    if ((rc = jr_int(root, "max_output_tokens", NULL, 1, INT32_MAX, &v, &present, e))) return rc;
    if (present) s->max_tokens = v, s->max_param = "max_output_tokens";
    if ((rc = resp__include(root, r, e))) return rc;
    if ((rc = jr_int(root, "top_logprobs", NULL, 0, ENGINE_MAX_TOP_LOGPROBS, &v, &present, e))) return rc;
    if (r->logprobs) { /* the engine reports each token's logprob and top_logprobs alternatives */
        s->logprobs = true;
        s->top_logprobs = present ? (int32_t)v : 0;
    }
    if ((rc = jr_int(root, "max_tool_calls", NULL, 1, INT32_MAX, &v, &present, e))) return rc;
    bool b;
    if ((rc = jr_bool(root, "parallel_tool_calls", NULL, &b, &present, e))) return rc;
    if ((rc = jr_bool(root, "stream", NULL, &s->stream, &present, e))) return rc;
    r->store = true; /* OpenAI's default */
    if ((rc = jr_bool(root, "store", NULL, &r->store, &present, e))) return rc;
    if (r->store && !c->store)
        return api_err_set(e, ERR_UNSUPPORTED, 400, R_INVALID, "unsupported_value", "store",
                           "This server stores no responses (responses_store: none): send \"store\": false.");
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    if (so && !cJSON_IsNull(so) && !cJSON_IsObject(so)) return jr_type_error(e, "stream_options", "an object", so);
    static const char *const strings[] = {"user",         "safety_identifier", "prompt_cache_key",
                                          "service_tier", "instructions",      "previous_response_id"};
    const char *str[6] = {0};
    for (size_t i = 0; i < 6; i++)
        if ((rc = jr_string(root, strings[i], NULL, &str[i], NULL, &present, e))) return rc;
    const char *trunc = NULL;
    if ((rc = jr_string(root, "truncation", NULL, &trunc, NULL, &present, e))) return rc;
    if (trunc && strcmp(trunc, "auto") && strcmp(trunc, "disabled"))
        return api_err_set(e, ERR_INVAL, 400, R_INVALID, "invalid_value", "truncation",
                           "Invalid value: '%.40s'. Supported values are: 'auto' and 'disabled'.", trunc);
    r->trunc_auto = trunc && !strcmp(trunc, "auto");
    /* text: {format, verbosity} */
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(root, "text");
    if (text && !cJSON_IsNull(text)) {
        if (!cJSON_IsObject(text)) return jr_type_error(e, "text", "an object", text);
        const char *verb = NULL;
        if ((rc = jr_string(text, "verbosity", "text.verbosity", &verb, NULL, &present, e))) return rc;
        if (verb && strcmp(verb, "low") && strcmp(verb, "medium") && strcmp(verb, "high"))
            return api_err_set(e, ERR_INVAL, 400, R_INVALID, "invalid_value", "text.verbosity",
                               "Invalid value: '%.40s'. Supported values are: 'low', 'medium' and 'high'.", verb);
        if (verb && strcmp(verb, "medium")) /* it would change the output, which no template here can be asked */
            return api_err_set(e, ERR_UNSUPPORTED, 400, R_INVALID, "unsupported_value", "text.verbosity",
                               "Unsupported value: 'text.verbosity' '%s' is not supported by this server; only "
                               "'medium' (the default).",
                               verb);
        if ((rc = api__format_grammar(cJSON_GetObjectItemCaseSensitive(text, "format"), "text.format", true, s, e)))
            return rc;
    }
    /* reasoning: {effort, summary}; the effort reaches templates that read `reasoning_effort` */
    const cJSON *rq = cJSON_GetObjectItemCaseSensitive(root, "reasoning");
    if (rq && !cJSON_IsNull(rq)) {
        if (!cJSON_IsObject(rq)) return jr_type_error(e, "reasoning", "an object", rq);
        const char *effort = NULL, *summary = NULL;
        if ((rc = jr_string(rq, "effort", "reasoning.effort", &effort, NULL, &present, e))) return rc;
        if ((rc = jr_string(rq, "summary", "reasoning.summary", &summary, NULL, &present, e))) return rc;
        static const char *const efforts[] = {"none", "minimal", "low", "medium", "high", "xhigh", "max"};
        bool known = !effort;
        for (size_t i = 0; effort && i < sizeof efforts / sizeof efforts[0]; i++)
            known |= !strcmp(effort, efforts[i]);
        if (!known)
            return api_err_set(e, ERR_INVAL, 400, R_INVALID, "invalid_value", "reasoning.effort",
                               "Invalid value: '%.40s'. Supported values are: 'none', 'minimal', 'low', 'medium', "
                               "'high', 'xhigh' and 'max'.",
                               effort);
        if (effort) {
            /* the template's own switch: reasoning_effort (gpt-oss's harmony knows low, medium and high: none and
               minimal ask for the least it has, xhigh and max for the most), else Qwen3-style enable_thinking (off
               for none and minimal); a template that reads neither cannot act on it: a 400, as on chat and as
               OpenAI answers for a model that does not reason */
            bool off = !strcmp(effort, "none") || !strcmp(effort, "minimal");
            const api_slot_t *m = s->slot;
            if (!m->tmpl_has_effort && !m->tmpl_has_thinking_switch)
                return api_err_set(e, ERR_UNSUPPORTED, 400, R_INVALID, "unsupported_parameter", "reasoning.effort",
                                   "Unsupported parameter: 'reasoning.effort' is not supported with this model.");
            if (!(r->kwargs = cJSON_CreateObject())) return R_OOM(e);
            const char *level = off ? "low" : !strcmp(effort, "xhigh") || !strcmp(effort, "max") ? "high" : effort;
            if (m->tmpl_has_thinking_switch && !m->tmpl_has_effort) {
                if (!cJSON_AddBoolToObject(r->kwargs, "enable_thinking", !off)) return R_OOM(e);
            } else if (!cJSON_AddStringToObject(r->kwargs, "reasoning_effort", level)) {
                return R_OOM(e);
            }
            s->tmpl_kwargs = r->kwargs;
        }
    }
    const char *prev = str[5];
    if ((rc = resp__input(c, root, r, prev != NULL, e))) return rc;
    if (prev && (rc = resp__previous(c, prev, r, e))) return rc;
    if (cJSON_GetArraySize(r->conversation) == 0 && !str[4]) return resp__missing(e, "input");
    /* what the template sees: instructions first, then the conversation */
    if (!(s->messages = cJSON_CreateArray())) return R_OOM(e);
    if (str[4] && !resp__add_message(s->messages, "system", str[4])) return R_OOM(e);
    const cJSON *m;
    cJSON_ArrayForEach(m, r->conversation) {
        cJSON *dup = cJSON_Duplicate(m, true);
        if (!dup || !cJSON_AddItemToArray(s->messages, dup)) {
            cJSON_Delete(dup);
            return R_OOM(e);
        }
    }
    api__make_id(c, "msg_", r->msg_id, sizeof r->msg_id);
    api__make_id(c, "rs_", r->rs_id, sizeof r->rs_id);
    if ((rc = resp__calls(c, root, s, e))) return rc;
    return resp__build_echo(root, s, r, e);
}

bool api__resp_truncate(api_spec_t *s) {
    cJSON *m = s->messages ? s->messages->child : NULL;
    while (m) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (!cJSON_IsString(role) || strcmp(role->valuestring, "system")) break;
        m = m->next;
    }
    if (!m || !m->next) return false; /* the last message stays: it is what the model answers */
    cJSON_Delete(cJSON_DetachItemViaPointer(s->messages, m));
    for (size_t i = 0; i < s->n_prompts; i++)
        free(s->prompts[i].ids), free(s->prompts[i].text);
    free(s->prompts);
    s->prompts = NULL;
    s->n_prompts = 0;
    return true;
}

/* ---- stored responses ------------------------------------------------------------------------------------- */

static void resp__not_found(api_sink_t *sink, const char *id) {
    char shown[128];
    snprintf(shown, sizeof shown, "%.100s", id);
    jr_utf8_sanitize(shown);
    api_err_t e;
    api_err_set(&e, ERR_NOTFOUND, 404, R_INVALID, NULL, "response_id", "Response with id '%s' not found.", shown);
    api__send_error(sink, &e);
}

static void resp__store_error(api_sink_t *sink, const char *msg) {
    api_err_t e;
    api_err_set(&e, ERR_IO, 500, "server_error", NULL, NULL, "The responses store failed: %s", msg);
    api__send_error(sink, &e);
}

/* The value of name in a query string "a=1&b=2" (decoded into out), or NULL when absent. */
static const char *resp__query(const char *q, const char *name, char *out, size_t cap) {
    size_t nl = strlen(name);
    for (const char *p = q; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > nl && !strncmp(p, name, nl) && p[nl] == '=') {
            char raw[256];
            snprintf(raw, sizeof raw, "%.*s", (int)(len - nl - 1 < 255 ? len - nl - 1 : 255), p + nl + 1);
            if (!api__unescape(raw, out, cap)) return NULL;
            return out;
        }
        p = amp ? amp + 1 : NULL;
    }
    return NULL;
}

/* GET .../input_items: {"object":"list","data","first_id","last_id","has_more"} of the stored items. */
static void resp__input_items(const char *items_json, const char *query, api_sink_t *sink) {
    char buf[256];
    long limit = 20;
    bool asc = false;
    const char *v;
    api_err_t e;
    if ((v = resp__query(query, "limit", buf, sizeof buf))) {
        char *end = NULL;
        limit = strtol(v, &end, 10);
        if (!*v || *end || limit < 1 || limit > 100) {
            api_err_set(&e, ERR_RANGE, 400, R_INVALID, "invalid_value", "limit",
                        "Invalid 'limit': expected an integer from 1 to 100.");
            api__send_error(sink, &e);
            return;
        }
    }
    if ((v = resp__query(query, "order", buf, sizeof buf))) {
        if (strcmp(v, "asc") && strcmp(v, "desc")) {
            api_err_set(&e, ERR_INVAL, 400, R_INVALID, "invalid_value", "order",
                        "Invalid 'order': expected 'asc' or 'desc'.");
            api__send_error(sink, &e);
            return;
        }
        asc = !strcmp(v, "asc");
    }
    char after[256];
    const char *aft = resp__query(query, "after", after, sizeof after);
    cJSON *items = cJSON_Parse(items_json);
    int n = cJSON_GetArraySize(items);
    cJSON **list = n > 0 ? calloc((size_t)n, sizeof *list) : NULL;
    if (!cJSON_IsArray(items) || (n > 0 && !list)) {
        cJSON_Delete(items);
        free(list);
        resp__store_error(sink, "a stored response's input items are unreadable");
        return;
    }
    int k = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, items) list[asc ? k : n - 1 - k] = it, k++;
    int start = 0;
    if (aft) {
        start = -1;
        for (int i = 0; i < n && start < 0; i++) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(list[i], "id");
            if (cJSON_IsString(id) && !strcmp(id->valuestring, aft)) start = i + 1;
        }
        if (start < 0) {
            jr_utf8_sanitize(after);
            api_err_set(&e, ERR_NOTFOUND, 404, R_INVALID, NULL, "after", "Item with id '%.100s' not found.", after);
            api__send_error(sink, &e);
            cJSON_Delete(items);
            free(list);
            return;
        }
    }
    int end = start + (int)limit < n ? start + (int)limit : n;
    jw_t w;
    jw_init(&w);
    jw_obj(&w);
    jw_key(&w, "object");
    jw_str(&w, "list");
    jw_key(&w, "data");
    jw_arr(&w);
    for (int i = start; i < end; i++) {
        char *s = cJSON_PrintUnformatted(list[i]);
        if (!s) w.oom = true;
        if (s) jw_raw(&w, s, strlen(s));
        cJSON_free(s);
    }
    jw_end(&w);
    const cJSON *fid = end > start ? cJSON_GetObjectItemCaseSensitive(list[start], "id") : NULL;
    const cJSON *lid = end > start ? cJSON_GetObjectItemCaseSensitive(list[end - 1], "id") : NULL;
    jw_key(&w, "first_id");
    jw_str(&w, cJSON_IsString(fid) ? fid->valuestring : NULL);
    jw_key(&w, "last_id");
    jw_str(&w, cJSON_IsString(lid) ? lid->valuestring : NULL);
    jw_key(&w, "has_more");
    jw_bool(&w, end < n);
    jw_end(&w);
    cJSON_Delete(items);
    free(list);
    size_t len = 0;
    char *body = jw_finish(&w, &len);
    api__respond_json(sink, 200, body, len);
}

void api__resp_get(api_ctx_t *c, const char *method, const char *rest, const char *query, const char *key,
                   api_sink_t *sink) {
    char id[256];
    const char *slash = strchr(rest, '/');
    bool items = slash && !strcmp(slash, "/input_items");
    char raw[256];
    snprintf(raw, sizeof raw, "%.*s", (int)(slash ? (size_t)(slash - rest) < 255 ? slash - rest : 255 : 255), rest);
    if (!api__unescape(raw, id, sizeof id)) id[0] = '\0';
    if (!c->store) {
        resp__not_found(sink, id);
        return;
    }
    char msg[256] = "";
    if (!strcmp(method, "DELETE")) {
        int rc = resp_store_delete(c->store, key, id, msg, sizeof msg);
        if (rc == ERR_NOTFOUND) {
            resp__not_found(sink, id);
        } else if (rc) {
            resp__store_error(sink, msg);
        } else {
            jw_t w;
            jw_init(&w);
            jw_obj(&w);
            jw_key(&w, "id");
            jw_str(&w, id);
            jw_key(&w, "object");
            jw_str(&w, "response");
            jw_key(&w, "deleted");
            jw_bool(&w, true);
            jw_end(&w);
            size_t n = 0;
            char *body = jw_finish(&w, &n);
            api__respond_json(sink, 200, body, n);
        }
        return;
    }
    char *resp = NULL, *input = NULL;
    int rc = resp_store_get(c->store, key, id, items ? NULL : &resp, items ? &input : NULL, NULL, msg, sizeof msg);
    if (rc == ERR_NOTFOUND) {
        resp__not_found(sink, id);
    } else if (rc) {
        resp__store_error(sink, msg);
    } else if (items) {
        resp__input_items(input, query, sink);
    } else {
        sink->respond(sink, 200, NULL, 0, resp, strlen(resp));
    }
    free(resp);
    free(input);
}
