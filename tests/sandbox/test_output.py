"""Capped cell output and colour stripping."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sandbox.output import CappedText, strip_ansi


def test_short_output_is_kept_whole() -> None:
    text = CappedText(100)
    text.append("hello ")
    text.append("world")
    assert text.text() == "hello world"


def test_long_output_keeps_head_and_tail() -> None:
    text = CappedText(10)
    for chunk in ["abcde", "fghij", "klmno", "pqrst"]:
        text.append(chunk)
    assert text.text() == "abcde\n[... 10 characters dropped ...]\npqrst"


@given(st.lists(st.text(max_size=30), max_size=20), st.integers(min_value=2, max_value=50))
def test_capped_text_is_the_input_when_short_and_bounded_when_long(chunks: list[str], limit: int) -> None:
    text = CappedText(limit)
    for chunk in chunks:
        text.append(chunk)
    whole = "".join(chunks)
    if len(whole) <= limit:
        assert text.text() == whole
    else:
        head, _, tail = text.text().partition("\n[... ")
        assert whole.startswith(head) and len(head) == limit // 2
        kept_tail = tail.split(" characters dropped ...]\n", 1)[1]
        assert whole.endswith(kept_tail) and len(kept_tail) == limit - limit // 2


def test_strip_ansi_removes_colours() -> None:
    assert strip_ansi("\x1b[0;31mValueError\x1b[0m: bad") == "ValueError: bad"
