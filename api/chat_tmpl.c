/*
 * chat_tmpl.c — the chat template seam between the api handlers and api/template: compile once at attach,
 * render the normalised messages per request.
 *
 * The context a template sees: messages (role, content as a string, and name / tool_call_id / tool_calls /
 * reasoning_content when given), tools (OpenAI's shape) when the request has them, reasoning_effort or
 * enable_thinking when the request set reasoning_effort, add_generation_prompt = true, bos_token and eos_token (the tokenizer's texts, "" when the model has
 * none), and strftime_now's clock. A model without a template uses ChatML (api_chatml_template).
 * A render failure (raise_exception, an undefined attribute, a limit) is the client's request meeting the
 * model's template: 400 invalid_request_error with the template's message, param "messages".
 * Loop thread only (tmpl_render itself is reentrant).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_int.h"
#include "err.h"
#include "template/tmpl.h"

/* ChatML: <|im_start|>{role}\n{content}<|im_end|>\n per message, then <|im_start|>assistant\n. */
static const char chatml[] = "{%- for message in messages %}"
                             "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
                             "{%- endfor %}"
                             "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

const char *api_chatml_template(void) { return chatml; }

static char *tmpl__token_text(const tok_t *tok, int32_t id) {
    const char *t = id >= 0 ? tok_text(tok, id) : NULL;
    return strdup(t ? t : "");
}

int api__template_compile(api_slot_t *c, const char *src, char *err, size_t err_len) {
    api__template_free(c);
    c->bos_text = tmpl__token_text(c->tok, tok_bos(c->tok));
    c->eos_text = tmpl__token_text(c->tok, tok_eos(c->tok));
    if (!c->bos_text || !c->eos_text) return err_set(err, err_len, ERR_NOMEM, "out of memory");
    api__tf_detect(src, &c->tf);
    c->tmpl_has_effort = strstr(src, "reasoning_effort") != NULL;
    c->tmpl_has_thinking_switch = strstr(src, "enable_thinking") != NULL;
    char msg[512] = "";
    int rc = tmpl_compile(src, strlen(src), &c->tmpl, msg, sizeof msg);
    if (rc) {
        c->tmpl_err = strdup(msg);
        return err_set(err, err_len, rc, "%s", msg);
    }
    return 0;
}

void api__template_free(api_slot_t *c) {
    tmpl_free(c->tmpl);
    free(c->bos_text);
    free(c->eos_text);
    free(c->tmpl_err);
    c->tmpl = NULL;
    c->bos_text = c->eos_text = c->tmpl_err = NULL;
}

int api__template_render(const api_slot_t *c, const cJSON *messages, const cJSON *tools, const cJSON *vars,
                         const cJSON *kwargs, char **out, size_t *out_len, api_err_t *e) {
    *out = NULL;
    if (!c->tmpl)
        return api_err_set(e, ERR_TEMPLATE, 400, "invalid_request_error", "invalid_template", "messages",
                           "This model's chat template cannot be used: %s. Use /v1/completions, or start the "
                           "server with --chat-template.",
                           c->tmpl_err ? c->tmpl_err : "no template");
    cJSON *ctx = cJSON_CreateObject();
    bool ok = ctx && cJSON_AddItemReferenceToObject(ctx, "messages", (cJSON *)messages) &&
              cJSON_AddBoolToObject(ctx, "add_generation_prompt", true) &&
              cJSON_AddStringToObject(ctx, "bos_token", c->bos_text) &&
              cJSON_AddStringToObject(ctx, "eos_token", c->eos_text);
    if (tools) ok = ok && cJSON_AddItemReferenceToObject(ctx, "tools", (cJSON *)tools);
    const cJSON *kw;
    if (vars) /* the server's variables (reasoning_effort) */
        cJSON_ArrayForEach(kw, vars) ok = ok && cJSON_AddItemReferenceToObject(ctx, kw->string, (cJSON *)kw);
    /* chat_template_kwargs: more variables (validated by params.c: never `messages`); they win */
    if (kwargs)
        cJSON_ArrayForEach(kw, kwargs) {
            cJSON_DeleteItemFromObjectCaseSensitive(ctx, kw->string); /* add_generation_prompt may be overridden */
            ok = ok && cJSON_AddItemReferenceToObject(ctx, kw->string, (cJSON *)kw);
        }
    if (!ok) {
        cJSON_Delete(ctx);
        return api_err_set(e, ERR_NOMEM, 503, "server_error", NULL, NULL, "The server is out of memory.");
    }
    tmpl_render_opts_t o;
    tmpl_render_opts_default(&o);
    o.now = (int64_t)time(NULL);
    char msg[512] = "";
    int rc = tmpl_render(c->tmpl, ctx, &o, out, out_len, msg, sizeof msg);
    cJSON_Delete(ctx); /* drops the reference, not the messages */
    if (rc == ERR_NOMEM) return api_err_set(e, rc, 503, "server_error", NULL, NULL, "The server is out of memory.");
    if (rc)
        return api_err_set(e, rc, 400, "invalid_request_error", "invalid_template", "messages",
                           "The chat template could not render these messages: %s", msg);
    return 0;
}
