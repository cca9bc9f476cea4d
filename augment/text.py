"""Wording shared by every line the kit prints."""

from __future__ import annotations

_VOWELS = "aeiou"


def plural(count: int, noun: str) -> str:
    """``count`` and the noun in agreement: ``1 copy``, ``2 copies``, ``0 inputs``, ``3 batches``.

    Args:
        count: how many.
        noun: the singular, in English (regular plurals only).
    """
    return f"{count} {noun if count == 1 else plural_of(noun)}"


def plural_of(noun: str) -> str:
    """The regular English plural of ``noun``: ``copy`` -> ``copies``, ``batch`` -> ``batches``."""
    if noun.endswith("y") and noun[-2:-1] not in _VOWELS:
        return noun[:-1] + "ies"
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    return noun + "s"


def brief(value: object, limit: int = 120) -> str:
    """``repr(value)``, cut short when it is long: a message quotes a value, never megabytes of it.

    The cut keeps both ends and says how long the whole was: ``'aaaa...aaaa' (1000000 characters)``.
    """
    text = repr(value)
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}...{text[-half // 2:]} ({len(text):,} characters)"
