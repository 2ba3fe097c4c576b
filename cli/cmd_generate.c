/*
 * cmd_generate.c — `cinder generate`, `cinder tokenize` and `cinder info`: the engine driven from the shell.
 *
 * generate writes only the continuation to stdout, token by token as complete UTF-8, and its timings to
 * stderr, so that `cinder generate ... > out.txt` captures exactly the model's text.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arch.h"
#include "cli.h"
#include "err.h"
#include "kernels/kern.h"
#include "model.h"
#include "sampler.h"

#define GEN_MAX_BATCH 512

static void gen_usage(FILE *to) {
    fprintf(to,
            "usage: cinder generate -m MODEL -p PROMPT [options]\n"
            "  -m, --model PATH        GGUF model file\n"
            "  -p, --prompt TEXT       prompt (BOS is added when the model asks for it; special token texts\n"
            "                          such as <|im_start|> are recognised)\n"
            "  -n, --n-predict N       tokens to generate at most (default 128; stops earlier at end of text)\n"
            "  -c, --ctx-size N        context size (default: prompt + N, at most the model's training context)\n"
            "      --temp T            temperature, 0 = greedy (default 0.8)\n"
            "      --top-k K           keep the K most likely tokens, 0 = off (default 40)\n"
            "      --top-p P           nucleus sampling, 1 = off (default 0.95)\n"
            "      --min-p P           drop tokens below P x the top probability, 0 = off (default 0.05)\n"
            "      --repeat-penalty R  CTRL-style repetition penalty over the last 64 tokens, 1 = off (default 1)\n"
            "      --presence-penalty P, --frequency-penalty F   OpenAI-style penalties, 0 = off\n"
            "      --seed S            random seed (default: from the clock, printed to stderr)\n"
            "  -t, --threads N         threads (default: number of CPUs)\n"
            "  -h, --help              this text\n");
}

typedef struct {
    const char *model, *prompt;
    long long n_predict, n_ctx, threads;
    sampler_params_t sp;
    bool seed_given;
} gen_opts_t;

static int gen_parse(int argc, char **argv, gen_opts_t *o) {
    const char *cmd = "generate";
    o->n_predict = 128;
    o->sp = sampler_default_params();
    o->sp.temperature = 0.8f;
    o->sp.top_k = 40;
    o->sp.top_p = 0.95f;
    o->sp.min_p = 0.05f;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long long iv;
        double fv;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            gen_usage(stdout);
            return 1;
        }
#define GEN_VAL()                                              \
    if (!(v = cli_value(cmd, argc, argv, &i))) return 2;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            GEN_VAL() o->model = v;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            GEN_VAL() o->prompt = v;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
            GEN_VAL() if (!cli_parse_int(cmd, a, v, 0, 1 << 24, &o->n_predict)) return 2;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
            GEN_VAL() if (!cli_parse_int(cmd, a, v, 1, 1 << 24, &o->n_ctx)) return 2;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            GEN_VAL() if (!cli_parse_int(cmd, a, v, 1, 512, &o->threads)) return 2;
        } else if (!strcmp(a, "--temp")) {
            GEN_VAL() if (!cli_parse_float(cmd, a, v, 0, 100, &fv)) return 2;
            o->sp.temperature = (float)fv;
        } else if (!strcmp(a, "--top-k")) {
            GEN_VAL() if (!cli_parse_int(cmd, a, v, 0, INT32_MAX, &iv)) return 2;
            o->sp.top_k = (int32_t)iv;
        } else if (!strcmp(a, "--top-p")) {
            GEN_VAL() if (!cli_parse_float(cmd, a, v, 0, 1, &fv)) return 2;
            o->sp.top_p = (float)fv;
        } else if (!strcmp(a, "--min-p")) {
            GEN_VAL() if (!cli_parse_float(cmd, a, v, 0, 1, &fv)) return 2;
            o->sp.min_p = (float)fv;
        } else if (!strcmp(a, "--repeat-penalty")) {
            GEN_VAL() if (!cli_parse_float(cmd, a, v, 0, 100, &fv)) return 2;
            o->sp.repetition_penalty = (float)fv;
        } else if (!strcmp(a, "--presence-penalty")) {
            GEN_VAL() if (!cli_parse_float(cmd, a, v, -2, 2, &fv)) return 2;
            o->sp.presence_penalty = (float)fv;
        } else if (!strcmp(a, "--frequency-penalty")) {
            GEN_VAL() if (!cli_parse_float(cmd, a, v, -2, 2, &fv)) return 2;
            o->sp.frequency_penalty = (float)fv;
        } else if (!strcmp(a, "--seed")) {
            GEN_VAL() if (!cli_parse_int(cmd, a, v, 0, INT64_MAX, &iv)) return 2;
            o->sp.seed = (uint64_t)iv;
            o->seed_given = true;
        } else {
            fprintf(stderr, "cinder generate: unknown option '%s' (see --help)\n", a);
            return 2;
        }
#undef GEN_VAL
    }
    if (!o->model || !o->prompt) {
        fprintf(stderr, "cinder generate: -m MODEL and -p PROMPT are required (see --help)\n");
        return 2;
    }
    if (!o->seed_given) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        o->sp.seed = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec;
    }
    return 0;
}

/* Tokenizes text into a malloc'd array (*ids, *n), growing the buffer once if the first guess is short. */
static int gen_tokenize(const tok_t *tok, const char *text, unsigned flags, int32_t **ids, size_t *n) {
    size_t len = strlen(text), cap = len + 8, need = 0;
    int32_t *buf = malloc(cap * sizeof *buf);
    if (!buf) return ERR_NOMEM;
    int rc = tok_encode(tok, text, len, flags, buf, cap, &need);
    if (rc == ERR_RANGE) {
        int32_t *bigger = realloc(buf, (need + 1) * sizeof *buf);
        if (!bigger) {
            free(buf);
            return ERR_NOMEM;
        }
        buf = bigger;
        rc = tok_encode(tok, text, len, flags, buf, need + 1, &need);
    }
    if (rc) {
        free(buf);
        return rc;
    }
    *ids = buf;
    *n = need;
    return 0;
}

int cmd_generate(int argc, char **argv) {
    gen_opts_t o = {0};
    int prc = gen_parse(argc, argv, &o);
    if (prc) return prc == 1 ? 0 : prc;

    char err[512] = "";
    int status = 1;
    model_t *m = NULL;
    model_ctx_t *c = NULL;
    model_seq_t *s = NULL;
    sampler_t *smp = NULL;
    int32_t *ids = NULL;
    float *logits = NULL;
    char *out = NULL;
    size_t n_prompt = 0;

    double t0 = cli_now();
    if (model_load(o.model, &m, err, sizeof err)) {
        fprintf(stderr, "cinder generate: %s\n", err);
        goto cleanup;
    }
    const model_hparams_t *hp = model_hparams(m);
    const tok_t *tok = model_tok(m);
    if (hp->pooling != MODEL_POOL_NONE) {
        fprintf(stderr, "cinder generate: %s is an embedding model (%s pooling): use cinder embed\n", o.model,
                model_pool_name(hp->pooling));
        goto cleanup;
    }
    if (gen_tokenize(tok, o.prompt, TOK_ADD_SPECIAL | TOK_PARSE_SPECIAL, &ids, &n_prompt)) {
        fprintf(stderr, "cinder generate: cannot tokenize the prompt\n");
        goto cleanup;
    }
    if (n_prompt == 0) {
        fprintf(stderr, "cinder generate: the prompt is empty and the model adds no BOS token\n");
        goto cleanup;
    }
    long long n_ctx = o.n_ctx ? o.n_ctx : (long long)n_prompt + o.n_predict;
    if (n_ctx > hp->n_ctx_train) n_ctx = hp->n_ctx_train;
    if ((long long)n_prompt >= n_ctx) {
        fprintf(stderr, "cinder generate: the prompt has %zu tokens, which does not fit a context of %lld\n",
                n_prompt, n_ctx);
        goto cleanup;
    }
    if (model_ctx_create(m, (int)o.threads, GEN_MAX_BATCH, (int32_t)n_ctx, &c) ||
        model_seq_create(m, (int32_t)n_ctx, &s)) {
        fprintf(stderr, "cinder generate: out of memory for a context of %lld tokens\n", n_ctx);
        goto cleanup;
    }
    if (sampler_create(&o.sp, hp->n_vocab, &smp, err, sizeof err)) {
        fprintf(stderr, "cinder generate: %s\n", err);
        goto cleanup;
    }
    logits = malloc((size_t)hp->n_vocab * sizeof(float));
    if (!logits) goto cleanup;
    sampler_add_prompt(smp, ids, n_prompt);
    double t_load = cli_now() - t0;

    double t1 = cli_now();
    for (size_t off = 0; off < n_prompt; off += GEN_MAX_BATCH) {
        int32_t chunk = (int32_t)(n_prompt - off < GEN_MAX_BATCH ? n_prompt - off : GEN_MAX_BATCH);
        if (model_forward(c, s, ids + off, chunk, false, logits)) {
            fprintf(stderr, "cinder generate: forward pass failed\n");
            goto cleanup;
        }
    }
    double t_prompt = cli_now() - t1;

    double t2 = cli_now();
    tok_stream_t ts;
    tok_stream_init(&ts);
    size_t out_cap = tok_stream_cap(tok);
    out = malloc(out_cap);
    size_t n_out = 0;
    if (!out) goto cleanup;
    long long n_gen = 0;
    const char *stop = "limit";
    while (n_gen < o.n_predict) {
        if (kern_first_nonfinite(logits, hp->n_vocab) >= 0) { /* an overflow in the forward pass: not an answer */
            fflush(stdout);
            fprintf(stderr, "cinder generate: the model computed non-finite logits (NaN or inf) after %lld generated "
                    "tokens: its weights overflow on this input\n", n_gen);
            goto cleanup;
        }
        int32_t id = sampler_sample(smp, logits);
        if (tok_is_eog(tok, id)) {
            stop = "eos";
            break;
        }
        n_gen++;
        if (tok_stream_push(&ts, tok, id, out, out_cap, &n_out) == 0 && n_out) {
            fwrite(out, 1, n_out, stdout);
            fflush(stdout);
        }
        if (n_gen == o.n_predict) break;
        if (model_seq_pos(s) >= model_seq_capacity(s)) {
            stop = "context";
            break;
        }
        if (model_forward(c, s, &id, 1, false, logits)) {
            fprintf(stderr, "cinder generate: forward pass failed\n");
            goto cleanup;
        }
    }
    if (tok_stream_flush(&ts, out, out_cap, &n_out) == 0 && n_out) fwrite(out, 1, n_out, stdout);
    fflush(stdout);
    double t_gen = cli_now() - t2;

    fprintf(stderr,
            "\ncinder generate: load %.0f ms | prompt %zu tokens in %.1f ms (%.1f tok/s) | generated %lld tokens "
            "in %.1f ms (%.1f tok/s) | stop: %s | threads %d | seed %" PRIu64 "\n",
            t_load * 1e3, n_prompt, t_prompt * 1e3, (double)n_prompt / (t_prompt > 0 ? t_prompt : 1e-9), n_gen,
            t_gen * 1e3, (double)n_gen / (t_gen > 0 ? t_gen : 1e-9), stop, model_ctx_n_threads(c), o.sp.seed);
    status = 0;
cleanup:
    free(out);
    free(logits);
    free(ids);
    sampler_free(smp);
    model_seq_free(s);
    model_ctx_free(c);
    model_free(m);
    return status;
}

int cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *text = NULL;
    bool bos = true;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: cinder tokenize -m MODEL [--no-bos] TEXT\n"
                   "  prints the token ids of TEXT, space-separated, on one line\n"
                   "  -m, --model PATH  GGUF model (or vocab-only) file\n"
                   "  --no-bos          do not add BOS/EOS even when the model asks for them\n");
            return 0;
        } else if (!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) {
            if (!(model = cli_value("tokenize", argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "--no-bos")) {
            bos = false;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0' && !text) {
            fprintf(stderr, "cinder tokenize: unknown option '%s' (see --help)\n", argv[i]);
            return 2;
        } else if (!text) {
            text = argv[i];
        } else {
            fprintf(stderr, "cinder tokenize: give the text as one argument (quote it)\n");
            return 2;
        }
    }
    if (!model || !text) {
        fprintf(stderr, "cinder tokenize: -m MODEL and TEXT are required (see --help)\n");
        return 2;
    }
    char err[512] = "";
    gguf_t *g = NULL;
    tok_t *tok = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    int status = 1;
    if (gguf_open(model, &g, err, sizeof err) || tok_load(g, &tok, err, sizeof err)) {
        fprintf(stderr, "cinder tokenize: %s\n", err);
        goto cleanup;
    }
    if (gen_tokenize(tok, text, (bos ? TOK_ADD_SPECIAL : 0) | TOK_PARSE_SPECIAL, &ids, &n)) {
        fprintf(stderr, "cinder tokenize: cannot tokenize the text\n");
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
    printf("\n");
    status = 0;
cleanup:
    free(ids);
    tok_free(tok);
    gguf_close(g);
    return status;
}

int cmd_info(int argc, char **argv) {
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: cinder info -m MODEL\n"
                   "  prints the architecture, sizes, tensor types, tokenizer and chat template presence\n");
            return 0;
        } else if (!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) {
            if (!(path = cli_value("info", argc, argv, &i))) return 2;
        } else {
            fprintf(stderr, "cinder info: unknown option '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "cinder info: -m MODEL is required (see --help)\n");
        return 2;
    }
    char err[512] = "";
    model_t *m = NULL;
    if (model_load(path, &m, err, sizeof err)) {
        fprintf(stderr, "cinder info: %s\n", err);
        return 1;
    }
    const model_hparams_t *hp = model_hparams(m);
    const gguf_t *g = model_gguf(m);
    const tok_t *tok = model_tok(m);
    gguf_str_t name = {"", 0};
    gguf_get_str(g, "general.name", &name);
    printf("file:            %s (GGUF v%u)\n", path, gguf_version(g));
    printf("name:            %.*s\n", (int)(name.len > 200 ? 200 : name.len), name.ptr);
    char desc[512];
    printf("architecture:    %s\n", model_describe(m, desc, sizeof desc));
    printf("parameters:      n_vocab %d, n_ctx_train %d, n_embd %d, n_layer %d, n_head %d, n_head_kv %d, "
           "head_dim %d, head_dim_v %d, n_rot %d, n_ff %d\n",
           hp->n_vocab, hp->n_ctx_train, hp->n_embd, hp->n_layer, hp->n_head, hp->n_head_kv, hp->head_dim,
           hp->head_dim_v, hp->n_rot, hp->n_ff);
    static const char *const scaling[] = {"none", "linear", "yarn", "longrope"};
    printf("rope:            %s, freq_base %g, freq_scale %g, scaling %s\n",
           hp->rope_neox ? "neox" : "normal", hp->rope_freq_base, hp->rope_freq_scale,
           scaling[hp->rope_scaling]);
    printf("%-17s%g\n", hp->features & ARCH_F_ENCODER ? "norm_eps:" : "rms_norm_eps:", hp->norm_eps);
    if (hp->pooling != MODEL_POOL_NONE)
        printf("output:          embeddings, %s pooling, %d dimensions, L2-normalised; %s attention\n",
               model_pool_name(hp->pooling), hp->n_embd, hp->causal ? "causal" : "bidirectional");
    else
        printf("output:          %s\n", hp->tied_output ? "tied to token_embd" : "separate output.weight");
    uint64_t count[DT_COUNT] = {0}, bytes[DT_COUNT] = {0};
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        const gguf_tensor_t *t = gguf_tensor(g, i);
        count[t->type]++;
        bytes[t->type] += t->n_bytes;
    }
    printf("tensors:         %lld (", (long long)gguf_n_tensors(g));
    bool first = true;
    for (uint32_t t = 0; t < DT_COUNT; t++) {
        if (!count[t]) continue;
        printf("%s%s x%llu %.2f MiB", first ? "" : ", ", dtype_name(t), (unsigned long long)count[t],
               (double)bytes[t] / (1024.0 * 1024.0));
        first = false;
    }
    printf(")\n");
    printf("weights:         %.2f MiB, mostly %s\n", (double)model_weight_bytes(m) / (1024.0 * 1024.0),
           model_weight_type(m));
    printf("tokenizer:       %s (pre-tokenizer %s), %d tokens, BOS %d, EOS %d\n", tok_model_name(tok),
           tok_pre_name(tok), tok_n_vocab(tok), tok_bos(tok), tok_eos(tok));
    gguf_str_t tmpl;
    if (gguf_get_str(g, "tokenizer.chat_template", &tmpl) == 0)
        printf("chat template:   yes (%llu bytes)\n", (unsigned long long)tmpl.len);
    else
        printf("chat template:   no\n");
    model_free(m);
    return 0;
}
