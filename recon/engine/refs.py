"""Provenance ids of the run's lines, for naming groups and cases (never for joining).

Inside the engine a line is its integer ``line_id`` (``recon.store``, "lineage ids"): every join and
group is on integers. Users see group ids (``match_group`` in results.csv, known-case ids) that must
not change when the store numbers its files differently, so those are named from each line's
provenance instead: ``store.LINE_REF_SQL`` of the file's SHA-256, the sheet and the physical line
(what the line_id of schema version 2 was). Temp table ``line_ref(line_id, ref)`` holds it once per
universe line; only the steps that name a group, or break a tie whose winner users see, join it.
"""

from __future__ import annotations

from recon import store
from recon.engine.steps import Step

REF = store.LINE_REF_SQL.format(sha="f.sha256", sheet="u.source_sheet", line="u.source_line")


def step() -> Step:
    """Temp table ``line_ref``: each universe line's provenance id (after ``universe``)."""
    return Step("universe.line_ref",
        f"""CREATE OR REPLACE TEMP TABLE line_ref AS
        SELECT u.line_id, {REF} AS ref FROM universe u JOIN source_file f USING (file_id)""",
        writes="line_ref")
