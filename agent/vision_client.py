"""n explanation samples of one traversal image from a multimodal chat model (OpenAI-compatible).

The paper samples the MLLM several times and keeps an explanation only when the samples agree, so
this returns exactly n independent answers for one image: one request with the `n` parameter
(agent/llm/client.py asks again for choices a server leaves out, retries faults, caches and
counts). Each answer is structured: the request asks for `response_format` json_schema
(tools/certainty/claims.py EXPLANATION_JSON_SCHEMA: a sentence and its claims, each a property
and how it changes); a server that rejects response_format is asked again in plain text, and is
not asked for it again in this run. An answer that is not the schema's JSON is kept as text
with no claims.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.llm.client import LLMClient
    from agent.llm.usage import Usage

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
"""The first eight bytes of every PNG file."""

REJECTION_STATUSES = (400, 415, 422)
"""Statuses a server answers a response_format it does not support with."""

@dataclass
class VisionAnswer:
    """samples: the n explanation sentences. claims: per sample, its claims as
    {"property", "change"} dicts ([] for a plain-text answer). structured: whether the answers came
    with response_format json_schema."""

    samples: list[str]
    claims: list[list[dict]] = field(default_factory=list)
    structured: bool = False


def sample_explanations(
    client: LLMClient,
    system_prompt: str,
    user_text: str,
    image_png: bytes,
    n: int,
    temperature: float = 1.0,
    usage: Usage | None = None,
) -> VisionAnswer:
    """Ask `client`'s model to explain `image_png`; returns exactly `n` answers.

    The request: the system prompt, then one user message whose content is the text part followed
    by the image as a `data:image/png;base64,...` image_url part (sent once), `n` choices at
    `temperature`, response_format json_schema unless the endpoint rejected it before.
    Raises LLMRequestFailed (this latent fails), LLMUnavailable (the run stops), BudgetExhausted."""
    from agent.llm.client import LLMHTTPError
    from tools.certainty.claims import EXPLANATION_JSON_SCHEMA

    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not image_png.startswith(PNG_SIGNATURE):
        raise ValueError("image_png must be the bytes of a PNG file (it lacks the PNG signature)")
    body: dict[str, Any] = {"messages": build_vision_messages(system_prompt, user_text, image_png),
                            "n": n, "temperature": temperature}
    structured = not client.response_format_rejected
    answer = None
    if structured:
        try:
            answer = client.chat(body | {"response_format": {"type": "json_schema", "json_schema": EXPLANATION_JSON_SCHEMA}}, usage)
        except LLMHTTPError as error:
            if error.status not in REJECTION_STATUSES:
                raise
            client.response_format_rejected = True
            structured = False
    if answer is None:
        answer = client.chat(body, usage)
    texts = [_content(choice) for choice in answer["choices"][:n]]
    parsed = [parse_structured(text) for text in texts]
    return VisionAnswer(samples=[p[0] for p in parsed], claims=[p[1] for p in parsed], structured=structured)


def parse_structured(text: str) -> tuple[str, list[dict]]:
    """(sentence, claims) from an answer: the schema's JSON (also inside a ``` fence), else the
    text itself with no claims. Claims that are not {property, change} text are dropped."""
    from tools.certainty.claims import Claim

    raw = text.strip()
    if raw.startswith("```"):
        raw = raw.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, ValueError):
        return text.strip(), []
    if not isinstance(data, dict) or not isinstance(data.get("explanation"), str):
        return text.strip(), []
    claims = []
    for item in data.get("claims") or []:
        try:
            claims.append(Claim.from_dict(item).to_dict())
        except (ValueError, AttributeError):
            continue
    return data["explanation"].strip(), claims


def build_vision_messages(system_prompt: str, user_text: str, image_png: bytes) -> list[dict]:
    """[system, user] chat messages as JSON; the user content is [text part, PNG data-URL image
    part]. An empty system prompt is left out."""
    data_url = "data:image/png;base64," + base64.b64encode(image_png).decode("ascii")
    user = {"role": "user", "content": [
        {"type": "text", "text": user_text},
        {"type": "image_url", "image_url": {"url": data_url}},
    ]}
    return [{"role": "system", "content": system_prompt}, user] if system_prompt else [user]


def _content(choice: dict) -> str:
    """A choice's message text ("" when it has none)."""
    content = (choice.get("message") or {}).get("content")
    if isinstance(content, list):  # content parts
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content or "")
