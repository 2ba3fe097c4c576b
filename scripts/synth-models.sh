#!/usr/bin/env bash
# Writes the synthetic test models listed in tests/archs/models.tsv to build/synth/NAME.gguf (missing ones only),
# with ../shared/tools/synth_gguf.py (seeded: the same arguments give the same bytes). SHARED overrides ../shared.
set -euo pipefail
set -f # the arguments in models.tsv hold * and ? (formulas, tensor-name globs): never file globs
cd "$(dirname "$0")/.."
shared=${SHARED:-../shared}
out=build/synth
mkdir -p "$out"
while IFS=$'\t' read -r name args; do
    case "$name" in ''|'#'*) continue ;; esac
    [ -s "$out/$name.gguf" ] && continue
    case "$args" in
    @*) # a variant of an earlier model: gguf_edit.py's options after the base name
        base=${args%% *} opts=${args#* }
        # shellcheck disable=SC2086 # opts is a list of options
        /usr/bin/python3 tests/archs/gguf_edit.py "$out/${base#@}.gguf" "$out/$name.gguf.tmp" $opts ;;
    *)
        donor="$shared/models/vocab/ggml-vocab-llama-spm.gguf"
        args=${args//SHARED\//$shared/} # an explicit --donor SHARED/... overrides the default one
        # shellcheck disable=SC2086 # args is a list of options
        /usr/bin/python3 "$shared/tools/synth_gguf.py" --donor "$donor" $args -o "$out/$name.gguf.tmp" >/dev/null ;;
    esac
    mv "$out/$name.gguf.tmp" "$out/$name.gguf"
done < tests/archs/models.tsv
