"""Identifiers we mint: a short prefix naming the kind, then 20 random hex digits."""

from __future__ import annotations

import secrets
from collections.abc import Callable

NewId = Callable[[str], str]


def new_id(prefix: str) -> str:
    """A fresh id such as ``st-3f9c0d2a1b4e5f60718a``; services receive this as ``new_id``."""
    return f"{prefix}-{secrets.token_hex(10)}"
