"""Plots of the dashboards as SVG, drawn server-side with matplotlib (issue 13 item 3).

Every function takes plain rows (the contract tables of an endpoint run, or rows a dashboard
selector built) and returns SVG text. No queries, no clock: the same rows give the same bytes —
`svg.hashsalt` is fixed, the date metadata is dropped and text stays text (`svg.fonttype`
"none", so the browser draws the labels with the same Noto CJK font the layout was measured
with, and Chinese renders). Each SVG carries a <title> and <desc>; the page shows the data table
beside it. Colours survive greyscale because every series also differs by line style, marker or
hatch. Labels are translated with the active language (the caller caches per language).
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib import font_manager
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

#: The CJK font the project installs (Debian fonts-noto-cjk, .ci/run); the first one found wins.
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei")
FALLBACK_FAMILY = "DejaVu Sans"
#: Matplotlib's figure state is global: one render at a time per process.
_LOCK = threading.Lock()

#: Colour-blind-safe (Okabe–Ito) colours, each paired with a line style/marker/hatch.
BLUE, ORANGE, GREEN, VERMILION, PURPLE, GREY, BLACK = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#999999",
    "#000000",
)
DAYS_PER_MONTH = Decimal("30.4375")


@functools.cache
def _register_system_cjk_fonts() -> None:
    """matplotlib keeps the font list it found on first use in a cache file; a CJK font installed
    after that (fonts-noto-cjk added to a machine whose cache is older) is added here, once."""
    known = {entry.name for entry in font_manager.fontManager.ttflist}
    if any(name in known for name in CJK_FAMILIES):
        return
    for path in font_manager.findSystemFonts():
        if "CJK" in os.path.basename(path):
            with contextlib.suppress(OSError, RuntimeError, ValueError):
                font_manager.fontManager.addfont(path)


def font_families() -> list[str]:
    """The CJK family installed here first (so Chinese labels are measured and drawn), then a
    Latin fallback; when no CJK font is installed the labels still render, in the fallback."""
    _register_system_cjk_fonts()
    installed = {entry.name for entry in font_manager.fontManager.ttflist}
    found = [name for name in CJK_FAMILIES if name in installed]
    return [*found[:1], FALLBACK_FAMILY]


@contextmanager
def _figure(width: float, height: float) -> Iterator[Figure]:
    settings = {
        "svg.hashsalt": "trialsite",
        "svg.fonttype": "none",
        "path.simplify": False,  # keep every step vertex (tests read them back)
        "font.family": font_families(),
        "font.size": 11,
        "xtick.labelsize": 10,
        "ytick.labelsize": 10,
        "legend.fontsize": 10,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "hatch.linewidth": 0.8,
    }
    with _LOCK, plt.rc_context(settings):
        fig = Figure(figsize=(width, height), dpi=72)
        try:
            yield fig
        finally:
            fig.clear()


def _svg(fig: Figure, title: str, description: str) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    # An accessible name for the graphic itself (also read when the SVG is inlined or opened alone).
    opening = text.index("<svg")
    close = text.index(">", opening) + 1
    head = text[:close].replace("<svg ", '<svg role="img" aria-labelledby="plot-title plot-desc" ', 1)
    body = f'\n <title id="plot-title">{_escape(title)}</title>\n <desc id="plot-desc">{_escape(description)}</desc>'
    return head + body + text[close:]


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _num(value: str) -> float | None:
    return None if value in ("", None) else float(Decimal(value))


# --- Kaplan–Meier and cumulative incidence ------------------------------------------------------


@dataclass(frozen=True)
class StepCurve:
    """A right-continuous step function from day 0: `start` before the first time."""

    times: list[float]
    values: list[float]
    lower: list[float | None]
    upper: list[float | None]
    censored: list[float] = field(default_factory=list)
    start: float = 1.0


def _scale(table: dict[str, Any]) -> Decimal:
    """Tables of runs since issue 30 hold survival and incidence in percent (`probability_unit`);
    older stored runs hold proportions. The plot draws proportions (0–1) either way."""
    return Decimal(100) if table.get("probability_unit") == "percent" else Decimal(1)


def km_curve(table: dict[str, Any]) -> StepCurve:
    """The os_km contract table (CONTRACT: time, at_risk, events, censored, survival, ci_lower,
    ci_upper) as a step curve starting at S = 1 on day 0."""
    return _curve(table["rows"], "survival", start=1.0, scale=_scale(table))


def cif_curve(table: dict[str, Any]) -> StepCurve:
    """The relapse_cif contract table as a step curve starting at 0 on day 0."""
    return _curve(table["rows"], "incidence", start=0.0, scale=_scale(table))


def _curve(rows: Sequence[dict[str, Any]], column: str, *, start: float, scale: Decimal) -> StepCurve:
    ordered = sorted(rows, key=lambda r: Decimal(str(r["time"])))

    def limit(value: str) -> float | None:
        found = _num(value)
        return None if found is None else float(Decimal(value) / scale)

    return StepCurve(
        times=[float(Decimal(str(r["time"]))) for r in ordered],
        values=[float(Decimal(r[column]) / scale) for r in ordered],
        lower=[limit(r.get("ci_lower", "")) for r in ordered],
        upper=[limit(r.get("ci_upper", "")) for r in ordered],
        censored=[float(Decimal(str(r["time"]))) for r in ordered if int(r.get("censored", 0) or 0) > 0],
        start=start,
    )


def step_points(curve: StepCurve, x_max: float) -> tuple[list[float], list[float]]:
    """The vertices of the drawn step line: (0, start), then for each time the corner at the
    previous level and the drop (or rise) to the new one, then flat to `x_max`."""
    xs, ys = [0.0], [curve.start]
    level = curve.start
    for time, value in zip(curve.times, curve.values, strict=True):
        if time > 0:
            xs.append(time)
            ys.append(level)
        xs.append(time)
        ys.append(value)
        level = value
    if xs[-1] < x_max:
        xs.append(x_max)
        ys.append(level)
    return xs, ys


def _band(curve: StepCurve, x_max: float) -> tuple[list[float], list[float], list[float]]:
    """The CI band as steps; undefined limits ('' in the table) leave a gap."""
    xs: list[float] = []
    lows: list[float] = []
    highs: list[float] = []
    times = [*curve.times, x_max]
    for index, (low, high) in enumerate(zip(curve.lower, curve.upper, strict=True)):
        if low is None or high is None:
            xs.append(float("nan"))
            lows.append(float("nan"))
            highs.append(float("nan"))
            continue
        xs.extend([times[index], max(times[index], times[index + 1])])
        lows.extend([low, low])
        highs.extend([high, high])
    return xs, lows, highs


def month_ticks(x_max: float) -> list[tuple[int, float]]:
    months = int(Decimal(str(x_max)) / DAYS_PER_MONTH) + 1
    return [(m, float((m * DAYS_PER_MONTH).to_integral_value())) for m in range(0, months + 1, 3 if months > 12 else 1)]


def step_plot(
    *,
    curve: StepCurve,
    x_max: float,
    title: str,
    description: str,
    y_label: str,
    x_label: str,
    estimate_label: str,
    band_label: str,
    censor_label: str,
    at_risk: Sequence[tuple[float, str]] = (),
    at_risk_label: str = "",
    gid: str = "curve",
) -> str:
    """A step curve on [0, x_max] days × [0, 1] with its 95% CI band, censoring marks and (when
    given) numbers at risk under the axis. The curve's <path> has id `gid` (tests read it)."""
    height = 4.6 if at_risk else 4.0
    with _figure(6.6, height) as fig:
        ax = fig.add_axes((0.12, 0.22 if at_risk else 0.15, 0.85, 0.73 if at_risk else 0.79))
        ax.patch.set_gid(f"{gid}-axes")
        bx, blo, bhi = _band(curve, x_max)
        if any(low is not None for low in curve.lower):
            ax.fill_between(bx, blo, bhi, color=BLUE, alpha=0.18, hatch="///", edgecolor=BLUE, linewidth=0)
            ax.plot(bx, blo, color=BLUE, linestyle=(0, (4, 3)), linewidth=0.9)
            ax.plot(bx, bhi, color=BLUE, linestyle=(0, (4, 3)), linewidth=0.9, label=band_label)
        xs, ys = step_points(curve, x_max)
        (line,) = ax.plot(xs, ys, color=BLACK, linewidth=1.8, label=estimate_label)
        line.set_gid(gid)
        if curve.censored:
            heights = [_level_at(curve, t) for t in curve.censored]
            ax.plot(
                curve.censored, heights, linestyle="none", marker="+", markersize=9, color=BLACK, label=censor_label
            )
        ax.set_xlim(0, x_max)
        ax.set_ylim(0, 1.0)
        ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
        ticks = month_ticks(x_max)
        ax.set_xticks([day for _m, day in ticks])
        ax.set_xticklabels([f"{day:g}" for _m, day in ticks])
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.grid(axis="y", color="#dddddd", linewidth=0.6)
        ax.legend(loc="lower left" if curve.start == 1.0 else "upper left", frameon=False)
        if at_risk:
            fig.text(0.01, 0.06, at_risk_label, ha="left", va="center", fontsize=10, fontweight="bold")
            for day, count in at_risk:
                if 0 <= day <= x_max:
                    x = 0.12 + 0.85 * day / x_max
                    fig.text(x, 0.06, count, ha="center", va="center", fontsize=10)
        return _svg(fig, title, description)


def _level_at(curve: StepCurve, time: float) -> float:
    level = curve.start
    for t, value in zip(curve.times, curve.values, strict=True):
        if t <= time:
            level = value
    return level


# --- bars ---------------------------------------------------------------------------------------


def response_bars(
    *,
    categories: Sequence[tuple[str, str]],
    series: Sequence[tuple[str, Sequence[dict[str, Any]]]],
    title: str,
    description: str,
    x_label: str,
) -> str:
    """Grouped horizontal bars: one group per response category, one bar per series (best
    response, day-28 response), each series its own colour AND hatch; n/N and % at the bar end.
    `categories` are (code, label); `series` rows are PROPORTION_COLUMNS rows keyed by code."""
    styles = [(BLUE, ""), (ORANGE, "xx"), (GREEN, "..")]
    rows = len(categories)
    height = 1.2 + 0.36 * rows * max(1, len(series))
    with _figure(6.6, height) as fig:
        ax = fig.add_axes((0.36, 0.8 / height, 0.60, 1 - 1.0 / height))
        bar = 0.8 / max(1, len(series))
        for index, (label, table) in enumerate(series):
            by_category = {row["category"]: row for row in table}
            colour, hatch = styles[index % len(styles)]
            ys = [r + index * bar for r in range(rows)]
            values = [_num(by_category.get(c, {}).get("percent", "")) or 0.0 for c, _label in categories]
            bars = ax.barh(ys, values, height=bar * 0.92, color=colour, hatch=hatch, edgecolor=BLACK, label=label)
            for patch in bars.patches:
                patch.set_gid(f"bar-{index}")
            for y, (category, _label), value in zip(ys, categories, values, strict=True):
                row = by_category.get(category)
                if row is not None and row.get("N"):
                    ax.text(value + 1, y, f"{row['n']}/{row['N']} ({row['percent']}%)", va="center", fontsize=9)
        ax.set_yticks([r + bar * (len(series) - 1) / 2 for r in range(rows)])
        ax.set_yticklabels([label for _code, label in categories])
        ax.invert_yaxis()
        ax.set_xlim(0, 125)
        ax.set_xticks([0, 20, 40, 60, 80, 100])
        ax.set_xlabel(x_label)
        ax.legend(loc="lower right", frameon=False)
        return _svg(fig, title, description)


# --- enrolment over time ------------------------------------------------------------------------


def cumulative_lines(
    *,
    series: Sequence[tuple[str, Sequence[tuple[Any, int]]]],
    title: str,
    description: str,
    y_label: str,
    x_label: str,
) -> str:
    """Cumulative counts over calendar dates as steps, one series per (label, [(date, count)]),
    each with its own colour, line style and marker."""
    styles = [(BLUE, "-", "o"), (VERMILION, "--", "s"), (GREEN, ":", "^")]
    with _figure(6.6, 3.8) as fig:
        ax = fig.add_axes((0.11, 0.22, 0.86, 0.72))
        top = 0
        for index, (label, points) in enumerate(series):
            colour, style, marker = styles[index % len(styles)]
            if not points:
                continue
            dates = [d for d, _n in points]
            totals = []
            running = 0
            for _d, n in points:
                running += n
                totals.append(running)
            top = max(top, running)
            ax.step(dates, totals, where="post", color=colour, linestyle=style, linewidth=1.6, label=label)
            ax.plot(dates, totals, linestyle="none", marker=marker, markersize=4, color=colour)
        ax.set_ylim(0, max(1, top) * 1.1)
        ax.set_ylabel(y_label)
        ax.set_xlabel(x_label)
        ax.grid(axis="y", color="#dddddd", linewidth=0.6)
        ax.yaxis.get_major_locator().set_params(integer=True)
        fig.autofmt_xdate()
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", frameon=False)
        else:  # no line (every series empty, a site with no subjects yet): no legend, no dates to mark
            ax.set_xticks([])
        return _svg(fig, title, description)


# --- swimmer plot -------------------------------------------------------------------------------


#: The marks of the swimmer plot: shape tells them apart, colour helps.
MARKS: dict[str, dict[str, Any]] = {
    "cr": {"marker": "o", "markersize": 7, "color": GREEN, "markeredgecolor": BLACK},
    "pr": {"marker": "o", "markersize": 7, "color": "white", "markeredgecolor": GREEN},
    "nr": {"marker": "s", "markersize": 6, "color": "white", "markeredgecolor": BLACK},
    "relapse": {"marker": "X", "markersize": 8, "color": VERMILION, "markeredgecolor": BLACK},
    "hsct": {"marker": "D", "markersize": 6, "color": BLUE, "markeredgecolor": BLACK},
    "death": {"marker": "|", "markersize": 14, "markeredgewidth": 3, "color": BLACK},
    "alive": {"marker": ">", "markersize": 6, "color": GREY},
}


@dataclass(frozen=True)
class Lane:
    """One subject from infusion: follow-up to `end_day` (`died` or alive at last contact) and
    the events on the Day-0 clock."""

    label: str
    end_day: int
    died: bool
    crs: list[tuple[int, int, int]] = field(default_factory=list)  # (onset, last day, grade)
    icans: list[tuple[int, int, int]] = field(default_factory=list)
    responses: list[tuple[int, str]] = field(default_factory=list)  # (day, CR/CRi/PR/NR/PD)
    relapses: list[int] = field(default_factory=list)
    hsct: list[int] = field(default_factory=list)


def swimmer(*, lanes: Sequence[Lane], labels: dict[str, str], title: str, description: str) -> str:
    """Subjects as horizontal lanes from day 0: grey follow-up bar, CRS (orange, ///) and ICANS
    (purple, ...) episodes as bands on the lane, response marks (CR/CRi filled circle, PR open
    circle, NR/PD open square), relapse ×, HSCT diamond, death black bar end, alive → arrow."""
    count = max(1, len(lanes))
    x_max = max([30, *(lane.end_day for lane in lanes)]) * 1.04 + 4
    height = 1.6 + 0.3 * count
    with _figure(7.0, height) as fig:
        ax = fig.add_axes((0.15, 0.6 / height, 0.82, 0.3 * count / height))
        # One artist per kind of mark (not per subject): a page of 50 lanes draws as fast as 5.
        points: dict[str, tuple[list[float], list[float]]] = {key: ([], []) for key in MARKS}
        bands: dict[str, tuple[list[float], list[float], list[float]]] = {"crs": ([], [], []), "icans": ([], [], [])}
        for y, lane in enumerate(lanes):
            for key, episodes, offset in (("crs", lane.crs, -0.13), ("icans", lane.icans, 0.13)):
                for onset, last, _grade in episodes:
                    bands[key][0].append(y + offset)
                    bands[key][1].append(max(last - onset, 0) + 1)
                    bands[key][2].append(onset)
            for day, category in lane.responses:
                key = {"CR": "cr", "CRi": "cr", "PR": "pr", "NR": "nr", "PD": "nr"}.get(category)
                if key:
                    points[key][0].append(day)
                    points[key][1].append(y)
            for key, days in (("relapse", lane.relapses), ("hsct", lane.hsct)):
                points[key][0].extend(days)
                points[key][1].extend([y] * len(days))
            end = "death" if lane.died else "alive"
            points[end][0].append(lane.end_day + (0 if lane.died else 1.5))
            points[end][1].append(y)
        proxies: dict[str, Any] = {}
        if lanes:
            proxies["follow"] = ax.barh(
                list(range(len(lanes))),
                [lane.end_day for lane in lanes],
                height=0.5,
                color="#e6e6e6",
                edgecolor=GREY,
                linewidth=0.5,
            )
        for key, colour, hatch in (("crs", ORANGE, "///"), ("icans", PURPLE, "...")):
            ys, widths, lefts = bands[key]
            if ys:
                proxies[key] = ax.barh(ys, widths, left=lefts, height=0.24, color=colour, hatch=hatch)
        for key, style in MARKS.items():
            xs, ys = points[key]
            if xs:
                proxies[key] = ax.plot(xs, ys, linestyle="none", **style)[0]
        ax.set_yticks(list(range(len(lanes))))
        ax.set_yticklabels([lane.label for lane in lanes])
        ax.set_ylim(count - 0.5, -0.5)
        ax.set_xlim(0, x_max)
        ax.set_xlabel(labels["x"])
        ax.grid(axis="x", color="#eeeeee", linewidth=0.6)
        order = ["follow", "crs", "icans", "cr", "pr", "nr", "relapse", "hsct", "death", "alive"]
        shown = [key for key in order if key in proxies]
        fig.legend(
            [proxies[k] for k in shown],
            [labels[k] for k in shown],
            loc="upper center",
            ncol=4,
            frameon=False,
            fontsize=9,
        )
        return _svg(fig, title, description)
