"""Small PNG figures for asset metadata: what people would rather look at than read."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")  # no display; figures are rendered to bytes

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from energy_assets.analytics.daily import HOURLY_COLUMNS  # noqa: E402


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()


def markdown_image(png: bytes, alt: str) -> str:
    """A Markdown image with the PNG inline, which the Dagster UI renders in metadata."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


def load_curves_by_profile(daily: pd.DataFrame, profiles: pd.Series) -> bytes:
    """The mean daily load curve (kWh per local hour) of each profile."""
    d = daily.join(profiles.rename("profile"), on="house_id")
    curves = d.groupby("profile")[list(HOURLY_COLUMNS)].mean()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for profile, row in curves.iterrows():
        ax.plot(range(24), row.to_numpy(), marker=".", label=str(profile))
    ax.set(xlabel="local hour", ylabel="kWh per hour", title="Mean daily load curve per profile")
    ax.set_xticks(range(0, 24, 3), [f"{h:02d}:00" for h in range(0, 24, 3)])
    ax.legend()
    return _png(fig)


def consumption_against_temperature(daily: pd.DataFrame) -> bytes:
    """Daily energy of house-days against the day's mean temperature."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.scatter(daily["temperature_mean"], daily["total_kwh"], s=4, alpha=0.4)
    ax.set(xlabel="mean temperature (°C)", ylabel="kWh per day", title="Consumption vs temperature")
    return _png(fig)


def confusion(matrix: list[list[int]], labels: list[str]) -> bytes:
    """A confusion matrix with counts in the cells (rows: true profile)."""
    m = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(3.6, 3.2))
    ax.imshow(m, cmap="Blues")
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, str(m[i, j]), ha="center", va="center")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set(xlabel="predicted", ylabel="true", title="Held-out houses")
    return _png(fig)


def anomaly_against_baseline(history: pd.DataFrame, house_id: str, day) -> bytes:
    """A house's daily energy and its expected baseline, the anomalous day marked."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(history["day"], history["actual_kwh"], marker=".", label="actual")
    ax.plot(history["day"], history["expected_kwh"], linestyle="--", label="baseline")
    hit = history[history["day"] == day]
    ax.scatter(hit["day"], hit["actual_kwh"], s=80, color="red", zorder=3, label="anomaly")
    ax.set(xlabel="local day", ylabel="kWh per day", title=f"{house_id} on {day}")
    ax.legend()
    fig.autofmt_xdate()
    return _png(fig)
