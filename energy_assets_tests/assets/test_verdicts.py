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
