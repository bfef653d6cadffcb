"""The isolated Jupyter kernel that runs generated perturbation code.

    from sandbox import SandboxKernel, SandboxSettings, CellResult
    with SandboxKernel(run_dir, SandboxSettings()) as kernel:
        result = kernel.execute("print(1 + 1)")

Failures are the structured exceptions of sandbox.errors. Importing this package is cheap:
jupyter_client is imported when a kernel starts."""

from sandbox.kernel import SandboxKernel
from sandbox.result import CellResult
from sandbox.settings import SandboxSettings

__all__ = ["CellResult", "SandboxKernel", "SandboxSettings"]
