"""A ConvTranspose whose kernel equals its stride, legalized as what it is: every output pixel
reads one input pixel, through the kernel tap of its phase (y % s, x % s).

TOPI's conv2d_transpose dilates the input with zeros and runs a full convolution over it:
with the 2x2 kernel at stride 2 of a detection head's upsampling, three of every four
multiply-adds read a zero, on an input four times the size (seconds per image at 640x640 on
a CPU). The phase form computes the same sums without them:

    out[n, o, y, x] = sum_c in[n, c, y // s, x // s] * w[c, o, y % s, x % s]      (per group)

Any other ConvTranspose (padding, output_padding, dilation, a kernel larger than its stride)
keeps TOPI's legalization.
"""
from __future__ import annotations

from tvm import te

BLOCK = "conv2d_transpose_phase"


def phase_form_applies(call) -> bool:
    a = call.attrs
    data, weight = call.args
    try:
        kernel = [int(d) for d in weight.ty.shape][2:]
        [int(d) for d in data.ty.shape]
    except (TypeError, ValueError, AttributeError):
        return False
    return (a.data_layout == "NCHW" and a.kernel_layout == "IOHW" and a.out_layout in ("NCHW", "")
            and [int(s) for s in a.strides] == kernel and all(int(p) == 0 for p in a.padding)
            and all(int(p) == 0 for p in a.output_padding) and all(int(d) == 1 for d in a.dilation))


def phase_conv2d_transpose(data, weight, groups: int, out_dtype: str):
    """The TE compute of the phase form (NCHW data, IOHW weight, stride = kernel)."""
    n, cin, h, w = (int(d) for d in data.shape)
    _, cout_g, kh, kw = (int(d) for d in weight.shape)
    cin_g = cin // groups
    c = te.reduce_axis((0, cin_g), name="c")

    def value(b, o, y, x):
        ci = c if groups == 1 else o // cout_g * cin_g + c
        oi = o if groups == 1 else o % cout_g
        return te.sum(data[b, ci, y // kh, x // kw].astype(out_dtype)
                      * weight[ci, oi, y % kh, x % kw].astype(out_dtype), axis=c)

    return te.compute((n, cout_g * groups, h * kh, w * kw), value, name=BLOCK)


def legalize(bb, call):
    """LegalizeOps override for relax.nn.conv2d_transpose."""
    from tvm.relax.transform.legalize_ops.nn import _nn_conv2d_transpose

    if not phase_form_applies(call):
        return _nn_conv2d_transpose(bb, call)
    groups, out_dtype = int(call.attrs.groups), str(call.ty.dtype)
    return bb.call_te(lambda d, w: phase_conv2d_transpose(d, w, groups, out_dtype), call.args[0], call.args[1],
                      primfunc_name_hint="conv2d_transpose")

