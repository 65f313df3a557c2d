#!/usr/bin/env bash
# One prepared GPU check for issue 16 (target: <= 8 minutes on one H100/H200, from a bare checkout).
#
# Runs the project from source with the machine's own python3 (torch with CUDA, numpy; pgfa also
# imports tqdm, pyyaml and matplotlib, which transformers / sentence-transformers installs bring or
# which the check reports as missing): nothing is installed, no internet is needed, and the pinned
# CPU torch of the .venv is NOT used.
#
# Class texts: not needed. The NTU-60-size folder comes with random unit class embeddings
# (benchmarks/scale.py writes text_features.npy and `pgfa train` gets `--set text_features=...`),
# because no figure of this check depends on what the class texts say. To time with real
# embeddings instead, precompute them where the encoder is installed, e.g.
#   .venv/bin/python -c "import numpy as np; from pgfa.text.builtin import builtin_classes; \
#     from pgfa.text.cache import embed_texts; \
#     np.save('ntu60_text.npy', embed_texts([t.text('description') for t in builtin_classes('ntu60')]))"
# carry the file with the checkout and pass `--train-set amp=true text_features=ntu60_text.npy`.
#
# Prints one table (train samples/s per implementation x fp32/bf16 x eager/compiled, inference
# sequences/s, GPU-vs-CPU output difference, peak GPU memory, NTU-60-size `pgfa train` time per
# epoch with the 50-epoch wall time extrapolated and labelled so, `pgfa evaluate`, a one-process
# torchrun NCCL smoke run) and writes the same figures to gpu_check.json in $OUT (or --out DIR).
#
#   bash benchmarks/gpu_check.sh                 # on the GPU machine
#   bash benchmarks/gpu_check.sh --dry-run       # anywhere: CPU, tiny sizes, CUDA-only rows skipped
#   bash benchmarks/gpu_check.sh --budget 300    # shorter (sections shrink or are skipped, and say so)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
"$PY" - <<'PYCHECK'
import importlib, sys
missing = [m for m in ("torch", "numpy", "yaml", "tqdm") if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"gpu_check: {sys.executable} lacks {', '.join(missing)}; pgfa needs them to run")
PYCHECK
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$PY" benchmarks/gpu_check.py "$@"
