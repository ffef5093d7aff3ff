"""The auditor pack: one run's evidence in one self-contained, deterministic zip.

Why: an auditor takes the evidence away and checks it without recon's store. ``recon pack --run R
--out FILE.zip`` renders everything from the store (as ``recon report``/``recon vouchers`` do):
the run's manifest, its input files' hashes, the raw records (read back from the evidence store) of
every unknown, review, known and decided line and of the lines behind its prior-period adjustments,
results, vouchers and voucher sources, the reconciliation statement, the offline HTML report, the
decisions with who/when/why, the run log up to the run, a README and ``SHA256SUMS`` (``sha256sum -c``
reads it after unzipping).

Deterministic: members are written sorted by name with a fixed time stamp, mode and compression,
so the same run gives the same bytes. Bounded memory: each member is rendered into a temp folder
and streamed into the zip; raw records are read back a bounded batch of lines at a time.

``recon.pack_check`` re-checks a pack without the store.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import zipfile
from pathlib import Path

from recon import runlog, tempfiles
from recon.engine import decisions, ledger, open_items, outcome
from recon.errors import ReconError
from recon.io import records
from recon.report import statement
from recon.report.cells import neutralise
from recon.report.results import RESULT_COLUMNS, _copy_with_bom
from recon.sql.neutralise import NEUTRALISE_MACRO

STAMP = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can say: no clock in the bytes
MODE = 0o644 << 16
SUMS = "SHA256SUMS"
BATCH = 20_000  # lines whose raw records are read back at once
EVIDENCE_STATUSES = ("unknown", "review", "known")
_TEXT = {"source_file", "source_sheet", "channel", "account", "order_no", "line_type", "currency", "code",
         "match_group", "explanation"}


# ---------------------------------------------------------------- writing


def write(con, run_id, out: Path, chart=None, lang: str = "zh", top: int = 50) -> dict:
    """Write the pack of ``run_id`` to ``out`` (replaced whole, never half-written); return what it holds."""
    from recon.report.html import write_report
    from recon.report.runs import require_run
    from recon.report.vouchers import write_vouchers

    run = require_run(con, run_id)
    run_id = run["run_id"]
    out = Path(out)
    folder = tempfiles.scratch_dir("pack")  # a killed pack's folder is removed by the next recon run
    try:
        manifest_json = con.execute("SELECT manifest_json FROM run WHERE run_id = ?", [run_id]).fetchone()[0]
        if not manifest_json:
            raise ReconError(f"run {run_id} was interrupted before it was recorded whole: it has no manifest "
                             "to pack; pack a finished run (`recon runs` lists them)")
        (folder / "manifest.json").write_bytes(manifest_json.encode("utf-8"))
        manifest = json.loads(manifest_json)
        ledger.ensure(con)
        con.execute(NEUTRALISE_MACRO)
        _inputs(con, run_id, folder / "inputs.csv")
        _results(con, run_id, folder / "results.csv")
        _evidence(con, run_id, folder / "evidence.csv")
        write_vouchers(con, run_id, folder, "generic", chart)
        write_report(con, run_id, folder / "report.html", lang=lang, top=top, accounts=chart)
        statement.write_csv(manifest, folder)
        _decisions(con, run_id, manifest, folder / "decisions.csv")
        head = _chain(con, run_id, folder / "runlog.jsonl")
        (folder / "README.md").write_text(_readme(run_id, manifest, head), encoding="utf-8")
        names = sorted(p.name for p in folder.iterdir())
        sums = "".join(f"{_sha256_path(folder / n)}  {n}\n" for n in names)
        (folder / SUMS).write_text(sums, encoding="utf-8")
        build(folder, sorted(names + [SUMS]), out)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"run_id": run_id, "out": str(out), "members": sorted(names + [SUMS]), "chain_head": head}


def build(folder: Path, names: list[str], out: Path) -> None:
    """Zip ``names`` from ``folder`` into ``out`` the one way recon does: sorted, fixed stamp and mode,
    deflated, each streamed; written beside ``out`` and renamed into place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name in sorted(names):
                info = _info(name, (folder / name).stat().st_size)
                with open(folder / name, "rb") as src, zf.open(info, "w") as dst:
                    shutil.copyfileobj(src, dst, 1024 * 1024)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _info(name: str, size: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=STAMP)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3
    info.external_attr = MODE
    info.file_size = size  # tells zipfile ahead whether the member needs ZIP64
    return info


def _sha256_path(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1024 * 1024):
            h.update(chunk)
    return h.hexdigest()


def _inputs(con, run_id, path: Path) -> None:
    _copy_with_bom(con, """SELECT r_safe(rf.rel_path) AS path, r_safe(f.original_name) AS original_name,
            rf.sha256 AS sha256, f.size_bytes
        FROM run_file rf LEFT JOIN source_file f USING (file_id) WHERE rf.run_id = $r ORDER BY 1, 3""",
                   path, {"r": run_id})


def _results(con, run_id, path: Path) -> None:
    """results.csv of the run, from its recorded outcome (``line_result``) and the lines' provenance."""
    cols = {"source": "l.source", "source_file": "l.source_name", "source_line": "l.source_line",
            "source_sheet": "l.source_sheet", "channel": "r.channel", "status": "r.status", "code": "r.code",
            "match_group": "r.match_group", "explanation": "r.explanation", "finding": "r.finding"}
    inner = ", ".join(f"{cols.get(c, 'l.' + c)} AS {c}" for c in RESULT_COLUMNS)
    outer = ", ".join(f"r_safe({c}) AS {c}" if c in _TEXT else c for c in RESULT_COLUMNS)
    # the open items' columns as the run recorded them (recon.engine.open_items), last as in results.csv
    opened = ", ".join(open_items.CSV_COLUMNS)
    _copy_with_bom(con, f"""SELECT {outer}, {opened} FROM (SELECT {inner}, {open_items.CSV_SELECT} FROM line_result r
            JOIN ledger_line l USING (line_id)
            LEFT JOIN open_item_state o ON o.run_id = r.run_id AND o.line_id = r.line_id
            WHERE r.run_id = $r) ORDER BY {outcome.ORDER}""", path, {"r": run_id})


def _evidence(con, run_id, path: Path) -> None:
    """evidence.csv: the raw record of every unknown, review, known or decided line, as the import read it,
    and of every line behind the run's prior-period adjustments (status ``prior_period``, the adjustment's
    code): those lines are dated in a closed period, so the run has no result for them, yet its vouchers
    correct that period on their evidence."""
    con.execute("""CREATE OR REPLACE TEMP TABLE pack_lines AS
        SELECT r.line_id, l.file_id, r.status, r.code FROM line_result r JOIN ledger_line l USING (line_id)
        WHERE r.run_id = $r AND (r.status IN (SELECT unnest($s)) OR starts_with(coalesce(r.code, ''), 'decision:'))
        UNION
        SELECT t.line_id, l.file_id, 'prior_period' AS status, k.code
        FROM known_case k JOIN prior_period_case p ON p.run_id = k.run_id AND p.case_id = k.case_id,
             unnest(k.line_ids) AS t(line_id)
        JOIN ledger_line l ON l.line_id = t.line_id
        WHERE k.run_id = $r AND t.line_id NOT IN (SELECT line_id FROM line_result WHERE run_id = $r)""",
                {"r": run_id, "s": list(EVIDENCE_STATUSES)})
    con.execute("CREATE OR REPLACE TEMP TABLE pack_raw (line_id BIGINT, raw VARCHAR[])")
    files = [f for (f,) in con.execute("SELECT DISTINCT file_id FROM pack_lines ORDER BY 1").fetchall()]
    for file_id in files:  # one evidence file read per batch, each batch a bounded set of lines
        count = con.execute("SELECT count(DISTINCT line_id) FROM pack_lines WHERE file_id = ?",
                            [file_id]).fetchone()[0]
        for offset in range(0, count, BATCH):
            con.execute("CREATE OR REPLACE TEMP TABLE pack_batch AS SELECT DISTINCT line_id FROM pack_lines "
                        "WHERE file_id = ? ORDER BY line_id LIMIT ? OFFSET ?", [file_id, BATCH, offset])
            records.raw_cells(con, "pack_batch", "pack_batch_raw")
            con.execute("INSERT INTO pack_raw SELECT line_id, raw FROM pack_batch_raw")
    _copy_with_bom(con, f"""SELECT source, r_safe(source_file) AS source_file, source_line,
            r_safe(source_sheet) AS source_sheet, file_sha256, status, r_safe(code) AS code, raw_record
        FROM (SELECT l.source, l.source_name AS source_file, l.source_line, l.source_sheet,
                     sf.sha256 AS file_sha256, x.status, x.code,
                     CAST(to_json(p.raw) AS VARCHAR) AS raw_record
              FROM pack_raw p JOIN ledger_line l ON l.line_id = p.line_id
              JOIN source_file sf ON sf.file_id = l.file_id
              JOIN pack_lines x ON x.line_id = l.line_id)
        ORDER BY {outcome.ORDER}, status, code NULLS FIRST""", path)


def _decisions(con, run_id, manifest: dict, path: Path) -> None:
    """decisions.csv: the decisions the run applied or found stale, with who/when/why."""
    rows = decisions.for_run(con, run_id, manifest)
    columns = ("decision_id", "state", "kind", "created_at", "created_by", "reason", "lines", "refs", "why_stale")
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(columns)
        for d in rows:
            w.writerow([neutralise(" ".join(d[c]) if c == "refs" else d[c]) if isinstance(d[c], (str, list))
                        else d[c] for c in columns])


def _chain(con, run_id, path: Path) -> str | None:
    """runlog.jsonl: the run log from its start up to this run's last event; returns its head hash."""
    upto = runlog.seq_of_run(con, run_id)
    if upto is None:  # a run recorded before the store kept a log: the log's start event holds it, if any
        upto = 1
    head = None
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for e in runlog.events(con, upto):
            f.write(runlog.canonical(e) + "\n")
            head = e["hash"]
    return head


def _readme(run_id, manifest: dict, head: str | None) -> str:
    return f"""# Auditor pack of reconciliation run {run_id}

Period {manifest.get('period')}, started {manifest.get('started_at')}, exit code {manifest.get('exit_code')},
written by recon {manifest.get('version')}. Every file here was rendered from the recon store; nothing
in it depends on the store to be checked.

| file | what it is |
|---|---|
| manifest.json | the run's manifest as the store recorded it: inputs, rules and dictionary hashes, control totals |
| inputs.csv | every input file of the run with its SHA-256 and size |
| evidence.csv | the raw record (cells as the import read them) of every unknown, review, known and decided \
line, and of every line behind a prior-period adjustment (status `prior_period`: dated in a closed period, so not \
in results.csv) |
| results.csv | every ledger line of the run with its status, code, explanation and finding (the engine's reason as codes) |
| vouchers.csv, voucher_sources.csv | the adjustment vouchers and the source lines each corrects |
| reconciliation_statement.csv | the reconciliation statement (余额调节表) per channel and currency: each \
step's balance, the codes that explain its gap and the unexplained remainder |
| report.html | the offline root-cause report (open it in a browser; it loads nothing from the network) |
| decisions.csv | the manual decisions the run applied or found stale: who, when, why |
| decision_sources.csv | every line a manual decision settled, with the decision's id, who, when and why |
| runlog.jsonl | the run log (one event a line) from its start up to this run |
| SHA256SUMS | the SHA-256 of every other file |

## How to check it

1. `recon verify --pack THIS.zip` re-checks every hash, the run log's links, and that manifest.json
   and inputs.csv are what the log recorded for this run; it exits 1 naming what differs.
2. Without recon: unzip, then `sha256sum -c SHA256SUMS`. Each line of runlog.jsonl is an event; its
   `hash` is the SHA-256 of the JSON array `[seq, kind, logged_at, prev_hash, payload_json]` written
   with sorted keys and no spaces (UTF-8), and its `prev_hash` is the hash of the line before it.
3. Ask the company for the head of its run log (`recon verify` prints it) and compare it with the
   last hash of this pack's run log: {head or '(the store kept no run log when this run was made)'}.
4. An input file's SHA-256 in inputs.csv can be checked against the original download with any
   SHA-256 tool; each evidence.csv row names the file (file_sha256) and line it came from.
"""
