"""`tune --cross-compiler`: candidates are built here for a board of another architecture, linked
by the cross compiler into a shared library the board loads (an aarch64 ELF here)."""
import shutil

import pytest

from tvm_dsprune.tuning.measure import exporter

CROSS = "aarch64-linux-gnu-g++"
EM_AARCH64 = 183


@pytest.mark.skipif(shutil.which(CROSS) is None, reason=f"{CROSS} is not installed")
def test_candidates_are_linked_for_the_board():
    import tvm
    from tvm import te

    a = te.placeholder((64,), "float32", name="a")
    b = te.compute((64,), lambda i: a[i] + 1.0, name="b")
    add_one = te.create_prim_func([a, b])

    target = tvm.target.Target({"kind": "llvm", "mtriple": "aarch64-linux-gnu"})
    built = tvm.tirx.build(tvm.IRModule({"main": add_one}), target)
    path = exporter(CROSS)(built)            # what the builder's workers call on each candidate
    head = open(path, "rb").read(20)
    assert head[:4] == b"\x7fELF" and int.from_bytes(head[18:20], "little") == EM_AARCH64
    assert path.endswith(".so")
