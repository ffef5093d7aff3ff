"""Control proofs: the file's own totals checked against the lines we parsed.

A proof is the evidence that nothing was lost between the download and the store: footer totals
(Alipay ``#交易合计``, PDD ``#支出合计``), WeChat's summary row, running balances (账户余额,
账户结余, CMB 余额) and opening + movements = closing (CAMT OPBD/CLBD, MT940 :60F:/:62F:). Each
proof becomes a row with what the file declares, what we computed and whether they agree; a
failed proof makes the run incomplete (exit 4, ``recon.verdict``). Proofs run over every parsed line of the file (loaded and
duplicate alike), so a quarantined line makes its file's proof fail, as it should.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from recon.io.profile import norm_header
from recon.money import D


@dataclass(frozen=True)
class Proof:
    name: str
    expected: str | None
    actual: str | None
    passed: bool
    detail: str

    def as_dict(self):
        return {"proof": self.name, "expected": self.expected, "actual": self.actual,
                "passed": self.passed, "detail": self.detail}


def _dec(text) -> Decimal | None:
    if text is None:
        return None
    s = unicodedata.normalize("NFKC", str(text)).strip().lstrip("`").replace(",", "").replace("¥", "")
    try:
        return D(s)
    except InvalidOperation:
        return None


COMPARISONS = ("<", "<=", ">", ">=")


def _where(proof, params):
    """SQL filter from a structured ``where: {field: [values]}``; values are bound parameters.

    ``{amount: {'>': 0}}`` compares instead: footers such as Alipay/PDD ``#收入合计`` and WeChat's
    收入笔数/支出笔数 total the lines by the sign of their amount, not by a type column. A list of
    mappings is an OR of alternatives (PDD: negative lines, or zero lines of an outgo type).
    """
    where = proof.get("where") or {}
    if isinstance(where, list):  # alternatives: a line counts when any one of them holds
        return " OR ".join(f"({_where({'where': alt}, params)})" for alt in where) or "TRUE"
    clauses = []
    for fld, values in where.items():
        if isinstance(values, dict):
            for op, bound in values.items():
                if op not in COMPARISONS:
                    raise ValueError(f"where {fld}: unknown comparison {op!r} (one of {COMPARISONS})")
                key = f"w{len(params)}"
                params[key] = Decimal(str(bound))
                clauses.append(f"{fld} {op} ${key}")
            continue
        values = values if isinstance(values, list) else [values]
        names = []
        for v in values:
            key = f"w{len(params)}"
            params[key] = str(v)
            names.append(f"${key}")
        clauses.append(f"CAST({fld} AS VARCHAR) IN ({', '.join(names)})")
    return " AND ".join(clauses) or "TRUE"


def _aggregate(con, table, proof, field_name="amount"):
    params: dict = {}
    where = _where(proof, params)
    count, total = con.execute(
        f"SELECT count(*), coalesce(sum({field_name}), 0) FROM {table} WHERE {where}", params
    ).fetchone()
    return int(count), Decimal(total)


def footer_proof(con, table, proof, footer, fields):
    """Regex over footer lines with named groups ``count`` and/or ``amount``."""
    label = proof.get("name") or "footer"
    pattern = re.compile(proof["pattern"])
    field_name = proof.get("field", "amount")
    if field_name not in fields:
        return [Proof(label, None, None, False, f"unknown field {field_name!r} in proof")]
    for line in footer:
        m = pattern.search(line)
        if not m:
            continue
        count, total = _aggregate(con, table, proof, field_name)
        out = []
        groups = m.groupdict()
        if groups.get("count") is not None:
            declared = int(_dec(groups["count"]))
            out.append(Proof(f"{label}.count", str(declared), str(count), declared == count, line))
        if groups.get("amount") is not None:
            declared = _dec(groups["amount"])
            actual = abs(total) if proof.get("abs") else total
            declared = abs(declared) if proof.get("abs") else declared
            out.append(Proof(f"{label}.amount", str(declared), str(actual), declared == actual, line))
        return out
    if proof.get("optional"):
        return []  # the totals row is a display option of the export (ERP list 合计): no proof to run
    return [Proof(label, proof["pattern"], None, False,
                  "the footer line with this total is missing: the file may be truncated; re-download it")]


def summary_row_proof(con, table, proof, footer, fields):
    """WeChat-style summary: a title row of captions, then one row of backticked values."""
    label = proof.get("name") or "summary"
    rows = [[c.strip() for c in line.split(",")] for line in footer]
    title = norm_header(proof["title"])
    for i, cells in enumerate(rows):
        if cells and norm_header(cells[0]) == title and i + 1 < len(rows):
            captions = [norm_header(c) for c in cells]
            values = rows[i + 1]
            out = []
            for caption, rule in (proof.get("columns") or {}).items():
                key = norm_header(caption)
                if key not in captions or captions.index(key) >= len(values):
                    out.append(Proof(f"{label}.{caption}", None, None, False, "caption missing in summary"))
                    continue
                declared = _dec(values[captions.index(key)])
                if rule.get("count"):
                    count, _ = _aggregate(con, table, rule)
                    ok = declared is not None and declared == count
                    out.append(Proof(f"{label}.{caption}", str(declared), str(count), ok, ""))
                    continue
                fld = rule.get("sum", "amount")
                if fld not in fields:
                    out.append(Proof(f"{label}.{caption}", None, None, False, f"unknown field {fld!r}"))
                    continue
                _, total = _aggregate(con, table, rule, fld)
                if rule.get("negate"):
                    total = -total
                ok = declared is not None and declared == total
                out.append(Proof(f"{label}.{caption}", str(declared), str(total), ok, ""))
            return out
    return [Proof(label, proof["title"], None, False,
                  "the summary block is missing: the file may be truncated; re-download it")]


def balance_chain_proof(con, table, proof, footer, fields):
    """Each running balance = previous balance + this amount, in file order or reverse order."""
    label = proof.get("name") or "balance_chain"
    n = con.execute(f"SELECT count(*) FROM {table} WHERE balance_after IS NOT NULL").fetchone()[0]
    if n == 0:
        return [Proof(label, None, None, False,
                      "no readable running balance on any line (empty or masked, e.g. xx,yyyy.zz): the "
                      "lines loaded, but nothing proves that none is missing")]
    results = []
    for order, sign in (("ASC", "amount"), ("DESC", "amount")):
        breaks, first = con.execute(
            f"""SELECT count(*), min(source_line) FROM (
                  SELECT source_line, balance_after, amount,
                         lag(balance_after) OVER (ORDER BY source_line {order}) AS prev
                  FROM {table} WHERE balance_after IS NOT NULL)
                WHERE prev IS NOT NULL AND prev + {sign} <> balance_after"""
        ).fetchone()
        results.append((breaks, first, order))
        if breaks == 0:
            return [Proof(label, "0 breaks", "0 breaks", True,
                          f"{n} running balances chain ({'top-down' if order == 'ASC' else 'bottom-up'})")]
    breaks, first, _ = min(results)
    detail = f"running balance does not follow from the amounts; first break at line {first}"
    if n > 1 and breaks == n - 1:
        detail += _sign_hint(con, table, n)
    return [Proof(label, "0 breaks", f"{breaks} breaks", False, detail)]


def _sign_hint(con, table, n) -> str:
    """Why a chain that breaks on every line most likely broke: the amounts' sign.

    When every step breaks but the steps hold with the amounts' absolute values taken the other
    way for some lines (balance moves by exactly the amount, in the opposite direction), the file
    was read with the wrong direction: an unsigned amount column whose direction column was not
    mapped, or money-in and money-out columns swapped.
    """
    flipped = 0
    for order in ("ASC", "DESC"):
        held = con.execute(
            f"""SELECT count(*) FROM (
                  SELECT balance_after, amount,
                         lag(balance_after) OVER (ORDER BY source_line {order}) AS prev
                  FROM {table} WHERE balance_after IS NOT NULL)
                WHERE prev IS NOT NULL AND abs(balance_after - prev) = abs(amount)""").fetchone()[0]
        flipped = max(flipped, held)
    if flipped:
        return (f"; it breaks on every line, and on {flipped} of {n - 1} steps the balance moves by the "
                f"amount in the other direction: the amounts are most likely signed wrongly (map the "
                f"file's direction column, e.g. 借贷 or 收/支, or its money-in/money-out columns)")
    return ("; it breaks on every line: check the sign of the amounts (the direction column) and the "
            "line order first")


def opening_closing_proof(con, table, proof, footer, fields, values=None):
    label = proof.get("name") or "opening_closing"
    values = values or {}
    if values.get("statements"):
        return [p for st in values["statements"] for p in _statement_proof(con, table, label, st)]
    opening, closing = _dec(values.get("opening_balance")), _dec(values.get("closing_balance"))
    if opening is None or closing is None:
        return [Proof(label, None, None, False, "opening or closing balance not declared in the file")]
    total = Decimal(con.execute(f"SELECT coalesce(sum(amount), 0) FROM {table}").fetchone()[0])
    ok = opening + total == closing
    return [Proof(label, str(closing), str(opening + total), ok,
                  f"opening {opening} + movements {total} = {opening + total}; declared closing {closing}"
                  + _currency_note(values))]


def _currency_note(st: dict) -> str:
    """A statement whose balances are in another currency than its account cannot be proved as is."""
    bal, acct = st.get("balance_currency") or "", st.get("currency") or ""
    if bal and ("/" in bal or (acct and bal != acct)):
        return (f"; the balances are written in {bal.replace('/', ' and ')} but the account is in "
                f"{acct or bal.split('/')[0]}: the statement mixes currencies, so the proof cannot hold; "
                f"ask the bank for a corrected statement")
    return ""


def _statement_proof(con, table, label, st):
    """One statement of a multi-statement file (CAMT ``Stmt``, MT940 ``:20:`` block): its own
    opening + the movements on its lines (``first_line``..``last_line``) = its own closing."""
    label = f"{label}[{st.get('id') or '?'}]"
    opening, closing = _dec(st.get("opening_balance")), _dec(st.get("closing_balance"))
    if st.get("unreadable"):
        return [Proof(label, None, None, False, "the statement could not be read; its entries are quarantined")]
    if opening is None or closing is None:
        return [Proof(label, None, None, False, "opening or closing balance not declared in the statement")]
    total = Decimal(con.execute(
        f"SELECT coalesce(sum(amount), 0) FROM {table} WHERE source_line BETWEEN $a AND $b",
        {"a": st.get("first_line") or 0, "b": st.get("last_line") or -1}).fetchone()[0])
    return [Proof(label, str(closing), str(opening + total), opening + total == closing,
                  f"opening {opening} + movements {total} = {opening + total}; declared closing {closing}"
                  + _currency_note(st))]


KINDS = {
    "footer": footer_proof,
    "summary_row": summary_row_proof,
    "balance_chain": balance_chain_proof,
}


def run_proofs(con, table, profile, footer, values, fields) -> list[Proof]:
    out: list[Proof] = []
    for proof in profile.proofs:
        kind = proof["kind"]
        if kind == "opening_closing":
            out += opening_closing_proof(con, table, proof, footer, fields, values)
        elif kind == "footer" and proof.get("also"):
            # totals some layouts write in the preamble instead (personal Alipay 2023, WeChat):
            # the preamble values named by ``also`` are searched after the footer lines
            lines = list(footer) + [values.get(k) for k in proof["also"] if values and values.get(k)]
            out += footer_proof(con, table, proof, lines, fields)
        else:
            out += KINDS[kind](con, table, proof, footer, fields)
    return out
