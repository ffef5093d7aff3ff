"""The canonical DuckDB store: one table per ledger family, every line with its provenance.

Every line table carries the same lineage columns (``LINEAGE``): the line's and the file's integer
ids (see "lineage ids" below; the file's SHA-256 is ``source_file.sha256``), the format that
read it, the file name, the 1-based physical line (Excel row for XLSX, ``Ntry`` index for CAMT,
the ``:61:`` line for MT940), the sheet or zip member, the natural key used for de-duplication
with its occurrence index, and where the line's record sits in the file.

The raw records themselves are not in the store. The downloaded file's exact bytes are kept once,
beside it, in the evidence folder (``<db>.evidence/<sha[:2]>/<sha256>``, ``recon.evidence``), and
a line points into them: ``rec_offset``/``rec_length`` are its record's bytes in its part (a zip
member's bytes for a zip) where those are exact, else NULL and the part is read again
(``recon.io.records``). ``source_part`` holds, once per file part, the header that names the
cells and how the part was read (reader, encoding, delimiter, width and row repairs), so a record
read back equals what the import read. Keeping the cells as a ``VARCHAR[]`` per line (schema
version 1) cost most of an import at scale; a version-1 store is refused by ``connect`` (it holds
no downloaded files to point into), and so is a version-2 store (its ids were SHA-256 and MD5 strings).

Money is DECIMAL(18,2), signed from the company's side (+ money in, - money out); WeChat's
5-decimal fee is kept beside it in ``fee_precise``. Times are TIMESTAMP holding the Asia/Shanghai
wall clock (all Chinese sources are UTC+08:00; CAMT times are converted on import).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import duckdb

from recon import tempfiles
from recon.errors import ReconError

SCHEMA_VERSION = 3

LINEAGE = """
    line_id BIGINT NOT NULL,
    file_id BIGINT NOT NULL,
    source_format VARCHAR NOT NULL,
    source_name VARCHAR NOT NULL,
    source_line INTEGER NOT NULL,
    source_sheet VARCHAR,
    natural_key VARCHAR NOT NULL,
    occurrence INTEGER NOT NULL,
    movement_date DATE,
    id_problem VARCHAR,
    rec_offset BIGINT,
    rec_length INTEGER,
    doc_key VARCHAR,
    superseded_by BIGINT
"""

# Canonical fields per family: (name, SQL type). ``related_txn_no`` on a fund-bill line is the
# platform transaction it records (WeChat 微信支付业务单号, Alipay 业务流水号), for the trade↔fund leg. The profile mapping layer fills these; anything a
# profile does not map is NULL. Order matters only for readability.
PLATFORM_FIELDS = [
    ("channel", "VARCHAR"), ("account", "VARCHAR"), ("record_kind", "VARCHAR"),
    ("event_time", "TIMESTAMP"), ("order_time", "TIMESTAMP"), ("bill_date", "DATE"),
    ("platform_txn_no", "VARCHAR"), ("merchant_order_no", "VARCHAR"), ("order_no", "VARCHAR"),
    ("sub_order_no", "VARCHAR"), ("refund_no", "VARCHAR"), ("merchant_refund_no", "VARCHAR"),
    ("payout_ref", "VARCHAR"), ("related_txn_no", "VARCHAR"), ("line_type", "VARCHAR"), ("raw_type", "VARCHAR"),
    ("raw_desc", "VARCHAR"), ("currency", "VARCHAR"), ("amount", "DECIMAL(18,2)"),
    ("fee_amount", "DECIMAL(18,2)"), ("fee_precise", "DECIMAL(18,5)"),
    ("subsidy_amount", "DECIMAL(18,2)"), ("gross_amount", "DECIMAL(18,2)"),
    ("balance_after", "DECIMAL(18,2)"), ("counterparty", "VARCHAR"), ("status", "VARCHAR"),
]
ERP_FIELDS = [
    ("erp_system", "VARCHAR"), ("bill_no", "VARCHAR"), ("bill_date", "DATE"),
    ("bill_type", "VARCHAR"), ("line_type", "VARCHAR"), ("customer", "VARCHAR"),
    ("channel", "VARCHAR"), ("account", "VARCHAR"), ("currency", "VARCHAR"),
    ("exchange_rate", "DECIMAL(18,6)"), ("amount", "DECIMAL(18,2)"),
    ("tax_amount", "DECIMAL(18,2)"), ("amount_local", "DECIMAL(18,2)"),
    ("settled_amount", "DECIMAL(18,2)"), ("open_amount", "DECIMAL(18,2)"),
    ("status", "VARCHAR"), ("order_no", "VARCHAR"), ("summary", "VARCHAR"),
]
BANK_FIELDS = [
    ("bank_code", "VARCHAR"), ("account", "VARCHAR"), ("account_name", "VARCHAR"),
    ("currency", "VARCHAR"), ("booking_date", "DATE"), ("value_date", "DATE"),
    ("txn_time", "TIMESTAMP"), ("amount", "DECIMAL(18,2)"), ("balance_after", "DECIMAL(18,2)"),
    ("counterparty_name", "VARCHAR"), ("counterparty_account", "VARCHAR"),
    ("summary", "VARCHAR"), ("purpose", "VARCHAR"), ("bank_ref", "VARCHAR"),
    ("customer_ref", "VARCHAR"), ("reversal_flag", "VARCHAR"), ("txn_type", "VARCHAR"),
    ("line_type", "VARCHAR"), ("order_no", "VARCHAR"),
]
AUDIT_FIELDS = [
    ("channel", "VARCHAR"), ("order_no", "VARCHAR"), ("after_sale_no", "VARCHAR"),
    ("event_time", "TIMESTAMP"), ("event", "VARCHAR"), ("old_status", "VARCHAR"),
    ("new_status", "VARCHAR"), ("operator", "VARCHAR"), ("remark", "VARCHAR"),
]
FX_FIELDS = [
    ("rate_date", "DATE"), ("currency", "VARCHAR"), ("mid_rate", "DECIMAL(18,6)"),
    ("unit", "INTEGER"), ("rate", "DECIMAL(18,8)"),
]

FAMILIES = {
    # family -> (table, fields, the column whose date places a line in a period)
    "platform": ("platform_line", PLATFORM_FIELDS, "coalesce(bill_date, CAST(event_time AS DATE))"),
    "erp": ("erp_line", ERP_FIELDS, "bill_date"),
    "bank": ("bank_line", BANK_FIELDS, "booking_date"),
    "audit": ("audit_event", AUDIT_FIELDS, "CAST(event_time AS DATE)"),
    "fx": ("fx_rate", FX_FIELDS, "rate_date"),
}

# Families whose lines are ledger lines (they appear in results.csv); the others are evidence.
LEDGER_FAMILIES = ("platform", "erp", "bank")


def _table_ddl(table: str, fields) -> str:
    cols = ",\n    ".join(f"{name} {typ}" for name, typ in fields)
    return f"CREATE TABLE IF NOT EXISTS {table} ({LINEAGE},\n    {cols}\n)"


DDL = [
    """CREATE TABLE IF NOT EXISTS store_meta (key VARCHAR PRIMARY KEY, value VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS source_file (
        file_id BIGINT PRIMARY KEY,
        sha256 VARCHAR NOT NULL UNIQUE,
        original_name VARCHAR NOT NULL,
        original_path VARCHAR NOT NULL,
        size_bytes BIGINT NOT NULL,
        container VARCHAR NOT NULL,
        formats VARCHAR[] NOT NULL,
        encoding VARCHAR,
        data_lines INTEGER NOT NULL,
        loaded INTEGER NOT NULL,
        duplicates INTEGER NOT NULL,
        quarantined INTEGER NOT NULL,
        period_start TIMESTAMP,
        period_end TIMESTAMP,
        account VARCHAR,
        imported_at TIMESTAMP NOT NULL,
        report_json VARCHAR NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS source_part (
        file_id BIGINT NOT NULL,
        part VARCHAR NOT NULL,
        format VARCHAR NOT NULL,
        family VARCHAR NOT NULL,
        header_line INTEGER,
        header VARCHAR[] NOT NULL,
        preamble VARCHAR[] NOT NULL,
        footer VARCHAR[] NOT NULL,
        -- how the part was read, so its records can be read back (recon.io.records): reader is text,
        -- sheet or a parser name; width and the repairs are those of tabular.shape; col_shift the
        -- alignment of a continued sheet (NULL: not one)
        reader VARCHAR,
        encoding VARCHAR,
        delimiter VARCHAR,
        width INTEGER,
        merge_at INTEGER,
        pad_short BOOLEAN,
        col_shift INTEGER,
        PRIMARY KEY (file_id, part)
    )""",
    """CREATE TABLE IF NOT EXISTS quarantine (
        file_id BIGINT NOT NULL,
        source_name VARCHAR NOT NULL,
        source_line INTEGER NOT NULL,
        source_sheet VARCHAR,
        source_format VARCHAR,
        column_name VARCHAR,
        reason VARCHAR NOT NULL,
        raw VARCHAR[] NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS control_proof (
        file_id BIGINT NOT NULL,
        part VARCHAR NOT NULL,
        proof VARCHAR NOT NULL,
        expected VARCHAR,
        actual VARCHAR,
        passed BOOLEAN NOT NULL,
        detail VARCHAR
    )""",
    # One row per run; manifest_json is the run's whole manifest.json (inputs, hashes, control totals).
    """CREATE TABLE IF NOT EXISTS run (
        run_id VARCHAR PRIMARY KEY,
        period VARCHAR NOT NULL,
        started_at TIMESTAMP NOT NULL,
        exit_code INTEGER,
        summary_json VARCHAR,
        manifest_json VARCHAR
    )""",
    # Each line's outcome in each run. channel is the run's view of it (an ERP line's channel comes
    # from rules/channels.yaml at run time, so it is recorded here rather than re-derived).
    """CREATE TABLE IF NOT EXISTS line_result (
        run_id VARCHAR NOT NULL,
        family VARCHAR NOT NULL,
        line_id BIGINT NOT NULL,
        status VARCHAR NOT NULL,
        code VARCHAR,
        match_group VARCHAR,
        explanation VARCHAR,
        channel VARCHAR,
        finding VARCHAR  -- the engine's reason as codes (recon.engine.findings; results.csv's finding)
    )""",
    # The files a run read (path relative to the input folder it was found in).
    """CREATE TABLE IF NOT EXISTS run_file (run_id VARCHAR NOT NULL, file_id BIGINT NOT NULL, sha256 VARCHAR NOT NULL,
    rel_path VARCHAR)""",
    # Known discrepancies (recon.engine.classify): one row per classified case, i.e. a residual order
    # group or a single leftover line, with the source lines (file:line[@sheet]) it explains.
    """CREATE TABLE IF NOT EXISTS known_case (
        run_id VARCHAR NOT NULL, case_id VARCHAR NOT NULL, code VARCHAR NOT NULL, channel VARCHAR,
        period VARCHAR NOT NULL, residual DECIMAL(18,2) NOT NULL, line_ids BIGINT[] NOT NULL,
        source_refs VARCHAR[] NOT NULL, explanation VARCHAR NOT NULL, blocks_close BOOLEAN NOT NULL
    )""",
    # The correction each known case calls for, evaluated from its dictionary entry: voucher lines
    # before aggregation (account = a key of rules/accounts.yaml; exactly one of debit/credit non-zero).
    """CREATE TABLE IF NOT EXISTS correction_line (
        run_id VARCHAR NOT NULL, case_id VARCHAR NOT NULL, code VARCHAR NOT NULL, channel VARCHAR,
        period VARCHAR NOT NULL, line_no INTEGER NOT NULL, account VARCHAR NOT NULL,
        debit DECIMAL(18,2) NOT NULL, credit DECIMAL(18,2) NOT NULL, explanation VARCHAR NOT NULL,
        basis VARCHAR
    )""",
    # Drill-down (recon.engine.drill): for each unexplained line the deepest layer reached (1 ids/amounts/
    # times, 2 raw record, 3 audit log) and what it found; detail_json holds the candidates/fields/events.
    """CREATE TABLE IF NOT EXISTS drilldown (
        run_id VARCHAR NOT NULL, line_id BIGINT NOT NULL, layer INTEGER NOT NULL, finding VARCHAR NOT NULL,
        detail_json VARCHAR
    )""",
    # Root-cause summary per run: lines and amount by status, code, channel and (unknowns) the layer at
    # which the drill-down stopped; kept for trends across runs.
    """CREATE TABLE IF NOT EXISTS root_cause (
        run_id VARCHAR NOT NULL, status VARCHAR NOT NULL, code VARCHAR, channel VARCHAR, stop_layer INTEGER,
        lines BIGINT NOT NULL, amount DECIMAL(18,2) NOT NULL
    )""",
]
DDL += [_table_ddl(table, fields) for table, fields, _ in FAMILIES.values()]
# Manual decisions (recon.engine.decisions): who decided what about which lines, and their fingerprint.
DDL.append("""CREATE TABLE IF NOT EXISTS decision (decision_id INTEGER PRIMARY KEY, kind VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL, created_by VARCHAR NOT NULL, reason VARCHAR NOT NULL,
    line_ids BIGINT[] NOT NULL, fingerprint VARCHAR NOT NULL)""")
# A decision revoked (`recon resolve --revoke`): logged beside the decision, which is never deleted.
DDL.append("""CREATE TABLE IF NOT EXISTS decision_revocation (decision_id INTEGER PRIMARY KEY,
    revoked_at TIMESTAMP NOT NULL, revoked_by VARCHAR NOT NULL, reason VARCHAR NOT NULL)""")
# The order baseline of each run (recon.engine.baseline): six dimensions by source, NULL = cannot say.
# Period close (recon.period): close and reopen events, append-only; a period's state is its last event.
# run_id is the run a close locked; vouchers_json the voucher numbers and totals it fixed; overridden_json
# what a forced close went past. Each event is
# also an event of the run log (runlog kinds close/reopen), which `recon verify` checks this table against.
DDL.append("""CREATE TABLE IF NOT EXISTS period_close (event_no INTEGER PRIMARY KEY, period VARCHAR NOT NULL,
    action VARCHAR NOT NULL, run_id VARCHAR, logged_at TIMESTAMP NOT NULL, by_name VARCHAR NOT NULL,
    reason VARCHAR NOT NULL, forced BOOLEAN NOT NULL, verdict VARCHAR, vouchers_json VARCHAR,
    overridden_json VARCHAR)""")
# Voucher numbers (recon.engine.voucher_numbers): one number per (period, code, channel, adjusts) for good,
# the first run that needed it assigning it; ``adjusts`` is the closed period a prior-period adjustment
# voucher corrects (NULL: an ordinary voucher).
DDL.append("""CREATE TABLE IF NOT EXISTS voucher_number (period VARCHAR NOT NULL, code VARCHAR NOT NULL,
    channel VARCHAR, adjusts VARCHAR, seq INTEGER NOT NULL, first_run_id VARCHAR NOT NULL)""")
# The known cases of a run that correct a closed period (recon.engine.voucher_numbers.prior_period_steps).
DDL.append("""CREATE TABLE IF NOT EXISTS prior_period_case (run_id VARCHAR NOT NULL, case_id VARCHAR NOT NULL,
    adjusts VARCHAR NOT NULL, closed_run_id VARCHAR NOT NULL)""")
# Vouchers `recon vouchers` exported: what was handed to the ERP, so a later change is never silent.
DDL.append("""CREATE TABLE IF NOT EXISTS voucher_export (export_no INTEGER NOT NULL, run_id VARCHAR NOT NULL,
    number VARCHAR NOT NULL,
    period VARCHAR NOT NULL, code VARCHAR NOT NULL, channel VARCHAR, adjusts VARCHAR, total DECIMAL(18,2) NOT NULL,
    exported_at TIMESTAMP NOT NULL)""")
DDL.append("CREATE TABLE IF NOT EXISTS order_baseline (run_id VARCHAR NOT NULL, order_no VARCHAR NOT NULL, "
           "channel VARCHAR, " + ", ".join(
               f"{d}_{s} DECIMAL(18,2)" for d in ("receivable", "received", "refund_due", "refunded", "commission",
                                                  "tax") for s in ("platform", "erp")) + ")")

# Open items across runs (recon.engine.open_items): each unknown/review line's identity (its natural key)
# with its first sighting, each run's as-of date and the run it was compared with, and per run the
# items open in it or resolved by it.
DDL.append("""CREATE TABLE IF NOT EXISTS open_item (item_id BIGINT PRIMARY KEY, item_key BIGINT NOT NULL,
    family VARCHAR NOT NULL, source_format VARCHAR NOT NULL, natural_key VARCHAR NOT NULL, occurrence INTEGER NOT NULL,
    nth INTEGER NOT NULL, first_run VARCHAR NOT NULL, first_seen DATE NOT NULL)""")
DDL.append("""CREATE TABLE IF NOT EXISTS open_item_run (run_id VARCHAR PRIMARY KEY, seq INTEGER NOT NULL,
    period VARCHAR NOT NULL, as_of DATE NOT NULL, previous_run VARCHAR, config_sha VARCHAR NOT NULL)""")
DDL.append("""CREATE TABLE IF NOT EXISTS open_item_state (run_id VARCHAR NOT NULL, item_id BIGINT NOT NULL,
    line_id BIGINT NOT NULL, status VARCHAR, state VARCHAR NOT NULL, resolved_by VARCHAR, first_seen DATE NOT NULL,
    age_days INTEGER NOT NULL)""")


def connect(path: str = "recon.duckdb", memory_limit: str | None = None,
            must_exist: bool = False, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the store at ``path``; ``:memory:`` gives a throwaway store.

    ``memory_limit`` (DuckDB syntax, e.g. ``4GB``) caps DuckDB's own memory; larger work spills to a
    temp folder beside the store instead of growing (DuckDB's default is 80 % of the machine).
    ``must_exist``: a command that only reads runs (``runs``, ``report``, ``explain`` …) never creates
    an empty store at a mistyped path; it says there is none. ``read_only`` (``recon backtest``): DuckDB
    refuses every write to the store itself; temp tables still work, and the schema is not touched.
    """
    if must_exist and str(path) != ":memory:" and not Path(path).is_file():
        raise ReconError(f"no recon store at {path}: pass --db with the store your runs used "
                         "(`recon run` creates it; the default is ./recon.duckdb)")
    config = {}
    if memory_limit:
        if not re.fullmatch(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", memory_limit.strip(), re.I):
            raise ReconError(f"--memory-limit {memory_limit!r}: expected a size such as 4GB or 800MB")
        config["memory_limit"] = memory_limit.strip()
    spill = spill_dir(path)
    if spill is not None:
        # Named explicitly (it is DuckDB's default too) so that the benchmark and a clerk's disk
        # check know where a run spills; passed as config, never pasted into SQL.
        config["temp_directory"] = str(spill)
    try:
        con = duckdb.connect(path, read_only=read_only, config=config)
    except duckdb.IOException as exc:
        held = re.search(r"Conflicting lock is held in (.*?) \(PID (\d+)\)", str(exc))
        if held is None:
            raise
        # DuckDB lets one process open a store for writing and no reader beside it
        raise ReconError(f"another recon (PID {held.group(2)}) is using the store {path}; wait for it to "
                         "finish, or pass another --db") from None
    try:
        _check_version(con, path)
    except ReconError:
        con.close()
        raise
    if spill is not None:
        clear_stale_spill(spill)
    # DuckDB draws a progress bar on standard output for any statement over two seconds, terminal
    # or not: at scale it would land inside `recon run --json` output and in scripts' logs.
    con.execute("SET enable_progress_bar = false")
    if read_only:
        return con
    for stmt in DDL:
        con.execute(stmt)
    con.execute(
        "INSERT OR IGNORE INTO store_meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)]
    )
    return con


def spill_dir(path) -> Path | None:
    """Where DuckDB spills for the store at ``path``: ``<store>.tmp`` beside it (None in memory)."""
    if str(path) == ":memory:":
        return None
    return Path(str(path) + ".tmp")


_SPILL_FILE = re.compile(r"duckdb_temp_(\d+)_")


def clear_stale_spill(spill: Path) -> list[str]:
    """Remove spill files a killed process left behind; return their names.

    DuckDB removes its spill files when a connection closes, also after a failed statement, but a
    process killed mid-run (``kill -9``, the machine's OOM killer, a power cut) leaves them, and
    DuckDB never looks at them again: at 10M orders that was tens of GB. Only DuckDB's own files
    (``duckdb_temp_<pid>_…``) of a process that is no longer alive are removed; the folder goes when
    it is left empty. Called once the store is open read-write, so no other recon holds it.
    """
    removed = []
    for path in tempfiles.orphans(spill, _SPILL_FILE):
        try:
            os.remove(path)
            removed.append(path.name)
        except FileNotFoundError:
            pass
    try:
        spill.rmdir()
    except OSError:  # not empty (a live process's files, or something that is not ours): leave it
        pass
    return removed



def _check_version(con, path: str) -> None:
    """Refuse a store this recon cannot use: one of schema version 1, whose lines kept their raw
    cells in the store and whose downloaded files were never kept (nothing to point into, so no
    migration); one of schema version 2, whose files and lines were named by SHA-256 and MD5 strings
    where this recon joins integers (re-importing the downloads rebuilds it); or one made by a newer
    recon."""
    found = {name for (name,) in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()").fetchall()}
    if not found & {"store_meta", *(t for t, _, _ in FAMILIES.values())}:
        return  # a new store
    version = None
    if "store_meta" in found:
        row = con.execute("SELECT value FROM store_meta WHERE key = 'schema_version'").fetchone()
        version = row[0] if row else None
    has_raw = con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE database_name = current_database() AND column_name = 'raw' "
        "AND table_name IN (SELECT unnest($t))", {"t": [t for t, _, _ in FAMILIES.values()]}).fetchone()[0]
    if version == str(SCHEMA_VERSION) and not has_raw:
        return
    if version == "2" and not has_raw:
        raise ReconError(
            f"{path} is a recon store of schema version 2, made before recon numbered its files and lines "
            f"with integers (schema version {SCHEMA_VERSION}): this recon cannot join its lines. Keep that store "
            "as it is for its runs and reports, with the recon that made it, and import the original downloads "
            "into a new store: recon run FOLDER --db NEW.duckdb (or recon import --db NEW.duckdb FILES); its "
            "decisions (recon resolve) are made again there")
    if version and version.isdigit() and int(version) > SCHEMA_VERSION:
        raise ReconError(f"{path} is a recon store of schema version {version}, newer than this recon "
                         f"understands ({SCHEMA_VERSION}); use the recon that made it, or upgrade recon")
    raise ReconError(
        f"{path} is a recon store of schema version {version or 1}, made before recon kept the downloaded "
        "files: its lines' raw records were stored inside it as cells, and the files themselves were not "
        "kept, so this recon cannot show or verify its lines' raw records (it reads them from "
        "<db>.evidence/, which such a store does not have). Keep that store as it is for its runs and reports, "
        "with the older recon (0.1.0) that made it, and import the original downloads into a new store: "
        "recon run FOLDER --db NEW.duckdb (or recon import --db NEW.duckdb FILES)")


# ---------------------------------------------------------------- lineage ids
#
# A line is known to users by its provenance: the file's SHA-256, the sheet or zip member, the physical
# line. Inside the store it is a BIGINT, so every join and group of the engine is on integers:
#
#   file_id = the file's number in this store (1, 2, … in the order the store registered them);
#   line_id = file_id * 2^43 + part_no * 2^31 + source_line
#
# where part_no is the part's 0-based position among the file's loaded parts. source_line is an INTEGER
# (0 <= line < 2^31), part_no < 2^12 and file_id < 2^20, so the three fields never overlap and the
# packed value stays below 2^63. Two lines with the same line_id would need the same file, part and
# physical line, which the store holds once (the old VARCHAR id, md5 of SHA-256, sheet and line, named
# the same triple): the ids cannot collide. ``new_file_id`` and ``part_base`` refuse a store or a file
# beyond those bounds rather than wrap.
LINE_BITS, PART_BITS, FILE_BITS = 31, 12, 20
MAX_FILES = (1 << FILE_BITS) - 1
MAX_PARTS = 1 << PART_BITS


def new_file_id(con) -> int:
    """The next file number of the store (inside the importing transaction, which registers it)."""
    n = con.execute("SELECT coalesce(max(file_id), 0) + 1 FROM source_file").fetchone()[0]
    if n > MAX_FILES:
        raise ReconError(f"the store holds {MAX_FILES} files, as many as one store can number; start a new "
                         "store for further periods (--db NEW.duckdb)")
    return n


def part_base(file_id: int, part_no: int, name: str) -> int:
    """The line_id of line 0 of the file's ``part_no``-th part; a line's id is this plus its line number."""
    if part_no >= MAX_PARTS:
        raise ReconError(f"{name}: more than {MAX_PARTS} sheets or members hold ledger lines; split the file "
                         "into several (each its own download) and import those")
    return (file_id << (PART_BITS + LINE_BITS)) | (part_no << LINE_BITS)


# The provenance id of a line, as users see it in match groups: md5 of the file's SHA-256, the sheet
# (empty for none) and the physical line, joined by chr(31). It was the line_id of schema version 2;
# group and case ids are named from it (``recon.engine.refs``), so they do not change with the integers.
LINE_REF_SQL = ("md5({sha} || chr(31) || coalesce({sheet}, '') || chr(31) || CAST({line} AS VARCHAR))")


def table_of(family: str) -> str:
    return FAMILIES[family][0]


def fields_of(family: str):
    return FAMILIES[family][1]

# Canonical line types (results.csv ``line_type``). Profiles map raw types onto these.
LINE_TYPES = {
    "platform": ("sale", "refund", "fee", "commission", "subsidy", "compensation", "payout",
                 "deposit", "transfer", "adjustment", "other"),
    "erp": ("receivable", "other_receivable", "credit_note"),
    "bank": ("bank_credit", "bank_debit"),
}
