/*
 * test_config.c — config/: defaults (and that they match the engine's and the server's), the precedence of
 * file < environment < flags for scalars, lists and per-model settings, one validation error per kind of
 * mistake (each must name its key, variable or flag), the example file (parses, and documents every key),
 * --print-config output that loads back to the same configuration, and --help listing every setting.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "config/config_int.h"
#include "engine.h"
#include "err.h"
#include "server.h"

#define MAXARGS 32

/* Writes text to a fresh temporary file; its path goes to path (64 bytes). */
static void tmp_file(const char *text, char *path) {
    snprintf(path, 64, "/tmp/cinder-test-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
}

/* config_load with argv "serve" + the NULL-terminated args, and an explicit environment. */
static int load(config_t *c, char *err, const char *const *env, const char *const *args) {
    char *argv[MAXARGS] = {"serve"};
    int argc = 1;
    for (; args && args[argc - 1]; argc++)
        argv[argc] = (char *)args[argc - 1];
    static const char *const empty_env[] = {NULL};
    err[0] = '\0';
    return config_load(argc, argv, env ? env : empty_env, c, err, 512);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define ENV(...)  ((const char *const[]){__VA_ARGS__, NULL})

static void test_defaults(void **state) {
    config_t c;
    char err[512];
    assert_int_equal(load(&c, err, NULL, ARGS("-m", "x.gguf")), 0);
    server_params_t sp = server_default_params();
    engine_params_t ep = engine_default_params();
    assert_string_equal(c.host, sp.host);
    assert_int_equal(c.port, sp.port);
    assert_int_equal(c.max_body_bytes, (int64_t)sp.max_body_bytes);
    assert_int_equal(c.max_header_bytes, (int64_t)sp.max_header_bytes);
    assert_int_equal(c.max_connections, (int32_t)sp.max_connections);
    assert_int_equal(c.timeout_s, (int32_t)sp.idle_timeout_s);
    assert_int_equal(c.header_timeout_s, (int32_t)sp.header_timeout_s);
    assert_int_equal(c.min_body_rate, (int32_t)sp.min_body_rate);
    assert_int_equal(c.max_connections_per_ip, (int32_t)sp.max_connections_per_ip);
    assert_int_equal(c.stream_buffer_bytes, (int64_t)sp.stream_buffer_bytes);
    assert_null(c.metrics_api_key);
    assert_int_equal(c.n_models, 1);
    const config_model_t *m = &c.models[0];
    assert_string_equal(m->model, "x.gguf");
    assert_null(m->alias);
    assert_null(m->chat_template);
    assert_int_equal(m->ctx_size, ep.n_ctx);
    assert_int_equal(m->parallel, ep.n_parallel);
    assert_int_equal(m->max_queue, ep.max_queue);
    assert_int_equal(m->batch_size, ep.n_batch);
    assert_int_equal(m->kv_tokens, ep.kv_tokens);
    assert_int_equal(m->threads, ep.n_threads);
    assert_int_equal(c.log_level, LOG_INFO);
    assert_int_equal(c.log_format, LOG_FORMAT_LOGFMT);
    assert_true(c.memory_check);
    assert_false(c.quiet);
    assert_int_equal(c.n_api_keys, 0);
    assert_null(c.config_file);
    assert_string_equal(c.env.hf_endpoint, CONFIG_HF_ENDPOINT_DEFAULT);
    config_free(&c);
    config_free(NULL);
}

/* Each layer overrides the one below it, key by key. */
static void test_precedence(void **state) {
    char file[64], err[512];
    tmp_file("{\"port\": 9000, \"host\": \"0.0.0.0\", \"timeout\": 7, \"api_keys\": [\"f1\", \"f2\"],"
             " \"log_format\": \"json\", \"models\": [{\"model\": \"a.gguf\", \"ctx_size\": 100}]}",
             file);
    char cfg_env[128];
    snprintf(cfg_env, sizeof cfg_env, "CINDER_CONFIG=%s", file);
    config_t c;

    /* the file alone (named by the variable) */
    assert_int_equal(load(&c, err, ENV(cfg_env), NULL), 0);
    assert_string_equal(c.config_file, file);
    assert_int_equal(c.port, 9000);
    assert_string_equal(c.host, "0.0.0.0");
    assert_int_equal(c.timeout_s, 7);
    assert_int_equal(c.log_format, LOG_FORMAT_JSON);
    assert_int_equal(c.n_api_keys, 2);
    assert_string_equal(c.api_keys[1], "f2");
    assert_int_equal(c.n_models, 1);
    assert_string_equal(c.models[0].model, "a.gguf");
    assert_int_equal(c.models[0].ctx_size, 100);
    assert_int_equal(c.max_connections, 256); /* not in the file: the default */
    config_free(&c);

    /* environment over file */
    assert_int_equal(load(&c, err,
                          ENV(cfg_env, "CINDER_PORT=9100", "CINDER_API_KEYS=e1,,e2,e3", "CINDER_CTX_SIZE=200",
                              "CINDER_BIN=./cinder", "CINDER_LOG_FORMAT=logfmt"),
                          NULL),
                     0);
    assert_int_equal(c.port, 9100);
    assert_string_equal(c.host, "0.0.0.0");
    assert_int_equal(c.n_api_keys, 3); /* replaced, empty items skipped */
    assert_string_equal(c.api_keys[0], "e1");
    assert_string_equal(c.api_keys[2], "e3");
    assert_int_equal(c.models[0].ctx_size, 200);
    assert_string_equal(c.models[0].model, "a.gguf");
    assert_int_equal(c.log_format, LOG_FORMAT_LOGFMT);
    config_free(&c);

    /* flags over environment; --config on the command line beats CINDER_CONFIG; --flag=value works */
    char other[64];
    tmp_file("{\"port\": 1234, \"models\": [{\"model\": \"b.gguf\"}]}", other);
    assert_int_equal(load(&c, err, ENV(cfg_env, "CINDER_PORT=9100", "CINDER_API_KEYS=e1", "CINDER_CTX_SIZE=200"),
                          ARGS("--config", other, "--port=9200", "--api-key", "k1", "--api-key", "k2", "-c", "300")),
                     0);
    assert_string_equal(c.config_file, other);
    assert_int_equal(c.port, 9200);
    assert_string_equal(c.host, "127.0.0.1"); /* the other file does not set it */
    assert_int_equal(c.n_api_keys, 2);
    assert_string_equal(c.api_keys[0], "k1");
    assert_string_equal(c.api_keys[1], "k2");
    assert_string_equal(c.models[0].model, "b.gguf");
    assert_int_equal(c.models[0].ctx_size, 300);
    config_free(&c);

    /* a flag given twice: the last wins */
    assert_int_equal(load(&c, err, NULL, ARGS("-m", "x", "--port", "1", "--port", "2", "--quiet")), 0);
    assert_int_equal(c.port, 2);
    assert_true(c.quiet);
    config_free(&c);
    unlink(file);
    unlink(other);
}

/* Several models: per-model variables and flags apply to each; -m / CINDER_MODEL replaces the list. */
static void test_models(void **state) {
    char file[64], err[512], cfg_env[128];
    tmp_file(
        "{\"models\": [{\"model\": \"a.gguf\", \"alias\": \"A\", \"parallel\": 2},"
        " {\"_note\": \"second\", \"model\": \"org/repo:Q8_0\", \"kv_tokens\": 4096, \"chat_template\": \"t.jinja\"}]}",
        file);
    snprintf(cfg_env, sizeof cfg_env, "CINDER_CONFIG=%s", file);
    config_t c;
    assert_int_equal(load(&c, err, ENV(cfg_env), NULL), 0);
    assert_int_equal(c.n_models, 2);
    assert_string_equal(c.models[0].alias, "A");
    assert_int_equal(c.models[0].parallel, 2);
    assert_int_equal(c.models[0].kv_tokens, 0);
    assert_null(c.models[1].alias);
    assert_int_equal(c.models[1].parallel, 0); /* the model's default */
    assert_int_equal(c.models[1].kv_tokens, 4096);
    assert_string_equal(c.models[1].chat_template, "t.jinja");
    config_free(&c);

    assert_int_equal(load(&c, err, ENV(cfg_env, "CINDER_THREADS=3"), ARGS("-np", "4")), 0);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(c.models[i].threads, 3);
        assert_int_equal(c.models[i].parallel, 4);
    }
    config_free(&c);

    assert_int_equal(load(&c, err, ENV(cfg_env, "CINDER_MODEL=env.gguf"), NULL), 0);
    assert_int_equal(c.n_models, 1);
    assert_string_equal(c.models[0].model, "env.gguf");
    assert_int_equal(c.models[0].parallel, 0); /* a fresh model: the file's settings are gone with it */
    config_free(&c);

    assert_int_equal(load(&c, err, ENV(cfg_env, "CINDER_MODEL=env.gguf"), ARGS("-m", "flag.gguf", "--alias", "F")), 0);
    assert_int_equal(c.n_models, 1);
    assert_string_equal(c.models[0].model, "flag.gguf");
    assert_string_equal(c.models[0].alias, "F");
    config_free(&c);

    /* an alias cannot name two models */
    assert_int_equal(load(&c, err, ENV(cfg_env, "CINDER_ALIAS=x"), NULL), ERR_INVAL);
    assert_non_null(strstr(err, "CINDER_ALIAS: names one model"));
    assert_int_equal(load(&c, err, ENV(cfg_env), ARGS("--alias", "x")), ERR_INVAL);
    assert_non_null(strstr(err, "--alias: names one model"));
    unlink(file);
}

/* A file with one mistake: config_load fails with rc and an error containing want (the key's path). */
static void expect_file_error(const char *text, int rc, const char *want) {
    char file[64], err[512], cfg_env[128];
    tmp_file(text, file);
    snprintf(cfg_env, sizeof cfg_env, "CINDER_CONFIG=%s", file);
    config_t c;
    int got = load(&c, err, ENV(cfg_env), NULL);
    char prefixed[600];
    snprintf(prefixed, sizeof prefixed, "%s%s", want[0] == ':' ? "" : ": ", want);
    if (got != rc || !strstr(err, file) || !strstr(err, prefixed)) {
        fprintf(stderr, "file  %s\nrc    %d (want %d)\nerr   %s\nwant  %s\n", text, got, rc, err, want);
        fail();
    }
    assert_null(c.models); /* zeroed on error */
    unlink(file);
}

static void test_file_errors(void **state) {
    expect_file_error("{\"prot\": 80}", ERR_INVAL, "prot: unknown key (did you mean 'port'?)");
    expect_file_error("{\"zzzzzz\": 80}", ERR_INVAL, "zzzzzz: unknown key");
    expect_file_error("{\"port\": \"80\"}", ERR_INVAL, "port: expected an integer from 0 to 65535, got \"80\"");
    expect_file_error("{\"port\": 70000}", ERR_INVAL, "port: expected an integer from 0 to 65535, got 70000");
    expect_file_error("{\"models\": [{\"model\": \"a\"}, {\"model\": \"b\", \"ctx_size\": 1.5}]}", ERR_INVAL,
                      "models[1].ctx_size: expected an integer from 0 to 16777216, got 1.5");
    expect_file_error("{\"models\": [{\"model\": \"a\", \"parallel\": -1}]}", ERR_INVAL,
                      "models[0].parallel: expected an integer from 0 to 1024, got -1");
    expect_file_error("{\"models\": [{\"alias\": \"x\"}]}", ERR_INVAL, "models[0].model: required");
    expect_file_error("{\"models\": [{\"model\": \"\"}]}", ERR_INVAL,
                      "models[0].model: expected a non-empty string, got \"\"");
    expect_file_error("{\"models\": [{\"model\": \"a\", \"ctx\": 1}]}", ERR_INVAL,
                      "models[0].ctx: unknown key (did you mean 'ctx_size'?)");
    expect_file_error("{\"ctx_size\": 5}", ERR_INVAL, "ctx_size: a per-model setting");
    expect_file_error("{\"models\": [{\"model\": \"a\", \"port\": 1}]}", ERR_INVAL,
                      "models[0].port: a server-wide setting");
    expect_file_error("{\"port\": 1, \"port\": 2}", ERR_INVAL, "port: given twice");
    expect_file_error("{\"log_level\": \"loud\"}", ERR_INVAL, "log_level: expected \"debug\"");
    expect_file_error("{\"log_format\": 1}", ERR_INVAL, "log_format: expected \"logfmt\" or \"json\"");
    expect_file_error("{\"quiet\": 1}", ERR_INVAL, "quiet: expected true or false, got 1");
    expect_file_error("{\"host\": null}", ERR_INVAL, "host: expected a non-empty string, got null");
    expect_file_error("{\"api_keys\": [\"a\", \"\"]}", ERR_INVAL, "api_keys[1]: expected a non-empty string");
    expect_file_error("{\"cors_origins\": \"*\"}", ERR_INVAL, "cors_origins: expected an array of strings");
    expect_file_error("{\"models\": {}}", ERR_INVAL, "models: expected an array of objects, got an object");
    expect_file_error("{\"models\": [7]}", ERR_INVAL, "models[0]: expected an object, got 7");
    expect_file_error("{\"models\": [{\"model\": \"a\", \"alias\": \"x\"}, {\"model\": \"b\", \"alias\": \"x\"}]}",
                      ERR_INVAL, "models[1].alias: 'x' is already the id of models[0]");
    expect_file_error("[1]", ERR_INVAL, "expected a JSON object at the top level");
    expect_file_error("{\n  \"port\": 1,\n}", ERR_FORMAT, ":3:1: not valid JSON");
    expect_file_error("{\"port\": 1} x", ERR_FORMAT, ":1:13: not valid JSON");
    expect_file_error("", ERR_FORMAT, ": not valid JSON");
}

static void test_env_and_flag_errors(void **state) {
    config_t c;
    char err[512];
    assert_int_equal(load(&c, err, ENV("CINDER_PORT=abc"), ARGS("-m", "x")), ERR_INVAL);
    assert_string_equal(err, "CINDER_PORT: expected an integer from 0 to 65535, got 'abc'");
    assert_int_equal(load(&c, err, ENV("CINDER_QUIET=maybe"), ARGS("-m", "x")), ERR_INVAL);
    assert_true(!strncmp(err, "CINDER_QUIET: expected true or false", 36));
    assert_int_equal(load(&c, err, ENV("CINDER_LOG_LEVEL=verbose"), ARGS("-m", "x")), ERR_INVAL);
    assert_true(!strncmp(err, "CINDER_LOG_LEVEL: expected debug", 32));
    assert_int_equal(load(&c, err, ENV("CINDER_MODEL=x", "CINDER_PARALLEL=1025"), NULL), ERR_INVAL);
    assert_string_equal(err, "CINDER_PARALLEL: expected an integer from 0 to 1024, got '1025'");
    assert_int_equal(load(&c, err, NULL, ARGS("-m", "x", "--port", "abc")), ERR_INVAL);
    assert_string_equal(err, "--port: expected an integer from 0 to 65535, got 'abc'");
    assert_int_equal(load(&c, err, NULL, ARGS("-m", "x", "-t", "-1")), ERR_INVAL);
    assert_string_equal(err, "--threads: expected an integer from 0 to 512, got '-1'");
    assert_int_equal(load(&c, err, NULL, ARGS("-m", "x", "--prot", "1")), ERR_INVAL);
    assert_string_equal(err, "unknown option '--prot' (see --help)");
    assert_int_equal(load(&c, err, NULL, ARGS("-m", "x", "--port")), ERR_INVAL);
    assert_string_equal(err, "option --port needs a value");
    assert_int_equal(load(&c, err, NULL, ARGS("-m", "x", "--quiet=1")), ERR_INVAL);
    assert_string_equal(err, "option --quiet takes no value");
    assert_int_equal(load(&c, err, NULL, ARGS("-m", "")), ERR_INVAL);
    assert_string_equal(err, "--model: expected a non-empty value");
    assert_int_equal(load(&c, err, NULL, ARGS("--port", "1")), ERR_INVAL);
    assert_non_null(strstr(err, "no model"));
    assert_non_null(strstr(err, CONFIG_DEFAULT_MODEL));
    assert_int_equal(load(&c, err, NULL, ARGS("--config", "/nonexistent/cinder.json")), ERR_IO);
    assert_non_null(strstr(err, "cannot open configuration file '/nonexistent/cinder.json'"));
    /* --help wins over everything else, even errors later on the line */
    assert_int_equal(load(&c, err, ENV("CINDER_PORT=abc"), ARGS("--help", "--config", "/nonexistent")), 0);
    assert_true(c.help);
    config_free(&c);
}

/* The repository's config/cinder.example.json: found from this file's path (tests/unit/test_config.c). */
static void example_path(char *out, size_t cap) {
    const char *me = __FILE__, *p = strstr(me, "tests/unit/");
    snprintf(out, cap, "%.*sconfig/cinder.example.json", (int)(p ? p - me : 0), me);
}

static void test_example_file(void **state) {
    char path[512], err[512];
    example_path(path, sizeof path);
    config_t c;
    int rc = load(&c, err, NULL, ARGS("--config", path));
    if (rc) fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(c.n_models, 1);
    assert_string_equal(c.models[0].model, CONFIG_DEFAULT_MODEL);
    /* it shows the defaults: the same as a configuration with no file */
    config_t d;
    assert_int_equal(load(&d, err, NULL, ARGS("-m", CONFIG_DEFAULT_MODEL, "--alias", "smollm2-360m-instruct")), 0);
    char *a = config_to_json(&c), *b = config_to_json(&d);
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(a, b);
    free(a);
    free(b);
    config_free(&c);
    config_free(&d);
    /* every key of the table appears in it, with a "_key" note */
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(cfg__read_file(path, &text, &len, err, sizeof err), 0);
    for (size_t i = 0; i < cfg__n_opts; i++) {
        if (!cfg__opts[i].key) continue;
        char k[64], note[64];
        snprintf(k, sizeof k, "\"%s\":", cfg__opts[i].key);
        snprintf(note, sizeof note, "\"_%s\":", cfg__opts[i].key);
        if (!strstr(text, k) || !strstr(text, note)) fprintf(stderr, "missing %s\n", cfg__opts[i].key);
        assert_non_null(strstr(text, k));
        assert_non_null(strstr(text, note));
        if (cfg__opts[i].env) assert_non_null(strstr(text, cfg__opts[i].env));
    }
    free(text);
}

/* --print-config prints what loads back to the same configuration (keys redacted). */
static void test_print_config(void **state) {
    char err[512], file[64];
    config_t c, d;
    assert_int_equal(
        load(&c, err, ENV("CINDER_CORS_ORIGINS=*"),
             ARGS("-m", "m.gguf", "--alias", "M", "--api-key", "secret", "--port", "0", "--log-level", "debug",
                  "--no-memory-check", "--kv-tokens", "4294967296", "--kv-memory", "1048576", "--print-config")),
        0);
    assert_true(c.print_config);
    assert_int_equal(c.models[0].kv_memory, 1048576);
    assert_false(c.memory_check);
    assert_int_equal(c.models[0].kv_tokens, 4294967296ll);
    char *a = config_to_json(&c);
    assert_non_null(a);
    assert_null(strstr(a, "secret"));
    assert_non_null(strstr(a, "<redacted>"));
    tmp_file(a, file);
    assert_int_equal(load(&d, err, NULL, ARGS("--config", file)), 0);
    char *b = config_to_json(&d);
    assert_string_equal(a, b);
    assert_int_equal(d.models[0].kv_tokens, 4294967296ll);
    assert_int_equal(d.models[0].kv_memory, 1048576);
    assert_int_equal(d.log_level, LOG_DEBUG);
    free(a);
    free(b);
    config_free(&c);
    config_free(&d);
    unlink(file);
    /* --print-config does not need a model */
    assert_int_equal(load(&c, err, NULL, ARGS("--print-config")), 0);
    config_free(&c);
}

static void test_usage_lists_everything(void **state) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    config_usage(f);
    fclose(f);
    for (size_t i = 0; i < cfg__n_opts; i++) {
        assert_non_null(strstr(buf, cfg__opts[i].flag));
        if (cfg__opts[i].env) assert_non_null(strstr(buf, cfg__opts[i].env));
        if (cfg__opts[i].key) {
            char k[64];
            snprintf(k, sizeof k, "\"%s\"", cfg__opts[i].key);
            assert_non_null(strstr(buf, k));
        }
    }
    free(buf);
}

static void test_env_struct(void **state) {
    config_env_t e;
    config_env_load_from(
        ENV("HF_TOKEN=", "HF_ENDPOINT=http://mirror", "HOME=/h", "SOURCE_DATE_EPOCH=1700000000", "HOME=/second"), &e);
    assert_null(e.hf_token); /* empty counts as unset */
    assert_string_equal(e.hf_endpoint, "http://mirror");
    assert_string_equal(e.home, "/h"); /* the first, as getenv() */
    assert_null(e.xdg_cache_home);
    assert_string_equal(e.source_date_epoch, "1700000000");
    assert_null(config_getenv(ENV("HOMEX=1"), "HOME"));
}

/* api_keys entries may carry quotas ({"key", "rpm", "tpm"}); they stay attached to the key by value when the
 * environment or flags replace the list; the hardening settings go through every layer. */
static void test_key_limits_and_hardening(void **state) {
    char err[512], file[64];
    tmp_file("{\"api_keys\": [\"plain\", {\"key\": \"q\", \"rpm\": 60, \"tpm\": 1000, \"_note\": 1}],"
             " \"header_timeout\": 3, \"metrics_api_key\": \"m1\"}",
             file);
    config_t c;
    assert_int_equal(
        load(&c, err, ENV("CINDER_MIN_BODY_RATE=10"),
             ARGS("--config", file, "-m", "x.gguf", "--max-connections-per-ip", "5", "--stream-buffer-bytes", "65536")),
        0);
    assert_int_equal(c.n_api_keys, 2);
    assert_string_equal(c.api_keys[1], "q");
    assert_int_equal(c.n_key_limits, 1);
    assert_string_equal(c.key_limits[0].key, "q");
    assert_int_equal(c.key_limits[0].rpm, 60);
    assert_int_equal(c.key_limits[0].tpm, 1000);
    assert_int_equal(c.header_timeout_s, 3);
    assert_int_equal(c.min_body_rate, 10);
    assert_int_equal(c.max_connections_per_ip, 5);
    assert_int_equal(c.stream_buffer_bytes, 65536);
    assert_string_equal(c.metrics_api_key, "m1");
    char *json = config_to_json(&c);
    assert_non_null(strstr(json, "\"rpm\":\t60"));
    assert_null(strstr(json, "m1")); /* the metrics key is redacted too */
    assert_null(strstr(json, "\"q\""));
    free(json);
    config_free(&c);
    /* a flag replacing the keys keeps the quota of a key it names again */
    assert_int_equal(load(&c, err, NULL, ARGS("--config", file, "-m", "x.gguf", "--api-key", "q")), 0);
    assert_int_equal(c.n_api_keys, 1);
    assert_int_equal(c.n_key_limits, 1);
    config_free(&c);
    unlink(file);
    const char *bad[][2] = {
        {"{\"api_keys\": [{\"rpm\": 1}]}", "api_keys[0].key: required"},
        {"{\"api_keys\": [{\"key\": \"k\", \"rpn\": 1}]}", "api_keys[0].rpn: unknown key"},
        {"{\"api_keys\": [{\"key\": \"k\", \"tpm\": -1}]}", "api_keys[0].tpm: expected an integer"},
        {"{\"api_keys\": [3]}", "api_keys[0]: expected a non-empty string or an object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tmp_file(bad[i][0], file);
        assert_int_equal(load(&c, err, NULL, ARGS("--config", file, "-m", "x.gguf")), ERR_INVAL);
        if (!strstr(err, bad[i][1])) fail_msg("%s: got '%s'", bad[i][0], err);
        unlink(file);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_models),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_env_and_flag_errors),
        cmocka_unit_test(test_example_file),
        cmocka_unit_test(test_print_config),
        cmocka_unit_test(test_usage_lists_everything),
        cmocka_unit_test(test_env_struct),
        cmocka_unit_test(test_key_limits_and_hardening),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
