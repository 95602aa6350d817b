"""The prepared GPU run: every zoo model's CUDA package checked against onnxruntime and timed
against TVM dense and PyTorch dense (cuDNN) — per depthwise layer, per DW+PW pair and end to
end, at batch 1 and 32 — in one call of the device tool, from packages compiled here.

    python tools/gpu_check.py prepare            # here: compile and pack (.gpucheck/bundle.tar.xz)
    python tools/gpu_check.py run --out DIR      # on the GPU machine: check, time, write tables
    python tools/gpu_check.py --dry-run          # here: prepare, then everything without a GPU

prepare (no GPU): each zoo model is exported, its weights snapped to 255 levels per tensor (the
zoo's seeded random weights do not compress; timings do not depend on the values, and the
numbers are checked against onnxruntime on these very models), pruned with each plan, compiled
for the H200 (sm_90) at batch 1 and 32 with device code compiled by nvcc, and run in
onnxruntime on a deterministic input (integer arithmetic, the same bits on any machine). The
packages, the reference outputs and a manifest (plans, the DW layers and their DW+PW pairs
with shapes) go into one LZMA archive whose dictionary spans a whole package, so the batch-1 and
batch-32 twins, which hold the same weights, cost one copy (measured: the dense MobileNet-V2
package, 14.0 MiB, packs to 3.3 MiB, and with its batch-32 twin to 3.4 MiB). It must fit the
device call's 64 MiB with TVM's runtime (5 MiB); prepare says whether it does.

run (on the GPU machine, which has PyTorch but no TVM): TVM's runtime comes from
.tvmdev/tvm-runtime.tar.xz (TVM_USE_RUNTIME_LIB=1; libtvm_runtime_cuda.so is loaded after torch,
whose libcudart.so.13 it links). Every package runs and is compared with onnxruntime's output;
the whole model is timed with TVM's time_evaluator; every kernel of the dense and the pruned
packages is timed alone on the arguments it had inside the model (a VM instrument captures them),
which gives the per-layer and DW+PW numbers; PyTorch (eager, cuDNN, cudnn.benchmark) times the
same layers alone and the zoo model end to end. Medians throughout. Writes gpu_check.json and
gpu_check.md (the GPU tables for BENCHMARKS.md, with DEPrune's speedups beside ours: theirs are
over their unpruned DW kernel, ours over TVM dense and over cuDNN, the best dense kernel a user
has).

--dry-run (here): prepare, then the CPU twin: the same steps as `run` on llvm packages of
--twin-models, in a subprocess with TVM in runtime-only mode as on the GPU machine (the
unpacking, the checks against onnxruntime, kernel capture and timing, PyTorch on the CPU, the
JSON and markdown writers).

With the device tool, from the repository root (a checkout whose session has a GPU):

    bash ../shared/tools/tvm-device-bundle runtime   # .tvmdev/tvm-runtime.tar.xz (TVM's runtime, cp312)
    .venv/bin/python tools/gpu_check.py prepare      # .gpucheck/bundle.tar.xz: 20 compiles, 1-2 min
                                                     # each on 2 quiet cores (far longer on a busy machine)
    # then ONE call of the device tool's `run`:
    #   command:   PYTHONUNBUFFERED=1 python3 tools/gpu_check.py run --out $OUT
    #   carry:     [".tvmdev", ".gpucheck"]
    #   timeout_s: 540      (the run takes a few minutes; leave time to rerun once)
    # gpu_check.md and gpu_check.json come back in the files of $OUT.

`.gpucheck/` and `.gpucheck-build/` are git-ignored; .tvmdev is ignored through
.git/info/exclude by the bundle tool (in a git worktree, where .git is a file, add `/.tvmdev/` to
the main checkout's info/exclude by hand and make the folder yourself).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import lzma
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
BUNDLE_DIR = REPO / ".gpucheck"
BUILD_DIR = REPO / ".gpucheck-build"
RUNTIME_BUNDLE = REPO / ".tvmdev" / "tvm-runtime.tar.xz"
CARRY_LIMIT = 64 << 20                   # what one device call carries: working tree + carry
MODELS = ("mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0")
BATCHES = (1, 32)
TARGET = {"kind": "cuda", "arch": "sm_90", "max_shared_memory_per_block": 49152}   # H200 (Hopper)
PLANS = {   # name -> (pruning plan or None for the dense model, sparse mode)
    "dense": (None, "off"),
    "deprune-bh": ({"preset": "deprune-bh"}, "auto"),
    "cpu-sparse": ({"preset": "cpu-sparse"}, "auto"),
}
EXTRA_PLANS = {"efficientnet_b0": {"deprune-bh-85": ({"dw": "dcp-bh:0.85", "pw": "filter-l2:0.5"}, "auto")}}
# the plan of the per-layer tables, and DEPrune's reported speedups over its unpruned DW kernel
LAYER_PLAN = {"mobilenet_v2": ("deprune-bh", {"dw_ratio": 0.78, "dw": 3.52, "dw+pw": 2.48}),
              "efficientnet_b0": ("deprune-bh-85", {"dw_ratio": 0.85, "dw": 6.15, "dw+pw": 3.74})}
TOLERANCE = 1e-4


def say(msg: str) -> None:
    print(f"[gpu_check {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- inputs and weights the same on every machine ------------------------------------------------

def det_input(shape, seed: int) -> np.ndarray:
    """Values in [-2, 2) from integer hashing (exact on any machine and numpy version)."""
    n = int(np.prod(shape))
    with np.errstate(over="ignore"):
        u = np.arange(n, dtype=np.uint64) + np.uint64(seed * 0x9E3779B97F4A7C15 % (1 << 64))
        u = (u ^ (u >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        u = (u ^ (u >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        u = u ^ (u >> np.uint64(31))
    v = (u >> np.uint64(40)).astype(np.float64) / float(1 << 24)
    return ((v - 0.5) * 4.0).astype(np.float32).reshape(shape)


def digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]


def snap_weights(path: Path) -> None:
    """Every float initializer rounded to 255 levels of its own scale (in place)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    for i, init in enumerate(model.graph.initializer):
        w = numpy_helper.to_array(init)
        if w.dtype != np.float32 or w.size < 16:
            continue
        scale = float(np.abs(w).max()) / 127 or 1.0
        snapped = (np.round(w / scale) * scale).astype(np.float32)
        model.graph.initializer[i].CopyFrom(numpy_helper.from_array(snapped, init.name))
    onnx.save(model, str(path))


# --- the layers of the per-layer tables ----------------------------------------------------------

def layer_pairs(onnx_path: Path) -> list[dict]:
    """Every DW conv with its shape and the 1x1 conv that follows it on the same pixels (the
    project conv of an inverted residual, past any squeeze-excite), model order."""
    import onnx

    from tvm_dsprune.bench.layers import depthwise_layers

    proto = onnx.load(str(onnx_path))
    for inp in proto.graph.input:
        dim = inp.type.tensor_type.shape.dim
        if dim and not dim[0].HasField("dim_value"):
            dim[0].dim_value = 1
    inferred = onnx.shape_inference.infer_shapes(proto).graph
    shapes = {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
              for vi in list(inferred.value_info) + list(inferred.input) + list(inferred.output)}
    inits = {i.name: list(i.dims) for i in proto.graph.initializer}
    nodes = list(proto.graph.node)
    index = {(n.name or n.output[0]): k for k, n in enumerate(nodes)}
    out = []
    for dw in depthwise_layers(onnx_path):
        k = index[dw["name"]]
        c, _, kh, kw = dw["weight"].shape
        h_out, w_out = shapes[nodes[k].output[0]][2:]
        pw = None
        for node in nodes[k + 1:]:
            if node.op_type != "Conv" or node.input[1] not in inits:
                continue
            o, i, a, b = inits[node.input[1]]
            if (a, b) == (1, 1) and i == c and shapes.get(node.input[0], [0, 0, 0, 0])[2:] == [h_out, w_out]:
                pw = {"name": node.name or node.output[0], "cin": i, "cout": o}
                break
        out.append({"name": dw["name"], "channels": c, "kernel": [kh, kw], "stride": dw["strides"],
                    "pads": dw["pads"], "input": dw["input"][2:], "output": [h_out, w_out], "pw": pw})
    return out


# --- prepare: compile and pack -----------------------------------------------------------------------

def plans_of(model: str, names) -> dict:
    plans = {k: v for k, v in PLANS.items() if k in names}
    plans.update({k: v for k, v in EXTRA_PLANS.get(model, {}).items()})
    return plans


def prepare(models, batches, plan_names, target, build: Path, bundle: Path, resolution: int | None = None) -> dict:
    """Compile every (model, plan, batch) for `target`, compute onnxruntime's outputs, and pack
    packages + references + manifest into bundle/bundle.tar.xz. Returns the manifest."""
    from tvm_dsprune import zoo
    from tvm_dsprune.bench.timing import ort_session
    from tvm_dsprune.build.compile import compile
    from tvm_dsprune.pruning.onnx_prune import prune

    build.mkdir(parents=True, exist_ok=True)
    manifest = {"target": target, "batches": list(batches), "tolerance": TOLERANCE, "models": {}, "packages": []}
    refs = {}
    for model in models:
        res = resolution or zoo.entry(model).resolution
        dense = build / f"{model}.onnx"
        say(f"{model}: export ({res}x{res}), weights snapped to 255 levels per tensor")
        zoo.export(model, dense, resolution=res)
        snap_weights(dense)
        plans = plans_of(model, plan_names)
        layer_plan = LAYER_PLAN.get(model, ("deprune-bh", None))
        manifest["models"][model] = {"resolution": res, "layers": layer_pairs(dense),
                                     "layer_plan": layer_plan[0] if layer_plan[0] in plans else None,
                                     "deprune": layer_plan[1],
                                     "plans": {k: (v[0] or {"dense": True}) for k, v in plans.items()}}
        for plan, (options, sparse) in plans.items():
            src = dense
            if options is not None:
                src = build / f"{model}_{plan}.onnx"
                prune(dense, src, target="cuda", **options)
            for batch in batches:
                name = f"{model}__{plan}__b{batch}"
                pkg = build / f"{name}.tar"
                t0 = time.perf_counter()
                host = {"target_host": "llvm"} if target["kind"] != "llvm" else {}
                result = compile(src, target, pkg, sparse=sparse, batch=batch, **host)
                x = det_input((batch, 3, res, res), seed=batch)
                refs[name] = ort_session(src).run(None, {"input": x})[0]
                manifest["packages"].append({"name": name, "model": model, "plan": plan, "batch": batch,
                                             "package": pkg.name, "input_seed": batch, "input_digest": digest(x),
                                             "summary": result.report["summary"]})
                say(f"{name}: compiled in {time.perf_counter() - t0:.0f} s, {pkg.stat().st_size / 2**20:.1f} MiB")
    np.savez_compressed(build / "references.npz", **refs)
    (build / "manifest.json").write_text(json.dumps(manifest, indent=1))
    pack(build, manifest, bundle)
    return manifest


def pack(build: Path, manifest: dict, bundle: Path) -> Path:
    """One .tar.xz; packages in (model, plan, batch) order, LZMA dictionary over a whole package
    so that a batch-32 package costs only what differs from its batch-1 twin."""
    bundle.mkdir(parents=True, exist_ok=True)
    out = bundle / "bundle.tar.xz"
    biggest = max((build / p["package"]).stat().st_size for p in manifest["packages"])
    dict_size = min(1 << 30, max(64 << 20, 1 << (biggest * 2 - 1).bit_length()))
    filters = [{"id": lzma.FILTER_LZMA2, "preset": 6, "dict_size": dict_size}]
    say(f"packing {len(manifest['packages'])} packages (LZMA, {dict_size >> 20} MiB dictionary)")
    partial = out.with_suffix(".partial")
    with lzma.open(partial, "wb", format=lzma.FORMAT_XZ, filters=filters) as xz:
        with tarfile.open(fileobj=xz, mode="w") as tar:
            for name in ("manifest.json", "references.npz"):
                tar.add(build / name, arcname=name)
            for p in manifest["packages"]:
                tar.add(build / p["package"], arcname=p["package"])
    partial.replace(out)
    return out


def carry_budget(bundle: Path) -> dict:
    """The bundle's size beside what a device call may carry (bundle + TVM runtime + the tree)."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=False).stdout
    tree = sum((REPO / f).stat().st_size for f in tracked.decode().split("\0") if f and (REPO / f).is_file())
    runtime = RUNTIME_BUNDLE.stat().st_size if RUNTIME_BUNDLE.is_file() else 6 << 20    # ~5 MiB when not built
    size = (bundle / "bundle.tar.xz").stat().st_size
    return {"bundle_mib": size / 2**20, "runtime_mib": runtime / 2**20, "tree_mib": tree / 2**20,
            "limit_mib": CARRY_LIMIT / 2**20, "fits": size + runtime + tree < CARRY_LIMIT}


# --- run: on the GPU machine (or the CPU twin) -------------------------------------------------------

def setup_tvm(device: str) -> None:
    """Import TVM: the one installed, else the carried runtime bundle (runtime-only), and on a
    GPU its CUDA runtime library after torch, whose libcudart.so.13 it links."""
    import importlib.util

    if importlib.util.find_spec("tvm") is None:
        if not RUNTIME_BUNDLE.is_file():
            raise SystemExit(f"no TVM here and no {RUNTIME_BUNDLE}: run ../shared/tools/tvm-device-bundle runtime "
                             "and carry .tvmdev")
        site = Path(tempfile.gettempdir()) / "gpu_check_site"
        if not (site / "tvm").is_dir():
            say(f"unpacking TVM's runtime from {RUNTIME_BUNDLE}")
            with tarfile.open(RUNTIME_BUNDLE, "r:xz") as tar:
                tar.extractall(site, filter="data")
        sys.path.insert(0, str(site))
        os.environ["TVM_USE_RUNTIME_LIB"] = "1"
    if device == "cuda":
        import torch

        torch.cuda.init()          # libcudart.so.13 and the driver's libcuda.so.1, which TVM's CUDA runtime links
    import tvm

    if device == "cuda" and not _cuda_exists(tvm):
        import ctypes

        lib = Path(tvm.__file__).parent / "lib" / "libtvm_runtime_cuda.so"
        ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)
        if not _cuda_exists(tvm):
            raise SystemExit("TVM sees no CUDA device")


def _scratch(prefix: str) -> Path:
    """A temporary folder removed when the process ends."""
    import atexit
    import shutil

    folder = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, folder, True)
    return folder


def checkout_package() -> Path:
    """A folder holding tvm_dsprune as pip installs it from this checkout: the package with
    schedules/ inside it as tvm_dsprune.schedules (pyproject's package-dir mapping)."""
    import shutil

    site = _scratch("gpu_check_pkg_")
    ignore = shutil.ignore_patterns("__pycache__")
    # the checkout's links tvm_dsprune/schedules and tvm_dsprune/tuning_logs (the installed
    # layout) are left out: schedules/ is copied in their place; the GPU run needs no tuning logs
    top = lambda folder, names: {"__pycache__", "schedules", "tuning_logs"} if Path(folder) == REPO / "tvm_dsprune" \
        else ignore(folder, names)
    shutil.copytree(REPO / "tvm_dsprune", site / "tvm_dsprune", ignore=top)
    shutil.copytree(REPO / "schedules", site / "tvm_dsprune" / "schedules", ignore=ignore)
    return site


def _cuda_exists(tvm) -> bool:
    try:
        return bool(tvm.cuda(0).exist)
    except Exception:  # noqa: BLE001 - no CUDA device API registered yet
        return False


def kernel_times(model, feed: dict, number: int, repeat: int) -> list[dict]:
    """Every kernel of one run of the model, timed alone on the arguments it had in the model."""
    from tvm.runtime import vm as tvm_vm

    vm = tvm_vm.VirtualMachine(model.library, model.device)
    calls: list[tuple[str, list]] = []

    def hook(func, symbol, before_run, ret_value, *args):
        if before_run and not str(symbol).startswith("vm."):
            calls.append((str(symbol), list(args)))
        return 0

    vm.set_instrument(hook)
    vm["main"](*model._args(feed))
    model.device.sync()
    host = model.library.imports[0]
    table = model.package.meta.get("kernels", [])
    rows = []
    for i, (symbol, args) in enumerate(calls):
        ev = host.time_evaluator(symbol, model.device, number=number, repeat=repeat)
        us = statistics.median(ev(*args).results) * 1e6
        layer = table[i]["layer"] if i < len(table) and table[i]["kernel"] == symbol else ""
        rows.append({"kernel": symbol, "layer": layer, "us": us})
    return rows


def torch_timer(device: str, repeat: int):
    import torch

    def measure(fn) -> float:
        """Median ms of `fn` over `repeat` calls (CUDA events on a GPU)."""
        with torch.no_grad():
            for _ in range(3):
                fn()
            samples = []
            for _ in range(repeat):
                if device == "cuda":
                    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    start.record()
                    fn()
                    end.record()
                    torch.cuda.synchronize()
                    samples.append(start.elapsed_time(end))
                else:
                    t = time.perf_counter()
                    fn()
                    samples.append((time.perf_counter() - t) * 1e3)
        return statistics.median(samples)
    return measure


def torch_references(manifest: dict, device: str, repeat: int) -> dict:
    """PyTorch dense: the zoo model end to end, and every DW conv and DW+PW pair alone."""
    import torch
    from torch import nn

    from tvm_dsprune import zoo

    torch.backends.cudnn.benchmark = True
    dev = torch.device(device)
    measure = torch_timer(device, repeat)
    out = {"torch": torch.__version__, "cudnn": torch.backends.cudnn.version() if device == "cuda" else None,
           "end_to_end": {}, "layers": {}}
    for model, info in manifest["models"].items():
        res = info["resolution"]
        net = zoo.build(model).eval().to(dev)
        for batch in manifest["batches"]:
            x = torch.from_numpy(det_input((batch, 3, res, res), seed=batch)).to(dev)
            out["end_to_end"][f"{model}__b{batch}"] = measure(lambda: net(x))
            say(f"PyTorch {model} batch {batch}: {out['end_to_end'][f'{model}__b{batch}']:.3f} ms")
        for layer in info["layers"]:
            c = layer["channels"]
            dw = nn.Conv2d(c, c, layer["kernel"], layer["stride"], (layer["pads"][0], layer["pads"][1]),
                           groups=c).to(dev).eval()
            pw = nn.Conv2d(c, layer["pw"]["cout"], 1).to(dev).eval() if layer["pw"] else None
            for batch in manifest["batches"]:
                x = torch.randn(batch, c, *layer["input"], device=dev)
                key = f"{model}__{layer['name']}__b{batch}"
                out["layers"][key] = {"dw": measure(lambda: dw(x)),
                                      "dw+pw": measure(lambda: pw(dw(x))) if pw is not None else None}
        del net
    return out


def run(bundle: Path, out: Path, device: str, repeat: int, kernel_repeat: int) -> dict:
    """Check and time every package of the bundle on `device`; write gpu_check.json / .md."""
    import importlib.util

    setup_tvm(device)
    if importlib.util.find_spec("tvm_dsprune") is None:      # the GPU machine: this checkout's package
        sys.path.insert(0, str(checkout_package()))
    from tvm_dsprune.runtime.session import LoadedModel

    work = _scratch("gpu_check_")
    say(f"unpacking {bundle / 'bundle.tar.xz'}")
    with tarfile.open(bundle / "bundle.tar.xz", "r:xz") as tar:
        tar.extractall(work, filter="data")
    manifest = json.loads((work / "manifest.json").read_text())
    refs = np.load(work / "references.npz", allow_pickle=False)
    results = {"device": device, "manifest": {k: v for k, v in manifest.items() if k != "packages"},
               "packages": [], "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    for p in manifest["packages"]:
        info = manifest["models"][p["model"]]
        x = det_input((p["batch"], 3, info["resolution"], info["resolution"]), seed=p["input_seed"])
        if digest(x) != p["input_digest"]:
            raise SystemExit(f"{p['name']}: the input differs from the one prepared ({digest(x)})")
        row = {k: p[k] for k in ("name", "model", "plan", "batch")}
        try:
            model = LoadedModel(work / p["package"], device)
            row["notes"] = model.notes
            feed = {"input": x}
            y = model(feed)["output"]
            ref = refs[p["name"]]
            row["rel_error"] = float(np.abs(y.astype(np.float64) - ref).max() / (np.abs(ref).max() or 1.0))
            row["ok"] = row["rel_error"] < manifest["tolerance"]
            row["ms"] = statistics.median(model.time(feed, repeat=repeat))
            if p["plan"] in ("dense", info["layer_plan"]):
                row["kernels"] = kernel_times(model, feed, number=10, repeat=kernel_repeat)
            del model
        except Exception as err:  # noqa: BLE001 - one package failing must not lose the others' results
            row.update(ok=False, error=f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}")
        results["packages"].append(row)
        say(f"{p['name']}: " + (f"rel. error {row['rel_error']:.1e}, {row['ms']:.3f} ms" if "ms" in row
                                else row.get("error", "?")))
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.json").write_text(json.dumps(results, indent=1))      # kept if PyTorch fails below
    try:
        results["pytorch"] = torch_references(manifest, device, repeat)
    except Exception as err:  # noqa: BLE001 - the TVM results stand without the references
        say(f"PyTorch references failed: {type(err).__name__}: {err}")
        results["pytorch"] = {"torch": "failed", "cudnn": None, "end_to_end": {}, "layers": {},
                              "error": f"{type(err).__name__}: {err}"}
    results["tables"] = tables(manifest, results)
    (out / "gpu_check.json").write_text(json.dumps(results, indent=1))
    (out / "gpu_check.md").write_text(markdown(results))
    say(f"wrote {out / 'gpu_check.json'} and {out / 'gpu_check.md'}")
    return results


# --- tables ------------------------------------------------------------------------------------------

def _per_layer(row: dict | None) -> dict[str, float]:
    sums: dict[str, float] = {}
    for k in (row or {}).get("kernels", []):
        if k["layer"]:
            sums[k["layer"]] = sums.get(k["layer"], 0.0) + k["us"]
    return sums


def tables(manifest: dict, results: dict) -> dict:
    """Rows of the end-to-end, per-layer and DEPrune tables from the raw results."""
    by_name = {r["name"]: r for r in results["packages"]}
    torch = results["pytorch"]
    e2e, layers, summary = [], [], []
    for model, info in manifest["models"].items():
        for batch in manifest["batches"]:
            dense = by_name.get(f"{model}__dense__b{batch}", {})
            pt = torch["end_to_end"].get(f"{model}__b{batch}")
            for plan in info["plans"]:
                r = by_name.get(f"{model}__{plan}__b{batch}", {})
                e2e.append({"model": model, "plan": plan, "batch": batch, "ok": r.get("ok"),
                            "rel_error": r.get("rel_error"), "tvm_ms": r.get("ms"),
                            "tvm_dense_ms": dense.get("ms"), "pytorch_ms": pt})
            plan = info["layer_plan"]
            if plan is None:
                continue
            d_us, p_us = _per_layer(dense), _per_layer(by_name.get(f"{model}__{plan}__b{batch}"))
            tot = {"tvm_dense": 0.0, "tvm_pruned": 0.0, "pytorch": 0.0}
            pair = {"tvm_dense": 0.0, "tvm_pruned": 0.0, "pytorch": 0.0}
            for layer in info["layers"]:
                ref = torch["layers"].get(f"{model}__{layer['name']}__b{batch}", {})
                pw = layer["pw"]["name"] if layer["pw"] else None
                row = {"model": model, "plan": plan, "batch": batch, "layer": layer["name"],
                       "channels": layer["channels"], "kernel": "x".join(map(str, layer["kernel"])),
                       "stride": layer["stride"][0], "input": "x".join(map(str, layer["input"])),
                       "tvm_dense_us": d_us.get(layer["name"]), "tvm_pruned_us": p_us.get(layer["name"]),
                       "pytorch_us": ref.get("dw", 0) * 1e3 if ref.get("dw") is not None else None,
                       "pair_tvm_dense_us": d_us.get(layer["name"], 0) + d_us.get(pw, 0) if pw else None,
                       "pair_tvm_pruned_us": p_us.get(layer["name"], 0) + p_us.get(pw, 0) if pw else None,
                       "pair_pytorch_us": ref["dw+pw"] * 1e3 if ref.get("dw+pw") is not None else None}
                layers.append(row)
                for key, col in (("tvm_dense", "tvm_dense_us"), ("tvm_pruned", "tvm_pruned_us"), ("pytorch", "pytorch_us")):
                    tot[key] += row[col] or 0.0
                    if pw:
                        pair[key] += row["pair_" + col] or 0.0
            summary.append({"model": model, "plan": plan, "batch": batch, "deprune": info["deprune"],
                            "dw_us": tot, "dw_pw_us": pair,
                            "dw_speedup_vs_tvm_dense": _ratio(tot["tvm_dense"], tot["tvm_pruned"]),
                            "dw_speedup_vs_cudnn": _ratio(tot["pytorch"], tot["tvm_pruned"]),
                            "dw_pw_speedup_vs_tvm_dense": _ratio(pair["tvm_dense"], pair["tvm_pruned"]),
                            "dw_pw_speedup_vs_cudnn": _ratio(pair["pytorch"], pair["tvm_pruned"])})
    return {"end_to_end": e2e, "layers": layers, "summary": summary}


def _ratio(a: float, b: float) -> float | None:
    return a / b if a and b else None


def _f(v, fmt: str = ".3f", unit: str = "") -> str:
    return "-" if v is None else format(v, fmt) + unit


def markdown(results: dict) -> str:
    t, pt = results["tables"], results["pytorch"]
    lines = [f"Device: {results['device']}; PyTorch {pt['torch']} (cuDNN {pt['cudnn']}), eager, cudnn.benchmark; "
             f"TVM packages built for {results['manifest']['target']}; medians. Rel. error: max |TVM - onnxruntime| "
             "/ max |onnxruntime| on the same (pruned) model.", "",
             "### End to end", "",
             "| model | plan | batch | rel. error | TVM pruned (ms) | TVM dense (ms) | PyTorch dense (ms) | vs TVM dense | vs PyTorch |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in t["end_to_end"]:
        lines.append(f"| {r['model']} | {r['plan']} | {r['batch']} | {_f(r['rel_error'], '.1e')} | {_f(r['tvm_ms'])} | "
                     f"{_f(r['tvm_dense_ms'])} | {_f(r['pytorch_ms'])} | {_f(_ratio(r['tvm_dense_ms'], r['tvm_ms']), '.2f', 'x')} | "
                     f"{_f(_ratio(r['pytorch_ms'], r['tvm_ms']), '.2f', 'x')} |")
    lines += ["", "### DW and DW+PW totals against DEPrune", "",
              "| model | plan | batch | DW: TVM dense / pruned / PyTorch (us) | DW speedup vs TVM dense | vs cuDNN | "
              "DEPrune DW | DW+PW: TVM dense / pruned / PyTorch (us) | DW+PW vs TVM dense | vs cuDNN | DEPrune DW+PW |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in t["summary"]:
        d, p, ref = s["dw_us"], s["dw_pw_us"], s["deprune"] or {}
        lines.append(f"| {s['model']} | {s['plan']} | {s['batch']} | {d['tvm_dense']:.0f} / {d['tvm_pruned']:.0f} / "
                     f"{d['pytorch']:.0f} | {_f(s['dw_speedup_vs_tvm_dense'], '.2f', 'x')} | "
                     f"{_f(s['dw_speedup_vs_cudnn'], '.2f', 'x')} | {_f(ref.get('dw'), '.2f', 'x')} | "
                     f"{p['tvm_dense']:.0f} / {p['tvm_pruned']:.0f} / {p['pytorch']:.0f} | "
                     f"{_f(s['dw_pw_speedup_vs_tvm_dense'], '.2f', 'x')} | {_f(s['dw_pw_speedup_vs_cudnn'], '.2f', 'x')} | "
                     f"{_f(ref.get('dw+pw'), '.2f', 'x')} |")
    lines += ["", "### Per depthwise layer (kernels timed alone on their in-model arguments; PyTorch: the conv alone)", "",
              "| model | batch | DW layer | C | k/s | input | TVM dense (us) | TVM pruned (us) | PyTorch (us) | "
              "DW+PW TVM dense (us) | DW+PW TVM pruned (us) | DW+PW PyTorch (us) |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in t["layers"]:
        lines.append(f"| {r['model']} | {r['batch']} | {r['layer']} | {r['channels']} | {r['kernel']}/{r['stride']} | "
                     f"{r['input']} | {_f(r['tvm_dense_us'], '.1f')} | {_f(r['tvm_pruned_us'], '.1f')} | "
                     f"{_f(r['pytorch_us'], '.1f')} | {_f(r['pair_tvm_dense_us'], '.1f')} | "
                     f"{_f(r['pair_tvm_pruned_us'], '.1f')} | {_f(r['pair_pytorch_us'], '.1f')} |")
    bad = [r for r in results["packages"] if not r.get("ok")]
    lines += ["", f"{len(results['packages']) - len(bad)} of {len(results['packages'])} packages equal onnxruntime "
              f"(rel. error < {results['manifest']['tolerance']})."]
    for r in bad:
        lines.append(f"- {r['name']}: " + (r.get("error") or f"rel. error {_f(r.get('rel_error'), '.1e')}"))
    notes = sorted({n for r in results["packages"] for n in r.get("notes", [])})
    lines += [f"- note: {n}" for n in notes]
    return "\n".join(lines) + "\n"


# --- the command ---------------------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", nargs="?", choices=("prepare", "run"), help="prepare (here) or run (on the GPU)")
    ap.add_argument("--dry-run", action="store_true", help="prepare, then the CPU twin of `run` here")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--plans", default=",".join(PLANS), help="plans of every model (EfficientNet-B0 adds deprune-bh-85)")
    ap.add_argument("--batches", default=",".join(map(str, BATCHES)))
    ap.add_argument("--resolution", type=int, help="input size (default: each model's own)")
    ap.add_argument("--bundle", type=Path, default=BUNDLE_DIR, help="folder of bundle.tar.xz (carried)")
    ap.add_argument("--build", type=Path, default=BUILD_DIR, help="folder of the intermediate files (not carried)")
    ap.add_argument("--out", type=Path, default=Path("gpu_check_out"), help="where gpu_check.json / .md go")
    ap.add_argument("--device", default="cuda", choices=("cuda", "cpu"), help="run: the device (cpu: the twin)")
    ap.add_argument("--repeat", type=int, default=30, help="timing samples per measurement")
    ap.add_argument("--twin-models", help="--dry-run: models of the CPU twin (default: the first of --models)")
    args = ap.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    plans = [p for p in args.plans.split(",") if p]
    batches = [int(b) for b in args.batches.split(",") if b]
    if args.command == "run":
        results = run(args.bundle, args.out, args.device, args.repeat, kernel_repeat=max(3, args.repeat // 6))
        return 0 if all(r.get("ok") for r in results["packages"]) else 1
    if args.command != "prepare" and not args.dry_run:
        ap.error("say prepare, run or --dry-run")
    t0 = time.perf_counter()
    prepare(models, batches, plans, TARGET, args.build, args.bundle, args.resolution)
    budget = carry_budget(args.bundle)
    say(f"bundle {budget['bundle_mib']:.1f} MiB + TVM runtime {budget['runtime_mib']:.1f} MiB + tree "
        f"{budget['tree_mib']:.1f} MiB of {budget['limit_mib']:.0f} MiB: " + ("fits" if budget["fits"] else "TOO BIG")
        + f" ({time.perf_counter() - t0:.0f} s)")
    (args.bundle / "budget.json").write_text(json.dumps(budget, indent=1))
    if not args.dry_run:
        return 0 if budget["fits"] else 1
    twin = [m for m in (args.twin_models or models[0]).split(",") if m]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        say(f"CPU twin: {', '.join(twin)} compiled for llvm, then `run` on the CPU in runtime-only TVM")
        prepare(twin, batches, plans, {"kind": "llvm"}, tmp / "build", tmp / "bundle", args.resolution)
        env = dict(os.environ, TVM_USE_RUNTIME_LIB="1")
        cmd = [sys.executable, str(Path(__file__).resolve()), "run", "--device", "cpu", "--bundle",
               str(tmp / "bundle"), "--out", str(args.out), "--repeat", str(min(args.repeat, 5))]
        done = subprocess.run(cmd, env=env, check=False)
    say(f"dry run done in {time.perf_counter() - t0:.0f} s; the twin's tables are in {args.out}")
    return done.returncode or (0 if budget["fits"] else 1)


if __name__ == "__main__":
    sys.exit(main())
