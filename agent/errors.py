"""The application's view of user errors: the base type lives at the bottom of the stack
(tools/errors.py) so that tools/ and sandbox/ never import the application."""

from tools.errors import UserError

__all__ = ["UserError"]
