"""Errors that are the user's to fix. The CLI prints their message as one line and exits
non-zero; everything else is a bug and keeps its traceback."""


class UserError(Exception):
    """A bad input: the message names the bad value and what is allowed."""

    exit_code = 2
