"""Was this download opened and saved again in Excel (or WPS)? Then its ids are damaged: say so at import.

A re-save leaves two marks a download never has together: long ids shown in scientific notation
(``3.43301E+15``: Excel keeps 15 significant digits, the rest is gone) and times cut to the minute
(``2026/1/5 14:03`` where the platform wrote ``2026-01-05 14:03:27``). One damaged id alone is an
ERP cell someone typed over (EXCEL_MANGLED_ID flags that line); the two together mean the whole file
went through Excel, every id in it is suspect, and the only fix is to download it again.

The check reads a bounded sample, the first ``SAMPLE_ROWS`` staged rows of the part, in one SQL
statement over the raw cells of the profile's id and timestamp columns: a re-save changes every row
the same way, so the head of the file shows it, and a month of a million lines costs no more than a
day's. The finding is data, ``{"code", "part", "message", "incomplete"}``, kept in the file's report
(``FileReport.warnings``): ``incomplete: true`` says the run cannot be trusted until a clean copy is
loaded.
"""

from __future__ import annotations

from recon import store
from recon.io.profile import Profile
from recon.io.sqlmap import Compiler
from recon.sql.quote import quote_ident

CODE = "EXCEL_RESAVED"
SAMPLE_ROWS = 1000
MESSAGE = "this file was re-saved by Excel; ids are damaged; download it again"
# a time of day with hours and minutes and nothing after: what Excel's display format leaves
_MINUTES = r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}[ T]+\d{1,2}:\d{2}$"
_SECONDS = r"\d{1,2}:\d{2}:\d{2}"
# an id Excel showed in scientific notation (the r_mangled macro's pattern; a literal, never input)
_SCI = r"[+-]?\d+(\.\d+)?[Ee][+]?\d+"


def _columns(profile: Profile, header: list, values: dict) -> tuple[list, list]:
    """Stage columns (``cN``) with their captions: the profile's id columns, its timestamp columns."""
    comp = Compiler(profile, header, values)
    types = dict(store.fields_of(profile.family))
    ids, stamps = [], []
    for name, spec in profile.fields.items():
        for k, caption in comp._id_columns(spec):
            ids.append((f"c{k[1:]}", caption))
        typ = spec.get("type") if isinstance(spec, dict) else None
        timed = typ == "timestamp" or (typ is None and types.get(name) == "TIMESTAMP")
        if timed and "col" in spec and "time_col" not in spec and "extract" not in spec:
            found = comp.column(spec["col"])
            if found:
                stamps.append((f"c{found[0][1:]}", found[1]))
    return list(dict.fromkeys(ids)), list(dict.fromkeys(stamps))


def check(con, profile: Profile, header: list, values: dict, part: str | None,
          source: str = "stage") -> dict | None:
    """The EXCEL_RESAVED warning for the part in ``source`` (``stage``, or the fast path's view
    ``stage_csv``: columns c1..cN in the file's order), or None.

    Fires when, in the sample, some id is in scientific notation and every time of day is cut to the
    minute (none has seconds). Timestamp columns the profile types without a time (a bare date) say
    nothing either way and are ignored.
    """
    ids, stamps = _columns(profile, header, values)
    if not ids or not stamps:
        return None
    cols = sorted({c for c, _ in ids + stamps}, key=lambda c: int(c[1:]))
    sci = " OR ".join(f"regexp_full_match({c}, '{_SCI}')" for c, _ in ids)
    minutes = " OR ".join(f"regexp_matches(coalesce({c}, ''), $minutes)" for c, _ in stamps)
    seconds = " OR ".join(f"regexp_matches(coalesce({c}, ''), $seconds)" for c, _ in stamps)
    id_example = "coalesce(" + ", ".join(
        f"CASE WHEN regexp_full_match({c}, '{_SCI}') THEN $cap_i{i} || '=' || {c} END"
        for i, (c, _) in enumerate(ids)) + ")"
    ts_example = "coalesce(" + ", ".join(
        f"CASE WHEN regexp_matches(coalesce({c}, ''), $minutes) THEN $cap_t{i} || '=' || {c} END"
        for i, (c, _) in enumerate(stamps)) + ")"
    params = {"minutes": _MINUTES, "seconds": _SECONDS}
    params.update({f"cap_i{i}": cap for i, (_, cap) in enumerate(ids)})
    params.update({f"cap_t{i}": cap for i, (_, cap) in enumerate(stamps)})
    # the first rows as staged (insertion order: the file's order), each cell trimmed once (the marks
    # looked for are digits and separators: no other cleaning can change whether a cell has them)
    sample = (f"WITH s AS (SELECT {', '.join(f'trim({c}) AS {c}' for c in cols)} "
              f"FROM (SELECT {', '.join(cols)} FROM {quote_ident(source)} LIMIT {int(SAMPLE_ROWS)})) ")
    # nearly every part has no id in scientific notation: that is asked first, in the cheapest statement
    if not con.execute(sample + f"SELECT count(*) FILTER (WHERE {sci}) FROM s").fetchall()[0][0]:
        return None
    n, n_sci, n_min, n_sec, id_ex, ts_ex = con.execute(
        f"""{sample}
            SELECT count(*), count(*) FILTER (WHERE {sci}), count(*) FILTER (WHERE {minutes}),
                   count(*) FILTER (WHERE {seconds}),
                   min({id_example}) FILTER (WHERE {sci}), min({ts_example}) FILTER (WHERE {minutes})
            FROM s""", params).fetchall()[0]  # fetched whole: the connection is free for the import again
    if not (n_sci and n_min and not n_sec):
        return None
    return {"code": CODE, "part": part or None, "incomplete": True,
            "message": (f"{MESSAGE} ({n_sci} of the first {n} lines have an id in scientific notation, e.g. "
                        f"{id_ex}; no time has seconds, e.g. {ts_ex}): open the platform's download, never a "
                        "copy saved from Excel or WPS")}
