#!/usr/bin/env bash
# Tune a pruned model's kernels on a board over RPC (MetaSchedule measures every candidate on the
# boards registered under KEY), then compile with the records and time the result there.
#
#   tools/tune_board.sh PRUNED.onnx TRACKER_HOST:PORT KEY [TARGET] [TRIALS] [RECORDS]
#   tools/tune_board.sh pruned.onnx 127.0.0.1:9190 rk3399 aarch64-cpu 400 rk3399-records/
#
# Tuning is resumable: the same command again continues to TRIALS. Candidates are linked here by
# aarch64-linux-gnu-g++ (Debian: g++-aarch64-linux-gnu) before they are sent to the board.
set -euo pipefail
MODEL=${1:?PRUNED.onnx}; TRACKER=${2:?HOST:PORT of the RPC tracker}; KEY=${3:?the board\'s key}
TARGET=${4:-aarch64-cpu}; TRIALS=${5:-400}; RECORDS=${6:-records-$KEY}
DSPRUNE=${DSPRUNE:-tvm-dsprune}
CROSS=(--cross-compiler aarch64-linux-gnu-g++)

# 1. Tune: candidates built here, measured on the board(s) under KEY.
"$DSPRUNE" tune "$MODEL" --target "$TARGET" --trials "$TRIALS" --tuning-records "$RECORDS" \
    --rpc-tracker "$TRACKER" --rpc-key "$KEY" "${CROSS[@]}"
# 2. Compile with the best records (a database for another target is refused).
"$DSPRUNE" compile "$MODEL" --target "$TARGET" --tuning-records "$RECORDS" "${CROSS[@]}" -o "$RECORDS/tuned.tar" -q
# 3. Time the tuned build on the board, checked against onnxruntime here.
"$DSPRUNE" run "$RECORDS/tuned.tar" --rpc-tracker "$TRACKER" --rpc-key "$KEY" --compare-onnx "$MODEL" --repeat 20
