"""Reading head-end exports: each format with the quirks users know, and files refused whole."""

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from energy_assets.landing.formats import UCI_METER_ID, UnreadableFile, Where, read_delivery
from energy_assets_tests.landing.files import lcl_day, lcl_file, long_file, uci_file

LONDON = Where("Europe/London", 30, dt.date(2024, 1, 1), dt.date(2025, 12, 31))
DELIVERED = dt.datetime(2025, 1, 2, 3, 4, 5)


def _utc(delivery) -> list[dt.datetime]:
    return delivery.readings["simulated_timestamp"].to_pylist()


def test_long_format_with_offsets_bom_and_crlf(tmp_path):
    path = tmp_path / "export.csv"
    tz = ZoneInfo("America/Santiago")
    rows = long_file(
        path, ["A", "B"], dt.datetime(2024, 3, 4, tzinfo=tz), 8, newline="\r\n", bom=True
    )
    where = Where("America/Santiago", 15, dt.date(2024, 1, 1), dt.date(2025, 12, 31))
    d = read_delivery(path, where, DELIVERED)
    assert d.format == "long" and d.rows == rows == 16 and d.interval_minutes == 15
    # 00:00 at UTC-3 is 03:00 UTC; the day is the local one.
    assert _utc(d)[0] == dt.datetime(2024, 3, 4, 3, 0)
    assert d.rows_by_day() == {"2024-03-04": 16}
    assert set(d.readings["ingested_at"].to_pylist()) == {DELIVERED}
    assert d.readings["voltage"].null_count == 0


def test_long_format_in_utc_or_without_temperature(tmp_path):
    path = tmp_path / "utc.csv"
    path.write_text(
        "meter_id , interval_start,energy_kwh\n"
        "A,2024-06-01T00:00:00Z, 0.25 \n"
        "A,2024-06-01T00:15:00+00:00,error\n"
        "A,2024-06-01 00:30:00,\n"
    )
    d = read_delivery(path, Where("UTC", 15, dt.date(2024, 1, 1), dt.date(2025, 1, 1)), DELIVERED)
    assert _utc(d) == [dt.datetime(2024, 6, 1, 0, m) for m in (0, 15, 30)]
    # Values stay as delivered: the cleaning trims, parses and rejects, with reasons.
    assert d.readings["consumption_kwh"].to_pylist() == [" 0.25 ", "error", ""]
    assert d.readings["temperature"].null_count == 3


@pytest.mark.parametrize(("day", "rows"), [(dt.date(2024, 10, 27), 50), (dt.date(2024, 3, 31), 46)])
def test_london_lcl_across_the_clock_changes(tmp_path, day, rows):
    path = tmp_path / "block_0.csv"
    lcl_file(path, lcl_day("MAC000002", day, "Europe/London"))
    d = read_delivery(path, LONDON, DELIVERED)
    assert d.format == "london_lcl" and d.rows == rows
    times = np.array(_utc(d), dtype="datetime64[m]")
    # A repeated wall-clock hour becomes two hours of instants; a skipped one is no gap.
    assert (np.diff(times) == np.timedelta64(30, "m")).all()
    assert d.rows_by_day() == {str(day): rows}
    values = d.readings["consumption_kwh"].to_pylist()
    assert "Null" in values and values[0].endswith(" ")


def test_london_lcl_repeated_hour_written_out_of_order(tmp_path):
    path = tmp_path / "sorted.csv"
    # Sorted by wall time, the repeated hour's two readings lie side by side.
    lcl_file(
        path,
        [
            ("M", "2024-10-27 00:30:00", "0.1"),
            ("M", "2024-10-27 01:00:00", "0.2"),
            ("M", "2024-10-27 01:00:00", "0.3"),
            ("M", "2024-10-27 01:30:00", "0.4"),
            ("M", "2024-10-27 01:30:00", "0.5"),
        ],
    )
    d = read_delivery(path, LONDON, DELIVERED)
    by_time = dict(zip(_utc(d), d.readings["consumption_kwh"].to_pylist(), strict=True))
    assert by_time[dt.datetime(2024, 10, 27, 0, 0)] == "0.2"  # 01:00 BST
    assert by_time[dt.datetime(2024, 10, 27, 1, 0)] == "0.3"  # 01:00 GMT


def test_a_skipped_wall_time_refuses_the_file(tmp_path):
    path = tmp_path / "skipped.csv"
    lcl_file(path, [("M", "2024-03-31 00:30:00", "0.1"), ("M", "2024-03-31 01:30:00", "0.1")])
    with pytest.raises(UnreadableFile, match="does not exist in Europe/London"):
        read_delivery(path, LONDON, DELIVERED)


def test_uci_household_minutes(tmp_path):
    path = tmp_path / "household_power_consumption.txt"
    uci_file(path, dt.datetime(2024, 12, 16, 17, 24), 120)
    where = Where("Europe/Madrid", 1, dt.date(2024, 1, 1), dt.date(2025, 12, 31))
    d = read_delivery(path, where, DELIVERED)
    assert d.format == "uci_household" and d.rows == 120 and d.interval_minutes == 1
    assert set(d.readings["house_id"].to_pylist()) == {UCI_METER_ID}
    assert _utc(d)[0] == dt.datetime(2024, 12, 16, 16, 24)  # CET = UTC+1
    kwh = d.readings["consumption_kwh"].to_pylist()
    assert float(kwh[0]) == pytest.approx(1.2 / 60, rel=1e-5)  # kW over a minute
    assert kwh[49] == "?" and d.readings["voltage"].to_pylist()[49] == "?"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\x00\x01\xff\xfe garbage", "not UTF-8"),
        (b"this is not a meter export\n1,2,3\n", "none of the known formats"),
        (b"meter_id,interval_start,energy_kwh\n", "no readings"),
        (b"meter_id,interval_start,energy_kwh\nA,yesterday,1\n", "Line 2: interval_start"),
        (b"meter_id,interval_start,energy_kwh\nA,2024-06-01T00:00Z,1,extra\n", "does not parse"),
        (b"meter_id,interval_start,energy_kwh\n,2024-06-01T00:00Z,1\n", "names no meter"),
    ],
)
def test_files_refused_whole(tmp_path, content, reason):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(UnreadableFile, match=reason):
        read_delivery(path, Where("UTC", 15, dt.date(2024, 1, 1), dt.date(2025, 1, 1)), DELIVERED)


def _long(path, times: list[str]) -> None:
    path.write_text("meter_id,interval_start,energy_kwh\n" + "".join(f"A,{t},0.1\n" for t in times))


def test_a_meter_mixing_intervals_is_refused(tmp_path):
    path = tmp_path / "mixed.csv"
    times = [f"2024-06-01T{h:02d}:{m:02d}:00Z" for h in range(4) for m in (0, 30)]
    times += ["2024-06-01T04:15:00Z", "2024-06-01T04:30:00Z"]
    _long(path, times)
    with pytest.raises(
        UnreadableFile, match="Meter A mixes intervals: readings 30 and 45 minutes apart"
    ):
        read_delivery(path, Where("UTC", 30, dt.date(2024, 1, 1), dt.date(2025, 1, 1)), DELIVERED)


def test_another_interval_than_the_pipeline_is_refused(tmp_path):
    path = tmp_path / "halfhours.csv"
    _long(path, [f"2024-06-01T00:{m:02d}:00Z" for m in (0, 30)] + ["2024-06-01T01:00:00Z"])
    with pytest.raises(UnreadableFile, match="30 minutes apart, but the pipeline runs at 15"):
        read_delivery(path, Where("UTC", 15, dt.date(2024, 1, 1), dt.date(2025, 1, 1)), DELIVERED)


def test_readings_outside_the_partitions_are_refused(tmp_path):
    path = tmp_path / "old.csv"
    _long(path, ["2012-10-12T00:30:00Z"])
    with pytest.raises(UnreadableFile, match="before the first day of the partitions"):
        read_delivery(path, Where("UTC", 15, dt.date(2024, 1, 1), dt.date(2025, 1, 1)), DELIVERED)


def test_the_uci_clock_keeps_no_summer_time(tmp_path):
    # A minute series straight through the spring change, as the UCI file is: every minute is an
    # instant one minute after the last, and the local days around the change are 23 hours.
    path = tmp_path / "spring.txt"
    uci_file(path, dt.datetime(2024, 3, 30, 0, 0), 3 * 1440)
    where = Where("Europe/Madrid", 1, dt.date(2024, 1, 1), dt.date(2025, 12, 31))
    d = read_delivery(path, where, DELIVERED)
    times = np.array(_utc(d), dtype="datetime64[m]")
    assert (np.diff(times) == np.timedelta64(1, "m")).all()
    assert times[0] == np.datetime64("2024-03-29T23:00")
    by_day = d.rows_by_day()
    # 30 March 00:00 CET is 23:00 UTC the day before: local day 30 March starts at the first row.
    assert by_day["2024-03-30"] == 1440 and by_day["2024-03-31"] == 1380
