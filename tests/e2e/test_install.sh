#!/usr/bin/env bash
# `make install` and `make uninstall` into a scratch DESTDIR, and the man page they install: it renders without
# groff warnings and documents every flag that any `cinder COMMAND --help` prints, every CINDER_* variable
# `cinder serve --help` names, and every route of the HTTP server. Ends with "install: N passed, N failed".
#
# Usage: tests/e2e/test_install.sh [SHARED_DIR]   (SHARED_DIR is not needed; accepted like the other suites)
set -u
cd "$(dirname "$0")/../.." || exit 1
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | head -30 | sed 's/^/     /'; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
finish() { echo "install: $pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit $?; }
MAN=docs/cinder.1

# ---- make install / uninstall ----------------------------------------------------------------------------------
dest=$tmp/root prefix=/opt/cinder-test
if make --no-print-directory install DESTDIR="$dest" PREFIX="$prefix" >"$tmp/make.log" 2>&1; then
    ok "make install DESTDIR=… PREFIX=…"
else
    bad "make install" "$(tail -20 "$tmp/make.log")"
    finish
fi
bin=$dest$prefix/bin/cinder man1=$dest$prefix/share/man/man1/cinder.1
if [ -x "$bin" ] && [ ! -L "$bin" ] && "$bin" --help | grep -q '^usage: cinder'; then
    ok "installed binary runs"
else
    bad "installed binary runs" "$(find "$dest" 2>&1 | head -20)"
fi
if cmp -s "$man1" "$MAN" && [ "$(stat -c %a "$man1")" = 644 ]; then
    ok "installed man page"
else
    bad "installed man page" "$(ls -l "$man1" 2>&1)"
fi
make --no-print-directory uninstall DESTDIR="$dest" PREFIX="$prefix" >"$tmp/make.log" 2>&1
if [ ! -e "$bin" ] && [ ! -e "$man1" ]; then
    ok "make uninstall removes both"
else
    bad "make uninstall" "$(cat "$tmp/make.log")"
fi

# ---- the man page ------------------------------------------------------------------------------------------------
if command -v groff >/dev/null; then
    warn=$(groff -man -Tutf8 -ww -z "$MAN" 2>&1)
    if [ -z "$warn" ]; then ok "man page renders without warnings"; else bad "groff -ww warnings" "$warn"; fi
fi
# The page as text: roff's \- is a plain hyphen-minus there.
sed -e 's/\\-/-/g' -e 's/\\e/\\/g' "$MAN" >"$tmp/man.txt"
missing=()
cmds=$(./cinder --help | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p')
[ -n "$cmds" ] || bad "cinder --help lists commands"
for c in $cmds; do
    grep -q -- "cinder $c" "$tmp/man.txt" || missing+=("command $c")
    ./cinder "$c" --help >"$tmp/help" 2>&1
    # shellcheck disable=SC2013 # flags and variables are single words
    for f in $(grep -oE '(^|[][ ,(])--?[a-z][a-z0-9-]*' "$tmp/help" | sed 's/^[][ ,(]//' | sort -u); do
        grep -qE -- "(^|[^a-z-])$f([^a-z0-9-]|$)" "$tmp/man.txt" || missing+=("$c $f")
    done
    # shellcheck disable=SC2013
    for v in $(grep -oE '\b(CINDER|HF)_[A-Z_]+\b|\bXDG_CACHE_HOME\b|\bSOURCE_DATE_EPOCH\b' "$tmp/help" | sort -u); do
        grep -q -- "$v" "$tmp/man.txt" || missing+=("$c variable $v")
    done
done
if [ ${#missing[@]} -eq 0 ]; then
    ok "man page documents every command, flag and variable of --help"
else
    bad "man page misses what --help shows" "${missing[*]}"
fi
# every route: the ones in `serve --help`, and the playground
routes=$( (./cinder serve --help; echo 'GET /') | grep -oE '(GET|POST) /[a-z0-9/{}]*' | sort -u)
miss=()
while read -r m p; do
    grep -qF -- "$m $p" "$tmp/man.txt" || miss+=("$m $p")
done <<<"$routes"
if [ ${#miss[@]} -eq 0 ]; then ok "man page documents every endpoint"; else bad "man page misses endpoints" "${miss[*]}"; fi
finish
