"""The base of every refusal the domain can give: handlers translate a `DomainError` into a short
reply to the person who asked, in one place (`handlers.common`); anything else is a bug and reaches the
one error handler that logs it with its traceback."""

from __future__ import annotations


class DomainError(Exception):
    """A request that cannot be done; `str(error)` is the text shown to the person who asked."""
