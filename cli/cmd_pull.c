/*
 * cmd_pull.c — `cinder pull REF` (download a model from the Hugging Face Hub into the cache and print its local
 * path) and `cinder list` (what the cache holds). The work is in hub/; this file is options and output.
 * Exit status: 0 success, 1 failure (one line on stderr), 2 usage error.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config/env.h"
#include "err.h"
#include "hub/hub.h"

static void pull_usage(FILE *to) {
    fprintf(to, "usage: cinder pull [--retries N] [--quiet] OWNER/REPO[:QUANT] | OWNER/REPO/FILE.gguf\n"
                "  Downloads a GGUF model from the Hugging Face Hub into the cache and prints its local path.\n"
                "  OWNER/REPO:QUANT picks the .gguf file tagged QUANT (case-insensitive, e.g. Q4_K_M); without\n"
                "  :QUANT the first present of Q8_0, Q4_K_M, Q6_K, Q4_0, F16, BF16, F32. OWNER/REPO/FILE.gguf takes\n"
                "  exactly that file. Interrupted downloads resume (FILE.gguf.part); the file is checked against\n"
                "  the hub's SHA-256 and only then renamed into place.\n"
                "  --retries N  automatic resumes after a dropped connection (default 3)\n"
                "  --quiet      no progress output\n"
                "  Environment: HF_TOKEN (access token for private or gated repositories), HF_ENDPOINT (hub or\n"
                "  mirror URL, default https://huggingface.co), XDG_CACHE_HOME (cache in $XDG_CACHE_HOME/cinder,\n"
                "  else ~/.cache/cinder).\n");
}

int cmd_pull(int argc, char **argv) {
    const char *ref = NULL;
    long long retries = 3;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            pull_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--retries")) {
            const char *v = cli_value("pull", argc, argv, &i);
            if (!v || !cli_parse_int("pull", "--retries", v, 0, 100, &retries)) return 2;
        } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            quiet = true;
        } else if (a[0] == '-') {
            fprintf(stderr, "cinder pull: unknown option '%s' (see --help)\n", a);
            return 2;
        } else if (ref) {
            fprintf(stderr, "cinder pull: one model at a time ('%s' and '%s')\n", ref, a);
            return 2;
        } else {
            ref = a;
        }
    }
    if (!ref) {
        fprintf(stderr, "cinder pull: a model reference is required, e.g. OWNER/REPO:Q8_0 (see --help)\n");
        return 2;
    }
    hub_ref_t parsed;
    char err[1024];
    if (hub_ref_parse(ref, &parsed, err, sizeof err)) {
        fprintf(stderr, "cinder pull: %s\n", err);
        return 2;
    }
    config_env_t env;
    config_env_load(&env);
    hub_pull_opts_t o;
    hub_progress_state_t progress;
    hub_pull_default_opts(&o);
    o.n_retries = (int)retries;
    if (!quiet) hub_reporter_stderr(&o.report, &progress);
    char path[HUB_PATH_MAX];
    if (hub_pull(&env, ref, &o, path, sizeof path, err, sizeof err)) {
        fprintf(stderr, "cinder pull: %s\n", err);
        return 1;
    }
    printf("%s\n", path);
    return 0;
}

static void list_usage(FILE *to) {
    fprintf(to, "usage: cinder list [--paths]\n"
                "  Lists the models in the cache ($XDG_CACHE_HOME/cinder or ~/.cache/cinder) with their sizes;\n"
                "  unfinished downloads are marked (partial) and resume on the next `cinder pull`.\n"
                "  --paths  show each file's local path too\n");
}

int cmd_list(int argc, char **argv) {
    bool paths = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            list_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--paths")) {
            paths = true;
        } else {
            fprintf(stderr, "cinder list: unknown argument '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    config_env_t env;
    config_env_load(&env);
    char root[HUB_PATH_MAX], err[1024], sz[32];
    hub_cached_t *items = NULL;
    size_t n = 0;
    if (hub_cache_root(&env, root, sizeof root, err, sizeof err) || hub_cache_list(&env, &items, &n, err, sizeof err)) {
        fprintf(stderr, "cinder list: %s\n", err);
        return 1;
    }
    if (n == 0) {
        printf("no models in %s (get one with: cinder pull OWNER/REPO:QUANT)\n", root);
        return 0;
    }
    size_t w = strlen("MODEL");
    for (size_t i = 0; i < n; i++)
        if (strlen(items[i].ref) > w) w = strlen(items[i].ref);
    printf("%-*s  %10s%s\n", (int)w, "MODEL", "SIZE", paths ? "  PATH" : "");
    int64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        hub_format_size(items[i].size_bytes, sz, sizeof sz);
        printf("%-*s  %10s%s%s%s\n", (int)w, items[i].ref, sz, items[i].partial ? " (partial)" : "", paths ? "  " : "",
               paths ? items[i].path : "");
        total += items[i].size_bytes;
    }
    printf("%zu file%s, %s in %s\n", n, n == 1 ? "" : "s", hub_format_size(total, sz, sizeof sz), root);
    hub_cache_list_free(items, n);
    return 0;
}
