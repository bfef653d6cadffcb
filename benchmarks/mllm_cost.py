"""What the MLLM path costs: the main job through a local OpenAI-compatible server that sleeps a
set latency per request, against the paper's protocol replayed on the same traversals.

    PYTHONPATH=. .venv/bin/python benchmarks/mllm_cost.py [--latency 3] [--n-samples 5] [--model builtin:...]

1. main job: `latent-explainer explain --llm openai:bench-vlm` on the built-in model; the vision
   role answers structured JSON, the coder role (tool calls) writes one generic perturbation
   function from `params`. Requests, images, prompt tokens and wall time are the server's count
   (prompt tokens: words of the text plus each image by OpenAI's image rule,
   tests/openai_server.py image_tokens).
2. the same vision requests replayed (this tool's protocol: one request per traversal, i.e. per
   latent and attempt, with `n`, every anchor in one grid image, requests concurrent), and the
   paper's protocol on the same traversals: n separate requests per traversal, each with every
   frame of the first anchor as its own image, one after another (LatentExplainer, Zhu et al. 2024; the authors'
   code samples the MLLM n times).
3. a re-run of the main job against the same endpoint: answered from the response cache.
4. the main job with 20% injected faults (HTTP 429 with Retry-After, HTTP 500, malformed bodies,
   fewer choices than asked) and no cache: exit code, statuses, retries, tracebacks.

The response cache lives in a temporary XDG_CACHE_HOME, so the user's cache is not touched.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.openai_server import FaultPlan, JsonReply, OpenAIServer, TextReply, ToolCall, ToolCallReply  # noqa: E402

GENERIC_CODE = (
    "import torch\nfrom tools.traversal.perturbation import decode_in_batches, direction_for, load_model, make_anchors, "
    "save_traversal, traverse\nmodel = load_model(params['model_ref'], device=params['device'])\n"
    "anchors = make_anchors(model, n=params['n_anchors'], seed=params['seed'], condition=params['condition'])\n"
    "values = torch.tensor(params['values'])\n"
    "if params['mode'] == 'offset':\n"
    "    direction = direction_for(model, indices=params['indices'], condition=params['condition'])\n"
    "    z = traverse(anchors, indices=params['indices'], values=values, mode='offset', direction=direction)\n"
    "else:\n"
    "    z = traverse(anchors, indices=params['indices'], values=values, mode=params['mode'])\n"
    "save_traversal(params['folder'], z=z, frames=decode_in_batches(model, z), values=values)\n"
)
"""What the scripted coder writes: one function of `params` for every plan shape."""


def reply(request: dict):
    """The scripted model: the coder role gets GENERIC_CODE as a run_code call; the vision role a
    structured explanation naming the latent it was shown."""
    if request.get("tools"):
        if request["messages"][-1]["role"] == "tool":
            return TextReply(["Done."])
        return ToolCallReply([ToolCall("run_code", {"code": GENERIC_CODE})])
    content = request["messages"][-1]["content"]
    text = content[0]["text"] if isinstance(content, list) else str(content)
    latent = text.split()[1].rstrip(",") if text.startswith("Latent") else "?"
    answer = {"explanation": f"The object changes along {latent}.", "claims": [{"property": "shape", "change": latent}]}
    if "response_format" in request:
        return JsonReply(answer)
    return TextReply([json.dumps(answer)])


def images_in(body: dict) -> int:
    return sum(1 for m in body["messages"] if isinstance(m.get("content"), list)
               for p in m["content"] if p.get("type") == "image_url")


def explain(out: Path, base_url: str, args: argparse.Namespace, *extra: str) -> tuple[int, float, str]:
    """(exit code, wall seconds, stderr) of `explain` in this process."""
    from agent.cli import main

    command = ["explain", "--model", args.model, "--out", str(out), "--llm", "openai:bench-vlm", "--llm-base-url",
               base_url, "--n-samples", str(args.n_samples), "--quiet", *extra]
    stderr = io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        code = main(command)
    return code, time.monotonic() - started, stderr.getvalue()


def send_all(base_url: str, bodies: list[dict], concurrent: bool) -> float:
    """Wall seconds to send `bodies` (concurrently, or one after another)."""
    import httpx

    with httpx.Client(timeout=600) as client:
        def post(body: dict) -> None:
            client.post(base_url + "/chat/completions", json=body).raise_for_status()

        started = time.monotonic()
        if concurrent:
            with ThreadPoolExecutor(max_workers=max(1, len(bodies))) as pool:
                list(pool.map(post, bodies))
        else:
            for body in bodies:
                post(body)
        return time.monotonic() - started


def paper_bodies(run_dir: Path, results: dict, n: int) -> list[dict]:
    """The paper's protocol on every traversal this run showed the MLLM (each latent's attempts):
    n requests per traversal, each with the bias prompt and question and every frame of the first
    anchor as its own PNG image, n = 1 per request."""
    from prompts import render_prompt

    text = render_prompt("vision_system.txt", bias_prompt=results["bias"]["prompt"]) + "\nWhat does this latent control?"
    bodies = []
    for latent in results["latents"]:
        for attempt in sorted((run_dir / "frames" / latent["id"]).glob("attempt_*")):
            parts = [{"type": "text", "text": text}]
            for frame in sorted(attempt.glob("*.png")):
                data = base64.b64encode(frame.read_bytes()).decode("ascii")
                parts.append({"type": "image_url", "image_url": {"url": "data:image/png;base64," + data}})
            bodies += [{"model": "bench-vlm", "messages": [{"role": "user", "content": parts}], "n": 1,
                        "temperature": 1.0} for _ in range(n)]
    return bodies


def prompt_tokens(bodies: list[dict]) -> int:
    from tests.openai_server import prompt_token_count

    return sum(prompt_token_count(body["messages"]) for body in bodies)


def main() -> None:
    from tools.models.builtin import DEFAULT_MODEL

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=3.0, help="seconds the server sleeps per request")
    parser.add_argument("--n-samples", type=int, default=5)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mllm-cost-"))
    os.environ["XDG_CACHE_HOME"] = str(work / "cache")
    os.environ.pop("OPENAI_API_KEY", None)
    print(f"cores {os.cpu_count()}; latency {args.latency:g} s per request; n = {args.n_samples}; model {args.model}")

    with OpenAIServer(reply, latency_s=args.latency) as server:
        code, wall, _ = explain(work / "main", server.base_url, args)
        main_requests = list(server.requests)
        port, peak = server.port, server.peak_in_flight
    results = json.loads((work / "main" / "results.json").read_text())
    vision = [b for b in main_requests if not b.get("tools")]
    coder = [b for b in main_requests if b.get("tools")]
    statuses = results["summary"]
    print(f"\nmain job: exit {code}, {wall:.1f} s wall, {len(results['latents'])} latents {statuses}; "
          f"{len(vision)} vision + {len(coder)} coder requests, at most {peak} in flight; usage {results['usage']}")

    ours = vision
    paper = paper_bodies(work / "main", results, args.n_samples)
    with OpenAIServer(reply, latency_s=args.latency) as server:
        ours_wall = send_all(server.base_url, ours, concurrent=True)
        paper_wall = send_all(server.base_url, paper, concurrent=False)
    rows = [("requests", len(ours), len(paper)), ("images", sum(map(images_in, ours)), sum(map(images_in, paper))),
            ("prompt tokens", prompt_tokens(ours), prompt_tokens(paper)),
            ("wall time, s", round(ours_wall, 1), round(paper_wall, 1))]
    print("\nvision requests on the same traversals | this tool | paper's protocol | ratio")
    for name, mine, theirs in rows:
        print(f"{name:>38} | {mine:>9} | {theirs:>16} | {theirs / mine if mine else float('inf'):.1f}x")

    with OpenAIServer(reply, latency_s=args.latency, port=port) as server:
        code, again_wall, _ = explain(work / "again", server.base_url, args)
        sent = len(server.requests)
    again = json.loads((work / "again" / "results.json").read_text())
    print(f"\nre-run (cache): exit {code}, {again_wall:.1f} s wall, {sent} requests sent, usage {again['usage']}")

    faults = FaultPlan(args.fault_rate, seed=7, retry_after_s=1.0)
    with OpenAIServer(reply, latency_s=args.latency, faults=faults) as server:
        code, fault_wall, stderr = explain(work / "faults", server.base_url, args, "--no-cache")
        injected = server.faults_injected
    faulty = json.loads((work / "faults" / "results.json").read_text())
    kinds = {kind: injected.count(kind) for kind in sorted(set(injected))}
    print(f"\n{args.fault_rate:.0%} faults: exit {code}, {fault_wall:.1f} s wall, {faulty['summary']}, "
          f"{len(injected)} faults injected {kinds}, usage {faulty['usage']}, "
          f"traceback in stderr: {'Traceback' in stderr}")
    failed = [f"{e['id']}: {e['error']}" for e in faulty["latents"] if e["status"] == "failed"]
    for line in failed:
        print(f"    failed {line}")
    print(f"\nrun folders in {work}")


if __name__ == "__main__":
    main()
