"""The landing folder's bookkeeping: admit once, move on only after commit, quarantine why."""

import datetime as dt
import json
import os
import time
from zoneinfo import ZoneInfo

import pyarrow.parquet as pq
import pytest

from energy_assets.assets.landing import HousesFileError, _houses_file, registry_of
from energy_assets.landing.formats import Where
from energy_assets.landing.ledger import Ledger, day_ranges, take_in
from energy_assets_tests.landing.files import long_file

TZ = ZoneInfo("America/Santiago")
WHERE = Where("America/Santiago", 15, dt.date(2024, 1, 1), dt.date(2025, 12, 31))


class Commits:
    """The days' commits as the Dagster instance would report them: day -> run start time."""

    def __init__(self):
        self.started: dict[str, float] = {}

    def commit(self, days):
        for day in days:
            self.started[day] = time.time()

    def __call__(self, days):
        return {d: self.started[d] for d in days if d in self.started}


@pytest.fixture
def ledger(tmp_path):
    (tmp_path / "in").mkdir()
    return Ledger(tmp_path / "in", tmp_path / "data" / "landing")


def _day(path, day: dt.date, houses=("A", "B")) -> int:
    return long_file(path, list(houses), dt.datetime.combine(day, dt.time(), tzinfo=TZ), 96)


def test_a_file_moves_to_processed_only_after_its_days_committed(ledger):
    commits = Commits()
    rows = _day(ledger.inbox / "d1.csv", dt.date(2024, 3, 4))
    rows += long_file(ledger.inbox / "d23.csv", ["A"], dt.datetime(2024, 3, 5, tzinfo=TZ), 2 * 96)
    first = take_in(ledger, WHERE, commits)
    assert [e.name for e in first.admitted] == ["d1.csv", "d23.csv"]
    assert first.ranges == [("2024-03-04", "2024-03-06")]
    assert sum(sum(e.rows_by_day.values()) for e in first.admitted) == rows
    # Nothing committed yet: the files stay, nothing is admitted twice, the days are asked again.
    again = take_in(ledger, WHERE, commits)
    assert not again.admitted and again.ranges == first.ranges
    assert sorted(p.name for p in ledger.waiting()) == ["d1.csv", "d23.csv"]
    # Two of three days committed: d1 moves on, d23 waits for its last day.
    commits.commit(["2024-03-04", "2024-03-05"])
    partly = take_in(ledger, WHERE, commits)
    assert partly.settled == ["d1.csv"] and partly.ranges == [("2024-03-06", "2024-03-06")]
    commits.commit(["2024-03-06"])
    done = take_in(ledger, WHERE, commits)
    assert done.settled == ["d23.csv"] and not done.ranges
    assert sorted(p.name for p in ledger.processed.iterdir()) == ["d1.csv", "d23.csv"]
    assert ledger.waiting() == []


def test_a_commit_that_started_before_admission_does_not_count(ledger):
    commits = Commits()
    commits.commit(["2024-03-04"])  # a run that read the ledger before the file came
    time.sleep(0.01)
    _day(ledger.inbox / "late.csv", dt.date(2024, 3, 4))
    intake = take_in(ledger, WHERE, commits)
    assert intake.ranges == [("2024-03-04", "2024-03-04")] and not intake.settled
    assert take_in(ledger, WHERE, commits).settled == []


def test_a_late_file_reopens_its_past_day_and_the_day_has_every_file(ledger):
    commits = Commits()
    _day(ledger.inbox / "day.csv", dt.date(2024, 3, 4), houses=("A",))
    _day(ledger.inbox / "next.csv", dt.date(2024, 3, 5), houses=("A",))
    commits.commit(take_in(ledger, WHERE, commits).admitted[0].days + ["2024-03-05"])
    take_in(ledger, WHERE, commits)
    _day(ledger.inbox / "late.csv", dt.date(2024, 3, 4), houses=("B",))
    late = take_in(ledger, WHERE, commits)
    assert late.ranges == [("2024-03-04", "2024-03-04")]
    staged = ledger.root.parent / "staged"
    ledger.stage_days([dt.date(2024, 3, 4), dt.date(2024, 3, 6)], ledger.entries(), staged)
    readings = pq.read_table(staged / "day=2024-03-04")
    assert not (staged / "day=2024-03-06").exists()  # no file: the store writes it empty
    assert sorted(set(readings["house_id"].to_pylist())) == ["A", "B"]
    assert readings.num_rows == 2 * 96


def test_a_redelivered_file_changes_nothing(ledger):
    commits = Commits()
    _day(ledger.inbox / "d.csv", dt.date(2024, 3, 4))
    commits.commit(take_in(ledger, WHERE, commits).ranges and ["2024-03-04"])
    assert take_in(ledger, WHERE, commits).settled == ["d.csv"]
    (ledger.inbox / "d-again.csv").write_bytes((ledger.processed / "d.csv").read_bytes())
    (ledger.inbox / "d.csv").write_bytes((ledger.processed / "d.csv").read_bytes())
    repeat = take_in(ledger, WHERE, commits)
    assert sorted(repeat.repeats) == ["d-again.csv", "d.csv"]
    assert not repeat.admitted and not repeat.ranges
    assert len(ledger.entries()) == 1
    assert sorted(p.name for p in ledger.processed.iterdir()) == ["d-again.csv", "d.1.csv", "d.csv"]


def test_a_file_of_garbage_goes_to_quarantine_with_its_reason(ledger):
    (ledger.inbox / "garbage.csv").write_bytes(os.urandom(300))
    (ledger.inbox / "words.txt").write_text("hello\nworld\n")
    (ledger.inbox / ".still-writing.csv").write_text("meter_id,")
    (ledger.inbox / "half.csv.part").write_text("meter_id,")
    intake = take_in(ledger, WHERE, Commits())
    assert sorted(intake.refused) == ["garbage.csv", "words.txt"]
    sidecar = json.loads((ledger.quarantine / "words.txt.reason.json").read_text())
    assert "none of the known formats" in sidecar["reason"] and len(sidecar["sha256"]) == 64
    assert (ledger.quarantine / "garbage.csv").exists()
    assert sorted(p.name for p in ledger.waiting()) == []  # the hidden and partial files wait
    assert (ledger.inbox / "half.csv.part").exists() and not intake.ranges


def test_an_admission_cut_before_its_stamp_is_stamped_at_the_next_look(ledger):
    commits = Commits()
    _day(ledger.inbox / "d.csv", dt.date(2024, 3, 4))
    entry = take_in(ledger, WHERE, commits).admitted[0]
    entry_file = ledger.root / "entries" / f"{entry.sha256}.json"
    record = json.loads(entry_file.read_text()) | {"admitted_at": None}
    entry_file.write_text(json.dumps(record))
    commits.commit(["2024-03-04"])  # before the stamp: does not count
    intake = take_in(ledger, WHERE, commits)
    assert not intake.settled and ledger.entries()[entry.sha256].admitted_at is not None


def test_day_ranges_are_stretches_of_consecutive_days():
    days = ["2024-03-06", "2024-03-04", "2024-03-05", "2024-03-09", "2024-02-29", "2024-03-01"]
    assert day_ranges(days) == [
        ("2024-02-29", "2024-03-01"),
        ("2024-03-04", "2024-03-06"),
        ("2024-03-09", "2024-03-09"),
    ]


def test_the_registry_from_a_houses_file_and_the_meters_seen(tmp_path):
    path = tmp_path / "houses.csv"
    path.write_text("house_id,profile,occupants\nA,low,2\nB,,\n")
    registry = registry_of(_houses_file(path), ["A", "C"]).to_pylist()
    assert [(h["house_id"], h["profile"], h["occupants"]) for h in registry] == [
        ("A", "low", 2),
        ("B", None, None),
        ("C", None, None),
    ]
    path.write_text("house_id,profile\nA,huge\n")
    with pytest.raises(HousesFileError, match="names profiles \\['huge'\\]"):
        _houses_file(path)
