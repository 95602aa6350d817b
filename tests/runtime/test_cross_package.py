"""Packages for a board: linked by a cross compiler (with options), or object files the board
links; a missing or wrong cross compiler is one message and leaves no package behind."""
import json
import shutil
import tarfile

import pytest

from tvm_dsprune import targets
from tvm_dsprune.build.compile import compile
from tvm_dsprune.errors import CompileError, InputError
from tvm_dsprune.runtime import package

CROSS = "aarch64-linux-gnu-g++"
needs_cross = pytest.mark.skipif(shutil.which(CROSS) is None, reason=f"{CROSS} is not installed "
                                 "(Debian: apt-get install g++-aarch64-linux-gnu)")


@pytest.fixture(scope="module")
def aarch64_build(zoo_onnx):
    """The tiny net built for aarch64-cpu, not yet packed."""
    return compile(zoo_onnx("tiny"), "aarch64-cpu")


def elf_machine(data: bytes) -> int:
    return int.from_bytes(data[18:20], "little")


@needs_cross
def test_cross_compiler_options_reach_the_linker(aarch64_build, tmp_path):
    target = targets.resolve("aarch64-cpu")
    path = package.write(aarch64_build.executable, tmp_path / "m.tar", aarch64_build.meta, target, CROSS,
                         "-Wl,--build-id=sha1 -s")
    with tarfile.open(path) as tar:
        lib = tar.extractfile("lib.so").read()
        meta = json.loads(tar.extractfile("meta.json").read())
    assert elf_machine(lib) == 183 and b".symtab" not in lib        # aarch64, stripped by -s
    assert b"GNU" in lib and (meta["arch"], meta["library_kind"]) == ("aarch64", "shared")


def test_missing_cross_compiler_is_refused_before_the_build(zoo_onnx, tmp_path):
    with pytest.raises(InputError, match="--cross-compiler 'no-such-g\\+\\+': no such compiler on PATH"):
        compile(zoo_onnx("tiny"), "aarch64-cpu", tmp_path / "m.tar", cross_compiler="no-such-g++")
    with pytest.raises(InputError, match="--cross-compiler-options needs --cross-compiler"):
        compile(zoo_onnx("tiny"), "aarch64-cpu", tmp_path / "m.tar", cross_compiler_options="-s")
    assert list(tmp_path.iterdir()) == []


def test_wrong_cross_compiler_is_one_message_and_no_package(aarch64_build, tmp_path):
    target = targets.resolve("aarch64-cpu")
    with pytest.raises(CompileError, match="linking the aarch64 library with g\\+\\+ failed: .*wrong format"):
        package.write(aarch64_build.executable, tmp_path / "m.tar", aarch64_build.meta, target, "g++")
    assert list(tmp_path.iterdir()) == []


def test_object_files_without_a_cross_compiler(aarch64_build, tmp_path):
    path = package.write(aarch64_build.executable, tmp_path / "m.tar", aarch64_build.meta,
                         targets.resolve("aarch64-cpu"))
    with tarfile.open(path) as tar:
        assert sorted(tar.getnames()) == ["lib.tar", "meta.json"]
        meta = json.loads(tar.extractfile("meta.json").read())
    assert (meta["arch"], meta["library_kind"]) == ("aarch64", "objects")


def test_older_packages_know_their_arch_from_the_target():
    assert package.package_arch({"target": {"kind": "llvm", "mtriple": "aarch64-linux-gnu"}}) == "aarch64"
    assert package.package_arch({"target": {"kind": "opencl"},
                                 "target_host": {"kind": "llvm", "mtriple": "armv7a-linux-gnueabihf"}}) == "armv7a"
