"""Every word recon shows a person, in Chinese (the default: clerks read Chinese) and English.

One module, so a name is translated once and reports, the workbook and the terminal agree:

- ``LABELS``: the HTML report's words, one flat table per language with the same keys (a test checks
  this); templates look labels up as ``t.key`` under StrictUndefined, so a missing translation fails
  the render instead of showing blank.
- ``EXPLAIN``: the words ``recon explain`` prints on the terminal.
- ``STATUS``: the four final states of a line; ``SOURCES``: the three ledgers; ``SHEETS_ZH``: the
  workbook's sheet name per state.
- ``FINDINGS``: the engine's own reasons for a status (results.csv column ``finding``), each a stable
  code with a zh and an en sentence over its parameters; ``parse`` reads a finding cell and
  ``render`` says it in a language. The engine writes the codes in SQL (``recon.engine.findings``),
  never a sentence, so a script can group by the code and a reader gets the sentence in their language.

Known-discrepancy codes (``TMALL_COMMISSION_…``) are named by the dictionaries that define them (the
run keeps their names in ``manifest.json`` ``classification.names``), and accounts by the chart of
accounts (``reports/accounts.yaml``): both are user data, not labels.

A finding cell is one or more items separated by ``"; "``; an item is ``CODE`` or ``CODE{json}``, the
JSON an object of string values with its keys sorted, e.g. ``AMOUNT_DIFFERS{"diff":"-5.00","erp":
"105.00","order":"M1","platform":"100.00"}; DRILL_NO_CANDIDATE``.
"""

from __future__ import annotations

import functools
import json
import re
import string

STATUS = {
    "zh": {"matched": "已匹配", "known": "已知差异", "review": "待复核", "unknown": "未知差异"},
    "en": {"matched": "matched", "known": "known", "review": "review", "unknown": "unknown"},
}
SOURCES = {"zh": {"platform": "平台", "erp": "ERP", "bank": "银行"},
           "en": {"platform": "platform", "erp": "ERP", "bank": "bank"}}

LABELS = {
    "zh": {
        "title": "对账差异根因报告",
        "verdict": "结论", "verdict_clean": "无差异：可以结账", "verdict_breaks": "有差异：处理下列问题后才能结账",
        "verdict_incomplete": "不完整：覆盖范围不可信，不能据此结账", "verdict_aborted": "已中断",
        "verdict_no_reasons": "（此运行记录于结论功能之前，没有逐条原因）",
        "changes": "与上次运行相比", "changes_first": "这是本期在此存储中的第一次运行，没有可比较的上次运行。",
        "previous_run": "上次运行", "then": "上次", "now": "本次", "delta": "变化",
        "newly_unknown": "新增未知差异", "resolved": "已解决（上次未知或待复核，本次已匹配或已知）",
        "open_items": "未结项（自上次运行以来的变化）", "as_of": "账龄计算日", "open_now": "当前未结",
        "age_days": "账龄（天）", "first_seen": "首次发现", "resolved_by_label": "解决方式",
        "open_items_changed": "新增、重新打开和已解决的项目（列出 {n} 项，金额大者在前）",
        "state_new": "新增", "state_persisting": "持续", "state_reopened": "重新打开", "state_resolved": "已解决",
        "by_new_file": "新文件", "by_rule": "规则变更", "by_decision": "人工决定", "by_correction": "单据更正",
        "by_other": "其他",
        "next": "下一步", "blocking": "阻止结账的项目", "blocking_more": "另有 {n} 个，见下方「已知差异」",
        "largest_unknown": "金额最大的未知差异", "command": "查看原因", "nothing_next": "没有需要处理的项目。",
        "period": "会计期间", "run": "运行编号", "started": "开始时间", "finished": "结束时间", "version": "版本",
        "exit_code": "退出码", "summary": "运行概况", "status": "状态", "lines": "行数", "gross": "金额（绝对值合计）",
        "net": "金额（净额）", "amount": "金额", "count": "笔数",
        "cny_equivalent": "折合人民币（按 FX 文件汇率，净额）",
        "cny_note": "折合人民币：CNY 行按原额；其他币种按 FX 文件中该行资金日期的汇率折算（每币种每日合计折算，保留两位）；"
                    "缺少汇率时不折算，列出缺少的币种和日期。各币种金额仍分列，从不跨币种相加。",
        **{f"status_{k}": v for k, v in STATUS["zh"].items()},
        "control_totals": "控制合计", "source": "来源", "bucket": "口径",
        "bucket_in": "导入进入匹配", "bucket_out": "匹配输出", "bucket_later_evidence": "期后佐证",
        "bucket_outside_period": "期间外",
        **{f"source_{k}": v for k, v in SOURCES["zh"].items()},
        "quarantined": "隔离行数", "failed_proofs": "未通过的控制校验", "none": "无",
        "skipped_files": "未读取的文件", "in_archive": "压缩包", "looks_like_ledger": "疑似账单：本次运行不完整",
        "refused_files": "未能读取而被拒绝的文件（本次运行不完整）",
        "unmapped_customers": "未能对应渠道的 ERP 客户（其行没有渠道，渠道规则不会适用）", "no_customer": "（无客户）",
        "ambiguous_channels": "同时符合渠道", "unmapped_lines": "{n} 行",
        "distribution": "差异根因分布", "by_code": "按差异代码", "by_channel": "按渠道",
        "chart_code_lines": "按差异代码：行数", "chart_code_amount": "按差异代码：金额（绝对值）",
        "chart_channel_lines": "按渠道：行数", "chart_channel_amount": "按渠道：金额（绝对值）",
        "code": "差异代码", "channel": "渠道", "no_channel": "（无渠道）", "no_differences": "本次运行没有未匹配的行。",
        "stop_layers": "未知差异按钻取停止层级", "layer": "层级",
        "trend": "差异类型趋势（最近运行）", "trend_note": "格中数字为该次运行中该代码的行数，颜色越深行数越多。",
        "trend_empty": "存储中还没有可比较的运行。",
        "decisions": "人工决定", "decision_kind": "类型", "decided_by": "决定人", "reason": "理由",
        "decision_applied": "已应用", "decision_stale": "已失效（未应用）", "decision_kind_accept": "接受差异",
        "decision_kind_match": "指定配对",
        "unknown": "未知差异", "unknown_note": "共 {lines} 行，金额绝对值合计 {gross}；下方按金额列出最大的 {shown} 行，"
        "完整清单见工作簿 recon.xlsx 的「未知」工作表及 results.csv。",
        "ref": "文件:行", "order_no": "订单号", "line_type": "行类型", "explanation": "说明",
        "match_group": "匹配组", "finding": "钻取结论", "reason": "判定原因", "layer1": "第一层：候选与差异",
        "layer2": "第二层：原始记录", "layer3": "第三层：操作日志", "field": "字段", "value": "值",
        "no_drilldown": "尚无钻取结果。", "no_events": "该订单没有操作日志。",
        "no_candidates": "没有找到候选行。", "via": "关联方式", "via_order_no": "订单号", "via_amount": "金额相近",
        "date": "日期", "differences": "差异", "candidate_record": "候选行原始记录",
        "flag_state": "状态未定", "flag_differs": "与候选不一致", "no_money": "未动钱的状态变更",
        "event_time": "时间", "event": "事件", "old_status": "原状态", "new_status": "新状态", "operator": "操作人",
        "remark": "备注", "where": "来源",
        "known": "已知差异（按代码）", "cases": "案例数", "residual": "差额合计", "known_empty": "本次运行没有已知差异。",
        "vouchers": "调整凭证", "account": "科目", "debit": "借方", "credit": "贷方", "total": "合计",
        "no_vouchers": "该代码没有需要调整的凭证。", "source_refs": "来源行", "case": "案例", "blocks_close": "阻止结账",
        "largest_cases": "金额最大的 {n} 个案例（共 {total} 个，完整清单见工作簿 recon.xlsx 的已知差异工作表）",
        "review": "待复核项目", "review_note": "共 {groups} 组 {lines} 行；下方列出金额最大的 {shown} 组及其候选，"
        "完整清单见工作簿 recon.xlsx 的「待复核」工作表。", "review_empty": "本次运行没有待复核项目。",
        "files": "各文件控制校验", "file": "文件", "formats": "格式", "data_lines": "数据行", "loaded": "已导入",
        "duplicates": "重复", "proof": "校验", "expected": "期望", "actual": "实际", "passed": "通过",
        "yes": "是", "no": "否", "no_proofs": "该文件没有可校验的控制合计。", "part": "工作表/成员",
        "footer": "本报告由 recon 根据存储中的运行记录生成，离线可读，不加载任何外部资源。",
    },
    "en": {
        "title": "Reconciliation root-cause report",
        "verdict": "Verdict", "verdict_clean": "clean: the month can close", "verdict_breaks": "breaks: resolve these before closing",
        "verdict_incomplete": "incomplete: the run's coverage cannot be trusted, do not close on it",
        "verdict_aborted": "aborted", "verdict_no_reasons": "(recorded before verdicts existed: no reasons kept)",
        "changes": "Since the last run", "changes_first": "The first run of this period in this store: nothing to compare.",
        "previous_run": "Last run", "then": "Then", "now": "Now", "delta": "Change",
        "newly_unknown": "Newly unknown", "resolved": "Resolved (unknown or in review then, matched or known now)",
        "open_items": "Open items: what changed since the last run", "as_of": "aged to", "open_now": "Open now",
        "age_days": "Age (days)", "first_seen": "First seen", "resolved_by_label": "Resolved by",
        "open_items_changed": "New, reopened and resolved items ({n} shown, largest first)",
        "state_new": "new", "state_persisting": "persisting", "state_reopened": "reopened", "state_resolved": "resolved",
        "by_new_file": "a new file", "by_rule": "a rule change", "by_decision": "a decision", "by_correction": "a correction",
        "by_other": "other",
        "next": "What to do next", "blocking": "Blocking the close", "blocking_more": "{n} more in the known discrepancies below",
        "largest_unknown": "Largest unknown lines", "command": "Why", "nothing_next": "Nothing to do.",
        "period": "Period", "run": "Run", "started": "Started", "finished": "Finished", "version": "Version",
        "exit_code": "Exit code", "summary": "Run summary", "status": "Status", "lines": "Lines",
        "gross": "Amount (sum of absolute values)", "net": "Amount (net)", "amount": "Amount", "count": "Count",
        "cny_equivalent": "CNY equivalent at the FX file's rates (net)",
        "cny_note": "CNY equivalent: CNY lines as they are; other currencies at the FX file's rate on each line's "
                    "money-movement date (each day's total per currency converted, rounded to 0.01); where a rate is "
                    "missing nothing is converted and the missing currency and date are listed. Amounts per "
                    "currency stay apart and are never added across currencies.",
        **{f"status_{k}": v for k, v in STATUS["en"].items()},
        "control_totals": "Control totals", "source": "Source", "bucket": "Measure",
        "bucket_in": "loaded into matching", "bucket_out": "out of matching", "bucket_later_evidence": "later evidence",
        "bucket_outside_period": "outside the period",
        **{f"source_{k}": v for k, v in SOURCES["en"].items()},
        "quarantined": "Quarantined lines", "failed_proofs": "Failed control proofs", "none": "none",
        "skipped_files": "Files not read", "in_archive": "in archive", "looks_like_ledger": "looks like a ledger: the run is incomplete",
        "refused_files": "Files refused as unreadable (the run is incomplete)",
        "unmapped_customers": "ERP customers mapped to no channel (their lines have none; channel rules skip them)",
        "no_customer": "(no customer)", "ambiguous_channels": "fits channels", "unmapped_lines": "{n} lines",
        "distribution": "Root-cause distribution", "by_code": "By code", "by_channel": "By channel",
        "chart_code_lines": "By code: lines", "chart_code_amount": "By code: amount (absolute)",
        "chart_channel_lines": "By channel: lines", "chart_channel_amount": "By channel: amount (absolute)",
        "code": "Code", "channel": "Channel", "no_channel": "(no channel)",
        "no_differences": "Every line of this run matched.",
        "stop_layers": "Unknown lines by the drill-down layer where it stopped", "layer": "Layer",
        "trend": "Difference types over recent runs",
        "trend_note": "Each cell is the number of lines with that code in that run; darker means more.",
        "trend_empty": "The store holds no runs to compare yet.",
        "decisions": "Manual decisions", "decision_kind": "Kind", "decided_by": "Decided by", "reason": "Reason",
        "decision_applied": "applied", "decision_stale": "stale (not applied)", "decision_kind_accept": "accept the difference",
        "decision_kind_match": "match these lines",
        "unknown": "Unknown differences", "unknown_note": "{lines} lines, {gross} in absolute amount; the {shown} "
        "largest by amount are below, the full list is on the Unknown sheet of recon.xlsx and in results.csv.",
        "ref": "File:line", "order_no": "Order", "line_type": "Line type", "explanation": "Explanation",
        "match_group": "Match group", "finding": "Drill-down finding", "reason": "Why (finding)", "layer1": "Layer 1: candidates and differences",
        "layer2": "Layer 2: raw record", "layer3": "Layer 3: audit log", "field": "Field", "value": "Value",
        "no_drilldown": "No drill-down result yet.", "no_events": "No audit-log events for this order.",
        "no_candidates": "No candidate lines found.", "via": "Found by", "via_order_no": "order number",
        "via_amount": "close amount", "date": "Date", "differences": "Differences",
        "candidate_record": "Candidate's raw record", "flag_state": "not final", "flag_differs": "differs",
        "no_money": "status change that moved no money",
        "event_time": "Time", "event": "Event", "old_status": "From", "new_status": "To", "operator": "Operator",
        "remark": "Remark", "where": "Source",
        "known": "Known discrepancies by code", "cases": "Cases", "residual": "Residual",
        "known_empty": "No known discrepancies in this run.",
        "vouchers": "Adjustment vouchers", "account": "Account", "debit": "Debit", "credit": "Credit", "total": "Total",
        "no_vouchers": "No correction for this code.", "source_refs": "Source lines", "case": "Case",
        "blocks_close": "Blocks close", "largest_cases": "The {n} largest cases of {total} (all of them are on the known sheets of recon.xlsx)",
        "review": "Review items", "review_note": "{groups} groups, {lines} lines; the {shown} largest groups and their "
        "candidates are below, the full list is on the Review sheet of recon.xlsx.",
        "review_empty": "Nothing to review in this run.",
        "files": "Control proofs per file", "file": "File", "formats": "Formats", "data_lines": "Data lines",
        "loaded": "Loaded", "duplicates": "Duplicates", "proof": "Proof", "expected": "Expected", "actual": "Actual",
        "passed": "Passed", "yes": "yes", "no": "no", "no_proofs": "No control totals to prove in this file.",
        "part": "Sheet/member",
        "footer": "Rendered by recon from the run kept in the store; opens offline and loads nothing from outside.",
    },
}

# `recon explain`'s words on the terminal (recon.explain)
EXPLAIN = {
    "zh": {
        "order": "订单", "run": "运行", "lines": "行", "explanation": "说明", "stop": "下钻止于第 {n} 层",
        "recorded": "运行时记录", "on_demand": "按需下钻", "l1": "第1层 候选 (订单号、金额、时间; 最近的在前)",
        "l1_none": "其他来源中没有候选行", "l2": "第2层 原始记录 (! 状态字段, ≠ 与候选不一致的字段)",
        "l3": "第3层 审核日志 (按时间)", "l3_none": "审核日志中没有该订单的事件", "this": "本行", "cand": "候选",
        "via": {"order_no": "订单号", "amount": "金额"}, "no_money": "◆ 状态变更, 无资金变动",
        "same": "各字段一致", "not_in_run": "不在本次结果中", "shown_above": "原始记录见本订单的该行",
        "diff": {"amount": "金额差 {d}", "date": "日期差 {d} 天", "order_no": "订单号不同",
                 "order_no:format": "订单号写法不同", "order_no:missing": "一方没有订单号",
                 "channel": "渠道不同 ({t} / {o})", "currency": "币种不同 ({t} / {o})"},
        "src": SOURCES["zh"],
    },
    "en": {
        "order": "order", "run": "run", "lines": "lines", "explanation": "explanation",
        "stop": "drill-down stopped at layer {n}", "recorded": "recorded by the run", "on_demand": "drilled on demand",
        "l1": "layer 1 candidates (order number, amount, time; nearest first)",
        "l1_none": "no candidate on the other sides",
        "l2": "layer 2 raw records (! state field, ≠ field that disagrees with the candidate)",
        "l3": "layer 3 audit log (in time order)", "l3_none": "no audit-log event for this order",
        "this": "this line", "cand": "candidate", "via": {"order_no": "order no.", "amount": "amount"},
        "no_money": "◆ status change, no money moved", "same": "every field agrees",
        "not_in_run": "not in this run", "shown_above": "raw record shown under that line of this order",
        "diff": {"amount": "amount off by {d}", "date": "{d} days apart", "order_no": "different order number",
                 "order_no:format": "order number written differently",
                 "order_no:missing": "one side has no order number",
                 "channel": "channel {t} / {o}", "currency": "currency {t} / {o}"},
        "src": SOURCES["en"],
    },
}

# the workbook's sheet per status (short: an Excel sheet name is at most 31 characters)
SHEETS_ZH = {"matched": "已匹配", "known": "已知差异", "unknown": "未知", "review": "待复核"}

# code -> (zh, en); {name} is a parameter of the finding. The engine emits only these codes
# (recon.engine.findings refuses any other, and any other set of parameters).
FINDINGS = {
    # why a line is matched
    "BALANCED": ("平台与 ERP 金额相等", "both sides are equal"),
    "WITHIN_TOLERANCE": ("差额 {diff} 在容差 {tolerance} 内", "the difference {diff} is within the tolerance {tolerance}"),
    "FUND_TRADE_PAIRED": ("资金账单行与同一笔交易的交易账单行配对", "fund-bill line paired with its trade-bill line"),
    "SHORT_KEY_MATCHED": ("短号 {key}: 平台订单号与 ERP 单号末位相同、金额相等、同渠道, 相差 {days} 天",
                          "short key {key}: the platform and ERP numbers end alike, equal amounts, same channel, "
                          "{days} days apart"),
    "SALE_PART_BALANCED": ("订单 {order}: 本期货款与 ERP 应收相符; 退款与红字应收单跨期, 另行核对",
                           "order {order}: the period's sale equals its ERP receivable; the refund and the credit "
                           "note straddle the period end and are reconciled apart"),
    "FEES_BALANCED": ("{channel} 当期平台费用合计与 ERP 费用单相符",
                      "{channel}: the period's platform fees equal the ERP fee documents"),
    "MANUAL_DECISION": ("人工决定 #{id} ({kind})", "manual decision #{id} ({kind})"),
    # why a line goes to review
    "AMBIGUOUS_KEY": ("匹配键 {key} 对应多个订单, 需人工确认: {candidates}",
                      "the key {key} links several orders; confirm by hand: {candidates}"),
    "AMBIGUOUS_CANDIDATES": ("有 {candidates} 个候选, 需人工确认", "{candidates} candidates; confirm by hand"),
    # why a line stays unknown
    "NO_ERP_DOCUMENT": ("订单 {order}: 平台 {platform}, ERP 中没有该订单的单据",
                        "order {order}: platform {platform}, no ERP document for it"),
    "NOT_ON_PLATFORM": ("订单 {order}: ERP {erp}, 平台文件中没有该订单",
                        "order {order}: ERP {erp}, not in the platform's files"),
    "BOOKED_AFTER_PERIOD": ("订单 {order}: 平台 {platform} vs ERP {erp}, 部分行记在本期之后 ({date})",
                            "order {order}: platform {platform} vs ERP {erp}, lines booked after period end ({date})"),
    "AMOUNT_DIFFERS": ("订单 {order}: 平台 {platform} vs ERP {erp}, 差额 {diff}",
                       "order {order}: platform {platform} vs ERP {erp}, difference {diff}"),
    "LOCAL_AMOUNT_DIFFERS": ("订单 {order}: 平台 {platform} CNY vs ERP 本位币 {erp} ({erp_currency} {erp_foreign}), 差额 {diff}",
                             "order {order}: platform {platform} CNY vs ERP {erp} in local currency "
                             "({erp_currency} {erp_foreign}), difference {diff}"),
    "CURRENCY_MISMATCH": ("订单 {order}: 平台 {platform} vs ERP {erp} {erp_currency}, 币种不同且 ERP 单据没有本位币金额或汇率, 无法比较",
                          "order {order}: platform {platform} vs ERP {erp} {erp_currency}: other currencies, and the "
                          "ERP document gives no local amount or rate to compare them"),
    "FEES_DIFFER": ("{channel}: ERP 费用单 {erp} vs 平台费用 {platform}, 差 {diff}",
                    "{channel}: ERP fee documents {erp} vs platform fees {platform}, difference {diff}"),
    "EXCEL_MANGLED_ID": ("编号已被 Excel 改成科学计数法, 无法识别 ({value}): 请重新下载原始文件",
                         "Excel turned the id into a number ({value}): download the original file again"),
    "FUND_LINE_NO_REFERENCE": ("资金账单行没有订单号或退款单号, 无法与交易账单配对",
                               "fund-bill line without an order or refund number: cannot pair it with the trade bill"),
    "FUND_LINE_UNPAIRED": ("资金账单行: 交易账单中没有同一订单、金额相同的对应行",
                           "fund-bill line: no trade-bill line of the same order and amount"),
    # the contract check of a charged fee (rules/fees.yaml), after the line's own finding
    "FEE_CONFORMS": ("费用 {charged} 符合合同公式 ({rule})", "fee {charged} follows the contract formula ({rule})"),
    "FEE_OFF_CONTRACT": ("费用偏离合同公式 ({rule}): 应为 {expected}, 实收 {charged}, 差 {diff} (基数 {base})",
                         "fee off the contract formula ({rule}): {expected} due, {charged} charged, "
                         "difference {diff} (base {base})"),
    "FEE_NO_BASE": ("费用 {charged} 没有可计算的基数 (同一订单的销售行), 无法核对 ({rule})",
                    "fee {charged}: no base to compute it from (the order's sale lines), cannot check it ({rule})"),
    "FEE_NO_ERP_DOCUMENT": ("费用行: 没有对应的 ERP 费用单", "fee line: no ERP fee document answers it"),
    "PAYOUT_NOT_IN_BANK": ("平台提现 {amount} ({date}): 银行流水中没有金额相同、日期在窗口内的入账",
                           "payout {amount} ({date}): no bank credit of that amount within the date window"),
    "BANK_LINE_UNEXPLAINED": ("银行流水 {amount} ({date}, {counterparty}): 没有对应的平台提现或结算批次",
                              "bank line {amount} ({date}, {counterparty}): no payout or settlement batch explains it"),
    "NO_ORDER_NUMBER": ("没有订单号, 没有适用的匹配步骤 ({line_type})", "no order number, and no pass for it ({line_type})"),
    "NO_PASS": ("没有适用于 {source} / {line_type} 的匹配步骤", "no pass of the rules takes {source} / {line_type} lines"),
    # timing carry-forward (recon.engine.carry_forward): a line of the period before, decided in this run
    "CARRIED_CLEARED": ("上期 ({carried_from}) 结转的未达项, 本期已核销", "carried from {carried_from}, cleared this period"),
    "CARRIED_OPEN": ("上期 ({carried_from}) 结转的未达项, 尚在结算周期内 (应于 {due_by} 前到账)",
                     "carried from {carried_from}, still within its settlement lag (due by {due_by})"),
    "CARRIED_NOT_CLEARED": ("上期 ({carried_from}) 结转的未达项, 超过结算周期仍未核销 (应于 {due_by} 前到账, 已逾期 {days} 天)",
                            "carried from {carried_from}, not cleared within its settlement lag (due by {due_by}, "
                            "{days} days overdue)"),
    # the dictionary's verdicts (the code itself is in the code column)
    "DICTIONARY_ENTRY": ("字典条目 {code}: 差额 {residual}", "dictionary entry {code}: residual {residual}"),
    "REMAINDER_BALANCED": ("除去已知差异 ({codes}) 后其余行平衡: 平台 {platform} = ERP {erp}",
                           "without the known differences ({codes}) the rest balances: platform {platform} = ERP {erp}"),
    "TWO_CAUSES": ("需要两个原因同时成立, 字典不单独归类: {pairs}",
                   "two causes are needed together, the dictionary does not classify it alone: {pairs}"),
    # where the drill-down of an unknown line stopped
    "DRILL_NO_CANDIDATE": ("下钻第1层: 其他来源中没有订单号相同或金额相近的候选行",
                           "drill-down layer 1: no line on the other sides with the same order number or a close amount"),
    "DRILL_NEAREST": ("下钻第1层: 最接近的候选为 {source} {ref}, 差异: {differences}",
                      "drill-down layer 1: nearest candidate {source} {ref}, differing in: {differences}"),
    "DRILL_RECORD_NOT_FINAL": ("下钻第2层: 原始记录 {ref} 字段「{field}」= {value}, 记录处于未完结状态",
                               "drill-down layer 2: raw record {ref} field \"{field}\" = {value}: the record is not final"),
    "DRILL_STATUS_NO_MONEY": ("下钻第3层: 审核日志 {time} {event} → {status}, 该状态变更没有资金变动",
                              "drill-down layer 3: audit log {time} {event} -> {status}; the change moved no money"),
}

_CODE = re.compile(r"[A-Z][A-Z0-9_]*")
_JSON = json.JSONDecoder()
SEPARATOR = "; "


def params_of(code: str) -> tuple:
    """The parameter names a code's sentences use, sorted (the order of its JSON keys)."""
    return tuple(sorted({f for _, f, _, _ in string.Formatter().parse(FINDINGS[code][0]) if f}))


def parse(cell: str | None) -> list[tuple[str, dict]]:
    """A ``finding`` cell as [(code, params)]; ValueError when it does not follow the syntax."""
    out, i, text = [], 0, cell or ""
    while i < len(text):
        m = _CODE.match(text, i)
        if not m:
            raise ValueError(f"a finding item starts with a code at character {i}: {text!r}")
        i, params = m.end(), {}
        if text.startswith("{", i):
            params, i = _JSON.raw_decode(text, i)
        out.append((m.group(), params))
        if i < len(text):
            if not text.startswith(SEPARATOR, i):
                raise ValueError(f"finding items are separated by {SEPARATOR!r} (character {i}): {text!r}")
            i += len(SEPARATOR)
    return out


class _Blank(dict):
    def __missing__(self, key):
        return "-"


def render(cell: str | None, lang: str = "zh") -> str:
    """The sentence of a ``finding`` cell in ``lang`` (``zh`` or ``en``); an unknown code shows as itself."""
    said = []
    for code, params in parse(cell):
        if code not in FINDINGS:
            said.append(code)
            continue
        values = _Blank({k: "-" if v is None else str(v) for k, v in params.items()})
        said.append(FINDINGS[code][0 if lang == "zh" else 1].format_map(values))
    return SEPARATOR.join(said)


@functools.lru_cache(maxsize=4096)
def say(cell: str | None, lang: str = "zh") -> str:
    """``render`` for the reports: a cell that does not parse (a store written by another recon) shows as
    it is, never breaks the report. Cached: most cells of a month repeat (``BALANCED``, ``FEES_BALANCED``)."""
    try:
        return render(cell, lang)
    except ValueError:
        return cell or ""
