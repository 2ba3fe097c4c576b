/* apierr.c — OpenAI's error envelope (see apierr.h). */
#include "apierr.h"

#include <stdio.h>
#include <string.h>

#include "jr.h"
#include "jw.h"

int api_err_set(api_err_t *e, int rc, int status, const char *type, const char *code, const char *param,
                const char *fmt, ...) {
    e->status = status;
    e->type = type;
    e->code = code;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    jr_utf8_sanitize(e->message); /* user bytes (a URL) or a cut character never reach the JSON invalid */
    jr_utf8_sanitize(e->param);
    return rc;
}

char *api_err_json(const api_err_t *e, size_t *len) {
    jw_t w;
    jw_init(&w);
    jw_obj(&w);
    jw_key(&w, "error");
    jw_obj(&w);
    jw_key(&w, "message");
    jw_str(&w, e->message);
    jw_key(&w, "type");
    jw_str(&w, e->type ? e->type : "invalid_request_error");
    jw_key(&w, "param");
    if (e->param[0])
        jw_str(&w, e->param);
    else
        jw_null(&w);
    jw_key(&w, "code");
    jw_str(&w, e->code);
    jw_end(&w);
    jw_end(&w);
    return jw_finish(&w, len);
}
