"""Macros: saved answers support reuses when replying to customers.

A macro is a name (unique, whatever its case), the text as a customer gets it and, optionally, the
product area it answers best; the reply form offers the report's area's macros first. Its use is
counted when a reply made from it is queued (`customer_replies.macro_id`).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.errors import AlreadyDone, DomainError, NotFound, NotYours

MACRO_NAME_MAX = 100  # the column's length
MACRO_AREA_MAX = 255


class MacroRefused(DomainError):
    """A macro that cannot be saved as given (an empty or too long text, a mention, no name)."""


class MacroNameTaken(MacroRefused, AlreadyDone):
    """Another macro has that name already (names are unique whatever their case)."""


class MacroNotFound(NotFound):
    """No macro of that name or id (any more)."""


class NotYourMacro(NotYours):
    """Only the macro's author or an admin may remove it."""


@dataclass(frozen=True)
class Macro:
    id: int
    name: str
    text: str
    product_area: str | None
    created_by: str | None
    uses: int


@dataclass(frozen=True)
class MacroDraft:
    """What "Save as macro" opens with: a name (the problem's subject), the text, the area."""

    name: str = ""
    text: str = ""
    product_area: str | None = None


@dataclass(frozen=True)
class MacroUse:
    """A macro and how many replies were made from it in a window (the digest's "most used")."""

    name: str
    uses: int
