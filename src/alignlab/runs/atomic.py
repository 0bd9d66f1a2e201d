"""Crash-safe writes: every file lands whole or not at all (temp file in the same folder + rename)."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        full = disk_full_error(exc, path.parent) if isinstance(exc, Exception) else None
        if full is not None:
            raise full from exc
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: object) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def atomic_save(path: str | Path, writer: Callable[[str], None]) -> None:
    """Run `writer(tmp_path)` (e.g. safetensors' save_file) then rename the result onto `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        writer(str(tmp))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class DiskFull(OSError):
    """A write failed because the disk (or quota) is full; the message names the folder and the free space."""


def disk_full_error(exc: BaseException, folder: str | Path) -> DiskFull | None:
    """`exc` seen as a full disk: an ENOSPC / EDQUOT error, or any write error (torch's `inline_container` ones
    say only "file write failed") while the folder's disk has under 1 MiB free. None otherwise."""
    import errno

    folder = Path(folder)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = None
    said = getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or "No space left" in str(exc)
    if said or (free is not None and free < 1 << 20):
        return DiskFull(errno.ENOSPC, f"no space left on the disk of {folder}; the write was undone (nothing "
                        "half-written is left): free some space, then resume the run")
    return None


@contextmanager
def atomic_dir(path: str | Path):
    """Yield a staging folder; on success it replaces `path` whole, on error it is removed (a full disk is
    reported as `DiskFull`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        yield staging
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(staging, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, path)
    except BaseException as exc:
        full = disk_full_error(exc, path.parent) if isinstance(exc, Exception) else None  # before the cleanup frees
        shutil.rmtree(staging, ignore_errors=True)
        if full is not None:
            raise full from exc
        raise


CHECKSUMS = "checksums.json"
"""The file of a verified folder (a checkpoint, a final model) that records every other file's size and SHA-256."""


def _sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_checksums(folder: str | Path, claims: dict | None = None) -> None:
    """Record the size and SHA-256 of every file under `folder` (and what it claims to be, e.g. its step) in
    `folder/checksums.json`, written last."""
    folder = Path(folder)
    files = {str(p.relative_to(folder)): [p.stat().st_size, _sha256(p)]
             for p in sorted(folder.rglob("*")) if p.is_file() and p.name != CHECKSUMS}
    atomic_write_json(folder / CHECKSUMS, {"format": 1, "claims": claims or {}, "files": files})


def verify_checksums(folder: str | Path) -> list[str] | None:
    """Problems found in `folder` against its checksums.json (empty: intact); None when it has no record."""
    folder = Path(folder)
    record_file = folder / CHECKSUMS
    if not record_file.exists():
        return None
    try:
        files = json.loads(record_file.read_text())["files"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return [f"{CHECKSUMS} is unreadable"]
    problems = []
    for name, (size, digest) in files.items():
        p = folder / name
        if not p.is_file():
            problems.append(f"{name} is missing")
        elif p.stat().st_size != size:
            problems.append(f"{name} has {p.stat().st_size} bytes, {size} were written")
        elif _sha256(p) != digest:
            problems.append(f"{name} does not match its checksum")
    return problems


def append_line(path: str | Path, line: str, sync: bool = True) -> None:
    """Append one line with a single O_APPEND write, so a killed process never leaves half a record; with `sync`,
    also fsync it (durable across a machine crash too; 4-18 ms per call on a busy disk)."""
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def sync_file(path: str | Path) -> None:
    """fsync a file that exists (what `append_line(sync=False)` wrote since the last sync reaches the disk)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def file_lock(path: str | Path):
    """Hold an exclusive lock on `path` (created if needed): one builder of a cached folder at a time, across
    processes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


_HELD: dict[Path, int] = {}
"""Folder locks this process holds: resolved folder → the open lock file's descriptor."""


class FolderBusy(RuntimeError):
    """Another process holds the folder's lock (a run or a sweep is already running there)."""


def hold_folder(folder: str | Path, what: str = "run") -> None:
    """Take the exclusive lock of `folder` (its `.lock` file) until `release_folder` or the process ends; one
    process at a time may write a run or sweep folder. Taking it again in the same process is a no-op."""
    folder = Path(folder).resolve()
    if folder in _HELD:
        return
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = os.pread(fd, 64, 0).decode("utf-8", "replace").strip() or "?"
        os.close(fd)
        raise FolderBusy(f"{what} folder {folder} is in use by another alignlab process (pid {owner}); wait for it "
                         "to end, or use another folder") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _HELD[folder] = fd


def release_folder(folder: str | Path) -> None:
    fd = _HELD.pop(Path(folder).resolve(), None)
    if fd is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@contextmanager
def folder_held(folder: str | Path, what: str = "run"):
    """`hold_folder` for the block's duration (released after, unless the process held it before)."""
    already = Path(folder).resolve() in _HELD
    hold_folder(folder, what)
    try:
        yield
    finally:
        if not already:
            release_folder(folder)
