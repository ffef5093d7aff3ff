"""Inline SVG charts for the HTML report, drawn by pygal and made safe to paste into one offline file.

pygal is used rather than hand-drawn markup, but three of its defaults do not fit a report that must
open offline, contain no script and be byte-identical for the same store: it links a tooltip script
from kozea.github.io (``js=[]`` removes it), it writes an inline ``<script>`` holding its whole
config (removed: the report runs no script at all, and that config would echo input text into a
script), and it stamps a random chart id and today's date into the SVG (the id is set from the
chart's name, the comments are dropped).

Every bar carries ``data-mark="<chart name>"`` and ``data-key="<category>"``, the stable handles the
browser test counts. Bar lengths are floats (geometry only); the value printed beside each bar is the
exact Decimal text, so no money figure is ever rounded through a float.

Value labels: pygal centres a printed value on the bar's end, so a short bar's label sits across the
bar and a long bar's runs over it. recon writes each label itself instead, just right of its bar's
end (``data-label`` = the bar's key), and widens the value axis by ``HEADROOM`` so the longest bar
leaves room for its label inside the plot. The browser test checks no label overlaps its bar.
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


HEADROOM = 1.35  # the value axis runs to this many times the largest value: room for the longest bar's label
LABEL_GAP = 4  # pixels between a bar's end and its value label


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
    peak = max((float(b.value) for b in bars), default=0.0)
    chart = pygal.HorizontalBar(
        style=_STYLE, js=[], show_legend=False, print_values=False, disable_xml_declaration=True,
        width=640, height=90 + 34 * max(len(bars), 1), title=title, truncate_label=28, margin=12,
        x_label_rotation=0, show_x_guides=False, show_y_guides=True, range=(0, (peak or 1.0) * HEADROOM))
    chart.uuid = name
    # pygal draws the first value at the bottom; reversing keeps the largest bar on top.
    ordered = list(reversed(bars))
    chart.x_labels = [b.label for b in ordered]
    chart.add(title, [{
        # the float is only the bar's length on screen; the label printed is the exact Decimal text
        "value": float(b.value),
        "node": {"data-mark": name, "data-key": b.key},
    } for b in ordered])
    root = chart.render_tree()
    _label_bars(root, {b.key: (f"{b.value:,.2f}" if money else f"{b.value:,}") for b in ordered})
    return _clean(root)


def _label_bars(root: ET.Element, texts: dict) -> None:
    """Each bar's value as a text just right of the bar's end, vertically centred on it."""
    for group in root.iter():
        for rect in [c for c in group if _local(c.tag) == "rect" and c.get("data-key") in texts]:
            x, y = float(rect.get("x")) + float(rect.get("width")), float(rect.get("y")) + float(rect.get("height")) / 2
            label = ET.SubElement(group, _qualified(rect.tag, "text"), {
                "x": f"{x + LABEL_GAP:.2f}", "y": f"{y:.2f}", "text-anchor": "start", "dominant-baseline": "central",
                "class": "value-label", "data-label": rect.get("data-key"), "fill": _STYLE.value_colors[0],
                "font-size": str(_STYLE.value_font_size), "font-family": FONTS})
            label.text = texts[rect.get("data-key")]


def _qualified(tag: str, name: str) -> str:
    """``name`` in the namespace of ``tag`` (pygal's tree is in the SVG namespace)."""
    return tag[:tag.index("}") + 1] + name if tag.startswith("{") else name


def _clean(root: ET.Element) -> str:
    """Drop pygal's comments (they carry today's date) and script elements, then serialise."""
    for parent in root.iter():
        for child in list(parent):
            if child.tag is ET.Comment or _local(child.tag) == "script":
                parent.remove(child)
    return ET.tostring(root, encoding="unicode", short_empty_elements=True)


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""
