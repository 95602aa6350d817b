#!/usr/bin/env bash
# An emulated 64-bit Arm board for trying RPC deployment without one: TVM's RPC server runs under
# qemu-user on Debian's arm64 Python 3.11 with TVM's aarch64 wheels. The tests use it too.
# Timings on it say nothing about a board's speed: it checks the deployment path and numerics.
#
#   tools/emulated_board.sh install                 # root, once per machine: qemu-user, the aarch64
#                                                   # cross compiler, Debian's arm64 package lists
#   tools/emulated_board.sh prepare [DIR]           # the board's sysroot and wheels (~400 MB, once)
#   tools/emulated_board.sh serve [DIR] ARGS...     # TVM's RPC server on the board, e.g.
#       tools/emulated_board.sh serve "" --host 127.0.0.1 --port 9090 --tracker 127.0.0.1:9190 --key rk3399
#
# DIR defaults to $DSPRUNE_BOARD_DIR, else ${XDG_CACHE_HOME:-~/.cache}/tvm-dsprune/aarch64-board.
# Every step is idempotent: a finished DIR is reused as it is.
set -euo pipefail

CMD=${1:?usage: emulated_board.sh install | prepare [DIR] | serve [DIR] RPC_SERVER_ARGS...}
shift
DIR=${1:-}
[ $# -gt 0 ] && shift
DIR=${DIR:-${DSPRUNE_BOARD_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tvm-dsprune/aarch64-board}}

# The interpreter and the shared libraries it loads (Debian bookworm's arm64 packages).
DEBS="python3.11-minimal libpython3.11-minimal libpython3.11-stdlib libc6 libexpat1 zlib1g libstdc++6
      libgcc-s1 libffi8 libssl3 libbz2-1.0 liblzma5 libsqlite3-0 libuuid1 libncursesw6 libtinfo6
      libreadline8 libdb5.3 libgdbm6 libcrypt1 libnsl2 libtirpc3"
# The same TVM as the host's (pyproject.toml), and what TVM's RPC server imports.
WHEELS="apache-tvm>=0.27,<0.28 apache-tvm-ffi>=0.1.14,<0.1.15 numpy psutil cloudpickle tornado typing_extensions"

install() {
  export DEBIAN_FRONTEND=noninteractive
  local need=()
  command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
  command -v aarch64-linux-gnu-g++ >/dev/null || need+=(g++-aarch64-linux-gnu)
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    dpkg --add-architecture arm64
    apt-get update -q
  elif [ ${#need[@]} -gt 0 ] || ! apt-cache show python3.11-minimal:arm64 >/dev/null 2>&1; then
    apt-get update -q
  fi
  if [ ${#need[@]} -gt 0 ]; then apt-get install -y -q "${need[@]}"; fi
}

prepare() {
  [ -f "$DIR/.ready" ] && return 0
  command -v qemu-aarch64 >/dev/null || { echo "qemu-aarch64 is missing: run '$0 install' as root" >&2; exit 3; }
  mkdir -p "$DIR/debs" "$DIR/root" "$DIR/bin"
  (cd "$DIR/debs"
   for p in $DEBS; do
     ls "${p}"_*_arm64.deb >/dev/null 2>&1 && continue
     apt-get download "$p:arm64" >/dev/null 2>&1 || {
       echo "apt-get download $p:arm64 failed: run '$0 install' as root (it adds Debian's arm64 lists)" >&2
       exit 3; }
   done)
  for f in "$DIR"/debs/*.deb; do dpkg -x "$f" "$DIR/root"; done
  if [ ! -d "$DIR/site/tvm" ]; then
    rm -rf "$DIR/site.partial"
    # pip runs on the host and fetches the aarch64 wheels; a Python without pip gets a venv that has it
    local py=${PYTHON:-python3}
    if ! "$py" -m pip --version >/dev/null 2>&1; then
      [ -x "$DIR/pip-venv/bin/python" ] || "$py" -m venv "$DIR/pip-venv"
      py="$DIR/pip-venv/bin/python"
    fi
    # shellcheck disable=SC2086
    "$py" -m pip install -q --disable-pip-version-check --target "$DIR/site.partial" \
      --platform manylinux_2_28_aarch64 --only-binary=:all: --python-version 3.11 --implementation cp $WHEELS
    mv "$DIR/site.partial" "$DIR/site"
  fi
  # TVM's RPC server starts its worker with sys.executable, which the host cannot exec: make it a
  # wrapper that goes through qemu again.
  cat > "$DIR/python-aarch64" <<EOF
#!/bin/sh
exec qemu-aarch64 -L "$DIR/root" -E PYTHONPATH="$DIR/site" "$DIR/root/usr/bin/python3.11" "\$@"
EOF
  chmod +x "$DIR/python-aarch64"
  echo "import sys; sys.executable = '$DIR/python-aarch64'" > "$DIR/site/sitecustomize.py"
  # The board's own C++ compiler, which links object files uploaded to it (TVM's RPC server calls
  # `g++`): here the host's aarch64 cross compiler, run natively, stands in for it.
  cat > "$DIR/bin/g++" <<'EOF'
#!/bin/sh
exec aarch64-linux-gnu-g++ "$@"
EOF
  chmod +x "$DIR/bin/g++"
  # Compile the Python files once, so that each server start only imports (~12 s, not ~60 s).
  "$DIR/python-aarch64" -c "import tvm, tvm.rpc, tvm.exec.rpc_server, tvm.exec.popen_worker" >/dev/null
  touch "$DIR/.ready"
}

case "$CMD" in
  install) install ;;
  prepare) prepare; echo "$DIR" ;;
  serve)
    prepare
    PATH="$DIR/bin:$PATH" exec "$DIR/python-aarch64" -m tvm.exec.rpc_server "$@" ;;
  *) echo "unknown command $CMD: install | prepare [DIR] | serve [DIR] ARGS..." >&2; exit 2 ;;
esac
