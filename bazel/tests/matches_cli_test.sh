#!/bin/sh
# The model and C array quantmcu_model built must be byte-identical to what the quantmcu CLI
# writes when run directly with the same options.
# Usage: matches_cli_test.sh QUANTMCU SRC.tflite RULE_MODEL.tflite RULE_ARRAY.cc NAME [OPTIONS...]
set -eu
quantmcu=$1 src=$2 model=$3 array=$4 name=$5
shift 5
out=${TEST_TMPDIR:-$(mktemp -d)}/direct
"$quantmcu" optimize "$src" -o "$out" "$@" >/dev/null
direct="$out/$(basename "$src" .tflite)_quantmcu.tflite"
cmp "$direct" "$model"
"$quantmcu" export-c "$direct" -o "$out" --name "$name" >/dev/null
cmp "$out/${name}_quantmcu_model.cc" "$array"
echo "ok: $name equals 'quantmcu optimize $* && quantmcu export-c' ($(wc -c <"$model") bytes)"
