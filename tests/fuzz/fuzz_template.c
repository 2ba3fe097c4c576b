/*
 * fuzz_template.c — libFuzzer target for the Jinja chat-template engine: lexer, parser and evaluator.
 *
 * Input: template source, optionally followed by a NUL byte and a JSON context. When the context part is absent
 * or not a JSON object, a fixed chat context (messages with a tool call, tools, special tokens) is used, so
 * templates exercise realistic data. Every input must compile-and-render or fail with a message; anything
 * ASan/UBSan/LSan reports, or an empty error message on failure, is a bug. Renders run under small limits so
 * runaway loops end quickly.
 *
 * Build (`make fuzz-template`): clang with -fsanitize=fuzzer,address,undefined over this file, every .c file of
 * api/template and common/err.c, linked with libcjson and -lm. Run with the real templates as seeds and
 * tests/fuzz/template.dict as the dictionary:
 *   build/fuzz/fuzz_template build/fuzz/corpus TEST_SHARED_DIR/templates/jinja -dict=tests/fuzz/template.dict
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "template/tmpl.h"

static const char default_context[] =
    "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\", \"add_generation_prompt\": true,"
    " \"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"},"
    " {\"role\": \"user\", \"content\": \"Weather in Paris? \\u00e9\\u65e5 {{ x }}\"},"
    " {\"role\": \"assistant\", \"content\": \"\", \"tool_calls\": [{\"id\": \"call_1\", \"type\": \"function\","
    " \"function\": {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}}]},"
    " {\"role\": \"tool\", \"tool_call_id\": \"call_1\", \"content\": \"{\\\"t\\\": 18}\"}],"
    " \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get it\","
    " \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"},"
    " \"unit\": {\"type\": \"string\", \"enum\": [\"c\", \"f\"]}}, \"required\": [\"city\"]}}}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *src = (const char *)data;
    const char *nul = memchr(data, 0, size);
    size_t src_len = nul ? (size_t)(nul - src) : size;
    cJSON *ctx = NULL;
    if (nul) {
        ctx = cJSON_ParseWithLength(nul + 1, size - src_len - 1);
        if (ctx && !cJSON_IsObject(ctx)) {
            cJSON_Delete(ctx);
            ctx = NULL;
        }
    }
    if (!ctx) ctx = cJSON_Parse(default_context);

    tmpl_t *t = NULL;
    char err[512];
    err[0] = 0;
    if (tmpl_compile(src, src_len, &t, err, sizeof(err)) == 0) {
        tmpl_render_opts_t opts;
        tmpl_render_opts_default(&opts);
        opts.now = 1795651200;
        opts.max_output_bytes = 1u << 20;
        opts.max_alloc_bytes = 64u << 20;
        opts.max_steps = 20000;
        opts.max_depth = 40;
        char *out = NULL;
        size_t out_len = 0;
        err[0] = 0;
        int rc = tmpl_render(t, ctx, &opts, &out, &out_len, err, sizeof(err));
        if (rc != 0 && (out != NULL || err[0] == 0)) abort(); /* a failure must explain itself */
        if (rc == 0 && (out == NULL || out[out_len] != 0)) abort();
        free(out);
    } else if (t != NULL || err[0] == 0) {
        abort();
    }
    tmpl_free(t);
    cJSON_Delete(ctx);
    return 0;
}
