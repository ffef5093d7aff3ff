"""recon's command line: flags -> one recon.api call -> printed summary -> exit code.

Exit codes (a run's are its verdict, ``recon.verdict``): 0 clean; 1 breaks (unknown, review or
quarantined lines, a code that blocks the close); 4 incomplete (the run finished but its coverage
cannot be trusted: no lines, a missing ledger family or channel, a skipped ledger-like or refused
file, a failed proof); 2 the run cannot go on (usage, configuration, no readable input, out of
memory); 3 a bug in recon (e.g. the conservation check failed); 130 interrupted. User errors print
one message without a traceback; bugs keep theirs.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

import click
import duckdb

from recon import __version__, api, progress, store, terminal, workspace
from recon.engine import cny
from recon.engine.steps import StepError
from recon.errors import EXIT_FINDINGS, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, ReconError
from recon.io import limits

DB_HELP = "DuckDB store file (also RECON_DB, or db: in recon.yaml)."
PROFILE_HELP = "Extra format profile YAML (repeatable); replaces a built-in profile of the same name."
FORMAT_HELP = "Force this format instead of detecting it from the content (see `recon formats`)."


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="recon")
@click.pass_context
def cli(ctx):
    """Reconcile platform settlements, ERP receivables and bank statements in one batch run.

    Files are read exactly as downloaded (GBK CSVs with preambles, WeChat backtick bills, XLSX,
    CAMT.053/MT940, ERP AR exports) into a DuckDB store, matched, and written out as results.csv,
    quarantine.csv and manifest.json.

    The store (--db) can also be set with the RECON_DB environment variable, and the store and
    default rules, dictionaries and accounts in a recon.yaml in the working folder or a parent
    (version: 1; db, rules, channels, fees, baseline, dictionaries, accounts; paths relative to it).
    A flag wins over RECON_DB, which wins over recon.yaml.

    Example:

        recon run sample_data --out out/
    """
    ctx.default_map = workspace.default_map(cli.commands)


def _print_file(rep, verbose=True):
    t = rep.totals()
    fmts = ", ".join(rep.formats) or "-"
    if rep.status == "unrecognised":
        flag = " [looks like a ledger: NOT in this run]" if rep.looks_like_ledger else ""
        click.echo(f"SKIP  {rep.name}{flag}: {rep.message}", err=True)
        return
    tag = {"already_loaded": "SAME", "copy": "COPY"}.get(rep.status, "LOAD")
    damaged = "  [re-saved by Excel: download it again]" if rep.warnings else ""
    click.echo(f"{tag}  {rep.name}  [{fmts}; {rep.encoding or rep.container}]  lines {t['data_lines']}: "
               f"loaded {t['loaded']}, duplicate {t['duplicates']}, quarantined {t['quarantined']}{damaged}")
    for w in rep.warnings:  # the file as a whole cannot be trusted (recon.io.excel_resave)
        click.echo(f"      {w['code']}{' ' + w['part'] if w.get('part') else ''}: {w['message']}")
    if rep.status in ("already_loaded", "copy"):
        click.echo(f"      {rep.message}")
    replaced = sum(p.superseded for p in rep.parts)
    if replaced and rep.status == "loaded":
        docs = sum(p.superseded_docs for p in rep.parts)
        click.echo(f"      replaced {replaced} line{'s' * (replaced != 1)} of {docs} earlier "
                   f"document{'s' * (docs != 1)} (a newer version of each came in this file)")
    if verbose:
        for p in rep.parts:
            for pr in p.proofs:
                mark = "ok " if pr["passed"] else "FAIL"
                click.echo(f"      proof {mark} {p.part + ': ' if p.part else ''}{pr['proof']}: "
                           f"declared {pr['expected']}, found {pr['actual']}"
                           + ("" if pr["passed"] else f" ({pr['detail']})"))
    for s in rep.skipped:
        flag = " [looks like a ledger: NOT in this run]" if s.get("looks_like_ledger") else ""
        click.echo(f"      skipped part {s.get('part') or '(file)'}{flag}: {s.get('reason') or 'not a known layout'}",
                   err=True)


LIMIT_HELP = ("Raise or lower an import limit, NAME=VALUE (repeatable): file=2GB (largest input file), "
              "unpacked=4GB (all layers of one archive together), ratio=200 (unpacked / packed size), "
              "field=1MB (largest CSV cell; a longer one is quarantined). A file over a limit is refused "
              "with the reason and the run goes on.")


def limit_option(command):
    return click.option("--limit", "limit", multiple=True, metavar="NAME=VALUE", help=LIMIT_HELP)(command)


def report_options(command):
    """The options of the reports (`recon run` and `recon report` render the same files)."""
    for option in reversed([
        click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
                     help="Language of report.html and of the verdict's reasons."),
        click.option("--top", default=50, show_default=True, type=click.IntRange(min=1),
                     help="Unknown lines shown in full (with their drill-down) in report.html; the workbook has all."),
        click.option("--voucher-format", type=click.Choice(["generic", "kingdee", "u8"]), default="generic",
                     show_default=True,
                     help="Also write the Kingdee (vouchers_kingdee.xlsx) or U8 (vouchers_u8.csv) layout."),
        click.option("--accounts", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="Chart of accounts YAML for the vouchers (default: the shipped rules/accounts.yaml)."),
        click.option("--matched-cap", default=100_000, show_default=True, type=click.IntRange(min=0),
                     help="Matched lines listed in recon.xlsx (results.csv always has every line)."),
    ]):
        command = option(command)
    return command


@cli.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--db", default="recon.duckdb", show_default=True, envvar="RECON_DB", help=DB_HELP)
@click.option("--profile", "profiles", multiple=True, type=click.Path(exists=True, path_type=Path),
              help=PROFILE_HELP)
@click.option("--format", "fmt", help=FORMAT_HELP)
@limit_option
@click.option("--memory-limit", help="Cap DuckDB's memory, e.g. 1GB; bigger work spills to STORE.tmp beside the store "
              "(default: 80% of RAM). Text files are read in chunks, so with a cap a file of gigabytes imports in "
              "bounded memory.")
def import_cmd(files, db, profiles, fmt, limit, memory_limit):
    """Load files (or folders, recursively) into the store without matching.

    A byte-identical file is not loaded twice; rows of an overlapping re-download that are
    already in the store are counted as duplicates.

    Example:

        recon import downloads/alipay_202601.zip downloads/jd/ --db close.duckdb
    """
    profs = api.load_profiles(profiles)
    con = store.connect(db, memory_limit)
    try:
        with limits.use(limits.Limits.parse(limit)):
            reports = api.import_paths(con, files, profs, forced=api.pick_format(profs, fmt))
    finally:
        con.close()
    for rep in reports:
        _print_file(rep)
    bad = any(r.status == "unrecognised" for r in reports)
    findings = any(r.totals()["quarantined"] or not r.proofs_passed or r.looks_like_ledger or r.warnings
                   for r in reports)
    sys.exit(EXIT_USAGE if bad else EXIT_FINDINGS if findings else EXIT_OK)


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--profile", "profiles", multiple=True, type=click.Path(exists=True, path_type=Path),
              help=PROFILE_HELP)
@click.option("--format", "fmt", help=FORMAT_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@limit_option
def sniff(file, profiles, fmt, as_json, limit):
    """Say what a file is (format, encoding, rows, problems) without loading it.

    A platform download that was opened and saved again in Excel (ids in scientific notation, times
    without seconds) is flagged EXCEL_RESAVED: its ids are damaged; download it again. Exit 1 then,
    as for quarantined lines or a failed proof.

    Example:

        recon sniff downloads/wechat_tradebill_20260131.csv
    """
    profs = api.load_profiles(profiles)
    with limits.use(limits.Limits.parse(limit)):
        rep, rejects = api.sniff(file, profs, forced=api.pick_format(profs, fmt))
    if as_json:
        d = rep.as_dict()
        d["quarantine"] = [{"line": ln, "sheet": sh, "column": col, "reason": why} for ln, sh, col, why in rejects]
        click.echo(json.dumps(d, ensure_ascii=False, indent=2, default=str))
    else:
        _print_file(rep)
        for p in rep.parts:
            click.echo(f"      part {p.part or '(file)'}: {p.format} ({p.family}), header on line {p.header_line}")
        for ln, sh, col, why in rejects[:50]:
            click.echo(f"      line {ln}{' [' + sh + ']' if sh else ''}{' column ' + col if col else ''}: {why}")
        if len(rejects) > 50:
            click.echo(f"      … {len(rejects) - 50} more quarantined lines")
    if rep.status == "unrecognised":
        sys.exit(EXIT_USAGE)
    sys.exit(EXIT_FINDINGS if rejects or not rep.proofs_passed or rep.looks_like_ledger or rep.warnings else EXIT_OK)


@cli.command()
@click.option("--profile", "profiles", multiple=True, type=click.Path(exists=True, path_type=Path),
              help=PROFILE_HELP)
def formats(profiles):
    """List the formats recon reads (built-in profiles and any --profile given).

    Example:

        recon formats --profile my_erp.yaml
    """
    for p in api.load_profiles(profiles):
        click.echo(f"{p.name:32} {p.family:9} {p.title}")


@cli.command()
@click.option("--orders", default=300, show_default=True, help="Orders in the generated month.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the files into.")
@click.option("--seed", default=20260131, show_default=True, help="Random seed (same seed, same bytes).")
@click.option("--period", default="2026-01", show_default=True, help="Month to generate, YYYY-MM.")
@click.option("--scale/--no-scale", default=None,
              help="Force (or refuse) scale mode; by default it is used from 100,000 orders on.")
def sample(orders, out, seed, period, scale):
    """Generate a consistent multi-channel month in every supported format, with planted discrepancies.

    The same arguments always write byte-identical files; the planted discrepancies are listed in
    OUT/.planted.json (a dot-file, so `recon run` skips it).

    Scale mode (from 100,000 orders on, for the 1M/10M benchmark) writes a clean month without
    planted discrepancies, vectorised, in the CSV-family layouts: Alipay's 业务明细 as the plain
    CSV, JD's 对账单 and the ERP's 应收单 list as CSV (an Excel sheet holds 1,048,576 rows); the
    bank statements keep their formats and realistic sizes.

    Example:

        recon sample --orders 1000 --out /tmp/month
        recon sample --orders 1000000 --out /tmp/month-1m
    """
    from recon.sample import generate

    paths = generate(out, orders=orders, seed=seed, period=period, scale=scale)
    click.echo(f"wrote {len(paths)} files to {out}")


@cli.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the results, reports, vouchers and manifest.json.")
@click.option("--period", help="Month to close, YYYY-MM (default: the one the platform files declare).")
@click.option("--db", default="recon.duckdb", show_default=True, envvar="RECON_DB", help=DB_HELP)
@click.option("--rules", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Matching rules YAML (default: the shipped rules/default.yaml).")
@click.option("--channels", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Channel configuration YAML (default: the shipped rules/channels.yaml): which ERP customers "
                   "(names compared normalised; contains:/regex: items) belong to each channel. Customers it "
                   "maps to no channel are listed as warnings and in manifest.json (unmapped_customers).")
@click.option("--fees", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Contract fee rules YAML (default: the shipped rules/fees.yaml).")
@click.option("--baseline", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Order baseline dimensions YAML (default: the shipped rules/baseline.yaml).")
@click.option("--profile", "profiles", multiple=True, type=click.Path(exists=True, path_type=Path),
              help=PROFILE_HELP)
@click.option("--format", "fmt", help=FORMAT_HELP)
@click.option("--json", "as_json", is_flag=True,
              help="Print a machine summary (verdict, counts, per-code totals, open items, prior-period "
                   "adjustments, the reconciliation statement in brief, paths written) as JSON on stdout.")
@click.option("--no-reports", is_flag=True,
              help="Write only results.csv and manifest.json (for scripts and benchmarks); removes older reports in OUT.")
@click.option("--evidence-days", default=api.EVIDENCE_DAYS, show_default=True, type=click.IntRange(min=0, max=366),
              help="Lines already in the store dated this many days after the period take part as evidence.")
@click.option("--dictionary", "dictionaries", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Known-discrepancy dictionary YAML (repeatable): added to the shipped dictionaries/default.yaml, "
                   "its entries overriding the shipped ones by code (later files override earlier ones).")
@click.option("--no-default-dictionary", is_flag=True,
              help="Use only the --dictionary files: the shipped dictionary is not loaded.")
@limit_option
@report_options
@click.option("--memory-limit", help="Cap DuckDB's memory, e.g. 4GB; bigger work spills to STORE.tmp beside the store, removed after the run (default: 80% of RAM).")
@click.option("--debug-sql", is_flag=True,
              help="Log every engine step to stderr: its name, SQL, bound parameters, seconds and the rows of the "
                   "table it wrote (stdout is unchanged, so --json stays parseable).")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), metavar="DATE",
              help="The date this run counts open items' ages to, YYYY-MM-DD (default: today): a replayed "
                   "night, or a test, sets its clock.")
def run(inputs, out, period, db, rules, channels, fees, baseline, profiles, fmt, as_json, no_reports, evidence_days,
        dictionaries, no_default_dictionary, limit, lang, top, voucher_format, accounts, matched_cap, memory_limit,
        debug_sql, as_of):
    """Import every file under INPUTS (recursively), match, classify, drill down, and write the results.

    The run reconciles every line the store (--db) holds for the period and its evidence window, not
    only tonight's files. Writes OUT/results.csv (one row per ledger line of the period with its
    final status, a Chinese explanation, and the finding: why, as stable codes such as
    AMOUNT_DIFFERS{"diff":"-5.00",...}; README lists them), OUT/quarantine.csv (lines that could not be read, with file, line, column and
    reason), OUT/order_baseline.csv (per order: receivable, received, refund due, refunded,
    commission and tax by source), OUT/report.html (the root-cause report, offline), OUT/recon.xlsx
    (the accountants' workbook), OUT/vouchers.csv + voucher_sources.csv (balanced adjustment
    vouchers; --voucher-format adds the Kingdee or U8 layout), OUT/decision_sources.csv (the lines
    manual decisions settled: who, when, why), OUT/reconciliation_statement.csv (the 余额调节表 per
    channel and currency: ERP receivable -> platform gross -> fees, subsidies and refunds -> payouts ->
    bank credits, each gap by code with its unexplained remainder; a statement that does not foot
    stops the run, exit 3) and OUT/manifest.json (inputs with
    SHA-256, control totals and proofs, counts per status and code, and the seconds each engine step
    took under "timings", and every output's SHA-256). Every unknown or review line is an open item:
    results.csv's last columns give its change since the period's previous run (open_state: new,
    persisting, reopened, resolved; resolved_by), the date it was first seen open and its age
    (age_days, age_bucket 0-1, 2-7, 8-30, >30), counted to --as-of (`recon diff` compares two runs).
    The previous period's last run's open lines and timing differences are carried into this run and
    matched with its lines; their finding starts CARRIED_CLEARED, CARRIED_OPEN or, past their channel's
    settlement lag as of --as-of, CARRIED_NOT_CLEARED (`recon carried` lists them). --no-reports writes
    only results.csv and manifest.json. The set is written beside OUT and swapped in whole in one atomic step, so a failed
    or killed run leaves the previous set untouched; your own files in OUT are kept, and a second run
    writing the same OUT is refused (`recon verify --out OUT` checks a set).
    Files no format recognises are skipped with a warning; a file that cannot be read (damaged, over a
    --limit, not a regular file) is refused with the reason and the run goes on without it.

    Every run ends in a verdict, printed first (and the first field of --json, of report.html and of
    manifest.json), with its reasons: exit 0 clean; 1 breaks (unknown, review or quarantined lines,
    or a code that blocks the close); 4 incomplete (no ledger line in the period, no platform, ERP or
    bank line, a channel the last run of the period had is missing, a skipped file looks like a
    ledger, a file was refused, a control proof failed, a file is shorter than its footer says);
    incomplete outranks breaks. With --period, an empty INPUTS folder reconciles what the store holds.
    2: the run cannot go on (usage, configuration, no readable input, out of memory); 3: a bug in recon.

    Example:

        recon run sample_data --out out/ --period 2026-01
    """
    cfg = api.RunConfig(inputs=list(inputs), out=out, db=db, period=period, rules=rules, channels=channels,
                        fees=fees, baseline=baseline, profiles=list(profiles), format=fmt, reports=not no_reports,
                        evidence_days=evidence_days, dictionaries=list(dictionaries), lang=lang, top=top,
                        voucher_format=voucher_format, accounts=accounts, matched_cap=matched_cap,
                        memory_limit=memory_limit, debug_sql=debug_sql, default_dictionary=not no_default_dictionary,
                        limits=limits.Limits.parse(limit), as_of=as_of.date() if as_of else None)

    def loaded(rep):  # each file's LOAD line as soon as it is imported: a log shows it even if a later step fails
        if rep.status != "unrecognised":
            _print_file(rep, verbose=False)

    result = api.run(cfg, progress=progress.for_stream(), on_file=None if as_json else loaded)
    if as_json:
        for w in result.warnings:
            click.echo(f"warning: {w}", err=True)
        click.echo(json.dumps(api.summary(result), ensure_ascii=False, indent=2))
        sys.exit(result.exit_code)
    m = result.manifest
    _print_verdict(result.verdict, lang)
    click.echo(f"period {m['period']}: " + ", ".join(f"{k} {v}" for k, v in result.counts.items()))
    eq = m.get("cny_equivalent")
    if eq:  # one CNY figure per status, labelled, only when the run holds another currency
        click.echo(f"  {eq['label']['en']} / {eq['label']['zh']}: " + ", ".join(
            f"{st} CNY {s['cny']}" if s["cny"] is not None else f"{st} none ({cny.missing_text(s['missing'], 'en')})"
            for st, s in eq["by_status"].items()))
    for src, t in m["control_totals"].items():  # amounts per currency: never one sum of yuan and dollars
        click.echo(f"  {src:8} in {t['in']['count']} lines / {_per_currency(t['in'])}  "
                   f"out {t['out']['count']} / {_per_currency(t['out'])}"
                   + (f"; carried in {t['carried_in']['count']} / {_per_currency(t['carried_in'])}  "
                      f"out {t['carried_out']['count']} / {_per_currency(t['carried_out'])}" if "carried_in" in t else ""))
    carried = m.get("carried")
    if carried:
        click.echo(f"  carried from {carried['carried_from']} (run {carried['source_run']}): {carried['lines']} line(s), "
                   f"{carried['cleared']} cleared, {carried['open']} within their settlement lag, "
                   f"{carried['not_cleared']} not cleared (CARRIED_NOT_CLEARED)")
    if m["quarantined_lines"]:
        click.echo(f"  quarantined lines: {m['quarantined_lines']} (see {out / 'quarantine.csv'})")
    for f in m["failed_proofs"]:
        click.echo(f"  FAILED proof: {f}")
    for sk in m.get("skipped_files", []):
        flag = " (looks like a ledger: the run is incomplete without it)" if sk.get("looks_like_ledger") else ""
        where = f" in {sk['archive']}" if sk.get("archive") else ""
        click.echo(f"  skipped file: {sk['path']}{where}{flag}")
    for w in result.warnings:
        click.echo(f"warning: {w}", err=True)
    click.echo(f"wrote {', '.join(m['outputs'])} (exit {result.exit_code})")
    sys.exit(result.exit_code)


def _print_verdict(verdict, lang: str) -> None:
    """The verdict line and one line per reason, before anything else of the summary."""
    from recon.verdict import VERDICT_ZH

    state = verdict.state + (f" ({VERDICT_ZH[verdict.state]})" if lang == "zh" else "")
    click.echo(f"verdict: {state}, exit {verdict.exit_code}")
    for sentence in verdict.sentences(lang):
        click.echo(f"  {sentence}")


def _per_currency(bucket) -> str:
    """A control-total bucket's amount, one figure per currency (``CNY 1.00 · USD 2.00``)."""
    by = bucket.get("by_currency") or {}
    return " · ".join(f"{cur} {amount}" for cur, amount in sorted(by.items())) or "0.00"


@cli.command()
@click.option("--db", default="recon.duckdb", show_default=True, envvar="RECON_DB", help=DB_HELP)
@click.option("--line", "refs", multiple=True, metavar="FILE:LINE[@SHEET]",
              help="A ledger line as results.csv names it (source_file:source_line, @source_sheet for XLSX); repeatable.")
@click.option("--group", help="Every line of this match_group in the store's last run.")
@click.option("--match", "kind", flag_value="match", default=True, help="These lines belong together (default).")
@click.option("--accept", "kind", flag_value="accept", help="Accept the difference between these lines.")
@click.option("--revoke", "revoke_id", type=int, metavar="ID",
              help="Revoke decision ID instead (logged with --reason and --by, never deleted).")
@click.option("--reason", required=True, help="Why: shown in every later run's explanation.")
@click.option("--by", "by", required=True, help="Who decided.")
def resolve(db, refs, group, kind, revoke_id, reason, by):
    """Record a manual decision: pick a review candidate, or accept a difference, with who and why.

    Later runs apply it before the match passes (status matched, code decision:<id>). If the lines
    change (re-imported, another amount or date) the decision is stale: not applied, and listed in
    manifest.json under decisions.stale with why. A decision over a line another decision in force
    already covers is refused, naming it: revoke that one first (--revoke ID). A line the last run
    holding it had already matched or explained (not an open item) is named in a warning, with the
    command that revokes the decision if the line was mistyped. `recon decisions` lists them all.

    Example:

        recon resolve --group G1a2b3c4d5e6f7a8b --accept --reason "优惠券按面值入账, 已与运营确认" --by 张会计
        recon resolve --revoke 3 --reason "ERP 已重新导出, 改为配对" --by 张会计
    """
    if revoke_id is not None:
        if refs or group:
            raise click.UsageError("--revoke takes no --line or --group: it revokes the decision as recorded")
        api.revoke(db, revoke_id, reason, by)
        click.echo(f"decision #{revoke_id} revoked by {by}; later runs no longer apply it")
        sys.exit(EXIT_OK)
    res = api.resolve(db, refs, group, kind, reason, by)
    click.echo(f"decision #{res['decision_id']} recorded over {res['lines']} lines; the next run applies it")
    for s in res["already_settled"]:  # a mistyped line number would otherwise re-pair good matches silently
        click.echo(f"warning: {s['line']} is not an open item: run {s['run_id']} had it {s['status']} "
                   f"({s['code']}); decision #{res['decision_id']} overrides that. If this is not the line you "
                   f"meant: recon resolve --revoke {res['decision_id']} --reason TEXT --by NAME", err=True)
    sys.exit(EXIT_OK)


@cli.command("decisions")
@click.option("--db", default="recon.duckdb", show_default=True, envvar="RECON_DB", help=DB_HELP)
@click.option("--period", help="Only decisions with a line dated in this month (YYYY-MM).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def decisions_cmd(db, period, as_json):
    """List manual decisions: who, when, why, the lines they cover, and their state.

    State is against the last finished run made after the decision: applied, stale (with why: its
    lines changed, were replaced by a re-export, or overlap an earlier decision), revoked (who, when,
    why), or pending (no run since).

    Example:

        recon decisions --period 2026-01
    """
    found = api.decisions(db, period)
    if as_json:
        click.echo(json.dumps(found, ensure_ascii=False, indent=2))
        sys.exit(EXIT_OK)
    if not found:
        click.echo("no decisions" + (f" for {period}" if period else ""))
    for d in found:
        click.echo(f"#{d['decision_id']}  {d['state']:8} {d['kind']:6} {d['created_at'][:16]}  {d['created_by']}: "
                   f"{d['reason']}")
        click.echo(f"      lines ({d['lines']}): {', '.join(d['refs'])}")
        if d["state"] == "stale":
            click.echo(f"      stale in {d['run_id']}: {d['why']}")
        elif d["state"] == "revoked":
            r = d["revoked"]
            click.echo(f"      revoked {r['at'][:16]} by {r['by']}: {r['reason']}")
    sys.exit(EXIT_OK)


@cli.command(context_settings={"ignore_unknown_options": True})  # so that -137.06 is an amount, not an option
@click.argument("amount")
@click.option("--db", default="recon.duckdb", show_default=True, envvar="RECON_DB", help=DB_HELP)
@click.option("--run", "run_id", help="Run id (default: the store's last run).")
@click.option("--side", type=click.Choice(["platform", "erp", "bank", "residual"]),
              help="Only lines of this ledger, or `residual`: the residuals of unexplained order groups.")
@click.option("--max-lines", default=4, show_default=True, help="Largest combination searched (1-4).")
@click.option("--top", default=10, show_default=True, help="How many of the best combinations to print.")
def locate(amount, db, run_id, side, max_lines, top):
    """Find which unexplained lines (unknown or review) sum exactly to a difference, in cents.

    AMOUNT as you would type it: 428.36, -137.06, ¥12,500.00, (12.30), full-width digits.

    Every combination of 1-3 lines is searched exhaustively, 4 lines over the 40 candidates closest
    in size; all combinations found are counted and the most plausible (fewer lines, one channel,
    close dates) printed. Ambiguity is normal: it never names a single answer.

    Example:

        recon locate 428.36 --side erp
        recon locate -137.06
        recon locate ¥12,500.00
    """
    res = api.locate(db, amount, run_id, side, max_lines)
    click.echo(f"run {res['run_id']}: {res['combinations']} combination(s) of up to {max_lines} lines "
               f"among {res['candidates']} unexplained lines sum to {res['amount']}")
    for n, combo in enumerate(res["best"][:top], start=1):
        click.echo(f"  {n}. " + " + ".join(f"{c['ref']} ({c['line'].strip()})" for c in combo))
    if len(res["best"]) > top:
        click.echo(f"  … {len(res['best']) - top} more (--top to see them)")
    for note in res["notes"]:
        click.echo(f"  note: search limited: {note}")
    verdict = {True: "some combination of any size sums to it", False: "no combination of any size sums to it",
               None: "unknown (amounts of both signs, or the check ran out of time)"}
    click.echo(f"  any number of lines: {verdict[res['any_size_possible']]}")
    sys.exit(EXIT_OK if res["combinations"] else EXIT_FINDINGS)


@cli.command()
@click.argument("order_no")
@click.option("--db", default="recon.duckdb", show_default=True, envvar="RECON_DB", help=DB_HELP)
@click.option("--run", "run_id", help="Run id (default: the store's last run; `recon runs` lists them).")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
              help="Language of the labels and the finding.")
@click.option("--json", "as_json", is_flag=True, help="Print the drill-down structure (as the HTML report reads it).")
def explain(order_no, db, run_id, lang, as_json):
    """Show why an order's lines ended as they did: all three drill-down layers in the terminal.

    For each line of the order in the run: its status, code and explanation; layer 1, the nearest
    lines on the other sides (same order number, then closest amount and date) with the field-by-field
    differences; layer 2, every original field of the raw record as imported, with state fields (!)
    and fields that disagree with the candidate (≠) marked; then layer 3, the order's audit-log events
    in time order with status changes that moved no money called out. The order number is compared on
    letters and digits only, so 'ABC-123 and abc123 are the same order.

    Example:

        recon explain 6975236259583437514 --db close.duckdb
    """
    from recon.explain import render

    res = api.explain(db, order_no, run_id)
    click.echo(json.dumps(res, ensure_ascii=False, indent=2) if as_json else render(res, lang))
    sys.exit(EXIT_OK)


@cli.command()
@click.argument("run_a", required=False)
@click.argument("run_b", required=False)
@click.option("--db", default="recon.duckdb", show_default=True, envvar="RECON_DB", help=DB_HELP)
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.csv",
              help="Also write the changes to this CSV file (UTF-8 with BOM, as results.csv).")
@click.option("--json", "as_json", is_flag=True, help="Print the changes as JSON.")
def diff(run_a, run_b, db, out, as_json):
    """What changed between two runs of a period: each open item (unknown or review line) that is new,
    persisting, reopened or resolved (and by what: new_file, rule, decision, correction), with its age.

    With no RUN: the last two runs of the latest period; with RUN_A alone: RUN_A against the run
    before it in its period; with both: the earlier against the later, any two runs of one period.

    Example:

        recon diff --db close.duckdb --out changes.csv
    """
    found = api.diff(db, run_a, run_b, out)
    if as_json:
        click.echo(json.dumps(found, ensure_ascii=False, indent=2, default=str))
        sys.exit(EXIT_OK)
    s = found["summary"]
    click.echo(f"period {found['period']}: {found['before']} -> {found['now']} (ages as of {found['as_of']})")
    click.echo("  " + ", ".join(f"{k} {v}" for k, v in s["states"].items()) + f"; open {s['open']}")
    click.echo("  resolved by: " + ", ".join(f"{k} {v}" for k, v in s["resolved_by"].items() if v) if
               s["states"]["resolved"] else "  resolved by: -")
    click.echo("  open by age (days): " + ", ".join(f"{k} {v}" for k, v in s["age_buckets"].items()))
    for it in found["items"]:
        where = f"{it['source_file']}:{it['source_line']}" + (f"@{it['source_sheet']}" if it["source_sheet"] else "")
        how = f" by {it['resolved_by']}" if it["resolved_by"] else ""
        click.echo(f"  {it['state'] + how:22} {it['source']:8} {where}  {it['order_no'] or '-'}  "
                   f"{it['currency'] or ''} {it['amount']}  {it['status_before'] or '-'} -> {it['status_now'] or '-'}  "
                   f"first seen {it['first_seen']} ({it['age_bucket']} d)")
    if found.get("csv"):
        click.echo(f"wrote {found['csv']}")
    sys.exit(EXIT_OK)


@cli.command()
@click.option("--period", required=True, metavar="YYYY-MM", help="The period the lines are carried into.")
@click.option("--db", default="recon.duckdb", show_default=True, envvar="RECON_DB", help=DB_HELP)
@click.option("--dictionary", "dictionaries", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A dictionary on top of the shipped one (repeatable): its entries marked `timing: true` are carried.")
@click.option("--no-default-dictionary", is_flag=True, help="Use the --dictionary files alone.")
@click.option("--channels", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Channels YAML (default: the shipped rules/channels.yaml): each channel's settlement_lag_days.")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), metavar="DATE",
              help="Count ages and overdue lines to this date (default: today).")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.csv",
              help="Also write the carried lines to this CSV file (UTF-8 with BOM, as results.csv).")
@click.option("--json", "as_json", is_flag=True, help="Print the carried lines as JSON.")
def carried(period, db, dictionaries, no_default_dictionary, channels, as_of, out, as_json):
    """The lines the period before PERIOD leaves open for it: timing carry-forward.

    From the last finished run of the previous period (closed or not): its unknown and review lines,
    and its known lines whose dictionary entry is a timing difference (`timing: true`: SETTLEMENT_CUTOFF,
    REFUND_PERIOD_TIMING, FEE_PERIOD_MISMATCH), each with its first sighting, its age and its due date
    (its channel's settlement_lag_days after the end of its month). A line past its due date as of --as-of is
    overdue: its counterpart should have arrived by now. `recon run` of PERIOD matches these lines with its
    own; this command only reads the store, to see them before that run.

    Example:

        recon carried --period 2026-02 --db close.duckdb --as-of 2026-02-10 --out carried.csv
    """
    found = api.carried(db, period, dictionaries, not no_default_dictionary, channels,
                        as_of.date() if as_of else None, out)
    if as_json:
        click.echo(json.dumps(found, ensure_ascii=False, indent=2, default=str))
        sys.exit(EXIT_OK)
    if found["source_run"] is None:
        click.echo(f"period {period}: no finished run of {found['carried_from']} in this store; nothing carried")
        sys.exit(EXIT_OK)
    lines = found["lines"]
    overdue = sum(1 for ln in lines if ln["overdue"])
    click.echo(f"period {period}: {len(lines)} line(s) carried from {found['carried_from']} (run {found['source_run']}), "
               f"{overdue} overdue as of {found['as_of']}")
    for s in found["summary"]:
        click.echo(f"  {s['status']:8} {s['code'] or '-':22} {s['currency'] or '':4} {s['lines']:>6} line(s) "
                   f"{s['amount']:>14}  overdue {s['overdue']}")
    for ln in lines:
        where = f"{ln['source_file']}:{ln['source_line']}" + (f"@{ln['source_sheet']}" if ln["source_sheet"] else "")
        click.echo(f"  {'OVERDUE' if ln['overdue'] else 'due':7} {ln['due_by']}  {ln['source']:8} {where}  "
                   f"{ln['channel'] or '-'} {ln['order_no'] or '-'}  {ln['currency'] or ''} {ln['amount']}  "
                   f"{ln['status']}{':' + ln['code'] if ln['code'] else ''}  first seen {ln['first_seen'] or '-'}")
    if found.get("csv"):
        click.echo(f"wrote {found['csv']}")
    sys.exit(EXIT_OK)


@cli.command()
@click.option("--db", default="recon.duckdb", show_default=True, envvar="RECON_DB", help=DB_HELP)
@click.option("--rules", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The changed matching rules (default: the shipped rules/default.yaml).")
@click.option("--dictionary", "dictionaries", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A changed or added dictionary, on top of the shipped one (repeatable; a later file's entry "
                   "replaces one with the same code).")
@click.option("--no-default-dictionary", is_flag=True, help="Replay with the --dictionary files alone.")
@click.option("--channels", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Channels file the runs used, if not the shipped one.")
@click.option("--fees", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Fee rules the runs used, if not the shipped ones.")
@click.option("--runs", "run_ids", multiple=True, metavar="RUN[,RUN…]",
              help="Replay these runs (repeatable or comma-separated; default: every finished run).")
@click.option("--json", "as_json", is_flag=True, help="Print the blast radius as JSON.")
def backtest(db, rules, dictionaries, no_default_dictionary, channels, fees, run_ids, as_json):
    """Replay stored runs with changed rules or dictionary entries and show what would change; writes nothing.

    Each run is replayed over the files the store held when it ran (its own files included) and compared
    line by line with what it decided: lines whose status or code would change, per code and run, with
    amounts per currency; every unknown or review line that would become known or matched (the
    false-clean risk), listed; the known cases' voucher totals that would change. The store is opened
    read-only. Exit 1 when a run of a closed period would change, else 0.

    Example:

    \b
        recon backtest --dictionary my_codes.yaml
        recon backtest --rules rules/looser.yaml --runs R20260201T020000-1a2b3c4d-7
    """
    from recon.backtest import amounts

    run_ids = [r.strip() for given in run_ids for r in given.split(",") if r.strip()]
    res = api.backtest(db, rules, dictionaries, not no_default_dictionary, channels, fees, run_ids)
    if as_json:
        click.echo(json.dumps(res, ensure_ascii=False, indent=2))
        sys.exit(res["exit_code"])
    for r in res["runs"]:
        click.echo(f"{r['run_id']}  {r['period']}{'  (closed)' if r['closed'] else ''}: "
                   f"{r['lines_changed']} lines would change, {r['false_clean_count']} would turn clean")
        for c in r["changes"]:
            was, now = c["from"], c["to"]
            click.echo(f"  {was['status'] or '-'}:{was['code'] or '-'} -> {now['status'] or '-'}:{now['code'] or '-'}"
                       f"  {c['lines']} lines  {amounts(c['amount'])}")
        for f in r["false_clean"]:
            click.echo(f"  FALSE-CLEAN RISK {f['ref']} {f['currency']} {f['amount']}: {f['from']['status']} -> "
                       f"{f['to']['status']}:{f['to']['code']}")
        if r["false_clean_count"] > len(r["false_clean"]):
            click.echo(f"  … {r['false_clean_count'] - len(r['false_clean'])} more (--json lists the first ones too)")
        for v in r["vouchers"]:
            click.echo(f"  voucher {v['code']} {v['channel'] or '-'}: {v['cases_before']} cases, debit {v['debit_before']}"
                       f" -> {v['cases_after']} cases, debit {v['debit_after']}")
    if res["closed_periods_changed"]:
        click.echo(f"closed periods that would change: {', '.join(res['closed_periods_changed'])}")
    sys.exit(res["exit_code"])


@cli.command()
@click.option("--db", default="recon.duckdb", show_default=True, envvar="RECON_DB", help=DB_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
def runs(db, as_json):
    """List the runs the store holds, oldest first: id, period, start, verdict and exit code, lines by status, inputs.

    Any of them can be re-exported without re-importing (`recon vouchers --run RUN`).

    Example:

        recon runs --db close.duckdb
    """
    found = api.runs(db)
    if as_json:
        click.echo(json.dumps(found, ensure_ascii=False, indent=2))
        sys.exit(EXIT_OK)
    if not found:
        click.echo("no runs in this store yet")
    for r in found:
        c = r["counts"]
        if r["state"] == "aborted":
            click.echo(f"{r['run_id']}  {r['period'] or '-'}  {r['started_at']}  aborted (interrupted)")
            continue
        click.echo(f"{r['run_id']}  {r['period']}  {r['started_at']}  {r['verdict']:10} exit {r['exit_code']}  "
                   f"matched {c['matched']}, known {c['known']}, unknown {c['unknown']}, review {c['review']}  "
                   f"({r['inputs']} input files)" + _closed_tag(r.get("closed")))
    sys.exit(EXIT_OK)


def _closed_tag(closed) -> str:
    if not closed:
        return ""
    return (f"  [closes {closed['period']}: by {closed['by']} at {closed['at']}"
            + (", forced" if closed["forced"] else "") + f"; {closed['reason']}]")


@cli.command("close")
@click.option("--period", help="The month to close, YYYY-MM.")
@click.option("--by", "by", help="Who closes it (kept in the close record and the run log).")
@click.option("--reason", help="Why it closes now (required; kept in the close record and the run log).")
@click.option("--force", is_flag=True,
              help="Close even though the last run's verdict is incomplete, a dictionary code blocks the close, or "
                   "lines of the period were imported after it; the close record says it was forced, and why.")
@click.option("--list", "as_list", is_flag=True, help="List each period's close state and every close and reopen.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--accounts", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Chart of accounts YAML the vouchers were numbered with (default: the shipped rules/accounts.yaml).")
@click.option("--db", default="recon.duckdb", show_default=True, envvar="RECON_DB", help=DB_HELP)
def close_cmd(period, by, reason, force, as_list, as_json, accounts, db):
    """Lock a period on its last finished run: its results and voucher numbers are fixed.

    The run closed on is the period's last finished run, named in the output. A period with no
    finished run cannot close; nor can one whose last run is incomplete, holds a code that blocks
    the close or never saw lines of the period imported since, unless --force (the record says it
    was forced). A run with breaks closes, its verdict
    kept in the record. The close is refused while the run log is broken (`recon verify`).

    After the close, `recon run` of that period is refused (exit 2); late files for it go into the
    next period's run, where what they change becomes a prior-period adjustment voucher citing the
    closed run. The close is an event of the run log; `recon reopen` undoes it, logged.
    With --list: each period's state (closed or reopened, on which run, by whom, when, why) and
    every event.

    Example:

        recon close --period 2026-01 --by 张三 --reason "month end, CFO approved"
        recon close --list
    """
    if as_list:
        found = api.closes(db)
        if as_json:
            click.echo(json.dumps(found, ensure_ascii=False, indent=2))
            sys.exit(EXIT_OK)
        if not found["periods"]:
            click.echo("no period has been closed in this store")
        for p in found["periods"]:
            click.echo(f"{p['period']}  {p['state']:8}  run {p['run_id']}  by {p['by']}  at {p['at']}"
                       + ("  FORCED" if p["forced"] else "") + f"  reason: {p['reason']}")
        for e in found["events"]:
            click.echo(f"  event {e['event_no']}: {e['action']} {e['period']} (run {e['run_id']}) by {e['by']} at "
                       f"{e['at']}: {e['reason']}")
            for why in e["overridden"]:
                click.echo(f"    forced past: {why}")
        sys.exit(EXIT_OK)
    if not period:
        raise ReconError("--period is required: the month to close, YYYY-MM (or --list to see the closed ones)")
    res = api.close(db, period, by, reason, force, accounts)
    if as_json:
        click.echo(json.dumps(res, ensure_ascii=False, indent=2))
        sys.exit(EXIT_OK)
    click.echo(f"closed {res['period']} on run {res['run_id']} (verdict {res['verdict']}) by {res['by']}: "
               f"{res['reason']}")
    for why in res["overridden"]:
        click.echo(f"  FORCED past: {why}")
    numbers = sorted(v["number"] for v in res["vouchers"])
    click.echo(f"  {len(numbers)} voucher number(s) fixed" + (f": {numbers[0]} … {numbers[-1]}" if numbers else ""))
    gaps = _number_gaps(numbers)
    if gaps:  # a clerk counting the range would otherwise look for the missing ones
        click.echo(f"  not among them: {', '.join(gaps)} (vouchers of earlier runs of the period that this run "
                   "no longer has; a number is never issued again)")
    sys.exit(EXIT_OK)


def _number_gaps(numbers: list[str]) -> list[str]:
    """The numbers between the first and the last of ``numbers`` (``PREFIX-0001`` …) that are not in it."""
    if not numbers:
        return []
    prefix, _, _ = numbers[0].rpartition("-")
    width = len(numbers[0]) - len(prefix) - 1
    seqs = {int(n.rpartition("-")[2]) for n in numbers if n.rpartition("-")[0] == prefix}
    return [f"{prefix}-{s:0{width}d}" for s in range(min(seqs), max(seqs) + 1) if s not in seqs]


@cli.command()
@click.option("--period", required=True, help="The closed month to open again, YYYY-MM.")
@click.option("--by", "by", required=True, help="Who reopens it.")
@click.option("--reason", required=True, help="Why it must change (kept in the close record and the run log).")
@click.option("--db", default="recon.duckdb", show_default=True, envvar="RECON_DB", help=DB_HELP)
def reopen(period, by, reason, db):
    """Open a closed period again, so that a run of it may change its results; logged with who and why.

    Its voucher numbers stay: a voucher keeps its number, and a new one gets the period's next free
    number. `recon close` locks it again, on its last run then.

    Example:

        recon reopen --period 2026-01 --by 张三 --reason "ICBC re-issued 01-31"
    """
    res = api.reopen(db, period, by, reason)
    click.echo(f"reopened {res['period']} (was closed on run {res['run_id']}) by {res['by']}: {res['reason']}")
    sys.exit(EXIT_OK)


@cli.command()
@click.option("--db", default="recon.duckdb", show_default=True, envvar="RECON_DB", help="DuckDB store file to check.")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path),
              help="Check this output folder instead: one run's whole set (every file the manifest hashes), "
                   "a mixed set, or none.")
@click.option("--pack", "pack_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Check this auditor pack (`recon pack`) instead, without the store: every member against its "
                   "SHA256SUMS, the run log's links, the manifest and inputs against the log.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.pass_context
def verify(ctx, db, out, pack_path, as_json):
    """Check the evidence folder and the run log of the store, or (--out) that an output folder holds
    one run's set, or (--pack) an auditor pack.

    Re-hashes each file in DB.evidence/ and checks it against the store: every imported file has
    its evidence, of the size and SHA-256 recorded at import. Evidence files the store does not know
    are listed, never deleted. Checks the run log (every run, its outputs, every decision and
    revocation, chained by hash) link by link, and the store's runs, decisions and revocations against
    it: the first broken link is named (event number, kind, what differs). With --pack, checks an
    auditor pack alone: every member against SHA256SUMS, the zip's layout, the run log's links. With --out, checks OUT against its manifest.json's output_sha256:
    whole (every output is the file that run wrote), mixed (which files are not), or absent; the
    store is checked too when --db or RECON_DB names it, and OUT's manifest.json against the run the
    store's run log says published it. Exit 0 when all is well, 1 when any file is
    missing or altered or the set is mixed or absent.

    Example:

        recon verify --db close.duckdb
        recon verify --out out/
        recon verify --pack audit-2026-01.zip
    """
    if pack_path is not None:
        found = api.verify_pack(pack_path)
        if as_json:
            click.echo(json.dumps(found, ensure_ascii=False, indent=2))
        else:
            for p in found["problems"]:
                click.echo(f"{pack_path}: {p}")
            if not found["problems"]:
                click.echo(f"{pack_path}: the auditor pack of run {found['run_id']}, {found['members']} members, "
                           "every hash and run-log link intact")
        sys.exit(EXIT_FINDINGS if found["problems"] else EXIT_OK)
    failed = False
    result: dict = {}
    if out is not None:
        named_db = ctx.get_parameter_source("db") is not click.core.ParameterSource.DEFAULT
        result["out"] = found = api.verify_out(out, db if named_db else None)
        failed = found["state"] != "whole"
        if not as_json:
            if found["state"] == "whole":
                click.echo(f"{out}: the whole output set of run {found['run_id']}")
            else:
                click.echo(f"{out}: {found['state']} output set" + (f" (manifest of run {found['run_id']})"
                                                                      if found["run_id"] else ""))
                for p in found["problems"]:
                    click.echo(f"  {p}")
    source = ctx.get_parameter_source("db")
    if out is None or source is not click.core.ParameterSource.DEFAULT:
        result["store"] = res = api.verify(db)
        chain = res["run_log"]
        failed = failed or bool(res["problems"]) or bool(chain["problems"])
        if not as_json:
            for p in res["problems"]:
                click.echo(f"{p['name']}: evidence {p['problem']} ({p['evidence']}); {p['fix']}")
            for u in res["unknown"]:
                click.echo(f"not known to the store (left as it is; delete it if nothing needs it): {u}")
            good = res["files"] - len(res["problems"])
            click.echo(f"{good} of {res['files']} imported files have their evidence intact"
                       + (f" in {res['folder']}" if res["folder"] else ""))
            _echo_chain(chain)
    if as_json:
        click.echo(json.dumps(result.get("store", {}) if out is None else result, ensure_ascii=False, indent=2))
    sys.exit(EXIT_FINDINGS if failed else EXIT_OK)


@cli.command()
@click.option("--run", "run_id", help="Run id (default: the store's last run; `recon runs` lists them).")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The zip to write (replaced whole).")
@click.option("--db", default="recon.duckdb", show_default=True, envvar="RECON_DB", help="DuckDB store file.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
              help="Language of the pack's report.html.")
@click.option("--accounts", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Chart of accounts YAML (default: the shipped rules/accounts.yaml).")
def pack(run_id, out, db, lang, accounts):
    """Write one run's auditor pack: a self-contained, deterministic zip an auditor can check alone.

    Holds the run's manifest, its input files' SHA-256, the raw records of every unknown, review,
    known and decided line and of the lines behind its prior-period adjustments (read back from the
    evidence store), results, vouchers and voucher sources, the reconciliation statement, the offline
    HTML report, the decisions with who/when/why, the run log up to the run, a README and SHA256SUMS.
    The same run gives the same bytes. `recon verify --pack FILE` checks it.

    Example:

        recon pack --run R20260201T020000-1a2b3c4d-7 --out audit-2026-01.zip
        recon verify --pack audit-2026-01.zip
    """
    res = api.pack(db, out, run_id, accounts, lang)
    click.echo(f"wrote {res['out']}: the auditor pack of run {res['run_id']} ({len(res['members'])} files)")
    sys.exit(EXIT_OK)


def _echo_chain(chain: dict) -> None:
    """The run log's findings, the first broken link first."""
    if chain["first"]:
        f = chain["first"]
        where = f"event {f['seq']} ({f['kind']})" if f["seq"] is not None else f["subject"]
        click.echo(f"run log: first broken link at {where}: {f['problem']}")
        for p in chain["problems"][1:]:
            where = f"event {p['seq']} ({p['kind']})" if p["seq"] is not None else p["subject"]
            click.echo(f"  also {where}: {p['problem']}")
    elif chain["events"]:
        click.echo(f"run log: {chain['events']} events, every link intact and the store as logged "
                   f"(head {chain['head'][:16]})")
    else:
        click.echo("run log: not started (no run or decision recorded since this recon kept one)")


@cli.command()
@click.option("--run", "run_id", help="Run id (default: the store's last run; `recon runs` lists them).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for vouchers.csv, voucher_sources.csv, decision_sources.csv and the ERP layout.")
@click.option("--voucher-format", "fmt", type=click.Choice(["generic", "kingdee", "u8"]), default="generic",
              show_default=True, help="Also write the Kingdee (vouchers_kingdee.xlsx) or Yonyou U8 (vouchers_u8.csv) "
                                      "import layout.")
@click.option("--accounts", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Chart of accounts YAML (default: the shipped rules/accounts.yaml).")
@click.option("--db", default="recon.duckdb", show_default=True, envvar="RECON_DB", help=DB_HELP)
def vouchers(run_id, out, fmt, accounts, db):
    """Export a run's adjustment vouchers from the store: one per (period, code, channel), balanced.

    Writes OUT/vouchers.csv (recon's generic layout), OUT/voucher_sources.csv (every source line
    each voucher corrects), OUT/decision_sources.csv (every line a manual decision settled, with the
    decision's id, who, when and why) and, with --voucher-format, the Kingdee or U8 import file. Accounts come
    from the chart (--accounts); a correction naming an account the chart lacks is an error and
    nothing is written. A voucher whose cases move money between one pair of accounts is posted net
    (one debit, one credit). Exit 1 when a code's voucher total differs from what its cases' residuals
    call for (Σ|residual|, or for a netted voucher the net of the residuals).

    Numbers are the store's: a voucher keeps its number across the period's runs, a new one gets
    the next free number. Each export is recorded; a voucher exported before whose total changed
    since (CHANGED), or that the run no longer has (WITHDRAWN), is listed with its last export, and
    the command exits 1: it was posted, so the ERP needs the difference or a reversal.

    Example:

        recon vouchers --run R20260201T090000-1a2b3c4d-1 --out out/ --voucher-format kingdee
    """
    res = api.vouchers(db, out, run_id, fmt, accounts)
    click.echo(f"run {res['run_id']}: {res['vouchers']} voucher(s), {res['lines']} lines")
    differs = [c for c in res["controls"] if not c["agrees"]]
    for c in res["controls"]:
        click.echo(f"  {c['code']}: {c['cases']} case(s), {c['vouchers']} voucher(s) totalling {c['voucher_total']}"
                   + (f" vs net of residuals {c['due']} (posted net; Σ|residual| {c['residual_abs_corrected']})"
                      if c["netted"] and c["due"] != c["residual_abs_corrected"]
                      else f" vs |residual| {c['due']}") + ("" if c["agrees"] else "  DIFFERS"))
    click.echo("wrote " + ", ".join(res["paths"]) + f" (export {res['export_no']})")
    for c in res["changed"]:
        click.echo(f"  CHANGED since export {c['export_no']} ({c['exported_at']}, run {c['exported_run']}): {c['number']} "
                   f"{c['code']} {c['channel'] or '-'} totalled {c['exported_total']}, now {c['total']}; post the "
                   "difference in the ERP (or reverse it and post it again)")
    for w in res["withdrawn"]:
        click.echo(f"  WITHDRAWN since export {w['export_no']} ({w['exported_at']}, run {w['exported_run']}): "
                   f"{w['number']} {w['code']} {w['channel'] or '-'} ({w['exported_total']}) is not in this run; "
                   "reverse it in the ERP")
    sys.exit(EXIT_FINDINGS if differs or res["changed"] or res["withdrawn"] else EXIT_OK)


@cli.command()
@click.option("--run", "run_id", help="Run id (default: the store's last run; `recon runs` lists them).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for report.html, recon.xlsx and the vouchers.")
@click.option("--db", default="recon.duckdb", show_default=True, envvar="RECON_DB", help=DB_HELP)
@report_options
def report(run_id, out, db, lang, top, voucher_format, accounts, matched_cap):
    """Re-render a past run's reports from the store, without re-importing anything.

    Writes OUT/report.html, OUT/recon.xlsx, the vouchers and OUT/reconciliation_statement.csv exactly as `recon run` wrote them for
    that run (the same store content gives the same files).

    Example:

        recon report --run R20260201T090000-1a2b3c4d-1 --out out/ --lang en
    """
    res = api.report(db, out, run_id, lang, top, voucher_format, accounts, matched_cap)
    click.echo(f"run {res['run_id']}: wrote " + ", ".join(res["outputs"]))


@cli.group("dict")
def dict_group():
    """Check and test known-discrepancy dictionaries (dictionaries/README.md describes the format).

    Example:

        recon dict lint my_dictionary.yaml
    """


DICT_FILES_HELP = "Dictionary files (default: the shipped dictionaries/default.yaml); later ones override by code."


@dict_group.command("lint")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def dict_lint(files):
    """Validate every entry of FILES: keys, expressions (allow-list), templates, examples; file:line errors.

    Exit 0 when every file is valid, 2 with every problem listed otherwise.

    Example:

        recon dict lint dictionaries/default.yaml my_overrides.yaml
    """
    from recon.dictionary import lint

    d = lint(list(files) or None)
    for e in d.entries:
        click.echo(f"ok  {e.code:34} priority {e.priority:3}  {e.name_zh} / {e.name_en}")
        click.echo(f"    {e.sentence()}")
    click.echo(f"{len(d.entries)} entries valid in " + ", ".join(name for name, _ in d.sources))


@dict_group.command("test")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--code", "codes", multiple=True, help="Only this entry's examples (repeatable).")
def dict_test(files, codes):
    """Run every entry's examples through the real engine (a temporary store) and report pass/fail per code.

    Each example's rows go through matching, fee checks and classification against the whole
    dictionary, then the conservation proof. Exit 0 when every example passes, 1 otherwise.

    Example:

        recon dict test --code FEE_PERIOD_MISMATCH
    """
    from recon.dictcheck import run_all
    from recon.dictionary import load_dictionaries

    d = load_dictionaries(list(files) or None)
    unknown = sorted(set(codes) - set(d.by_code))
    if unknown:
        raise ReconError(f"no entry with code {', '.join(unknown)} in the dictionary")
    outcomes = run_all(d, api.Settings.load(), set(codes) or None)
    by_code: dict = {}
    for o in outcomes:
        by_code.setdefault(o.code, []).append(o)
    for code, items in sorted(by_code.items()):
        ok = all(o.passed for o in items)
        click.echo(f"{'PASS' if ok else 'FAIL'}  {code}  ({sum(o.passed for o in items)}/{len(items)} examples)")
        for o in items:
            if not o.passed:
                click.echo(f"      {o.where}: {o.example}")
                for p in o.problems:
                    click.echo(f"        {p}")
    failed = sum(not all(o.passed for o in items) for items in by_code.values())
    click.echo(f"{len(by_code) - failed} of {len(by_code)} codes pass")
    sys.exit(EXIT_FINDINGS if failed else EXIT_OK)


def _out_of_memory(exc: BaseException):
    """DuckDB's out-of-memory error, raised directly or as the cause of a failing engine step; else None."""
    if isinstance(exc, duckdb.OutOfMemoryException):
        return exc
    if isinstance(exc, StepError) and exc.out_of_memory:
        return exc.__cause__
    return None


def main(argv=None):
    """Entry point: user errors -> message + their exit code; bugs -> traceback + exit 3.

    Everything printed passes through ``terminal.escape_controls``: file names and cells come from
    files, and an escape sequence in them must not reach the terminal.
    """
    with terminal.guarded_std_streams():
        _main(argv)


def _main(argv):
    try:
        cli.main(args=argv, prog_name="recon", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except click.exceptions.Abort:  # click's form of Ctrl-C (and of EOF at a prompt)
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except ReconError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except SystemExit:
        raise
    except Exception as exc:
        oom = _out_of_memory(exc)
        if oom is None:  # a bug (a failing engine step is one): keep the traceback
            traceback.print_exc()
            sys.exit(EXIT_INTERNAL)
        # a resource limit, not a bug: say what to change
        first = str(oom).splitlines()[0] if str(oom) else "out of memory"
        where = f" in step {exc.step}" if isinstance(exc, StepError) else ""
        click.echo(f"error: DuckDB ran out of memory{where} ({first}). Raise --memory-limit, or leave it unset "
                   "(DuckDB may then use 80% of RAM), or run on a machine with more memory. Files already "
                   "imported stay in the store (the next run will not read them again); the outputs of "
                   "earlier runs are untouched.", err=True)
        sys.exit(EXIT_USAGE)  # a resource limit, not a bug: the run cannot go on
    sys.exit(EXIT_OK)
