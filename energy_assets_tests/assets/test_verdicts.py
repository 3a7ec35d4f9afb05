"""A check's verdict over a run's days, from its verdicts on each day."""

from energy_assets.assets.verdicts import Verdict, run_verdict


def not_judged(k: int) -> Verdict:
    return Verdict(
        False, f"not judged: needs 28 days of history; this day's window has {k}", judged=False
    )


def test_days_that_cannot_be_judged_neither_pass_nor_fail_the_run():
    days = {f"2024-01-0{k}": not_judged(k) for k in range(1, 4)}
    days["2024-01-04"] = Verdict(True, "macro-F1 0.93")
    days["2024-01-05"] = Verdict(False, "macro-F1 0.81 (below 0.9)")
    verdict = run_verdict(days)
    assert not verdict.passed and verdict.judged
    assert verdict.reason.startswith("not met on 1 of 2 days (2024-01-04..2024-01-05); 2024-01-05:")
    assert "3 of 5 days not judged yet" in verdict.reason
    days["2024-01-05"] = Verdict(True, "macro-F1 0.92")
    assert run_verdict(days).passed


def test_a_run_with_no_judged_day_is_not_judged_and_one_day_is_its_own_verdict():
    verdict = run_verdict({f"2024-01-0{k}": not_judged(k) for k in range(1, 4)})
    assert not verdict.judged and "needs 28 days" in verdict.reason
    only = Verdict(True, "100 rows in both", {"rows": 100})
    assert run_verdict({"2024-01-01": only}) == only


def estimate_row(day: str, label: str, full: bool, compared: int, ours: float, best: float):
    """A row of ``estimate_rows``: mean errors ``ours`` and ``best`` (linear) over ``compared``."""
    return {
        "day": day,
        "gap_length": label,
        "method": "analog",
        "full_history": full,
        "n": compared,
        "error_ours": ours * compared,
        "truth": 0.1 * compared,
        "compared": compared,
        "compared_ours": ours * compared,
        "compared_linear": best * compared,
        "compared_week_earlier": 2 * best * compared,
        "compared_profile_scaled": 3 * best * compared,
    }


def test_the_estimates_are_judged_against_the_best_simple_way_where_history_is_whole():
    from energy_assets.assets.evaluation import ESTIMATE_GAIN_FLOOR, _estimates_verdicts

    days = ["2024-02-01", "2024-02-02"]
    good = 1 - ESTIMATE_GAIN_FLOOR - 0.05
    rows = [
        estimate_row("2024-02-02", "<= 1 h", True, 150, good * 0.05, 0.05),
        estimate_row("2024-02-02", "1-3 h", True, 150, 0.6 * 0.05, 0.05),
        # Houses without their whole history do not count, however bad their estimates.
        estimate_row("2024-02-01", "<= 1 h", False, 500, 0.09, 0.05),
    ]
    verdicts = _estimates_verdicts(rows, days)
    assert not verdicts["2024-02-01"].judged  # its gaps are all in houses short of history
    assert verdicts["2024-02-02"].passed and verdicts["2024-02-02"].judged
    assert "(<= 1 h)" in verdicts["2024-02-02"].reason
    # A gap length worse than the floor fails the run's days that have such gaps.
    worse = [*rows[:1], estimate_row("2024-02-02", "1-3 h", True, 150, 0.05, 0.05)]
    assert not _estimates_verdicts(worse, days)["2024-02-02"].passed
    # Too few intervals compared in every length: nothing is judged.
    few = [estimate_row("2024-02-02", "<= 1 h", True, 20, 0.09, 0.05)]
    assert not any(v.judged for v in _estimates_verdicts(few, days).values())
