"""Writing the files a user names (``--out``, ``--json``, ``--plot``...): atomically, and
with one clear refusal when the place cannot take them.

Light on purpose (the standard library, :mod:`augment.errors` and :mod:`augment.text`
only): every command can import it without pulling in torch, PIL or the spec machinery.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
from pathlib import Path

from augment.errors import UsageError
from augment.text import utf8

_TEMP_NUMBERS = itertools.count()

# the machine's fault, not the name's: a job that fails so may pass when retried
_TRANSIENT = (errno.ENOSPC, errno.EDQUOT, errno.EIO)


def path_reason(error: OSError, path: str | os.PathLike[str]) -> str | None:
    """What the operating system said of ``path`` (read or written), as the one wording every
    message of the kit uses: the fault and what to do. ``None`` for an error that says
    nothing of the path.

    Args:
        error: what the operating system said.
        path: the path as the user named it (a file that blocks it, ``x`` of ``x/y``, is
            found among it and its parents).
    """
    shown = os.fspath(path)
    if error.errno in (errno.ENOTDIR, errno.EEXIST):  # EEXIST: creating a folder met a file
        blocking = next((p for p in [Path(shown), *Path(shown).parents]
                         if os.path.lexists(p) and not os.path.isdir(p)), None)
        return f"{blocking} is a file, not a folder; name a folder" if blocking else None
    return _REASONS.get(error.errno)


_REASONS = {
    errno.EACCES: "permission denied; choose a path you may use",
    errno.EPERM: "permission denied; choose a path you may use",
    errno.EROFS: "the file system is read-only; choose another place",
    errno.ENOSPC: "no space left on the device; free some, or choose another place",
    errno.EDQUOT: "no space left on the device; free some, or choose another place",
    errno.ENAMETOOLONG: "the name is too long for the file system (at most 255 bytes a part, 4096 in all); "
                        "name a shorter path",
    errno.ELOOP: "its symbolic links loop; name the file itself",
}


def cannot_write(path: str | os.PathLike[str], error: OSError, flag: str | None = None) -> UsageError:
    """The refusal for a file that could not be written: ``cannot write X: reason``, with
    the flag that named it (``--out``) and, where there is one, what to do
    (:func:`path_reason`'s wording).

    Args:
        path: the file as the user named it.
        error: what the operating system said.
        flag: the option that named the file, if any.
    """
    shown = os.fspath(path)
    named = f" ({flag})" if flag else ""
    if error.errno == errno.EISDIR or (error.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.EPERM, errno.EACCES)
                                       and os.path.isdir(shown)):
        reason = "it is a folder; name a file in it"
    else:
        reason = path_reason(error, shown) or error.strerror or str(error)
    return UsageError(f"cannot write {shown}{named}: {reason}", transient=error.errno in _TRANSIENT)


def write_output(path: str | os.PathLike[str], data: bytes | str, *, flag: str | None = None) -> Path:
    """Write ``data`` to the file ``path`` a user named, so that readers see the old file
    or the whole new one, creating its folder if missing.

    The bytes go to a hidden temporary file beside it, which is then renamed over it; a
    failure leaves neither a truncated file nor the temporary one. ``str`` data is
    written as UTF-8, a file name's undecodable bytes in it as ``\\xff`` escapes
    (:func:`augment.text.utf8`).

    Args:
        path: the file.
        data: its whole content.
        flag: the option that named it, for the message (``--out``).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        UsageError: ``cannot write X (--flag): reason`` (a folder, no permission, a
            read-only or full disk, a path under a file...); exit status 2.
    """
    target = Path(path)
    body = utf8(data) if isinstance(data, str) else bytes(data)
    try:
        if target.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), os.fspath(target))
        atomic_write(target, body)
    except OSError as e:
        raise cannot_write(path, e, flag) from None
    return target


def atomic_write(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one,
    creating its folder if missing: every file the kit writes goes through here (the
    job's outputs and records, and the files a user names, :func:`write_output`).

    The bytes go to a hidden temporary file in the same folder, which is then renamed
    over ``path``; a process killed midway leaves at most that ``.augment-PID-N.tmp``
    file, never a truncated ``path``. Its name is short whatever the name's length (a
    250-byte name must not need a 270-byte temporary one) and holds the writer's process
    id: a resume keeps a temporary file whose process is alive (another host's job
    writing into the same folder), see ``augment.engine._remove_stale_temps``. The file
    gets the usual permissions (0666 minus umask).

    Raises:
        OSError: as the operating system said it; the temporary file is removed.
    """
    folder = os.path.dirname(os.fspath(path)) or "."
    tmp = os.path.join(folder, f".augment-{os.getpid()}-{next(_TEMP_NUMBERS)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    try:
        fd = os.open(tmp, flags, 0o666)
    except FileNotFoundError:
        os.makedirs(folder, exist_ok=True)
        fd = os.open(tmp, flags, 0o666)
    try:
        try:
            view = memoryview(data)
            while view:  # a regular file takes it all at once; a full disk raises
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return Path(path)
