#!/bin/sh
# Mutation testing of the core (docs/mutation.md).
#   bench/mutation.sh [module…]   module: hlc ops merge rotation storage (default: all five)
# Runs mutmut (configured in [tool.mutmut] of pyproject.toml) one module at a time with
# MUTMUT_CHILDREN processes (default 1: the machine is shared), then prints per module the
# mutants, killed, survived and the score, and lists each survivor.
set -eu
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
MUTMUT=${MUTMUT:-.venv/bin/mutmut}
export XCIRCLE_HYPOTHESIS_PROFILE=mutation
modules=${*:-hlc ops merge rotation storage}
for m in $modules; do
    case $m in
        hlc | ops | merge | rotation | storage) ;;
        *) echo "mutation.sh: unknown module '$m' (hlc, ops, merge, rotation, storage)" >&2; exit 2 ;;
    esac
    "$MUTMUT" run --max-children "${MUTMUT_CHILDREN:-1}" "xcircle.$m.*" >/dev/null
done
"$PY" bench/mutation_report.py $modules
