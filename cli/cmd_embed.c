/*
 * cmd_embed.c — `cinder embed -m MODEL TEXT...`: the embedding of each text with an embedding model (bert,
 * nomic-bert, or a decoder with a pooling type), computed by the engine as the server computes them (all texts
 * batched into the same forward passes), printed as one JSON array per line, in the order of the texts.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "engine.h"
#include "err.h"

#define EMBED_MAX_TEXTS 1024

/* One text's request: its events, copied by the engine thread and waited for by main. */
typedef struct {
    pthread_mutex_t *mu;
    pthread_cond_t *cv;
    int *n_done;
    float *embd;         /* (n_embd,) */
    int32_t n_embd;      /* 0 until the EMBEDDING event */
    engine_finish_t finish;
    char err[160];
} embed_job_t;

/* Engine thread. */
static void embed__on_event(void *user, const engine_event_t *ev) {
    embed_job_t *j = user;
    pthread_mutex_lock(j->mu);
    if (ev->type == ENGINE_EV_EMBEDDING) {
        memcpy(j->embd, ev->embedding, (size_t)ev->n_embedding * sizeof(float));
        j->n_embd = ev->n_embedding;
    } else if (ev->type == ENGINE_EV_END) {
        j->finish = ev->finish;
        if (ev->err_msg) snprintf(j->err, sizeof j->err, "%s", ev->err_msg);
        (*j->n_done)++;
        pthread_cond_signal(j->cv);
    }
    pthread_mutex_unlock(j->mu);
}

static void embed__usage(FILE *to) {
    fprintf(to, "usage: cinder embed -m MODEL [options] TEXT [TEXT...]\n"
                "  prints each text's embedding (pooled as the model says, unit length) as a JSON array, one per\n"
                "  line, in order; the texts run batched, as the server runs them\n"
                "  -m, --model PATH     GGUF embedding model (bert, nomic-bert, or a decoder with a pooling type)\n"
                "  -c, --ctx-size N     most tokens per text (default: the model's training context)\n"
                "  -t, --threads N      compute threads (default: all CPUs)\n");
}

int cmd_embed(int argc, char **argv) {
    const char *path = NULL;
    const char *texts[EMBED_MAX_TEXTS];
    int n_texts = 0;
    long long n_ctx = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            embed__usage(stdout);
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!(path = cli_value("embed", argc, argv, &i))) return 2;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
            if (!(v = cli_value("embed", argc, argv, &i)) || !cli_parse_int("embed", a, v, 1, 1 << 24, &n_ctx))
                return 2;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!(v = cli_value("embed", argc, argv, &i)) || !cli_parse_int("embed", a, v, 1, 256, &threads))
                return 2;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "cinder embed: unknown option '%s' (see --help)\n", a);
            return 2;
        } else if (n_texts == EMBED_MAX_TEXTS) {
            fprintf(stderr, "cinder embed: at most %d texts\n", EMBED_MAX_TEXTS);
            return 2;
        } else {
            texts[n_texts++] = a;
        }
    }
    if (!path || n_texts == 0) {
        fprintf(stderr, "cinder embed: -m MODEL and at least one TEXT are required (see --help)\n");
        return 2;
    }

    engine_params_t p = engine_default_params();
    p.model_path = path;
    p.n_ctx = (int32_t)n_ctx;
    p.n_threads = (int)threads;
    p.max_queue = n_texts;
    char err[512] = "";
    engine_t *e = NULL;
    if (engine_create(&p, &e, err, sizeof err)) {
        fprintf(stderr, "cinder embed: %s\n", err);
        return 1;
    }
    const model_t *m = engine_model(e);
    const int32_t d = model_hparams(m)->n_embd;
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    int n_done = 0, n_sent = 0, status = 1;
    embed_job_t *jobs = calloc((size_t)n_texts, sizeof *jobs);
    float *vecs = malloc((size_t)n_texts * (size_t)d * sizeof(float));
    int32_t *ids = NULL;
    if (!jobs || !vecs) {
        fprintf(stderr, "cinder embed: out of memory\n");
        goto cleanup;
    }
    for (int i = 0; i < n_texts; i++) {
        size_t len = strlen(texts[i]), n = 0;
        free(ids);
        ids = malloc((len + 8) * sizeof *ids); /* a token per byte at most, plus the special ones */
        if (!ids || tok_encode(model_tok(m), texts[i], len, TOK_ADD_SPECIAL, ids, len + 8, &n) != 0) {
            fprintf(stderr, "cinder embed: cannot tokenize text %d\n", i + 1);
            goto wait;
        }
        jobs[i] = (embed_job_t){.mu = &mu, .cv = &cv, .n_done = &n_done, .embd = vecs + (size_t)i * d};
        engine_req_t r = {.kind = ENGINE_REQ_EMBED, .prompt = ids, .n_prompt = n, .on_event = embed__on_event,
                          .user = &jobs[i]};
        uint64_t id;
        if (engine_submit(e, &r, &id, err, sizeof err) != 0) {
            fprintf(stderr, "cinder embed: text %d: %s\n", i + 1, err);
            goto wait;
        }
        n_sent++;
    }
    status = 0;
wait: /* every submitted request ends with an event: wait for all before the engine goes */
    pthread_mutex_lock(&mu);
    while (n_done < n_sent) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < n_sent && status == 0; i++) {
        if (jobs[i].finish != ENGINE_FINISH_STOP || jobs[i].n_embd != d) {
            fprintf(stderr, "cinder embed: text %d: %s\n", i + 1, jobs[i].err[0] ? jobs[i].err : "no embedding");
            status = 1;
        }
    }
    for (int i = 0; i < n_sent && status == 0; i++) {
        for (int32_t k = 0; k < d; k++) printf(k ? ",%.7g" : "[%.7g", (double)jobs[i].embd[k]);
        printf("]\n");
    }
cleanup:
    free(ids);
    free(jobs);
    free(vecs);
    engine_free(e);
    return status;
}
