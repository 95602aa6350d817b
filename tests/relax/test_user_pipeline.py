"""The passes drop into a user's own Relax pipeline: here TVM's default CPU pipeline, with none
of the project's schedules, still gives the right numbers."""
import numpy as np
import tvm
from tvm import relax

from tvm_dsprune.relax import SparsifyDense, SparsifyDepthwise
from tvm_dsprune.schedules import cpu


def test_passes_in_tvms_default_pipeline():
    rng = np.random.default_rng(0)
    wd = (rng.standard_normal((16, 1, 3, 3)) * (rng.random((16, 1, 3, 3)) < 0.3)).astype("float32")
    wp = (rng.standard_normal((8, 16, 1, 1)) * (rng.random((8, 16, 1, 1)) < 0.3)).astype("float32")
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 16, 6, 6), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            y = bb.emit(relax.op.nn.conv2d(x, relax.const(wd), padding=1, groups=16))
            y = bb.emit(relax.op.nn.relu(y))
            y = bb.emit(relax.op.nn.conv2d(y, relax.const(wp)))
            o = bb.emit_output(y)
        bb.emit_func_output(o)
    mod = bb.get()
    mine = tvm.transform.Sequential([SparsifyDepthwise(cpu.GEOMETRY, cpu.COST, "on"), SparsifyDense(cpu.COST, "on")])
    target = tvm.target.Target({"kind": "llvm"})
    ex = tvm.compile(mine(mod), target=target, relax_pipeline=relax.get_default_pipeline(target))
    xin = rng.standard_normal((1, 16, 6, 6)).astype("float32")
    got = relax.VirtualMachine(ex, tvm.cpu())["main"](tvm.runtime.tensor(xin)).numpy()
    import torch
    ref = torch.nn.functional.conv2d(torch.relu(torch.nn.functional.conv2d(
        torch.from_numpy(xin), torch.from_numpy(wd), padding=1, groups=16)), torch.from_numpy(wp)).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
