"""K-bwd: delta *= slope in place; fastact vs roofline (x1.5 in extra_info) vs peers."""

DIRECTION = "bwd"


def test_kernel_backward(benchmark, kernel_case, run_kernel_case):
    run_kernel_case(benchmark, kernel_case)
