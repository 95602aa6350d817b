"""Run a model scheduled for a GPU on PoCL, the CPU implementation of OpenCL.

TVM's wheel builds OpenCL C but has no OpenCL runtime, and no GPU is here. This harness plays
the part of TVM's runtime: each fused PrimFunc is lowered the way `tvm.compile` lowers it, its
OpenCL kernels are compiled by PoCL (pyopencl), and its host code — buffer allocations and the
sequence of kernel launches with their grid — is replayed launch by launch. The Relax `main` is
walked binding by binding (call_tir -> the kernels; reshapes -> numpy).

Two routes, one lowering path (relax.lowering.lower, stopped once every kernel is scheduled):
- an OpenCL target (Mali): the very kernels a Mali board would run;
- a CUDA target: the CUDA schedules (thread and block bindings, shared-memory staging) lowered
  for an OpenCL stand-in with the CUDA target's thread and shared-memory limits: blocks become
  work-groups, threads work-items, shared memory local memory. What OpenCL on PoCL cannot
  express is a warp: CUDA reduces across a warp with shuffles where PoCL (no sub-groups) reduces
  through local memory, so `warp_shuffle_functions` names the functions whose CUDA code has
  shuffles; their numerics on a GPU are left to tools/gpu_check.py.

    pip install pyopencl pocl-binary-distribution
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError


def pocl_context():
    import pyopencl as cl

    for platform in cl.get_platforms():
        if "Portable Computing Language" in platform.name:
            return cl.Context(platform.get_devices())
    raise InputError("PoCL is not installed: pip install pyopencl pocl-binary-distribution")


@dataclass
class Launch:
    kernel: str
    args: list[str]             # root buffer names, in kernel parameter order
    grid: dict[str, int]        # blockIdx.* / threadIdx.* extents


@dataclass
class LoweredFunc:
    params: list[str]
    allocs: dict[str, tuple[int, str]] = field(default_factory=dict)   # name -> (elements, dtype)
    launches: list[Launch] = field(default_factory=list)


def _lower_tir(name: str, func, target):
    """One scheduled PrimFunc through TVM's TIR pipeline for `target`: (host module, device
    modules by target, the device finalizer), as tvm.compile lowers it."""
    import tvm
    from tvm import tirx
    from tvm.tirx.build import split_host_device_mods

    mod = tvm.IRModule({name: func.with_attr("global_symbol", name)})
    mod = tirx.transform.BindTarget(target.with_host(target.host))(mod)
    pipeline, _, finalize_device = tvm.tirx.get_default_tir_pipeline(target)
    host, devices = split_host_device_mods(pipeline(mod))
    return host, devices, finalize_device


def lower_function(name: str, func, target):
    """(LoweredFunc, OpenCL source by kernel name) of one scheduled PrimFunc."""
    import tvm
    import tvm_ffi
    from tvm import tirx

    host, devices, finalize_device = _lower_tir(name, func, target)
    sources: dict[str, str] = {}
    for dev_target, dev_mod in devices.items():
        dev_mod = finalize_device()(dev_mod)
        text = tvm.get_global_func("target.build.opencl")(dev_mod, dev_target).inspect_source()
        for part in text.split("// Function: ")[1:]:
            kname = part.split("\n", 1)[0].strip()
            sources[kname] = part.split("\n", 1)[1]
    host_func = next(f for _, f in host.functions_items())
    lowered = LoweredFunc([p.name for p in func.params])
    aliases: dict[str, str] = {}

    def on_decl(node):
        data = node.data                      # what the declared buffer views (TVM 0.27: node.data)
        if isinstance(data, tvm.ir.Call) and data.op.name == "tirx.buffer_data":
            target_name = data.args[0].name
            if target_name != node.buffer.name:
                aliases[node.buffer.name] = target_name

    def on_alloc(node):
        size = int(np.prod([int(x) for x in node.buffer.shape]))
        lowered.allocs[node.buffer.name] = (size, str(node.buffer.dtype))

    def on_call(call):
        if call.op.name != "tirx.call_ffi_kernel":
            return
        params = list(call.attrs.launch_params)
        extents = [int(a) for a in call.args[len(call.args) - len(params):]]
        bufs = [a.args[0].name for a in call.args[1:len(call.args) - len(params)]]
        lowered.launches.append(Launch(call.args[0].value, bufs, dict(zip(params, extents))))

    tvm_ffi.structural_walk(host_func.body, [(tirx.DeclBuffer, on_decl), (tirx.AllocBuffer, on_alloc),
                                             (tvm.ir.Call, on_call)])

    def root(n):
        seen = set()
        while n in aliases and n not in seen:
            seen.add(n)
            n = aliases[n]
        return n

    for launch in lowered.launches:
        launch.args = [root(a) for a in launch.args]
    return lowered, sources


def unique_param_names(func):
    """The function with a distinct name for every parameter: launches are matched to buffers by
    name, and a function with several outputs (a split) may name them alike. The TVMScript
    printer gives every parameter a unique name; parsing its text back keeps them."""
    import tvm

    names = [p.name for p in func.params]
    if len(set(names)) == len(names):
        return func
    return tvm.script.from_source(func.script())


class OpenCLModel:
    """A Relax module, scheduled for an OpenCL target, executed on PoCL."""

    def __init__(self, mod, target):
        import pyopencl as cl

        from tvm import relax, tirx

        self.cl = cl
        self.ctx = pocl_context()
        self.queue = cl.CommandQueue(self.ctx)
        self.mod, self.target = mod, target
        self.cuda_target = None                     # CUDA route: the targets.Target it was scheduled for
        self._warp_shuffles: list[str] | None = None
        self.funcs: dict[str, LoweredFunc] = {}
        self.kernels: dict[str, object] = {}
        for gv, func in mod.functions_items():
            if isinstance(func, tirx.PrimFunc):
                lowered, sources = lower_function(gv.name_hint, unique_param_names(func), target)
                self.funcs[gv.name_hint] = lowered
                for kname, src in sources.items():
                    self.kernels[kname] = getattr(cl.Program(self.ctx, src).build(), kname)
        self.main = mod["main"]
        assert isinstance(self.main, relax.Function)

    @property
    def warp_shuffles(self) -> list[str]:
        """CUDA route: the functions whose CUDA code reduces with warp shuffles (found on first use)."""
        if self._warp_shuffles is None:
            self._warp_shuffles = warp_shuffle_functions(self.mod, self.cuda_target) if self.cuda_target else []
        return self._warp_shuffles

    @property
    def kernel_names(self) -> list[str]:
        return sorted(self.kernels)

    def call(self, name: str, arrays: list[np.ndarray]) -> None:
        """Run PrimFunc `name` on numpy arrays (outputs are written in place)."""
        cl = self.cl
        mf = cl.mem_flags
        f = self.funcs[name]
        if len(arrays) != len(f.params):
            raise ValueError(f"{name} takes {len(f.params)} arguments, got {len(arrays)}")
        bufs = {p: cl.Buffer(self.ctx, mf.READ_WRITE | mf.COPY_HOST_PTR, hostbuf=np.require(a, requirements="C"))
                if a.nbytes else cl.Buffer(self.ctx, mf.READ_WRITE, 4) for p, a in zip(f.params, arrays)}
        for aname, (size, dtype) in f.allocs.items():
            bufs[aname] = cl.Buffer(self.ctx, mf.READ_WRITE, max(4, size * np.dtype(dtype).itemsize))
        for launch in f.launches:
            g = launch.grid
            local = [g.get(f"threadIdx.{a}", 1) for a in "xyz"]
            global_size = [g.get(f"blockIdx.{a}", 1) * local[i] for i, a in enumerate("xyz")]
            self.kernels[launch.kernel](self.queue, global_size, local, *[bufs[a] for a in launch.args])
        for p, a in zip(f.params, arrays):
            if a.nbytes:
                cl.enqueue_copy(self.queue, a, bufs[p])
        self.queue.finish()

    def __call__(self, *inputs: np.ndarray):
        """Walk `main`: call_tir bindings run on PoCL, reshapes and constants in numpy."""
        import tvm
        from tvm import relax

        env = {p: np.asarray(x) for p, x in zip(self.main.params, inputs)}

        def value(e):
            if isinstance(e, relax.Var):
                return env[e]
            if isinstance(e, tvm.ir.Constant):
                return e.value.numpy()
            if isinstance(e, relax.Tuple):
                return [value(x) for x in e.fields]
            raise NotImplementedError(f"argument {type(e).__name__}")

        call_tir = tvm.ir.Op.get("relax.call_tir")
        for block in self.main.body.blocks:
            for b in block.bindings:
                v = b.value
                if isinstance(v, relax.Call) and v.op.same_as(call_tir):
                    args = [value(a) for a in v.args[1].fields]
                    tys = list(v.ty.fields) if isinstance(v.ty, relax.TupleType) else [v.ty]
                    outs = [np.zeros([int(d) for d in t.shape], str(t.dtype)) for t in tys]
                    self.call(v.args[0].name_hint, [np.require(a, requirements="C") for a in args] + outs)
                    env[b.var] = outs if isinstance(v.ty, relax.TupleType) else outs[0]
                elif isinstance(v, relax.TupleGetItem):
                    env[b.var] = value(v.tuple_value)[v.index]
                elif isinstance(v, relax.Call) and v.op.name in ("relax.reshape", "relax.flatten"):
                    env[b.var] = value(v.args[0]).reshape([int(d) for d in v.ty.shape])
                elif isinstance(v, relax.Var):
                    env[b.var] = env[v]
                else:
                    raise NotImplementedError(f"binding {v.op if isinstance(v, relax.Call) else type(v).__name__}")
        return value(self.main.body.body)


def opencl_stand_in(target):
    """The OpenCL target that runs a CUDA-scheduled module on PoCL: the CUDA target's limits on
    threads per block and shared memory, one work-item per warp lane (no sub-groups)."""
    import tvm

    cuda = target.tvm()
    return tvm.target.Target({"kind": "opencl", "max_num_threads": int(cuda.attrs["max_num_threads"]),
                              "max_shared_memory_per_block": int(cuda.attrs["max_shared_memory_per_block"]),
                              "thread_warp_size": 1}, host={"kind": "llvm"})


def warp_shuffle_functions(mod, target) -> list[str]:
    """PrimFuncs of a CUDA-scheduled module whose CUDA lowering reduces across a warp with
    shuffles (TVM's LowerThreadAllreduce for a 32-lane warp), which PoCL cannot run."""
    import tvm
    import tvm_ffi
    from tvm import tirx

    found = []
    for gv, func in mod.functions_items():
        if not isinstance(func, tirx.PrimFunc):
            continue
        _, devices, _ = _lower_tir(gv.name_hint, func, target.tvm())
        ops: set[str] = set()
        for dev_mod in devices.values():
            for _, f in dev_mod.functions_items():
                tvm_ffi.structural_walk(f.body, [(tvm.ir.Call, lambda c: ops.add(getattr(c.op, "name", "")))])
        if any("warp_shuffle" in op for op in ops):
            found.append(gv.name_hint)
    return sorted(found)


def compile_for_pocl(onnx_model, target="mali", sparse: str = "on", input_shapes=None):
    """An ONNX model lowered for a GPU target the way `compile` lowers it (the one lowering path,
    stopped once every kernel is scheduled), ready to run on PoCL: an OpenCL target's own
    kernels, or a CUDA target's schedules lowered for the OpenCL stand-in. Returns the model and
    its layer records; for CUDA, `model.warp_shuffles` names the functions with warp shuffles."""
    from .. import targets
    from ..relax.lowering import lower
    from ..relax.pipeline import unscheduled_gpu_functions

    target = targets.resolve(target, {"kind": "llvm"})
    if target.family not in ("opencl", "cuda"):
        raise InputError(f"target {target.name} is not a GPU target (OpenCL or CUDA)")
    low = lower(onnx_model, target, sparse=sparse, input_shapes=input_shapes, stop_after="schedule")
    bad = unscheduled_gpu_functions(low.mod)
    if bad:
        raise RuntimeError(f"kernels without a GPU schedule: {bad}")
    if target.family == "opencl":
        return OpenCLModel(low.mod, target.tvm()), low.records
    model = OpenCLModel(low.mod, opencl_stand_in(target))
    model.cuda_target = target
    return model, low.records
