"""Parquet folders that readers see whole and writers replace one at a time.

A published folder (a day ``<asset>/day=YYYY-MM-DD``, or an unpartitioned asset) is a symbolic
link to one *version* under ``.versions/``; replacing it is one ``os.replace`` of the link, so a
reader that resolved the link reads the old version or the new one, never nothing and never a
mix. A version carries ``_manifest.json``: the files the IO manager wrote and their rows; a
reader takes exactly those and refuses a folder with a stray or missing file, or no manifest.

Writers of one folder take turns on an inter-process lock (``.locks/``), and every staging
folder is owned by a lock its writer holds while it lives: the next write sweeps the staging
folders of writers that died, and the versions readers can no longer be reading.
Plain Python: no Dagster, no Spark.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq

VERSIONS = ".versions"
LOCKS = ".locks"
MANIFEST = "_manifest.json"
#: An old version stays this long after it was replaced, for readers that resolved it before.
OLD_VERSION_GRACE_S = 3600.0


class FolderError(RuntimeError):
    """A published folder is not what its writer left; the message names it and says why."""


class FileLock:
    """An exclusive ``flock`` on a file: between processes, and between threads of one."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)

    def acquire(self, blocking: bool = True) -> bool:
        """Take the lock; without ``blocking``, say whether it was free."""
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            return True
        except BlockingIOError:
            return False

    def close(self) -> None:
        """Release the lock."""
        os.close(self._fd)

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_private(path: Path, text: str) -> None:
    """Write ``path`` whole and readable by its owner alone: a new file renamed over the old,
    so a reader never sees it half written and an old file's wider mode is not kept."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(partial, path)


@contextlib.contextmanager
def staging_folder(parent: Path, prefix: str = ".staging-") -> Iterator[Path]:
    """A fresh folder under ``parent`` owned by this writer until the block ends, then removed."""
    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    lock = FileLock(parent / f"{name}.lock")
    lock.acquire()
    path = parent / name
    path.mkdir()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        (parent / f"{name}.lock").unlink(missing_ok=True)
        lock.close()


def sweep_staging(parent: Path, prefix: str = ".staging-") -> list[Path]:
    """Remove the staging folders under ``parent`` whose writer is gone (their lock is free)."""
    swept = []
    if not parent.is_dir():
        return swept
    for path in sorted(parent.glob(f"{prefix}*")):
        if path.name.endswith(".lock"):
            if not path.with_suffix("").exists():
                _remove_if_free(path, path)
            continue
        if _remove_if_free(parent / f"{path.name}.lock", path):
            swept.append(path)
    return swept


def _remove_if_free(lock_path: Path, target: Path) -> bool:
    lock = FileLock(lock_path)
    try:
        if not lock.acquire(blocking=False):
            return False  # a live writer owns it
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        lock_path.unlink(missing_ok=True)
        return True
    finally:
        lock.close()


def write_manifest(folder: Path) -> None:
    """Record the Parquet files of ``folder`` and their rows."""
    files = {p.name: pq.read_metadata(p).num_rows for p in sorted(folder.glob("*.parquet"))}
    (folder / MANIFEST).write_text(json.dumps({"files": files}))


def publish(staged: Path, link: Path) -> Path:
    """Make the folder ``staged`` the content of ``link`` in one atomic step; return its version.

    Writers of ``link`` take turns; the replaced version is kept for readers for a grace period,
    and older ones are removed.
    """
    versions = link.parent / VERSIONS / link.name
    versions.mkdir(parents=True, exist_ok=True)
    if not (staged / MANIFEST).exists():
        write_manifest(staged)
    with FileLock(link.parent / LOCKS / f"{link.name}.lock"):
        version = versions / f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
        os.rename(staged, version)
        pointer = link.parent / f".link-{uuid.uuid4().hex[:8]}"
        os.symlink(os.path.relpath(version, link.parent), pointer)
        if link.is_dir() and not link.is_symlink():
            # A folder written by an earlier version of this module: kept as a version.
            os.rename(link, versions / f"{0:020d}-legacy-{uuid.uuid4().hex[:8]}")
        os.replace(pointer, link)
        _prune(versions, version)
    return version


def _prune(versions: Path, current: Path) -> None:
    """Remove versions no reader can need: all but the current, the one before it, and any
    replaced less than the grace period ago (a writer that died before linking its version
    left one older than the next current: it goes the same way)."""
    older = sorted(v for v in versions.iterdir() if v.name < current.name and v.is_dir())
    now = time.time()
    for version in older[:-1]:
        if now - version.stat().st_mtime > OLD_VERSION_GRACE_S:
            shutil.rmtree(version, ignore_errors=True)


def resolve(link: Path) -> Path:
    """The version a published folder points at now (read it, not the link, to stay on it)."""
    return Path(os.path.realpath(link))


def _published(link: Path) -> tuple[Path, dict[str, int]]:
    """The version a published folder points at now and its manifest, checked against it.

    Refuses a folder without a manifest (empty, or not written by the IO manager) and one with a
    file its writer did not write or without one it did, naming the file.
    """
    folder = resolve(link)
    manifest = folder / MANIFEST
    if not manifest.exists():
        raise FolderError(
            f"{link} was not written by the Parquet IO manager (no {MANIFEST}): "
            "materialize it again rather than filling it by hand."
        )
    listed: dict[str, int] = json.loads(manifest.read_text())["files"]
    present = {p.name for p in folder.glob("*.parquet")}
    stray, missing = sorted(present - set(listed)), sorted(set(listed) - present)
    if stray:
        raise FolderError(
            f"{link} holds {stray[0]}, which its writer did not write ({folder}); "
            "materialize it again."
        )
    if missing:
        raise FolderError(
            f"{link} lacks {missing[0]}, which its writer wrote ({folder}); materialize it again."
        )
    return folder, listed


def published_files(link: Path) -> list[Path]:
    """The files a published folder holds, as its manifest lists them, in the current version."""
    folder, listed = _published(link)
    return [folder / name for name in sorted(listed)]


def published_rows(link: Path) -> int:
    """Rows of a published folder, from its manifest."""
    return sum(_published(link)[1].values())
