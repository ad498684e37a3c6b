"""K-fwd: every activation x N x dtype, in place; fastact vs roofline vs peers."""

DIRECTION = "fwd"


def test_kernel_forward(benchmark, kernel_case, run_kernel_case):
    run_kernel_case(benchmark, kernel_case)
