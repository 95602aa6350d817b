"""Side-by-side timing: per depthwise layer, end to end, the demo.

timing: every system timed in a process of its own (timing_worker), alternating across rounds.
layers: each depthwise layer of a zoo model alone, dense and sparse. end_to_end: a zoo model
pruned with a preset, compiled dense and pruned, checked against onnxruntime and timed (the
demo is one such run). suite: `tvm-dsprune bench` (tables, JSON, markdown).
"""
