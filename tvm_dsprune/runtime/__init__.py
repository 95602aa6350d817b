"""The end of the data flow: the package, and sessions that run it.

package: the .tar (library + meta.json), written all or nothing and checked when loaded.
session: where a package runs, behind one interface (this machine; a board over TVM RPC), and
the loaded model. run: `tvm_dsprune.run` (inputs in, outputs and latency out, optionally
compared with onnxruntime). pocl: OpenCL packages' kernels replayed on PoCL, the CPU OpenCL.
"""
