"""Features, per-house fits, the classifier's split and the anomaly baseline, on hand-made data."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from energy_assets.analytics.anomalies import (
    BaselineParams,
    baseline_curve,
    detect_anomalies,
    score_against_truth,
)
from energy_assets.analytics.classifier import (
    ClassifierError,
    ClassifierParams,
    band_edges,
    classify_day,
    labelled,
    train_classifier,
)
from energy_assets.analytics.daily import HOURLY_COLUMNS, PERIODS
from energy_assets.analytics.features import FEATURES, household_features, registry_traits
from energy_assets.analytics.regression import fit_per_house

START = dt.date(2024, 1, 1)  # a Monday


def daily_rows(house: str, days: int, kwh, hdd=None, base=0.2, shape=None) -> pd.DataFrame:
    """Daily aggregates of one house: energy per day from ``kwh(i)``, spread over ``shape``."""
    shape = np.full(24, 1 / 24) if shape is None else np.asarray(shape) / np.sum(shape)
    rows = []
    for i in range(days):
        total = kwh(i) if callable(kwh) else kwh
        row = {
            "house_id": house,
            "day": START + dt.timedelta(days=i),
            "total_kwh": total,
            "peak_kw": total / 24 * 3,
            "base_load_kw": base(i) if callable(base) else base,
            "hdd": hdd(i) if callable(hdd) else (hdd or 0.0),
            "cdd": 0.0,
            "completeness": 1.0,
        }
        row.update({c: total * s for c, s in zip(HOURLY_COLUMNS, shape, strict=True)})
        row.update({f"{name}_kwh": total * shape[lo:hi].sum() for name, lo, hi in PERIODS})
        row["temperature_mean"] = 15.5 - row["hdd"] if row["hdd"] > 0 else 18.0
        rows.append(row)
    return pd.DataFrame(rows)


def test_features_have_the_known_answers():
    shape = np.r_[np.ones(12), 3 * np.ones(12)]
    # 10 kWh on weekdays, 12 on weekends; two weeks.
    d = daily_rows(
        "H1",
        14,
        lambda i: 12.0 if (START + dt.timedelta(days=i)).weekday() >= 5 else 10.0,
        shape=shape,
    )
    f = household_features(d).loc["H1"]
    assert list(household_features(d).columns) == list(FEATURES)
    assert f["mean_daily_kwh"] == pytest.approx((10 * 10 + 4 * 12) / 14)
    assert f["weekend_ratio"] == pytest.approx(1.2)
    assert f["shape_h00"] == pytest.approx(1 / 48, abs=1e-6)
    assert f["shape_h23"] == pytest.approx(3 / 48, abs=1e-6)
    assert sum(f[f"shape_h{h:02d}"] for h in range(24)) == pytest.approx(1.0, abs=1e-5)
    assert f["peak_ratio"] == pytest.approx(3.0)
    assert f["base_ratio"] == pytest.approx(0.2 / (f["mean_daily_kwh"] / 24))


def test_how_a_home_heats_and_cools_comes_from_the_registry_unknown_in_the_middle():
    houses = pd.DataFrame(
        {
            "house_id": ["H1", "H2", "H3"],
            "heating": ["electric", "gas", None],
            "has_ac": [True, False, None],
        }
    )
    traits = registry_traits(houses)
    assert traits.loc["H1"].tolist() == [1.0, 1.0]
    assert traits.loc["H2"].tolist() == [0.0, 0.0]
    assert traits.loc["H3"].tolist() == [0.5, 0.5]
    d = pd.concat([daily_rows(h, 7, 10.0) for h in ("H1", "H2", "H3", "H4")])
    f = household_features(d, traits)
    assert f.loc["H1", "electric_heating"] == 1.0 and f.loc["H2", "air_conditioning"] == 0.0
    assert f.loc["H4", ["electric_heating", "air_conditioning"]].tolist() == [0.5, 0.5]
    assert (household_features(d)["electric_heating"] == 0.5).all()


def test_temperature_sensitivity_is_the_slope_on_degree_days():
    hdd = lambda i: float(i % 7)  # noqa: E731
    d = daily_rows("H1", 21, lambda i: 5.0 + 0.8 * hdd(i), hdd=hdd)
    f = household_features(d).loc["H1"]
    assert f["heating_kwh_per_dd"] == pytest.approx(0.8, rel=1e-3)
    assert f["baseline_daily_kwh"] == pytest.approx(5.0, rel=1e-3)
    assert f["heating_sensitivity"] == pytest.approx(0.8 / f["mean_daily_kwh"], rel=1e-3)


def test_typical_days_leave_out_a_vacancy_and_a_failing_appliance():
    # 28 days: 10 kWh, except a vacant week (0.5 kWh) and two days of a failing heater (25 kWh).
    kwh = lambda i: 0.5 if 3 <= i < 10 else 25.0 if i in (20, 21) else 10.0  # noqa: E731
    f = household_features(daily_rows("H1", 28, kwh)).loc["H1"]
    assert f["mean_daily_kwh"] == pytest.approx((19 * 10 + 7 * 0.5 + 2 * 25) / 28)
    assert np.exp(f["log_typical_daily_kwh"]) == pytest.approx(10.0)
    assert f["low_day_share"] == pytest.approx(7 / 28)
    assert f["high_day_share"] == pytest.approx(2 / 28)


def test_a_day_of_an_appliance_left_on_moves_only_the_windows_mean_and_its_high_share():
    # 28 days of 8-12 kWh with heating; day 20 a 2.5 kW heater left on for 16 hours (+40 kWh),
    # on a base load of 2.7 kW. The level, shape and weather features are those of the other
    # 27 days: they describe the house's usual use, which its profile is a band of.
    hdd = lambda i: float(i % 5)  # noqa: E731
    usual = lambda i: 8.0 + hdd(i)  # noqa: E731
    left_on = lambda i: usual(i) + (40.0 if i == 20 else 0.0)  # noqa: E731
    base = lambda i: 2.7 if i == 20 else 0.2  # noqa: E731
    with_it = daily_rows("H1", 28, left_on, hdd=hdd, base=base)
    without = with_it[with_it["day"] != START + dt.timedelta(days=20)]
    f = household_features(with_it).loc["H1"]
    g = household_features(without).loc["H1"]
    assert f["mean_daily_kwh"] == pytest.approx(with_it["total_kwh"].mean())
    assert f["high_day_share"] == pytest.approx(1 / 28)
    window_wide = {"mean_daily_kwh", "log_mean_daily_kwh", "low_day_share", "high_day_share"}
    usual_features = [c for c in FEATURES if c not in window_wide]
    pd.testing.assert_series_equal(f[usual_features], g[usual_features], rtol=1e-9)


def test_robust_fit_ignores_a_vacant_week_and_plain_fit_does_not():
    hdd = lambda i: float(i % 5)  # noqa: E731
    kwh = lambda i: 0.5 if 10 <= i < 17 else 8.0 + 0.5 * hdd(i)  # noqa: E731
    d = daily_rows("H1", 28, kwh, hdd=hdd)
    robust = fit_per_house(d, ["total_kwh"], ["hdd"], robust_iterations=6)["total_kwh"]
    plain = fit_per_house(d, ["total_kwh"], ["hdd"])["total_kwh"]
    assert robust.coef[0] == pytest.approx([8.0, 0.5], abs=1e-4)
    assert plain.coef[0][0] < 7.0
    assert robust.n[0] == 28


def two_houses(n_days: int) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 0.3, (2, n_days))
    return pd.concat(
        [
            daily_rows("H1", n_days, lambda i: 10.0 + noise[0, i], base=0.3),
            daily_rows("H2", n_days, lambda i: 6.0 + noise[1, i], base=0.2),
        ]
    )


def set_day(d: pd.DataFrame, house: str, day: dt.date, total: float, base: float, peak: float):
    """Replace one house-day's energy, base and peak, spread evenly over its hours."""
    at = (d.house_id == house) & (d.day == day)
    d.loc[at, ["total_kwh", "base_load_kw", "peak_kw"]] = (total, base, peak)
    d.loc[at, list(HOURLY_COLUMNS)] = total / 24


def test_a_vacant_day_and_a_failing_appliance_are_anomalies_and_a_normal_day_is_not():
    d = two_houses(40)
    day = START + dt.timedelta(days=35)
    set_day(d, "H1", day, 3.0, 0.1, 0.15)  # nobody home: the base and the fridge
    set_day(d, "H2", day, 15.0, 0.6, 1.9)  # a compressor that never stops
    out = detect_anomalies(d, [day, day + dt.timedelta(days=1)]).set_index(["house_id", "day"])
    assert bool(out.loc[("H1", day), "is_anomaly"]) and bool(out.loc[("H2", day), "is_anomaly"])
    assert out.loc[("H1", day), "score"] < 0 < out.loc[("H2", day), "score"]
    assert "no activity" in out.loc[("H1", day), "reason"]
    assert out.loc[("H2", day), "reason"].startswith("base load up: +0.40 kW")
    assert out.loc[("H1", day), "expected_kwh"] == pytest.approx(10.0, abs=0.3)
    nxt = day + dt.timedelta(days=1)
    assert not bool(out.loc[("H1", nxt), "is_anomaly"]) and not bool(
        out.loc[("H2", nxt), "is_anomaly"]
    )
    curve = baseline_curve(d, "H1", day)
    assert len(curve) == 36 and curve["expected_kwh"].notna().all()


def noisy_house(days: int) -> pd.DataFrame:
    """A small home whose days vary a lot: 6 kWh ± 30 %, a night base of 0.12 ± 0.04 kW."""
    rng = np.random.default_rng(11)
    total = 6.0 * np.exp(rng.normal(0, 0.3, days))
    base = np.maximum(0.02, rng.normal(0.12, 0.04, days))
    return daily_rows("H1", days, lambda i: total[i], base=lambda i: base[i])


def bypassed(d: pd.DataFrame, days: list[dt.date], factor: float) -> pd.DataFrame:
    """The meter sees ``factor`` of everything on ``days``."""
    at = d["day"].isin(days)
    cols = ["total_kwh", "base_load_kw", "peak_kw", *HOURLY_COLUMNS]
    d.loc[at, cols] = d.loc[at, cols] * factor
    return d


def test_a_bypass_held_for_days_is_found_where_one_low_day_is_not():
    # A home too noisy for one day at 45 % to stand out: its base load's spread is a third of
    # its level, so the bypassed base is ~1.7 spreads down, not 3.
    days = [START + dt.timedelta(days=i) for i in range(32, 40)]
    d = bypassed(noisy_house(40), days, 0.45)
    out = detect_anomalies(d, days).set_index("day")
    reasons = out["reason"]
    assert not out.loc[days[:2], "is_anomaly"].astype(bool).any()  # no run of five days yet
    held = reasons[reasons.str.contains("down for 5 days")]
    assert len(held) >= 3 and out.loc[held.index, "is_anomaly"].astype(bool).all()
    assert held.index.min() >= days[4]  # only once five days are down
    # One such day alone, anywhere: no finding on a run that is not there.
    alone = bypassed(noisy_house(40), [days[-1]], 0.45)
    row = detect_anomalies(alone, [days[-1]]).iloc[0]
    assert "down for 5 days" not in row["reason"]
    # The day after the bypass ends is judged on its own again.
    d = bypassed(noisy_house(41), days, 0.45)
    row = detect_anomalies(d, [START + dt.timedelta(days=40)]).iloc[0]
    assert not bool(row["is_anomaly"])


def test_a_warm_spell_is_not_held_down_where_the_window_has_days_as_warm():
    # A home that heats on cool nights (its days' means 19 °C: no heating degree-days): 8 kWh
    # and a 0.3 kW base, against 4.4 kWh and 0.12 kW on the window's few 26 °C days; less use on
    # hot days is no cooling term either. Five hot days in a row are as low as those days were,
    # not a bypass; the same five days bypassed are.
    def house(bypass: float) -> pd.DataFrame:
        rng = np.random.default_rng(2)
        warm = np.array([i % 6 == 0 or i >= 35 for i in range(40)])
        total = np.where(warm, 4.4, 8.0) * np.exp(rng.normal(0, 0.15, 40))
        base = np.maximum(0.02, np.where(warm, 0.12, 0.3) + rng.normal(0, 0.08, 40))
        d = daily_rows("H1", 40, lambda i: total[i], base=lambda i: base[i])
        d["temperature_mean"] = np.where(warm, 26.0, 19.0)
        return bypassed(d, list(d["day"].iloc[35:]), bypass)

    day = START + dt.timedelta(days=39)
    normal = detect_anomalies(house(1.0), [day]).iloc[0]
    assert normal["model"] == "intercept" and normal["actual_kwh"] < 0.7 * normal["expected_kwh"]
    assert normal["reason"] == "within the baseline"
    # Against the model alone (every earlier day taken as matched) the same run is held down.
    unmatched = BaselineParams(held_matched_c=99.0)
    assert "down for 5 days" in detect_anomalies(house(1.0), [day], unmatched).iloc[0]["reason"]
    row = detect_anomalies(house(0.4), [day]).iloc[0]
    assert bool(row["is_anomaly"]) and "down for 5 days" in row["reason"]


def test_no_verdict_before_the_warm_up():
    d = two_houses(40)
    out = detect_anomalies(d, [START + dt.timedelta(days=10), START + dt.timedelta(days=30)])
    early, late = out[out.history_days == 10], out[out.history_days == 30]
    assert early["is_anomaly"].isna().all() and early["expected_kwh"].notna().all()
    assert late["is_anomaly"].notna().all()
    assert BaselineParams().min_history_days == 28


def test_precision_and_recall_count_house_days():
    found = pd.DataFrame(
        {
            "house_id": ["H1", "H1", "H2", "H2", "H3"],
            "day": [START] * 2 + [START + dt.timedelta(days=1)] * 2 + [START],
            "is_anomaly": pd.array([True, None, True, False, False], dtype="boolean"),
        }
    )
    found.loc[1, "day"] = START + dt.timedelta(days=1)
    truth = pd.DataFrame(
        {"house_id": ["H1", "H2", "H3"], "day": [START, START, START], "kind": ["vacancy"] * 3}
    )
    s = score_against_truth(found, truth)
    # Judged: H1@0 (hit), H2@1 (false alarm), H2@1 (no), H3@0 (missed).
    assert (s["true_positives"], s["false_positives"], s["false_negatives"]) == (1, 1, 1)
    assert s["precision"] == 0.5 and s["recall"] == 0.5


def synthetic_neighbourhood(n: int = 120, days: int = 28) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(3)
    profiles = pd.Series(
        rng.choice(["low", "medium", "high"], n), index=[f"H{i:05d}" for i in range(n)]
    )
    level = profiles.map({"low": 5.0, "medium": 8.0, "high": 12.0})
    frames = [
        daily_rows(
            h,
            days,
            lambda i, m=level[h]: m * (1 + rng.normal(0, 0.05)),
            shape=rng.uniform(0.5, 1.5, 24),
        )
        for h in profiles.index
    ]
    return pd.concat(frames), profiles


def test_the_split_keeps_every_house_on_one_side_and_is_stable():
    ids = pd.Index([f"H{i:05d}" for i in range(1000)])
    side = labelled(ids, 0.7, 7)
    assert 0.65 < side.mean() < 0.75
    # A house's side does not depend on which other houses exist.
    assert (labelled(ids[::3], 0.7, 7) == side[::3]).all()
    daily, profiles = synthetic_neighbourhood()
    trained = train_classifier(
        household_features(daily), profiles, ClassifierParams(), START, (START, START)
    )
    assert not set(trained.train_houses) & set(trained.test_houses)
    assert set(trained.train_houses) | set(trained.test_houses) == set(profiles.index)
    assert len(trained.predictions) == len(profiles)
    assert trained.metrics["macro_f1"] > 0.9  # three well-separated levels
    assert trained.version.startswith("20240101-")


def test_held_out_labels_are_read_only_for_evaluation():
    daily, profiles = synthetic_neighbourhood()
    features = household_features(daily)
    params = ClassifierParams(model="logistic_regression")
    a = train_classifier(features, profiles, params, START, (START, START))
    scrambled = profiles.copy()
    test = a.test_houses
    scrambled[test] = np.roll(scrambled[test].to_numpy(), 1)
    b = train_classifier(features, scrambled, params, START, (START, START))
    pd.testing.assert_frame_equal(a.predictions, b.predictions)
    assert a.version == b.version
    assert a.metrics["macro_f1"] != b.metrics["macro_f1"]


def banded_neighbourhood(n: int = 240, days: int = 42):
    """Profiles as bands of annual energy (edges 2,250 and 3,400 kWh), houses spread evenly in
    log energy right up to the edges; half heat electrically, which a window without cold days
    does not show: their days carry 55 % of their year's average."""
    rng = np.random.default_rng(11)
    ids = [f"H{i:05d}" for i in range(n)]
    annual = np.exp(rng.uniform(np.log(1400), np.log(5200), n))
    profile = np.where(annual < 2250, "low", np.where(annual < 3400, "medium", "high"))
    heating = np.where(rng.random(n) < 0.5, "electric", "gas")
    seen = annual / 365 * np.where(heating == "electric", 0.55, 1.0)
    daily = pd.concat(
        daily_rows(
            h, days, lambda i, m=m: m * (1 + rng.normal(0, 0.15)), shape=rng.uniform(0.5, 1.5, 24)
        )
        for h, m in zip(ids, seen, strict=True)
    )
    houses = pd.DataFrame(
        {
            "house_id": ids,
            "profile": profile,
            "annual_kwh": annual,
            "heating": heating,
            "has_ac": False,
        }
    )
    return daily, houses


def test_profiles_as_bands_of_annual_energy_learn_the_edges_from_every_labelled_house():
    # 150 houses, about 100 labelled: few near each edge for a model of the labels alone.
    daily, houses = banded_neighbourhood(150)
    f1 = {"annual_bands": [], "labels_only": []}
    for days in (28, 35, 42):
        day = START + dt.timedelta(days=days - 1)
        bands, _ = classify_day(daily, houses, ClassifierParams(), day, 56)
        labels_only, _ = classify_day(
            daily, houses.drop(columns="annual_kwh"), ClassifierParams(), day, 56
        )
        assert bands.metrics["model"] == "annual_bands"
        assert labels_only.metrics["model"] == "gradient_boosting"  # no annual energy: fallback
        assert bands.test_houses == labels_only.test_houses
        f1["annual_bands"].append(bands.metrics["macro_f1"])
        f1["labels_only"].append(labels_only.metrics["macro_f1"])
    # Houses near an edge are what a label-only model misplaces; the regression places them.
    assert min(f1["annual_bands"]) >= 0.9
    assert np.mean(f1["annual_bands"]) > np.mean(f1["labels_only"]) + 0.05
    proba = bands.pipeline.predict_proba(
        household_features(daily, registry_traits(houses)).to_numpy(float)
    )
    assert np.allclose(proba.sum(axis=1), 1.0) and (proba >= 0).all()
    edges = np.exp(bands.pipeline.named_steps["model"].edges_)
    assert edges == pytest.approx([2250, 3400], rel=0.03)
    # The held-out houses' annual energy is never read: scrambled, nothing changes.
    held_out = houses["house_id"].isin(bands.test_houses)
    scrambled = houses.copy()
    scrambled.loc[held_out, "annual_kwh"] = scrambled.loc[held_out, "annual_kwh"].to_numpy()[::-1]
    again, _ = classify_day(daily, scrambled, ClassifierParams(), day, 56)
    pd.testing.assert_frame_equal(again.predictions, bands.predictions)


def test_the_huber_ridge_is_not_pulled_by_a_few_distorted_houses():
    from energy_assets.analytics.classifier import HuberRidge

    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 3))
    y = 1.0 + x @ np.array([0.5, -0.2, 0.0]) + rng.normal(0, 0.05, 200)
    y[:12] -= 1.5  # a dozen windows a vacancy or a bypassed meter emptied
    huber = HuberRidge(alpha=0.01).fit(x, y)
    plain = HuberRidge(alpha=0.01, epsilon=1e9).fit(x, y)  # no down-weighting: least squares
    assert huber.coef_ == pytest.approx([0.5, -0.2, 0.0], abs=0.02)
    assert huber.intercept_ == pytest.approx(1.0, abs=0.02)
    assert abs(plain.intercept_ - 1.0) > 0.05
    assert (huber.weights_[:12] < 0.2).all() and huber.weights_[12:].mean() > 0.9


def test_band_edges_misplace_the_fewest_labelled_houses():
    log_annual = np.log([1500, 1900, 2200, 2300, 2400, 2350, 3000, 3500, 4000])
    y = np.array(["low", "low", "low", "medium", "low", "medium", "medium", "high", "high"])
    edges = band_edges(log_annual, y, np.array(["low", "medium", "high"], dtype=object))
    # Between low and medium, the 2,400 kWh "low" is misplaced by any cut; the best cuts lie
    # between 2,200 and 2,300 (one wrong) and their middle is taken.
    assert np.exp(edges[0]) == pytest.approx(np.sqrt(2200 * 2300), rel=1e-9)
    assert np.exp(edges[1]) == pytest.approx(np.sqrt(3000 * 3500), rel=1e-9)


def test_one_profile_cannot_train_a_classifier():
    daily, profiles = synthetic_neighbourhood(20)
    with pytest.raises(ClassifierError, match="at least two profiles"):
        train_classifier(
            household_features(daily),
            profiles.map(lambda _: "low"),
            ClassifierParams(),
            START,
            (START, START),
        )


def heated_house(days: int, temperature) -> pd.DataFrame:
    """A house that heats electrically below 16 °C: 8 kWh plus 1 kWh a degree-day, some noise."""
    rng = np.random.default_rng(5)
    rows = daily_rows("H1", days, lambda i: 0.0, base=0.15)
    t = np.array([temperature(i) for i in range(days)], dtype=float)
    rows["temperature_mean"] = t
    rows["hdd"] = np.maximum(0.0, 15.5 - t)
    rows["total_kwh"] = 8.0 + np.maximum(0.0, 16.0 - t) + rng.normal(0, 0.4, days)
    rows["peak_kw"] = rows["total_kwh"] / 24 * 3
    rows[list(HOURLY_COLUMNS)] = np.repeat(rows[["total_kwh"]].to_numpy() / 24, 24, axis=1)
    return rows


def test_a_cold_snap_beyond_the_window_raises_no_alarm_on_its_own():
    # Forty mild days (17-22 °C: no heating at all, so no slope to learn), then a 2 °C day: the
    # house heats as it always would, far beyond anything its window has seen.
    d = heated_house(41, lambda i: 2.0 if i == 40 else 17.0 + 5 * (i % 5) / 4)
    day = START + dt.timedelta(days=40)
    row = detect_anomalies(d, [day]).iloc[0]
    assert row["actual_kwh"] > 1.8 * 8.0  # far above any day of the window
    assert not bool(row["is_anomaly"])
    assert "beyond the baseline's temperatures" in row["reason"]
    # The same cold day, empty: low energy is still judged (cold never lowers a home's use).
    set_day(d, "H1", day, 3.4, 0.14, 0.2)
    row = detect_anomalies(d, [day]).iloc[0]
    assert bool(row["is_anomaly"]) and row["reason"].startswith("no activity")


def test_a_night_warmer_than_the_window_raises_no_low_alarm_for_a_home_that_heats_at_night():
    # Forty spring days: mild afternoons, nights of 2-10 °C, heating that runs at night only
    # (so its night base follows the nights), then a night of 14 °C: no heating at all.
    rng = np.random.default_rng(3)
    days = 41
    nights = np.array([2.0 + (i * 3) % 9 for i in range(days - 1)] + [14.0])
    heat = 0.06 * np.maximum(0.0, 12.0 - nights)
    d = daily_rows("H1", days, 0.0)
    d["temperature_min"], d["temperature_mean"] = nights, nights + 8.0
    d["base_load_kw"] = 0.1 + heat + rng.normal(0, 0.01, days)
    d["total_kwh"] = 5.0 + 8 * heat + rng.normal(0, 0.2, days)
    d["peak_kw"] = 1.5
    d[list(HOURLY_COLUMNS)] = np.repeat(d[["total_kwh"]].to_numpy() / 24, 24, axis=1)
    day = START + dt.timedelta(days=days - 1)
    set_day(d, "H1", day, 3.0, 0.09, 1.4)  # low: the night heating stopped
    row = detect_anomalies(d, [day]).iloc[0]
    assert not bool(row["is_anomaly"])
    assert row["reason"] == "low, but on a night warmer than the baseline's: not judged as low"
    # The same low day after a night like the window's: the base load fell on its own.
    d.loc[d.day == day, ["temperature_min", "temperature_mean"]] = (6.0, 14.0)
    row = detect_anomalies(d, [day]).iloc[0]
    assert bool(row["is_anomaly"]) and row["reason"].startswith("base load down")


def test_the_baseline_finds_the_heating_balance_point_and_normalises_weather():
    # A window that spans cold and mild days: the model with a heating term is chosen, and a
    # cold day inside the window's range is expected, not flagged.
    d = heated_house(50, lambda i: 3.0 + (i * 7) % 16)
    day = START + dt.timedelta(days=49)
    row = detect_anomalies(d, [day]).iloc[0]
    assert row["model"].startswith("hdd_")
    assert row["expected_kwh"] == pytest.approx(
        8.0 + max(0.0, 16.0 - (3.0 + (49 * 7) % 16)), abs=1.0
    )
    assert not bool(row["is_anomaly"]) and row["reason"] == "within the baseline"


def test_an_incomplete_day_gets_no_verdict_and_says_why():
    d = two_houses(40)
    day = START + dt.timedelta(days=35)
    d["completeness"] = 1.0
    set_day(d, "H1", day, 4.0, 0.3, 0.5)
    d.loc[(d.house_id == "H1") & (d.day == day), "completeness"] = 0.7
    out = detect_anomalies(d, [day]).set_index("house_id")
    assert (
        pd.isna(out.loc["H1", "is_anomaly"])
        and "70% of the day's intervals" in out.loc["H1", "reason"]
    )
    assert out.loc["H2", "reason"] == "within the baseline"
    early = detect_anomalies(d, [START + dt.timedelta(days=10)]).iloc[0]
    assert early["reason"] == "no verdict: 10 of 28 days of history"


def test_without_temperatures_the_baseline_is_each_houses_level():
    # Landed files need not carry a temperature: no degree-days, the same verdicts.
    d = two_houses(40).assign(temperature_mean=np.nan)
    day = START + dt.timedelta(days=35)
    set_day(d, "H1", day, 3.0, 0.1, 0.15)
    out = detect_anomalies(d, [day, day + dt.timedelta(days=1)]).set_index(["house_id", "day"])
    assert (
        bool(out.loc[("H1", day), "is_anomaly"]) and "no activity" in out.loc[("H1", day), "reason"]
    )
    nxt = day + dt.timedelta(days=1)
    assert not out.loc[[("H1", nxt), ("H2", day), ("H2", nxt)], "is_anomaly"].astype(bool).any()
    assert out["expected_kwh"].notna().all() and set(out["model"]) == {"intercept"}


def test_permutation_importances_agree_with_scikit_learns():
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import f1_score

    from energy_assets.analytics.classifier import (
        FEATURES,
        macro_f1_rows,
        permutation_importances,
    )

    daily, profiles = synthetic_neighbourhood()
    trained = train_classifier(
        household_features(daily), profiles, ClassifierParams(), START, (START, START)
    )
    features = household_features(daily).loc[trained.test_houses, list(FEATURES)].to_numpy(float)
    y = profiles[trained.test_houses].to_numpy(object)
    # Macro-F1 per row counts the profiles present, as scikit-learn does (one absent here).
    rows = np.array([y, np.where(y == "high", "medium", y)])
    for row, predicted in zip(macro_f1_rows(y, rows), rows, strict=True):
        assert row == pytest.approx(f1_score(y, predicted, average="macro"))
    ours = permutation_importances(trained.pipeline, features, y, seed=0, repeats=20)
    theirs = permutation_importance(
        trained.pipeline, features, y, scoring="f1_macro", n_repeats=20, random_state=0
    ).importances_mean
    # Different shuffles, the same measure: the same leading feature, close values.
    assert ours.max() > 0.3 and np.argmax(ours) == np.argmax(theirs)
    assert np.abs(ours - theirs).max() < 0.05


def test_permutation_importances_are_the_same_predicted_in_batches(monkeypatch):
    """The shuffled copies predicted a few at a time (bounded memory for thousands of houses)
    score as predicted all at once."""
    from energy_assets.analytics import classifier
    from energy_assets.analytics.classifier import FEATURES, permutation_importances

    daily, profiles = synthetic_neighbourhood()
    trained = train_classifier(
        household_features(daily), profiles, ClassifierParams(), START, (START, START)
    )
    features = household_features(daily).loc[trained.test_houses, list(FEATURES)].to_numpy(float)
    y = profiles[trained.test_houses].to_numpy(object)
    at_once = permutation_importances(trained.pipeline, features, y, seed=3)
    monkeypatch.setattr(classifier, "PERMUTED_ROWS_PER_CALL", len(y) * 2)
    calls = []
    predict = trained.pipeline.predict
    monkeypatch.setattr(trained.pipeline, "predict", lambda x: calls.append(len(x)) or predict(x))
    in_batches = permutation_importances(trained.pipeline, features, y, seed=3)
    assert max(calls) <= len(y) * 2 and len(calls) > len(FEATURES)
    np.testing.assert_array_equal(at_once, in_batches)
