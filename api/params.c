/*
 * params.c — the fields of /v1/chat/completions and /v1/completions: each one's type, range and support.
 *
 * Three kinds of fields:
 *   supported   model, messages / prompt, max_tokens, max_completion_tokens, temperature, top_p, n, stop, seed,
 *               presence_penalty, frequency_penalty, logit_bias, logprobs, top_logprobs, stream,
 *               stream_options.include_usage, response_format (structured.c; legacy too, an extension), echo
 *               (legacy; with logprobs the prompt's tokens are scored too, and max_tokens 0 only scores them),
 *               best_of == n (legacy); extensions top_k, min_p, chat_template_kwargs.
 *               Chat also: tools, tool_choice, parallel_tool_calls, functions, function_call, reasoning_effort
 *               (tools.c).
 *   ignored     fields that do not change the output: user, store, metadata, service_tier, prompt_cache_key,
 *               safety_identifier, and any name this server does not know.
 *   refused     fields that would change the output and are not supported (audio, modalities other than text,
 *               prediction, verbosity, web_search_options, suffix, image/audio/file content parts; the tool fields
 *               on legacy completions): 400 invalid_request_error, code unsupported_parameter / unsupported_value.
 * Every error names its `param`, with paths such as messages[2].content[0].type.
 * Loop thread only (see api.h); nothing here touches the engine.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "err.h"
#include "jr.h"

#define P_INVALID "invalid_request_error"

static int params__unsupported(api_err_t *e, const char *param, const char *what) {
    return api_err_set(e, ERR_UNSUPPORTED, 400, P_INVALID, "unsupported_parameter", param,
                       "Unsupported parameter: '%s' %s is not supported by this server yet.", param, what);
}

/* Fields refused whenever they are given (non-null). */
static int params__refuse(const cJSON *root, api_kind_t kind, api_err_t *e) {
    static const char *const chat_refused[] = {"audio", "prediction", "verbosity", "web_search_options"};
    bool present;
    if (kind == API_CHAT) {
        for (size_t i = 0; i < sizeof chat_refused / sizeof chat_refused[0]; i++)
            if (jr_given(root, chat_refused[i])) return params__unsupported(e, chat_refused[i], "(this feature)");
        const cJSON *mod = cJSON_GetObjectItemCaseSensitive(root, "modalities");
        if (mod && !cJSON_IsNull(mod)) {
            if (!cJSON_IsArray(mod)) return jr_type_error(e, "modalities", "an array", mod);
            const cJSON *m;
            cJSON_ArrayForEach(m, mod) {
                if (!cJSON_IsString(m) || strcmp(m->valuestring, "text"))
                    return api_err_set(e, ERR_UNSUPPORTED, 400, P_INVALID, "unsupported_value", "modalities",
                                       "Unsupported value: only the 'text' modality is supported by this server.");
            }
        }
    } else {
        static const char *const text_refused[] = {"tools", "tool_choice", "functions", "function_call",
                                                   "reasoning_effort"};
        for (size_t i = 0; i < sizeof text_refused / sizeof text_refused[0]; i++)
            if (jr_given(root, text_refused[i]))
                return api_err_set(e, ERR_INVAL, 400, P_INVALID, "unsupported_parameter", text_refused[i],
                                   "Unsupported parameter: '%s' is a chat completions parameter; use "
                                   "/v1/chat/completions.",
                                   text_refused[i]);
        const char *suffix = NULL;
        size_t n = 0;
        int rc = jr_string(root, "suffix", NULL, &suffix, &n, &present, e);
        if (rc) return rc;
        if (present && n > 0) return params__unsupported(e, "suffix", "(insertion)");
    }
    return 0;
}

/* stop: a string or an array of up to 4 strings (empty strings are ignored, as they match nothing useful). */
static int params__stop(const cJSON *root, api_spec_t *s, api_err_t *e) {
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(root, "stop");
    if (!st || cJSON_IsNull(st)) return 0;
    const cJSON *one[1] = {st};
    const cJSON *const *items = one;
    int n = 1;
    const cJSON *arr[API_STOP_MAX];
    if (cJSON_IsArray(st)) {
        n = cJSON_GetArraySize(st);
        if (n > API_STOP_MAX)
            return api_err_set(e, ERR_RANGE, 400, P_INVALID, "array_above_max_length", "stop",
                               "Invalid 'stop': array too long. Expected an array with maximum length %d, but got "
                               "an array with length %d instead.",
                               API_STOP_MAX, n);
        int i = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, st) arr[i++] = it;
        items = arr;
    } else if (!cJSON_IsString(st)) {
        return jr_type_error(e, "stop", "a string or an array of strings", st);
    }
    for (int i = 0; i < n; i++) {
        char param[32];
        if (cJSON_IsArray(st))
            snprintf(param, sizeof param, "stop[%d]", i);
        else
            snprintf(param, sizeof param, "stop");
        if (!cJSON_IsString(items[i])) return jr_type_error(e, param, "a string", items[i]);
        size_t len = strlen(items[i]->valuestring);
        if (len > API_MAX_STOP_BYTES)
            return api_err_set(e, ERR_RANGE, 400, P_INVALID, "string_above_max_length", param,
                               "Invalid '%s': stop sequences longer than %d bytes are not supported.", param,
                               API_MAX_STOP_BYTES);
        if (len == 0) continue;
        if (api_stop_add(&s->stop, items[i]->valuestring, len))
            return api_err_set(e, ERR_NOMEM, 503, "server_error", NULL, NULL, "The server is out of memory.");
    }
    return 0;
}

/* logit_bias: {"token id": bias -100..100, ...}. */
static int params__logit_bias(const cJSON *root, api_spec_t *s, api_err_t *e) {
    const cJSON *lb = cJSON_GetObjectItemCaseSensitive(root, "logit_bias");
    if (!lb || cJSON_IsNull(lb)) return 0;
    if (!cJSON_IsObject(lb)) return jr_type_error(e, "logit_bias", "an object", lb);
    int n = cJSON_GetArraySize(lb);
    if (n == 0) return 0;
    if (n > 1024)
        return api_err_set(e, ERR_RANGE, 400, P_INVALID, "invalid_value", "logit_bias",
                           "Invalid 'logit_bias': at most 1024 tokens may be biased, got %d.", n);
    s->bias = calloc((size_t)n, sizeof *s->bias);
    if (!s->bias) return api_err_set(e, ERR_NOMEM, 503, "server_error", NULL, NULL, "The server is out of memory.");
    int32_t n_vocab = tok_n_vocab(s->slot->tok);
    const cJSON *it;
    cJSON_ArrayForEach(it, lb) {
        const char *k = it->string ? it->string : "";
        char *end = NULL;
        errno = 0;
        long long id = strtoll(k, &end, 10);
        char param[64];
        snprintf(param, sizeof param, "logit_bias.%.40s", k);
        if (!*k || *end || errno || id < 0 || id >= n_vocab)
            return api_err_set(e, ERR_RANGE, 400, P_INVALID, "invalid_value", "logit_bias",
                               "Invalid key in 'logit_bias': '%.40s' is not a token id of this model (0 to %d).", k,
                               n_vocab - 1);
        if (!cJSON_IsNumber(it)) return jr_type_error(e, param, "a number", it);
        if (it->valuedouble < -100 || it->valuedouble > 100)
            return api_err_set(e, ERR_RANGE, 400, P_INVALID, "invalid_value", param,
                               "Invalid '%s': bias values must be between -100 and 100, got %g.", param,
                               it->valuedouble);
        s->bias[s->sp.n_logit_bias].id = (int32_t)id;
        s->bias[s->sp.n_logit_bias].bias = (float)it->valuedouble;
        s->sp.n_logit_bias++;
    }
    s->sp.logit_bias = s->bias;
    return 0;
}

/* The text of a message's content: a string, or an array of text parts joined with "\n" (as llama.cpp). */
static int params__content(const cJSON *content, int idx, bool null_ok, char **out, api_err_t *e) {
    char param[96];
    snprintf(param, sizeof param, "messages[%d].content", idx);
    *out = NULL;
    if (!content || cJSON_IsNull(content)) {
        if (null_ok) return 0;
        return api_err_set(e, ERR_INVAL, 400, P_INVALID, "missing_required_parameter", param,
                           "Missing required parameter: '%s'.", param);
    }
    if (cJSON_IsString(content)) {
        *out = strdup(content->valuestring);
        return *out ? 0 : api_err_set(e, ERR_NOMEM, 503, "server_error", NULL, NULL, "Out of memory.");
    }
    if (!cJSON_IsArray(content)) return jr_type_error(e, param, "a string or an array of content parts", content);
    size_t total = 0;
    int i = 0;
    const cJSON *part;
    cJSON_ArrayForEach(part, content) {
        char pp[128];
        snprintf(pp, sizeof pp, "%s[%d]", param, i);
        if (!cJSON_IsObject(part)) return jr_type_error(e, pp, "an object", part);
        char tp[140];
        snprintf(tp, sizeof tp, "%s.type", pp);
        const char *type = NULL;
        bool present;
        int rc = jr_string(part, "type", tp, &type, NULL, &present, e);
        if (rc) return rc;
        if (!present)
            return api_err_set(e, ERR_INVAL, 400, P_INVALID, "missing_required_parameter", tp,
                               "Missing required parameter: '%s'.", tp);
        if (strcmp(type, "text") && strcmp(type, "refusal")) {
            if (!strcmp(type, "image_url") || !strcmp(type, "input_audio") || !strcmp(type, "file"))
                return api_err_set(e, ERR_UNSUPPORTED, 400, P_INVALID, "unsupported_value", tp,
                                   "Unsupported value: content parts of type '%s' are not supported by this "
                                   "server yet (text only).",
                                   type);
            return api_err_set(e, ERR_INVAL, 400, P_INVALID, "invalid_value", tp,
                               "Invalid value: '%.40s'. Supported values are: 'text'.", type);
        }
        char xp[140];
        snprintf(xp, sizeof xp, "%s.%s", pp, type);
        const char *text = NULL;
        size_t len = 0;
        rc = jr_string(part, type, xp, &text, &len, &present, e);
        if (rc) return rc;
        if (!present)
            return api_err_set(e, ERR_INVAL, 400, P_INVALID, "missing_required_parameter", xp,
                               "Missing required parameter: '%s'.", xp);
        total += len + 1;
        i++;
    }
    char *buf = malloc(total + 1);
    if (!buf) return api_err_set(e, ERR_NOMEM, 503, "server_error", NULL, NULL, "Out of memory.");
    size_t k = 0;
    cJSON_ArrayForEach(part, content) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!t) t = cJSON_GetObjectItemCaseSensitive(part, "refusal");
        size_t len = strlen(t->valuestring);
        if (k) buf[k++] = '\n';
        memcpy(buf + k, t->valuestring, len);
        k += len;
    }
    buf[k] = '\0';
    *out = buf;
    return 0;
}

/* Validates messages and builds the normalised array the template sees:
   [{role, content: string, name?, tool_call_id?, tool_calls?}], with "developer" as "system". */
static int params__messages(const cJSON *root, api_spec_t *s, api_err_t *e) {
    static const char *const roles[] = {"system", "developer", "user", "assistant", "tool", "function"};
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (!msgs || cJSON_IsNull(msgs))
        return api_err_set(e, ERR_INVAL, 400, P_INVALID, "missing_required_parameter", "messages",
                           "Missing required parameter: 'messages'.");
    if (!cJSON_IsArray(msgs)) return jr_type_error(e, "messages", "an array", msgs);
    if (cJSON_GetArraySize(msgs) == 0)
        return api_err_set(e, ERR_INVAL, 400, P_INVALID, "empty_array", "messages",
                           "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an "
                           "empty array instead.");
    s->messages = cJSON_CreateArray();
    if (!s->messages) return api_err_set(e, ERR_NOMEM, 503, "server_error", NULL, NULL, "Out of memory.");
    int i = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs) {
        char param[64];
        snprintf(param, sizeof param, "messages[%d]", i);
        if (!cJSON_IsObject(m)) return jr_type_error(e, param, "an object", m);
        char rp[80];
        snprintf(rp, sizeof rp, "%s.role", param);
        const char *role = NULL;
        bool present;
        int rc = jr_string(m, "role", rp, &role, NULL, &present, e);
        if (rc) return rc;
        if (!present)
            return api_err_set(e, ERR_INVAL, 400, P_INVALID, "missing_required_parameter", rp,
                               "Missing required parameter: '%s'.", rp);
        bool known = false;
        for (size_t r = 0; r < sizeof roles / sizeof roles[0]; r++)
            known |= !strcmp(role, roles[r]);
        if (!known)
            return api_err_set(e, ERR_INVAL, 400, P_INVALID, "invalid_value", rp,
                               "Invalid value: '%.40s'. Supported values are: 'system', 'developer', 'user', "
                               "'assistant', and 'tool'.",
                               role);
        bool assistant = !strcmp(role, "assistant");
        const cJSON *tool_calls = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
        char *content = NULL;
        rc = params__content(cJSON_GetObjectItemCaseSensitive(m, "content"), i, assistant, &content, e);
        if (rc) return rc;
        cJSON *nm = cJSON_CreateObject();
        if (!nm || !cJSON_AddItemToArray(s->messages, nm)) {
            cJSON_Delete(nm);
            free(content);
            return api_err_set(e, ERR_NOMEM, 503, "server_error", NULL, NULL, "Out of memory.");
        }
        bool ok = cJSON_AddStringToObject(nm, "role", !strcmp(role, "developer") ? "system" : role) != NULL;
        ok = ok && cJSON_AddStringToObject(nm, "content", content ? content : "") != NULL;
        free(content);
        static const char *const extra_str[] = {"name", "tool_call_id", "reasoning_content"};
        for (size_t k = 0; k < 3 && ok; k++) {
            char xp[96];
            snprintf(xp, sizeof xp, "%s.%s", param, extra_str[k]);
            const char *v = NULL;
            rc = jr_string(m, extra_str[k], xp, &v, NULL, &present, e);
            if (rc) return rc;
            if (present) ok = cJSON_AddStringToObject(nm, extra_str[k], v) != NULL;
        }
        if (ok && !strcmp(role, "tool") && !jr_given(m, "tool_call_id"))
            return api_err_set(e, ERR_INVAL, 400, P_INVALID, "missing_required_parameter", param,
                               "Missing required parameter: '%s.tool_call_id'.", param);
        if (ok && tool_calls && !cJSON_IsNull(tool_calls)) {
            char xp[96];
            snprintf(xp, sizeof xp, "%s.tool_calls", param);
            if (!cJSON_IsArray(tool_calls)) return jr_type_error(e, xp, "an array", tool_calls);
            cJSON *dup = cJSON_Duplicate(tool_calls, true);
            ok = dup && cJSON_AddItemToObject(nm, "tool_calls", dup);
            if (!ok) cJSON_Delete(dup);
        }
        if (!ok) return api_err_set(e, ERR_NOMEM, 503, "server_error", NULL, NULL, "Out of memory.");
        i++;
    }
    return 0;
}

/* prompt (legacy): a string, an array of strings, an array of token ids, or an array of such arrays. */
static int params__prompt(const cJSON *root, api_spec_t *s, api_err_t *e) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "prompt");
    if (!p || cJSON_IsNull(p))
        return api_err_set(e, ERR_INVAL, 400, P_INVALID, "missing_required_parameter", "prompt",
                           "Missing required parameter: 'prompt'.");
    const char *expect = "a string, an array of strings, an array of token ids, or an array of token id arrays";
    if (cJSON_IsString(p)) {
        s->prompt = p;
        return 0;
    }
    if (!cJSON_IsArray(p) || cJSON_GetArraySize(p) == 0) {
        if (cJSON_IsArray(p))
            return api_err_set(e, ERR_INVAL, 400, P_INVALID, "empty_array", "prompt",
                               "Invalid 'prompt': empty array. Expected an array with minimum length 1.");
        return jr_type_error(e, "prompt", expect, p);
    }
    int32_t n_vocab = tok_n_vocab(s->slot->tok);
    const cJSON *first = p->child;
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, p) {
        char param[32];
        snprintf(param, sizeof param, "prompt[%d]", i++);
        if (cJSON_IsString(first) || cJSON_IsArray(first)) {
            if (cJSON_IsString(first) ? !cJSON_IsString(it) : !cJSON_IsArray(it))
                return jr_type_error(e, param, cJSON_IsString(first) ? "a string" : "an array of token ids", it);
            if (cJSON_IsArray(it)) {
                if (cJSON_GetArraySize(it) == 0)
                    return api_err_set(e, ERR_INVAL, 400, P_INVALID, "empty_array", param,
                                       "Invalid '%s': empty array of token ids.", param);
                const cJSON *t;
                cJSON_ArrayForEach(t, it) {
                    if (!cJSON_IsNumber(t) || t->valuedouble != floor(t->valuedouble) || t->valuedouble < 0 ||
                        t->valuedouble >= n_vocab)
                        return api_err_set(e, ERR_RANGE, 400, P_INVALID, "invalid_value", param,
                                           "Invalid '%s': token ids must be integers from 0 to %d.", param,
                                           n_vocab - 1);
                }
            }
        } else if (!cJSON_IsNumber(it) || it->valuedouble != floor(it->valuedouble) || it->valuedouble < 0 ||
                   it->valuedouble >= n_vocab) {
            return api_err_set(e, ERR_RANGE, 400, P_INVALID, "invalid_value", cJSON_IsNumber(first) ? "prompt" : param,
                               "Invalid 'prompt': %s; token ids must be integers from 0 to %d.", expect, n_vocab - 1);
        }
    }
    s->prompt = p;
    return 0;
}

/* Sampling and output fields common to both endpoints. */
static int params__common(api_ctx_t *c, const cJSON *root, api_spec_t *s, api_err_t *e) {
    bool present;
    double d;
    int64_t v;
    int rc;
    if ((rc = jr_number(root, "temperature", NULL, 0, 2, &d, &present, e))) return rc;
    if (present) s->sp.temperature = (float)d;
    if ((rc = jr_number(root, "top_p", NULL, 0, 1, &d, &present, e))) return rc;
    if (present) s->sp.top_p = d > 0 ? (float)d : 1e-6f; /* 0 keeps only the most likely token */
    if ((rc = jr_int(root, "top_k", NULL, 0, INT32_MAX, &v, &present, e))) return rc;
    if (present) s->sp.top_k = (int32_t)v;
    if ((rc = jr_number(root, "min_p", NULL, 0, 1, &d, &present, e))) return rc;
    if (present) s->sp.min_p = (float)d;
    if ((rc = jr_number(root, "presence_penalty", NULL, -2, 2, &d, &present, e))) return rc;
    if (present) s->sp.presence_penalty = (float)d;
    if ((rc = jr_number(root, "frequency_penalty", NULL, -2, 2, &d, &present, e))) return rc;
    if (present) s->sp.frequency_penalty = (float)d;
    if ((rc = jr_int(root, "seed", NULL, INT64_MIN, INT64_MAX, &v, &present, e))) return rc;
    if (present) {
        s->sp.seed = (uint64_t)v;
        s->seed_given = true;
    }
    int32_t max_n = c->max_n > 0 ? c->max_n : 128;
    if ((rc = jr_int(root, "n", NULL, 1, max_n, &v, &present, e))) return rc;
    s->n = present ? (int32_t)v : 1;
    /* legacy: max_tokens 0 with echo only scores the prompt (evaluation harnesses); checked once echo is known */
    if ((rc = jr_int(root, "max_tokens", NULL, s->kind == API_TEXT ? 0 : 1, INT32_MAX, &v, &present, e))) return rc;
    if (present) {
        s->max_tokens = v;
        s->max_param = "max_tokens";
        s->score_only = v == 0;
    }
    if (s->kind == API_CHAT) {
        if ((rc = jr_int(root, "max_completion_tokens", NULL, 1, INT32_MAX, &v, &present, e))) return rc;
        if (present) {
            s->max_tokens = v;
            s->max_param = "max_completion_tokens";
        }
    }
    if ((rc = jr_bool(root, "stream", NULL, &s->stream, &present, e))) return rc;
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    if (so && !cJSON_IsNull(so)) {
        if (!cJSON_IsObject(so)) return jr_type_error(e, "stream_options", "an object", so);
        if (!s->stream)
            return api_err_set(e, ERR_INVAL, 400, P_INVALID, "invalid_value", "stream_options",
                               "The 'stream_options' parameter is only allowed when 'stream' is enabled.");
        if ((rc = jr_bool(so, "include_usage", "stream_options.include_usage", &s->include_usage, &present, e)))
            return rc;
    }
    if ((rc = params__stop(root, s, e))) return rc;
    if ((rc = params__logit_bias(root, s, e))) return rc;
    const char *user = NULL;
    return jr_string(root, "user", NULL, &user, NULL, &present, e); /* checked, then ignored */
}

int api__parse_request(api_ctx_t *c, api_kind_t kind, const cJSON *root, api_spec_t *s, api_err_t *e) {
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->sp = sampler_default_params();
    s->sp.penalty_last_n = 0;
    if (!cJSON_IsObject(root)) return jr_type_error(e, "body", "an object", root);
    bool present;
    int rc = jr_string(root, "model", NULL, &s->model, NULL, &present, e);
    if (rc) return rc;
    if (!present)
        return api_err_set(e, ERR_INVAL, 400, P_INVALID, "missing_required_parameter", "model",
                           "Missing required parameter: 'model'.");
    if (!(s->slot = api__find(c, s->model)))
        return api_err_set(e, ERR_NOTFOUND, 404, P_INVALID, "model_not_found", NULL,
                           "The model `%.200s` does not exist or you do not have access to it.", s->model);
    if (!s->slot->attached)
        return api_err_set(e, ERR_STATE, 503, "server_error", NULL, NULL,
                           "The model `%.200s` is still loading; retry shortly.", s->model);
    if (s->slot->embedding)
        return api_err_set(e, ERR_INVAL, 400, P_INVALID, "invalid_value", "model",
                           "The model `%.200s` is an embedding model: it serves /v1/embeddings only, not %s.",
                           s->model, kind == API_CHAT ? "/v1/chat/completions" : "/v1/completions");
    if ((rc = params__refuse(root, kind, e))) return rc;
    if ((rc = params__common(c, root, s, e))) return rc;
    if ((rc = api__response_format(root, s, e))) return rc;
    int64_t v;
    if (kind == API_CHAT) {
        if ((rc = params__messages(root, s, e))) return rc;
        const cJSON *kw = cJSON_GetObjectItemCaseSensitive(root, "chat_template_kwargs");
        if (kw && !cJSON_IsNull(kw)) { /* an extension (vLLM, llama.cpp): e.g. {"enable_thinking": false} */
            if (!cJSON_IsObject(kw)) return jr_type_error(e, "chat_template_kwargs", "an object", kw);
            const cJSON *it;
            cJSON_ArrayForEach(it, kw) {
                if (strcmp(it->string, "messages") == 0 || strcmp(it->string, "bos_token") == 0 ||
                    strcmp(it->string, "eos_token") == 0)
                    return api_err_set(e, ERR_INVAL, 400, P_INVALID, "invalid_value", "chat_template_kwargs",
                                       "Invalid 'chat_template_kwargs': '%s' is set by the server.", it->string);
            }
            s->tmpl_kwargs = kw;
        }
        if ((rc = api__tools(c, root, s, e))) return rc;
        if ((rc = jr_bool(root, "logprobs", NULL, &s->logprobs, &present, e))) return rc;
        if ((rc = jr_int(root, "top_logprobs", NULL, 0, ENGINE_MAX_TOP_LOGPROBS, &v, &present, e))) return rc;
        if (present) {
            if (!s->logprobs)
                return api_err_set(e, ERR_INVAL, 400, P_INVALID, "invalid_value", "top_logprobs",
                                   "Invalid 'top_logprobs': 'logprobs' must be set to true when 'top_logprobs' is "
                                   "given.");
            s->top_logprobs = (int32_t)v;
        }
    } else {
        if ((rc = params__prompt(root, s, e))) return rc;
        if ((rc = jr_bool(root, "echo", NULL, &s->echo, &present, e))) return rc;
        if ((rc = jr_int(root, "logprobs", NULL, 0, API_MAX_TEXT_LOGPROBS, &v, &present, e))) return rc;
        if (present) {
            s->logprobs = true;
            s->top_logprobs = (int32_t)v;
        }
        if (s->score_only && !s->echo)
            return api_err_set(e, ERR_RANGE, 400, P_INVALID, "invalid_value", "max_tokens",
                               "Invalid 'max_tokens': 0 is only allowed with 'echo': true (the prompt scored, "
                               "nothing generated).");
        if ((rc = jr_int(root, "best_of", NULL, 1, 128, &v, &present, e))) return rc;
        if (present && v != s->n) return params__unsupported(e, "best_of", "(other than equal to n)");
    }
    return 0;
}

void api__spec_free(api_spec_t *s) {
    free(s->bias);
    api_stop_clear(&s->stop);
    cJSON_Delete(s->messages);
    for (size_t i = 0; i < s->n_prompts; i++) {
        free(s->prompts[i].ids);
        free(s->prompts[i].text);
    }
    free(s->prompts);
    gram_free(s->grammar);
    free(s->format_json);
    free(s->tools);
    cJSON_Delete(s->tools_json);
    cJSON_Delete(s->tmpl_vars);
    free(s->prompt_tail);
    api__resp_free(s->resp);
    memset(s, 0, sizeof *s);
}
