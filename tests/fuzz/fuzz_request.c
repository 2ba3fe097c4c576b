/*
 * fuzz_request.c — libFuzzer target for request validation: the strict JSON reader (api/jr.c) and the parameter
 * checks of /v1/chat/completions and /v1/completions (api/params.c), then the prompts built from a valid request
 * (api/prompt.c: the chat template rendered over the messages, or the prompt tokenized / its ids checked).
 *
 * Input: byte 0 picks the endpoint (even: chat, odd: completions); the rest is the request body. Every body must
 * be accepted or refused with an error object that has a status (400..599), a type and a message; anything
 * ASan/UBSan/LSan reports is a bug. Seeds and regressions: tests/fuzz/corpus/request/; dictionary
 * tests/fuzz/request.dict. Build and run: `make fuzz`.
 */
#include <cjson/cJSON.h>

#include "api_int.h"
#include "fuzz_api.h"
#include "jr.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fz_api_init();
    return 0;
}

static void fz__check_err(const api_err_t *e) {
    if (e->status < 400 || e->status > 599 || !e->type || !e->type[0] || !e->message[0]) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const api_kind_t kind = data[0] % 2 ? API_TEXT : API_CHAT;
    api_err_t e;
    memset(&e, 0, sizeof e);
    cJSON *root = NULL;
    if (jr_parse((const char *)data + 1, size - 1, &root, &e) != 0) {
        fz__check_err(&e);
        return 0;
    }
    api_spec_t spec;
    memset(&e, 0, sizeof e);
    if (api__parse_request(fz_api.api[0], kind, root, &spec, &e) != 0) {
        fz__check_err(&e);
    } else {
        memset(&e, 0, sizeof e);
        if (api__build_prompts(fz_api.api[0], &spec, &e) != 0) {
            fz__check_err(&e);
        } else {
            for (size_t i = 0; i < spec.n_prompts; i++)
                for (size_t j = 0; j < spec.prompts[i].n; j++)
                    if (spec.prompts[i].ids[j] < 0 || spec.prompts[i].ids[j] >= tok_n_vocab(fz_api.tok)) abort();
        }
    }
    api__spec_free(&spec);
    cJSON_Delete(root);
    return 0;
}
