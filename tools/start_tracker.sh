#!/usr/bin/env bash
# Start TVM's RPC tracker on this host: boards register with it under a key, clients ask it for
# a board by key (`tvm-dsprune run/bench/tune --rpc-tracker HOST:PORT --rpc-key KEY`).
#
#   tools/start_tracker.sh [PORT] [BIND]        # default 9190 on 0.0.0.0 (every interface)
#
# Then, on each board (TVM installed there: `pip install apache-tvm` on a 64-bit Arm Linux board):
#   python -m tvm.exec.rpc_server --tracker HOST:PORT --key rk3399
# And here, to see which boards are registered and free:
#   python -m tvm.exec.query_rpc_tracker --host 127.0.0.1 --port PORT
# Bind to 127.0.0.1 when the boards reach this host through an SSH tunnel; a tracker on 0.0.0.0
# is reachable by anyone on the network, so keep it on a private one.
set -euo pipefail
PORT=${1:-9190}
BIND=${2:-0.0.0.0}
PY=${PYTHON:-python3}
echo "RPC tracker on $BIND:$PORT (Ctrl-C stops it)"
exec "$PY" -m tvm.exec.rpc_tracker --host "$BIND" --port "$PORT" --port-end "$((PORT + 1))"
