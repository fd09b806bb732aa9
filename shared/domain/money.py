"""Money is integer fen (0.01 CNY) and energy integer Wh, everywhere."""

from __future__ import annotations

from typing import NewType

Fen = NewType("Fen", int)
Wh = NewType("Wh", int)


def format_yuan(amount_fen: int) -> str:
    """Show fen as a yuan string with two decimals (``-1.05``), exactly, without float."""
    sign = "-" if amount_fen < 0 else ""
    yuan, fen = divmod(abs(amount_fen), 100)
    return f"{sign}{yuan}.{fen:02d}"
