"""The difference locator: which unexplained lines sum exactly to a difference a user types.

Clerks ask "which 1-3 (maybe 4) lines make up this 428.36?". Amounts are compared in integer
cents. The search is exhaustive for 1, 2 and 3 lines over every candidate (sorted cents and a
binary search per pair, vectorised with numpy), then meet-in-the-middle for 4 lines over the
candidates closest in size to the target (at most ``MITM_LIMIT``). Ambiguity is normal, so the
result is every combination found within those bounds, counted, with the best few ranked by
plausibility (fewer lines, one channel, dates close together) — never a single "the answer" —
and a note whenever a bound cut the search. A time-capped bitset DP says only whether a
combination of any size exists at all (its single witness would be arbitrary).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from recon.engine import ledger

MITM_LIMIT = 40  # candidates for the 4-line meet-in-the-middle search


@dataclass(frozen=True)
class Candidate:
    ref: str  # source_file:source_line[@sheet]
    source: str
    channel: str | None
    cents: int
    day: int  # ordinal of the movement date, for plausibility
    label: str


@dataclass
class Located:
    target_cents: int
    solutions: list = field(default_factory=list)  # tuples of candidate indexes
    notes: list = field(default_factory=list)
    any_size_possible: bool | None = None  # the DP check: some combination of any size sums to it


DP_SECONDS = 1.0  # time cap of the "is it possible at all" check


def possible_at_all(values: list[int], target: int, seconds: float = DP_SECONDS) -> bool | None:
    """Whether any subset of ``values`` (cents) sums to ``target``: a bitset DP, time-capped.

    Only answered when every value has the target's sign (then sums beyond the target can be cut
    off and the bitset stays target-sized); None when it cannot say within the bounds. Its witness
    would be arbitrary, so it answers yes/no only.
    """
    if target == 0:
        return True
    sign = 1 if target > 0 else -1
    vals = [v * sign for v in values if v != 0]
    if any(v < 0 for v in vals) or target * sign > 50_000_000:
        return None
    goal = target * sign
    mask = (1 << (goal + 1)) - 1
    reach = 1
    deadline = time.monotonic() + seconds
    for v in vals:
        reach = (reach | (reach << v)) & mask
        if reach >> goal & 1:
            return True
        if time.monotonic() > deadline:
            return None
    return bool(reach >> goal & 1)


def _rank_key(cands, combo):
    channels = {cands[i].channel for i in combo}
    days = [cands[i].day for i in combo]
    return (len(combo), len(channels), max(days) - min(days), tuple(cands[i].ref for i in combo))


def search(cands: list[Candidate], target_cents: int, max_lines: int = 4) -> Located:
    """Every combination of up to ``max_lines`` candidates whose cents sum to ``target_cents``."""
    out = Located(target_cents)
    n = len(cands)
    if n == 0:
        return out
    values = np.array([c.cents for c in cands], dtype=np.int64)
    order = np.argsort(values, kind="stable")
    sorted_vals = values[order]
    found: set = set()

    def add(*idx):
        found.add(tuple(sorted(int(i) for i in idx)))

    for i in np.nonzero(values == target_cents)[0]:
        add(i)
    positions = np.arange(n)
    for a in range(n if max_lines >= 2 else 0):
        # pairs a < b in sorted order: binary search for target - value[a] after a
        need = target_cents - sorted_vals[a]
        lo = max(int(np.searchsorted(sorted_vals, need, "left")), a + 1)
        for b in range(lo, int(np.searchsorted(sorted_vals, need, "right"))):
            add(order[a], order[b])
        if max_lines >= 3 and a < n - 2:
            # triples a < b < c: for every b at once, binary search c after b (vectorised over b)
            bs = positions[a + 1:n - 1]
            needs = target_cents - sorted_vals[a] - sorted_vals[bs]
            los = np.maximum(np.searchsorted(sorted_vals, needs, "left"), bs + 1)
            his = np.searchsorted(sorted_vals, needs, "right")
            for k in np.nonzero(his > los)[0]:
                for c in range(int(los[k]), int(his[k])):
                    add(order[a], order[bs[k]], order[c])
    if max_lines >= 4:
        pool = sorted(range(n), key=lambda i: (abs(abs(cands[i].cents) - abs(target_cents)), cands[i].ref))
        if n > MITM_LIMIT:
            out.notes.append(f"4-line search limited to the {MITM_LIMIT} candidates closest in size to the target "
                             f"(of {n})")
            pool = pool[:MITM_LIMIT]
        pairs: dict = {}
        for i, j in itertools.combinations(sorted(pool), 2):
            pairs.setdefault(cands[i].cents + cands[j].cents, []).append((i, j))
        for s, first in pairs.items():
            for i, j in first:
                for k, m in pairs.get(target_cents - s, ()):
                    if len({i, j, k, m}) == 4:
                        add(i, j, k, m)
    if max_lines > 4:
        out.notes.append("combinations of more than 4 lines are not searched")
    out.solutions = sorted(found, key=lambda c: _rank_key(cands, c))
    out.any_size_possible = possible_at_all([c.cents for c in cands], target_cents)
    return out


def residuals(con, run_id: str) -> list[Candidate]:
    """The residuals of a run's unexplained order groups (platform sum - ERP sum), one candidate each.

    A clerk's difference is often the sum of a few orders' gaps rather than of whole lines; these
    are searched on their own (``--residuals``), never mixed with the lines they are made of.
    """
    ledger.ensure(con)
    rows = con.execute(
        """SELECT r.match_group, any_value(r.channel),
                  CAST(round((coalesce(sum(l.amount) FILTER (WHERE r.family = 'platform'), 0)
                              - coalesce(sum(l.amount) FILTER (WHERE r.family = 'erp'), 0)) * 100) AS BIGINT),
                  max(l.movement_date), string_agg(DISTINCT l.order_no, ',' ORDER BY l.order_no)
           FROM line_result r JOIN ledger_line l ON l.line_id = r.line_id AND l.source IN ('platform', 'erp')
           WHERE r.run_id = ? AND r.status IN ('unknown', 'review') AND r.match_group IS NOT NULL
           GROUP BY r.match_group
           HAVING count(*) FILTER (WHERE r.family = 'platform') > 0 AND count(*) FILTER (WHERE r.family = 'erp') > 0
           ORDER BY 1""", [run_id]).fetchall()
    return [Candidate(f"group {g}", "residual", ch, int(c), d.toordinal() if d else 0,
                      f"order {orders or '?'} residual {Decimal(c) / 100:.2f}")
            for g, ch, c, d, orders in rows if c]


def candidates(con, run_id: str, side: str | None) -> list[Candidate]:
    """Unexplained lines (unknown or review) of a run, with where they stand."""
    if side == "residual":
        return residuals(con, run_id)
    params = [run_id]
    where = ""
    if side:
        where = "AND r.family = ?"
        params.append(side)
    ledger.ensure(con)
    rows = con.execute(
        f"""SELECT l.source_name || ':' || CAST(l.source_line AS VARCHAR) || coalesce('@' || l.source_sheet, ''),
                   r.family, l.channel, CAST(round(l.amount * 100) AS BIGINT), l.movement_date,
                   coalesce(l.order_no, '') || ' ' || coalesce(l.line_type, '') || ' ' || CAST(l.amount AS VARCHAR)
            FROM line_result r JOIN ledger_line l USING (line_id)
            WHERE r.run_id = ? AND r.status IN ('unknown', 'review') AND l.amount IS NOT NULL {where}
            ORDER BY 1""", params).fetchall()
    return [Candidate(ref, src, ch, int(c), d.toordinal() if d else 0, label) for ref, src, ch, c, d, label in rows]
