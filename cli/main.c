/*
 * main.c — the ./cinder entry point: dispatches to a subcommand (cli.h). Nothing here but the table.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} cli_cmd_t;

static const cli_cmd_t cli_cmds[] = {
    {"generate", cmd_generate, "generate a continuation of a prompt"},
    {"tokenize", cmd_tokenize, "print the token ids of a text"},
    {"info", cmd_info, "describe a GGUF model"},
    {"embed", cmd_embed, "embeddings of texts with an embedding model (JSON arrays, one per line)"},
    {"perplexity", cmd_perplexity, "perplexity of a text file (llama-perplexity's method)"},
    {"bench", cmd_bench, "prompt-processing and generation speed (pp512 / tg128)"},
    {"template", cmd_template, "render a Jinja chat template with a JSON context"},
    {"serve", cmd_serve, "serve the model over HTTP with OpenAI's API"},
    {"bench-serve", cmd_bench_serve, "load-test an OpenAI-compatible server (TTFT, TPOT, ITL, tok/s)"},
    {"pull", cmd_pull, "download a GGUF model from the Hugging Face Hub into the cache"},
    {"list", cmd_list, "list the models in the cache"},
};

static void cli_usage(FILE *to) {
    fprintf(to, "usage: cinder <command> [options]   (cinder <command> --help for its options)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof cli_cmds / sizeof cli_cmds[0]; i++)
        fprintf(to, "  %-11s %s\n", cli_cmds[i].name, cli_cmds[i].summary);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        cli_usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        cli_usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof cli_cmds / sizeof cli_cmds[0]; i++)
        if (!strcmp(argv[1], cli_cmds[i].name)) return cli_cmds[i].run(argc - 1, argv + 1);
    fprintf(stderr, "cinder: unknown command '%s' (see cinder --help)\n", argv[1]);
    return 2;
}
