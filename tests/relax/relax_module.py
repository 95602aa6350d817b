"""Build a one-input Relax `main` for Before / Expected tests of the passes."""
from tvm import relax


def module(build_body, x_shape):
    """`main(x)` whose dataflow block is what `build_body(bb, x)` emits; its result is the output."""
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType(x_shape, "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            o = bb.emit_output(build_body(bb, x))
        bb.emit_func_output(o)
    return bb.get()
