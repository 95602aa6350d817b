"""The target registry: built-in targets, raw TVM dicts, plugins through the entry point."""
import subprocess
import sys
import textwrap

import pytest

from tvm_dsprune import schedules, targets
from tvm_dsprune.errors import InputError


def test_builtin_targets_and_geometry():
    assert {"cuda", "mali", "llvm"} <= set(schedules.names())
    cuda = targets.resolve("cuda")
    assert cuda.geometry.dr_group == 32 and cuda.geometry.k_tile == 32      # DEPrune's geometry
    assert targets.resolve("mali").geometry.group == (1, 4)                   # one float4
    assert targets.resolve("cpu").name == "llvm"                              # alias


def test_raw_tvm_target_dict_takes_its_family_geometry():
    spec = targets.resolve('{"kind": "cuda", "arch": "sm_87"}')
    assert spec.target == {"kind": "cuda", "arch": "sm_87"}
    assert spec.geometry == targets.resolve("cuda").geometry
    with pytest.raises(InputError, match="no schedules"):
        targets.resolve({"kind": "vulkan"})
    with pytest.raises(InputError, match="not valid JSON"):
        targets.resolve("{kind: cuda")


def test_duplicate_registration_is_refused():
    spec = schedules.lookup("cuda")
    with pytest.raises(ValueError, match="already registered"):
        schedules.register(spec)


def test_plugin_through_entry_point(tmp_path):
    """A separate package registers a GPU through the tvm_dsprune.schedules entry point."""
    (tmp_path / "my_gpu_plugin.py").write_text(textwrap.dedent("""
        from tvm_dsprune.schedules import TargetSpec, register
        from tvm_dsprune.schedules.geometry import TileGeometry
        register(TargetSpec(name="my-gpu", target={"kind": "cuda", "arch": "sm_89"}, family="cuda",
                            geometry=TileGeometry(dr_group=64, k_tile=16, group=(1, 8), thread_rows=8,
                                                  workgroup_rows=64, vector_width=8)))
    """))
    dist = tmp_path / "my_gpu_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-gpu-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[tvm_dsprune.schedules]\nmy-gpu = my_gpu_plugin\n")
    code = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {str(tmp_path)!r})
        from tvm_dsprune import targets, schedules
        spec = targets.resolve("my-gpu")
        assert spec.geometry.dr_group == 64, spec
        assert "my-gpu" in schedules.names()
        assert "tvm" not in sys.modules
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_mask_step_imports_no_tvm(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        from tvm_dsprune import zoo, prune
        p = zoo.export("tiny", {str(tmp_path / 't.onnx')!r})
        prune(p, {str(tmp_path / 'p.onnx')!r}, dw="dcp-bh:0.8", pw="group-optimal:0.9", target="mali")
        assert not any(m == "tvm" or m.startswith("tvm.") for m in sys.modules), "TVM was imported"
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
