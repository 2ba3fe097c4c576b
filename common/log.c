/*
 * log.c — logfmt / JSON lines on stderr (see log.h).
 */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "err.h"

static log_level_t log__min = LOG_INFO;
static log_format_t log__format = LOG_FORMAT_LOGFMT;
static FILE *log__to = NULL; /* NULL = stderr, looked up at write time */

static const char *const log__names[] = {"debug", "info", "warn", "error"};

void log_setup(log_level_t min_level, log_format_t format, FILE *to) {
    log__min = min_level;
    log__format = format;
    log__to = to;
}

bool log_on(log_level_t level) { return level >= log__min; }

const char *log_level_name(log_level_t level) {
    return (unsigned)level < sizeof log__names / sizeof log__names[0] ? log__names[level] : "info";
}

int log_level_parse(const char *s, log_level_t *out) {
    for (int i = 0; s && i < 4; i++)
        if (!strcmp(s, log__names[i])) {
            *out = (log_level_t)i;
            return 0;
        }
    return ERR_INVAL;
}

int log_format_parse(const char *s, log_format_t *out) {
    if (s && !strcmp(s, "logfmt")) {
        *out = LOG_FORMAT_LOGFMT;
        return 0;
    }
    if (s && !strcmp(s, "json")) {
        *out = LOG_FORMAT_JSON;
        return 0;
    }
    return ERR_INVAL;
}

/* ---- a bounded line buffer -------------------------------------------------------------------------------- */

typedef struct {
    char *buf;
    size_t cap; /* bytes available for text, keeping room for "\n\0" */
    size_t len;
    bool full;
    size_t str_max; /* string values longer than this are cut and end in "..." */
} log_buf_t;

static void lb_putc(log_buf_t *b, char c) {
    if (b->len < b->cap)
        b->buf[b->len++] = c;
    else
        b->full = true;
}

static void lb_puts(log_buf_t *b, const char *s) {
    for (; *s; s++)
        lb_putc(b, *s);
}

/* Length of the UTF-8 character at s (1..4) when it is well formed and fits in n bytes, else 0. */
static size_t log__utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t k = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (!k || k > n) return 0;
    if (k == 2 && c < 0xC2) return 0; /* overlong */
    for (size_t i = 1; i < k; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    if (k == 3 && ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0))) return 0; /* overlong, surrogates */
    if (k == 4 && ((c == 0xF0 && s[1] < 0x90) || c > 0xF4 || (c == 0xF4 && s[1] >= 0x90))) return 0;
    return k;
}

/* A JSON string with quotes. */
static void lb_json_str(log_buf_t *b, const char *s) {
    lb_putc(b, '"');
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)p);
    bool cut = n > b->str_max;
    if (cut) n = b->str_max;
    while (n) {
        unsigned c = *p;
        char esc[8];
        if (c == '"' || c == '\\') {
            lb_putc(b, '\\');
            lb_putc(b, (char)c);
        } else if (c == '\n') {
            lb_puts(b, "\\n");
        } else if (c == '\r') {
            lb_puts(b, "\\r");
        } else if (c == '\t') {
            lb_puts(b, "\\t");
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            lb_puts(b, esc);
        } else if (c >= 0x80) {
            size_t k = log__utf8_len(p, n);
            if (!k) {
                lb_puts(b, "\\ufffd");
                k = 1;
            } else {
                for (size_t i = 0; i < k; i++)
                    lb_putc(b, (char)p[i]);
            }
            p += k;
            n -= k;
            continue;
        } else {
            lb_putc(b, (char)c);
        }
        p++;
        n--;
    }
    if (cut) lb_puts(b, "...");
    lb_putc(b, '"');
}

/* A logfmt value: bare when it has no space, quote, '=' or control byte and is not empty; else quoted. */
static void lb_logfmt_str(log_buf_t *b, const char *s) {
    s = s ? s : "";
    size_t n = strlen(s);
    bool cut = n > b->str_max;
    if (cut) n = b->str_max;
    bool bare = n > 0 && !cut;
    for (size_t i = 0; i < n && bare; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f) bare = false;
    }
    if (bare) {
        lb_puts(b, s);
        return;
    }
    lb_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; p < (const unsigned char *)s + n; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            lb_putc(b, '\\');
            lb_putc(b, (char)*p);
        } else if (*p == '\n') {
            lb_puts(b, "\\n");
        } else if (*p < 0x20 || *p == 0x7f) {
            snprintf(esc, sizeof esc, "\\x%02x", *p);
            lb_puts(b, esc);
        } else {
            lb_putc(b, (char)*p);
        }
    }
    if (cut) lb_puts(b, "...");
    lb_putc(b, '"');
}

static void lb_field(log_buf_t *b, log_format_t f, const char *key, const log_kv_t *v, const char *str) {
    char num[48];
    if (f == LOG_FORMAT_JSON) {
        lb_putc(b, ',');
        lb_json_str(b, key);
        lb_putc(b, ':');
    } else {
        lb_putc(b, ' ');
        lb_puts(b, key);
        lb_putc(b, '=');
    }
    if (!v || v->type == LOG_KV_STR) {
        const char *s = v ? v->s : str;
        if (f == LOG_FORMAT_JSON)
            lb_json_str(b, s);
        else
            lb_logfmt_str(b, s);
        return;
    }
    if (v->type == LOG_KV_INT)
        snprintf(num, sizeof num, "%lld", (long long)v->i);
    else if (v->d != v->d || v->d > 1e300 || v->d < -1e300)
        snprintf(num, sizeof num, "%s", f == LOG_FORMAT_JSON ? "null" : "NaN");
    else
        snprintf(num, sizeof num, "%.3f", v->d);
    lb_puts(b, num);
}

/* One attempt at a line with string values cut at str_max bytes; false when it did not fit. */
static bool log__try_line(log_buf_t *b, log_format_t format, const char *ts, log_level_t level, const char *msg,
                          const log_kv_t *kv, size_t n) {
    b->len = 0;
    b->full = false;
    if (format == LOG_FORMAT_JSON) {
        lb_puts(b, "{\"ts\":");
        lb_json_str(b, ts);
    } else {
        lb_puts(b, "ts=");
        lb_puts(b, ts);
    }
    lb_field(b, format, "level", NULL, log_level_name(level));
    lb_field(b, format, "msg", NULL, msg);
    for (size_t i = 0; i < n; i++)
        lb_field(b, format, kv[i].key, &kv[i], NULL);
    if (format == LOG_FORMAT_JSON) lb_putc(b, '}');
    return !b->full;
}

size_t log_format_line(char *buf, size_t cap, log_format_t format, int64_t ts_ms, log_level_t level, const char *msg,
                       const log_kv_t *kv, size_t n) {
    if (!buf || cap < 64) return 0;
    char ts[96];
    if (ts_ms < 0) ts_ms = 0;
    time_t secs = (time_t)(ts_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ts_ms % 1000));
    /* values are cut shorter and shorter until the line fits, so a line always stays well formed */
    static const size_t limits[] = {(size_t)-1, 256, 32, 0};
    log_buf_t b = {.buf = buf, .cap = cap - 2};
    bool ok = false;
    for (size_t i = 0; i < sizeof limits / sizeof limits[0] && !ok; i++) {
        b.str_max = limits[i];
        ok = log__try_line(&b, format, ts, level, msg, kv, n);
    }
    if (!ok) { /* far too many fields: keep the time and level only */
        b.str_max = 0;
        log__try_line(&b, format, ts, level, "", NULL, 0);
    }
    buf[b.len++] = '\n';
    buf[b.len] = '\0';
    return b.len;
}

void log_kv(log_level_t level, const char *msg, const log_kv_t *kv, size_t n) {
    if (!log_on(level)) return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char line[LOG_LINE_MAX];
    size_t len = log_format_line(line, sizeof line, log__format, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
                                 level, msg, kv, n);
    FILE *to = log__to ? log__to : stderr;
    fwrite(line, 1, len, to);
    fflush(to);
}

void log_msg(log_level_t level, const char *fmt, ...) {
    if (!log_on(level)) return;
    char msg[LOG_LINE_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_kv(level, msg, NULL, 0);
}
