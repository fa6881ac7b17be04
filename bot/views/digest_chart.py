"""The digest's trend chart: weekly reports of the biggest product areas over the last 8 weeks, as a PNG
readable at Slack's preview size (large type, thick lines, direct legend), and its alt text.

Drawn with matplotlib's object API on the Agg canvas: no display, no global pyplot state, safe in a
worker thread. Pure: a Trend in, bytes out.
"""

from __future__ import annotations

import io
from zoneinfo import ZoneInfo

from bot.domain.digest import Trend

ALT_TEXT_MAX = 1000  # Slack's limit for a file's alt_txt
# Colour-blind-safe (Okabe-Ito), in the order the series are drawn.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")


def _week_labels(trend: Trend, zone: ZoneInfo) -> list[str]:
    return [f"{start.astimezone(zone):%-d %b}" for start in trend.week_starts]


def render_trend_png(trend: Trend, zone: ZoneInfo) -> bytes:
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    labels = _week_labels(trend, zone)
    figure = Figure(figsize=(9, 5), dpi=110)
    axes = figure.subplots()
    for index, (area, counts) in enumerate(trend.series):
        axes.plot(
            range(len(counts)),
            counts,
            label=area[:40],
            color=PALETTE[index % len(PALETTE)],
            linewidth=3,
            marker="o",
            markersize=6,
        )
    axes.set_xticks(range(len(labels)), labels, fontsize=12)
    axes.tick_params(axis="y", labelsize=12)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylim(bottom=0)
    axes.set_ylabel("reports per week", fontsize=13)
    axes.set_title("New customer issues per week, biggest product areas", fontsize=15, loc="left", pad=12)
    axes.grid(axis="y", alpha=0.3)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.legend(fontsize=12, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight", facecolor="white")
    return buffer.getvalue()


def alt_text(trend: Trend, zone: ZoneInfo) -> str:
    labels = _week_labels(trend, zone)
    head = (
        f"Line chart of new customer issues per week for the {len(trend.series)} biggest product areas, "
        f"weeks starting {labels[0]} to {labels[-1]}. "
    )
    series = "; ".join(f"{area}: {', '.join(str(n) for n in counts)}" for area, counts in trend.series)
    text = head + series + "."
    return text if len(text) <= ALT_TEXT_MAX else text[: ALT_TEXT_MAX - 1] + "…"
