/* err.c — names and descriptions for the codes in err.h. */
#include "err.h"

#include <stdio.h>

const char *err_name(int code) {
    switch (code) {
    case ERR_OK: return "ERR_OK";
#define ERR__NAME(name, c, text) \
    case ERR_##name: return "ERR_" #name;
        ERR_MAP(ERR__NAME)
#undef ERR__NAME
    }
    return "ERR_UNKNOWN";
}

const char *err_str(int code) {
    switch (code) {
    case ERR_OK: return "success";
#define ERR__STR(name, c, text) \
    case ERR_##name: return text;
        ERR_MAP(ERR__STR)
#undef ERR__STR
    }
    return "unknown error";
}

int err_set(char *err, size_t err_len, int code, const char *fmt, ...) {
    if (err && err_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return code;
}
