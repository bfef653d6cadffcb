"""Cell output that cannot grow without bound: the first and last characters are kept."""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    """text without terminal colour and cursor codes (IPython colours its tracebacks)."""
    return _ANSI.sub("", text)


class CappedText:
    """Accumulates text, keeping at most `limit` characters: the first half and the last half
    of everything appended, and a marker line for what was dropped between them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._head = ""
        self._tail = ""
        self._dropped = 0

    def append(self, text: str) -> None:
        """Add text at the end."""
        room = self.limit // 2 - len(self._head)
        if room > 0:
            self._head += text[:room]
            text = text[room:]
        if not text:
            return
        keep = self.limit - self.limit // 2
        joined = self._tail + text
        if len(joined) > keep:
            self._dropped += len(joined) - keep
            joined = joined[-keep:]
        self._tail = joined

    def text(self) -> str:
        """Everything kept, with "[... N characters dropped ...]" where text was dropped."""
        if not self._dropped:
            return self._head + self._tail
        return f"{self._head}\n[... {self._dropped} characters dropped ...]\n{self._tail}"
