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
 * Loop thread only (see api.h).
 */
#include <stdio.h>
#include <string.h>

#include "api_int.h"
#include "err.h"
#include "jr.h"

#define S_INVALID "invalid_request_error"

/* OpenAI's rule for json_schema.name: a-z, A-Z, 0-9, underscores and dashes, at most 64 characters. */
static bool structured__name_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 64) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
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
    if (!structured__name_ok(name))
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
    rc = gram_from_schema(text, strlen(text), &opts, &s->grammar, msg, sizeof msg);
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
        rc = gram_from_schema("{}", 2, &opts, &s->grammar, msg, sizeof msg);
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
