"""The importable API behind every command: import, sniff, run.

``recon.cli`` parses flags, calls one function here and prints what it returns; tests and month-end
scripts call the same functions. A run: import every file found (recursively, dot-files skipped),
fix the period, build the run's universe of ledger lines, match, prove conservation, write
``results.csv``, ``quarantine.csv`` and ``manifest.json``, record the run in the store, and say
which exit code the result deserves.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import duckdb

from recon import __version__, evidence, outputs, runlog, store, tempfiles, verdict
from recon import period as closing
from recon.dictionary import default_path as default_dictionary_path
from recon.dictionary import load_dictionaries
from recon.engine import baseline, classify, cny, conservation, customers, drill, fees, ledger, match, open_items, pragmas
from recon.engine import statement as reconciliation_statement
from recon.engine import carry_forward, prior_period, voucher_numbers
from recon.engine.steps import Runner, Step
from recon.errors import EXIT_INTERRUPTED, InputError, Interrupted, ReconError
from recon.io import limits
from recon.io.load import FileReport, import_file, prepared_in_turn
from recon.io.profile import Profile, all_profiles
from recon.report.accounts import dictionary_accounts, load_accounts
from recon.report.results import write_baseline, write_quarantine, write_results
from recon.money import parse_typed_amount
from recon.rules import load_channels, load_fees, load_rules


# ---------------------------------------------------------------- profiles and files

def load_profiles(extra=()) -> list[Profile]:
    return all_profiles(extra)


def pick_format(profiles: list[Profile], name: str | None) -> Profile | None:
    if not name:
        return None
    for p in profiles:
        if p.name == name:
            return p
    raise ReconError(f"unknown format {name!r}; `recon formats` lists the known ones: "
                     + ", ".join(p.name for p in profiles))


def scan(inputs, skipped: list | None = None) -> list[tuple[Path, str]]:
    """Files under the inputs, recursively, sorted; dot-files and dot-folders are skipped.

    Returns (path, path relative to the input folder it was found in, POSIX style). What is neither a
    file nor a folder (a FIFO, a socket, a device) is never opened: opening a FIFO blocks. It is
    added to ``skipped`` as (path, reason) when a list is given.
    """
    found = []
    for root in inputs:
        root = Path(root)
        if root.is_file():
            found.append((root, root.name))
            continue
        if not root.is_dir():
            if root.exists() and skipped is not None:
                skipped.append((str(root), _NOT_A_FILE))
                continue
            raise ReconError(f"{root}: no such file or folder" if not root.exists() else f"{root}: {_NOT_A_FILE}")
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root)
            if any(part.startswith(".") for part in rel.parts):
                continue
            if path.is_file():
                found.append((path, rel.as_posix()))
            elif not path.is_dir() and skipped is not None:
                skipped.append((rel.as_posix(), _NOT_A_FILE))
    return found


_NOT_A_FILE = "not a regular file (a FIFO, socket or device): not opened; copy the data into a file"


def import_paths(con, paths, profiles, forced=None) -> list[FileReport]:
    """`recon import`: load each file; unreadable files raise InputError naming the file."""
    reports, errors, skipped = [], [], []
    with contextlib.closing(prepared_in_turn(scan(paths, skipped), profiles, forced, _known_files(con),
                                             evidence.folder(con))) as files:
        for path, rel, prepared in files:
            try:
                if isinstance(prepared, InputError):
                    raise prepared
                reports.append(import_file(con, path, profiles, display=rel, forced=forced, prepared=prepared))
            except InputError as exc:  # the good files still load; the bad ones are named together
                errors.append(f"{rel}: {exc}")
    errors += [f"{rel}: {why}" for rel, why in skipped]
    if errors:
        raise InputError("cannot read these files (the others were imported):\n  " + "\n  ".join(errors))
    return reports


def sniff(path: Path, profiles, forced=None):
    """Read a file into a throwaway store: its report and its quarantined lines, nothing saved."""
    con = store.connect(":memory:")
    try:
        try:
            report = import_file(con, Path(path), profiles, display=Path(path).name, forced=forced)
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from None
        rejects = con.execute(
            "SELECT source_line, source_sheet, column_name, reason FROM quarantine "
            "ORDER BY source_sheet NULLS FIRST, source_line").fetchall()
        return report, rejects
    finally:
        con.close()


# ---------------------------------------------------------------- period

def _month(d: dt.date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


def _months_between(start: dt.datetime, end_exclusive: dt.datetime) -> set:
    last = (end_exclusive - dt.timedelta(seconds=1)).date()
    out, cur = set(), dt.date(start.year, start.month, 1)
    while cur <= last:
        out.add(_month(cur))
        cur = dt.date(cur.year + (cur.month == 12), cur.month % 12 + 1, 1)
    return out


def period_bounds(period: str) -> tuple[dt.date, dt.date]:
    # strptime alone would take 2026-1 (and " 2026-01"): a script's typo must not pick a month for it
    if not re.fullmatch(r"(19|20|21)\d\d-(0[1-9]|1[0-2])", period or ""):
        raise ReconError(f"--period {period!r}: expected YYYY-MM with a two-digit month, e.g. 2026-01")
    start = dt.datetime.strptime(period, "%Y-%m").date()
    end = dt.date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    return start, end


def infer_period(con) -> str:
    """The month the run's platform files declare (preamble), or lacking one the month of their last line.

    If the platform files disagree the run cannot guess which month is being closed: exit 2.
    """
    rows = con.execute(
        """SELECT f.rel_path, s.period_start, s.period_end,
                  (SELECT max(movement_date) FROM platform_line p WHERE p.file_id = s.file_id)
           FROM source_file s JOIN run_files f USING (file_id)
           WHERE EXISTS (SELECT 1 FROM platform_line p WHERE p.file_id = s.file_id)
           ORDER BY f.rel_path""").fetchall()
    if not rows:
        ledger.ensure(con)
        rows = con.execute(
            """SELECT f.rel_path, s.period_start, s.period_end,
                      (SELECT max(movement_date) FROM ledger_line x
                       WHERE x.source <> 'platform' AND x.file_id = s.file_id)
               FROM source_file s JOIN run_files f USING (file_id) ORDER BY f.rel_path""").fetchall()
    by_month: dict = {}
    for rel, start, end, last in rows:
        if start is not None and end is not None and end > start:
            months = _months_between(start, end)
        elif last is not None:
            months = {_month(last)}
        else:
            continue
        for m in months:
            by_month.setdefault(m, []).append(rel)
    if not by_month:
        raise ReconError("cannot tell which period to close: no dated ledger lines; pass --period YYYY-MM")
    if len(by_month) > 1:
        detail = "; ".join(f"{m}: {', '.join(files[:3])}{' …' if len(files) > 3 else ''}"
                           for m, files in sorted(by_month.items()))
        raise ReconError(f"the platform files cover more than one month ({detail}); "
                         "pass --period YYYY-MM to say which month to close")
    return next(iter(by_month))


# ---------------------------------------------------------------- run

OUTPUTS = outputs.OUTPUTS
# What `recon run --no-reports` writes: what a script or the benchmark needs, nothing more.
SCRIPT_OUTPUTS = ("results.csv", "manifest.json")
# Store lines dated up to this many days after the period take part as evidence (a refund booked
# next month, a payout settled after the cut-off). Lines of the files a run reads always take part.
EVIDENCE_DAYS = 31


@dataclass
class RunConfig:
    inputs: list
    out: Path
    db: str = "recon.duckdb"
    period: str | None = None
    rules: Path | None = None
    channels: Path | None = None
    fees: Path | None = None
    baseline: Path | None = None
    profiles: list = field(default_factory=list)
    format: str | None = None
    reports: bool = True
    evidence_days: int = EVIDENCE_DAYS
    dictionaries: list = field(default_factory=list)  # --dictionary files, later override earlier by code
    default_dictionary: bool = True  # False (--no-default-dictionary): the --dictionary files replace the shipped one
    limits: object = None  # recon.io.limits.Limits (--limit); None: the defaults
    accounts: Path | None = None  # chart of accounts for the vouchers (default rules/accounts.yaml)
    voucher_format: str = "generic"
    lang: str = "zh"
    top: int = 50  # unknown lines shown in full in report.html
    matched_cap: int = 100_000  # matched lines in recon.xlsx (results.csv always has all)
    memory_limit: str | None = None  # DuckDB memory cap, e.g. "4GB" (default: DuckDB's 80 % of RAM)
    debug_sql: bool = False  # log every engine step (name, SQL, parameters, rows written) to stderr
    as_of: dt.date | None = None  # the date open items are aged to (recon.engine.open_items); None: today


@dataclass
class Settings:
    """A run's validated configuration: every file is read and checked before anything is imported."""

    rules: object
    fee_rules: object
    baseline_rules: object
    channels: list
    dictionary: object = None  # recon.dictionary.Dictionary; None = the shipped default

    @classmethod
    def load(cls, rules=None, fees_path=None, baseline_path=None, channels=None, dictionaries=None,
             default_dictionary: bool = True) -> "Settings":
        """Every configuration file, checked; the dictionaries are the shipped one (unless
        ``default_dictionary`` is False) with ``dictionaries`` added on top, overriding it by code."""
        paths = [default_dictionary_path()] if default_dictionary else []
        for p in dictionaries or ():
            if not any(Path(p).resolve() == q.resolve() for q in paths):
                paths.append(Path(p))
        if not paths:
            raise ReconError("--no-default-dictionary replaces the shipped dictionary: give the one to use "
                             "with --dictionary FILE")
        return cls(load_rules(rules), load_fees(fees_path), baseline.load_baseline(baseline_path),
                   load_channels(channels), load_dictionaries(paths))

    def order_tolerances(self) -> dict:
        return {p.name: (p.tolerance, p.tolerance_relative) for p in self.rules.passes
                if p.leg in ("order", "short_key")}


@dataclass(frozen=True)
class RunResult:
    """What a run produced, typed: the console, ``--json``, report.html, recon.xlsx and the vouchers all
    render from this (or, re-rendered by ``recon report``, from the manifest the store kept of it).

    ``verdict`` comes first because everything shows it first; ``counts`` are the lines per final
    status; ``paths`` the outputs written; ``files`` the import's ``FileReport``s; ``warnings`` the
    sentences about files skipped or refused.
    """

    verdict: verdict.Verdict
    manifest: dict
    counts: dict
    paths: tuple
    files: tuple = ()
    warnings: tuple = ()
    out: Path | None = None

    @property
    def exit_code(self) -> int:
        return self.verdict.exit_code

    @classmethod
    def from_manifest(cls, manifest: dict, files=(), warnings=(), out: Path | None = None) -> "RunResult":
        """The result a manifest describes (a run just made, or one the store kept)."""
        return cls(verdict.Verdict.from_manifest(manifest), manifest, dict(manifest.get("status_counts", {})),
                   tuple(Path(p) for p in manifest.get("outputs", [])), tuple(files), tuple(warnings), out)


def _dictionary_hashes(dictionary) -> dict:
    """The dictionary files the run used, in the order they were applied, each with its SHA-256."""
    sources = dictionary.sources if dictionary is not None else load_dictionaries().sources
    names = [name for name, _ in sources]
    return {(name if names.count(name) == 1 else f"{i + 1}:{name}"): sha
            for i, (name, sha) in enumerate(sources)}


def _quiet(step: str, done: int | None = None, total: int | None = None) -> None:
    """The default progress callback: say nothing (scripts and tests)."""


def reconcile(con, period: str, settings: Settings, evidence_days: int = EVIDENCE_DAYS,
              runner: Runner | None = None, carry: dict | None = None) -> dict:
    """Everything after import, on whatever the store holds: universe, passes, fee checks, baseline.

    Builds the temp tables ``universe`` and ``result`` (and the ones the steps keep) on ``con``; the
    caller proves conservation and writes outputs. A temp table ``run_files`` names the files the
    run read (created empty if the caller has none: the universe is then the store's lines of the
    period and its evidence window).

    Every statement runs as a named step of ``runner`` (``recon.engine.steps``; default: a plain runner
    on ``con``), which times it and, under ``--debug-sql``, logs it.

    ``carry`` ({source_run, carried_from, as_of}: ``recon.engine.carry_forward.carry_of``): the lines the
    period before left open take part in this one; None: nothing is carried.
    """
    r = runner if runner is not None else Runner(con)
    r.run(Step("run_files", f"CREATE TEMP TABLE IF NOT EXISTS {RUN_FILES_COLUMNS}",
               writes="run_files"))
    start, end = period_bounds(period)
    # the lines the period before left open for this one (recon.engine.carry_forward); none without ``carry``
    carried = carry_forward.prepare(r, carry, settings.dictionary or load_dictionaries(),
                                    {c.code: c.settlement_lag_days for c in settings.channels})
    with pragmas.any_order(r.con):  # no step before the baseline relies on the order rows are stored in
        match.build_universe(r, start, end, [row for ch in settings.channels for row in ch.customer_rows()],
                             evidence_end=end + dt.timedelta(days=evidence_days))
        unmapped = customers.unmapped(r)
        fees.compute(r, settings.fee_rules)
        decided = match.run_passes(r, settings.rules)
        fee_checks = fees.annotate(r, settings.fee_rules)
        known = classify.run(r, period, start, end, settings.dictionary or load_dictionaries(), settings.channels,
                             settings.rules)
    r.run(carry_forward.outcome_steps())
    carried = carry_forward.summary(r, carried)
    orders = baseline.build(r, settings.baseline_rules)
    # last, after classification: drills down what is still unknown, then the root-cause summary
    drill.run(r)
    return {"decisions": decided, "fee_checks": fee_checks, "orders": orders, "classification": known,
            "unmapped_customers": unmapped, "carried": carried}


def run(cfg: RunConfig, progress=_quiet, on_file=None) -> RunResult:
    """Import, reconcile, prove conservation, write the outputs; ``progress(step, done, total)`` hears each step
    and ``on_file(FileReport)`` each file as soon as it is imported (a log then shows what was loaded even if
    a later step fails)."""
    with limits.use(cfg.limits):
        return _run(cfg, progress, on_file)


def _run(cfg: RunConfig, progress, on_file) -> RunResult:
    settings = Settings.load(cfg.rules, cfg.fees, cfg.baseline, cfg.channels, cfg.dictionaries,
                             cfg.default_dictionary)
    chart = None
    if cfg.reports:  # the chart must cover every account the dictionary posts to, before anything is read
        chart = load_accounts(cfg.accounts)
        chart.check(dictionary_accounts(settings.dictionary.entries))
        check_report_options(cfg.lang, cfg.top, cfg.voucher_format)
    profiles = load_profiles(cfg.profiles)
    forced = pick_format(profiles, cfg.format)
    if cfg.period:
        period_bounds(cfg.period)  # a bad --period fails before anything is imported
    if not 0 <= cfg.evidence_days <= 366:
        raise ReconError(f"--evidence-days {cfg.evidence_days}: must be from 0 to 366 (days after the period "
                         "whose store lines take part as evidence)")
    not_files: list = []
    files = scan(cfg.inputs, not_files)
    if not files and not cfg.period:  # with --period the run reconciles what the store holds (maybe nothing)
        raise ReconError(f"no input files under {', '.join(str(i) for i in cfg.inputs)} "
                         "(dot-files and dot-folders are skipped); pass --period YYYY-MM to reconcile what "
                         "the store already holds for a month")
    tempfiles.clean_stale()  # temp copies of input data a killed run left behind
    out = Path(cfg.out)
    # outputs are written beside OUT and swapped in at the end in one step (recon.outputs): a run that
    # fails or is killed never leaves a half-written or mixed set where the last good one stood
    writer = outputs.OutputSet(out)
    staging = writer.staging
    started = dt.datetime.now().replace(microsecond=0)
    try:
        con = store.connect(cfg.db, cfg.memory_limit)
    except BaseException:
        writer.__exit__(None, None, None)
        raise
    r = Runner(con, log=sys.stderr if cfg.debug_sql else None)
    period = manifest = None
    published = False
    try:
        if cfg.period:  # a closed period is refused before anything is imported (recon.period)
            closing.refuse_if_closed(con, cfg.period)
        with _phase(r, "import"):
            reports, warnings, refused = _import_all(con, files, profiles, forced, progress, on_file)
            refused += [{"path": rel, "reason": why} for rel, why in not_files]
            warnings += [f"refused {rel}: {why}" for rel, why in not_files]
            _register_run_files(con, reports)
            period = cfg.period or infer_period(con)
        closing.refuse_if_closed(con, period, imported=True)
        # new evidence for a closed period: what it changes there becomes a prior-period adjustment here
        # a closed period is reconciled again as its closed run was: its evidence window, and its carried lines
        prior = prior_period.evidence(
            r, period, lambda p, run_id: reconcile(con, p, settings, _evidence_days_of(con, run_id), runner=r,
                                                   carry=_carry_of(con, run_id)))
        warnings += [_prior_warning(e, period) for e in prior]
        progress("matching")
        done = reconcile(con, period, settings, cfg.evidence_days, runner=r,
                         carry=carry_forward.carry_of(con, period, cfg.as_of or dt.date.today()))
        progress("proving conservation")
        totals = conservation.check(r, _loaded_totals(reports), settings.order_tolerances())
        # the 余额调节表 per channel and currency; one that does not foot stops the run like conservation
        bridge = reconciliation_statement.prove(r, period)
        # each unknown/review line as an open item: first seen, age, change since the period's last run
        aged = open_items.run(r, period, cfg.as_of or dt.date.today(),
                              open_items.config_sha(settings, cfg.evidence_days))
        warnings += _as_of_warning(con, aged)
        progress("writing results")
        with _phase(r, "write.results"):
            write_results(con, staging)
        if cfg.reports:
            with _phase(r, "write.quarantine_baseline"):
                write_quarantine(con, staging)
                write_baseline(con, staging)
        manifest = _manifest(con, cfg, settings.rules, period, reports, totals, started, settings.dictionary)
        manifest["refused_files"] = refused
        manifest["statement"] = bridge
        if prior:  # closed periods this run's files brought new evidence for (recon.engine.prior_period)
            manifest["prior_period"] = prior
        if done["carried"]:  # the lines the period before left open, decided here (recon.engine.carry_forward)
            manifest["carried"] = done["carried"]
        # ERP customers no channel of rules/channels.yaml fits: their lines miss every channel-scoped step
        manifest["unmapped_customers"] = done["unmapped_customers"]
        warnings += [_unmapped_warning(u) for u in done["unmapped_customers"]]
        # every step in execution order, with the import and output phases; the list grows until the
        # manifest file is written (the store's copy is taken when the run is recorded)
        manifest["timings"] = r.timings
        manifest["evidence_days"] = cfg.evidence_days
        manifest["fees"] = {"file": Path(settings.fee_rules.source).name, "sha256": settings.fee_rules.sha256}
        manifest["fee_checks"] = done["fee_checks"]
        manifest["classification"] = done["classification"]
        # each code's names as the run's dictionaries gave them: reports render from the store alone
        manifest["classification"]["names"] = {
            e.code: {"zh": e.name_zh, "en": e.name_en} for e in sorted(settings.dictionary.entries, key=lambda e: e.code)
            if e.code in (done["classification"].get("known_cases") or {})}
        manifest["decisions"] = done["decisions"]
        manifest["open_items"] = aged
        manifest["order_baseline"] = {"file": Path(settings.baseline_rules.source).name,
                                      "sha256": settings.baseline_rules.sha256, "orders": done["orders"]}
        # per status, one CNY figure at the FX file's rates when the run holds another currency
        manifest["cny_equivalent"] = cny.by_status(r, totals)
        manifest["coverage"] = verdict.coverage(r)
        decided = verdict.decide(manifest, verdict.previous_run(con, period), verdict.blocking(r))
        manifest["exit_code"] = decided.exit_code
        # the verdict is the first thing every output shows, the manifest too
        manifest = {"verdict": decided.as_dict(cfg.lang), **manifest}
        with _phase(r, "record"):
            _record_run(con, manifest, period, started, r)
        written = list(SCRIPT_OUTPUTS[:-1])
        if cfg.reports:
            progress("writing reports")
            written += ["quarantine.csv", "order_baseline.csv"]
            with _phase(r, "write.reports"):
                written += render_reports(con, manifest["run_id"], staging, chart, cfg.lang, cfg.top,
                                          cfg.voucher_format, cfg.matched_cap)
        written.append("manifest.json")
        manifest["outputs"] = [str(out / n) for n in written]
        manifest["output_sha256"] = outputs.hashes(staging, written)
        (staging / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n",
                                               encoding="utf-8")
        runlog.record_outputs(con, manifest["run_id"], manifest["output_sha256"],
                              evidence.sha256_file(staging / "manifest.json"))
        # a --no-reports run's set has no reports: the last run's go with the old set, never a mixed one
        writer.publish(written)
        published = True
        progress("done")
        return RunResult.from_manifest(manifest, reports, warnings, out)
    except (KeyboardInterrupt, duckdb.InterruptException):
        if published:
            raise Interrupted(f"interrupted after the run finished; {out} holds its outputs") from None
        _record_aborted(con, manifest, period, started)
        raise Interrupted(f"interrupted; nothing was changed in {out}; the store keeps the files imported "
                          "so far (the next run will not read them again)") from None
    finally:
        con.close()
        writer.__exit__(None, None, None)


def _as_of_warning(con, aged: dict) -> list[str]:
    """A sentence when ``--as-of`` is before the as-of date of the run this one is compared with.

    Why: a mistyped date (2026-01-30 for 2026-02-03) is accepted, and the open items first seen on a later
    night then count as 0 days old, "first seen" after "as of": the clerk should know before trusting the
    ages."""
    prev = aged.get("previous_run")
    row = con.execute("SELECT as_of FROM open_item_run WHERE run_id = ?", [prev]).fetchone() if prev else None
    if row is None or str(row[0]) <= aged["as_of"]:
        return []
    return [f"--as-of {aged['as_of']} is before {row[0]}, the as-of date of run {prev} this run is compared "
            "with: the open items first seen since then count as 0 days old. Pass tonight's date (the default "
            "is today), or an earlier one only to replay a night in a store of its own"]


def _evidence_days_of(con, run_id: str) -> int:
    """The evidence window a recorded run used (its manifest's ``evidence_days``)."""
    row = con.execute("SELECT json_extract(manifest_json, '$.evidence_days') FROM run WHERE run_id = ?",
                      [run_id]).fetchone()
    return int(row[0]) if row and row[0] is not None else EVIDENCE_DAYS


def _carry_of(con, run_id: str) -> dict | None:
    """The carry a recorded run reconciled with (its manifest's ``carried``), to reconcile it again alike."""
    row = con.execute("SELECT json_extract(manifest_json, '$.carried') FROM run WHERE run_id = ?", [run_id]).fetchone()
    if not row or row[0] is None:
        return None
    found = json.loads(row[0])
    return {k: found[k] for k in ("source_run", "carried_from", "as_of")}


def _prior_warning(e: dict, period: str) -> str:
    """The console's sentence for one closed period this run's files brought new evidence for."""
    return (f"closed period {e['period']}: {e['new_lines']} line(s) in this run's files were not in its closed run "
            f"{e['closed_run']}; {e['cases']} prior-period adjustment(s) posted in {period} (vouchers cite the closed "
            "run)" if e["cases"] else
            f"closed period {e['period']}: {e['new_lines']} line(s) in this run's files were not in its closed run "
            f"{e['closed_run']}; they change none of its corrections, so no prior-period adjustment")


def _record_aborted(con, manifest, period, started) -> None:
    """Keep an interrupted run in the store as aborted (exit code 130), so that it is never taken
    for a finished one: ``runs`` lists it, ``report``/``vouchers`` default to the last finished run.

    The run may already be recorded (interrupted while its reports were written): it is marked. Any
    transaction the interrupt cut short was rolled back where it was opened.
    """
    try:
        if manifest is not None and con.execute("SELECT 1 FROM run WHERE run_id = ?",
                                                [manifest["run_id"]]).fetchone():
            con.execute("UPDATE run SET exit_code = ? WHERE run_id = ?", [EXIT_INTERRUPTED, manifest["run_id"]])
            runlog.record_run(con, manifest["run_id"], kind="abort")
            return
        n = con.execute("SELECT count(*) + 1 FROM run").fetchone()[0]
        run_id = f"R{started:%Y%m%dT%H%M%S}-aborted-{n}"
        con.execute("INSERT INTO run VALUES (?, ?, ?, ?, NULL, NULL)",
                    [run_id, period or "", started, EXIT_INTERRUPTED])
        runlog.record_run(con, run_id, kind="abort")
    except duckdb.Error:  # the store cannot take it now: the run simply was not recorded
        pass


@contextlib.contextmanager
def _phase(r: Runner, name: str):
    """Time a phase outside the engine's steps (import, writing outputs) into the run's timings."""
    started = time.perf_counter()
    yield
    r.phase(name, time.perf_counter() - started)


def check_report_options(lang: str, top: int, voucher_format: str) -> None:
    from recon.report.html import LABELS
    from recon.report.vouchers import FORMATS

    if lang not in LABELS:
        raise ReconError(f"--lang {lang!r}: use one of {', '.join(sorted(LABELS))}")
    if top < 1:
        raise ReconError("--top must be at least 1")
    if voucher_format not in FORMATS:
        raise ReconError(f"--voucher-format {voucher_format!r}: use one of {', '.join(FORMATS)}")


def render_reports(con, run_id: str, out_dir: Path, chart=None, lang: str = "zh", top: int = 50,
                   voucher_format: str = "generic", matched_cap: int = 100_000) -> list[str]:
    """A run's reports, rendered from the store alone (so `recon report --run` gives the same files).

    report.html (the root-cause report), recon.xlsx (the accountants' workbook) and the adjustment
    vouchers (vouchers.csv + voucher_sources.csv, plus the Kingdee or U8 import file). Returns the
    names written into ``out_dir``.
    """
    from recon.report.html import write_report
    from recon.report import statement as bridge_report
    from recon.report.runs import require_run
    from recon.report.vouchers import write_vouchers
    from recon.report.workbook import write_workbook

    chart = chart or load_accounts()
    out_dir = Path(out_dir)
    written = [p.name for p in write_vouchers(con, run_id, out_dir, voucher_format, chart)]
    write_workbook(con, run_id, out_dir / "recon.xlsx", matched_cap=matched_cap, accounts=chart)
    write_report(con, run_id, out_dir / "report.html", lang=lang, top=top, accounts=chart)
    statement_csv = bridge_report.write_csv(require_run(con, run_id)["manifest"], out_dir)
    return ["report.html", "recon.xlsx"] + written + [statement_csv.name]


def report(db: str, out: Path, run_id: str | None = None, lang: str = "zh", top: int = 50,
           voucher_format: str = "generic", accounts: Path | None = None, matched_cap: int = 100_000) -> dict:
    """`recon report --run RUN`: re-render a run's reports from the store, without re-importing anything."""
    chart = load_accounts(accounts)
    check_report_options(lang, top, voucher_format)
    out = Path(out)
    with outputs.OutputSet(out) as writer:
        con = store.connect(db, must_exist=True)
        try:
            run_id = _pick_run(con, run_id)
            names = render_reports(con, run_id, writer.staging, chart, lang, top, voucher_format, matched_cap)
        finally:
            con.close()
        # the run's results.csv and manifest.json, if OUT holds them, stay beside the re-rendered reports
        for name in ("results.csv", "quarantine.csv", "order_baseline.csv", "manifest.json"):
            if name not in names and (out / name).is_file():
                os.link(out / name, writer.staging / name)
                names.append(name)
        writer.publish(names)
        return {"run_id": run_id, "outputs": [str(out / n) for n in names if n not in (
            "results.csv", "quarantine.csv", "order_baseline.csv", "manifest.json")]}


# the files of a run: the store's number for each (store.new_file_id), its path in the run, its SHA-256
RUN_FILES_COLUMNS = "run_files (file_id BIGINT PRIMARY KEY, rel_path VARCHAR, sha256 VARCHAR)"


def _known_files(con) -> frozenset:
    """The SHA-256 of every file the store holds (the import skips decoding those)."""
    return frozenset(r[0] for r in con.execute("SELECT sha256 FROM source_file").fetchall())


def _import_all(con, files, profiles, forced, progress=_quiet, on_file=None):
    """Import every file; one that cannot be read is refused with its reason and the run goes on
    (the run is then incomplete: exit 4, ``recon.verdict``). Returns (reports, warnings, refused files).

    Only when nothing could be read does the run stop, naming every file (exit 2). A byte-identical
    copy of a file earlier in this run is marked as such at once, so ``on_file`` hears each file's
    final status as soon as it is imported.
    """
    reports, warnings, errors, refused = [], [], [], []
    seen: dict = {}
    with contextlib.closing(prepared_in_turn(files, profiles, forced, _known_files(con),
                                             evidence.folder(con))) as ahead:
        for i, (path, rel, prepared) in enumerate(ahead):
            progress(f"importing {rel}", i, len(files))
            try:
                if isinstance(prepared, InputError):
                    raise prepared
                rep = import_file(con, path, profiles, display=rel, forced=forced, prepared=prepared)
            except InputError as exc:
                errors.append(f"{rel}: {exc}")
                refused.append({"path": rel, "reason": str(exc)})
                warnings.append(f"refused {rel}: {exc}")
                continue
            rep.path = rel
            reports.append(rep)
            if rep.status == "unrecognised":
                warnings.append(f"skipped {rel}: {rep.message}")
            elif rep.file_id in seen:
                _mark_copy(rep, seen[rep.file_id])
            else:
                seen[rep.file_id] = rel
            if rep.status in ("loaded", "already_loaded"):
                warnings.extend(f"skipped {rel}/{s['part']}: {s['reason']}" for s in rep.skipped
                                if s.get("looks_like_ledger"))
            if on_file is not None:
                on_file(rep)
    if errors and not reports:
        raise InputError("cannot read these files:\n  " + "\n  ".join(errors))
    return reports, warnings, refused


def _register_run_files(con, reports) -> None:
    """Temp table ``run_files``: each file of the run once (a byte-identical copy is marked as such)."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {RUN_FILES_COLUMNS}")
    for rep in reports:
        if rep.status in ("unrecognised", "copy"):  # a copy was marked as it was imported
            continue
        # the report names the file by its SHA-256; the store's lines by its number
        con.execute("INSERT INTO run_files SELECT file_id, ?, sha256 FROM source_file WHERE sha256 = ?",
                    [rep.path, rep.file_id])


def _loaded_totals(reports) -> dict:
    """Per ledger source, the lines and amount the run's files loaded (what matching must receive)."""
    loaded: dict = {}
    for rep in reports:
        if rep.status in ("unrecognised", "copy"):
            continue
        for p in rep.parts:
            if p.family in store.LEDGER_FAMILIES:
                t = loaded.setdefault(p.family, {"count": 0, "amount": Decimal(0)})
                t["count"] += p.loaded
                t["amount"] += Decimal(p.amount_loaded)
    return loaded


def _record_run(con, manifest, period, started, runner: Runner | None = None) -> None:
    """The run, each line's outcome and the order baseline, kept in the store for later runs and reports.

    One transaction: a run is recorded whole or not at all, and its rows are committed (and the store
    checkpointed, when due) once rather than after each of the eight inserts.
    """
    run_id = manifest["run_id"]
    con.execute("BEGIN TRANSACTION")
    try:
        _insert_run(con, manifest, period, started, run_id)
        # its vouchers' numbers, and which of its cases correct a closed period, fixed as it is recorded
        voucher_numbers.record(runner if runner is not None else con, run_id, period)
        open_items.record(con, run_id)
        runlog.record_run(con, run_id)  # the run's event in the run log commits with the run
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _insert_run(con, manifest, period, started, run_id) -> None:
    """The rows of one run record, inside ``_record_run``'s transaction."""
    con.execute("INSERT INTO run VALUES (?, ?, ?, ?, ?, ?)",
                [run_id, period, started, manifest["exit_code"], json.dumps(manifest["status_counts"]),
                 json.dumps(manifest, ensure_ascii=False)])
    # run_line (recon.engine.outcome) is result joined with the universe once, for every output
    con.execute("INSERT INTO line_result SELECT $r, family, line_id, status, code, match_group, explanation, "
                "channel, finding FROM run_line", {"r": run_id})
    con.execute("INSERT INTO run_file SELECT $r, file_id, sha256, rel_path FROM run_files", {"r": run_id})
    con.execute("INSERT INTO known_case SELECT $r, * FROM known_case_tmp", {"r": run_id})
    con.execute("INSERT INTO correction_line SELECT $r, * FROM correction_tmp", {"r": run_id})
    con.execute("INSERT INTO order_baseline BY NAME SELECT $r AS run_id, * FROM run_baseline", {"r": run_id})
    con.execute("INSERT INTO drilldown SELECT $r, line_id, layer, finding, detail_json FROM run_drilldown",
                {"r": run_id})
    con.execute("INSERT INTO root_cause SELECT $r, status, code, channel, stop_layer, lines, amount "
                "FROM run_root_cause", {"r": run_id})


def _manifest(con, cfg, rules, period, reports, totals, started, dictionary=None) -> dict:
    status_counts = dict(con.execute(
        "SELECT status, count(*) FROM result GROUP BY status ORDER BY status").fetchall())
    # the root-cause summary (reconcile's last step) already holds lines and signed amount per status,
    # code and finer: summing it up avoids one more join of result with the universe
    by_code = {f"{st}:{code or '-'}": {"count": n, "amount": str(amt)} for st, code, n, amt in con.execute(
        """SELECT status, code, sum(lines), coalesce(sum(amount), 0) FROM run_root_cause
           GROUP BY ALL ORDER BY 1, 2 NULLS FIRST""").fetchall()}
    for s in conservation.STATUSES:
        status_counts.setdefault(s, 0)
    inputs = []
    for rep in reports:
        d = rep.as_dict()
        inputs.append({
            "path": rep.path, "sha256": rep.file_id, "status": rep.status, "message": rep.message,
            "formats": d["formats"], "container": rep.container, "encoding": rep.encoding,
            "lines": {"data": d["data_lines"], "loaded": d["loaded"], "duplicate": d["duplicates"],
                      "quarantined": d["quarantined"]},
            "parts": [{"part": p.part, "format": p.format, "family": p.family, "header_line": p.header_line,
                       "data_lines": p.data_lines, "loaded": p.loaded, "duplicate": p.duplicates,
                       "quarantined": p.quarantined, "amount_loaded": p.amount_loaded,
                       "amount_duplicate": p.amount_duplicate, "superseded": p.superseded,
                       "amount_superseded": p.amount_superseded, "reader": p.reader, "reader_fallback": p.fallback,
                       "declared": p.values, "proofs": p.proofs}
                      for p in rep.parts],
            "skipped_parts": rep.skipped_parts,
            "proofs_passed": rep.proofs_passed,
            "warnings": list(rep.warnings),  # {code, part, message, incomplete}: EXCEL_RESAVED (recon.io.excel_resave)
        })
    key = hashlib.sha256("|".join([period] + sorted(r.file_id for r in reports)).encode()).hexdigest()[:8]
    return {
        "tool": "recon", "version": __version__,
        # the store's run sequence number keeps ids unique even for two runs in the same second
        "run_id": f"R{started:%Y%m%dT%H%M%S}-{key}-{con.execute('SELECT count(*) + 1 FROM run').fetchone()[0]}",
        "started_at": started.isoformat(),
        "finished_at": dt.datetime.now().replace(microsecond=0).isoformat(),
        "period": period,
        "rules": {"file": Path(rules.source).name, "sha256": rules.sha256},
        "dictionaries": _dictionary_hashes(dictionary),
        "inputs": inputs,
        "skipped_files": skipped_files(reports),
        "control_totals": totals,
        "file_totals": _file_totals(reports),
        "quarantined_lines": sum(r.as_dict()["quarantined"] for r in reports),
        "failed_proofs": [f"{r.path}{'/' + p.part if p.part else ''}: {pr['proof']}"
                          for r in reports for p in r.parts for pr in p.proofs if not pr["passed"]],
        "status_counts": status_counts,
        "by_code": by_code,
    }


def _unmapped_warning(u: dict) -> str:
    """The console's sentence for one unmapped ERP customer (``manifest.unmapped_customers``)."""
    amounts = " · ".join(f"{cur} {amt}".strip() for cur, amt in sorted(u["amount"].items()))
    why = (f"fits channels {', '.join(u['candidates'])} equally" if u.get("candidates")
           else "fits no channel of the channels file")
    name = "(no customer)" if u["customer"] is None else repr(u["customer"])
    return (f"ERP customer {name} ({u['lines']} lines, {amounts}) {why}: its lines have no channel, so no "
            "channel's rules, fees or dictionary entries apply to them; if it is a shop on a platform, add the "
            "name (or a contains:/regex: item) to erp_customers in rules/channels.yaml (--channels); a direct "
            "customer (an offline sale) has no channel and needs nothing")


def skipped_files(reports) -> list[dict]:
    """Every file and part a run did not read, with why: never silent (issue 11 point 16).

    One entry per unrecognised file and per skipped part of a file that loaded otherwise (a zip
    member: ``archive`` names the zip; a workbook sheet: ``sheet``). ``looks_like_ledger`` flags one
    whose header has amount and date columns: the run is incomplete without it.
    """
    out = []
    for rep in reports:
        if rep.status == "unrecognised":
            ledger = rep.looks_like_ledger
            parts = [s for s in rep.skipped if s.get("part")]
            if not parts:
                out.append({"path": rep.path, "archive": None, "sheet": None, "reason": rep.message,
                            "looks_like_ledger": ledger})
                continue
        elif rep.status in ("loaded", "already_loaded"):
            parts = rep.skipped
        else:
            continue
        for s in parts:
            member = s.get("container") == "zip"
            out.append({"path": f"{rep.path}/{s['part']}" if s.get("part") else rep.path,
                        "archive": rep.path if member else None,
                        "sheet": s["part"] if not member and s.get("part") else None,
                        "reason": s.get("reason", ""), "looks_like_ledger": bool(s.get("looks_like_ledger"))})
    return out


def _mark_copy(rep: FileReport, original: str) -> None:
    """A byte-identical copy of a file already in this run: every line of it is a duplicate."""
    rep.status = "copy"
    rep.message = f"byte-identical to {original} in this run; its lines count once, there"
    for p in rep.parts:
        p.amount_duplicate = str(Decimal(p.amount_loaded) + Decimal(p.amount_duplicate))
        p.amount_loaded = "0.00"
        p.duplicates, p.loaded, p.quarantined = p.data_lines, 0, 0


def _file_totals(reports) -> dict:
    """Per source family: the input files' line buckets, so loaded + duplicate + quarantined = data lines."""
    out: dict = {}
    for rep in reports:
        for p in rep.parts:
            t = out.setdefault(p.family, {"files": 0, "data_lines": 0, "loaded": 0, "duplicate": 0, "quarantined": 0,
                                          "amount_loaded": Decimal("0"), "amount_duplicate": Decimal("0")})
            t["data_lines"] += p.data_lines
            t["loaded"] += p.loaded
            t["duplicate"] += p.duplicates
            t["quarantined"] += p.quarantined
            t["amount_loaded"] += Decimal(p.amount_loaded)
            t["amount_duplicate"] += Decimal(p.amount_duplicate)
        for fam in {p.family for p in rep.parts}:
            out[fam]["files"] += 1
    for t in out.values():
        t["amount_loaded"] = str(t["amount_loaded"])
        t["amount_duplicate"] = str(t["amount_duplicate"])
    return dict(sorted(out.items()))


def resolve(db: str, refs=(), group: str | None = None, kind: str = "match", reason: str = "", by: str = "") -> dict:
    """`recon resolve`: record a manual decision over lines of the store; later runs apply it."""
    from recon.engine import decisions

    con = store.connect(db, must_exist=True)
    try:
        ids = decisions.find_lines(con, refs, group)
        decision_id = decisions.record(con, ids, kind, reason, by)
        return {"decision_id": decision_id, "lines": len(ids), "already_settled": _settled(con, ids)}
    finally:
        con.close()


def _settled(con, ids: list[int]) -> list[dict]:
    """The lines among ``ids`` that the last run holding them had already matched or explained (neither
    unknown nor review): a decision over them overrides the engine, which a mistyped line number does
    without a word unless the clerk is told (``recon resolve`` warns, naming the run and the code)."""
    rows = con.execute("""SELECT l.source_name, l.source_line, l.source_sheet, r.status, r.code, r.run_id
        FROM line_result r JOIN run USING (run_id) JOIN ledger_line l USING (line_id)
        WHERE r.line_id IN (SELECT unnest(?::BIGINT[]))
        QUALIFY row_number() OVER (PARTITION BY r.line_id ORDER BY run.started_at DESC, r.run_id DESC) = 1
        ORDER BY l.source_name, l.source_sheet NULLS FIRST, l.source_line""", [list(ids)]).fetchall()
    return [{"line": f"{name}:{line}" + (f"@{sheet}" if sheet else ""), "status": status, "code": code,
             "run_id": run_id} for name, line, sheet, status, code, run_id in rows
            if status not in ("unknown", "review")]


def revoke(db: str, decision_id: int, reason: str, by: str) -> dict:
    """`recon resolve --revoke`: revoke a decision (logged, never deleted); later runs no longer apply it."""
    from recon.engine import decisions

    con = store.connect(db, must_exist=True)
    try:
        decisions.revoke(con, decision_id, reason, by)
        return {"decision_id": decision_id, "revoked_by": by}
    finally:
        con.close()


def decisions(db: str, period: str | None = None) -> list[dict]:
    """`recon decisions`: every decision (of a period) with who/when/why, its lines and its state."""
    from recon.engine import decisions as engine

    start, end = period_bounds(period) if period else (None, None)
    con = store.connect(db, must_exist=True)
    try:
        return engine.listing(con, start, end)
    finally:
        con.close()


def summary(result: RunResult) -> dict:
    """The machine summary ``recon run --json`` prints: the verdict first, then counts, amounts, per-code
    totals, paths written."""
    from recon.report import statement as statement_report

    m = result.manifest
    keys = ("verdict", "exit_code", "run_id", "period", "status_counts", "by_code", "control_totals",
            "quarantined_lines", "failed_proofs", "skipped_files", "unmapped_customers", "fee_checks", "decisions",
            "cny_equivalent", "open_items", "carried", "outputs", "timings")
    out = {k: m.get(k) for k in keys}
    # closed periods this run posted prior-period adjustments for (manifest.json has them only when any)
    out["prior_period"] = m.get("prior_period") or []
    out["statement"] = statement_report.summary(m)  # the 余额调节表 in brief: foots, unexplained remainders
    # findings about whole files (EXCEL_RESAVED), each with the file it is about
    out["file_warnings"] = [{"path": f["path"], **w} for f in m.get("inputs", []) for w in f.get("warnings") or []]
    return out


def locate(db: str, amount: str, run_id: str | None = None, side: str | None = None, max_lines: int = 4) -> dict:
    """`recon locate`: the unexplained lines of a run whose amounts sum exactly to ``amount``."""
    from recon.engine import locate as finder

    try:
        value = parse_typed_amount(amount)
    except ValueError as exc:
        raise ReconError(str(exc)) from None
    target = int(value * 100)
    amount = str(value)
    if not 1 <= max_lines <= 4:
        raise ReconError("--max-lines must be 1 to 4")
    con = store.connect(db, must_exist=True)
    try:
        run_id = _pick_run(con, run_id)
        cands = finder.candidates(con, run_id, side)
    finally:
        con.close()
    found = finder.search(cands, target, max_lines)
    return {"run_id": run_id, "amount": amount, "candidates": len(cands), "combinations": len(found.solutions),
            "notes": found.notes, "any_size_possible": found.any_size_possible,
            "best": [[{"ref": cands[i].ref, "source": cands[i].source, "line": cands[i].label} for i in combo]
                     for combo in found.solutions]}


def _pick_run(con, run_id: str | None) -> str:
    """The run a command names (default: the store's last), or a user error saying how to list them."""
    from recon.report.runs import latest_run, require_run

    if run_id is None:
        return latest_run(con)
    return require_run(con, run_id)["run_id"]


def runs(db: str) -> list[dict]:
    """`recon runs`: every run the store holds, oldest first (id, period, start, exit code, counts, inputs)."""
    from recon.report.runs import list_runs

    con = store.connect(db, must_exist=True)
    try:
        found = list_runs(con)
        closed = {e["run_id"]: e for e in closing.listing(con)["periods"] if e["state"] == "closed"}
        for r in found:  # the run a period's close locked says so
            r["closed"] = closed.get(r["run_id"])
        return found
    finally:
        con.close()


def vouchers(db: str, out: Path, run_id: str | None = None, fmt: str = "generic",
             accounts: Path | None = None) -> dict:
    """`recon vouchers`: re-export a run's adjustment vouchers from the store (no re-import)."""
    from recon.report import voucher_export
    from recon.report.vouchers import build_vouchers, code_controls, write_vouchers

    chart = load_accounts(accounts)
    con = store.connect(db, must_exist=True)
    try:
        run_id = _pick_run(con, run_id)
        paths = write_vouchers(con, run_id, Path(out), fmt, chart)
        built = build_vouchers(con, run_id, chart)
        # what changed since each voucher was last exported, then this export marked (recon.report.voucher_export)
        since = voucher_export.compare(con, built, {_period_of(con, run_id)})
        export_no = voucher_export.mark(con, run_id, built)
        return {"run_id": run_id, "vouchers": len(built), "lines": sum(len(v.lines) for v in built),
                "paths": [str(p) for p in paths], "controls": code_controls(con, run_id, built),
                "export_no": export_no, "numbers": [v.number for v in built], **since}
    finally:
        con.close()


def _period_of(con, run_id: str) -> str:
    """The period a recorded run reconciled."""
    from recon.report.runs import require_run

    return require_run(con, run_id)["period"]


def close(db: str, period: str, by: str, reason: str, force: bool = False, accounts: Path | None = None) -> dict:
    """`recon close`: lock a period on its last finished run (``recon.period``)."""
    period_bounds(period)
    chart = load_accounts(accounts)
    con = store.connect(db, must_exist=True)
    try:
        return closing.close(con, period, by, reason, force, chart)
    finally:
        con.close()


def reopen(db: str, period: str, by: str, reason: str) -> dict:
    """`recon reopen`: open a closed period again, logged with who and why."""
    period_bounds(period)
    con = store.connect(db, must_exist=True)
    try:
        return closing.reopen(con, period, by, reason)
    finally:
        con.close()


def closes(db: str) -> dict:
    """`recon close --list`: each period's close state and every close and reopen event."""
    con = store.connect(db, must_exist=True)
    try:
        return closing.listing(con)
    finally:
        con.close()


def explain(db: str, order_no: str, run_id: str | None = None) -> dict:
    """`recon explain`: one order's lines in a run (default the last) with their three drill-down layers."""
    con = store.connect(db, must_exist=True)
    try:
        run_id = _pick_run(con, run_id)
        return drill.explain(con, run_id, order_no)
    finally:
        con.close()


def verify_out(out: Path, db: str | None = None) -> dict:
    """`recon verify --out`: is OUT one run's whole output set (``recon.outputs.verify_set``)? With
    ``db``, also: is its manifest.json the one that run published, as the store's run log says?"""
    if not Path(out).is_dir():
        raise ReconError(f"{out}: no such folder")
    found = outputs.verify_set(Path(out))
    if db is not None and found["run_id"] and Path(db).is_file():
        con = store.connect(db)
        try:
            problem = runlog.check_published(con, found["run_id"], evidence.sha256_file(Path(out) / "manifest.json"))
        finally:
            con.close()
        if problem:
            found["problems"].append(problem)
            found["state"] = "mixed"
    return found


def verify(db: str) -> dict:
    """`recon verify`: re-hash every evidence file and check the store against it (``recon.evidence.verify``),
    and check the run log's chain and the store against it (``recon.runlog.verify``: ``run_log``).

    The store must exist: verifying a path that holds none would create an empty one and pass.
    """
    if db != ":memory:" and not Path(db).is_file():
        raise ReconError(f"{db}: no such store; pass --db with the store `recon run` or `recon import` wrote")
    con = store.connect(db)
    try:
        return {**evidence.verify(con), "run_log": runlog.verify(con)}
    finally:
        con.close()


def pack(db: str, out: Path, run_id: str | None = None, accounts: Path | None = None, lang: str = "zh",
         top: int = 50) -> dict:
    """`recon pack`: one run's auditor pack (``recon.pack``), rendered from the store."""
    from recon import pack as auditor_pack

    chart = load_accounts(accounts)
    check_report_options(lang, top, "generic")
    con = store.connect(db, must_exist=True)
    try:
        return auditor_pack.write(con, _pick_run(con, run_id), Path(out), chart, lang, top)
    finally:
        con.close()


def verify_pack(path: Path) -> dict:
    """`recon verify --pack`: re-check an auditor pack without the store (``recon.pack_check``)."""
    from recon import pack_check

    if not Path(path).is_file():
        raise ReconError(f"{path}: no such file")
    return pack_check.verify_pack(Path(path))


def backtest(db: str, rules: Path | None = None, dictionaries=(), default_dictionary: bool = True,
             channels: Path | None = None, fees: Path | None = None, runs=()) -> dict:
    """`recon backtest`: replay stored runs with changed rules or dictionary entries, writing nothing
    (``recon.backtest``); the blast radius per run, and exit 1 when a closed period would change."""
    from recon import backtest as replay

    settings = Settings.load(rules, fees, None, channels, dictionaries, default_dictionary)
    return replay.backtest(db, settings, runs)

def diff(db: str, run_a: str | None = None, run_b: str | None = None, out: Path | None = None) -> dict:
    """`recon diff`: the open items' changes between two runs of a period (``recon.report.changes``);
    with ``out``, also written there as CSV."""
    from recon.report import changes

    con = store.connect(db, must_exist=True)
    try:
        found = changes.between(con, run_a, run_b)
        if out is not None:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            found["csv"] = str(changes.write_csv(con, Path(out)))
        return found
    finally:
        con.close()


def carried(db: str, period: str, dictionaries=(), default_dictionary: bool = True, channels: Path | None = None,
            as_of: dt.date | None = None, out: Path | None = None) -> dict:
    """`recon carried`: the lines the period before ``period`` leaves open for it (``recon.engine.carry_forward``):
    open lines and timing differences of its last finished run, with their due dates; with ``out``, as CSV."""
    from recon.engine import carry_forward

    if not re.match(r"^\d{4}-(0[1-9]|1[0-2])$", period or ""):
        raise ReconError(f"--period {period!r}: give the period as YYYY-MM, e.g. 2026-02")
    settings = Settings.load(None, None, None, channels, dictionaries, default_dictionary)
    lags = {c.code: c.settlement_lag_days for c in settings.channels}
    con = store.connect(db, must_exist=True)
    try:
        found = carry_forward.carried(con, period, settings.dictionary.timing_codes(), lags,
                                      as_of or dt.date.today())
        if out is not None and found["source_run"] is not None:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            found["csv"] = carry_forward.write_csv(con, Path(out))
        return found
    finally:
        con.close()
