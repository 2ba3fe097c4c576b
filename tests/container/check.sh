#!/usr/bin/env bash
# Builds the image from docker/Dockerfile and runs what docker/ describes with a real container engine:
#   pod      docker/k8s/deployment.yaml's pod template under `podman kube play` (podman only): the init container
#            pulls the model into the pod's volume, the server starts from it as uid 10001 on a read-only root
#            file system, the liveness probe (podman's health check) passes, the API answers by the alias, and
#            stopping the pod ends the server with exit status 0;
#   compose  docker/compose.yaml with `docker compose` (docker) or `podman-compose` (podman): the service pulls on
#            demand into its volume, answers on the published port without a key, its HEALTHCHECK turns healthy,
#            and `stop` ends it with exit status 0.
# Hugging Face is replaced by tests/e2e/hub_server.py listening on this host's address (containers reach it
# there), and the default model by its test repository (stories260K). Not part of `make test`: it needs a
# container engine and builds an image (minutes). `make test-container`. Ends with "container: N passed, N failed".
#
# Usage: tests/container/check.sh [SHARED_DIR]
#   ENGINE=podman|docker  the engine (default: podman if installed, else docker)
#   IMAGE=NAME            the tag built and run (default cinder:check); BUILD=0 runs an existing IMAGE
#   BASE=IMAGE            --build-arg BASE=IMAGE: a local Debian 12 image where no registry is reachable
#   BUILD_FLAGS="..."     more `build` flags (a sandbox may need --isolation chroot for podman)
#   HOST_ADDRESS=ADDR     the host address containers reach (default: the first of `hostname -I`)
set -u
cd "$(dirname "$0")/../.." || exit 1
SHARED=${1:-../shared}
ENGINE=${ENGINE:-$(command -v podman >/dev/null && echo podman || echo docker)}
IMAGE=${IMAGE:-cinder:check}
REF=test/stories260K-GGUF:Q8_0
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | tail -30 | sed 's/^/     /'; }
tmp=$(mktemp -d)
hub_pid=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    [ -n "$hub_pid" ] && kill "$hub_pid" 2>/dev/null
    if [ "$ENGINE" = podman ]; then
        podman pod rm -f -t 0 cinder >/dev/null 2>&1
        podman volume rm -f models >/dev/null 2>&1
    fi
    [ -n "${COMPOSE:-}" ] && $COMPOSE -p cinder-check -f docker/compose.yaml -f "$tmp/override.yaml" down -v >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT
finish() { echo "container: $pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit $?; }
# wait_http URL [SECONDS]: 0 once GET URL answers 200
wait_http() {
    for _ in $(seq 1 $((${2:-120} * 5))); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" = 200 ] && return 0
        sleep 0.2
    done
    return 1
}
chat() { # chat URL MODEL: the HTTP status of a short chat completion
    curl -s -o "$tmp/chat.json" -w '%{http_code}' "$1/v1/chat/completions" -H 'content-type: application/json' \
        -d "{\"model\":\"$2\",\"messages\":[{\"role\":\"user\",\"content\":\"Once upon a time\"}],\"max_tokens\":8}"
}

command -v "$ENGINE" >/dev/null || { bad "no container engine ($ENGINE)"; finish; }
[ -f "$SHARED/models/stories260K-Q8_0.gguf" ] || { bad "no $SHARED/models/stories260K-Q8_0.gguf"; finish; }
if [ ! -f tests/e2e/deploy/node_modules/yaml/package.json ]; then
    (cd tests/e2e/deploy && npm ci --no-audit --no-fund --loglevel=error) >"$tmp/npm.log" 2>&1 ||
        { bad "npm ci in tests/e2e/deploy" "$(cat "$tmp/npm.log")"; finish; }
fi

# ---- the image --------------------------------------------------------------------------------------------------
if [ "${BUILD:-1}" != 0 ]; then
    flags=()
    [ "$ENGINE" = podman ] && flags+=(--format docker) # keeps HEALTHCHECK
    [ -n "${BASE:-}" ] && flags+=(--build-arg "BASE=$BASE")
    # shellcheck disable=SC2086 # BUILD_FLAGS is a list of words
    if $ENGINE build "${flags[@]}" ${BUILD_FLAGS:-} -f docker/Dockerfile -t "$IMAGE" . >"$tmp/build.log" 2>&1; then
        ok "$ENGINE build -f docker/Dockerfile"
    else
        bad "$ENGINE build" "$(cat "$tmp/build.log")"
        finish
    fi
fi
user=$($ENGINE image inspect "$IMAGE" --format '{{.Config.User}}' 2>&1)
if [ "$user" = 10001:10001 ]; then ok "image runs as 10001:10001"; else bad "image user" "$user"; fi

# ---- the hub stand-in -------------------------------------------------------------------------------------------
addr=${HOST_ADDRESS:-$(hostname -I | awk '{print $1}')}
HUB_ADDRESS=$addr python3 tests/e2e/hub_server.py "$SHARED/models" "$tmp/hub.port" "$tmp/hub.log" \
    2>"$tmp/hub.err" &
hub_pid=$!
for _ in $(seq 1 50); do [ -s "$tmp/hub.port" ] && break; sleep 0.1; done
[ -s "$tmp/hub.port" ] || { bad "hub_server.py on $addr" "$(cat "$tmp/hub.err")"; finish; }
endpoint=http://$addr:$(cut -d' ' -f1 "$tmp/hub.port")
downloads() { # how many times the model was asked for
    if [ -f "$tmp/hub.log" ]; then grep -c "resolve/main/stories260K-Q8_0.gguf" "$tmp/hub.log" || true; else echo 0; fi
}

# ---- the Kubernetes pod template under podman kube play ------------------------------------------------------------
if [ "$ENGINE" = podman ]; then
    node tests/container/pod_from_deployment.mjs "$IMAGE" "$REF" "$endpoint" >"$tmp/pod.yaml"
    # from an empty folder: podman builds, instead of pulling, an image named like a folder of the working one
    if (cd "$tmp" && podman kube play pod.yaml) >"$tmp/play.log" 2>&1; then
        ok "podman kube play (the Deployment's pod template)"
        c=cinder-cinder
        ip=$(podman inspect "$(podman pod inspect cinder --format '{{.InfraContainerID}}')" \
            --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}')
        alias=$(grep -A1 -- '- --alias' docker/k8s/deployment.yaml | tail -1 | sed 's/.*- //')
        if wait_http "http://$ip:8080/health" 120; then ok "pod: /health 200"; else bad "pod: /health" "$(podman logs $c 2>&1)"; fi
        if [ "$(downloads)" -ge 1 ] && podman logs $c 2>&1 | grep -q '"path":"/models/cache/cinder/models/test/'; then
            ok "pod: the init container pulled the model into the volume, the server loaded it from there"
        else
            bad "pod: init container pull" "$(podman logs $c 2>&1 | head -5)"
        fi
        s=$(chat "http://$ip:8080" "$alias")
        if [ "$s" = 200 ]; then ok "pod: chat completion by the alias $alias"; else bad "pod: chat ($s)" "$(cat "$tmp/chat.json")"; fi
        if podman healthcheck run $c >/dev/null 2>&1; then ok "pod: liveness probe (podman health check) healthy"
        else bad "pod: liveness probe" "$(podman inspect $c --format '{{json .Config.Healthcheck}}')"; fi
        id=$(podman exec $c id -u 2>&1)
        if [ "$id" = 10001 ] && ! podman exec $c touch /usr/local/bin/x >/dev/null 2>&1; then
            ok "pod: uid 10001, read-only root file system"
        else
            bad "pod: security context" "uid $id"
        fi
        podman pod stop -t 30 cinder >/dev/null 2>&1
        code=$(podman inspect $c --format '{{.State.ExitCode}}')
        if [ "$code" = 0 ]; then ok "pod: stop (SIGTERM) -> exit 0"; else bad "pod: exit status $code" "$(podman logs $c 2>&1 | tail -5)"; fi
        podman pod rm -f -t 0 cinder >/dev/null 2>&1
        podman volume rm -f models >/dev/null 2>&1
    else
        bad "podman kube play" "$(cat "$tmp/play.log")"
    fi
else
    echo "skip pod: podman kube play needs podman (ENGINE=$ENGINE)"
fi

# ---- compose ----------------------------------------------------------------------------------------------------------
if [ "$ENGINE" = docker ] && docker compose version >/dev/null 2>&1; then
    COMPOSE="docker compose"
elif [ "$ENGINE" = podman ] && command -v podman-compose >/dev/null; then
    COMPOSE=podman-compose
else
    bad "no compose for $ENGINE (docker compose, or Debian's podman-compose)"
    finish
fi
cat >"$tmp/override.yaml" <<EOF
services:
  cinder:
    image: $IMAGE
    environment:
      - HF_ENDPOINT=$endpoint
EOF
before=$(downloads)
if MODEL=$REF CINDER_API_KEYS='' HF_TOKEN='' $COMPOSE -p cinder-check -f docker/compose.yaml -f "$tmp/override.yaml" \
    up -d --no-build >"$tmp/up.log" 2>&1; then
    ok "$COMPOSE up"
    c=$($ENGINE ps -aq --filter label=com.docker.compose.project=cinder-check | head -1)
    if wait_http http://127.0.0.1:8080/health 120; then ok "compose: /health 200 on the published port"
    else bad "compose: /health" "$($ENGINE logs "$c" 2>&1 | tail -10)"; fi
    if [ "$(downloads)" -gt "$before" ] && ! grep -q '"auth": "' "$tmp/hub.log"; then
        ok "compose: pulled on demand, no Authorization sent for an empty HF_TOKEN"
    else
        bad "compose: pull" "$(tail -3 "$tmp/hub.log")"
    fi
    id=$(curl -s http://127.0.0.1:8080/v1/models | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
    s=$(chat http://127.0.0.1:8080 "$id")
    if [ "$s" = 200 ]; then ok "compose: chat completion without a key ($id)"; else bad "compose: chat ($s)" "$(cat "$tmp/chat.json")"; fi
    healthy=""
    for _ in $(seq 1 40); do
        [ "$ENGINE" = podman ] && podman healthcheck run "$c" >/dev/null 2>&1 && healthy=1 && break
        [ "$($ENGINE inspect "$c" --format '{{.State.Health.Status}}' 2>/dev/null)" = healthy ] && healthy=1 && break
        sleep 1
    done
    if [ -n "$healthy" ]; then ok "compose: the image's HEALTHCHECK is healthy"; else bad "compose: HEALTHCHECK"; fi
    $ENGINE stop -t 10 "$c" >/dev/null 2>&1
    code=$($ENGINE inspect "$c" --format '{{.State.ExitCode}}')
    if [ "$code" = 0 ]; then ok "compose: stop (SIGTERM) -> exit 0"; else bad "compose: exit status $code"; fi
else
    bad "$COMPOSE up" "$(cat "$tmp/up.log")"
fi
finish
