/*
 * prompt.c — from a parsed request to prompt token ids.
 *
 * Chat: the normalised messages (rewritten for the model's tool format, tools.c) are rendered with the chat
 * template (chat_tmpl.c) with add_generation_prompt true, a forced tool call's opener appended, then tokenized with BOS added as the model asks and special-token texts recognised (the template writes
 * them). Templates that print bos_token themselves would give two BOS tokens: when the tokenizer adds one and the
 * rendered text starts with the BOS text, that text is dropped first (as llama.cpp does).
 * Legacy completions: each string prompt is tokenized the same way as `cinder generate -p` (BOS as the model
 * asks, special texts recognised), so greedy output matches it; token-id prompts are used as given.
 * Loop thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "err.h"
#include "jr.h"

/* chat_tmpl.c */
int api__template_render(const api_slot_t *m, const cJSON *messages, const cJSON *tools, const cJSON *vars,
                         const cJSON *kwargs, char **out, size_t *out_len, api_err_t *e);

#define PROMPT_TAIL 64 /* bytes of the rendered prompt the output parser sees */

int api__tokenize(const tok_t *tok, const char *text, size_t len, api_prompt_t *p, api_err_t *e) {
    size_t cap = len + 8, need = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) return api_err_set(e, ERR_NOMEM, 503, "server_error", NULL, NULL, "The server is out of memory.");
    int rc = tok_encode(tok, text, len, TOK_ADD_SPECIAL | TOK_PARSE_SPECIAL, ids, cap, &need);
    if (rc == ERR_RANGE) {
        int32_t *bigger = realloc(ids, (need + 1) * sizeof *ids);
        if (!bigger) {
            free(ids);
            return api_err_set(e, ERR_NOMEM, 503, "server_error", NULL, NULL, "The server is out of memory.");
        }
        ids = bigger;
        rc = tok_encode(tok, text, len, TOK_ADD_SPECIAL | TOK_PARSE_SPECIAL, ids, need + 1, &need);
    }
    if (rc) {
        free(ids);
        if (rc == ERR_NOMEM) return api_err_set(e, rc, 503, "server_error", NULL, NULL, "The server is out of memory.");
        return api_err_set(e, rc, 400, "invalid_request_error", "invalid_value", NULL,
                           "The prompt cannot be tokenized (%s).", err_str(rc));
    }
    p->ids = ids;
    p->n = need;
    return 0;
}

static int prompt__chat(const api_slot_t *m, api_spec_t *s, api_err_t *e) {
    char *text = NULL;
    size_t len = 0;
    int rc = api__tool_messages(s, e);
    if (rc) return rc;
    rc = api__template_render(m, s->messages, s->tools_json, s->tmpl_vars, s->tmpl_kwargs, &text, &len, e);
    if (rc) return rc;
    if (s->parse_output) { /* whether the template opened a reasoning block, for the parser */
        size_t k = len < PROMPT_TAIL ? len : PROMPT_TAIL;
        free(s->prompt_tail); /* rendered again after a truncation */
        s->prompt_tail = malloc(k + 1);
        if (!s->prompt_tail) {
            free(text);
            return api_err_set(e, ERR_NOMEM, 503, "server_error", NULL, NULL, "The server is out of memory.");
        }
        memcpy(s->prompt_tail, text + len - k, k);
        s->prompt_tail[k] = '\0';
    }
    if (s->prefill) { /* a forced tool call: its opener follows the generation prompt */
        size_t pl = strlen(s->prefill);
        char *t2 = realloc(text, len + pl + 1);
        if (!t2) {
            free(text);
            return api_err_set(e, ERR_NOMEM, 503, "server_error", NULL, NULL, "The server is out of memory.");
        }
        text = t2;
        memcpy(text + len, s->prefill, pl + 1);
        len += pl;
    }
    const char *t = text;
    size_t bl = strlen(m->bos_text);
    if (tok_add_bos(m->tok) && bl && len >= bl && !memcmp(t, m->bos_text, bl)) {
        t += bl;
        len -= bl;
    }
    s->prompts = calloc(1, sizeof *s->prompts);
    if (!s->prompts) {
        free(text);
        return api_err_set(e, ERR_NOMEM, 503, "server_error", NULL, NULL, "The server is out of memory.");
    }
    s->n_prompts = 1;
    rc = api__tokenize(m->tok, t, len, &s->prompts[0], e);
    free(text);
    if (!rc && s->prompts[0].n == 0)
        rc = api_err_set(e, ERR_INVAL, 400, "invalid_request_error", "invalid_value", "messages",
                         "The chat template rendered an empty prompt.");
    return rc;
}

/* A token-id prompt from a JSON array (already validated by params.c). */
static int prompt__ids(const api_slot_t *m, const cJSON *arr, bool echo, api_prompt_t *p, api_err_t *e) {
    int n = cJSON_GetArraySize(arr);
    p->ids = malloc((size_t)(n > 0 ? n : 1) * sizeof *p->ids);
    if (!p->ids) return api_err_set(e, ERR_NOMEM, 503, "server_error", NULL, NULL, "The server is out of memory.");
    const cJSON *t;
    cJSON_ArrayForEach(t, arr) p->ids[p->n++] = (int32_t)t->valuedouble;
    if (!echo) return 0;
    size_t need = 0;
    tok_decode(m->tok, p->ids, p->n, false, false, NULL, 0, &need);
    p->text = malloc(need + 1);
    if (!p->text) return api_err_set(e, ERR_NOMEM, 503, "server_error", NULL, NULL, "The server is out of memory.");
    if (tok_decode(m->tok, p->ids, p->n, false, false, p->text, need, &p->text_len)) p->text_len = 0;
    /* the decoded bytes may hold broken UTF-8 (a prompt cut inside a character): keep the valid prefix */
    p->text_len = jr_utf8_valid_len(p->text, p->text_len);
    p->text[p->text_len] = '\0';
    return 0;
}

static int prompt__text(const api_slot_t *m, api_spec_t *s, api_err_t *e) {
    const cJSON *pr = s->prompt;
    size_t n = 1;
    bool many = cJSON_IsArray(pr) && (cJSON_IsString(pr->child) || cJSON_IsArray(pr->child));
    if (many) n = (size_t)cJSON_GetArraySize(pr);
    s->prompts = calloc(n, sizeof *s->prompts);
    if (!s->prompts) return api_err_set(e, ERR_NOMEM, 503, "server_error", NULL, NULL, "The server is out of memory.");
    s->n_prompts = n;
    const cJSON *item = many ? pr->child : pr;
    for (size_t i = 0; i < n; i++, item = item ? item->next : NULL) {
        api_prompt_t *p = &s->prompts[i];
        int rc;
        if (cJSON_IsString(item)) {
            size_t len = strlen(item->valuestring);
            rc = api__tokenize(m->tok, item->valuestring, len, p, e);
            if (!rc && s->echo) {
                p->text = strdup(item->valuestring);
                p->text_len = len;
                if (!p->text)
                    rc = api_err_set(e, ERR_NOMEM, 503, "server_error", NULL, NULL, "The server is out of memory.");
            }
        } else {
            rc = prompt__ids(m, item, s->echo, p, e);
        }
        if (rc) return rc;
        if (p->n == 0)
            return api_err_set(e, ERR_INVAL, 400, "invalid_request_error", "invalid_value", "prompt",
                               "The prompt is empty and this model adds no BOS token; give at least one token.");
    }
    return 0;
}

int api__build_prompts(api_ctx_t *c, api_spec_t *s, api_err_t *e) {
    if (s->kind == API_EMBED) return api__embed_prompts(s, e);
    return s->kind == API_TEXT ? prompt__text(s->slot, s, e) : prompt__chat(s->slot, s, e); /* chat, responses */
}
