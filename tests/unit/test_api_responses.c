/*
 * test_api_responses.c — /v1/responses with the fake backend: request validation (each refusal and its param),
 * input items -> the exact prompt through a fixture template, the exact SSE bytes of a stream, the response
 * object (completed, incomplete, failed, cached_tokens), and the store: GET, input_items (limit, order, after),
 * DELETE, previous_response_id chains, API keys that cannot see each other's responses, a process that dies
 * between the store write and its reply (fork: the reply it never sent is in the file), a store that refuses the
 * write (no 200), a client that disconnects (cancelled, nothing stored), and size pruning counted in /metrics.
 */
#include "api_fixture.h"

#include <cjson/cJSON.h>
#include <sys/wait.h>
#include <unistd.h>

#include "resp_store.h"

#define M "\"model\":\"stories260K\","

static char store_dir[64];
static char store_path[128];

static int setup(void **state) {
    snprintf(store_dir, sizeof store_dir, "/tmp/cinder_resp_XXXXXX");
    if (!mkdtemp(store_dir)) return -1;
    snprintf(store_path, sizeof store_path, "%s/responses.db", store_dir);
    fx_responses_store = store_path;
    return 0;
}

static int teardown(void **state) {
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", store_dir);
    fx_responses_store = NULL;
    return system(cmd) == 0 ? 0 : -1;
}

static void fx_get(fx_t *f, const char *method, const char *path, const char *query, const char *auth) {
    fx_sink_free(&f->sink);
    fx_sink_init(&f->sink);
    api_request_t r = {
        .method = method, .path = path, .authorization = auth, .query = query, .body = "", .body_len = 0};
    api_call_t *call = NULL;
    api_handle(f->api, &r, &f->sink.sink, &call);
    assert_null(call);
}

/* The string at a dotted path of a JSON text ("error.param"), or "" (static buffer). */
static const char *jget(const char *json, const char *path) {
    static char out[4096];
    const char *nl = strchr(json, '\n'); /* one SSE data line, or a whole body */
    char *line = strndup(json, nl ? (size_t)(nl - json) : strlen(json));
    cJSON *root = cJSON_Parse(line), *v = root;
    free(line);
    char p[256];
    snprintf(p, sizeof p, "%s", path);
    for (char *tok = strtok(p, "."); tok && v; tok = strtok(NULL, "."))
        v = cJSON_IsArray(v) ? cJSON_GetArrayItem(v, atoi(tok)) : cJSON_GetObjectItemCaseSensitive(v, tok);
    out[0] = '\0';
    if (cJSON_IsString(v))
        snprintf(out, sizeof out, "%s", v->valuestring);
    else if (cJSON_IsNumber(v))
        snprintf(out, sizeof out, "%g", v->valuedouble);
    else if (cJSON_IsBool(v))
        snprintf(out, sizeof out, "%s", cJSON_IsTrue(v) ? "true" : "false");
    else if (cJSON_IsNull(v))
        snprintf(out, sizeof out, "null");
    cJSON_Delete(root);
    return out;
}

typedef struct {
    const char *body;
    int status;
    const char *code;
    const char *param;
    const char *in_message;
} bad_case_t;

static void test_refusals(void **state) {
    fx_responses_store = NULL; /* no store: store true is refused */
    fx_t *f = fx_new(NULL, 0);
    fx_post(f, "/v1/responses", "{" M "\"input\":\"hi\"}");
    assert_int_equal(f->sink.status, 400);
    assert_string_equal(jget(f->sink.body, "error.param"), "store");
    assert_non_null(strstr(f->sink.body, "responses_store: none"));
    fx_post(f, "/v1/responses", "{" M "\"input\":\"hi\",\"store\":false,\"previous_response_id\":\"resp_x\"}");
    assert_int_equal(f->sink.status, 400);
    assert_string_equal(jget(f->sink.body, "error.code"), "previous_response_not_found");
    fx_get(f, "GET", "/v1/responses/resp_x", NULL, NULL);
    assert_int_equal(f->sink.status, 404);
    fx_free(f);
    fx_responses_store = store_path;

    static const bad_case_t cases[] = {
        {"{" M
         "\"input\":\"x\",\"tools\":[{\"type\":\"web_search\"},{\"type\":\"file_search\",\"vector_store_ids\":[]}]}",
         400, "unsupported_value", "tools[0]", "web_search, file_search"},
        {"{" M "\"input\":\"x\",\"tools\":[{\"type\":\"function\",\"name\":\"f\"}],\"tool_choice\":{\"type\":"
         "\"function\",\"name\":\"g\"}}",
         400, "invalid_value", "tool_choice.name", "no function named 'g'"},
        {"{" M "\"input\":\"x\",\"tool_choice\":\"required\"}", 400, "invalid_value", "tool_choice", "tools"},
        {"{" M "\"input\":\"x\",\"tools\":[{\"type\":\"function\",\"name\":\"bad name\"}]}", 400, "invalid_value",
         "tools[0].name", "pattern"},
        {"{" M "\"input\":\"x\",\"tools\":[{\"type\":\"function\"}]}", 400, "missing_required_parameter",
         "tools[0].name", "'tools[0].name'"},
        {"{" M "\"input\":\"x\",\"tools\":[{\"type\":\"function\",\"name\":\"f\",\"parameters\":3}]}", 400,
         "invalid_type", "tools[0].parameters", NULL},
        {"{" M "\"input\":\"x\",\"tools\":[{\"type\":\"teleport\"}]}", 400, "invalid_value", "tools[0].type", NULL},
        {"{" M "\"input\":\"x\",\"tool_choice\":\"required\"}", 400, "invalid_value", "tool_choice", NULL},
        {"{" M "\"input\":\"x\",\"include\":[\"message.output_text.logprobs\",\"reasoning.encrypted_content\"]}", 400,
         "unsupported_value", "include[1]", "reasoning.encrypted_content"},
        {"{" M "\"input\":\"x\",\"include\":\"message.output_text.logprobs\"}", 400, "invalid_type", "include", NULL},
        {"{" M "\"input\":\"x\",\"top_logprobs\":21}", 400, "integer_above_max_value", "top_logprobs", NULL},
        {"{" M "\"input\":\"x\",\"background\":true}", 400, "unsupported_parameter", "background", NULL},
        {"{" M "\"input\":\"x\",\"conversation\":\"conv_1\"}", 400, "unsupported_parameter", "conversation", NULL},
        {"{\"model\":\"stories260K\"}", 400, "missing_required_parameter", "input", NULL},
        {"{" M "\"input\":[]}", 400, "empty_array", "input", NULL},
        {"{" M "\"input\":3}", 400, "invalid_type", "input", NULL},
        {"{" M "\"input\":[{\"type\":\"message\",\"role\":\"robot\",\"content\":\"x\"}]}", 400, "invalid_value",
         "input[0].role", NULL},
        {"{" M "\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_image\",\"image_url\":\"x\"}]}]}", 400,
         "unsupported_value", "input[0].content[0].type", "text only"},
        {"{" M "\"input\":[{\"type\":\"function_call\",\"name\":\"f\",\"arguments\":\"{}\"}]}", 400,
         "missing_required_parameter", "input[0].call_id", NULL},
        {"{" M "\"input\":[{\"type\":\"web_search_call\",\"id\":\"ws_1\"}]}", 400, "unsupported_value", "input[0].type",
         "built-in"},
        {"{" M "\"input\":[{\"type\":\"item_reference\",\"id\":\"msg_1\"}]}", 400, "unsupported_value", "input[0].type",
         NULL},
        {"{" M "\"input\":[{\"type\":\"blob\"}]}", 400, "invalid_value", "input[0].type", NULL},
        {"{" M "\"input\":\"x\",\"temperature\":3}", 400, "decimal_above_max_value", "temperature", NULL},
        {"{" M "\"input\":\"x\",\"max_output_tokens\":0}", 400, "integer_below_min_value", "max_output_tokens", NULL},
        {"{" M "\"input\":\"x\",\"truncation\":\"sometimes\"}", 400, "invalid_value", "truncation", NULL},
        {"{" M "\"input\":\"x\",\"text\":{\"format\":{\"type\":\"json_schema\",\"schema\":{}}}}", 400,
         "missing_required_parameter", "text.format.name", NULL},
        {"{" M "\"input\":\"x\",\"text\":{\"format\":{\"type\":\"json_schema\",\"name\":\"n\",\"schema\":{\"type\":"
         "\"object\",\"not\":{}}}}}",
         400, "unsupported_value", "text.format.schema", NULL},
        {"{" M "\"input\":\"x\",\"text\":{\"format\":{\"type\":\"yaml\"}}}", 400, "invalid_value", "text.format.type",
         NULL},
        {"{" M "\"input\":\"x\",\"text\":{\"verbosity\":\"loud\"}}", 400, "invalid_value", "text.verbosity", NULL},
        {"{" M "\"input\":\"x\",\"text\":{\"verbosity\":\"low\"}}", 400, "unsupported_value", "text.verbosity",
         "'medium'"},
        {"{" M "\"input\":\"x\",\"reasoning\":{\"effort\":\"extreme\"}}", 400, "invalid_value", "reasoning.effort",
         NULL},
        {"{" M "\"input\":\"x\",\"metadata\":{\"k\":1}}", 400, "invalid_type", "metadata.k", NULL},
        /* ChatML reads neither reasoning_effort nor enable_thinking: the effort cannot reach the model */
        {"{" M "\"input\":\"x\",\"reasoning\":{\"effort\":\"low\"}}", 400, "unsupported_parameter", "reasoning.effort",
         "not supported with this model"},
        {"{" M "\"input\":\"x\",\"previous_response_id\":\"resp_nope\"}", 400, "previous_response_not_found",
         "previous_response_id", "resp_nope"},
        {"{\"model\":\"nope\",\"input\":\"x\"}", 404, "model_not_found", NULL, NULL},
        /* other endpoints' fields that would change the output: a 400, naming the Responses field if any */
        {"{" M "\"input\":\"x\",\"response_format\":{\"type\":\"json_object\"}}", 400, "unsupported_parameter",
         "response_format", "moved to 'text.format'"},
        {"{" M "\"input\":\"x\",\"max_tokens\":5}", 400, "unsupported_parameter", "max_tokens",
         "moved to 'max_output_tokens'"},
        {"{" M "\"input\":\"x\",\"max_completion_tokens\":5}", 400, "unsupported_parameter", "max_completion_tokens",
         "'max_output_tokens'"},
        {"{" M "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", 400, "unsupported_parameter", "messages",
         "'input'"},
        {"{" M "\"input\":\"x\",\"reasoning_effort\":\"low\"}", 400, "unsupported_parameter", "reasoning_effort",
         "'reasoning.effort'"},
        {"{" M "\"input\":\"x\",\"stop\":[\"\\n\"]}", 400, "unsupported_parameter", "stop", "Responses API"},
        {"{" M "\"input\":\"x\",\"n\":2}", 400, "unsupported_parameter", "n", NULL},
        {"{" M "\"input\":\"x\",\"presence_penalty\":1}", 400, "unsupported_parameter", "presence_penalty", NULL},
        {"{" M "\"input\":\"x\",\"frequency_penalty\":1}", 400, "unsupported_parameter", "frequency_penalty", NULL},
        {"{" M "\"input\":\"x\",\"logit_bias\":{\"5\":100}}", 400, "unsupported_parameter", "logit_bias", NULL},
        {"{" M "\"input\":\"x\",\"logprobs\":true}", 400, "unsupported_parameter", "logprobs", NULL},
        {"{" M "\"input\":\"x\",\"chat_template_kwargs\":{\"enable_thinking\":false}}", 400, "unsupported_parameter",
         "chat_template_kwargs", NULL},
        {"{" M "\"input\":\"x\",\"functions\":[{\"name\":\"f\"}]}", 400, "unsupported_parameter", "functions",
         "'tools'"},
    };
    f = fx_new(NULL, 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const bad_case_t *c = &cases[i];
        fx_post(f, "/v1/responses", c->body);
        if (f->sink.status != c->status || strcmp(jget(f->sink.body, "error.code"), c->code) ||
            (c->param && strcmp(jget(f->sink.body, "error.param"), c->param)) ||
            (c->in_message && !strstr(f->sink.body, c->in_message)))
            fail_msg("case %zu: %s -> %d %s", i, c->body, f->sink.status, f->sink.body);
        assert_int_equal(f->back.n, 0);
    }
    /* metadata: 16 pairs, 64-character keys, 512-character values */
    char body[4096];
    int k = snprintf(body, sizeof body, "{" M "\"input\":\"x\",\"metadata\":{");
    for (int i = 0; i < 17; i++)
        k += snprintf(body + k, sizeof body - (size_t)k, "%s\"k%d\":\"v\"", i ? "," : "", i);
    snprintf(body + k, sizeof body - (size_t)k, "}}");
    fx_post(f, "/v1/responses", body);
    assert_int_equal(f->sink.status, 400);
    assert_string_equal(jget(f->sink.body, "error.code"), "object_above_max_properties");
    char big[600];
    memset(big, 'v', 513);
    big[513] = '\0';
    snprintf(body, sizeof body, "{" M "\"input\":\"x\",\"metadata\":{\"k\":\"%s\"}}", big);
    fx_post(f, "/v1/responses", body);
    assert_int_equal(f->sink.status, 400);
    assert_string_equal(jget(f->sink.body, "error.param"), "metadata.k");
    big[512] = '\0';
    snprintf(body, sizeof body, "{" M "\"input\":\"x\",\"store\":false,\"metadata\":{\"k\":\"%s\"}}", big);
    fx_post(f, "/v1/responses", body);
    assert_non_null(f->call);
    assert_int_equal(f->back.n, 1);
    /* fields that do not change the output are accepted and echoed; an unknown one is ignored, null foreign
       fields are as absent */
    fx_post(f, "/v1/responses",
            "{" M "\"input\":\"x\",\"store\":false,\"user\":\"u-7\",\"safety_identifier\":\"s-1\","
            "\"prompt_cache_key\":\"pk\",\"service_tier\":\"auto\",\"top_logprobs\":3,\"metadata\":{\"a\":\"b\"},"
            "\"stop\":null,\"max_tokens\":null,\"x_custom_field\":1,\"text\":{\"verbosity\":\"medium\"}}");
    if (!f->call) fail_msg("%d %s", f->sink.status, f->sink.body ? f->sink.body : "");
    fx_end(f, 1, ENGINE_FINISH_STOP, "ok");
    assert_int_equal(f->sink.status, 200);
    assert_string_equal(jget(f->sink.body, "user"), "u-7");
    assert_string_equal(jget(f->sink.body, "safety_identifier"), "s-1");
    assert_string_equal(jget(f->sink.body, "prompt_cache_key"), "pk");
    assert_string_equal(jget(f->sink.body, "service_tier"), "auto");
    assert_string_equal(jget(f->sink.body, "top_logprobs"), "3");
    assert_string_equal(jget(f->sink.body, "metadata.a"), "b");
    assert_null(strstr(f->sink.body, "x_custom_field"));
    /* a route under /v1/responses that does not exist, and a wrong method */
    fx_get(f, "GET", "/v1/responses/resp_1/other", NULL, NULL);
    assert_int_equal(f->sink.status, 404);
    fx_get(f, "PUT", "/v1/responses/resp_1", NULL, NULL);
    assert_int_equal(f->sink.status, 405);
    fx_free(f);
}

/* Input items -> chat messages: instructions first, developer as system, content parts joined, an assistant
   message replayed with its function_call joined to it, the tool output, a reasoning item left out, and the
   reasoning effort as a template variable. */
static void test_prompt_mapping(void **state) {
    fx_n_ctx = 512;
    const char *t = "{% for m in messages %}[{{ m.role }}] {{ m.content }}"
                    "{% if m.tool_calls %}{% for c in m.tool_calls %} call {{ c.id }} {{ c.function.name }}"
                    "({{ c.function.arguments }}){% endfor %}{% endif %}"
                    "{% if m.tool_call_id %} <- {{ m.tool_call_id }}{% endif %}{{ '\\n' }}{% endfor %}"
                    "{% if add_generation_prompt %}[assistant]{% endif %}({{ reasoning_effort }})";
    fx_t *f = fx_new_tmpl(NULL, 0, t, true, NULL, NULL);
    fx_post(f, "/v1/responses",
            "{" M "\"instructions\":\"Be kind.\",\"store\":false,\"reasoning\":{\"effort\":\"low\"},\"input\":["
            "{\"role\":\"developer\",\"content\":\"D\"},"
            "{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"Hi\"},"
            "{\"type\":\"input_text\",\"text\":\"there\"}]},"
            "{\"type\":\"message\",\"id\":\"msg_x\",\"role\":\"assistant\",\"status\":\"completed\",\"content\":["
            "{\"type\":\"output_text\",\"text\":\"Hello\",\"annotations\":[]}]},"
            "{\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_1\",\"name\":\"get\","
            "\"arguments\":\"{\\\"a\\\":1}\",\"status\":\"completed\"},"
            "{\"type\":\"function_call_output\",\"call_id\":\"call_1\",\"output\":\"42\"},"
            "{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[]},"
            "{\"role\":\"user\",\"content\":\"Thanks\"}]}");
    if (f->back.n != 1) fail_msg("%d %s", f->sink.status, f->sink.body ? f->sink.body : "");
    /* the fixture template has no tool format: the call and its output reach it as text (tools.c's generic form) */
    const char *text = "[system] Be kind.\n[system] D\n[user] Hi\nthere\n[assistant] Hello\n```tool_call\n"
                       "{\"name\":\"get\",\"arguments\":{\"a\":1}}\n```\n[user] Result of tool call call_1:\n42\n"
                       "[user] Thanks\n[assistant](low)";
    int32_t ids[512];
    size_t n = 0;
    assert_int_equal(tok_encode(f->tok, text, strlen(text), TOK_ADD_SPECIAL | TOK_PARSE_SPECIAL, ids, 512, &n), 0);
    if (f->back.req[0].n_prompt != n) {
        char got[2048];
        size_t gl = 0;
        tok_decode(f->tok, f->back.req[0].prompt, f->back.req[0].n_prompt, false, false, got, sizeof got - 1, &gl);
        got[gl] = '\0';
        fail_msg("prompt: %s", got);
    }
    assert_memory_equal(f->back.req[0].prompt, ids, n * sizeof *ids);
    /* the levels a harmony-style reasoning_effort knows: none and minimal ask for low, xhigh and max for high */
    static const char *const efforts[][2] = {
        {"minimal", "(low)"}, {"none", "(low)"}, {"xhigh", "(high)"}, {"max", "(high)"}, {"medium", "(medium)"}};
    for (size_t i = 0; i < 5; i++) {
        char body[256], got[2048];
        snprintf(body, sizeof body, "{" M "\"input\":\"x\",\"store\":false,\"reasoning\":{\"effort\":\"%s\"}}",
                 efforts[i][0]);
        fx_post(f, "/v1/responses", body);
        if (!f->call) fail_msg("%s: %d %s", efforts[i][0], f->sink.status, f->sink.body ? f->sink.body : "");
        const engine_req_t *q = &f->back.req[f->back.n - 1];
        size_t gl = 0;
        assert_int_equal(tok_decode(f->tok, q->prompt, q->n_prompt, false, false, got, sizeof got - 1, &gl), 0);
        got[gl] = '\0';
        if (gl < strlen(efforts[i][1]) || strcmp(got + gl - strlen(efforts[i][1]), efforts[i][1]))
            fail_msg("effort %s: prompt ends '%s'", efforts[i][0], got);
    }
    fx_free(f);
}

/* The whole stream, byte for byte (ids come from the first event; the rest is fixed by the fixture). */
static void test_stream_bytes(void **state) {
    fx_t *f = fx_new(NULL, 0);
    fx_post(f, "/v1/responses", "{" M "\"input\":\"Hi\",\"stream\":true,\"max_output_tokens\":8,\"temperature\":0.5}");
    assert_non_null(f->call);
    assert_true(f->sink.opened);
    fx_token(f, 0, 5, "Hi", 0, 0, NULL, NULL);
    fx_token(f, 0, 6, " \"yo\"", 0, 0, NULL, NULL);
    fx_end(f, 0, ENGINE_FINISH_STOP, NULL);
    assert_true(f->sink.closed);
    char rid[64], mid[64];
    snprintf(rid, sizeof rid, "%s", jget(strstr(f->sink.stream, "data: ") + 6, "response.id"));
    const char *added = strstr(f->sink.stream, "event: response.output_item.added\ndata: ");
    assert_non_null(added);
    snprintf(mid, sizeof mid, "%s", jget(strstr(added, "data: ") + 6, "item.id"));
    assert_int_equal(strncmp(rid, "resp_", 5), 0);
    assert_int_equal(strncmp(mid, "msg_", 4), 0);
    int32_t n_prompt = (int32_t)f->back.req[0].n_prompt;
    char settings[1024];
    snprintf(settings, sizeof settings,
             "\"instructions\":null,\"max_output_tokens\":8,\"max_tool_calls\":null,\"parallel_tool_calls\":true,"
             "\"previous_response_id\":null,\"reasoning\":{\"effort\":null,\"summary\":null},\"service_tier\":"
             "\"default\",\"store\":true,\"temperature\":0.5,\"text\":{\"format\":{\"type\":\"text\"},\"verbosity\":"
             "\"medium\"},\"tool_choice\":\"auto\",\"tools\":[],\"top_logprobs\":0,\"top_p\":1,\"truncation\":"
             "\"disabled\",\"user\":null,\"metadata\":{},\"safety_identifier\":null,\"prompt_cache_key\":null,"
             "\"background\":false");
    char head[256], item[256], done_item[512];
    snprintf(head, sizeof head, "\"id\":\"%s\",\"object\":\"response\",\"created_at\":%d", rid, FX_CREATED);
    snprintf(item, sizeof item, "\"item_id\":\"%s\",\"output_index\":0,\"content_index\":0", mid);
    snprintf(
        done_item, sizeof done_item,
        "{\"id\":\"%s\",\"type\":\"message\",\"status\":\"completed\",\"role\":\"assistant\",\"content\":[{\"type\":"
        "\"output_text\",\"text\":\"Hi \\\"yo\\\"\",\"annotations\":[],\"logprobs\":[]}]}",
        mid);
    char want[8192];
    snprintf(
        want, sizeof want,
        "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{%s,"
        "\"status\":\"in_progress\",\"error\":null,\"incomplete_details\":null,\"model\":\"stories260K\","
        "\"output\":[],\"usage\":null,%s}}\n\n"
        "event: response.in_progress\ndata: {\"type\":\"response.in_progress\",\"sequence_number\":1,\"response\":{%s,"
        "\"status\":\"in_progress\",\"error\":null,\"incomplete_details\":null,\"model\":\"stories260K\","
        "\"output\":[],\"usage\":null,%s}}\n\n"
        "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"sequence_number\":2,"
        "\"output_index\":0,\"item\":{\"id\":\"%s\",\"type\":\"message\",\"status\":\"in_progress\",\"role\":"
        "\"assistant\",\"content\":[]}}\n\n"
        "event: response.content_part.added\ndata: {\"type\":\"response.content_part.added\",\"sequence_number\":3,"
        "%s,\"part\":{\"type\":\"output_text\",\"text\":\"\",\"annotations\":[],\"logprobs\":[]}}\n\n"
        "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":4,"
        "%s,\"delta\":\"Hi\",\"logprobs\":[]}\n\n"
        "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":5,"
        "%s,\"delta\":\" \\\"yo\\\"\",\"logprobs\":[]}\n\n"
        "event: response.output_text.done\ndata: {\"type\":\"response.output_text.done\",\"sequence_number\":6,"
        "%s,\"text\":\"Hi \\\"yo\\\"\",\"logprobs\":[]}\n\n"
        "event: response.content_part.done\ndata: {\"type\":\"response.content_part.done\",\"sequence_number\":7,"
        "%s,\"part\":{\"type\":\"output_text\",\"text\":\"Hi \\\"yo\\\"\",\"annotations\":[],\"logprobs\":[]}}\n\n"
        "event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\",\"sequence_number\":8,"
        "\"output_index\":0,\"item\":%s}\n\n"
        "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":9,\"response\":{%s,"
        "\"status\":\"completed\",\"completed_at\":%d,\"error\":null,\"incomplete_details\":null,\"model\":"
        "\"stories260K\",\"output\":[%s],\"usage\":{\"input_tokens\":%d,\"input_tokens_details\":{\"cached_tokens\":0},"
        "\"output_tokens\":2,\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":%d},%s}}\n\n",
        head, settings, head, settings, mid, item, item, item, item, item, done_item, head, FX_CREATED, done_item,
        n_prompt, n_prompt + 2, settings);
    assert_string_equal(f->sink.stream, want);
    /* the stored copy is the completed response */
    char path[96];
    snprintf(path, sizeof path, "/v1/responses/%s", rid);
    fx_get(f, "GET", path, NULL, NULL);
    assert_int_equal(f->sink.status, 200);
    const char *last = strstr(want, "event: response.completed\ndata: ");
    char stored[4096];
    snprintf(stored, sizeof stored, "%s", strstr(last, "\"response\":{") + 11);
    stored[strlen(stored) - 3] = 0; /* without the event's closing brace and "\n\n" */
    assert_string_equal(f->sink.body, stored);
    fx_free(f);
}

/* max_output_tokens reached -> incomplete (and response.incomplete streamed); an engine error -> response.failed
   (stream) or 500; a shutdown mid-stream -> an `error` event. */
static void test_incomplete_failed(void **state) {
    fx_t *f = fx_new(NULL, 0);
    fx_post(f, "/v1/responses", "{" M "\"input\":\"Hi\",\"max_output_tokens\":1,\"store\":false}");
    assert_int_equal(f->back.req[0].max_tokens, 1);
    fx_token(f, 0, 5, "Hi", 0, 0, NULL, NULL);
    fx_end(f, 0, ENGINE_FINISH_LENGTH, NULL);
    assert_int_equal(f->sink.status, 200);
    assert_string_equal(jget(f->sink.body, "status"), "incomplete");
    assert_string_equal(jget(f->sink.body, "incomplete_details.reason"), "max_output_tokens");
    assert_string_equal(jget(f->sink.body, "output.0.status"), "incomplete");
    assert_string_equal(jget(f->sink.body, "store"), "false");
    assert_null(strstr(f->sink.body, "completed_at"));

    fx_post(f, "/v1/responses", "{" M "\"input\":\"Hi\",\"stream\":true}");
    fx_token(f, 1, 5, "Hi", 0, 0, NULL, NULL);
    fx_end(f, 1, ENGINE_FINISH_ERROR, NULL);
    assert_true(f->sink.closed);
    const char *ev = strstr(f->sink.stream, "event: response.failed\ndata: ");
    assert_non_null(ev);
    assert_string_equal(jget(strstr(ev, "data: ") + 6, "response.status"), "failed");
    assert_string_equal(jget(strstr(ev, "data: ") + 6, "response.error.code"), "server_error");
    assert_string_equal(jget(strstr(ev, "data: ") + 6, "sequence_number"), "5");

    int64_t rows0 = -1, rows = -1;
    assert_int_equal(resp_store_count(f->api->store, &rows0, NULL), 0);
    fx_post(f, "/v1/responses", "{" M "\"input\":\"Hi\"}");
    fx_end(f, 2, ENGINE_FINISH_ERROR, NULL);
    assert_int_equal(f->sink.status, 500);
    assert_string_equal(jget(f->sink.body, "error.type"), "server_error");
    /* a failed response is not stored */
    assert_int_equal(resp_store_count(f->api->store, &rows, NULL), 0);
    assert_int_equal(rows, rows0);

    /* shutdown mid-stream: an `error` event */
    fx_post(f, "/v1/responses", "{" M "\"input\":\"Hi\",\"stream\":true}");
    api_shutdown(f->api);
    fx_end(f, 3, ENGINE_FINISH_CANCELLED, NULL);
    /* created and in_progress went out; no item had opened yet */
    assert_non_null(strstr(f->sink.stream, "event: error\ndata: {\"type\":\"error\",\"sequence_number\":2,"));
    assert_true(f->sink.closed);
    fx_free(f);

    /* streamed and cut by max_output_tokens: the message item closes incomplete, then response.incomplete */
    f = fx_new(NULL, 0);
    fx_post(f, "/v1/responses", "{" M "\"input\":\"Hi\",\"stream\":true,\"max_output_tokens\":1}");
    fx_token(f, 0, 5, "Hi", 0, 0, NULL, NULL);
    fx_end(f, 0, ENGINE_FINISH_LENGTH, NULL);
    assert_true(f->sink.closed);
    const char *item = strstr(f->sink.stream, "event: response.output_item.done\ndata: ");
    assert_non_null(item);
    assert_string_equal(jget(strstr(item, "data: ") + 6, "item.status"), "incomplete");
    ev = strstr(f->sink.stream, "event: response.incomplete\ndata: ");
    assert_non_null(ev);
    assert_null(strstr(f->sink.stream, "response.completed"));
    ev = strstr(ev, "data: ") + 6;
    assert_string_equal(jget(ev, "response.status"), "incomplete");
    assert_string_equal(jget(ev, "response.incomplete_details.reason"), "max_output_tokens");
    assert_string_equal(jget(ev, "sequence_number"), "8"); /* after created, in_progress and the message's 6 */
    fx_free(f);
}

/* Stored: GET, input_items pages, a chained request sees the conversation, DELETE; /metrics counts. */
static void test_store_chain(void **state) {
    fx_n_ctx = 512;
    fx_t *f = fx_new(NULL, 0);
    fx_n_ctx = 128;
    fx_post(f, "/v1/responses",
            "{" M "\"instructions\":\"Sys\",\"input\":[{\"role\":\"user\",\"content\":\"A\"},{\"role\":\"user\","
            "\"content\":\"B\"},{\"role\":\"user\",\"content\":\"C\"}]}");
    fx_token(f, 0, 5, "ok", 0, 0, NULL, NULL);
    fx_end(f, 0, ENGINE_FINISH_STOP, NULL);
    assert_int_equal(f->sink.status, 200);
    char rid[64], path[128];
    snprintf(rid, sizeof rid, "%s", jget(f->sink.body, "id"));
    char *first = strdup(f->sink.body);
    snprintf(path, sizeof path, "/v1/responses/%s", rid);
    fx_get(f, "GET", path, NULL, NULL);
    assert_int_equal(f->sink.status, 200);
    assert_string_equal(f->sink.body, first);
    free(first);

    snprintf(path, sizeof path, "/v1/responses/%s/input_items", rid);
    fx_get(f, "GET", path, NULL, NULL); /* desc by default */
    assert_string_equal(jget(f->sink.body, "object"), "list");
    assert_string_equal(jget(f->sink.body, "data.0.content.0.text"), "C");
    assert_string_equal(jget(f->sink.body, "data.2.content.0.text"), "A");
    assert_string_equal(jget(f->sink.body, "has_more"), "false");
    fx_get(f, "GET", path, "limit=2&order=asc", NULL);
    assert_string_equal(jget(f->sink.body, "data.0.content.0.text"), "A");
    assert_string_equal(jget(f->sink.body, "data.1.content.0.text"), "B");
    assert_string_equal(jget(f->sink.body, "data.0.content.0.type"), "input_text");
    assert_string_equal(jget(f->sink.body, "has_more"), "true");
    char q[128], last[64];
    snprintf(last, sizeof last, "%s", jget(f->sink.body, "last_id"));
    assert_string_equal(last, jget(f->sink.body, "data.1.id"));
    snprintf(q, sizeof q, "order=asc&after=%s", last);
    fx_get(f, "GET", path, q, NULL);
    assert_string_equal(jget(f->sink.body, "data.0.content.0.text"), "C");
    assert_string_equal(jget(f->sink.body, "has_more"), "false");
    fx_get(f, "GET", path, "limit=0", NULL);
    assert_int_equal(f->sink.status, 400);
    fx_get(f, "GET", path, "order=sideways", NULL);
    assert_int_equal(f->sink.status, 400);

    /* chained: the stored conversation (without the old instructions) + the new input */
    char body[512];
    snprintf(body, sizeof body, "{" M "\"previous_response_id\":\"%s\",\"input\":\"D\",\"instructions\":\"New\"}", rid);
    fx_post(f, "/v1/responses", body);
    if (f->back.n != 2) fail_msg("%d %s", f->sink.status, f->sink.body);
    const char *text =
        "<|im_start|>system\nNew<|im_end|>\n<|im_start|>user\nA<|im_end|>\n<|im_start|>user\nB<|im_end|>\n"
        "<|im_start|>user\nC<|im_end|>\n<|im_start|>assistant\nok<|im_end|>\n<|im_start|>user\nD<|im_end|>\n"
        "<|im_start|>assistant\n";
    int32_t ids[512];
    size_t n = 0;
    assert_int_equal(tok_encode(f->tok, text, strlen(text), TOK_ADD_SPECIAL | TOK_PARSE_SPECIAL, ids, 512, &n), 0);
    assert_int_equal(f->back.req[1].n_prompt, n);
    assert_memory_equal(f->back.req[1].prompt, ids, n * sizeof *ids);
    fx_end(f, 1, ENGINE_FINISH_STOP, "!");
    assert_string_equal(jget(f->sink.body, "previous_response_id"), rid);

    fx_get(f, "GET", "/metrics", NULL, NULL);
    assert_non_null(strstr(f->sink.body, "cinder_responses_stored_total 2\n"));
    assert_non_null(strstr(f->sink.body, "cinder_responses_pruned_total 0\n"));

    snprintf(path, sizeof path, "/v1/responses/%s", rid);
    fx_get(f, "DELETE", path, NULL, NULL);
    assert_int_equal(f->sink.status, 200);
    assert_string_equal(jget(f->sink.body, "deleted"), "true");
    assert_string_equal(jget(f->sink.body, "id"), rid);
    fx_get(f, "GET", path, NULL, NULL);
    assert_int_equal(f->sink.status, 404);
    assert_string_equal(jget(f->sink.body, "error.param"), "response_id");
    assert_string_equal(jget(f->sink.body, "error.type"), "invalid_request_error");
    fx_get(f, "DELETE", path, NULL, NULL);
    assert_int_equal(f->sink.status, 404);
    fx_post(f, "/v1/responses", body); /* the chain's start is gone */
    assert_int_equal(f->sink.status, 400);
    assert_string_equal(jget(f->sink.body, "error.code"), "previous_response_not_found");
    fx_free(f);
}

/* A response stored under one key is a 404 (and no chain) under another. */
static void test_key_isolation(void **state) {
    const char *keys[] = {"sk-one", "sk-two"};
    fx_t *f = fx_new(keys, 2);
    fx_request(f, "POST", "/v1/responses", "Bearer sk-one", "{" M "\"input\":\"Hi\"}");
    fx_end(f, 0, ENGINE_FINISH_STOP, "x");
    assert_int_equal(f->sink.status, 200);
    char rid[64], path[128], body[256];
    snprintf(rid, sizeof rid, "%s", jget(f->sink.body, "id"));
    snprintf(path, sizeof path, "/v1/responses/%s", rid);
    fx_get(f, "GET", path, NULL, "Bearer sk-one");
    assert_int_equal(f->sink.status, 200);
    fx_get(f, "GET", path, NULL, "Bearer sk-two");
    assert_int_equal(f->sink.status, 404);
    fx_get(f, "DELETE", path, NULL, "Bearer sk-two");
    assert_int_equal(f->sink.status, 404);
    snprintf(body, sizeof body, "{" M "\"input\":\"more\",\"previous_response_id\":\"%s\"}", rid);
    fx_request(f, "POST", "/v1/responses", "Bearer sk-two", body);
    assert_int_equal(f->sink.status, 400);
    assert_string_equal(jget(f->sink.body, "error.code"), "previous_response_not_found");
    fx_get(f, "GET", path, NULL, NULL);
    assert_int_equal(f->sink.status, 401);
    fx_get(f, "GET", path, NULL, "Bearer sk-one"); /* still there for its owner */
    assert_int_equal(f->sink.status, 200);
    fx_free(f);
}

/* text.format json_schema reaches the engine as a grammar; truncation: auto drops the oldest messages. */
static void test_format_truncation(void **state) {
    fx_t *f = fx_new(NULL, 0);
    fx_post(f, "/v1/responses",
            "{" M "\"input\":\"x\",\"store\":false,\"text\":{\"format\":{\"type\":\"json_schema\",\"name\":\"out\","
            "\"strict\":true,\"schema\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},"
            "\"required\":[\"a\"],\"additionalProperties\":false}}}}");
    assert_int_equal(f->back.n, 1);
    assert_non_null(f->back.req[0].grammar);
    fx_end(f, 0, ENGINE_FINISH_STOP, "{\"a\":1}");
    assert_string_equal(jget(f->sink.body, "text.format.name"), "out");
    assert_string_equal(jget(f->sink.body, "output.0.content.0.text"), "{\"a\":1}");
    /* fx_n_ctx tokens of context: a long first message does not fit; with auto it is dropped */
    char body[8192];
    int k = snprintf(body, sizeof body,
                     "{" M "\"store\":false,\"max_output_tokens\":4,\"input\":["
                     "{\"role\":\"user\",\"content\":\"");
    for (int i = 0; i < 300; i++)
        k += snprintf(body + k, sizeof body - (size_t)k, "word ");
    snprintf(body + k, sizeof body - (size_t)k, "\"},{\"role\":\"user\",\"content\":\"short\"}]");
    char with[8300];
    snprintf(with, sizeof with, "%s}", body);
    fx_post(f, "/v1/responses", with);
    assert_int_equal(f->sink.status, 400);
    assert_string_equal(jget(f->sink.body, "error.code"), "context_length_exceeded");
    assert_string_equal(jget(f->sink.body, "error.param"), "input");
    snprintf(with, sizeof with, "%s,\"truncation\":\"auto\"}", body);
    fx_post(f, "/v1/responses", with);
    assert_int_equal(f->back.n, 2);
    const char *text = "<|im_start|>user\nshort<|im_end|>\n<|im_start|>assistant\n";
    int32_t ids[128];
    size_t n = 0;
    assert_int_equal(tok_encode(f->tok, text, strlen(text), TOK_ADD_SPECIAL | TOK_PARSE_SPECIAL, ids, 128, &n), 0);
    assert_int_equal(f->back.req[1].n_prompt, n);
    assert_memory_equal(f->back.req[1].prompt, ids, n * sizeof *ids);
    fx_free(f);
}

/* A thought, text and a function call streamed: the reasoning item closes when the text begins, the call's item
   opens once its name is known and its arguments stream as deltas that join to the final arguments, the message
   closes at the end; the final object lists the three in that order. */
static void test_function_call_events(void **state) {
    (void)state;
    FILE *fp = fopen(TEST_SHARED_DIR "/templates/jinja/Qwen-Qwen3-0.6B.jinja", "rb");
    assert_non_null(fp);
    char *src = calloc(1, 1 << 16);
    assert_true(fread(src, 1, (1 << 16) - 1, fp) > 0);
    fclose(fp);
    fx_n_ctx = 4096;
    fx_t *f = fx_new_tmpl(NULL, 0, src, true, NULL, NULL);
    free(src);
    fx_post(f, "/v1/responses",
            "{" M "\"input\":\"Weather?\",\"stream\":true,\"store\":false,\"tools\":[{\"type\":\"function\","
            "\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":"
            "\"string\"}}}}]}");
    if (!f->call) fail_msg("%d %s", f->sink.status, f->sink.body ? f->sink.body : "");
    assert_non_null(f->back.req[0].grammar);
    const char *out = "<think>\nhm\n</think>\n\nSure.<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
                      "{\"city\": \"Rome\"}}\n</tool_call>";
    for (const char *p = out; *p; p += 3) {
        char piece[4] = {0};
        memcpy(piece, p, strnlen(p, 3));
        fx_token(f, 0, 7, piece, 0, 0, NULL, NULL);
    }
    fx_end(f, 0, ENGINE_FINISH_STOP, NULL);
    assert_true(f->sink.closed);
    /* the event types in order, deltas collapsed */
    char seq[2048] = "", args[256] = "", last[96] = "";
    for (const char *e = f->sink.stream; (e = strstr(e, "event: ")) != NULL; e += 7) {
        char type[96];
        sscanf(e + 7, "%95s", type);
        if (!strcmp(type, "response.function_call_arguments.delta"))
            strncat(args, jget(strstr(e, "data: ") + 6, "delta"), sizeof args - strlen(args) - 1);
        if (strcmp(type, last)) {
            strncat(seq, type, sizeof seq - strlen(seq) - 2);
            strcat(seq, " ");
        }
        snprintf(last, sizeof last, "%s", type);
    }
    assert_string_equal(seq, "response.created response.in_progress response.output_item.added "
                             "response.content_part.added response.reasoning_text.delta response.reasoning_text.done "
                             "response.content_part.done response.output_item.done response.output_item.added "
                             "response.content_part.added response.output_text.delta response.output_item.added "
                             "response.function_call_arguments.delta response.function_call_arguments.done "
                             "response.output_item.done response.output_text.done response.content_part.done "
                             "response.output_item.done response.completed ");
    assert_string_equal(args, "{\"city\": \"Rome\"}");
    const char *done = strstr(f->sink.stream, "event: response.completed\ndata: ");
    assert_non_null(done);
    done = strstr(done, "data: ") + 6;
    assert_string_equal(jget(done, "response.output.0.type"), "reasoning");
    assert_non_null(strstr(jget(done, "response.output.0.content.0.text"), "hm"));
    assert_string_equal(jget(done, "response.output.1.type"), "message");
    assert_string_equal(jget(done, "response.output.1.content.0.text"), "Sure.");
    assert_string_equal(jget(done, "response.output.2.type"), "function_call");
    assert_string_equal(jget(done, "response.output.2.arguments"), "{\"city\": \"Rome\"}");
    assert_int_equal(strncmp(jget(done, "response.output.2.call_id"), "call_", 5), 0);
    assert_true(atoi(jget(done, "response.usage.output_tokens_details.reasoning_tokens")) > 0);
    /* reasoning.effort none reaches Qwen3's template as enable_thinking false: an empty thought in the prompt */
    fx_post(f, "/v1/responses", "{" M "\"input\":\"Hi\",\"store\":false,\"reasoning\":{\"effort\":\"none\"}}");
    assert_non_null(f->call);
    char text[8192];
    size_t n = 0;
    assert_int_equal(
        tok_decode(f->tok, f->back.req[1].prompt, f->back.req[1].n_prompt, true, false, text, sizeof text - 1, &n), 0);
    text[n] = '\0';
    assert_non_null(strstr(text, "<think>\n\n</think>\n\n"));
    fx_free(f);
}

/* ---- a crash between the store write and the reply ------------------------------------------------------------ */

static int crash_fd = -1;

/* The sink's respond: the process dies at the moment the reply would go out (the body goes to the parent first,
   to compare with what was stored). */
static void crash_respond(api_sink_t *s, int status, const api_header_t *h, size_t nh, const char *body, size_t len) {
    (void)s, (void)h, (void)nh;
    if (status != 200 || write(crash_fd, body, len) != (ssize_t)len) _exit(4);
    _exit(0);
}

/* The stream's writes: the same death at the terminal event's frame; the others are dropped. */
static void crash_write(api_sink_t *s, const char *d, size_t n) {
    (void)s;
    static const char done[] = "event: response.completed\n";
    if (n < sizeof done - 1 || memcmp(d, done, sizeof done - 1)) return;
    if (write(crash_fd, d, n) != (ssize_t)n) _exit(4);
    _exit(0);
}

/* Runs one response in a child that dies (no close, no free, nothing flushed) right where its reply would be
   written; returns what it was about to send (malloc'd). */
static char *crash_child(bool stream) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        crash_fd = fds[1];
        fx_t *f = fx_new(NULL, 0);
        fx_post(f, "/v1/responses", stream ? "{" M "\"input\":\"Hi\",\"stream\":true}" : "{" M "\"input\":\"Hi\"}");
        if (!f->call) _exit(2);
        f->sink.sink.respond = crash_respond;
        f->sink.sink.stream_write = crash_write;
        fx_token(f, 0, 5, "Hello", 0, 0, NULL, NULL);
        fx_end(f, 0, ENGINE_FINISH_STOP, NULL);
        _exit(3); /* the reply was never attempted */
    }
    close(fds[1]);
    char *got = calloc(1, 65536);
    assert_non_null(got);
    size_t n = 0;
    ssize_t k;
    while (n < 65535 && (k = read(fds[0], got + n, 65535 - n)) > 0)
        n += (size_t)k;
    close(fds[0]);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    return got;
}

/* The response a client would have received is in the store after the crash, byte for byte, for a plain reply
   and for a stream's response.completed; a store that cannot take the response (over responses_max_bytes)
   means no 200 and no response.completed: the client is told it failed. */
static void test_crash_between_store_and_reply(void **state) {
    (void)state;
    char *body = crash_child(false);
    char id[64];
    snprintf(id, sizeof id, "%s", jget(body, "id"));
    assert_int_equal(strncmp(id, "resp_", 5), 0);
    assert_string_equal(jget(body, "output.0.content.0.text"), "Hello");
    resp_store_t *st = NULL;
    char err[256] = "", *stored = NULL;
    assert_int_equal(resp_store_open(store_path, NULL, &st, err, sizeof err), 0);
    assert_int_equal(resp_store_get(st, NULL, id, &stored, NULL, NULL, err, sizeof err), 0);
    assert_string_equal(stored, body);
    free(stored);
    free(body);

    char *frame = crash_child(true);
    const char *data = strstr(frame, "data: ");
    assert_non_null(data);
    snprintf(id, sizeof id, "%s", jget(data + 6, "response.id"));
    assert_int_equal(strncmp(id, "resp_", 5), 0);
    assert_string_equal(jget(data + 6, "response.status"), "completed");
    char *want = strdup(strstr(data, "\"response\":{") + 11);
    want[strlen(want) - 3] = '\0'; /* without the event's closing brace and "\n\n" */
    assert_int_equal(resp_store_get(st, NULL, id, &stored, NULL, NULL, err, sizeof err), 0);
    assert_string_equal(stored, want);
    free(stored);
    free(want);
    free(frame);
    resp_store_close(st);

    /* the store refuses the write: no 200, no response.completed */
    fx_responses_max_bytes = 64;
    fx_t *f = fx_new(NULL, 0);
    fx_responses_max_bytes = 0;
    fx_post(f, "/v1/responses", "{" M "\"input\":\"Hi\"}");
    fx_end(f, 0, ENGINE_FINISH_STOP, "Hello");
    assert_int_equal(f->sink.status, 500);
    assert_non_null(strstr(f->sink.body, "could not be stored"));
    fx_post(f, "/v1/responses", "{" M "\"input\":\"Hi\",\"stream\":true}");
    fx_end(f, 1, ENGINE_FINISH_STOP, "Hello");
    assert_true(f->sink.closed);
    assert_null(strstr(f->sink.stream, "event: response.completed"));
    assert_non_null(strstr(f->sink.stream, "event: error\ndata: {\"type\":\"error\""));
    fx_post(f, "/v1/responses", "{" M "\"input\":\"Hi\",\"store\":false}"); /* not stored: not refused */
    fx_end(f, 2, ENGINE_FINISH_STOP, "Hello");
    assert_int_equal(f->sink.status, 200);
    fx_free(f);
}

/* usage.input_tokens_details.cached_tokens is the END event's prefix-cache hits; a client that disconnects
   cancels the generation, and nothing is stored or written after it. */
static void test_cached_tokens_and_disconnect(void **state) {
    (void)state;
    fx_t *f = fx_new(NULL, 0);
    fx_post(f, "/v1/responses", "{" M "\"input\":\"Hi\",\"store\":false}");
    engine_event_t end = {.type = ENGINE_EV_END,
                          .id = f->back.id[0],
                          .finish = ENGINE_FINISH_STOP,
                          .text = "ok",
                          .text_len = 2,
                          .n_prompt = (int32_t)f->back.req[0].n_prompt,
                          .n_cached = 16};
    f->back.ended[0] = true;
    api_event(f->back.req[0].user, &end);
    assert_int_equal(f->sink.status, 200);
    assert_string_equal(jget(f->sink.body, "usage.input_tokens_details.cached_tokens"), "16");

    int64_t rows0 = -1, rows = -1;
    assert_int_equal(resp_store_count(f->api->store, &rows0, NULL), 0);
    fx_post(f, "/v1/responses", "{" M "\"input\":\"Hi\",\"stream\":true}");
    fx_token(f, 1, 5, "Hi", 0, 0, NULL, NULL);
    api_call_release(f->call); /* the client went away */
    f->call = NULL;
    assert_true(fx_was_cancelled(&f->back, f->back.id[1]));
    fx_end(f, 1, ENGINE_FINISH_CANCELLED, NULL);
    assert_int_equal(f->sink.n_writes_after_close, 0);
    assert_null(strstr(f->sink.stream, "response.completed"));
    assert_int_equal(resp_store_count(f->api->store, &rows, NULL), 0);
    assert_int_equal(rows, rows0);
    fx_free(f);
}

/* The store's limits reach /metrics: responses pruned for size are counted, and are 404 afterwards. */
static void test_pruned_metric(void **state) {
    (void)state;
    char path[160];
    snprintf(path, sizeof path, "%s/pruned.db", store_dir);
    fx_responses_store = path;
    fx_responses_max_bytes = 4000; /* a response here is about 1.2 KB of JSON with its items: three fit */
    fx_t *f = fx_new(NULL, 0);
    fx_responses_store = store_path;
    fx_responses_max_bytes = 0;
    char first[64] = "";
    for (int i = 0; i < 5; i++) {
        fx_post(f, "/v1/responses", "{" M "\"input\":\"Hi\"}");
        fx_end(f, i, ENGINE_FINISH_STOP, "Hello");
        assert_int_equal(f->sink.status, 200);
        if (i == 0) snprintf(first, sizeof first, "%s", jget(f->sink.body, "id"));
    }
    fx_get(f, "GET", "/metrics", NULL, NULL);
    const char *p = strstr(f->sink.body, "\ncinder_responses_pruned_total "); /* the sample, not its HELP line */
    assert_non_null(p);
    long pruned = strtol(p + strlen("\ncinder_responses_pruned_total "), NULL, 10);
    assert_non_null(strstr(f->sink.body, "cinder_responses_stored_total 5\n"));
    int64_t rows = 0, bytes = 0;
    assert_int_equal(resp_store_count(f->api->store, &rows, &bytes), 0);
    if (pruned < 1) fail_msg("pruned %ld, %lld rows of %lld bytes", pruned, (long long)rows, (long long)bytes);
    assert_int_equal(rows + pruned, 5);
    char get[128];
    snprintf(get, sizeof get, "/v1/responses/%s", first);
    fx_get(f, "GET", get, NULL, NULL);
    assert_int_equal(f->sink.status, 404);
    fx_free(f);
}

/* include message.output_text.logprobs: the engine is asked for logprobs and top_logprobs alternatives, and the
   output_text part lists the tokens that made the message's text, exactly as chat's logprobs.content does; without
   include there are none (top_logprobs alone asks for nothing, as on OpenAI). Streamed with a thought and a call,
   the reasoning's and the call's tokens are left out, and the deltas' entries join to the final list. */
static void test_logprobs(void **state) {
    (void)state;
    fx_t *f = fx_new(NULL, 0);
    int32_t t_a = fx_token_id(f, "a"), t_b = fx_token_id(f, "b"), t_c = fx_token_id(f, "c");
    assert_true(t_a >= 0 && t_b >= 0 && t_c >= 0);
    const int32_t top[2] = {t_b, t_a};
    const float top_lp[2] = {-0.25f, -3.5f};
    fx_post(f, "/v1/responses", "{" M "\"input\":\"Hi\",\"store\":false,\"top_logprobs\":2}");
    assert_false(f->back.req[0].logprobs);
    fx_end(f, 0, ENGINE_FINISH_STOP, "ab");
    assert_non_null(strstr(f->sink.body, "\"logprobs\":[]"));

    fx_post(f, "/v1/responses",
            "{" M "\"input\":\"Hi\",\"store\":false,\"top_logprobs\":2,"
            "\"include\":[\"message.output_text.logprobs\"]}");
    assert_non_null(f->call);
    assert_true(f->back.req[1].logprobs);
    assert_int_equal(f->back.req[1].n_top_logprobs, 2);
    fx_token(f, 1, t_a, "a", -1.5f, 2, top, top_lp);
    fx_token(f, 1, t_b, "b", -0.25f, 1, top, top_lp);
    fx_end(f, 1, ENGINE_FINISH_STOP, NULL);
    assert_int_equal(f->sink.status, 200);
    const char *want =
        "\"content\":[{\"type\":\"output_text\",\"text\":\"ab\",\"annotations\":[],\"logprobs\":["
        "{\"token\":\"a\",\"logprob\":-1.5,\"bytes\":[97],\"top_logprobs\":[{\"token\":\"b\",\"logprob\":-0.25,"
        "\"bytes\":[98]},{\"token\":\"a\",\"logprob\":-3.5,\"bytes\":[97]}]},"
        "{\"token\":\"b\",\"logprob\":-0.25,\"bytes\":[98],\"top_logprobs\":[{\"token\":\"b\",\"logprob\":-0.25,"
        "\"bytes\":[98]}]}]}]";
    if (!strstr(f->sink.body, want)) fail_msg("%s", f->sink.body);
    assert_string_equal(jget(f->sink.body, "top_logprobs"), "2");
    fx_free(f);

    FILE *fp = fopen(TEST_SHARED_DIR "/templates/jinja/Qwen-Qwen3-0.6B.jinja", "rb");
    assert_non_null(fp);
    char *src = calloc(1, 1 << 16);
    assert_non_null(src);
    assert_true(fread(src, 1, (1 << 16) - 1, fp) > 0);
    fclose(fp);
    fx_n_ctx = 4096;
    f = fx_new_tmpl(NULL, 0, src, true, NULL, NULL);
    free(src);
    fx_post(f, "/v1/responses",
            "{" M
            "\"input\":\"Weather?\",\"stream\":true,\"store\":false,\"include\":[\"message.output_text.logprobs\"],"
            "\"tools\":[{\"type\":\"function\",\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\","
            "\"properties\":{\"city\":{\"type\":\"string\"}}}}]}");
    if (!f->call) fail_msg("%d %s", f->sink.status, f->sink.body ? f->sink.body : "");
    fx_token(f, 0, t_a, "<think>\nhm\n</think>\n\n", -0.5f, 0, NULL, NULL);
    fx_token(f, 0, t_b, "Sure", -1.5f, 0, NULL, NULL);
    fx_token(f, 0, t_c, ".", -2.5f, 0, NULL, NULL);
    fx_token(f, 0, t_a, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}\n</tool_call>",
             -0.75f, 0, NULL, NULL);
    fx_end(f, 0, ENGINE_FINISH_STOP, NULL);
    assert_true(f->sink.closed);
    const char *b = "{\"token\":\"b\",\"logprob\":-1.5,\"bytes\":[98],\"top_logprobs\":[]}";
    const char *c = "{\"token\":\"c\",\"logprob\":-2.5,\"bytes\":[99],\"top_logprobs\":[]}";
    char joined[512] = "", all[256];
    snprintf(all, sizeof all, "\"logprobs\":[%s,%s]", b, c);
    int deltas = 0;
    for (const char *e = f->sink.stream; (e = strstr(e, "event: response.output_text.delta\n")) != NULL; e++) {
        const char *lp = strstr(e, "\"logprobs\":[");
        assert_non_null(lp);
        lp += strlen("\"logprobs\":[");
        const char *end = strstr(lp, "]}\n\n");
        assert_non_null(end);
        if (end > lp)
            snprintf(joined + strlen(joined), sizeof joined - strlen(joined), "%s%.*s", joined[0] ? "," : "",
                     (int)(end - lp), lp);
        deltas++;
    }
    assert_true(deltas >= 1);
    char want_joined[256];
    snprintf(want_joined, sizeof want_joined, "%s,%s", b, c);
    assert_string_equal(joined, want_joined);
    const char *done = strstr(f->sink.stream, "event: response.output_text.done\n");
    assert_non_null(done);
    assert_non_null(strstr(done, all));
    const char *completed = strstr(f->sink.stream, "event: response.completed\n");
    assert_non_null(completed);
    assert_non_null(strstr(completed, all));
    assert_string_equal(jget(strstr(completed, "data: ") + 6, "response.output.1.content.0.text"), "Sure.");
    assert_string_equal(jget(strstr(completed, "data: ") + 6, "response.output.2.type"), "function_call");
    fx_free(f);
    fx_n_ctx = 128;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_prompt_mapping),
        cmocka_unit_test(test_stream_bytes),
        cmocka_unit_test(test_function_call_events),
        cmocka_unit_test(test_incomplete_failed),
        cmocka_unit_test(test_store_chain),
        cmocka_unit_test(test_key_isolation),
        cmocka_unit_test(test_format_truncation),
        cmocka_unit_test(test_crash_between_store_and_reply),
        cmocka_unit_test(test_cached_tokens_and_disconnect),
        cmocka_unit_test(test_pruned_metric),
        cmocka_unit_test(test_logprobs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
