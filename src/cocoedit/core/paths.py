"""The two path rules for files named by data: reading inside a root, writing a file per id.

*Reading*: :func:`resolve_inside` joins a path cell to its root and refuses a result whose **real**
path (symlinks followed) leaves the root, so a link inside a dataset cannot make it read
``/etc/passwd``.

*Writing*: :func:`safe_file_name` maps a sample id (or benchmark key) to one file name: no
separators, no ``..``, never absolute, the suffix appended (``img.000`` -> ``img.000.png``, never
``img.png``); :func:`output_paths_for_ids` places many ids in one folder and refuses, before
anything is written, two ids that would share a file.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

from cocoedit.core.errors import CocoEditError


class UnsafeNameError(CocoEditError):
    """An id cannot name a file, or two ids would name the same file."""


_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_STEM = 80  # leaves room for the hash and a suffix under the usual 255-byte name limit


def unsafe_id_reason(sample_id: str) -> str | None:
    """Why ``sample_id`` may not be used as an id, or ``None`` when it may.

    Refused: blank ids, ids with control characters (a newline would split a log line), absolute
    ids and ids with a ``..`` component: whatever derives a path from one would leave its folder.
    Ids with ``/`` inside (``images/a/0001``, as CoCoEdit-40K's) are fine: file names made from
    them replace the separators.
    """
    if not sample_id.strip():
        return "id is blank"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in sample_id):
        return f"id {sample_id!r} contains a control character"
    parts = sample_id.replace("\\", "/").split("/")
    if sample_id.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", sample_id):
        return f"id {sample_id!r} is an absolute path"
    if ".." in parts:
        return f"id {sample_id!r} has a '..' component"
    return None


def safe_stem(sample_id: str) -> str:
    """A file-name-safe stem for an id, unique per id.

    Ids made of ``A-Za-z0-9._-`` (not starting or ending with ``.``/``_``, at most 80 characters)
    are used as they are; any other id gets its unsafe runs replaced by ``_`` and 8 hex digits of
    its SHA-256 appended, so ``a/b`` and ``a_b`` never share a file.
    """
    safe = _UNSAFE_CHARS.sub("_", sample_id).strip("._") or "sample"
    if safe == sample_id and len(safe) <= _MAX_STEM:
        return safe
    return f"{safe[:_MAX_STEM]}-{hashlib.sha256(sample_id.encode('utf-8')).hexdigest()[:8]}"


def safe_file_name(sample_id: str, suffix: str) -> str:
    """``safe_stem(sample_id) + suffix``: the suffix is appended, never substituted for a dotted
    part of the id, so ``x`` and ``x.png`` give ``x.png`` and ``x.png.png``."""
    return f"{safe_stem(sample_id)}{suffix}"


class FileNames:
    """Claims file names for ids in one folder; a second id claiming a taken name is refused.

    Names are compared case-folded, since on case-insensitive file systems (macOS, Windows) ``A``
    and ``a`` are one file.
    """

    def __init__(self, out_dir: str | Path, suffix: str = "") -> None:
        self.out_dir, self.suffix = Path(out_dir), suffix
        self._owner: dict[str, str] = {}

    def claim(self, sample_id: str, suffix: str | None = None) -> Path:
        """``out_dir / safe_file_name(sample_id, suffix)``; :class:`UnsafeNameError` naming both ids
        when another id has that name (the same id may claim it again)."""
        name = safe_file_name(sample_id, self.suffix if suffix is None else suffix)
        other = self._owner.setdefault(name.casefold(), sample_id)
        if other != sample_id:
            raise UnsafeNameError(f"ids {other!r} and {sample_id!r} would both be written to {self.out_dir / name}")
        return self.out_dir / name


def output_paths_for_ids(out_dir: str | Path, ids: Iterable[str], suffix: str) -> dict[str, Path]:
    """``{id: out_dir / safe_file_name(id, suffix)}`` for every id, checked before anything is
    written: two ids that would share a file raise :class:`UnsafeNameError` naming both."""
    names = FileNames(out_dir, suffix)
    return {sample_id: names.claim(sample_id) for sample_id in ids}


def is_really_inside(root: str | Path, path: str | Path) -> bool:
    """Whether the real path of ``path`` (every link followed) is inside the real path of ``root``."""
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(root))


def resolve_inside(root: str | Path, relative: str | Path, allow_outside_root: bool = False) -> Path:
    """``root / relative`` as an absolute path (links not followed, so it names what was written).

    Raises :class:`ValueError` when its real path (links followed) is outside the real path of
    ``root``, unless ``allow_outside_root``.
    """
    root = Path(os.path.abspath(root))
    resolved = Path(os.path.abspath(root / relative))
    if allow_outside_root:
        return resolved
    if not is_really_inside(root, resolved):
        real = os.path.realpath(resolved)
        via = f" (through a link to {real})" if resolved.is_relative_to(root) else ""
        raise ValueError(
            f"path {str(relative)!r} resolves to {resolved}{via}, outside the dataset root {root} "
            "(pass allow_outside_root=True / --allow-outside-root to permit this)"
        )
    return resolved


def link_or_copy(src: str | Path, dest: str | Path) -> None:
    """Hard-link ``src`` as ``dest``, or copy it where a link cannot be made (another file system).

    A hard link, not a symlink: the file then lives inside the folder that holds ``dest``, so
    :func:`resolve_inside` accepts it and nothing reads through a link out of a dataset.
    """
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``: a crash or a
    full disk leaves the old file or the new one, never half of one, and a symbolic link at ``path``
    is replaced by a regular file, never written through (so a link planted in an output folder
    cannot make a command overwrite a file outside it)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` as UTF-8, line ends as given, with :func:`write_bytes_atomic`."""
    write_bytes_atomic(path, text.encode("utf-8"))
