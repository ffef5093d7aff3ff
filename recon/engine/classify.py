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
"""

from __future__ import annotations

import duckdb

from recon.dictionary import Dictionary, template_sql
from recon.engine import cases
from recon.errors import ReconError
from recon.sql.bind import execute, in_list

KNOWN_CASE_DDL = """CREATE OR REPLACE TEMP TABLE known_case_tmp (case_id VARCHAR, code VARCHAR, channel VARCHAR,
    period VARCHAR, residual DECIMAL(18,2), line_ids VARCHAR[], source_refs VARCHAR[], explanation VARCHAR,
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


def _copy(src, sql: str, dst, name: str) -> None:
    """Materialise ``sql`` from one connection as table ``name`` on another, through Arrow."""
    data = src.sql(sql).to_arrow_table()
    dst.register(f"{name}_arrow", data)
    dst.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_arrow")
    dst.unregister(f"{name}_arrow")


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
            cols.append(f"NULL::DECIMAL(18,2) AS p{n}")
    wide = f"SELECT case_id{extra}, {', '.join(cols)} FROM {{table}}"
    long = " UNION ALL ".join(f"SELECT case_id{extra}, {n} AS entry_no, h{n} AS hit, p{n} AS part FROM wide"
                              for n in range(len(d.entries)))
    return wide, long


def _evaluate(con, iso, d: Dictionary) -> None:
    """Hits of every entry on every case, and the two-cause test, computed on the locked connection."""
    _copy(con, "SELECT * FROM cases", iso, "cases")
    params: dict = {}
    wide, long = _detect_sql(d, params)
    execute(iso, "CREATE TABLE wide AS " + wide.format(table="cases"), params)
    iso.execute(f"CREATE TABLE hits AS {long}")
    # two causes: the residual less one entry's part, tested against every other entry
    iso.execute("""CREATE TABLE rem AS
        SELECT c.* REPLACE (c.diff - h.part AS diff, c.residual - h.part AS residual), h.entry_no AS via
        FROM cases c JOIN hits h USING (case_id)
        WHERE h.part IS NOT NULL AND h.part <> 0
          AND case_id NOT IN (SELECT case_id FROM hits WHERE hit)""")
    params = {}
    wide, long = _detect_sql(d, params, extra=", via")
    execute(iso, "CREATE OR REPLACE TABLE wide AS " + wide.format(table="rem"), params)
    iso.execute(f"CREATE TABLE pairs AS SELECT case_id, via, entry_no FROM ({long}) WHERE hit AND entry_no <> via")
    _copy(iso, "SELECT case_id, entry_no, part FROM hits WHERE hit", con, "c_hit_raw")
    _copy(iso, "SELECT DISTINCT case_id, least(via, entry_no) AS a, greatest(via, entry_no) AS b FROM pairs",
          con, "c_pairs")


def _entries_table(con, d: Dictionary) -> None:
    con.execute("""CREATE OR REPLACE TEMP TABLE c_entry (entry_no INTEGER, code VARCHAR, name_zh VARCHAR,
                   priority INTEGER, blocks_close BOOLEAN)""")
    rows = [(n, e.code, e.name_zh, e.priority, e.blocks_close) for n, e in enumerate(d.entries)]
    if rows:  # an empty dictionary (entries: []) classifies nothing
        con.executemany("INSERT INTO c_entry VALUES (?, ?, ?, ?, ?)", rows)


def _resolve(con) -> None:
    """Winners per case, carve-outs that leave a balanced remainder, and the decided line -> case map."""
    con.execute("""CREATE OR REPLACE TEMP TABLE c_hit AS
        SELECT h.case_id, h.entry_no, e.code, e.name_zh, e.priority,
               row_number() OVER (PARTITION BY h.case_id ORDER BY e.priority DESC, e.code) AS rnk
        FROM c_hit_raw h JOIN c_entry e USING (entry_no)""")
    con.execute("""CREATE OR REPLACE TEMP TABLE c_win AS
        SELECT w.case_id, w.entry_no, w.code, r.code AS runner_code, r.name_zh AS runner_name,
               c.case_kind, c.line_id, cm.cgroup
        FROM c_hit w JOIN cases c USING (case_id)
        LEFT JOIN c_hit r ON r.case_id = w.case_id AND r.rnk = 2
        LEFT JOIN case_member cm ON cm.line_id = c.line_id
        WHERE w.rnk = 1""")
    # a line hit inside an unexplained group: carve it out only if what stays behind balances
    con.execute("""CREATE OR REPLACE TEMP TABLE c_rest AS
        WITH cand AS (
            SELECT w.*, o.source, o.amount, o.in_period FROM c_win w JOIN c_open o USING (line_id)
            WHERE w.case_kind = 'line' AND w.cgroup IS NOT NULL
              AND w.cgroup NOT IN (SELECT case_id FROM c_win WHERE case_kind <> 'line')),
             rest AS (
            SELECT cm.cgroup,
                   coalesce(sum(o.amount) FILTER (WHERE o.source <> 'erp'), 0) AS money_side,
                   coalesce(sum(o.amount) FILTER (WHERE o.source = 'erp'), 0) AS erp_side,
                   count(*) FILTER (WHERE o.source <> 'erp') AS n_money, count(*) FILTER (WHERE o.source = 'erp') AS n_erp,
                   bool_and(o.in_period) AS all_in
            FROM c_open o JOIN case_member cm USING (line_id)
            WHERE cm.cgroup IN (SELECT cgroup FROM cand) AND o.line_id NOT IN (SELECT line_id FROM cand)
            GROUP BY cm.cgroup)
        SELECT r.*, r.money_side + CASE WHEN g.case_kind = 'fee_group' THEN g.fee_column_sum ELSE 0 END
                    = r.erp_side AND r.all_in AND r.n_erp > 0 AND (r.n_money > 0 OR g.case_kind = 'fee_group')
                    AS balanced
        FROM rest r JOIN cases g ON g.case_id = r.cgroup""")
    con.execute("""CREATE OR REPLACE TEMP TABLE c_carve AS
        SELECT w.*, o.source, o.amount, o.in_period FROM c_win w JOIN c_open o USING (line_id)
        WHERE w.case_kind = 'line' AND w.cgroup IN (SELECT cgroup FROM c_rest WHERE balanced)""")
    con.execute("""CREATE OR REPLACE TEMP TABLE c_decided AS
        -- a group verdict covers every member
        SELECT cm.line_id, w.case_id, w.entry_no, w.code, w.runner_code, w.runner_name, w.case_id AS grp
        FROM c_win w JOIN case_member cm ON cm.cgroup = w.case_id WHERE w.case_kind <> 'line'
        UNION ALL  -- a line on its own
        SELECT w.line_id, w.case_id, w.entry_no, w.code, w.runner_code, w.runner_name, w.case_id
        FROM c_win w WHERE w.case_kind = 'line' AND w.cgroup IS NULL
        UNION ALL  -- a line carved out of a group whose remainder balances
        SELECT line_id, case_id, entry_no, code, runner_code, runner_name, case_id FROM c_carve""")


def _finish(con, iso, d: Dictionary, period: str) -> None:
    """Residuals, filled explanations and correction lines of every known case (on the locked connection)."""
    _copy(con, "SELECT DISTINCT case_id, entry_no FROM c_decided", iso, "win")
    iso.execute("CREATE TABLE fin AS SELECT c.*, w.entry_no FROM cases c JOIN win w USING (case_id)")
    exps, corr = [], []
    params: dict = {}
    for n, e in enumerate(d.entries):
        if e.residual is not None:
            execute(iso, f"UPDATE fin SET residual = CAST({e.residual.sql} AS DECIMAL(18,2)) WHERE entry_no = {n}",
                    e.residual.params)
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
    execute(iso, "CREATE TABLE fin_text AS " + " UNION ALL ".join(exps), params)
    iso.execute("""CREATE TABLE fin_corr (case_id VARCHAR, line_no INTEGER, account VARCHAR, side VARCHAR,
                   amount DECIMAL(18,2))""")
    if corr:
        execute(iso, "INSERT INTO fin_corr " + " UNION ALL ".join(corr), params)
    _copy(iso, "SELECT f.case_id, f.residual, t.explanation FROM fin f JOIN fin_text t USING (case_id)", con, "c_fin")
    _copy(iso, "SELECT * FROM fin_corr", con, "c_corr")


def _record(con, d: Dictionary, period: str) -> None:
    con.execute(KNOWN_CASE_DDL)
    con.execute(CORRECTION_DDL)
    if not con.execute("SELECT count(*) FROM c_decided").fetchone()[0]:
        return
    con.execute("""UPDATE c_fin SET explanation = c_fin.explanation || ' (亦符合 ' || w.runner_code || ' '
                       || w.runner_name || ', 优先级较低)'
                   FROM (SELECT DISTINCT case_id, runner_code, runner_name FROM c_decided
                         WHERE runner_code IS NOT NULL) w
                   WHERE c_fin.case_id = w.case_id""")
    execute(con, """INSERT INTO known_case_tmp
        SELECT d.case_id, any_value(d.code), any_value(c.channel), $period, any_value(f.residual),
               list(d.line_id ORDER BY d.line_id),
               list(o.source_file || ':' || CAST(o.source_line AS VARCHAR) || coalesce('@' || o.source_sheet, '')
                    ORDER BY o.source_file, o.source_sheet NULLS FIRST, o.source_line, d.line_id),
               any_value(f.explanation), any_value(e.blocks_close)
        FROM c_decided d JOIN c_open o USING (line_id) JOIN cases c ON c.case_id = d.case_id
        JOIN c_fin f ON f.case_id = d.case_id JOIN c_entry e ON e.entry_no = d.entry_no
        GROUP BY d.case_id""", {"period": period})
    basis = {e.code: e.correction.basis for e in d.entries}
    con.execute("CREATE OR REPLACE TEMP TABLE c_basis (code VARCHAR, basis VARCHAR)")
    if basis:
        con.executemany("INSERT INTO c_basis VALUES (?, ?)", sorted(basis.items()))
    # a negative amount posts to the other side; a zero amount writes no line
    con.execute("""INSERT INTO correction_tmp
        SELECT k.case_id, k.code, k.channel, k.period,
               row_number() OVER (PARTITION BY k.case_id ORDER BY x.line_no),
               x.account,
               CASE WHEN (x.side = 'debit') = (x.amount > 0) THEN abs(x.amount) ELSE 0 END,
               CASE WHEN (x.side = 'debit') = (x.amount > 0) THEN 0 ELSE abs(x.amount) END,
               k.explanation, b.basis
        FROM c_corr x JOIN known_case_tmp k USING (case_id) LEFT JOIN c_basis b ON b.code = k.code
        WHERE x.amount IS NOT NULL AND x.amount <> 0""")
    bad = con.execute("""SELECT case_id, any_value(code), sum(debit), sum(credit) FROM correction_tmp
                         GROUP BY case_id HAVING sum(debit) <> sum(credit) ORDER BY case_id LIMIT 3""").fetchall()
    if bad:
        detail = "; ".join(f"{code} case {cid}: debit {dr} vs credit {cr}" for cid, code, dr, cr in bad)
        raise ReconError(f"a dictionary correction does not balance ({detail}): make the debit and credit "
                         "amount expressions of the entry equal")


def _apply(con, rules) -> None:
    """Write the verdicts into ``result``: known lines, matched remainders, two-cause notes."""
    order_pass = next((p.name for p in rules.passes if p.leg == "order"), "order")
    fee_pass = next((p.name for p in rules.passes if p.leg == "fee"), "fees")
    # the engine's own finding (the fee check, the order's sums) stays after the dictionary's verdict
    con.execute("""UPDATE result SET status = 'known', code = d.code, match_group = d.grp,
                       explanation = f.explanation || coalesce('; ' || result.explanation, '')
                   FROM c_decided d JOIN c_fin f USING (case_id) WHERE result.line_id = d.line_id""")
    execute(con, """UPDATE result SET status = 'matched',
                       code = CASE WHEN cm.cgroup LIKE 'F%' THEN $fee ELSE $ord END,
                       explanation = '除去单列的已知差异 (' || k.codes || ') 后其余行平衡: 平台 '
                                     || CAST(k.money_side AS VARCHAR) || ' = ERP ' || CAST(k.erp_side AS VARCHAR)
                   FROM case_member cm JOIN (
                       SELECT c.cgroup, string_agg(DISTINCT c.code, ', ' ORDER BY c.code) AS codes,
                              any_value(r.money_side) AS money_side, any_value(r.erp_side) AS erp_side
                       FROM c_carve c JOIN c_rest r USING (cgroup) GROUP BY c.cgroup) k USING (cgroup)
                   WHERE result.line_id = cm.line_id AND result.status = 'unknown'""",
            {"fee": fee_pass, "ord": order_pass})
    con.execute("""UPDATE result SET explanation = coalesce(result.explanation, '') || '; 需要两个原因同时成立, 字典不单独归类: '
                       || p.names
                   FROM (SELECT c.case_id, string_agg(ea.code || ' + ' || eb.code, '; ' ORDER BY ea.code, eb.code) AS names
                         FROM c_pairs c JOIN c_entry ea ON ea.entry_no = c.a JOIN c_entry eb ON eb.entry_no = c.b
                         GROUP BY c.case_id) p
                   JOIN cases c ON c.case_id = p.case_id
                   JOIN case_member cm ON (c.case_kind = 'line' AND cm.line_id = c.line_id)
                                       OR (c.case_kind <> 'line' AND cm.cgroup = c.case_id)
                   WHERE result.line_id = cm.line_id AND result.status = 'unknown'""")


def run(con, period: str, period_start, period_end, d: Dictionary, channels, rules) -> dict:
    """Classify the run's unknown lines in place (temp table ``result``); return counts for the manifest."""
    n_cases = cases.build(con, period_start, period_end, channels)
    con.execute("CREATE OR REPLACE TEMP TABLE c_hit_raw (case_id VARCHAR, entry_no INTEGER, part DECIMAL(18,2))")
    con.execute("CREATE OR REPLACE TEMP TABLE c_pairs (case_id VARCHAR, a INTEGER, b INTEGER)")
    con.execute("CREATE OR REPLACE TEMP TABLE c_fin (case_id VARCHAR, residual DECIMAL(18,2), explanation VARCHAR)")
    con.execute("""CREATE OR REPLACE TEMP TABLE c_corr (case_id VARCHAR, line_no INTEGER, account VARCHAR,
                   side VARCHAR, amount DECIMAL(18,2))""")
    _entries_table(con, d)
    if n_cases and d.entries:
        iso = locked_connection()
        try:
            _evaluate(con, iso, d)
            _resolve(con)
            _finish(con, iso, d, period)
        finally:
            iso.close()
    else:
        _resolve(con)
    _record(con, d, period)
    _apply(con, rules)
    rows = con.execute("""SELECT code, count(*), coalesce(sum(residual), 0), bool_or(blocks_close),
                                 sum(len(line_ids)) FILTER (WHERE blocks_close)
                          FROM known_case_tmp GROUP BY code ORDER BY code""").fetchall()
    return {"dictionaries": [{"file": f, "sha256": h} for f, h in d.sources], "cases": n_cases,
            "known_cases": {code: {"cases": n, "residual": str(res)} for code, n, res, _, _ in rows},
            "blocks_close": sum(int(b or 0) for *_, b in rows)}
