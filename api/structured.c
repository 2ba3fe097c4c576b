/*
 * structured.c — `response_format`: structured output that decoding itself cannot leave.
 *
 *   {"type": "text"}                      plain text (the default)
 *   {"type": "json_object"}               any JSON object
 *   {"type": "json_schema", "json_schema": {"name", "schema", "strict", "description"}}
 *                                         a JSON text the schema accepts (OpenAI's Structured Outputs subset; a
 *                                         keyword outside it is a 400 naming it, never a looser grammar)
 *
 * The schema is compiled into a grammar (engine/grammar/) that the engine enforces token by token, so the content
 * parses and validates whatever the model's weights; a generation cut by max_tokens inside the document ends with
 * finish_reason "length". Chat completions take it as OpenAI does; legacy completions take it too (an extension).
 * A model that reasons first may write its reasoning block before the document (it goes to reasoning_content).
 * Loop thread only (see api.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "err.h"
#include "jr.h"

#define S_INVALID "invalid_request_error"

/* Compiles a schema into spec->grammar; for a model that reasons first (Qwen3, DeepSeek-R1 distills, gpt-oss) the
   document follows an optional reasoning block, so the grammar never forbids the model's thinking. */
static int structured__build(api_spec_t *s, const char *json, size_t len, const gram_schema_opts_t *opts, char *msg,
                             size_t msg_len) {
    if ((s->kind != API_CHAT && s->kind != API_RESP) || !s->slot->tf.thinks)
        return gram_from_schema(json, len, opts, &s->grammar, msg, msg_len);
    gram_builder_t *b = gram_build_new();
    if (!b) return ERR_NOMEM;
    uint32_t root = gram_seqv(b, 2, api__tf_reasoning_expr(b, &s->slot->tf), gram_schema_expr(b, json, len, opts));
    gram_rule_define(b, GRAM_ROOT, root);
    int rc = gram_build_compile(b, &s->grammar, msg, msg_len);
    gram_build_free(b);
    return rc;
}

/* structured__build through the model's grammar cache, keyed by the schema text and everything that shapes it. */
static int structured__compile(api_spec_t *s, const char *json, size_t len, const gram_schema_opts_t *opts, char *msg,
                               size_t msg_len) {
    char head[64];
    int hl = snprintf(head, sizeof head, "rf %d %d %u %d %d|", s->kind, opts->strict, opts->ws_max, opts->any_object,
                      (s->kind == API_CHAT || s->kind == API_RESP) && s->slot->tf.thinks);
    char *key = malloc((size_t)hl + len + 1);
    if (!key) return ERR_NOMEM;
    memcpy(key, head, (size_t)hl);
    memcpy(key + hl, json, len);
    key[hl + len] = '\0';
    int rc = 0;
    if (!(s->grammar = api__gcache_get(s->slot, key, NULL)) &&
        !(rc = structured__build(s, json, len, opts, msg, msg_len)))
        api__gcache_put(s->slot, key, s->grammar, NULL);
    free(key);
    return rc;
}

/* Compiles the json_schema fields of js (an object named `param`) into spec->grammar. */
static int structured__json_schema(const cJSON *js, const char *param, api_spec_t *s, api_err_t *e) {
    bool present;
    const char *name = NULL, *desc = NULL;
    char p[160];
    int rc;
    if (!js || cJSON_IsNull(js))
        return api_err_set(e, ERR_INVAL, 400, S_INVALID, "missing_required_parameter", param,
                           "Missing required parameter: '%s'.", param);
    if (!cJSON_IsObject(js)) return jr_type_error(e, param, "an object", js);
    snprintf(p, sizeof p, "%s.name", param);
    if ((rc = jr_string(js, "name", p, &name, NULL, &present, e))) return rc;
    if (!present)
        return api_err_set(e, ERR_INVAL, 400, S_INVALID, "missing_required_parameter", p,
                           "Missing required parameter: '%s'.", p);
    if (!jr_name_ok(name))
        return api_err_set(e, ERR_INVAL, 400, S_INVALID, "invalid_value", p,
                           "Invalid '%s': string does not match pattern. Expected a string of at most 64 characters "
                           "that matches the pattern '^[a-zA-Z0-9_-]+$'.",
                           p);
    snprintf(p, sizeof p, "%s.description", param);
    if ((rc = jr_string(js, "description", p, &desc, NULL, &present, e))) return rc;
    gram_schema_opts_t opts = gram_schema_default_opts();
    snprintf(p, sizeof p, "%s.strict", param);
    if ((rc = jr_bool(js, "strict", p, &opts.strict, &present, e))) return rc;
    snprintf(p, sizeof p, "%s.schema", param);
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(js, "schema");
    if (!schema || cJSON_IsNull(schema))
        return api_err_set(e, ERR_INVAL, 400, S_INVALID, "missing_required_parameter", p,
                           "Missing required parameter: '%s'.", p);
    if (!cJSON_IsObject(schema)) return jr_type_error(e, p, "an object", schema);
    char *text = cJSON_PrintUnformatted(schema);
    if (!text) return api_err_set(e, ERR_NOMEM, 503, "server_error", NULL, NULL, "The server is out of memory.");
    char msg[256] = "";
    rc = structured__compile(s, text, strlen(text), &opts, msg, sizeof msg);
    if (!rc && !(s->format_json = strdup(text))) rc = ERR_NOMEM; /* for tools beside it (tools.c) */
    s->format_opts = opts;
    cJSON_free(text);
    if (rc == ERR_NOMEM) return api_err_set(e, rc, 503, "server_error", NULL, NULL, "The server is out of memory.");
    if (rc)
        return api_err_set(e, rc, 400, S_INVALID, rc == ERR_UNSUPPORTED ? "unsupported_value" : "invalid_value", p,
                           "Invalid schema for %s '%s': %s.", strncmp(param, "text.", 5) ? "response_format" : "text.format",
                           name, msg);
    return 0;
}

int api__format_grammar(const cJSON *rf, const char *param, bool flat, api_spec_t *s, api_err_t *e) {
    if (!rf || cJSON_IsNull(rf)) return 0;
    if (!cJSON_IsObject(rf)) return jr_type_error(e, param, "an object", rf);
    const char *type = NULL;
    bool present;
    char p[160];
    snprintf(p, sizeof p, "%s.type", param);
    int rc = jr_string(rf, "type", p, &type, NULL, &present, e);
    if (rc) return rc;
    if (!present)
        return api_err_set(e, ERR_INVAL, 400, S_INVALID, "missing_required_parameter", p,
                           "Missing required parameter: '%s'.", p);
    if (strcmp(type, "text") == 0) return 0;
    if (strcmp(type, "json_object") == 0) {
        gram_schema_opts_t opts = gram_schema_default_opts();
        opts.any_object = true;
        char msg[256] = "";
        rc = structured__compile(s, "{}", 2, &opts, msg, sizeof msg);
        if (!rc && !(s->format_json = strdup("{}"))) rc = ERR_NOMEM;
        s->format_opts = opts;
        if (rc) return api_err_set(e, rc, 503, "server_error", NULL, NULL, "The server is out of memory.");
        return 0;
    }
    if (strcmp(type, "json_schema") == 0) {
        if (flat) return structured__json_schema(rf, param, s, e);
        snprintf(p, sizeof p, "%s.json_schema", param);
        return structured__json_schema(cJSON_GetObjectItemCaseSensitive(rf, "json_schema"), p, s, e);
    }
    return api_err_set(e, ERR_INVAL, 400, S_INVALID, "invalid_value", p,
                       "Invalid value: '%.64s'. Supported values are: 'text', 'json_object' and 'json_schema'.", type);
}

int api__response_format(const cJSON *root, api_spec_t *s, api_err_t *e) {
    return api__format_grammar(cJSON_GetObjectItemCaseSensitive(root, "response_format"), "response_format", false, s,
                               e);
}
