"""Peak memory and time of importing one large GB18030 text export (issue 10, point 3).

Writes an ERP 应收单 list (the generator's layout, GB18030, no BOM) of ``--size`` bytes, then runs
``recon import FILE --db FRESH [--memory-limit M]`` in a child process and records its wall time and
peak RSS: the child's own ``ru_maxrss`` from ``os.wait4`` and its ``VmHWM`` sampled every 0.2 s
(never an address-space figure). Target: a 2 GB export imports with peak RSS <= 1.5 GB.

    .venv/bin/python bench/bench_import_mem.py --size 2GB --memory-limit 1GB --json bench/import_mem.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HEADER = "单据编号,业务日期,单据类型,客户,币别,汇率,价税合计,税额,本位币价税合计,已核销金额,未核销金额,单据状态,平台订单号,摘要\n"
SUMMARY = "支付宝当面付 销售 陶瓷马克杯 " + "保温杯礼盒装" * 8


def write_export(path: Path, size: int) -> int:
    """An ERP receivable list of at most ``size`` bytes in GB18030; returns its data lines."""
    n = 0
    with open(path, "wb") as out:
        out.write(HEADER.encode("gb18030"))
        written = out.tell()
        while written < size:
            rows = []
            for k in range(n, n + 50_000):
                cents = 1000 + (k * 7919) % 90000
                rows.append(f"AR{k:014d},2026-01-{k % 28 + 1:02d},标准应收单,支付宝当面付,人民币,1,"
                            f"{cents // 100}.{cents % 100:02d},0.00,{cents // 100}.{cents % 100:02d},0.00,"
                            f"{cents // 100}.{cents % 100:02d},已审核,ZFB{k:016d},{SUMMARY}\n")
            block = "".join(rows).encode("gb18030")
            if written + len(block) > size:  # never over ``size``: 2 GB is also the default file limit
                break
            out.write(block)
            written += len(block)
            n += 50_000
    return n


def run_measured(cmd: list, env=None) -> dict:
    """Run ``cmd``; its wall time, exit code and peak RSS (``ru_maxrss`` and sampled ``VmHWM``, KB)."""
    start = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    hwm, usage, status = 0, None, None
    while usage is None:
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        hwm = max(hwm, int(line.split()[1]))
        except OSError:
            pass
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)  # the child's own rusage, not the parent's
        if pid:
            usage = ru
            break
        time.sleep(0.2)
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace")
    return {"wall_s": round(time.time() - start, 2), "exit": proc.returncode,
            "ru_maxrss_kb": usage.ru_maxrss, "vmhwm_kb": hwm, "stderr_tail": err[-500:]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="2GB", help="export size, e.g. 2GB or 300MB")
    ap.add_argument("--memory-limit", default="1GB", help="DuckDB's cap for the import ('' for none)")
    ap.add_argument("--workdir", default="/tmp/recon-bench-import")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    units = {"MB": 1024**2, "GB": 1024**3}
    size = int(float(args.size[:-2]) * units[args.size[-2:].upper()])
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    export = work / "金蝶应收单_大.csv"
    if not export.is_file() or not size - 64 * 1024**2 < export.stat().st_size <= size:
        write_export(export, size)
    db = work / "import.duckdb"
    for p in work.glob("import.duckdb*"):
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    cmd = [sys.executable, "-m", "recon", "import", str(export), "--db", str(db)]
    if args.memory_limit:
        cmd += ["--memory-limit", args.memory_limit]
    got = run_measured(cmd)
    peak_mb = max(got["ru_maxrss_kb"] or 0, got["vmhwm_kb"]) / 1024
    out = {"what": "recon import of one GB18030 ERP 应收单 export (issue 10, point 3)",
           "file_bytes": export.stat().st_size, "memory_limit": args.memory_limit or None,
           "command": " ".join(cmd[1:]), **got, "peak_rss_mb": round(peak_mb, 1),
           "target_peak_rss_mb": 1536, "target_met": got["exit"] == 0 and peak_mb <= 1536,
           "date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(),
           "load_average_after": [round(x, 1) for x in os.getloadavg()]}  # wall time is only as good as this
    text = json.dumps(out, ensure_ascii=False, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
