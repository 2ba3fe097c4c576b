# shellcheck shell=bash disable=SC2154 # BIN, tmp, pids and the ok/bad counters are the caller's
# Sourced by the end-to-end scripts that start `cinder serve` themselves (test_server.sh, test_playground.sh,
# test_config.sh). The caller defines BIN, tmp, the array pids (killed by its EXIT trap), and ok/bad.

# serve_start NAME ARGS...: starts `$BIN serve --port 0 ARGS...` (with the variables of the array START_ENV, when
# the caller sets one), waits for "listening on URL" and for /health to answer 200; sets URL_<NAME> and
# PID_<NAME>. Returns 1 (after `bad`) when the server does not come up.
serve_start() {
    local name=$1; shift
    env "${START_ENV[@]+"${START_ENV[@]}"}" "$BIN" serve --port 0 "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
    local pid=$! url=""
    pids+=("$pid")
    for _ in $(seq 1 200); do
        url=$(sed -n 's/^listening on \(http:[^ ]*\)$/\1/p' "$tmp/$name.out" 2>/dev/null)
        [ -n "$url" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$url" ] || { bad "start server $name" "$(cat "$tmp/$name.err")"; return 1; }
    for _ in $(seq 1 300); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/health")" = 200 ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    eval "URL_$name=\$url; PID_$name=\$pid"
}

# serve_stop NAME: SIGTERM; the server must exit within 10 s with status 0 (one ok or bad line).
serve_stop() {
    local pid; eval "pid=\${PID_$1:-}"
    [ -n "$pid" ] || return
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        bad "server $1 exits after SIGTERM" "$(tail -5 "$tmp/$1.err")"
        return
    fi
    wait "$pid"; local rc=$?
    [ $rc -eq 0 ] && ok "server $1: SIGTERM -> exit 0" || bad "server $1: SIGTERM -> exit $rc" "$(tail -5 "$tmp/$1.err")"
}
