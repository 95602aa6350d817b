"""Every sparse-kernel schedule is a MetaSchedule design space: its knobs are sampled decisions,
any sample builds and computes the same function, and MetaSchedule can search it."""
import numpy as np
import pytest
import tvm

from tvm_dsprune.kernels import dr_depthwise, group_dense
from tvm_dsprune.schedules import cuda, mali
from tvm_dsprune.schedules.cpu.dr_depthwise import DRDepthwise
from tvm_dsprune.schedules.cpu.group_dense import GroupDense
from tvm_dsprune.schedules.cuda import jetson_orin
from tvm_dsprune.schedules.gpu import dr_depthwise as gpu_dr, group_dense as gpu_group
from tvm_dsprune.schedules.mali import mali_g78
from tvm_dsprune.sparse import dr_format, group_format

CPU = tvm.target.Target({"kind": "llvm", "num-cores": 2})
CUDA = tvm.target.Target({"kind": "cuda", "arch": "sm_80"}, host={"kind": "llvm"})
MALI = tvm.target.Target({"kind": "opencl", "device": "mali"}, host={"kind": "llvm"})


def dw_case(c=48, h=28, gpu_form=False, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((c, 1, 3, 3)).astype("float32")
    w[rng.random(w.shape) < 0.7] = 0
    fmt = dr_format.from_weight(w, 16, 4)
    shape = dr_depthwise.DWConvShape(1, c, h, h, 3, 3, (1, 1), (1, 1, 1, 1))
    taps = fmt.col_tap.reshape(-1)
    if gpu_form:
        func = dr_depthwise.build_gpu(shape, fmt.col_val.size)
    else:
        tile = dr_depthwise.cpu_tile(h, 8)
        func = dr_depthwise.build_cpu(shape, fmt.col_val.size, tile, 2)
        taps = dr_depthwise.tap_offsets(shape, tile, taps)
    x = rng.standard_normal((1, c, h, h)).astype("float32")
    import torch
    ref = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1, groups=c).numpy()
    args = [x, fmt.chan_ptr, taps, fmt.col_val.reshape(-1), np.zeros_like(ref)]
    return func.with_attr("global_symbol", "main"), args, ref


def gd_case(f=32, k=48, h=8, gpu_form=False, lanes=1, seed=1):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((f, k)).astype("float32")
    w[rng.random(w.shape) < 0.75] = 0
    w[::5] = 0                                            # some filter-pruned rows
    fmt = group_format.cover(w, (1, 4), compact=gpu_form)
    if gpu_form:
        func = group_dense.build_gpu(1, k, f, (h, h), 1, 4, fmt.group_val.shape[0], fmt.num_blocks, lanes)
        fargs = [fmt.row_pos, fmt.block_ptr, fmt.group_col, fmt.group_val]
    else:
        func = group_dense.build_cpu(1, k, f, (h, h), 1, 4, fmt.group_val.shape[0], fmt.num_blocks, 16, 8)
        fargs = [fmt.block_ptr, fmt.group_col, fmt.group_val]
    x = rng.standard_normal((1, k, h, h)).astype("float32")
    ref = np.einsum("fk,nkhw->nfhw", w, x)
    return func.with_attr("global_symbol", "main"), [x, *fargs, np.zeros_like(ref)], ref


RULES = [
    ("cpu group", GroupDense().apply, CPU, lambda: gd_case(h=16)),
    ("cuda dr", gpu_dr.DRDepthwise(knobs=cuda.KNOBS).apply, CUDA, lambda: dw_case(gpu_form=True)),
    ("cuda group", gpu_group.GroupDense(knobs=cuda.KNOBS).apply, CUDA, lambda: gd_case(gpu_form=True)),
    ("orin dr", gpu_dr.DRDepthwise(knobs=jetson_orin.KNOBS).apply, CUDA, lambda: dw_case(gpu_form=True)),
    ("mali dr", gpu_dr.DRDepthwise(knobs=mali.KNOBS).apply, MALI, lambda: dw_case(gpu_form=True)),
    ("mali group", gpu_group.GroupDense(knobs=mali.KNOBS).apply, MALI, lambda: gd_case(gpu_form=True, lanes=4)),
    ("g78 group", gpu_group.GroupDense(knobs=mali_g78.KNOBS).apply, MALI, lambda: gd_case(gpu_form=True, lanes=4)),
]


@pytest.mark.parametrize("name,rule,target,case", RULES, ids=[r[0] for r in RULES])
def test_tunable_schedule_samples_its_knobs(name, rule, target, case):
    func, _, _ = case()
    sch = rule(func, target, True)
    kinds = [inst.kind.name for inst in sch.trace.insts]
    assert "SampleCategorical" in kinds
    assert sch.trace.as_python()                 # the trace prints: MetaSchedule logs it while searching
    fixed = rule(func, target, False)
    assert "SampleCategorical" not in [inst.kind.name for inst in fixed.trace.insts]


@pytest.mark.parametrize("name,rule,target,case", [r for r in RULES if r[2] is CPU], ids=["cpu group"])
def test_every_cpu_sample_computes_the_same(name, rule, target, case):
    func, args, ref = case()
    for _ in range(6):
        sch = rule(func, target, True)
        lib = tvm.compile(sch.mod, target=target)
        tensors = [tvm.runtime.tensor(a) for a in args]
        lib["main"](*tensors)
        np.testing.assert_allclose(tensors[-1].numpy(), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name,rule,target,case", [r for r in RULES if r[2] is MALI], ids=["mali dr", "mali group", "g78 group"])
def test_every_mali_sample_computes_the_same_on_pocl(name, rule, target, case):
    pytest.importorskip("pyopencl")
    from tvm_dsprune.runtime.pocl import OpenCLModel, lower_function

    func, args, ref = case()
    for _ in range(4):
        sch = rule(func, target, True)
        lowered, sources = lower_function("main", sch.mod["main"], target)
        runner = OpenCLModel.__new__(OpenCLModel)
        import pyopencl as cl
        from tvm_dsprune.runtime.pocl import pocl_context
        runner.cl, runner.ctx = cl, pocl_context()
        runner.queue = cl.CommandQueue(runner.ctx)
        runner.funcs = {"main": lowered}
        runner.kernels = {k: getattr(cl.Program(runner.ctx, src).build(), k) for k, src in sources.items()}
        out = [a.copy() for a in args]
        runner.call("main", out)
        np.testing.assert_allclose(out[-1], ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name,rule,target,case", [r for r in RULES if r[2] is CUDA], ids=["cuda dr", "cuda group", "orin dr"])
def test_every_cuda_sample_builds(name, rule, target, case):
    func, _, _ = case()
    for _ in range(4):
        sch = rule(func, target, True)
        ex = tvm.compile(sch.mod, target=target)
        assert "__global__" in ex.mod.imports[0].inspect_source()


@pytest.mark.slow
def test_metaschedule_searches_the_cpu_design_space(tmp_path):
    from tvm_dsprune.tuning.kernel import tune_kernel

    func, args, ref = gd_case(h=16)
    db, best = tune_kernel(func, GroupDense(), CPU, tmp_path / "ms", args, trials=6)
    records = db.get_all_tuning_records()
    assert len(records) == 6 and all(float(r.run_secs[0]) < 1.0 for r in records)
    assert (tmp_path / "ms" / "database_tuning_record.json").exists()
    lib = tvm.compile(best.mod, target=CPU)
    tensors = [tvm.runtime.tensor(a) for a in args]
    lib["main"](*tensors)
    np.testing.assert_allclose(tensors[-1].numpy(), ref, rtol=1e-5, atol=1e-5)
