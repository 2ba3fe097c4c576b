/* stop.c — stop-sequence matching over a growing text (see stop.h). */
#include "stop.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

int api_stop_add(api_stop_t *st, const char *s, size_t n) {
    if (n == 0) return ERR_INVAL;
    if (st->n >= API_STOP_MAX) return ERR_LIMIT;
    char *c = malloc(n + 1);
    if (!c) return ERR_NOMEM;
    memcpy(c, s, n);
    c[n] = '\0';
    st->s[st->n] = c;
    st->len[st->n] = n;
    st->n++;
    return 0;
}

void api_stop_clear(api_stop_t *st) {
    for (int i = 0; i < st->n; i++)
        free(st->s[i]);
    memset(st, 0, sizeof *st);
}

long api_stop_find(const api_stop_t *st, const char *text, size_t len, size_t from) {
    long best = -1;
    if (from > len) return -1;
    for (int i = 0; i < st->n; i++) {
        size_t m = st->len[i];
        if (m > len - from) continue;
        const char *hit = memmem(text + from, len - from, st->s[i], m);
        if (hit && (best < 0 || hit - text < best)) best = (long)(hit - text);
    }
    return best;
}

size_t api_stop_holdback(const api_stop_t *st, const char *text, size_t len) {
    size_t best = 0;
    for (int i = 0; i < st->n; i++) {
        size_t m = st->len[i];
        /* proper prefixes of s[i] of length k, longest first, that end the text */
        size_t kmax = m - 1 < len ? m - 1 : len;
        for (size_t k = kmax; k > best; k--)
            if (!memcmp(text + len - k, st->s[i], k)) {
                best = k;
                break;
            }
    }
    return best;
}
