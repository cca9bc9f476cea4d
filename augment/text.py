"""Wording shared by every line the kit prints."""

from __future__ import annotations

_VOWELS = "aeiou"


def plural(count: int, noun: str) -> str:
    """``count`` and the noun in agreement: ``1 copy``, ``2 copies``, ``0 inputs``, ``3 batches``;
    thousands separated: ``1,000,000 images``.

    Args:
        count: how many.
        noun: the singular, in English (regular plurals only).
    """
    return f"{count:,} {noun if count == 1 else plural_of(noun)}"


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


def utf8(text: str) -> bytes:
    """``text`` as UTF-8 that every reader decodes, for files the kit writes.

    A file name's undecodable bytes (``os.fsdecode`` makes them lone surrogates, which
    strict UTF-8 refuses to encode) become ``\\xff`` escapes, as the command line shows
    them; any other lone surrogate becomes its ``\\udXXX`` escape.
    """
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return escape_surrogates(text).encode("utf-8")


def escape_surrogates(text: str) -> str:
    """``text`` with no lone surrogate left: a file name's undecodable bytes (``os.fsdecode``'s
    ``\\udcff``) as ``\\xff`` escapes, as the command line shows them; any other as its
    ``\\udXXX`` escape. Everything the kit writes or prints escapes them so."""
    return "".join(f"\\x{ord(c) - 0xDC00:02x}" if 0xDC80 <= ord(c) <= 0xDCFF
                   else f"\\u{ord(c):04x}" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)


MATHJAX_IGNORE = "tex2jax_ignore mathjax_ignore"
"""The classes of an element MathJax leaves alone: MathJax 3's name, and the one Jupyter's
configurations use (:func:`plain_html`, :func:`augment.notebooks.plain_markdown`)."""


def plain_html(fragment: str) -> str:
    """An HTML fragment wrapped so that notebook front ends show it as the text it is.

    JupyterLab (and so SageMaker Studio) and classic Jupyter typeset ``$...$`` in HTML output
    as LaTeX: a cost column reading ``$0.010 ($0.004-$0.015)`` turns into italic maths. MathJax
    skips an element of class ``mathjax_ignore`` (MathJax 3's name) or ``tex2jax_ignore`` (the
    name Jupyter's configurations use): every ``_repr_html_`` of the kit goes through here.
    """
    return f'<div class="{MATHJAX_IGNORE}">{fragment}</div>'


def all_excluded(count: int, noun: str = "file") -> str:
    """``all 5 files are excluded``; ``its one file is excluded`` (not ``all 1 files``)."""
    return f"its one {noun} is excluded" if count == 1 else f"all {plural(count, noun)} are excluded"
