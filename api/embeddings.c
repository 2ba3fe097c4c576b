/*
 * embeddings.c — POST /v1/embeddings: its fields, its inputs as prompts, and its response body.
 *
 *   model            an embedding model (api_model_t.embedding); a chat model answers 400, and embedding models
 *                    answer 400 on /v1/chat/completions and /v1/completions (params.c)
 *   input            a string, an array of strings, an array of token ids, or an array of token-id arrays; at
 *                    most API_MAX_EMBED_INPUTS inputs; an empty string or array is a 400 (as OpenAI answers); ids
 *                    outside the vocabulary are a 400; an input longer than the context is a 400
 *                    (context_length_exceeded), never truncated
 *   encoding_format  "float" (default here, as in the HTTP API) or "base64": the little-endian float32 bytes,
 *                    base64-encoded (what the official SDKs ask for and decode)
 *   dimensions       keep the first N values and L2-normalise them again (Matryoshka-trained models such as
 *                    nomic-embed-text v1.5 or Qwen3-Embedding are trained for this; for others the shortened
 *                    vectors are valid unit vectors but carry less meaning); 400 above the model's width
 *   user             checked, then ignored
 * Each input becomes one ENGINE_REQ_EMBED request; call.c submits them all at once (those that do not fit the
 * engine's queue follow as earlier ones end), so the engine batches them into few forward passes.
 * Response: {"object":"list","data":[{"object":"embedding","index":i,"embedding":[...] | "base64"}],"model":id,
 * "usage":{"prompt_tokens":n,"total_tokens":n}}.
 * Loop thread only (see api.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "err.h"
#include "jr.h"
#include "jw.h"

#define E_INVALID "invalid_request_error"

/* OpenAI's answer to an empty input, with where it is. */
static int emb__empty(api_err_t *e, const char *where) {
    return api_err_set(e, ERR_INVAL, 400, E_INVALID, NULL, NULL,
                       "'$.input' is invalid: %s is empty. Please check the API reference: "
                       "https://platform.openai.com/docs/api-reference.",
                       where);
}

/* Whether item is an integer token id of the vocabulary. */
static bool emb__is_id(const cJSON *item, int32_t n_vocab) {
    return cJSON_IsNumber(item) && item->valuedouble == floor(item->valuedouble) && item->valuedouble >= 0 &&
           item->valuedouble < n_vocab;
}

/* Checks an array of token ids (param names it in errors). */
static int emb__check_ids(const cJSON *arr, const char *param, int32_t n_vocab, api_err_t *e) {
    if (cJSON_GetArraySize(arr) == 0) return emb__empty(e, param);
    const cJSON *t;
    cJSON_ArrayForEach(t, arr) {
        if (!emb__is_id(t, n_vocab))
            return api_err_set(e, ERR_RANGE, 400, E_INVALID, "invalid_value", param,
                               "Invalid '%s': token ids must be integers from 0 to %d.", param, n_vocab - 1);
    }
    return 0;
}

/* `input`: one of the four forms, at most API_MAX_EMBED_INPUTS inputs, nothing empty. */
static int emb__input(const cJSON *root, int32_t n_vocab, const cJSON **out, api_err_t *e) {
    const char *expect = "a string, an array of strings, an array of token ids, or an array of token id arrays";
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(root, "input");
    if (!in || cJSON_IsNull(in))
        return api_err_set(e, ERR_INVAL, 400, E_INVALID, "missing_required_parameter", "input",
                           "Missing required parameter: 'input'.");
    *out = in;
    if (cJSON_IsString(in)) return in->valuestring[0] ? 0 : emb__empty(e, "input");
    if (!cJSON_IsArray(in)) return jr_type_error(e, "input", expect, in);
    int n = cJSON_GetArraySize(in);
    if (n == 0) return emb__empty(e, "input");
    const cJSON *first = in->child;
    if (cJSON_IsNumber(first)) return emb__check_ids(in, "input", n_vocab, e); /* one input of token ids */
    if (n > API_MAX_EMBED_INPUTS)
        return api_err_set(e, ERR_RANGE, 400, E_INVALID, "invalid_value", "input",
                           "Invalid 'input': %d inputs; at most %d are allowed in one request.", n,
                           API_MAX_EMBED_INPUTS);
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, in) {
        char param[32];
        snprintf(param, sizeof param, "input[%d]", i++);
        if (cJSON_IsString(first)) {
            if (!cJSON_IsString(it)) return jr_type_error(e, param, "a string", it);
            if (!it->valuestring[0]) return emb__empty(e, param);
        } else if (cJSON_IsArray(first)) {
            if (!cJSON_IsArray(it)) return jr_type_error(e, param, "an array of token ids", it);
            int rc = emb__check_ids(it, param, n_vocab, e);
            if (rc) return rc;
        } else {
            return jr_type_error(e, param, expect, it);
        }
    }
    return 0;
}

int api__parse_embeddings(api_ctx_t *c, const cJSON *root, api_spec_t *s, api_err_t *e) {
    memset(s, 0, sizeof *s);
    s->kind = API_EMBED;
    s->sp = sampler_default_params();
    s->n = 1;
    if (!cJSON_IsObject(root)) return jr_type_error(e, "body", "an object", root);
    bool present;
    int rc = jr_string(root, "model", NULL, &s->model, NULL, &present, e);
    if (rc) return rc;
    if (!present)
        return api_err_set(e, ERR_INVAL, 400, E_INVALID, "missing_required_parameter", "model",
                           "Missing required parameter: 'model'.");
    if (!(s->slot = api__find(c, s->model)))
        return api_err_set(e, ERR_NOTFOUND, 404, E_INVALID, "model_not_found", NULL,
                           "The model `%.200s` does not exist or you do not have access to it.", s->model);
    if (!s->slot->attached)
        return api_err_set(e, ERR_STATE, 503, "server_error", NULL, NULL,
                           "The model `%.200s` is still loading; retry shortly.", s->model);
    if (!s->slot->embedding)
        return api_err_set(e, ERR_INVAL, 400, E_INVALID, "invalid_value", "model",
                           "The model `%.200s` does not support embeddings: it is a generative model, served on "
                           "/v1/chat/completions and /v1/completions. Ask an embedding model.",
                           s->model);
    if ((rc = emb__input(root, tok_n_vocab(s->slot->tok), &s->prompt, e))) return rc;
    const char *fmt = NULL;
    if ((rc = jr_string(root, "encoding_format", NULL, &fmt, NULL, &present, e))) return rc;
    if (present) {
        if (!strcmp(fmt, "base64"))
            s->base64 = true;
        else if (strcmp(fmt, "float"))
            return api_err_set(e, ERR_INVAL, 400, E_INVALID, "invalid_value", "encoding_format",
                               "Invalid value: '%.40s'. Supported values are: 'float' and 'base64'.", fmt);
    }
    int64_t v;
    if ((rc = jr_int(root, "dimensions", NULL, 1, INT32_MAX, &v, &present, e))) return rc;
    if (present) {
        if (v > s->slot->n_embd)
            return api_err_set(e, ERR_RANGE, 400, E_INVALID, "invalid_value", "dimensions",
                               "Invalid 'dimensions': %lld is more than this model's %d dimensions.", (long long)v,
                               s->slot->n_embd);
        s->dimensions = (int32_t)v;
    }
    const char *user = NULL;
    return jr_string(root, "user", NULL, &user, NULL, &present, e); /* checked, then ignored */
}

int api__embed_prompts(api_spec_t *s, api_err_t *e) {
    const api_slot_t *m = s->slot;
    const cJSON *in = s->prompt;
    bool many = cJSON_IsArray(in) && !cJSON_IsNumber(in->child);
    size_t n = many ? (size_t)cJSON_GetArraySize(in) : 1;
    s->prompts = calloc(n, sizeof *s->prompts);
    if (!s->prompts) return api_err_set(e, ERR_NOMEM, 503, "server_error", NULL, NULL, "The server is out of memory.");
    s->n_prompts = n;
    const cJSON *item = many ? in->child : in;
    for (size_t i = 0; i < n; i++, item = item->next) {
        api_prompt_t *p = &s->prompts[i];
        int rc;
        if (cJSON_IsString(item)) {
            rc = api__tokenize(m->tok, item->valuestring, strlen(item->valuestring), p, e);
        } else {
            rc = 0;
            p->ids = malloc((size_t)cJSON_GetArraySize(item) * sizeof *p->ids);
            if (!p->ids) rc = api_err_set(e, ERR_NOMEM, 503, "server_error", NULL, NULL, "The server is out of memory.");
            const cJSON *t;
            cJSON_ArrayForEach(t, item) if (p->ids) p->ids[p->n++] = (int32_t)t->valuedouble;
        }
        if (rc) return rc;
        char param[32];
        snprintf(param, sizeof param, many ? "input[%zu]" : "input", i);
        if (p->n == 0) return emb__empty(e, param);
        if (p->n > (size_t)m->n_ctx)
            return api_err_set(e, ERR_CONTEXT, 400, E_INVALID, "context_length_exceeded", param,
                               "This model's maximum context length is %d tokens, however you requested %zu tokens "
                               "(%zu in your prompt; 0 for the completion). Please reduce your prompt; or "
                               "completion length.",
                               m->n_ctx, p->n, p->n);
    }
    return 0;
}

size_t api__base64_f32(const float *v, size_t n, char *out) {
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t nb = n * 4, k = 0;
    unsigned char b[3];
    for (size_t i = 0; i < nb; i += 3) {
        size_t m = nb - i < 3 ? nb - i : 3;
        for (size_t j = 0; j < 3; j++) {
            size_t at = i + j; /* byte `at` of the little-endian float32 stream */
            if (j >= m) {
                b[j] = 0;
                continue;
            }
            uint32_t u;
            memcpy(&u, &v[at / 4], 4);
            b[j] = (unsigned char)(u >> (8 * (at % 4)));
        }
        out[k++] = al[b[0] >> 2];
        out[k++] = al[((b[0] & 3) << 4) | (b[1] >> 4)];
        out[k++] = m > 1 ? al[((b[1] & 15) << 2) | (b[2] >> 6)] : '=';
        out[k++] = m > 2 ? al[b[2] & 63] : '=';
    }
    return k;
}

/* The vector a response carries: the first d values of v, L2-normalised again when shortened. */
static void emb__shorten(const float *v, int32_t n, int32_t d, float *out) {
    double ss = 0;
    for (int32_t i = 0; i < d; i++)
        ss += (double)v[i] * v[i];
    double scale = d < n && ss > 0 ? 1.0 / sqrt(ss) : 1.0;
    for (int32_t i = 0; i < d; i++)
        out[i] = (float)(v[i] * scale);
}

char *api__render_embeddings(const api_call_t *call, size_t *len) {
    int32_t width = 0;
    for (int32_t i = 0; i < call->n_gens; i++)
        if (call->gens[i].n_emb > width) width = call->gens[i].n_emb;
    float *vec = malloc((size_t)(width > 0 ? width : 1) * sizeof *vec);
    char *b64 = malloc(4 * (((size_t)(width > 0 ? width : 1) * 4 + 2) / 3));
    if (!vec || !b64) {
        free(vec);
        free(b64);
        return NULL;
    }
    jw_t w;
    jw_init(&w);
    jw_obj(&w);
    jw_key(&w, "object");
    jw_str(&w, "list");
    jw_key(&w, "data");
    jw_arr(&w);
    for (int32_t i = 0; i < call->n_gens; i++) {
        const api_gen_t *g = &call->gens[i];
        int32_t d = call->spec.dimensions > 0 && call->spec.dimensions < g->n_emb ? call->spec.dimensions : g->n_emb;
        emb__shorten(g->emb, g->n_emb, d, vec);
        jw_obj(&w);
        jw_key(&w, "object");
        jw_str(&w, "embedding");
        jw_key(&w, "index");
        jw_int(&w, g->index);
        jw_key(&w, "embedding");
        if (call->spec.base64) {
            jw_strn(&w, b64, api__base64_f32(vec, (size_t)d, b64));
        } else {
            jw_arr(&w);
            for (int32_t k = 0; k < d; k++)
                jw_num(&w, vec[k]);
            jw_end(&w);
        }
        jw_end(&w);
    }
    jw_end(&w);
    jw_key(&w, "model");
    jw_str(&w, call->model);
    jw_key(&w, "usage");
    jw_obj(&w);
    jw_key(&w, "prompt_tokens");
    jw_int(&w, call->prompt_tokens);
    jw_key(&w, "total_tokens");
    jw_int(&w, call->prompt_tokens);
    jw_end(&w);
    jw_end(&w);
    free(vec);
    free(b64);
    return jw_finish(&w, len);
}
