"""The `tvm-dsprune` command line: a thin layer over the package's functions.

Bad input (a file, a ratio, a method, a target) prints one `error:` line and exits 2.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import __version__
from .errors import InputError

EPILOG_PRUNE = """\
methods (SPEC is NAME:RATIO, nm:N:M, or dense; RATIO in [0, 1)):
{methods}

examples:
  tvm-dsprune prune m.onnx -o p.onnx --dw dcp-bh:0.8 --pw filter-l2:0.5 --masks m.npz --report r.json
  tvm-dsprune prune m.onnx -o p.onnx --pw group-optimal:0.9 --group 1x4 --target mali
  tvm-dsprune prune m.onnx -o p.onnx --masks-in finetuned_masks.npz
"""


def _methods_help() -> str:
    from .pruning.methods import describe

    return "\n".join(f"  {name:<14} [{kinds}] {summary}" for name, kinds, summary in describe())


def add_zoo(sub) -> None:
    p = sub.add_parser("zoo", help="export a built-in model (seeded random weights) to ONNX",
                       description="Export a zoo model to ONNX with the TorchScript exporter "
                                   "(BatchNorm folded, batch dimension dynamic).")
    p.add_argument("name", nargs="?", help="model name (see --list)")
    p.add_argument("-o", "--output", help="ONNX file to write")
    p.add_argument("--list", action="store_true", help="list the models and exit")
    p.add_argument("--seed", type=int, default=0, help="weight seed (default 0)")
    p.add_argument("--resolution", type=int, help="input height = width (default: the model's)")
    p.set_defaults(func=cmd_zoo)


def cmd_zoo(args) -> int:
    from . import zoo

    if args.list or not args.name:
        for e in zoo.MODELS.values():
            print(f"{e.name:<20} {e.resolution:>4}px  {e.description}")
        return 0
    if not args.output:
        raise InputError("zoo: give -o/--output FILE.onnx")
    entry = zoo.entry(args.name)
    res = args.resolution or entry.resolution
    if res < 8:
        raise InputError(f"--resolution {res} is too small (at least 8)")
    zoo.export(entry.name, args.output, args.seed, res)
    print(f"wrote {args.output}: {entry.name}, input 1x3x{res}x{res} (batch dynamic), seed {args.seed}")
    return 0


def add_prune(sub) -> None:
    p = sub.add_parser("prune", help="the mask step: prune an ONNX model with GPU-aware methods",
                       description="Prune the convs and dense layers of an ONNX model. Pruned weights "
                                   "are zeroed; everything else is unchanged.",
                       epilog=EPILOG_PRUNE.format(methods=_methods_help()),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="ONNX model to prune")
    p.add_argument("-o", "--output", help="pruned ONNX model to write (omit for a dry run)")
    p.add_argument("--dw", metavar="SPEC", help="method for depthwise convs, e.g. dcp-bh:0.8")
    p.add_argument("--pw", metavar="SPEC", help="method for 1x1 convs, e.g. filter-l2:0.5")
    p.add_argument("--fc", metavar="SPEC", help="method for dense layers (Gemm/MatMul); same specs as --pw")
    p.add_argument("--conv", metavar="SPEC", help="method for other convs (kxk, groups 1); same specs as --pw")
    p.add_argument("--group", metavar="RxC", help="group shape for group-* methods (default: the target's)")
    p.add_argument("--balanced", action="store_true", default=None,
                   help="group-* methods keep the same number of groups in every row block")
    p.add_argument("--target", default="cuda",
                   help="target whose tile geometry sets DR group, HSR tile, group size (default cuda)")
    p.add_argument("--plan", metavar="JSON", help="plan file: kind specs and per-layer overrides")
    p.add_argument("--masks", metavar="NPZ", help="write the masks (True = kept) here")
    p.add_argument("--report", metavar="JSON", help="write the per-layer report here")
    p.add_argument("--masks-in", metavar="NPZ", help="apply these masks instead of running the methods")
    p.add_argument("--hsr-alpha", metavar="JSON", help="measured HSR alpha per DW layer (default: cost model)")
    p.add_argument("--prune-first", action="store_true", default=None, help="also prune the first conv")
    p.add_argument("--prune-last", action="store_true", default=None, help="also prune the last (classifier) layer")
    p.add_argument("--filter-feeding-dw", action="store_true", default=None,
                   help="let filter-* prune PW layers that feed a depthwise conv too")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the summary")
    p.set_defaults(func=cmd_prune)


def cmd_prune(args) -> int:
    from .pruning.onnx_prune import prune
    from .pruning.report import format_table

    result = prune(args.model, args.output, dw=args.dw, pw=args.pw, fc=args.fc, conv=args.conv,
                   group=args.group, balanced=args.balanced, target=args.target, plan=args.plan,
                   masks=args.masks, report=args.report, masks_in=args.masks_in,
                   prune_first=args.prune_first, prune_last=args.prune_last,
                   filter_feeding_dw=args.filter_feeding_dw, hsr_alpha=args.hsr_alpha)
    table = format_table(result.report)
    print(table if not args.quiet else table.split("\n\n", 1)[-1])
    for note in result.notes:
        print(f"note: {note}")
    written = [p for p in (args.output, args.masks, args.report) if p]
    print(f"wrote {', '.join(written)}" if written else "dry run: nothing written (give -o)")
    return 0


def add_targets(sub) -> None:
    p = sub.add_parser("targets", help="list the targets of the schedule collection and their tile geometry")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_targets)


def cmd_targets(args) -> int:
    from . import schedules

    specs = schedules.all_specs()
    if args.json:
        print(json.dumps([{"name": s.name, "aliases": list(s.aliases), "family": s.family, "target": s.target,
                           "geometry": s.geometry.as_dict(), "description": s.description} for s in specs], indent=1))
        return 0
    for s in specs:
        g = s.geometry
        print(f"{s.name:<14} {s.family:<7} DR group {g.dr_group:>2}, K tile {g.k_tile:>2}, "
              f"group {g.group[0]}x{g.group[1]}, tile rows {g.thread_rows}/{g.workgroup_rows}  {s.description}")
    return 0


def add_demo(sub) -> None:
    p = sub.add_parser("demo", help="the main job: prune the built-in MobileNet-V2 with DEPrune-BH")
    p.add_argument("--workdir", default="dsprune-demo", help="folder for the demo's files (default ./dsprune-demo)")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args) -> int:
    from . import zoo
    from .pruning.onnx_prune import prune
    from .pruning.report import format_table

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    model = work / "mobilenet_v2.onnx"
    print(f"[1/2] zoo: MobileNet-V2 (seeded random weights) -> {model}", flush=True)
    zoo.export("mobilenet_v2", model)
    print("[2/2] prune: DEPrune-BH, DW dcp-bh:0.78, PW filter-l2:0.5, target llvm", flush=True)
    result = prune(model, work / "mobilenet_v2_pruned.onnx", dw="dcp-bh:0.78", pw="filter-l2:0.5",
                   target="llvm", masks=work / "masks.npz", report=work / "report.json")
    print(format_table(result.report))
    print(f"wrote {work}/mobilenet_v2_pruned.onnx, masks.npz, report.json")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tvm-dsprune",
                                     description="GPU-aware pruning of depthwise-separable CNNs, "
                                                 "compiled to sparse kernels with Apache TVM.")
    parser.add_argument("--version", action="version", version=f"tvm-dsprune {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (add_demo, add_zoo, add_prune, add_targets):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except InputError as err:
        print(f"tvm-dsprune {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
