"""Inline SVG charts for the HTML report, drawn by pygal and made safe to paste into one offline file.

pygal is used rather than hand-drawn markup, but three of its defaults do not fit a report that must
open offline, contain no script and be byte-identical for the same store: it links a tooltip script
from kozea.github.io (``js=[]`` removes it), it writes an inline ``<script>`` holding its whole
config (removed: the report runs no script at all, and that config would echo input text into a
script), and it stamps a random chart id and today's date into the SVG (the id is set from the
chart's name, the comments are dropped).

Every bar carries ``data-mark="<chart name>"`` and ``data-key="<category>"``, the stable handles the
browser test counts. Bar lengths are floats (geometry only); the value printed on each bar is the
exact Decimal text, passed through a per-value formatter, so no money figure is ever rounded through
a float.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from decimal import Decimal

import pygal
from pygal.style import Style

# Chinese glyphs render in the browser only with a CJK font; Debian's fonts-wqy-microhei is what
# scripts/test installs beside chromium, the others cover desktops.
FONTS = "'WenQuanYi Micro Hei','Noto Sans CJK SC','Microsoft YaHei','PingFang SC',sans-serif"

_STYLE = Style(
    font_family=FONTS, label_font_family=FONTS, major_label_font_family=FONTS, value_font_family=FONTS,
    value_label_font_family=FONTS, title_font_family=FONTS, legend_font_family=FONTS,
    tooltip_font_family=FONTS, no_data_font_family=FONTS,
    background="white", plot_background="white", value_font_size=11, label_font_size=11,
    major_label_font_size=11, title_font_size=13,
    colors=("#3b6ea8",), value_colors=("#1a1a1a",),
)


@dataclass(frozen=True)
class Bar:
    """One category of a bar chart: its key (the code or channel), the label shown, and its value."""

    key: str
    label: str
    value: Decimal


def bar_chart(name: str, title: str, bars: list[Bar], money: bool) -> str:
    """An inline horizontal bar chart as SVG text: one bar (mark) per element of ``bars``, in that order.

    ``name`` is a fixed identifier (never input text); it becomes the SVG id and each bar's data-mark.
    Labels and keys are input text: ElementTree escapes them on serialisation.
    """
    chart = pygal.HorizontalBar(
        style=_STYLE, js=[], show_legend=False, print_values=True, disable_xml_declaration=True,
        width=640, height=90 + 34 * max(len(bars), 1), title=title, truncate_label=28, margin=12,
        print_values_position="top", x_label_rotation=0, show_x_guides=False, show_y_guides=True)
    chart.uuid = name
    # pygal draws the first value at the bottom; reversing keeps the largest bar on top.
    ordered = list(reversed(bars))
    chart.x_labels = [b.label for b in ordered]
    chart.add(title, [{
        # the float is only the bar's length on screen; the label printed is the exact Decimal text
        "value": float(b.value),
        "formatter": (lambda _v, text=(f"{b.value:,.2f}" if money else f"{b.value:,}"): text),
        "node": {"data-mark": name, "data-key": b.key},
    } for b in ordered])
    return _clean(chart.render_tree())


def _clean(root: ET.Element) -> str:
    """Drop pygal's comments (they carry today's date) and script elements, then serialise."""
    for parent in root.iter():
        for child in list(parent):
            if child.tag is ET.Comment or _local(child.tag) == "script":
                parent.remove(child)
    return ET.tostring(root, encoding="unicode", short_empty_elements=True)


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""
