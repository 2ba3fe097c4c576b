/*
 * progress.c — the stderr reporter of downloads (see hub.h): a bar redrawn in place on a terminal, plain lines at
 * every 10% otherwise (logs, CI, pipes), so the output stays readable in both.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hub.h"

#define PROGRESS_BAR_W        24         /* characters of the bar */
#define PROGRESS_REDRAW_S     0.1        /* seconds between redraws on a terminal */
#define PROGRESS_UNKNOWN_STEP (64 << 20) /* bytes between lines when the size is unknown (non-terminal) */

static double progress_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

const char *hub_format_size(int64_t bytes, char *buf, size_t cap) {
    if (bytes < 0)
        snprintf(buf, cap, "?");
    else if (bytes < 1024)
        snprintf(buf, cap, "%lld B", (long long)bytes);
    else if (bytes < (int64_t)1 << 20)
        snprintf(buf, cap, "%.1f KiB", (double)bytes / 1024.0);
    else if (bytes < (int64_t)1 << 30)
        snprintf(buf, cap, "%.1f MiB", (double)bytes / (1024.0 * 1024.0));
    else
        snprintf(buf, cap, "%.2f GiB", (double)bytes / (1024.0 * 1024.0 * 1024.0));
    return buf;
}

static void progress_note(void *ud, const char *msg) {
    hub_progress_state_t *st = ud;
    if (st->active) { /* finish the bar's line first */
        fputc('\n', stderr);
        st->active = false;
    }
    fprintf(stderr, "cinder: %s\n", msg);
}

/* The transfer rate since the attempt started, in bytes/s (0 until there is something to measure). */
static double progress_rate(const hub_progress_state_t *st, int64_t done, double now) {
    double dt = now - st->t_start_s;
    return dt > 0.2 && done > st->start_bytes ? (double)(done - st->start_bytes) / dt : 0.0;
}

static void progress_update(void *ud, const char *name, int64_t done_bytes, int64_t total_bytes, bool done) {
    hub_progress_state_t *st = ud;
    double now = progress_now_s();
    int step = total_bytes > 0 ? (int)(done_bytes * 10 / total_bytes) : (int)(done_bytes / PROGRESS_UNKNOWN_STEP);
    if (st->t_start_s == 0) { /* first call of an attempt */
        st->t_start_s = now;
        st->start_bytes = st->last_bytes = done_bytes;
        st->last_decile = step;
    }
    /* This runs for every chunk received: decide first, format only what will be printed. */
    bool draw = st->tty ? done || now - st->t_last_s >= PROGRESS_REDRAW_S
                        : step > st->last_decile || (done && done_bytes != st->last_bytes);
    if (draw) {
        char d[32], t[32], r[32], speed[48] = "";
        hub_format_size(done_bytes, d, sizeof d);
        hub_format_size(total_bytes, t, sizeof t);
        double rate = progress_rate(st, done_bytes, now);
        int pct = total_bytes > 0 ? (int)(done_bytes * 100 / total_bytes) : 0;
        if (rate > 0)
            snprintf(speed, sizeof speed, "%s%s/s", st->tty ? "  " : ", ", hub_format_size((int64_t)rate, r, sizeof r));
        if (st->tty) {
            char bar[PROGRESS_BAR_W + 1];
            int fill = total_bytes > 0 ? (int)(done_bytes * PROGRESS_BAR_W / total_bytes) : 0;
            if (fill > PROGRESS_BAR_W) fill = PROGRESS_BAR_W;
            memset(bar, '#', (size_t)fill);
            memset(bar + fill, '.', (size_t)(PROGRESS_BAR_W - fill));
            bar[PROGRESS_BAR_W] = '\0';
            const char *base = strrchr(name, '/');
            base = base ? base + 1 : name;
            if (total_bytes > 0)
                fprintf(stderr, "\r%-.40s %3d%% [%s] %s / %s%s\033[K", base, pct, bar, d, t, speed);
            else
                fprintf(stderr, "\r%-.40s %s%s\033[K", base, d, speed);
            st->t_last_s = now;
            st->active = true;
        } else if (total_bytes > 0) {
            fprintf(stderr, "cinder: %s: %d%% (%s of %s%s)\n", name, pct, d, t, speed);
        } else {
            fprintf(stderr, "cinder: %s: %s%s\n", name, d, speed);
        }
        st->last_decile = step;
        st->last_bytes = done_bytes;
    }
    if (done) {
        if (st->active) fputc('\n', stderr);
        st->active = false;
        st->t_start_s = 0; /* the next attempt starts afresh */
    }
    fflush(stderr);
}

void hub_reporter_stderr(hub_reporter_t *r, hub_progress_state_t *st) {
    memset(st, 0, sizeof *st);
    st->tty = isatty(STDERR_FILENO) == 1;
    r->note = progress_note;
    r->progress = progress_update;
    r->ud = st;
}
