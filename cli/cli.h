/*
 * cli.h — the subcommands of ./cinder. Each takes the argument vector from the subcommand's name on
 * (argv[0] is "generate", "tokenize", ...), prints its own --help, reports errors as one line on stderr, and
 * returns the process exit status (0 success, 1 runtime failure, 2 usage error). main.c dispatches.
 */
#ifndef CINDER_CLI_H
#define CINDER_CLI_H

#include <stdbool.h>
#include <stdint.h>

int cmd_generate(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_template(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_bench_serve(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_list(int argc, char **argv);

/* ---- small shared helpers for option parsing (cli_args.c) ---- */

/* Parses a whole decimal integer in [lo, hi]; on failure prints "cinder <cmd>: <opt> expects ..." and
 * returns false. */
bool cli_parse_int(const char *cmd, const char *opt, const char *s, long long lo, long long hi, long long *out);

/* Parses a finite float in [lo, hi], with the same reporting. */
bool cli_parse_float(const char *cmd, const char *opt, const char *s, double lo, double hi, double *out);

/* Fetches the value of an option that takes one (argv[*i + 1]), advancing *i; prints an error and returns
 * NULL when it is missing. */
const char *cli_value(const char *cmd, int argc, char **argv, int *i);

/* Monotonic clock in seconds. */
double cli_now(void);

#endif
