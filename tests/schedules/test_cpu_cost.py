"""The CPU cost model's depthwise decision depends on the layer's kernel and stride, as the
measurements behind it do (schedules/cpu/__init__.py): at DEPrune's 78%, a 3x3 stride-1 layer
stays dense (the DR kernel ran slower there in 16 of 20 layers), strided and 7x7 layers go
sparse; a GPU family's model is the density rule it always was."""
import pytest

from tvm_dsprune.schedules import cpu, cuda


@pytest.mark.parametrize("taps,stride,density,sparse", [
    (9, 1, 0.22, False), (9, 1, 0.1, False), (9, 2, 0.22, True), (25, 1, 0.22, False),
    (25, 1, 0.1, True), (25, 2, 0.5, True), (49, 1, 0.22, True), (9, 2, 0.6, False),
])
def test_cpu_depthwise_decision_by_kernel_and_stride(taps, stride, density, sparse):
    assert cpu.COST.depthwise_sparse_wins(density, taps, stride) is sparse


def test_gpu_decision_is_the_density_rule():
    for taps, stride in ((9, 1), (25, 2)):
        for density in (0.1, 0.5, 0.9):
            assert cuda.COST.depthwise_sparse_wins(density, taps, stride) == cuda.COST.depthwise_sparse_wins(density)
