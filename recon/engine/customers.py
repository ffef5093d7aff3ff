"""Which channel an ERP customer (客户) belongs to: ``rules/channels.yaml`` applied set-based.

A clerk's ERP names one shop many ways: ``天猫旗舰店``, ``天猫 旗舰店``, ``天猫旗舰店（自营）`` typed with a
full-width bracket, ``京东POP店有限公司``. Compared as typed, every variant but one would fall out of
its channel, and every channel-scoped dictionary entry would silently not fire for it. So names are
compared by ``channel_key``: the one definition of the normalised name, an SQL expression applied to
both the YAML's names and the ledger's. It

- folds the compatibility forms NFKC folds in such names: full-width ASCII (U+FF01–FF5E, ``Ａ（－``) to
  half-width, the ideographic and no-break spaces to a space; then NFC;
- lower-cases, and unifies brackets (``（【〔［[`` → ``(``, ``）】〕］]`` → ``)``);
- drops every whitespace character;
- drops a company suffix at the end (股份有限公司, 有限责任公司, 有限公司, Co., Ltd., Limited, Inc., Corp., LLC).

A channel lists exact names and, per channel, ``{contains: TEXT}`` (the normalised TEXT inside the
normalised name) and ``{regex: RE2}`` (on the normalised name) items. An exact name wins over a
pattern; two channels fitting a customer at the same tier is ambiguous: the customer stays unmapped
and the run says which channels it fitted. Only the distinct customers of the run's ERP lines are
normalised (a few hundred names), never the ledger row by row; patterns are bound parameters.
"""

from __future__ import annotations

from decimal import Decimal

from recon.engine.steps import Step, values_table
from recon.sql.dialect import Dialect
from recon.sql.quote import quote_literal

_WIDE = "".join(chr(c) for c in range(0xFF01, 0xFF5F)) + "\u3000\u00a0"
_NARROW = "".join(chr(c) for c in range(0x21, 0x7F)) + "  "
_OPEN, _CLOSE = "【〔［[", "】〕］]"
SUFFIXES = ("股份有限公司", "有限责任公司", "有限公司", r"co\.?,?ltd\.?", r"co\.?,?limited", r"ltd\.?", "limited",
            r"inc\.?", r"corp\.?", "corporation", "llc")


def channel_key(d: Dialect, s: str) -> str:
    """The normalised name of SQL text ``s`` (NFC through dialect ``d``: DuckDB and Spark spell it apart).

    The suffix is replaced once, at the end: the pattern is anchored, so every engine's replace (Spark
    has only the global one) drops the same text.
    """
    folded = f"translate({s}, {quote_literal(_WIDE)}, {quote_literal(_NARROW)})"
    return f"""regexp_replace(regexp_replace(
    translate(lower({d.nfc_normalize(folded)}),
              {quote_literal(_OPEN + _CLOSE)}, {quote_literal("(" * len(_OPEN) + ")" * len(_CLOSE))}),
    '\\s+', '', 'g'), {quote_literal("[,.]*(" + "|".join(SUFFIXES) + ")$")}, '')"""


def steps(d: Dialect, channel_rows, lines_filter: str, params: dict) -> list[Step]:
    """Temp tables ``channel_map`` (the YAML's rows) and ``customer_channel`` (customer -> channel).

    ``d``: the run's dialect; ``channel_rows``: (kind, pattern, channel) with kind exact, contains or
    regex; ``lines_filter``: the universe's predicate over ``ledger_line l`` for the lines the run takes
    (with ``params``).
    ``customer_channel`` has one row per customer that fits some channel: ``channel`` is NULL when two
    channels fit it equally (``candidates`` names them).
    """
    return [
        values_table("channel_map", "universe.channel_map",
                     {"kind": "VARCHAR", "pattern": "VARCHAR", "channel": "VARCHAR"}, channel_rows, "cm"),
        Step("universe.customer_channel", f"""CREATE OR REPLACE TEMP TABLE customer_channel AS
        WITH cust AS (SELECT DISTINCT l.account AS customer FROM ledger_line l
                      WHERE l.source = 'erp' AND l.channel IS NULL AND l.account IS NOT NULL AND {lines_filter}),
        named AS (SELECT customer, {channel_key(d, "customer")} AS ck FROM cust),
        pat AS (SELECT kind, channel, CASE kind WHEN 'regex' THEN pattern ELSE {channel_key(d, "pattern")} END AS p
                FROM channel_map),
        hit AS (SELECT n.customer, p.channel, CASE p.kind WHEN 'exact' THEN 1 ELSE 2 END AS tier
                FROM named n JOIN pat p
                  ON (p.kind = 'exact' AND n.ck = p.p) OR (p.kind = 'contains' AND contains(n.ck, p.p))
                  OR (p.kind = 'regex' AND regexp_matches(n.ck, p.p))),
        best AS (SELECT customer, min(tier) AS tier FROM hit GROUP BY customer)
        SELECT h.customer, CASE WHEN count(DISTINCT h.channel) = 1 THEN min(h.channel) END AS channel,
               string_agg(DISTINCT h.channel, ', ' ORDER BY h.channel) AS candidates
        FROM hit h JOIN best b USING (customer, tier) GROUP BY h.customer""", params, "customer_channel"),
    ]


UNMAPPED = Step("universe.unmapped_customers", """SELECT u.account, u.currency, count(*), sum(u.amount),
        any_value(c.candidates)
    FROM universe u LEFT JOIN customer_channel c ON c.customer = u.account
    WHERE u.source = 'erp' AND u.channel IS NULL
    GROUP BY u.account, u.currency ORDER BY u.account NULLS FIRST, u.currency NULLS FIRST""")


def unmapped(runner) -> list[dict]:
    """Every ERP customer of the universe left without a channel: lines and amount per currency.

    ``[{customer, lines, amount: {currency: "0.00"}, candidates}]`` (``candidates``: the channels that
    fitted equally, or None), by customer; one query, grouped in SQL (one row per customer and currency).
    """
    out: dict = {}
    for customer, currency, n, amount, candidates in runner.fetch(UNMAPPED):
        row = out.setdefault(customer, {"customer": customer, "lines": 0, "amount": {},
                                        "candidates": candidates.split(", ") if candidates else None})
        row["lines"] += n
        row["amount"][currency or ""] = str(Decimal(amount or 0).quantize(Decimal("0.01")))
    return list(out.values())
