"""Numbers typed by people ("#42", "3 seats"), read safely.

`str.isdigit()` is true for "²" and "١٢" (which `int` reads, or refuses), and a 20-digit number
overflows the database's integer columns; both used to reach the database and answer 500.
"""

from __future__ import annotations

import re

# The largest id or count stored (PostgreSQL's `integer`).
MAX_INT = 2**31 - 1
_NUMBER = re.compile(r"#?([0-9]{1,10})")


def parse_number(text: str, *, maximum: int = MAX_INT) -> int | None:
    """The whole number `text` spells in ASCII digits (with an optional leading "#"), or None when it
    is not one or is above `maximum`."""
    match = _NUMBER.fullmatch(text.strip())
    if match is None:
        return None
    value = int(match.group(1))
    return value if value <= maximum else None
