#!/usr/bin/env bash
# Prune a model, compile it for a board, deploy it there by key and time it: the whole path,
# tvmc-style. onnxruntime checks the board's outputs here.
#
#   tools/deploy_board.sh MODEL.onnx TRACKER_HOST:PORT KEY [TARGET] [WORKDIR]
#   tools/deploy_board.sh mnv2.onnx 127.0.0.1:9190 rk3399 aarch64-cpu     # a CPU-only Arm board
#   tools/deploy_board.sh mnv2.onnx 127.0.0.1:9190 mali-g78 mali-g78      # a Mali GPU (OpenCL)
#
# TARGET: aarch64-cpu (default), mali, mali-g78, or a TVM target JSON dict. The code is linked
# here by aarch64-linux-gnu-g++ when it is installed, else the board links it when it loads it.
set -euo pipefail
MODEL=${1:?MODEL.onnx}; TRACKER=${2:?HOST:PORT of the RPC tracker}; KEY=${3:?the board\'s key}
TARGET=${4:-aarch64-cpu}; WORK=${5:-deploy-$KEY}
DSPRUNE=${DSPRUNE:-tvm-dsprune}
mkdir -p "$WORK"
CROSS=()
command -v aarch64-linux-gnu-g++ >/dev/null && CROSS=(--cross-compiler aarch64-linux-gnu-g++)
DEVICE=cpu
case "$TARGET" in mali*|*opencl*) DEVICE=opencl ;; esac

# 1. Prune with the board's tile geometry (DEPrune-BH: DW dcp-bh:0.78, PW filter-l2:0.5).
"$DSPRUNE" prune "$MODEL" -o "$WORK/pruned.onnx" --preset deprune-bh --target "$TARGET" -q
# 2. Compile for the board; the package says which architecture its library is for.
"$DSPRUNE" compile "$WORK/pruned.onnx" --target "$TARGET" "${CROSS[@]}" -o "$WORK/pruned.tar" -q
# 3. Upload, load and run on the board; compare with onnxruntime here; median latency on the board.
#    A session timeout keeps a hung board from holding the key forever.
"$DSPRUNE" run "$WORK/pruned.tar" --rpc-tracker "$TRACKER" --rpc-key "$KEY" --device "$DEVICE" \
    --compare-onnx "$WORK/pruned.onnx" --repeat 20 --rpc-session-timeout 600 --outputs "$WORK/outputs.npz"
