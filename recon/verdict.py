"""A run's verdict: clean, breaks or incomplete, with every reason as data (issue 12 point 1).

A month-end script reads one exit code; a clerk reads one sentence per reason. Both come from here:

- **incomplete** (exit 4): the run finished, but its coverage cannot be trusted, so its counts say
  nothing about the month. No ledger line in the period; a ledger family (platform, ERP, bank) with no
  line in the period; a channel the last finished run of this period had and this one lacks; a
  skipped file that looks like a ledger; a refused file; a failed control proof; a file shorter than
  its own footer says; a file warning that marks its file as not to be trusted (``incomplete``).
- **breaks** (exit 1): coverage is whole, but lines are unknown, in review or quarantined, or a
  dictionary code blocks the close.
- **clean** (exit 0): none of the above.

Precedence: incomplete outranks breaks. A run missing its bank statement shows no bank breaks, so
"breaks" would understate what is wrong; the breaks are still listed after the incomplete reasons.

Each reason is a stable ``code`` with ``params`` (JSON values) and a sentence rendered from them in
the reader's language, so reports re-rendered later in another language say the same thing.
The facts come from the manifest (``decide``) plus two set-based queries on the run's tables
(``coverage``, ``blocking``); nothing here loops over ledger lines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from recon.engine.steps import Step, runner
from recon.errors import EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_OK

CLEAN, BREAKS, INCOMPLETE = "clean", "breaks", "incomplete"
EXIT_CODES = {CLEAN: EXIT_OK, BREAKS: EXIT_FINDINGS, INCOMPLETE: EXIT_INCOMPLETE}
VERDICT_ZH = {CLEAN: "无差异，可以结账", BREAKS: "有差异", INCOMPLETE: "不完整，不能据此结账"}
FAMILIES = ("platform", "erp", "bank")
FAMILY_NAMES = {"zh": {"platform": "平台", "erp": "ERP", "bank": "银行"},
                "en": {"platform": "platform", "erp": "ERP", "bank": "bank"}}
REFS_SHOWN = 3  # file:line references named in one sentence; the report and results.csv have all

# code -> (state it leads to, Chinese sentence, English sentence); str.format over the reason's params
SENTENCES = {
    "no_lines": (INCOMPLETE, "期间 {period} 没有任何账单行：没有可对账的内容，不能结账",
                 "no ledger line in period {period}: there is nothing to reconcile, the month cannot close"),
    "family_missing": (INCOMPLETE, "本期没有{family_name}的行：请补充{family_name}文件后重新运行",
                       "no {family_name} line in the period: add the {family_name} file and run again"),
    "channel_missing": (INCOMPLETE, "渠道 {channel} 在上次运行 {previous_run} 中有 {lines} 行，本次没有：请补充该渠道的文件",
                        "channel {channel} had {lines} lines in the last run {previous_run} of this period and has "
                        "none now: add its file"),
    "skipped_ledger": (INCOMPLETE, "文件 {path} 疑似账单但未被读取：请用 --format 或 --profile 指定格式",
                       "{path} looks like a ledger but was not read: name its format with --format or --profile"),
    "refused_file": (INCOMPLETE, "文件 {path} 无法读取而被拒绝：{reason}",
                     "{path} was refused as unreadable: {reason}"),
    "file_short": (INCOMPLETE, "文件 {path} 比其页脚声明的短：{proof} 声明 {expected}，实际 {actual}；文件可能被截断，请重新下载",
                   "{path} is shorter than its own footer says: {proof} declares {expected}, found {actual}; "
                   "the file may be truncated, download it again"),
    "proof_failed": (INCOMPLETE, "文件 {path} 的控制校验 {proof} 未通过：声明 {expected}，实际 {actual}",
                     "control proof {proof} of {path} failed: declared {expected}, found {actual}"),
    "unknown_lines": (BREAKS, "{lines} 行未知差异", "{lines} unknown lines"),
    "review_lines": (BREAKS, "{lines} 行待复核", "{lines} lines wait for review"),
    "quarantined_lines": (BREAKS, "{lines} 行无法读取而被隔离（见 quarantine.csv）",
                          "{lines} lines could not be read and were quarantined (see quarantine.csv)"),
    "blocks_close": (BREAKS, "{entry} 共 {lines} 行阻止结账（{action}）", "{entry} on {lines} lines ({action})"),
}
ACTIONS = {  # the bracket of a blocks_close sentence: re-download the damaged file, or look at the lines
    "redownload": ("请重新下载{family_name}导出文件 {refs}", "re-download the {family_name} export {refs}"),
    "see": ("见 {refs}", "see {refs}"),
}


@dataclass(frozen=True)
class Reason:
    """One reason for a verdict: a stable code, its parameters, and the state it leads to."""

    code: str
    params: dict = field(default_factory=dict)
    state: str = INCOMPLETE

    def sentence(self, lang: str = "zh") -> str:
        """The reason in one sentence, ``code: …``, in ``lang`` (zh or en)."""
        known = SENTENCES.get(self.code)
        if known is None:  # a file warning's code: its own sentence, naming the file
            return f"{self.code}: {self.params.get('path', '')}: {self.params.get('message', '')}"
        params = dict(self.params)
        params.setdefault("family_name", FAMILY_NAMES[lang].get(params.get("family", ""), params.get("family", "")))
        if self.code == "blocks_close":
            params["action"] = _action(params, lang)
        return f"{self.code}: " + known[1 if lang == "zh" else 2].format(**params)

    def as_dict(self, lang: str = "zh") -> dict:
        return {"code": self.code, "state": self.state, "params": self.params, "message": self.sentence(lang)}

    @classmethod
    def from_dict(cls, d: dict) -> "Reason":
        return cls(d["code"], dict(d.get("params") or {}), d.get("state", INCOMPLETE))


def _action(params: dict, lang: str) -> str:
    refs = ", ".join(params.get("refs", [])[:REFS_SHOWN])
    if len(params.get("refs", [])) > REFS_SHOWN:
        refs += " …"
    kind = "redownload" if params.get("damaged") else "see"
    fam = FAMILY_NAMES[lang].get(params.get("family") or "", "")
    return ACTIONS[kind][0 if lang == "zh" else 1].format(refs=refs, family_name=fam)


@dataclass(frozen=True)
class Verdict:
    """clean, breaks or incomplete, its exit code, and every reason (incomplete ones first)."""

    state: str
    reasons: tuple = ()

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.state]

    @classmethod
    def of(cls, reasons) -> "Verdict":
        reasons = tuple(sorted(reasons, key=lambda r: r.state != INCOMPLETE))  # stable: order within a state kept
        if any(r.state == INCOMPLETE for r in reasons):
            return cls(INCOMPLETE, reasons)
        return cls(BREAKS if reasons else CLEAN, reasons)

    def as_dict(self, lang: str = "zh") -> dict:
        return {"state": self.state, "exit_code": self.exit_code, "reasons": [r.as_dict(lang) for r in self.reasons]}

    def sentences(self, lang: str = "zh") -> list[str]:
        return [r.sentence(lang) for r in self.reasons]

    @classmethod
    def from_manifest(cls, manifest: dict, exit_code: int | None = None) -> "Verdict":
        """The verdict a stored manifest recorded; a run recorded before verdicts existed gets the state its
        exit code meant then (0 clean, anything else breaks), without reasons."""
        v = manifest.get("verdict")
        if isinstance(v, dict) and v.get("state") in EXIT_CODES:
            return cls(v["state"], tuple(Reason.from_dict(r) for r in v.get("reasons", [])))
        code = manifest.get("exit_code", exit_code)
        return cls(CLEAN if code == EXIT_OK else INCOMPLETE if code == EXIT_INCOMPLETE else BREAKS)


# ---------------------------------------------------------------- facts from the run's tables

def coverage(con) -> dict:
    """Lines of the run per ledger family (in the period) and per channel (every line with a result).

    Only the period's own lines count: lines carried from the period before (``carried_from``) are
    last month's files, so a month whose platform bill has not come is still incomplete however many
    of January's lines it carries. Reads ``universe`` and ``run_line`` (the run's temp tables).
    """
    r = runner(con)
    fams = dict(r.fetch(Step("verdict.families", """SELECT source, count(*) FROM universe
                                WHERE in_period AND carried_from IS NULL GROUP BY source ORDER BY source""")))
    chans = dict(r.fetch(Step("verdict.channels", """SELECT l.channel, count(*) FROM run_line l
                                WHERE l.channel IS NOT NULL AND NOT EXISTS (
                                    SELECT 1 FROM universe u WHERE u.line_id = l.line_id AND u.carried_from IS NOT NULL)
                                GROUP BY l.channel ORDER BY l.channel""")))
    return {"families": {f: int(fams.get(f, 0)) for f in FAMILIES}, "channels": {c: int(n) for c, n in chans.items()}}


def blocking(con) -> list[dict]:
    """Per blocking dictionary code: its lines, and the file:line references of the damaged lines
    (an id Excel destroyed: ``id_problem``) or, when no line is damaged, of all its lines.

    Reads ``known_case_tmp`` (classification's cases) and ``universe``.
    """
    rows = runner(con).fetch(Step("verdict.blocking", """WITH l AS (
            SELECT k.code, u.source, u.source_file, u.source_line, u.source_sheet, u.id_problem IS NOT NULL AS damaged
            FROM (SELECT code, unnest(line_ids) AS line_id FROM known_case_tmp WHERE blocks_close) k
            JOIN universe u USING (line_id))
        SELECT code, count(*) AS lines, bool_or(damaged),
               list(DISTINCT source ORDER BY source) FILTER (WHERE damaged),
               list(source_file || ':' || source_line || coalesce('@' || source_sheet, '')
                    ORDER BY source_file, source_sheet NULLS FIRST, source_line) FILTER (WHERE damaged OR NOT has_damage)
        FROM (SELECT *, bool_or(damaged) OVER (PARTITION BY code) AS has_damage FROM l)
        GROUP BY code ORDER BY code"""))
    return [{"code": code, "lines": int(n), "damaged": bool(damaged),
             "family": (fams[0] if fams and len(fams) == 1 else None), "refs": list(refs or [])}
            for code, n, damaged, fams, refs in rows]


def previous_run(con, period: str) -> dict | None:
    """The last finished run of ``period`` in the store (an interrupted one never counts), with the
    lines per channel it had: from its manifest's coverage, or, for a run recorded before there was
    one, counted from its results; plus the channels it found missing itself (with the lines they had
    before), so a channel stays missing run after run until its lines come back."""
    row = con.execute("""SELECT run_id, manifest_json FROM run WHERE period = ? AND exit_code IS DISTINCT FROM 130
                         ORDER BY started_at DESC, run_id DESC LIMIT 1""", [period]).fetchone()
    if not row:
        return None
    run_id, manifest_json = row
    manifest = json.loads(manifest_json) if manifest_json else {}
    cov = manifest.get("coverage")
    if isinstance(cov, dict) and isinstance(cov.get("channels"), dict):
        channels = dict(cov["channels"])
    else:
        channels = dict(con.execute("""SELECT channel, count(*) FROM line_result WHERE run_id = ?
                                       AND channel IS NOT NULL GROUP BY channel ORDER BY channel""", [run_id]).fetchall())
    # a channel that run already missed stays expected: a second run without it must not pass as complete
    for r in (manifest.get("verdict") or {}).get("reasons", []):
        if r.get("code") == "channel_missing" and r["params"]["channel"] not in channels:
            channels[r["params"]["channel"]] = r["params"]["lines"]
    return {"run_id": run_id, "channels": dict(sorted(channels.items()))}


# ---------------------------------------------------------------- deciding

def _is_short(proof: dict) -> bool:
    """A count proof whose file holds fewer lines than it declares: the file was cut short."""
    name = str(proof.get("proof", ""))
    if not (name.endswith(".count") or "笔数" in name or "count" in name.lower()):
        return False
    try:
        return int(str(proof.get("actual"))) < int(str(proof.get("expected")))
    except ValueError:
        return False


def decide(manifest: dict, previous: dict | None = None, blocked: list | None = None) -> Verdict:
    """The verdict of a run from its manifest (``coverage``, inputs, counts), the previous finished run of
    its period (``previous_run``) and its blocking codes (``blocking``)."""
    reasons: list[Reason] = []
    cov = manifest.get("coverage") or {"families": {}, "channels": {}}
    families = cov["families"]
    if not sum(families.values()):
        reasons.append(Reason("no_lines", {"period": manifest["period"]}))
    else:
        reasons += [Reason("family_missing", {"family": f}) for f in FAMILIES if not families.get(f)]
    if previous:
        reasons += [Reason("channel_missing", {"channel": ch, "previous_run": previous["run_id"], "lines": int(n)})
                    for ch, n in sorted(previous["channels"].items()) if n and not cov["channels"].get(ch)]
    reasons += [Reason("skipped_ledger", {"path": s["path"]}) for s in manifest.get("skipped_files", [])
                if s.get("looks_like_ledger")]
    reasons += [Reason("refused_file", {"path": r["path"], "reason": r["reason"]})
                for r in manifest.get("refused_files", [])]
    for inp in manifest.get("inputs", []):
        for part in inp.get("parts", []):
            where = inp["path"] + (f"/{part['part']}" if part.get("part") else "")
            for pr in part.get("proofs", []):
                if not pr["passed"]:
                    reasons.append(Reason("file_short" if _is_short(pr) else "proof_failed",
                                          {"path": where, "proof": pr["proof"], "expected": str(pr["expected"]),
                                           "actual": str(pr["actual"])}))
        for w in inp.get("warnings", []):
            if w.get("incomplete"):
                where = inp["path"] + (f"/{w['part']}" if w.get("part") else "")
                reasons.append(Reason(w["code"], {"path": where, "message": w.get("message", "")}))
    counts = manifest.get("status_counts", {})
    for status, code in (("unknown", "unknown_lines"), ("review", "review_lines")):
        if counts.get(status):
            reasons.append(Reason(code, {"lines": int(counts[status])}, BREAKS))
    if manifest.get("quarantined_lines"):
        reasons.append(Reason("quarantined_lines", {"lines": int(manifest["quarantined_lines"])}, BREAKS))
    names = (manifest.get("classification") or {}).get("names") or {}
    for b in blocked or []:
        reasons.append(Reason("blocks_close", {"entry": b["code"], "lines": b["lines"], "damaged": b["damaged"],
                                               "family": b["family"], "refs": b["refs"],
                                               "name_zh": (names.get(b["code"]) or {}).get("zh", "")}, BREAKS))
    return Verdict.of(reasons)
