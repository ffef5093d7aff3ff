"""Classification: every case left unknown after matching, tested against the dictionary.

Set-based, in four steps (Python only sequences them; it never loops over data rows):

1. ``recon.engine.cases`` builds the temp table ``cases`` (order groups, fee groups, single lines).
2. The cases are copied (Arrow) to a separate in-memory DuckDB with external access disabled and the
   configuration locked; there every entry's detection is one column of one SELECT, and each entry
   with a ``partial`` is tried as one of two causes (the residual less its part, re-tested against
   every other entry). The run's own connection keeps its file access for writing the outputs;
   the user's expressions never run on it.
3. Back on the run's connection, verdicts are resolved: the highest priority wins (then the code),
   the runner-up is named in the explanation; a group hit applies to every member; a line hit
   inside an unexplained group counts only if the group's remainder then balances (the remainder
   becomes ``matched`` under the group's pass, the line gets its own case id); a residual that two
   entries explain only together stays ``unknown`` with both named.
4. Residual, explanation and correction lines of each known case are evaluated (again on the
   locked connection) into temp tables ``known_case_tmp`` and ``correction_tmp``; ``recon.api``
   stores them with the run id.

Every statement is a ``recon.engine.steps.Step``: those on the locked connection run through
``Runner.on(iso)``, so they are timed and logged with the rest. The verdicts reach ``result`` as
temp table ``c_verdict`` (one row per line the dictionary changed), folded in by
``recon.engine.outcome.amend``; this module never UPDATEs ``result``. Python reads two counts (are
there cases; is anything decided) and the unbalanced corrections, to skip work or stop the run.
"""

from __future__ import annotations

import duckdb

from recon.dictionary import Dictionary, template_sql
from recon.engine import cases, outcome
from recon.engine.findings import finding, then
from recon.engine.steps import Runner, Step, runner, values_table
from recon.errors import ReconError
from recon.sql.bind import in_list

KNOWN_CASE_DDL = """CREATE OR REPLACE TEMP TABLE known_case_tmp (case_id VARCHAR, code VARCHAR, channel VARCHAR,
    period VARCHAR, residual DECIMAL(18,2), line_ids BIGINT[], source_refs VARCHAR[], explanation VARCHAR,
    blocks_close BOOLEAN)"""
CORRECTION_DDL = """CREATE OR REPLACE TEMP TABLE correction_tmp (case_id VARCHAR, code VARCHAR, channel VARCHAR,
    period VARCHAR, line_no INTEGER, account VARCHAR, debit DECIMAL(18,2), credit DECIMAL(18,2),
    explanation VARCHAR, basis VARCHAR)"""


def locked_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that cannot touch files, the network or extensions, and cannot be unlocked."""
    iso = duckdb.connect(":memory:")
    iso.execute("SET enable_progress_bar = false")
    iso.execute("SET enable_external_access = false")
    iso.execute("SET lock_configuration = true")
    return iso


def _copy(src: Runner, sql: str, dst: Runner, name: str) -> None:
    """Materialise ``sql`` from one connection as table ``name`` on another, through Arrow."""
    data = src.arrow(Step(f"classify.copy.{name}", sql))
    dst.con.register(f"{name}_arrow", data)
    try:
        dst.run(Step(f"classify.paste.{name}", f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_arrow",
                     writes=name))
    finally:
        dst.con.unregister(f"{name}_arrow")


def _scope(entry, n: int, params: dict) -> str:
    kinds = in_list(f"k{n}_", entry.applies_to, params)
    sql = f"case_kind IN ({kinds})"
    if entry.channels:
        sql += f" AND channel IN ({in_list(f'ch{n}_', entry.channels, params)})"
    return sql


def _detect_sql(d: Dictionary, params: dict, extra: str = "") -> str:
    """One SELECT: per case, the hit (and partial) of every entry, then in long form."""
    cols = []
    for n, e in enumerate(d.entries):
        params.update(e.detect.params)
        scope = _scope(e, n, params)
        cols.append(f"coalesce(({scope}) AND ({e.detect.sql}), FALSE) AS h{n}")
        if e.partial is not None:
            params.update(e.partial.params)
            cols.append(f"CASE WHEN {scope} THEN CAST({e.partial.sql} AS DECIMAL(18,2)) END AS p{n}")
        else:
            cols.append(f"CAST(NULL AS DECIMAL(18,2)) AS p{n}")
    wide = f"SELECT case_id{extra}, {', '.join(cols)} FROM {{table}}"
    long = " UNION ALL ".join(f"SELECT case_id{extra}, {n} AS entry_no, h{n} AS hit, p{n} AS part FROM wide"
                              for n in range(len(d.entries)))
    return wide, long


def _evaluate(con: Runner, iso: Runner, d: Dictionary) -> None:
    """Hits of every entry on every case, and the two-cause test, computed on the locked connection."""
    _copy(con, "SELECT * FROM cases", iso, "cases")
    params: dict = {}
    wide, long = _detect_sql(d, params)
    iso.run(Step("classify.detect", "CREATE TABLE wide AS " + wide.format(table="cases"), params, "wide"),
            Step("classify.hits", f"CREATE TABLE hits AS {long}", writes="hits"))
    # two causes: the residual less one entry's part, tested against every other entry
    iso.run(Step("classify.remainders", """CREATE TABLE rem AS
        SELECT c.* REPLACE (c.diff - h.part AS diff, c.residual - h.part AS residual), h.entry_no AS via
        FROM cases c JOIN hits h USING (case_id)
        WHERE h.part IS NOT NULL AND h.part <> 0
          -- cases no entry explains alone (an anti join: hits.case_id is never NULL)
          AND NOT EXISTS (SELECT 1 FROM hits x WHERE x.case_id = c.case_id AND x.hit)""", writes="rem"))
    params = {}
    wide, long = _detect_sql(d, params, extra=", via")
    iso.run(Step("classify.detect_remainders", "CREATE OR REPLACE TABLE wide AS " + wide.format(table="rem"),
                 params, "wide"),
            Step("classify.two_causes",
                 f"CREATE TABLE pairs AS SELECT case_id, via, entry_no FROM ({long}) WHERE hit AND entry_no <> via",
                 writes="pairs"))
    _copy(iso, "SELECT case_id, entry_no, part FROM hits WHERE hit", con, "c_hit_raw")
    _copy(iso, "SELECT DISTINCT case_id, least(via, entry_no) AS a, greatest(via, entry_no) AS b FROM pairs",
          con, "c_pairs")


def _entries_table(d: Dictionary) -> Step:
    # an empty dictionary (entries: []) classifies nothing
    return values_table("c_entry", "classify.entries", {"entry_no": "INTEGER", "code": "VARCHAR", "name_zh": "VARCHAR",
                                                        "priority": "INTEGER", "blocks_close": "BOOLEAN"},
                        [(n, e.code, e.name_zh, e.priority, e.blocks_close) for n, e in enumerate(d.entries)], "e")


def _resolve() -> list[Step]:
    """Winners per case, carve-outs that leave a balanced remainder, and the decided line -> case map."""
    return [Step("classify.rank", """CREATE OR REPLACE TEMP TABLE c_hit AS
        SELECT h.case_id, h.entry_no, e.code, e.name_zh, e.priority,
               row_number() OVER (PARTITION BY h.case_id ORDER BY e.priority DESC, e.code) AS rnk
        FROM c_hit_raw h JOIN c_entry e USING (entry_no)""", writes="c_hit"),
    Step("classify.winners", """CREATE OR REPLACE TEMP TABLE c_win AS
        SELECT w.case_id, w.entry_no, w.code, r.code AS runner_code, r.name_zh AS runner_name,
               c.case_kind, c.line_id, cm.cgroup
        FROM c_hit w JOIN cases c USING (case_id)
        LEFT JOIN c_hit r ON r.case_id = w.case_id AND r.rnk = 2
        LEFT JOIN case_member cm ON cm.line_id = c.line_id
        WHERE w.rnk = 1""", writes="c_win"),
    # a line hit inside an unexplained group: carve it out only if what stays behind balances
    Step("classify.remainder_balance", """CREATE OR REPLACE TEMP TABLE c_rest AS
        WITH cand AS (
            SELECT w.*, o.source, o.amount, o.in_period FROM c_win w JOIN c_open o USING (line_id)
            WHERE w.case_kind = 'line' AND w.cgroup IS NOT NULL
              -- anti joins, not NOT IN: the ids compared are never NULL, so they keep the same rows
              AND NOT EXISTS (SELECT 1 FROM c_win g WHERE g.case_id = w.cgroup AND g.case_kind <> 'line')),
             rest AS (
            SELECT cm.cgroup,
                   coalesce(sum(o.amount) FILTER (WHERE o.source <> 'erp'), 0) AS money_side,
                   coalesce(sum(o.amount) FILTER (WHERE o.source = 'erp'), 0) AS erp_side,
                   count(*) FILTER (WHERE o.source <> 'erp') AS n_money, count(*) FILTER (WHERE o.source = 'erp') AS n_erp,
                   bool_and(o.in_period) AS all_in
            FROM c_open o JOIN case_member cm USING (line_id)
            WHERE cm.cgroup IN (SELECT cgroup FROM cand)
              AND NOT EXISTS (SELECT 1 FROM cand x WHERE x.line_id = o.line_id)
            GROUP BY cm.cgroup)
        SELECT r.*, r.money_side + CASE WHEN g.case_kind = 'fee_group' THEN g.fee_column_sum ELSE 0 END
                    = r.erp_side AND r.all_in AND r.n_erp > 0 AND (r.n_money > 0 OR g.case_kind = 'fee_group')
                    AS balanced
        FROM rest r JOIN cases g ON g.case_id = r.cgroup""", writes="c_rest"),
    Step("classify.carve", """CREATE OR REPLACE TEMP TABLE c_carve AS
        SELECT w.*, o.source, o.amount, o.in_period FROM c_win w JOIN c_open o USING (line_id)
        WHERE w.case_kind = 'line' AND w.cgroup IN (SELECT cgroup FROM c_rest WHERE balanced)""", writes="c_carve"),
    Step("classify.decided", """CREATE OR REPLACE TEMP TABLE c_decided AS
        -- a group verdict covers every member
        SELECT cm.line_id, w.case_id, w.entry_no, w.code, w.runner_code, w.runner_name, w.case_id AS grp
        FROM c_win w JOIN case_member cm ON cm.cgroup = w.case_id WHERE w.case_kind <> 'line'
        UNION ALL  -- a line on its own
        SELECT w.line_id, w.case_id, w.entry_no, w.code, w.runner_code, w.runner_name, w.case_id
        FROM c_win w WHERE w.case_kind = 'line' AND w.cgroup IS NULL
        UNION ALL  -- a line carved out of a group whose remainder balances
        SELECT line_id, case_id, entry_no, code, runner_code, runner_name, case_id FROM c_carve""",
         writes="c_decided")]


def _finish(con: Runner, iso: Runner, d: Dictionary, period: str) -> None:
    """Residuals, filled explanations and correction lines of every known case (on the locked connection)."""
    _copy(con, "SELECT DISTINCT case_id, entry_no FROM c_decided", iso, "win")
    iso.run(Step("classify.finish", "CREATE TABLE fin AS SELECT c.*, w.entry_no FROM cases c JOIN win w USING (case_id)",
                 writes="fin"))
    exps, corr = [], []
    params: dict = {}
    for n, e in enumerate(d.entries):
        if e.residual is not None:
            # fin is this module's own table on the locked connection
            iso.run(Step(f"classify.residual.{e.code}",
                         f"UPDATE fin SET residual = CAST({e.residual.sql} AS DECIMAL(18,2)) WHERE entry_no = {n}",
                         e.residual.params, "fin"))
        text = template_sql(e.correction.explanation, params, f"x{n}",
                            {"code": e.code, "name_zh": e.name_zh, "name_en": e.name_en})
        exps.append(f"SELECT case_id, {text} AS explanation FROM fin WHERE entry_no = {n}")
        for j, ln in enumerate(e.correction.lines):
            params.update(ln.amount.params)
            params[f"a{n}_{j}"], params[f"s{n}_{j}"] = ln.account, ln.side
            corr.append(f"SELECT case_id, {j + 1} AS line_no, $a{n}_{j} AS account, $s{n}_{j} AS side, "
                        f"CAST({ln.amount.sql} AS DECIMAL(18,2)) AS amount FROM fin WHERE entry_no = {n}")
    if not exps:
        return
    iso.run(Step("classify.explanations", "CREATE TABLE fin_text AS " + " UNION ALL ".join(exps), params, "fin_text"),
            Step("classify.corrections", """CREATE TABLE fin_corr (case_id VARCHAR, line_no INTEGER, account VARCHAR,
                 side VARCHAR, amount DECIMAL(18,2))""", writes="fin_corr"))
    if corr:
        iso.run(Step("classify.correction_lines", "INSERT INTO fin_corr " + " UNION ALL ".join(corr), params,
                     "fin_corr"))
    _copy(iso, "SELECT f.case_id, f.residual, t.explanation FROM fin f JOIN fin_text t USING (case_id)", con, "c_fin")
    _copy(iso, "SELECT * FROM fin_corr", con, "c_corr")


def _record(con: Runner, d: Dictionary, period: str) -> None:
    con.run(Step("classify.known_cases", KNOWN_CASE_DDL, writes="known_case_tmp"),
            Step("classify.correction_table", CORRECTION_DDL, writes="correction_tmp"))
    if not con.scalar("classify.any_decided", "SELECT count(*) FROM c_decided"):
        return
    basis = {e.code: e.correction.basis for e in d.entries}
    # c_fin is this module's own table
    con.run(Step("classify.runner_up", """UPDATE c_fin SET explanation = c_fin.explanation || ' (亦符合 ' || w.runner_code || ' '
                       || w.runner_name || ', 优先级较低)'
                   FROM (SELECT DISTINCT case_id, runner_code, runner_name FROM c_decided
                         WHERE runner_code IS NOT NULL) w
                   WHERE c_fin.case_id = w.case_id""", writes="c_fin"),
    Step("classify.known_case_rows", """INSERT INTO known_case_tmp
        SELECT d.case_id, any_value(d.code), any_value(c.channel), $period, any_value(f.residual),
               list(d.line_id ORDER BY d.line_id),
               list(o.source_file || ':' || CAST(o.source_line AS VARCHAR) || coalesce('@' || o.source_sheet, '')
                    ORDER BY o.source_file, o.source_sheet NULLS FIRST, o.source_line, d.line_id),
               any_value(f.explanation), any_value(e.blocks_close)
        FROM c_decided d JOIN c_open o USING (line_id) JOIN cases c ON c.case_id = d.case_id
        JOIN c_fin f ON f.case_id = d.case_id JOIN c_entry e ON e.entry_no = d.entry_no
        GROUP BY d.case_id""", {"period": period}, "known_case_tmp"),
    values_table("c_basis", "classify.basis", {"code": "VARCHAR", "basis": "VARCHAR"}, sorted(basis.items()), "b"),
    # a negative amount posts to the other side; a zero amount writes no line
    Step("classify.correction_rows", """INSERT INTO correction_tmp
        SELECT k.case_id, k.code, k.channel, k.period,
               row_number() OVER (PARTITION BY k.case_id ORDER BY x.line_no),
               x.account,
               CASE WHEN (x.side = 'debit') = (x.amount > 0) THEN abs(x.amount) ELSE 0 END,
               CASE WHEN (x.side = 'debit') = (x.amount > 0) THEN 0 ELSE abs(x.amount) END,
               k.explanation, b.basis
        FROM c_corr x JOIN known_case_tmp k USING (case_id) LEFT JOIN c_basis b ON b.code = k.code
        WHERE x.amount IS NOT NULL AND x.amount <> 0""", writes="correction_tmp"))
    bad = con.fetch(Step("classify.balance", """SELECT case_id, any_value(code), sum(debit), sum(credit) FROM correction_tmp
                         GROUP BY case_id HAVING sum(debit) <> sum(credit) ORDER BY case_id LIMIT 3"""))
    if bad:
        detail = "; ".join(f"{code} case {cid}: debit {dr} vs credit {cr}" for cid, code, dr, cr in bad)
        raise ReconError(f"a dictionary correction does not balance ({detail}): make the debit and credit "
                         "amount expressions of the entry equal")


def _apply(rules) -> list[Step]:
    """The verdicts as ``c_verdict`` (known lines, matched remainders, two-cause notes), folded into ``result``.

    One row per line the dictionary changes, each with the whole new result row; in the order the
    three kinds used to be written: a known line is not a remainder, a remainder gets no two-cause note.
    A line in two noted cases (its own and its group's) takes the first by case id.
    """
    order_pass = next((p.name for p in rules.passes if p.leg == "order"), "order")
    fee_pass = next((p.name for p in rules.passes if p.leg == "fee"), "fees")
    verdict = Step("classify.verdicts", f"""CREATE OR REPLACE TEMP TABLE c_verdict AS
        -- the engine's own finding (the fee check, the order's sums) stays after the dictionary's verdict
        WITH known AS (
            SELECT d.line_id, 'known' AS status, d.code, d.grp AS match_group,
                   f.explanation || coalesce('; ' || r.explanation, '') AS explanation,
                   {then(finding("DICTIONARY_ENTRY", code="d.code", residual="f.residual"), "r.finding")} AS finding
            FROM c_decided d JOIN c_fin f USING (case_id) JOIN result r ON r.line_id = d.line_id),
        rest AS (
            SELECT r.line_id, 'matched' AS status, CASE WHEN cm.cgroup LIKE 'F%' THEN $fee ELSE $ord END AS code,
                   r.match_group,
                   '除去单列的已知差异 (' || k.codes || ') 后其余行平衡: 平台 '
                       || CAST(k.money_side AS VARCHAR) || ' = ERP ' || CAST(k.erp_side AS VARCHAR) AS explanation,
                   {finding("REMAINDER_BALANCED", codes="k.codes", platform="k.money_side", erp="k.erp_side")}
                       AS finding
            FROM result r JOIN case_member cm ON cm.line_id = r.line_id JOIN (
                SELECT c.cgroup, string_agg(DISTINCT c.code, ', ' ORDER BY c.code) AS codes,
                       any_value(r.money_side) AS money_side, any_value(r.erp_side) AS erp_side
                FROM c_carve c JOIN c_rest r USING (cgroup) GROUP BY c.cgroup) k USING (cgroup)
            WHERE r.status = 'unknown' AND NOT EXISTS (SELECT 1 FROM known x WHERE x.line_id = r.line_id)),
        two AS (
            SELECT line_id, status, code, match_group, explanation, finding FROM (
                SELECT r.line_id, r.status, r.code, r.match_group,
                       coalesce(r.explanation, '') || '; 需要两个原因同时成立, 字典不单独归类: ' || p.names AS explanation,
                       {then("r.finding", finding("TWO_CAUSES", pairs="p.names"))} AS finding,
                       row_number() OVER (PARTITION BY r.line_id ORDER BY c.case_id) AS n
                FROM (SELECT c.case_id, string_agg(ea.code || ' + ' || eb.code, '; ' ORDER BY ea.code, eb.code) AS names
                      FROM c_pairs c JOIN c_entry ea ON ea.entry_no = c.a JOIN c_entry eb ON eb.entry_no = c.b
                      GROUP BY c.case_id) p
                JOIN cases c ON c.case_id = p.case_id
                JOIN case_member cm ON (c.case_kind = 'line' AND cm.line_id = c.line_id)
                                    OR (c.case_kind <> 'line' AND cm.cgroup = c.case_id)
                JOIN result r ON r.line_id = cm.line_id
                WHERE r.status = 'unknown' AND NOT EXISTS (SELECT 1 FROM known x WHERE x.line_id = r.line_id)
                  AND NOT EXISTS (SELECT 1 FROM rest x WHERE x.line_id = r.line_id))
            WHERE n = 1)
        SELECT * FROM known UNION ALL SELECT * FROM rest UNION ALL SELECT * FROM two""",
        {"fee": fee_pass, "ord": order_pass}, "c_verdict")
    return [verdict, outcome.amend("classify.apply", "c_verdict",
                                   ("status", "code", "match_group", "explanation", "finding"))]


def run(con, period: str, period_start, period_end, d: Dictionary, channels, rules) -> dict:
    """Classify the run's unknown lines (``result`` is replaced with the verdicts folded in); return
    counts for the manifest. ``con``: the run's ``Runner`` or a bare connection."""
    r = runner(con)
    n_cases = cases.build(r, period_start, period_end, channels)
    r.run(Step("classify.hit_table", "CREATE OR REPLACE TEMP TABLE c_hit_raw (case_id VARCHAR, entry_no INTEGER, "
               "part DECIMAL(18,2))", writes="c_hit_raw"),
          Step("classify.pair_table", "CREATE OR REPLACE TEMP TABLE c_pairs (case_id VARCHAR, a INTEGER, b INTEGER)",
               writes="c_pairs"),
          Step("classify.fin_table", "CREATE OR REPLACE TEMP TABLE c_fin (case_id VARCHAR, residual DECIMAL(18,2), "
               "explanation VARCHAR)", writes="c_fin"),
          Step("classify.corr_table", """CREATE OR REPLACE TEMP TABLE c_corr (case_id VARCHAR, line_no INTEGER,
               account VARCHAR, side VARCHAR, amount DECIMAL(18,2))""", writes="c_corr"),
          _entries_table(d))
    if n_cases and d.entries:
        iso = locked_connection()
        try:
            _evaluate(r, r.on(iso), d)
            r.run(_resolve())
            _finish(r, r.on(iso), d, period)
        finally:
            iso.close()
    else:
        r.run(_resolve())
    _record(r, d, period)
    r.run(_apply(rules))
    rows = r.fetch(Step("classify.counts", """SELECT code, count(*), coalesce(sum(residual), 0), bool_or(blocks_close),
                                 sum(len(line_ids)) FILTER (WHERE blocks_close)
                          FROM known_case_tmp GROUP BY code ORDER BY code"""))
    return {"dictionaries": [{"file": f, "sha256": h} for f, h in d.sources], "cases": n_cases,
            "known_cases": {code: {"cases": n, "residual": str(res)} for code, n, res, _, _ in rows},
            "blocks_close": sum(int(b or 0) for *_, b in rows)}
