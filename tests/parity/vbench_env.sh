#!/usr/bin/env bash
# Create the separate virtual environment in which VBench 0.1.5 runs for the parity harness.
#
# VBench pins transformers==4.33.2 and numpy<2, which our own environment does not, so it gets a
# venv of its own OUTSIDE the repository (default /work/vbench-venv; override with VBENCH_VENV).
# torch/torchvision must be the same builds as ours (2.14.1 / 0.29.1) so both sides run the same
# kernels; VBench 0.1.5 does not pin them. Rather than download torch and its CUDA libraries a
# second time (several GB), the torch packages of an existing environment (TORCH_FROM, default
# the repo's .venv) are symlinked into the new venv; set TORCH_FROM= (empty) to pip-install them.
# setuptools<81 keeps pkg_resources, which VBench's dependencies import.
#
# Usage:  bash tests/parity/vbench_env.sh
#         VBENCH_VENV=/tmp/vb TORCH_FROM= bash tests/parity/vbench_env.sh
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
VENV="${VBENCH_VENV:-/work/vbench-venv}"
PY="${PYTHON:-python3.11}"
TORCH_FROM="${TORCH_FROM-$HERE/../../.venv}"

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check -q)
"${PIP[@]}" "setuptools<81" wheel

if [ -n "$TORCH_FROM" ]; then
  SRC="$("$TORCH_FROM/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  for entry in "$SRC"/torch "$SRC"/torch-*.dist-info "$SRC"/torchgen "$SRC"/functorch \
               "$SRC"/torchvision "$SRC"/torchvision-*.dist-info "$SRC"/torchvision.libs \
               "$SRC"/triton "$SRC"/triton-*.dist-info "$SRC"/nvidia "$SRC"/nvidia_*.dist-info \
               "$SRC"/cuda "$SRC"/cuda_*.dist-info; do
    [ -e "$entry" ] && ln -sfn "$entry" "$SITE/$(basename "$entry")"
  done
fi
"${PIP[@]}" "torch==2.14.1" "torchvision==0.29.1"
# VBench itself with the versions it was released against; numpy<2 is VBench's own pin.
"${PIP[@]}" "vbench==0.1.5" "transformers==4.33.2" "numpy<2" "torch==2.14.1" "torchvision==0.29.1" "setuptools<81"
"$VENV/bin/python" -c "import vbench, transformers, torch, clip, decord; print('vbench env ok: torch', torch.__version__, 'transformers', transformers.__version__)"
