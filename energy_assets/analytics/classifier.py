"""The household classifier: a scikit-learn pipeline from window features to a profile.

Trained on a labelled share of the houses (split by house, so no house is in both sets),
evaluated on the rest. The profile labels come from the registry (``houses.profile``), with the
labelled houses' annual energy where the registry has it (``houses.annual_kwh``); the features
only from the daily aggregates and how a home heats and cools.

A profile is a band of *annual* energy, so the default model (``annual_bands``) is ordinal: it
regresses the log of a house's annual energy on its window's features and cuts that estimate
where the labelled houses' bands meet. A classifier fed only the three labels learns each edge
from the few houses near it; the regression learns from every labelled house's exact energy.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd
import sklearn
from scipy.special import ndtr
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from energy_assets.analytics.features import (
    FEATURES,
    SHAPE_COLUMNS,
    TRAIT_FEATURES,
    household_features,
    registry_traits,
)
from energy_assets.analytics.regression import robust_scale
from energy_assets.simulation.settings import PROFILES

MODELS = ("annual_bands", "gradient_boosting", "logistic_regression", "random_forest")
#: Without the labelled houses' annual energy (a landed registry may lack it), the bands cannot
#: be learned: this model is trained on the labels alone instead.
FALLBACK_MODEL = "gradient_boosting"
#: The annual-energy regression is Huber's (squared loss near the line, absolute beyond
#: ``epsilon`` robust scales: 95 % efficient on normal errors), so a labelled house whose
#: window a vacancy, a bypassed meter or a failing appliance distorted does not pull the line.
HUBER_EPSILON = 1.35
#: Reweighting rounds of the Huber fit (it settles in about 20 here).
HUBER_ROUNDS = 50
#: The ridge penalties (on the scaled features) the regression chooses among, by the
#: out-of-fold absolute error: light with hundreds of labelled houses, heavier with few.
HUBER_ALPHAS = (0.01, 0.1, 1.0, 10.0, 100.0)
#: Folds of that choice; their residuals also give the regression's spread (the probabilities').
OUT_OF_FOLD_SPLITS = 5


class ClassifierError(ValueError):
    """The window cannot train a classifier (too few houses or profiles)."""


@dataclass(frozen=True)
class ClassifierParams:
    """Hyper-parameters and the split; the Dagster ``Config`` mirrors these fields."""

    model: str = "annual_bands"
    labelled_share: float = 0.7
    split_seed: int = 7
    c: float = 10.0  # logistic regression: inverse regularisation
    learning_rate: float = 0.1  # gradient boosting
    max_iter: int = 200  # gradient boosting rounds / logistic iterations
    max_depth: int = 3  # trees
    n_estimators: int = 300  # random forest
    shape_components: int = 2  # principal components of the 24-hour shape

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ClassifierError(
                f"Unknown model {self.model!r}: choose one of {', '.join(MODELS)}."
            )
        if not 0.0 < self.labelled_share < 1.0:
            raise ClassifierError(f"labelled_share={self.labelled_share} must be between 0 and 1.")


class HuberRidge(RegressorMixin, BaseEstimator):
    """Ridge regression with Huber's loss, fitted by iteratively reweighted least squares.

    scikit-learn's ``HuberRegressor`` reaches the same kind of line by L-BFGS, which took some
    1,400 iterations (about a second a fit) on the classifier's collinear features, too slow to
    choose a penalty by cross-validation every day; a reweighted ridge is a few small solves.
    """

    def __init__(self, alpha: float = 1.0, epsilon: float = HUBER_EPSILON):
        self.alpha = alpha
        self.epsilon = epsilon

    def fit(self, x: np.ndarray, y: np.ndarray) -> HuberRidge:
        """Down-weight the rows further than ``epsilon`` robust scales from the line, refit."""
        weights = np.ones(len(y))
        for rounds in range(1, HUBER_ROUNDS + 1):
            self.n_iter_ = rounds
            self._solve(x, y, weights)
            residual = y - self.predict(x)
            bound = self.epsilon * max(robust_scale(residual), 1e-12)
            new = np.minimum(1.0, bound / np.maximum(np.abs(residual), 1e-12))
            settled = np.abs(new - weights).max() < 1e-6
            weights = new
            if settled:
                break
        self.weights_ = weights
        return self

    def _solve(self, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> None:
        """Weighted ridge with an unpenalised intercept: centre on the weighted means, solve."""
        x_mean, y_mean = w @ x / w.sum(), w @ y / w.sum()
        xc = x - x_mean
        gram = xc.T @ (xc * w[:, None]) + self.alpha * np.eye(x.shape[1])
        self.coef_ = np.linalg.solve(gram, xc.T @ (w * (y - y_mean)))
        self.intercept_ = float(y_mean - x_mean @ self.coef_)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The fitted line's values."""
        return x @ self.coef_ + self.intercept_


def out_of_fold(x: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """Each row's value from a :class:`HuberRidge` fitted on the other folds."""
    folds = KFold(min(OUT_OF_FOLD_SPLITS, len(y)), shuffle=True, random_state=0)
    predicted = np.empty(len(y))
    for fit_rows, held in folds.split(x):
        predicted[held] = HuberRidge(alpha).fit(x[fit_rows], y[fit_rows]).predict(x[held])
    return predicted


class AnnualBandClassifier(ClassifierMixin, BaseEstimator):
    """Profiles as bands of annual energy: a robust (Huber) ridge regression of log annual kWh
    on the features, cut at the edges between the labelled houses' bands; probabilities from
    the regression's out-of-fold error, taken as normal."""

    def __init__(self, alphas: tuple[float, ...] = HUBER_ALPHAS):
        self.alphas = alphas

    def fit(self, x: np.ndarray, y: np.ndarray, annual_kwh: np.ndarray) -> AnnualBandClassifier:
        """Regress log ``annual_kwh`` on ``x`` with the penalty whose out-of-fold absolute error
        is least; learn the bands' edges from ``y`` along it."""
        target = np.log(np.asarray(annual_kwh, float))
        residuals = {a: out_of_fold(x, target, a) - target for a in self.alphas}
        self.alpha_ = min(self.alphas, key=lambda a: np.abs(residuals[a]).mean())
        residual = residuals[self.alpha_]
        self.sigma_ = robust_scale(residual)
        self.regressor_ = HuberRidge(self.alpha_).fit(x, target)
        self.classes_ = np.array([p for p in PROFILES if p in set(y)], dtype=object)
        self.edges_ = band_edges(target, np.asarray(y, object), self.classes_)
        return self

    def log_annual_kwh(self, x: np.ndarray) -> np.ndarray:
        """The estimated log annual energy of each row."""
        return self.regressor_.predict(x)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """The chance that each row's annual energy falls in each band (columns: ``classes_``)."""
        z = (self.edges_[None, :] - self.log_annual_kwh(x)[:, None]) / max(self.sigma_, 1e-6)
        below = np.hstack([np.zeros((len(z), 1)), ndtr(z), np.ones((len(z), 1))])
        return np.diff(below, axis=1)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The likeliest band of each row."""
        return self.classes_[np.argmax(self.predict_proba(x), axis=1)]


def band_edges(log_annual: np.ndarray, y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Where each pair of neighbouring bands meets on the log-annual axis: the cut that
    misplaces the fewest of their labelled houses, in the middle of the cuts that tie."""
    edges = []
    for lower, upper in zip(classes[:-1], classes[1:], strict=True):
        pair = (y == lower) | (y == upper)
        order = np.argsort(log_annual[pair], kind="stable")
        values, is_lower = log_annual[pair][order], (y[pair] == lower)[order]
        # A cut after position i leaves the lower houses above it and the upper ones below.
        wrong = (is_lower.sum() - np.cumsum(is_lower)) + np.cumsum(~is_lower)
        between = np.flatnonzero(values[:-1] < values[1:])
        if between.size == 0:
            edges.append(float(values[0]))
            continue
        cuts = (values[between] + values[between + 1]) / 2
        best = cuts[wrong[between] == wrong[between].min()]
        edges.append((best.min() + best.max()) / 2)
    return np.array(edges)


#: The features of a home's level of use that the annual-energy regression also reads per
#: heating and cooling trait: a window's energy says a different share of the year in a home
#: that heats or cools electrically than in one that does not.
LEVEL_FEATURES = (
    "log_mean_daily_kwh",
    "log_typical_daily_kwh",
    "log_baseline_daily_kwh",
    "log_night_kwh",
    "log_base_load_kw",
    "log_low_day_kwh",
    "log_evening_kwh",
    "heating_sensitivity",
    "cooling_sensitivity",
)


def with_trait_interactions(x: np.ndarray) -> np.ndarray:
    """``x`` (columns :data:`FEATURES`) with each level feature times each registry trait."""
    levels = x[:, [FEATURES.index(c) for c in LEVEL_FEATURES]]
    traits = x[:, [FEATURES.index(c) for c in TRAIT_FEATURES]]
    products = [levels * traits[:, [j]] for j in range(traits.shape[1])]
    return np.hstack([x, *products])


def build_pipeline(params: ClassifierParams) -> Pipeline:
    """Scaling and the chosen estimator, as one scikit-learn pipeline."""
    if params.model == "annual_bands":
        # A ridge regression needs no projection of the 24-hour shape: its penalty already
        # shares the weight among collinear columns (the projection cost it 0.015 of macro-F1).
        return Pipeline(
            [
                ("interactions", FunctionTransformer(with_trait_interactions)),
                ("scale", StandardScaler()),
                ("model", AnnualBandClassifier()),
            ]
        )
    if params.model == "gradient_boosting":
        model = HistGradientBoostingClassifier(
            learning_rate=params.learning_rate,
            max_iter=params.max_iter,
            max_depth=params.max_depth,
            random_state=params.split_seed,
        )
    elif params.model == "random_forest":
        model = RandomForestClassifier(
            n_estimators=params.n_estimators,
            max_depth=params.max_depth or None,
            random_state=params.split_seed,
            n_jobs=1,
        )
    else:
        model = LogisticRegression(C=params.c, max_iter=max(params.max_iter, 1000))
    # The 24-hour shape is 24 collinear shares summing to one: two principal components carry
    # what it says (night-heavy or evening-heavy) without handing the trees 24 noisy columns.
    shape = [FEATURES.index(c) for c in SHAPE_COLUMNS]
    columns = ColumnTransformer(
        [("shape", PCA(n_components=params.shape_components), shape)], remainder="passthrough"
    )
    # Scaled first: a shape hour that never varies becomes exactly zero, instead of float
    # noise that a scaler after the projection would blow up to unit variance.
    return Pipeline([("scale", StandardScaler()), ("columns", columns), ("model", model)])


def labelled(house_ids: pd.Index, share: float, seed: int) -> np.ndarray:
    """Whether each house is in the labelled (training) share: a hash of (seed, house).

    A house's side never depends on which other houses exist, so the split is stable as the
    neighbourhood grows and across days.
    """
    u = np.array(
        [
            int.from_bytes(hashlib.blake2b(f"{seed}:{h}".encode(), digest_size=8).digest(), "big")
            / 2**64
            for h in house_ids
        ]
    )
    return u < share


@dataclass
class TrainedClassifier:
    """A fitted pipeline with its version, its split, predictions and held-out metrics."""

    pipeline: Pipeline
    version: str
    as_of_day: dt.date
    train_houses: list[str]
    test_houses: list[str]
    predictions: pd.DataFrame
    metrics: dict = field(default_factory=dict)

    def card(self) -> dict:
        """What is stored beside the model: where it came from and how good it is."""
        return {
            "version": self.version,
            "as_of_day": self.as_of_day.isoformat(),
            "train_houses": self.train_houses,
            "test_houses": self.test_houses,
            "metrics": self.metrics,
            "features": list(FEATURES),
            "scikit_learn": sklearn.__version__,
        }


def model_version(
    params: ClassifierParams, as_of_day: dt.date, window: tuple[dt.date, dt.date], train: list[str]
) -> str:
    """``YYYYMMDD-<hash>``: the day, and a hash of what the fit depended on."""
    payload = json.dumps(
        {
            "params": asdict(params),
            "window": [d.isoformat() for d in window],
            "train": train,
            "features": list(FEATURES),
            "sklearn": sklearn.__version__,
        },
        sort_keys=True,
    )
    return f"{as_of_day:%Y%m%d}-{hashlib.sha256(payload.encode()).hexdigest()[:10]}"


def train_classifier(
    features: pd.DataFrame,
    profiles: pd.Series,
    params: ClassifierParams,
    as_of_day: dt.date,
    window: tuple[dt.date, dt.date],
    annual_kwh: pd.Series | None = None,
) -> TrainedClassifier:
    """Fit on the labelled share, predict every house, evaluate on the held-out houses.

    ``annual_kwh`` (by house) is read for the labelled houses only, by the ``annual_bands``
    model; where fewer than two profiles have it, :data:`FALLBACK_MODEL` is trained instead.
    """
    houses = features.index
    labels = profiles.reindex(houses)
    side = labelled(houses, params.labelled_share, params.split_seed)
    is_train, is_test = side & labels.notna(), ~side & labels.notna()
    x = features[list(FEATURES)].to_numpy(float)
    y = labels.to_numpy(object)
    if len(set(y[is_train])) < 2:
        raise ClassifierError(
            f"The classifier of {as_of_day} has {int(is_train.sum())} labelled houses of "
            f"{len(set(y[is_train]))} profile(s); it needs houses of at least two profiles."
        )
    params, fit_params, is_train = _with_annual_energy(params, houses, annual_kwh, y, is_train)
    pipeline = build_pipeline(params).fit(x[is_train], y[is_train], **fit_params)
    proba = pipeline.predict_proba(x)
    classes = pipeline.classes_
    predicted = classes[np.argmax(proba, axis=1)]
    train_ids, test_ids = list(houses[is_train]), list(houses[is_test])
    version = model_version(params, as_of_day, window, train_ids)
    predictions = pd.DataFrame(
        {
            "house_id": houses.to_numpy(),
            "as_of_day": as_of_day,
            "predicted_profile": predicted,
            "probability": proba.max(axis=1),
            "model_version": version,
        }
    )
    metrics = evaluate(pipeline, x[is_test], y[is_test], predicted[is_test], params.split_seed)
    metrics["train_houses"], metrics["test_houses"] = len(train_ids), len(test_ids)
    metrics["model"] = params.model
    return TrainedClassifier(
        pipeline, version, as_of_day, train_ids, test_ids, predictions, metrics
    )


def classify_day(
    daily: pd.DataFrame,
    houses: pd.DataFrame,
    params: ClassifierParams,
    day: dt.date,
    window_days: int,
) -> tuple[TrainedClassifier, pd.DataFrame]:
    """The model of ``day``, trained on the daily aggregates of up to ``window_days`` days
    ending on it (``day`` as dates), and that window; ``window_days`` in its metrics is how
    many days the window held."""
    first = day - dt.timedelta(days=window_days - 1)
    window = daily[(daily["day"] >= first) & (daily["day"] <= day)]
    registry = houses.set_index("house_id")
    trained = train_classifier(
        household_features(window, registry_traits(houses)),
        registry["profile"],
        params,
        day,
        (first, day),
        registry["annual_kwh"] if "annual_kwh" in registry else None,
    )
    trained.metrics["window_days"] = int(window["day"].nunique())
    return trained, window


def _with_annual_energy(
    params: ClassifierParams,
    houses: pd.Index,
    annual_kwh: pd.Series | None,
    y: np.ndarray,
    is_train: np.ndarray,
) -> tuple[ClassifierParams, dict, np.ndarray]:
    """The params, fit arguments and training rows of the model: ``annual_bands`` trains on the
    labelled houses whose annual energy is known, else the fallback on every labelled house."""
    if params.model != "annual_bands":
        return params, {}, is_train
    annual = (
        np.full(len(houses), np.nan)
        if annual_kwh is None
        else annual_kwh.reindex(houses).to_numpy(float)
    )
    known = is_train & np.isfinite(annual) & (annual > 0)
    if len(set(y[known])) < 2:
        return replace(params, model=FALLBACK_MODEL), {}, is_train
    return params, {"model__annual_kwh": annual[known]}, known


def macro_f1_rows(y: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Macro-F1 of each row of ``predicted`` (copies × houses) against ``y``, over the profiles
    present in ``y`` or in that row, as scikit-learn's ``f1_score(average="macro")`` counts."""
    f1 = []
    for profile in PROFILES:
        truth, said = y == profile, predicted == profile
        tp = (truth & said).sum(axis=1)
        wrong = (~truth & said).sum(axis=1) + (truth & ~said).sum(axis=1)
        present = (tp + wrong) > 0
        f1.append(np.where(present, 2 * tp / np.maximum(2 * tp + wrong, 1), np.nan))
    return np.nanmean(np.vstack(f1), axis=0)


#: Rows of shuffled copies predicted in one call: a few calls for thousands of held-out houses
#: (all copies at once held ~0.6 GB of feature matrices for 3,000), one for a small run's.
PERMUTED_ROWS_PER_CALL = 50_000


def permutation_importances(
    pipeline: Pipeline, x: np.ndarray, y: np.ndarray, seed: int, repeats: int = 3
) -> np.ndarray:
    """How much macro-F1 falls when one feature's column is shuffled (mean of ``repeats``).

    scikit-learn's ``permutation_importance``, with the shuffled copies predicted many to a
    call: its one prediction a copy (a feature times a repeat) took nine tenths of the
    classifier's time on a 100-house run.
    """
    rng = np.random.default_rng(seed)
    n, k = x.shape
    shuffles = [(j, rng.permutation(n)) for j in range(k) for _ in range(repeats)]
    per_call = max(1, PERMUTED_ROWS_PER_CALL // max(n, 1))
    predicted = []
    for first in range(0, len(shuffles), per_call):
        batch = shuffles[first : first + per_call]
        copies = np.repeat(x[None], len(batch), axis=0)
        for c, (j, order) in enumerate(batch):
            copies[c, :, j] = x[order, j]
        predicted.append(pipeline.predict(copies.reshape(-1, k)).reshape(len(batch), n))
    base = macro_f1_rows(y, pipeline.predict(x)[None])[0]
    return base - macro_f1_rows(y, np.vstack(predicted)).reshape(k, repeats).mean(axis=1)


def evaluate(
    pipeline: Pipeline, x: np.ndarray, y: np.ndarray, predicted: np.ndarray, seed: int
) -> dict:
    """Accuracy, macro-F1, per-profile F1, the confusion matrix and permutation importances."""
    if len(y) == 0:
        return {"accuracy": float("nan"), "macro_f1": float("nan")}
    labels = [p for p in PROFILES if p in set(y) | set(predicted)]
    per_class = f1_score(y, predicted, labels=labels, average=None, zero_division=0)
    importances = permutation_importances(pipeline, x, y, seed)
    return {
        "accuracy": float(accuracy_score(y, predicted)),
        "macro_f1": float(f1_score(y, predicted, labels=labels, average="macro", zero_division=0)),
        "f1_by_profile": {p: float(v) for p, v in zip(labels, per_class, strict=True)},
        "confusion": confusion_matrix(y, predicted, labels=list(PROFILES)).tolist(),
        "feature_importance": {
            f: float(v)
            for f, v in sorted(zip(FEATURES, importances, strict=True), key=lambda t: -t[1])
        },
    }
