"""The landing folder and the ledger of what the pipeline took from it.

A head-end drops files into the landing folder (write under a name starting with ``.`` or
ending in ``.part``, then rename: such names are not read). Each new file is *admitted* once:
read (:mod:`energy_assets.landing.formats`), its readings written to the ledger split by local
day, and an entry recording its content hash, its rows and its rows per day written last — the
entry is the commit. A file stays where it was until every day it touched has been
materialized by a run that started after its admission; only then it moves to ``processed/``.
A file that cannot be read moves to ``quarantine/`` with ``<name>.reason.json`` beside it. A
file whose content was admitted before (same SHA-256) adds nothing and moves to ``processed/``
once that content has committed.

Layout: ``<landing>/processed``, ``<landing>/quarantine``; under the lake,
``landing/entries/<sha256>.json`` and ``landing/readings/day=<day>/<sha256>.parquet``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from energy_assets.landing.formats import Delivery, UnreadableFile, Where, read_delivery

#: Names the landing source does not read: files still being written, and its own folders.
IGNORED_PREFIXES = (".", "_")
IGNORED_SUFFIXES = (".part", ".tmp", ".reason.json")


@dataclass(frozen=True)
class Entry:
    """One admitted file: what it held and when it was admitted."""

    sha256: str
    name: str
    format: str
    rows_by_day: dict[str, int]
    #: Seconds since 1970, stamped once the entry is visible: a run that started after it has
    #: read this file. None for a moment during admission (or after a crash there).
    admitted_at: float | None
    meters: list[str] = field(default_factory=list)
    settled: bool = False
    copies: list[str] = field(default_factory=list)  # where the file and its repeats went

    @property
    def rows(self) -> int:
        """Rows the file held: every one of them is a raw reading of one of its days."""
        return sum(self.rows_by_day.values())

    @property
    def days(self) -> list[str]:
        """The local days the file's readings fall in."""
        return sorted(self.rows_by_day)


def content_hash(path: Path) -> str:
    """The file's SHA-256, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def data_lines(path: Path) -> int:
    """Lines of the file that hold something, after its header: what a reader must take."""
    with path.open("rb") as f:
        return max(0, sum(1 for line in f if line.strip()) - 1)


class Ledger:
    """The landing folder (``inbox``) and the ledger under the lake (``root``)."""

    def __init__(self, inbox: Path, root: Path):
        self.inbox = inbox
        self.root = root
        self.processed = inbox / "processed"
        self.quarantine = inbox / "quarantine"
        self._entries = root / "entries"
        self._readings = root / "readings"

    # What is there

    def waiting(self) -> list[Path]:
        """Files in the landing folder that are complete and not yet moved, oldest first."""
        if not self.inbox.is_dir():
            raise FileNotFoundError(f"The landing folder {self.inbox} does not exist.")
        files = [
            p
            for p in self.inbox.iterdir()
            if p.is_file()
            and not p.name.startswith(IGNORED_PREFIXES)
            and not p.name.endswith(IGNORED_SUFFIXES)
        ]
        return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))

    def entries(self) -> dict[str, Entry]:
        """Every admitted file, by content hash."""
        if not self._entries.is_dir():
            return {}
        out = {}
        for path in self._entries.glob("*.json"):
            entry = Entry(**json.loads(path.read_text()))
            out[entry.sha256] = entry
        return out

    def files_of(self, day: str | dt.date, entries: dict[str, Entry]) -> list[Path]:
        """The ledger's files of ``entries`` for one day (each in the raw-readings contract)."""
        return [
            self._readings / f"day={day}" / f"{sha}.parquet"
            for sha, entry in sorted(entries.items())
            if str(day) in entry.rows_by_day
        ]

    def stage_days(self, days: list[dt.date], entries: dict[str, Entry], staging: Path) -> None:
        """Lay out ``staging/day=D/`` with the day's files of ``entries``: hard links to the
        ledger's immutable files (copies across file systems), so no day is held in memory."""
        for day in days:
            folder = staging / f"day={day}"
            sources = self.files_of(day, entries)
            if sources:  # a day without files is written empty by the store
                folder.mkdir(parents=True)
            for source in sources:
                target = folder / f"part-{source.stem[:16]}.parquet"
                try:
                    os.link(source, target)
                except OSError:
                    shutil.copyfile(source, target)

    # Admission

    def admit(self, path: Path, sha: str, where: Where) -> Entry:
        """Read one new file (content hash ``sha``) into the ledger; :class:`UnreadableFile`
        says why it cannot be."""
        mtime = path.stat().st_mtime
        delivered = dt.datetime.fromtimestamp(mtime, dt.UTC).replace(tzinfo=None)
        delivery = read_delivery(path, where, delivered)
        lines = data_lines(path)
        if delivery.rows != lines:
            raise UnreadableFile(
                f"It has {lines} lines of data but {delivery.rows} readings were read from it "
                "(a quoted line break, or a line the reader skipped)."
            )
        return self._record(sha, path.name, delivery)

    def _record(self, sha: str, name: str, delivery: Delivery) -> Entry:
        by_day = delivery.rows_by_day()
        # Sorted by day once, each day is a slice (not a filter of the whole file a day).
        readings = delivery.readings.sort_by("day")
        start = 0
        for day in sorted(by_day):
            folder = self._readings / f"day={day}"
            folder.mkdir(parents=True, exist_ok=True)
            rows = readings.slice(start, by_day[day]).drop_columns(["day"])
            _write_atomically(folder / f"{sha}.parquet", rows)
            start += by_day[day]
        meters = sorted(pc.unique(readings["house_id"]).to_pylist())
        entry = Entry(sha, name, delivery.format, by_day, None, meters)
        self._save(entry)  # the commit: readers see the file from here on
        return self.stamp(entry)

    def stamp(self, entry: Entry) -> Entry:
        """Record when the entry became visible (after it did), so that only runs started
        later count as having read it."""
        stamped = replace(entry, admitted_at=time.time())
        self._save(stamped)
        return stamped

    def _save(self, entry: Entry) -> None:
        self._entries.mkdir(parents=True, exist_ok=True)
        target = self._entries / f"{entry.sha256}.json"
        tmp = target.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(asdict(entry), indent=1, sort_keys=True))
        os.replace(tmp, target)

    # Moving files on

    def refuse(self, path: Path, sha: str, reason: str) -> Path:
        """Move an unreadable file (content hash ``sha``) to quarantine with a sidecar saying
        why."""
        target = _free_name(self.quarantine, path.name)
        sidecar = target.with_name(target.name + ".reason.json")
        sidecar.write_text(
            json.dumps(
                {
                    "file": path.name,
                    "reason": reason,
                    "sha256": sha,
                    "quarantined_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                },
                indent=1,
            )
        )
        os.replace(path, target)
        return target

    def settle(self, entry: Entry, files: list[Path]) -> Entry:
        """Every day of ``entry`` has committed: its files (the first and any repeat) move on."""
        moved = [str(_move(f, self.processed)) for f in files]
        settled = replace(entry, settled=True, copies=entry.copies + moved)
        self._save(settled)
        return settled

    def set_aside(self, path: Path, entry: Entry) -> Entry:
        """A repeat of content that has already committed: it changes nothing, and moves on."""
        target = _move(path, self.processed)
        noted = replace(entry, copies=[*entry.copies, str(target)])
        self._save(noted)
        return noted


def _write_atomically(path: Path, table: pa.Table) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def _free_name(folder: Path, name: str) -> Path:
    """``folder/name``, or ``name`` with a counter before its suffix if that is taken."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    n = 1
    while target.exists():
        stem, dot, suffix = name.partition(".")
        target = folder / f"{stem}.{n}{dot}{suffix}"
        n += 1
    return target


def _move(path: Path, folder: Path) -> Path:
    target = _free_name(folder, path.name)
    os.replace(path, target)
    return target


@dataclass
class Intake:
    """What one look at the landing folder did, and the day ranges it asks to rebuild."""

    admitted: list[Entry] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # file name -> reason
    settled: list[str] = field(default_factory=list)  # files moved to processed/
    repeats: list[str] = field(default_factory=list)  # repeats of committed content, set aside
    ranges: list[tuple[str, str]] = field(default_factory=list)  # days to rebuild, inclusive
    unsettled: list[str] = field(default_factory=list)  # content hashes waiting for their days
    entries: dict[str, Entry] = field(default_factory=dict)  # every admitted file, after the look

    def summary(self) -> str:
        """One line: what happened."""
        parts = [
            f"{len(self.admitted)} file(s) admitted",
            f"{len(self.refused)} quarantined",
            f"{len(self.settled)} moved to processed",
        ]
        if self.repeats:
            parts.append(f"{len(self.repeats)} repeat(s) of committed files set aside")
        if self.ranges:
            parts.append("days to rebuild: " + ", ".join(f"{a}..{b}" for a, b in self.ranges))
        return "; ".join(parts)


def day_ranges(days: list[str]) -> list[tuple[str, str]]:
    """Consecutive days as inclusive ranges: one run a stretch, no run for days between."""
    ranges: list[tuple[str, str]] = []
    for day in sorted(set(days)):
        if ranges and dt.date.fromisoformat(day) - dt.date.fromisoformat(
            ranges[-1][1]
        ) == dt.timedelta(1):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def take_in(
    ledger: Ledger,
    where: Where,
    committed: Callable[[list[str]], dict[str, float]],
    admit_new: bool = True,
    budget_seconds: float = 20.0,
) -> Intake:
    """Settle what has committed, admit new files (unless ``admit_new`` is off: a run is on),
    and say which days to rebuild.

    ``committed(days)`` gives, per day, when the run that last wrote its raw readings started:
    a file is settled once every one of its days was written by a run started after its
    admission. Admitting stops after ``budget_seconds``; the rest waits for the next look.
    """
    intake = Intake()
    entries = ledger.entries()
    for entry in entries.values():
        if entry.admitted_at is None:  # a crash between the commit and its stamp
            entries[entry.sha256] = ledger.stamp(entry)
    files = {path: content_hash(path) for path in ledger.waiting()}
    pending = [e for e in entries.values() if not e.settled]
    started = committed(sorted({d for e in pending for d in e.days}))
    for entry in pending:
        if all(started.get(d, 0.0) > entry.admitted_at for d in entry.days):
            mine = [p for p, sha in files.items() if sha == entry.sha256]
            entries[entry.sha256] = ledger.settle(entry, mine)
            intake.settled += [p.name for p in mine]
            for p in mine:
                del files[p]
    clock = time.monotonic()
    for path, sha in files.items():
        known = entries.get(sha)
        if known is not None:
            if known.settled:
                entries[sha] = ledger.set_aside(path, known)
                intake.repeats.append(path.name)
            continue  # a repeat of content still on its way: it moves when that settles
        if not admit_new or time.monotonic() - clock > budget_seconds:
            continue
        try:
            entry = ledger.admit(path, sha, where)
        except UnreadableFile as err:
            ledger.refuse(path, sha, str(err))
            intake.refused[path.name] = str(err)
            continue
        entries[sha] = entry
        intake.admitted.append(entry)
    intake.entries = entries
    waiting = [e for e in entries.values() if not e.settled]
    intake.unsettled = sorted(e.sha256 for e in waiting)
    # Only the days not yet rebuilt since their file came (a new file's days never were).
    intake.ranges = day_ranges(
        [d for e in waiting for d in e.days if started.get(d, 0.0) <= e.admitted_at]
    )
    return intake


def registry_key(entries: dict[str, Entry], houses_file: Path | None) -> str:
    """What the registry is built from — the meters seen and the houses file's content — as
    one hash: the registry needs rebuilding only when it changes."""
    digest = hashlib.sha256()
    for meter in sorted({m for e in entries.values() for m in e.meters}):
        digest.update(meter.encode() + b"\n")
    if houses_file is not None and houses_file.is_file():
        digest.update(content_hash(houses_file).encode())
    return digest.hexdigest()[:16]
