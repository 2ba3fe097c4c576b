/*
 * cmd_serve.c — `cinder serve`: parses the flags into server_params_t and runs the server (server.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "err.h"
#include "server.h"

#define SERVE_MAX_KEYS           64
#define SERVE_MAX_TEMPLATE_BYTES (1 << 20)

static void serve_usage(FILE *to) {
    engine_params_t ep = engine_default_params();
    fprintf(to,
            "usage: cinder serve -m MODEL [options]\n"
            "Serves the model over HTTP with OpenAI's API: GET /health, GET /v1/models, GET /v1/models/{id},\n"
            "POST /v1/chat/completions, POST /v1/completions. Prints \"listening on http://HOST:PORT\" on stdout\n"
            "once bound; /health answers 503 until the model is loaded. SIGINT/SIGTERM stop it (exit 0).\n"
            "\n"
            "  -m, --model PATH          GGUF model file (required)\n"
            "      --alias NAME          model id clients use (default: the file name without .gguf)\n"
            "      --host ADDR           address to bind (default 127.0.0.1; 0.0.0.0 or :: for all)\n"
            "      --port N              port (default 8080; 0 = any free port)\n"
            "      --api-key KEY         require \"Authorization: Bearer KEY\" (repeat for several keys;\n"
            "                            /health never needs one)\n"
            "  -c, --ctx-size N          tokens per sequence, prompt + completion (default: the model's)\n"
            "  -np, --parallel N         sequences generating at once (default %d); others wait in the queue\n"
            "      --max-queue N         requests waiting before new ones get 503 (default %d)\n"
            "  -b, --batch-size N        tokens per forward pass (default %d)\n"
            "      --kv-tokens N         KV cache shared by all sequences, in tokens (default: 256 MiB of it)\n"
            "  -t, --threads N           compute threads (default: number of CPUs)\n"
            "      --chat-template FILE  Jinja chat template overriding the model's (a model without one\n"
            "                            uses ChatML)\n"
            "      --cors-origin ORIGIN  allow browser requests from ORIGIN (repeatable; * = any); off by default\n"
            "      --max-body-bytes N    largest request body (default 8388608); larger gets 413\n"
            "      --max-header-bytes N  memory per connection for the request line and headers (default 32768);\n"
            "                            larger headers are refused\n"
            "      --max-connections N   open connections at once (default 256); more wait in the kernel's\n"
            "                            accept queue until one closes\n"
            "      --timeout SECONDS     close a connection idle this long (default 30; generation is not idle)\n"
            "      --quiet               no per-request log lines on stderr\n"
            "  -h, --help                this text\n",
            ep.n_parallel, ep.max_queue, ep.n_batch);
}

/* Reads a whole text file (at most SERVE_MAX_TEMPLATE_BYTES) into a malloc'd NUL-terminated string. */
static char *serve_read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cinder serve: cannot open --chat-template '%s': %s\n", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(SERVE_MAX_TEMPLATE_BYTES + 1);
    size_t n = buf ? fread(buf, 1, SERVE_MAX_TEMPLATE_BYTES + 1, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad || n > SERVE_MAX_TEMPLATE_BYTES) {
        fprintf(stderr, "cinder serve: cannot read --chat-template '%s' (unreadable or over %d bytes)\n", path,
                SERVE_MAX_TEMPLATE_BYTES);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* The default model id: the file name without directories and without ".gguf". */
static void serve_model_id(const char *path, char *out, size_t cap) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(out, cap, "%s", base);
    size_t n = strlen(out);
    if (n > 5 && !strcmp(out + n - 5, ".gguf")) out[n - 5] = '\0';
}

int cmd_serve(int argc, char **argv) {
    const char *cmd = "serve";
    server_params_t p = server_default_params();
    const char *keys[SERVE_MAX_KEYS], *origins[SERVE_MAX_KEYS];
    size_t n_keys = 0, n_origins = 0;
    const char *alias = NULL, *template_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long long iv;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            serve_usage(stdout);
            return 0;
        }
#define SERVE_VAL()                                                                                                    \
    if (!(v = cli_value(cmd, argc, argv, &i))) return 2;
#define SERVE_INT(lo, hi) SERVE_VAL() if (!cli_parse_int(cmd, a, v, (lo), (hi), &iv)) return 2;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            SERVE_VAL() p.engine.model_path = v;
        } else if (!strcmp(a, "--alias")) {
            SERVE_VAL() alias = v;
        } else if (!strcmp(a, "--host")) {
            SERVE_VAL() p.host = v;
        } else if (!strcmp(a, "--port")) {
            SERVE_INT(0, 65535) p.port = (int)iv;
        } else if (!strcmp(a, "--api-key")) {
            SERVE_VAL() if (n_keys == SERVE_MAX_KEYS || !*v) {
                fprintf(stderr, "cinder serve: --api-key needs a non-empty key (at most %d keys)\n", SERVE_MAX_KEYS);
                return 2;
            }
            keys[n_keys++] = v;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
            SERVE_INT(0, 1 << 24) p.engine.n_ctx = (int32_t)iv;
        } else if (!strcmp(a, "-np") || !strcmp(a, "--parallel")) {
            SERVE_INT(1, 1024) p.engine.n_parallel = (int32_t)iv;
        } else if (!strcmp(a, "--max-queue")) {
            SERVE_INT(0, 1 << 20) p.engine.max_queue = (int32_t)iv;
        } else if (!strcmp(a, "--kv-tokens")) {
            SERVE_INT(1, 1ll << 32) p.engine.kv_tokens = (int64_t)iv;
        } else if (!strcmp(a, "-b") || !strcmp(a, "--batch-size")) {
            SERVE_INT(1, 1 << 16) p.engine.n_batch = (int32_t)iv;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            SERVE_INT(1, 512) p.engine.n_threads = (int)iv;
        } else if (!strcmp(a, "--chat-template")) {
            SERVE_VAL() template_path = v;
        } else if (!strcmp(a, "--cors-origin")) {
            SERVE_VAL() if (n_origins == SERVE_MAX_KEYS || !*v) {
                fprintf(stderr, "cinder serve: --cors-origin needs a value (at most %d)\n", SERVE_MAX_KEYS);
                return 2;
            }
            origins[n_origins++] = v;
        } else if (!strcmp(a, "--max-body-bytes")) {
            SERVE_INT(1, 1ll << 32) p.max_body_bytes = (size_t)iv;
        } else if (!strcmp(a, "--max-header-bytes")) {
            SERVE_INT(4096, 1 << 24) p.max_header_bytes = (size_t)iv;
        } else if (!strcmp(a, "--max-connections")) {
            SERVE_INT(1, 1 << 16) p.max_connections = (unsigned)iv;
        } else if (!strcmp(a, "--timeout")) {
            SERVE_INT(1, 86400) p.idle_timeout_s = (unsigned)iv;
        } else if (!strcmp(a, "--quiet")) {
            p.quiet = true;
        } else {
            fprintf(stderr, "cinder serve: unknown option '%s' (see --help)\n", a);
            return 2;
        }
#undef SERVE_INT
#undef SERVE_VAL
    }
    if (!p.engine.model_path) {
        fprintf(stderr, "cinder serve: -m MODEL is required (see --help)\n");
        return 2;
    }
    char id[256];
    if (alias && *alias)
        snprintf(id, sizeof id, "%s", alias);
    else
        serve_model_id(p.engine.model_path, id, sizeof id);
    p.model_id = id;
    p.api_keys = keys;
    p.n_api_keys = n_keys;
    p.cors_origins = origins;
    p.n_cors_origins = n_origins;
    char *tmpl = NULL;
    if (template_path && !(tmpl = serve_read_file(template_path))) return 2;
    p.chat_template = tmpl;

    char err[512] = "";
    int rc = server_run(&p, err, sizeof err);
    free(tmpl);
    if (rc) {
        fprintf(stderr, "cinder serve: %s\n", err);
        return 1;
    }
    return 0;
}
