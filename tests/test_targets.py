"""The one home of a target: every form and every question."""
import json

import pytest

from tvm_dsprune import targets
from tvm_dsprune.errors import InputError


def test_a_name_a_dict_json_and_a_tvm_string_resolve():
    assert targets.resolve("llvm").family == "cpu"
    assert targets.resolve({"kind": "cuda", "arch": "sm_90"}).target == {"kind": "cuda", "arch": "sm_90"}
    assert targets.resolve('{"kind": "opencl", "device": "mali"}').family == "opencl"
    t = targets.resolve("llvm -mcpu=skylake -mattr=+avx2,+fma -num-cores=4")
    assert t.target == {"kind": "llvm", "mcpu": "skylake", "mattr": ["+avx2", "+fma"], "num-cores": 4}
    assert targets.resolve("opencl -device=mali").geometry == targets.resolve("mali").geometry


def test_every_question_has_one_answer():
    cpu, cuda, mali = targets.resolve("llvm"), targets.resolve("cuda"), targets.resolve("mali")
    assert (cpu.is_gpu, cuda.is_gpu, mali.is_gpu) == (False, True, True)
    assert (cpu.device, cuda.device, mali.device) == ("cpu", "cuda", "opencl")
    assert cpu.host is None and cuda.host == {"kind": "llvm"}
    assert mali.host["mtriple"].startswith("aarch64") and mali.is_cross and not cpu.is_cross
    assert targets.resolve("cuda", host="llvm").host == {"kind": "llvm"}
    assert targets.device_of_kind("nvptx") == "cuda" and targets.device_of_kind("llvm") == "cpu"


def test_tvm_forms():
    t = targets.resolve("llvm")
    tvm_target = t.tvm()
    assert tvm_target.kind.name == "llvm" and int(tvm_target.attrs["num-cores"]) == targets.cpu_count()
    d = t.as_dict()
    assert d["kind"] == "llvm" and json.dumps(d)
    assert targets.resolve("cuda").tvm().host.kind.name == "llvm"


@pytest.mark.parametrize("target,host,message", [
    ({"kind": "vulkan"}, None, "has no schedules"),
    ("{kind: cuda", None, "not valid JSON"),
    ("tpu", None, "unknown target 'tpu'"),
    ("llvm", "llvm", "applies to GPU targets"),
    ("cuda", "foo", "the host of a GPU target is an llvm CPU target"),
    ("llvm -mcpu", None, "is not -key=value"),
])
def test_bad_targets_are_one_message(target, host, message):
    with pytest.raises(InputError, match=message):
        targets.resolve(target, host)


def test_an_unknown_key_is_refused_by_tvm_as_one_message():
    with pytest.raises(InputError, match="not a valid TVM target"):
        targets.resolve({"kind": "llvm", "bogus": 3}).tvm()
