"""`analyze project`: datacenter power if a configuration served a given number of queries a
day (Table IV of Kim et al. 2025). Definitions: SPEC.md 11.11.

    P [W] = E [Wh/query] * Q [queries/day] / 24 h,   daily energy [Wh/day] = E * Q

E comes from `analyze energy` on the traces (per request, or per request with idle energy
included) or is given with ``--wh-per-query``; the scenarios and the reference loads the
projection is compared with are given on the command line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import polars as pl

from ..errors import UsageError
from .load import TraceSet
from .output import Report, Section

__all__ = ["DEFAULT_SCENARIOS", "BASES", "parse_count", "parse_pairs", "projection", "report"]

DEFAULT_SCENARIOS: tuple[tuple[str, float], ...] = (("71.4M/day", 71.4e6), ("13.7B/day", 13.7e9))
"""The two daily query volumes of the study's projection (Kim et al. 2025, Table IV)."""

BASES = {"request": "wh_per_request", "run": "run_wh_per_request"}
"""Energy per query to project: attributed to requests only, or all GPU energy of the run (idle included)."""

_SUFFIX = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}
_NUMBER = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kmbgt]?)\s*$", re.IGNORECASE)


def parse_count(text: str) -> float:
    """A positive number with an optional suffix K, M, B (or G) or T: ``71.4M`` -> 71,400,000."""
    m = _NUMBER.match(text)
    if not m or not float(m.group(1)) > 0 or math.isinf(float(m.group(1))):
        raise ValueError(text)
    return float(m.group(1)) * _SUFFIX[m.group(2).lower()]


def parse_pairs(items: Sequence[str], option: str, unit: str, *, suffixes: bool) -> list[tuple[str, float]]:
    """``NAME=VALUE`` items as (name, value) pairs, names unique, values positive."""
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError(item)
            number = parse_count(value) if suffixes else float(value)
            if not number > 0 or math.isinf(number):
                raise ValueError(item)
        except ValueError:
            example = "search=13.7B" if suffixes else "'US datacenters'=17000"
            raise UsageError(f"{option} {item!r}: expected NAME={unit} with a positive number (e.g. {option} {example})") from None
        if name.strip() in out:
            raise UsageError(f"{option} {name.strip()!r} is given twice; give each name once")
        out[name.strip()] = number
    return list(out.items())


def projection(energy_wh: dict[str, float], scenarios: Sequence[tuple[str, float]],
               references: Sequence[tuple[str, float]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Power and daily energy of every (group, scenario), and their ratio to every reference load (MW)."""
    rows = [{"group": g, "wh_per_query": e, "scenario": s, "queries_per_day": q,
             "power_mw": e * q / 24 / 1e6, "power_gw": e * q / 24 / 1e9, "energy_gwh_per_day": e * q / 1e9}
            for g, e in energy_wh.items() for s, q in scenarios]
    proj = pl.DataFrame(rows, schema={"group": pl.String, "wh_per_query": pl.Float64, "scenario": pl.String,
                                      "queries_per_day": pl.Float64, "power_mw": pl.Float64, "power_gw": pl.Float64,
                                      "energy_gwh_per_day": pl.Float64})
    ref = pl.DataFrame(references, schema={"reference": pl.String, "reference_mw": pl.Float64}, orient="row")
    comp = proj.select("group", "scenario", "power_mw").join(ref, how="cross").with_columns(
        (pl.col("power_mw") / pl.col("reference_mw")).alias("power_over_reference"))
    return proj, comp


def _chart(proj: pl.DataFrame, references: Sequence[tuple[str, float]]) -> Any:
    import altair as alt

    y = alt.Y("power_mw:Q", title="projected power (MW, log scale)", scale=alt.Scale(type="log"))
    order = list(dict.fromkeys(proj["scenario"].to_list()))
    bars = alt.Chart(proj).mark_point(filled=True, size=140).encode(
        x=alt.X("scenario:N", title="queries per day", sort=order, axis=alt.Axis(labelAngle=0)), xOffset="group:N",
        y=y, color="group:N",
        tooltip=["group", "scenario", alt.Tooltip("wh_per_query:Q", format=".4g"), alt.Tooltip("power_mw:Q", format=".4g"),
                 alt.Tooltip("energy_gwh_per_day:Q", format=".4g")])
    chart: Any = bars
    if references:
        ref = pl.DataFrame(list(references), schema={"reference": pl.String, "power_mw": pl.Float64}, orient="row")
        rules = alt.Chart(ref).mark_rule(strokeDash=[4, 3], color="black").encode(y="power_mw:Q", tooltip=["reference", "power_mw"])
        text = alt.Chart(ref).mark_text(align="left", dy=-5, x=4).encode(y="power_mw:Q", text="reference:N")
        chart = bars + rules + text
    return chart.properties(title="Projected datacenter power", width=420, height=300)


def report(ts: TraceSet | None, *, scenarios: Sequence[tuple[str, float]] | None = None,
           references: Sequence[tuple[str, float]] = (), wh_per_query: float | None = None,
           basis: str = "request") -> Report:
    """The projection for every group of ``ts`` (or for ``wh_per_query`` alone)."""
    if basis not in BASES:
        raise UsageError(f"unknown --basis value {basis!r}; use one of: {', '.join(BASES)}")
    notes: list[str] = []
    data: dict[str, Any] = {"basis": basis}
    if wh_per_query is not None:
        if ts is not None:
            raise UsageError("give traces or --wh-per-query, not both")
        if not wh_per_query > 0 or math.isinf(wh_per_query):
            raise UsageError(f"--wh-per-query {wh_per_query}: give a positive energy per query in Wh (e.g. 0.34)")
        energy_wh, groups, data["basis"] = {"given": wh_per_query}, [], "given"
    elif ts is None:
        raise UsageError("no traces given; pass trace files with GPU samples, or --wh-per-query WH")
    else:
        from .energy import ATTRIBUTION, energy

        res = energy(ts)
        energy_wh = dict(zip(res.summary["group"].cast(pl.String).to_list(), res.summary[BASES[basis]].to_list(), strict=True))
        groups, notes = ts.describe(), res.notes
        data["method"] = dict(zip(energy_wh, res.summary["method"].to_list(), strict=True))
        data["attribution"] = ATTRIBUTION
    proj, comp = projection(energy_wh, list(scenarios or DEFAULT_SCENARIOS), list(references))
    fmt = {"queries_per_day": ",.0f"} | {c: ".4g" for c in ("wh_per_query", "power_mw", "power_gw", "energy_gwh_per_day",
                              "reference_mw", "power_over_reference")}
    sections = [Section("projection", "Projected datacenter power: P = Wh/query x queries/day / 24 h", proj, formats=fmt)]
    if references:
        sections.append(Section("references", "Projected power against reference loads", comp, formats=fmt))
    refs = list(references)
    return Report("project", groups, sections, notes, chart=lambda: _chart(proj, refs), data=data)
