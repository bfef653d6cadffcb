"""The GPU check: one command, a few minutes. Runs on a CPU too (it then says "no CUDA" and
times the same phases there, as the reference).

1. The sandbox kernel (strict when bubblewrap works, else the project's "auto") starts and
   reports whether it sees CUDA: device name, CUDA initialisation, the first convolution
   (cuDNN loading), a bf16 matmul rate.
2. The built-in DDPM's load, phase by phase, in a fresh kernel (the 18.4 s vs 4 s question of
   issue 16): import diffusers (its top level is lazy, so the UNet's modules are timed apart);
   weights onto the device; the model with its shipped basis;
   the first decode of two anchors (what `load_model` also runs, as its protocol check); the
   same decode again (x_t cached); a decode of eight new anchors. Then `load_model` end to end
   in another fresh kernel, the number measured before.
3. The built-in VAE decodes a large batch on the device (images/s), in the sandbox.
4. Tiny diffusers pipelines saved with save_pretrained (random weights: this checks the path and
   the timings, not explanation quality) explained end to end through the CLI on the device:
   `diffusers:` (float32) and `sd:` under a prompt (float16 on CUDA, float32 on a CPU).

    .venv/bin/python benchmarks/gpu_check.py [--device auto|cpu|cuda] [--json FILE] [--skip-e2e]

Prints one table of timings (seconds unless named) and exits non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROBE_CUDA = r"""
import json, time
t0 = time.perf_counter()
import torch
out = {"import torch": time.perf_counter() - t0, "torch": torch.__version__, "cuda": torch.cuda.is_available()}
if torch.cuda.is_available():
    t = time.perf_counter(); torch.zeros(1, device="cuda"); torch.cuda.synchronize()
    out["CUDA init"] = time.perf_counter() - t
    out["device name"] = torch.cuda.get_device_name(0)
    out["cudnn.benchmark"] = torch.backends.cudnn.benchmark
    x = torch.randn(2, 16, 32, 32, device="cuda"); w = torch.randn(16, 16, 3, 3, device="cuda")
    t = time.perf_counter(); torch.nn.functional.conv2d(x, w, padding=1); torch.cuda.synchronize()
    out["first conv (cuDNN load)"] = time.perf_counter() - t
    t = time.perf_counter(); torch.nn.functional.conv2d(x, w, padding=1); torch.cuda.synchronize()
    out["second conv"] = time.perf_counter() - t
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16); a @ a; torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(10):
        a @ a
    torch.cuda.synchronize()
    out["bf16 matmul TFLOP/s"] = 10 * 2 * 8192**3 / (time.perf_counter() - t) / 1e12
print(json.dumps(out))
"""

DDPM_PHASES = r"""
import json, time
out = {}
def sync():
    import torch
    if torch.cuda.is_available():
        torch.cuda.synchronize()
t = time.perf_counter(); import torch; out["import torch"] = time.perf_counter() - t
from tools.models.device import resolve_device
device = resolve_device(DEVICE)
t = time.perf_counter(); torch.zeros(1, device=device); sync(); out["first tensor on the device (CUDA init)"] = time.perf_counter() - t
t = time.perf_counter(); import diffusers; out["import diffusers (its lazy top level)"] = time.perf_counter() - t
t = time.perf_counter(); from diffusers import DDIMScheduler, UNet2DModel
out["import diffusers' UNet2DModel and DDIMScheduler"] = time.perf_counter() - t
from tools.models.builtin import BUILTIN_MODELS
from tools.models.ddpm.model import load_ddpm
from tools.models.ddpm.hspace_model import load_ddpm_model
folder = BUILTIN_MODELS["dsprites-ddpm"].folder
t = time.perf_counter(); load_ddpm(folder, device); sync(); out["UNet weights onto the device"] = time.perf_counter() - t
t = time.perf_counter(); model = load_ddpm_model(folder, device); sync(); out["model with the shipped basis"] = time.perf_counter() - t
out["basis loaded, not computed"] = model.shared_basis is not None
from tools.models.loading import sample_anchor_latents
z = sample_anchor_latents(model, 2, seed=0)
t = time.perf_counter(); model.decode(z); sync(); out["first decode, 2 anchors (the protocol check)"] = time.perf_counter() - t
t = time.perf_counter(); model.decode(z); sync(); out["same decode again (x_t cached)"] = time.perf_counter() - t
z8 = sample_anchor_latents(model, 8, seed=1); z8[:, 0] = 1.0
t = time.perf_counter(); model.decode(z8); sync(); out["decode 8 new anchors, edited"] = time.perf_counter() - t
print(json.dumps(out))
"""

LOAD_MODEL = r"""
import json, time
t = time.perf_counter()
from tools.models.loading import load_model
load_model("builtin:dsprites-ddpm", device=DEVICE)
print(json.dumps({"load_model('builtin:dsprites-ddpm') in a fresh kernel": time.perf_counter() - t}))
"""

VAE_DECODE = r"""
import json, time, torch
from tools.models.loading import load_model
t = time.perf_counter(); model = load_model("builtin:dsprites-btcvae", device=DEVICE)
out = {"load builtin VAE": time.perf_counter() - t}
z = torch.randn(4096, model.latent_dim)
model.decode(z[:256])
def sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()
sync(); t = time.perf_counter()
for _ in range(5):
    model.decode(z)
sync()
out["builtin VAE decode, images/s"] = 5 * 4096 / (time.perf_counter() - t)
print(json.dumps(out))
"""


def _cell(kernel, code: str, device: str, timeout: float = 300.0) -> dict:
    result = kernel.execute(code.replace("DEVICE", repr(device)), timeout=timeout)
    return json.loads(result.stdout.strip().splitlines()[-1])


def sandbox_checks(device: str, work: Path) -> dict:
    from sandbox import SandboxKernel, SandboxSettings
    from sandbox.isolation import bwrap_problem

    isolation = "strict" if bwrap_problem("bwrap") is None else "auto"
    settings = SandboxSettings(isolation=isolation, cell_timeout_s=300.0)
    found: dict = {"sandbox isolation": isolation}
    run = work / "sandbox"
    run.mkdir()
    started = time.perf_counter()
    with SandboxKernel(run, settings) as kernel:
        found["kernel start"] = time.perf_counter() - started
        found |= {f"[cuda] {k}": v for k, v in _cell(kernel, PROBE_CUDA, device).items()}
        kernel.restart()  # fresh kernel: the DDPM phases start from nothing imported
        found |= {f"[ddpm] {k}": v for k, v in _cell(kernel, DDPM_PHASES, device).items()}
        kernel.restart()
        found |= _cell(kernel, LOAD_MODEL, device)
        found |= {f"[vae] {k}": v for k, v in _cell(kernel, VAE_DECODE, device).items()}
    return found


def e2e_checks(device: str, cuda: bool, work: Path) -> dict:
    from tests.fixtures.tiny_diffusers import save_tiny_ddpm_pipeline, save_tiny_stable_diffusion

    pipes = work / "pipes"
    save_tiny_ddpm_pipeline(pipes / "ddpm")
    save_tiny_stable_diffusion(pipes / "sd")
    for path in [work, *work.rglob("*")]:  # as root the kernel runs as nobody
        path.chmod(0o755 if path.is_dir() else 0o644)
    common = ["--device", device, "--directions", "2", "--inference-steps", "10", "--n-samples", "3", "--frames", "5",
              "--max-attempts", "1", "--quiet"]
    runs = {
        "diffusers: tiny DDPM, float32": ["--model", f"diffusers:{pipes / 'ddpm'}"],
        f"sd: tiny SD, {'float16' if cuda else 'float32'}": ["--model", f"sd:{pipes / 'sd'}", "--prompt", "a red square",
                                                             "--dtype", "float16" if cuda else "float32"],
    }
    env = os.environ | {"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "XDG_CACHE_HOME": str(work / "xdg")}
    found: dict = {}
    for name, args in runs.items():
        out = work / name.split(":")[0]
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "agent.cli", "explain", *args, *common, "--out", str(out)],
                              env=env, capture_output=True, text=True, timeout=600)
        found[f"[e2e] {name}: wall"] = time.perf_counter() - started
        if done.returncode != 0:
            found[f"[e2e] {name}: FAILED"] = (done.stderr.strip().splitlines() or ["?"])[-1]
            continue
        results = json.loads((out / "results.json").read_text())
        statuses = [entry["status"] for entry in results["latents"]]
        found[f"[e2e] {name}: statuses"] = ",".join(statuses)
        found[f"[e2e] {name}: ok"] = all(s in ("explained", "unclear") for s in statuses) and bool(statuses)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--skip-e2e", action="store_true", help="only the sandbox checks")
    args = parser.parse_args()

    import torch

    cuda = torch.cuda.is_available()
    device = args.device if args.device != "auto" else ("cuda" if cuda else "cpu")
    print(f"gpu_check: {'CUDA: ' + torch.cuda.get_device_name(0) if cuda else 'no CUDA'} in the host; device {device}",
          flush=True)
    figures: dict = {"host CUDA": cuda, "device": device}
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)
        started = time.perf_counter()
        try:
            figures |= sandbox_checks(device, work)
        except Exception as error:  # noqa: BLE001 - a failed check is reported, the others still run
            figures["sandbox checks FAILED"] = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        if not args.skip_e2e:
            figures |= e2e_checks(device, device.startswith("cuda"), work)
        figures["total wall"] = time.perf_counter() - started
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        print(f"  {key:<{width}}  {shown}")
    if device.startswith("cuda") and not figures.get("[cuda] cuda"):
        print("gpu_check: the sandbox kernel does NOT see CUDA", flush=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    failed = [k for k in figures if "FAILED" in k] + [k for k, v in figures.items() if k.endswith(": ok") and not v]
    if failed:
        print(f"gpu_check: failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
