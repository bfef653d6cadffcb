"""n explanation samples of one traversal image from a multimodal chat model (OpenAI-compatible).

The paper samples the MLLM several times and keeps an explanation only when the samples agree, so
this client returns exactly n independent completions for one image: it asks once with the `n`
parameter and, when the server returns fewer choices (many ignore `n`), fills up with parallel
single-choice requests.
"""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from agent.llm_config import LLMConfig, LLMUnavailable, build_chat_model, endpoint_errors_as_unavailable

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage
    from langchain_openai import ChatOpenAI

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
"""The first eight bytes of every PNG file."""

MAX_PARALLEL_REQUESTS = 8
"""Most single-choice fill-up requests in flight at once."""


def sample_explanations(
    config: LLMConfig,
    system_prompt: str,
    user_text: str,
    image_png: bytes,
    n: int,
    temperature: float = 1.0,
) -> list[str]:
    """Ask the model `config` names to explain `image_png` and return exactly `n` answers.

    1. One chat-completions request: the system prompt, then one user message whose content is the
       text part followed by the image as a `data:image/png;base64,...` image_url part (the image is
       sent once), with `n` choices at `temperature`.
    2. If fewer than `n` choices come back, the missing number is requested as single-choice
       requests in parallel threads and appended (more than `n` are cut to `n`).

    image_png: the encoded PNG file (e.g. a traversal strip). Returns the choices' text, in the
    order received. Connection errors, timeouts, HTTP 401/403/404 and other API errors raise
    LLMUnavailable with one line naming the endpoint.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not image_png.startswith(PNG_SIGNATURE):
        raise ValueError("image_png must be the bytes of a PNG file (it lacks the PNG signature)")
    messages = build_vision_messages(system_prompt, user_text, image_png)
    with endpoint_errors_as_unavailable(config):
        texts = _choices(build_chat_model(config, temperature=temperature, n=n), messages)[:n]
        missing = n - len(texts)
        if missing > 0:
            single = build_chat_model(config, temperature=temperature, n=1)
            with ThreadPoolExecutor(max_workers=min(missing, MAX_PARALLEL_REQUESTS)) as pool:
                extras = list(pool.map(lambda _: _choices(single, messages), range(missing)))
            for extra in extras:
                if not extra:
                    raise LLMUnavailable(
                        f"LLM endpoint {config.endpoint} (model {config.model!r}) returned no choices for a request"
                    )
                texts.append(extra[0])
    return texts


def build_vision_messages(system_prompt: str, user_text: str, image_png: bytes) -> list[BaseMessage]:
    """[system, user] chat messages; the user content is [text part, PNG data-URL image part].
    An empty system prompt is left out."""
    from langchain_core.messages import HumanMessage, SystemMessage

    data_url = "data:image/png;base64," + base64.b64encode(image_png).decode("ascii")
    user = HumanMessage(
        content=[
            {"type": "text", "text": user_text},
            {"type": "image_url", "image_url": {"url": data_url}},
        ]
    )
    return [SystemMessage(content=system_prompt), user] if system_prompt else [user]


def _choices(model: ChatOpenAI, messages: list[BaseMessage]) -> list[str]:
    """The text of every choice one request returns (generate() keeps all n; invoke() only one)."""
    result = model.generate([messages])
    return [str(generation.message.text) for generation in result.generations[0]]
