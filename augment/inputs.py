"""The input folder: every file under it, and one file's bytes, read safely.

A job takes every file under its input, as :func:`list_images` lists them (the spec's
``input`` filters then choose among them: :class:`augment.spec.InputOptions`). Nothing is
skipped here by name, extension or kind: what cannot be an input (a FIFO, a link out of
the folder, a file that is not an image) is refused when it is read or decoded, with an
:class:`ImageError` whose reason the manifest records. Torch-free, so that what lists
inputs need not load the decoders (:mod:`augment.images`).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from augment.errors import UsageError


class ImageError(ValueError):
    """An input cannot be used; the message says why (recorded in the manifest).

    Attributes:
        reason: a short code for counting failures by kind: in reading,
            ``outside_input``, ``not_a_file`` or ``broken_link`` (:func:`read_input`);
            in decoding, ``empty``, ``not_an_image``, ``unsupported_format``,
            ``too_large`` or ``undecodable`` (:mod:`augment.images`).
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def list_images(root: str | Path, flag: str = "input_dir") -> list[str]:
    """Every file under ``root``, recursively, as sorted POSIX paths relative to it.

    Nothing is skipped by name, extension or kind: a file that is not an image, a
    FIFO, socket or device, a broken or looping link, a link to a folder (folders are
    not followed through links) or a link out of ``root`` is an input that
    :func:`read_input` refuses with a reason, so the job records it rather than
    silently ignoring it.

    Args:
        root: the input folder.
        flag: how the caller's user names ``root``, in error messages: ``augment
            process`` takes ``--input-dir``, ``augment run`` and the launchers ``--input``.

    Raises:
        UsageError: a folder under ``root`` (or ``root``) cannot be listed; its files
            would be missing from the job with nothing said.
    """
    root = os.fspath(root)
    found: list[str] = []

    def unlistable(e: OSError) -> None:
        rel = os.path.relpath(e.filename, root) if e.filename else root
        where = "the input folder" if rel == os.curdir else f"the folder {rel!r} under the input"
        raise UsageError(f"{flag}={root}: cannot list {where} ({e.strerror or e}); make it readable "
                         "(chmod), or move it out of the input")

    for dirpath, dirnames, filenames in os.walk(root, onerror=unlistable):  # string paths: pathlib took 3x as long
        rel = os.path.relpath(dirpath, root)
        prefix = "" if rel == os.curdir else rel.replace(os.sep, "/") + "/"
        links = [name for name in dirnames if os.path.islink(os.path.join(dirpath, name))]
        dirnames[:] = sorted(name for name in dirnames if name not in links)
        found.extend(prefix + name for name in [*filenames, *links])
    return sorted(found)


_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a folder behind a link (not followed)"))


def read_input(root: str | Path, rel: str) -> bytes:
    """The bytes of the input ``rel`` under ``root``; what is not a regular file inside
    ``root`` is refused, unread, and never blocks.

    A link is followed while its target stays inside ``root``.

    Raises:
        ImageError: ``outside_input`` (a link out of ``root``), ``not_a_file`` (a FIFO,
            socket, device, or a link to a folder), ``broken_link`` (a link to nothing,
            or a loop of links).
        OSError: the file cannot be read (recorded as ``unreadable``).
    """
    root = os.fspath(root)
    path = os.path.join(root, rel)
    if os.path.islink(path):
        if not os.path.exists(path):
            raise ImageError("broken_link", "a link that leads nowhere (its target is missing, or links loop)")
        target = os.path.realpath(path)
        if os.path.commonpath([target, os.path.realpath(root)]) != os.path.realpath(root):
            raise ImageError("outside_input", f"a link to {target}, outside the input folder (not read)")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO opens at once instead of waiting for a writer
    except OSError as e:
        if e.errno == errno.ELOOP or (e.errno == errno.ENOENT and os.path.islink(path)):
            raise ImageError("broken_link", f"a link that leads nowhere ({e.strerror})") from None
        if e.errno == errno.ENXIO:  # a socket, or a FIFO opened for writing only
            raise ImageError("not_a_file", "a socket (not read)") from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((text for test, text in _KINDS if test(mode)), "not a regular file")
            raise ImageError("not_a_file", f"{kind} (not read)")
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as f:
        return f.read()
