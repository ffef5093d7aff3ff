"""The run's totals per status as one CNY figure, at the FX file's rates, where that means something.

Totals stay per currency everywhere (a dollar is never added into yuan). A clerk closing a month in
yuan still wants one figure for "how much is unknown": this gives it, labelled as what it is, a CNY
equivalent at the rates of the FX file the run loaded (table ``fx_rate``: CNY per unit, by day).

Rules:
- CNY lines count as they are; a line in another currency is converted at that currency's rate on
  the line's own money-movement date: each day's total per currency is converted exactly and rounded
  to 0.01 once (the same rate for every line of that day, so no rounding is spread over lines).
- No rate for a currency on a date (a weekend, a day the FX file does not cover, a currency it does
  not quote, a line without a currency) is never guessed from another day: the status's equivalent
  is then absent and the missing (currency, date, lines) are listed instead.
- Only computed when the run holds a line not in CNY; otherwise the per-currency total is the figure.

The block goes into the manifest (``cny_equivalent``) and the console, report.html and recon.xlsx
show it from there.
"""

from __future__ import annotations

from decimal import Decimal

from recon.engine.steps import Step, runner

LOCAL = "CNY"
LABEL = {"zh": "折合人民币（按 FX 文件汇率）", "en": "CNY equivalent at the FX file's rates"}
BASIS = ("CNY lines as they are; other currencies at the FX file's rate (fx_rate, CNY per unit) on each "
         "line's money-movement date, each day's total per currency converted and rounded to 0.01; "
         "a missing rate is listed, never guessed")

# rates: one per (day, currency), as the FX_RATE_DATE case reads them (recon.engine.cases)
_SQL = """
WITH rates AS (SELECT rate_date, currency, any_value(rate ORDER BY line_id) AS rate FROM fx_rate
               WHERE superseded_by IS NULL AND rate IS NOT NULL GROUP BY ALL),
days AS (SELECT r.status, u.currency, CASE WHEN u.currency = 'CNY' THEN NULL ELSE u.movement_date END AS d,
                count(*) AS n, sum(u.amount) AS amount
         FROM result r JOIN universe u USING (line_id) GROUP BY ALL)
SELECT d.status, d.currency, d.d, d.n,
       CASE WHEN d.currency = 'CNY' THEN d.amount ELSE round(d.amount * x.rate, 2) END AS cny
FROM days d LEFT JOIN rates x ON d.currency <> 'CNY' AND x.currency = d.currency AND x.rate_date = d.d
ORDER BY d.status, d.currency NULLS FIRST, d.d NULLS FIRST
"""


def needed(control_totals: dict) -> bool:
    """Whether the run holds a line not in CNY (its control totals name another currency)."""
    return any(cur != LOCAL for t in control_totals.values() for b in t.values() if isinstance(b, dict)
               for cur in (b.get("by_currency") or {}))


def by_status(con, control_totals: dict) -> dict | None:
    """The manifest's ``cny_equivalent`` block, or None when every line of the run is in CNY.

    ``con``: the run's connection or Runner, with ``result`` and ``universe`` in place.
    """
    if not needed(control_totals):
        return None
    out: dict = {}
    for status, currency, day, n, cny in runner(con).fetch(Step("cny.by_status", _SQL)):
        s = out.setdefault(status, {"cny": Decimal("0"), "missing": []})
        if cny is None:
            s["missing"].append({"currency": currency or "?", "date": day.isoformat() if day else None, "lines": n})
        else:
            s["cny"] += cny
    for s in out.values():
        s["cny"] = None if s["missing"] else str(s["cny"])
    return {"label": LABEL, "basis": BASIS, "by_status": out}


def missing_text(missing: list, lang: str = "zh") -> str:
    """``没有 USD 2026-01-17 的汇率（2 行）`` / ``no USD rate for 2026-01-17 (2 lines)``."""
    if lang == "zh":
        return "；".join(f"FX 文件没有 {m['currency']} {m['date'] or '（无日期）'} 的汇率（{m['lines']} 行）"
                        for m in missing)
    return "; ".join(f"no {m['currency']} rate for {m['date'] or 'an undated line'} in the FX file "
                     f"({m['lines']} line{'s' * (m['lines'] != 1)})" for m in missing)
