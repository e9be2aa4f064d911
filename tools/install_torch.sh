#!/bin/sh
# Install PyTorch with the pip given as $1. Without an NVIDIA GPU, take the CPU build from
# PyTorch's own wheel index (~200 MB; the package index's Linux torch is the CUDA build with
# GBs of nvidia packages); where that index cannot be reached, fall back to the plain index
# after one short try. TORCH names the release, TORCH_INDEX another index ("" for none).
set -eu
pip=$1
torch=${TORCH:-torch==2.13.0}
if [ -z "${TORCH_INDEX+set}" ]; then
    if command -v nvidia-smi >/dev/null 2>&1; then TORCH_INDEX=""; else TORCH_INDEX=https://download.pytorch.org/whl/cpu; fi
fi
if [ -n "$TORCH_INDEX" ] && "$pip" install --quiet --timeout 5 --retries 0 --index-url "$TORCH_INDEX" "$torch"; then
    exit 0
fi
[ -n "$TORCH_INDEX" ] && echo "$TORCH_INDEX could not be reached: installing $torch from the plain index"
"$pip" install --quiet "$torch"
