"""`recon dict test`: every entry's examples through the real engine, not the expression alone.

Each example is a handful of canonical ledger rows (platform, ERP, bank lines, audit events, FX rates)
written in the entry. They go into a fresh in-memory store with lineage, as an importer would leave
them (the import stage itself is the importers' tests' business), and then through exactly what
``recon run`` does after importing: ``recon.api.reconcile`` (universe, every match pass, fee checks,
classification against the whole dictionary under test, so priorities between entries count) and
the conservation proof. An example passes when the entry fires (``fires: true``) or stays silent
(``fires: false``, a near miss), and every line named in ``expect`` ends as stated.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from recon import store
from recon.dictionary import Dictionary, Entry, Example
from recon.engine import conservation
from recon.errors import ReconError
from recon.io import records
from recon.sql.quote import quote_ident

# the column that dates a line in each family, filled from an example row's ``date``
DATE_COLUMN = {"platform": "bill_date", "erp": "bill_date", "bank": "booking_date", "audit": "event_time",
               "fx": "rate_date"}


@dataclass(frozen=True)
class Outcome:
    code: str
    example: str
    where: str
    passed: bool
    problems: tuple


def _day(value) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and value.strip():
        return dt.datetime.fromisoformat(value.strip()).date()
    return None


def _insert(con, ex: Example) -> dict:
    """Write the example's rows into the store with lineage; return label -> line id."""
    labels = {}
    for fam, rows in ex.rows.items():
        if not rows:
            continue
        # the example's rows are kept as a small evidence file, so layer 2 reads them like any line's
        file_id, spans = records.synthetic(con, f"{fam}.example", fam, [list(row.values()) for row in rows])
        con.execute("INSERT INTO run_files SELECT file_id, ?, sha256 FROM source_file WHERE file_id = ?",
                    [f"{fam}.example", file_id])
        for n, row in enumerate(rows):
            fields = {k: v for k, v in row.items() if k not in ("id", "date")}
            label = str(row.get("id", f"{fam[0]}{n + 1}"))
            day = row.get("date")
            if day is not None:
                fields.setdefault(DATE_COLUMN[fam], day)
            fields.setdefault("movement_date", _day(day if day is not None else fields.get(DATE_COLUMN[fam])))
            line_id = store.part_base(file_id, 0, f"{fam}.example") + spans[n][0]
            fields.update({"line_id": line_id, "file_id": file_id, "source_format": "example",
                           "source_name": f"{fam}.example", "source_line": spans[n][0], "natural_key": label,
                           "occurrence": 1, "rec_offset": spans[n][1], "rec_length": spans[n][2]})
            cols = ", ".join(quote_ident(k) for k in fields)
            con.execute(f"INSERT INTO {store.table_of(fam)} ({cols}) VALUES ({', '.join('?' for _ in fields)})",
                        list(fields.values()))
            labels[label] = line_id
    return labels


def run_example(entry: Entry, ex: Example, settings) -> Outcome:
    """One example in a fresh in-memory store through ``recon.api.reconcile`` and the conservation proof."""
    from recon import api

    con = store.connect(":memory:")
    problems = []
    try:
        con.execute(f"CREATE TEMP TABLE {api.RUN_FILES_COLUMNS}")
        labels = _insert(con, ex)
        api.reconcile(con, ex.period, settings)
        conservation.check(con, None, settings.order_tolerances())
        got = {lid: (st, code, expl) for lid, st, code, expl in con.execute(
            "SELECT line_id, status, code, explanation FROM result ORDER BY line_id").fetchall()}
    except ReconError as exc:
        return Outcome(entry.code, ex.name, ex.where, False, (f"the engine refused the example: {exc}",))
    finally:
        con.close()
    fired = [lid for lid, (_, code, _) in got.items() if code == entry.code]
    if ex.fires and not fired:
        problems.append(f"{entry.code} did not fire")
    if not ex.fires and fired:
        named = {lid: label for label, lid in labels.items()}
        problems.append(f"{entry.code} fired on {', '.join(sorted(named[f] for f in fired))} (a near miss must not)")
    for label, want in sorted(ex.expect.items()):
        status, _, code = want.partition(":")
        code = code or (entry.code if status == "known" else "")
        st, have_code, expl = got.get(labels.get(label), (None, None, None))
        if st != status or (code and have_code != code):
            shown = f"{st}:{have_code}" if have_code else str(st)
            problems.append(f"{label}: expected {status}{':' + code if code else ''}, got {shown} ({expl})")
    return Outcome(entry.code, ex.name, ex.where, not problems, tuple(problems))


def run_all(d: Dictionary, settings, codes=None) -> list[Outcome]:
    """Every example of every entry (or of ``codes``), classified against the whole dictionary ``d``."""
    settings = replace(settings, dictionary=d)
    out = []
    for entry in sorted(d.entries, key=lambda e: e.code):
        if codes and entry.code not in codes:
            continue
        if not entry.examples:
            out.append(Outcome(entry.code, "(none)", entry.where, False,
                               ("no examples: give one that must fire and one near miss that must not",)))
        for ex in entry.examples:
            out.append(run_example(entry, ex, settings))
    return out
