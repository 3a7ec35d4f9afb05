"""The neighbourhood dashboard: Streamlit over the warehouse tables.

    make dashboard        # http://127.0.0.1:8501

Every figure is a query that PostgreSQL answers (aggregates, or at most a few hundred houses
by a week); the app holds no table in memory, so it stays quick on 10,000 houses.
"""

import datetime as dt

import altair as alt
import pandas as pd
import psycopg
import streamlit as st

from energy_assets.analytics.daily import HOURLY_COLUMNS
from energy_assets.explore import query, utc_bounds
from energy_assets.settings import load_settings

MAX_HEATMAP_HOUSES = 200
#: Local hours as a reader reads them: "00:00" ... "23:00".
HOUR_LABELS = [f"{h:02d}:00" for h in range(24)]
ZONE = load_settings().timezone
#: Landed meters may have no known profile: they are shown as "unknown", not left out.
PROFILE_CHOICES = ["low", "medium", "high", "unknown"]
PROFILE = "coalesce(profile, 'unknown')"
H_PROFILE = "coalesce(h.profile, 'unknown')"

st.set_page_config(page_title="energy_assets: the neighbourhood", layout="wide")


@st.cache_data(ttl=60, show_spinner=False)
def _cached(where: tuple, statement: str, params: tuple, tables: tuple) -> pd.DataFrame:
    return query(statement, list(params), **dict(tables))


def ask(statement: str, params: tuple = (), **tables: str) -> pd.DataFrame:
    """A query cached for a minute, keyed by the warehouse it asks too."""
    settings = load_settings()
    where = (settings.pg_url, settings.pg_schema)
    return _cached(where, statement, tuple(params), tuple(sorted(tables.items())))


def chart(data: pd.DataFrame, title: str) -> alt.Chart:
    """An Altair chart drawn as SVG: its titles and tick labels are text a reader can select."""
    return alt.Chart(data, title=title).properties(usermeta={"embedOptions": {"renderer": "svg"}})


def day_labels(days: pd.Series) -> pd.Series:
    """Local dates as ``2024-01-01`` text: an ordinal axis then reads as dates, not epochs."""
    return pd.to_datetime(days).dt.strftime("%Y-%m-%d")


def span() -> pd.DataFrame:
    """First and last day, and the houses, of the daily table."""
    return ask(
        "SELECT min(day) AS first, max(day) AS last, count(DISTINCT house_id) AS houses FROM {d}",
        d="energy_daily",
    )


st.title("The neighbourhood")
try:
    extent = span()
except psycopg.Error as err:
    st.info(
        "The warehouse has no daily aggregates yet: run `make run` first. "
        f"({type(err).__name__}: {str(err).splitlines()[0]})"
    )
    st.stop()
first, last, n_houses = extent.iloc[0]
if first is None:
    st.info("The warehouse has no daily aggregates yet: run `make run` first.")
    st.stop()

with st.sidebar:
    st.header("Choose")
    picked = st.date_input("Simulated days", (first, last), min_value=first, max_value=last)
    start, end = picked if isinstance(picked, tuple) and len(picked) == 2 else (picked, picked)
    if isinstance(start, tuple):  # a half-made range while the user picks
        start = end = first
    profiles = st.multiselect("Profiles", PROFILE_CHOICES, default=PROFILE_CHOICES)
    all_houses = ask("SELECT house_id FROM {h} ORDER BY house_id", h="houses")["house_id"].tolist()
    houses = st.multiselect(
        f"Houses (empty: the first {min(40, len(all_houses))} of the chosen profiles)", all_houses
    )

RANGE = (start, end)
profile_list = profiles or PROFILE_CHOICES
if not houses:
    houses = ask(
        f"SELECT house_id FROM {{h}} WHERE {PROFILE} = ANY(%s) ORDER BY house_id LIMIT 40",
        (profile_list,),
        h="houses",
    )["house_id"].tolist()

st.caption(f"{n_houses} houses, simulated days {first} to {last}; showing {start} to {end}.")

# Headline figures.
head = ask(
    "SELECT count(*) AS house_days, sum(total_kwh) AS kwh, "
    "sum(estimated_intervals)::float / nullif(sum(expected_intervals), 0) AS estimated "
    f"FROM {{d}} d JOIN {{h}} h USING (house_id) WHERE day BETWEEN %s AND %s AND {H_PROFILE} = ANY(%s)",
    (*RANGE, profile_list),
    d="energy_daily",
    h="houses",
).iloc[0]
c1, c2, c3 = st.columns(3)
c1.metric("House-days", f"{int(head['house_days'] or 0):,}")
c2.metric("Energy", f"{float(head['kwh'] or 0):,.0f} kWh")
c3.metric("Estimated intervals", f"{float(head['estimated'] or 0):.2%}")

# Load curves: mean energy per local hour, per profile, computed in PostgreSQL.
st.subheader("Mean daily load curve per profile")
hourly = ", ".join(f"avg({c}) AS {c}" for c in HOURLY_COLUMNS)
curves = ask(
    f"SELECT {H_PROFILE} AS profile, {hourly} FROM {{d}} d JOIN {{h}} h USING (house_id) "
    f"WHERE day BETWEEN %s AND %s AND {H_PROFILE} = ANY(%s) GROUP BY 1",
    (*RANGE, profile_list),
    d="energy_daily",
    h="houses",
)
st.caption(
    f"By local hour of the neighbourhood's clock ({ZONE}), over local days; on the 25-hour day "
    "of a clock change the repeated hour counts twice, on the 23-hour day the skipped one is 0."
)
if not curves.empty:
    long = curves.melt(id_vars="profile", var_name="hour", value_name="kWh")
    long["hour"] = long["hour"].str[-2:].astype(int).map(lambda h: HOUR_LABELS[h])
    st.altair_chart(
        chart(long, "Mean energy per local hour of a house-day")
        .mark_line(point=True)
        .encode(
            x=alt.X("hour:O", title="local hour", sort=HOUR_LABELS),
            y=alt.Y("kWh:Q", title="kWh per hour"),
            color=alt.Color("profile:N", title="profile"),
        ),
        width="stretch",
    )

# House x day heatmap of daily energy, for at most a few hundred houses.
st.subheader("Daily energy, house by day")
shown = houses[:MAX_HEATMAP_HOUSES]
grid = ask(
    "SELECT house_id, day, total_kwh FROM {d} WHERE day BETWEEN %s AND %s AND house_id = ANY(%s)",
    (*RANGE, shown),
    d="energy_daily",
)
st.caption(f"Each column is a local day, midnight to midnight in {ZONE}.")
if not grid.empty:
    grid["day"] = day_labels(grid["day"])
    st.altair_chart(
        chart(grid, "Energy of each house on each local day")
        .mark_rect()
        .encode(
            x=alt.X("day:O", title="local day"),
            y=alt.Y("house_id:O", title="house"),
            color=alt.Color("total_kwh:Q", title="kWh per day"),
        )
        .properties(height=max(200, 12 * len(shown))),
        width="stretch",
    )

left, right = st.columns(2)
with left:
    st.subheader("Profile classes")
    classes = ask(
        "SELECT c.predicted_profile, h.profile, count(*) AS houses FROM {c} c JOIN {h} h "
        "USING (house_id) WHERE c.as_of_day = (SELECT max(as_of_day) FROM {c} WHERE as_of_day "
        "BETWEEN %s AND %s) GROUP BY 1, 2",
        RANGE,
        c="household_classes",
        h="houses",
    )
    if classes.empty:
        st.write("No classes in this range yet.")
    else:
        st.altair_chart(
            chart(classes, "Predicted profile against the registry's")
            .mark_bar()
            .encode(
                x=alt.X("predicted_profile:N", title="predicted profile"),
                y=alt.Y("houses:Q", title="houses"),
                color=alt.Color("profile:N", title="registry profile"),
            ),
            width="stretch",
        )
with right:
    st.subheader("Rejected readings by reason")
    reasons = ask(
        "SELECT reason, count(*) AS readings FROM {r} WHERE simulated_timestamp >= %s "
        "AND simulated_timestamp < %s GROUP BY reason ORDER BY readings DESC",
        utc_bounds(start, end),
        r="energy_data_rejected",
    )
    if reasons.empty:
        st.write("Nothing rejected in this range.")
    else:
        st.altair_chart(
            chart(reasons, "Refused readings by reason code")
            .mark_bar()
            .encode(
                x=alt.X("readings:Q", title="readings"),
                y=alt.Y("reason:N", sort="-x", title="reason"),
            ),
            width="stretch",
        )

st.subheader("Anomalies against their baseline")
flagged = ask(
    "SELECT house_id, day, actual_kwh, expected_kwh, score, base_load_score FROM {a} "
    "WHERE is_anomaly AND day BETWEEN %s AND %s ORDER BY abs(score) DESC LIMIT 50",
    RANGE,
    a="energy_anomalies",
)
if flagged.empty:
    warming = ask(
        "SELECT count(*) AS n FROM {a} WHERE is_anomaly IS NULL AND day BETWEEN %s AND %s",
        RANGE,
        a="energy_anomalies",
    ).iloc[0]["n"]
    st.write(
        "No anomaly in this range"
        + (
            f" ({warming} house-days are still in the baseline's 28-day warm-up)."
            if warming
            else "."
        )
    )
else:
    choice = st.selectbox(
        "Anomaly",
        flagged.index,
        format_func=lambda i: (
            f"{flagged.loc[i, 'house_id']} on {flagged.loc[i, 'day']} "
            f"({flagged.loc[i, 'actual_kwh']:.1f} kWh, expected {flagged.loc[i, 'expected_kwh']:.1f})"
        ),
    )
    house, day = flagged.loc[choice, "house_id"], flagged.loc[choice, "day"]
    series = ask(
        "SELECT day, actual_kwh, expected_kwh FROM {a} WHERE house_id = %s "
        "AND day BETWEEN %s AND %s ORDER BY day",
        (house, day - dt.timedelta(days=28), day + dt.timedelta(days=7)),
        a="energy_anomalies",
    )
    long = series.melt(id_vars="day", var_name="series", value_name="kWh")
    long["day"] = day_labels(long["day"])
    # Dates are read and labelled in UTC so that a browser's own zone cannot shift a day.
    st.altair_chart(
        chart(long, f"Daily energy of {house} against its baseline")
        .mark_line(point=True)
        .encode(
            x=alt.X(
                "day:T",
                title="local day",
                scale=alt.Scale(type="utc"),
                axis=alt.Axis(format="%a %-d %b", formatType="utc"),
            ),
            y=alt.Y("kWh:Q", title="kWh per day"),
            color=alt.Color("series:N", title="series"),
        ),
        width="stretch",
    )
    st.dataframe(flagged, hide_index=True)
