"""What Relax's ONNX importer (TVM 0.27) would import unfaithfully: refused before import, by node.

Each of these imports without an error and compiles into a model that runs and silently
differs from onnxruntime (checked op by op against onnxruntime, tests/frontend):

- Resize by `scales` where an input size times its scale is not a whole number: TVM resizes
  to floor(size * scale) and then maps coordinates by the ratio of the two sizes, ONNX by the
  scale itself (align_corners and tf_crop_and_resize, which use no scale, are faithful);
- Resize with antialias=1 (TVM applies no antialiasing filter), a keep_aspect_ratio_policy
  other than stretch, or `axes`;
- ConvTranspose with an `output_shape` larger than its natural size (normalize() writes
  the other output shapes as pads).

Run on the normalized model (frontend/normalize.py), where scales are constants and shapes static.
"""
from __future__ import annotations

import numpy as np

from ..errors import InputError

SCALE_FREE_MODES = ("align_corners", "tf_crop_and_resize")


def check(proto, shapes: dict[str, tuple[int, ...]]) -> None:
    """Raise InputError naming the first node TVM would import unfaithfully."""
    import onnx
    from onnx import numpy_helper

    inits = {i.name: i for i in proto.graph.initializer}
    for node in proto.graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        attrs = {k: v.decode() if isinstance(v, bytes) else v for k, v in attrs.items()}
        where = f"{node.op_type} node {node.name or node.output[0]!r}"
        if node.op_type == "Resize":
            if attrs.get("antialias", 0):
                raise InputError(f"{where} resizes with antialias=1, which TVM's importer ignores: the compiled "
                                 f"model would differ from onnxruntime")
            if attrs.get("keep_aspect_ratio_policy", "stretch") != "stretch" or "axes" in attrs:
                raise InputError(f"{where} uses keep_aspect_ratio_policy / axes, which TVM's importer does not "
                                 f"support faithfully; give full sizes or scales instead")
            scales = node.input[2] if len(node.input) > 2 else ""
            mode = attrs.get("coordinate_transformation_mode", "half_pixel")
            if scales in inits and node.input[0] in shapes and mode not in SCALE_FREE_MODES:
                factor = numpy_helper.to_array(inits[scales]).astype(np.float64)
                size = np.asarray(shapes[node.input[0]], np.float64)
                if factor.size == size.size:
                    out = size * factor
                    odd = [i for i in range(size.size) if abs(out[i] - round(out[i])) > 1e-6]
                    if odd:
                        i = odd[0]
                        raise InputError(
                            f"{where} scales dimension {i} of size {int(size[i])} by {factor[i]:g}, which is not a "
                            f"whole size: TVM resizes to {int(np.floor(out[i]))} and maps pixels by the size ratio, "
                            f"onnxruntime by the scale, so the compiled model would differ. Export the Resize with "
                            f"sizes (or a scale that gives a whole size)")
        if node.op_type == "ConvTranspose" and "output_shape" in attrs:
            raise InputError(f"{where} asks for output_shape {list(attrs['output_shape'])}, larger than the "
                             f"size its strides and kernel give; TVM cannot pad a transposed conv's output")
