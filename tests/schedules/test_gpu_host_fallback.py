"""A GPU function with any computation outside a thread binding is refused (it would run on the host)."""
from tvm.script import tirx as T

from tvm_dsprune.relax.pipeline import unscheduled_gpu_functions
import tvm


@T.prim_func(private=True, s_tir=True)
def half_bound(a: T.Buffer((64,), "float32"), b: T.Buffer((64,), "float32"), c: T.Buffer((64,), "float32")):
    for bx in T.thread_binding(2, thread="blockIdx.x"):
        for tx in T.thread_binding(32, thread="threadIdx.x"):
            with T.sblock("bound"):
                vi = T.axis.spatial(64, bx * 32 + tx)
                b[vi] = a[vi] * T.float32(2)
    for i in range(64):                       # left unbound: this loop would run on the host
        with T.sblock("unbound"):
            vi = T.axis.remap("S", [i])
            c[vi] = b[vi] + T.float32(1)


@T.prim_func(private=True, s_tir=True)
def all_bound(a: T.Buffer((64,), "float32"), b: T.Buffer((64,), "float32")):
    for bx in T.thread_binding(2, thread="blockIdx.x"):
        for tx in T.thread_binding(32, thread="threadIdx.x"):
            with T.sblock("bound"):
                vi = T.axis.spatial(64, bx * 32 + tx)
                b[vi] = a[vi] * T.float32(2)


def test_unbound_loop_nest_is_reported():
    mod = tvm.IRModule({"half": half_bound, "all": all_bound})
    assert unscheduled_gpu_functions(mod) == ["half"]
