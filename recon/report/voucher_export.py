"""Which vouchers were handed to the ERP (`recon vouchers`), and what changed about them since.

Why: a voucher imported into the ERP is posted. Its number never changes (``recon.engine.voucher_numbers``),
but a later night may find more or fewer cases behind it, or none. Re-exporting it then would post a
second, different voucher under the same number, so the change is never silent: each export is kept
(``voucher_export``: export number, run, voucher number and key, total, when), and the next export of
the period compares against the last export of each number:

- ``changed``: a voucher exported before whose total differs now (post the difference, or reverse
  and re-post);
- ``withdrawn``: a voucher exported before that the run no longer has (its cases are gone: reverse it).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

# The last export of each voucher number of the given periods.
_LAST_SQL = """
SELECT number, period, code, channel, adjusts, total, export_no, run_id, exported_at FROM voucher_export
WHERE period IN (SELECT unnest($periods))
QUALIFY row_number() OVER (PARTITION BY number ORDER BY export_no DESC) = 1
ORDER BY number
"""


def compare(con, vouchers, periods) -> dict:
    """What differs between ``vouchers`` (a run's, about to be exported) and the last export of each
    number in ``periods``: {"changed": [...], "withdrawn": [...]}, each item naming the voucher, its last
    export (number, run, when) and the totals."""
    now = {v.number: v for v in vouchers}
    changed, withdrawn = [], []
    for number, period, code, channel, adjusts, total, export_no, run_id, at in con.execute(
            _LAST_SQL, {"periods": sorted(periods)}).fetchall():
        was = {"number": number, "code": code, "channel": channel, "adjusts": adjusts, "exported_total": str(total),
               "export_no": export_no, "exported_run": run_id, "exported_at": at.isoformat(sep=" ")}
        if number not in now:
            withdrawn.append(was)
        elif now[number].total != Decimal(total):
            changed.append({**was, "total": str(now[number].total)})
    return {"changed": changed, "withdrawn": withdrawn}


def mark(con, run_id: str, vouchers) -> int:
    """Record that ``vouchers`` of ``run_id`` were exported now; returns the export's number."""
    export_no = con.execute("SELECT coalesce(max(export_no), 0) + 1 FROM voucher_export").fetchone()[0]
    at = dt.datetime.now().replace(microsecond=0)
    rows = [[export_no, run_id, v.number, v.period, v.code, v.channel, v.adjusts, v.total, at] for v in vouchers]
    if rows:
        con.executemany("INSERT INTO voucher_export VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return export_no
