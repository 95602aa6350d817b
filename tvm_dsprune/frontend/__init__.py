"""The front of the data flow: models and arrays in, shared by prune, compile, run and bench.

onnx_model: load an ONNX model, find its prunable layers (the one definition of a layer that
the mask step and the compiler share), apply masks. model_io: input / output names, shapes and
dtypes. arrays: named arrays in .npz files (masks, inputs, outputs). torch_export: an nn.Module
to ONNX the way the project expects it. numpy + onnx only: no TVM.
"""
