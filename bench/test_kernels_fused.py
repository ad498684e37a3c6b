"""K-fused, (200, 256) float32: bias + activation forward, and the backward
slope with the bias-gradient column sums, fused (fastact) vs the unfused
sequences (fastact-unfused, NumPy/SciPy/scikit-learn, PyTorch)."""

# test function -> workload direction (read by conftest.pytest_generate_tests)
DIRECTION = {"test_fused_forward": "fused-fwd", "test_fused_backward": "fused-bwd"}


def test_fused_forward(benchmark, kernel_case, run_kernel_case):
    run_kernel_case(benchmark, kernel_case)


def test_fused_backward(benchmark, kernel_case, run_kernel_case):
    run_kernel_case(benchmark, kernel_case)
