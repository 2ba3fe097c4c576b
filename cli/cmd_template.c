/*
 * cmd_template.c — `cinder template render TEMPLATE.jinja CONTEXT.json`: renders a chat template the way the
 * server does and prints the result to stdout, byte for byte (no newline added).
 *
 * The context file is a JSON object whose members become template variables (messages, tools,
 * add_generation_prompt, bos_token, eos_token, ...). strftime_now() uses SOURCE_DATE_EPOCH (Unix seconds) when
 * set, for reproducible output, and the current time otherwise. Exit status: 0 rendered, 1 template or input
 * error (one line on stderr), 2 usage error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>

#include "cli.h"
#include "config/env.h"
#include "err.h"
#include "template/tmpl.h"

#define TEMPLATE_MAX_FILE (64u << 20) /* bytes: largest template or context file read */

static void template_usage(FILE *to) {
    fprintf(to, "usage: cinder template render TEMPLATE.jinja CONTEXT.json\n"
                "  Renders a Jinja chat template (Hugging Face apply_chat_template semantics) with the variables of\n"
                "  the JSON object in CONTEXT.json and prints the result to stdout.\n"
                "  SOURCE_DATE_EPOCH, when set, fixes the time strftime_now() sees (Unix seconds).\n"
                "  Exit status: 0 rendered, 1 template or input error, 2 usage error.\n");
}

/* Reads a whole file into a NUL-terminated malloc'd buffer. Returns 0 or an err.h code with the message. */
static int read_file(const char *path, char **data, size_t *len, char *err, size_t err_len) {
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(err, err_len, ERR_IO, "cannot open %s: %s", path, strerror(errno));
    int rc = 0;
    size_t cap = 0, n = 0;
    char *buf = NULL;
    for (;;) {
        if (n == cap) {
            if (cap >= TEMPLATE_MAX_FILE) {
                rc = err_set(err, err_len, ERR_RANGE, "%s is larger than %u bytes", path, TEMPLATE_MAX_FILE);
                goto cleanup;
            }
            cap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                rc = err_set(err, err_len, ERR_NOMEM, "out of memory reading %s", path);
                goto cleanup;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        rc = err_set(err, err_len, ERR_IO, "cannot read %s", path);
        goto cleanup;
    }
    if (!buf && !(buf = malloc(1))) {
        rc = err_set(err, err_len, ERR_NOMEM, "out of memory reading %s", path);
        goto cleanup;
    }
    buf[n] = 0;
    *data = buf;
    *len = n;
    buf = NULL;
cleanup:
    free(buf);
    fclose(f);
    return rc;
}

/* The clock strftime_now() sees: SOURCE_DATE_EPOCH (read by config/env.c) when set and valid, else now. */
static int template_now(int64_t *now, char *err, size_t err_len) {
    config_env_t env;
    config_env_load(&env);
    const char *sde = env.source_date_epoch;
    if (!sde) {
        *now = (int64_t)time(NULL);
        return 0;
    }
    char *end;
    errno = 0;
    long long v = strtoll(sde, &end, 10);
    if (errno || *end || end == sde)
        return err_set(err, err_len, ERR_INVAL, "SOURCE_DATE_EPOCH is not an integer: %s", sde);
    *now = v;
    return 0;
}

static int template_render(const char *tpath, const char *cpath) {
    char err[1024] = "";
    char *src = NULL, *ctx_text = NULL, *out = NULL;
    size_t src_len, ctx_len, out_len = 0;
    cJSON *ctx = NULL;
    tmpl_t *t = NULL;
    tmpl_render_opts_t opts;
    tmpl_render_opts_default(&opts);
    int rc = read_file(tpath, &src, &src_len, err, sizeof(err));
    if (!rc) rc = read_file(cpath, &ctx_text, &ctx_len, err, sizeof(err));
    if (!rc) rc = template_now(&opts.now, err, sizeof(err));
    if (!rc) {
        ctx = cJSON_ParseWithLength(ctx_text, ctx_len);
        if (!ctx)
            rc = err_set(err, sizeof(err), ERR_FORMAT, "%s is not valid JSON", cpath);
        else if (!cJSON_IsObject(ctx))
            rc = err_set(err, sizeof(err), ERR_FORMAT, "%s must hold a JSON object", cpath);
    }
    if (!rc) rc = tmpl_compile(src, src_len, &t, err, sizeof(err));
    if (!rc) rc = tmpl_render(t, ctx, &opts, &out, &out_len, err, sizeof(err));
    if (!rc && fwrite(out, 1, out_len, stdout) != out_len)
        rc = err_set(err, sizeof(err), ERR_IO, "cannot write output");
    if (!rc && fflush(stdout) != 0) rc = err_set(err, sizeof(err), ERR_IO, "cannot write output");
    if (rc) fprintf(stderr, "cinder template: %s\n", err[0] ? err : err_str(rc));
    free(out);
    tmpl_free(t);
    cJSON_Delete(ctx);
    free(ctx_text);
    free(src);
    return rc ? 1 : 0;
}

int cmd_template(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            template_usage(stdout);
            return 0;
        }
    if (argc < 2) {
        template_usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "render") != 0) {
        fprintf(stderr, "cinder template: unknown subcommand '%s' (expected 'render')\n", argv[1]);
        return 2;
    }
    if (argc != 4) {
        fprintf(stderr, "cinder template render: expected TEMPLATE.jinja CONTEXT.json\n");
        return 2;
    }
    return template_render(argv[2], argv[3]);
}
