"""`recon run --as-of` earlier than the run it is compared with: the clerk is told, the ages stay at 0."""

from __future__ import annotations

from test_run import month, read_results, run_cli  # noqa: F401 (month is a fixture)


def test_an_as_of_before_the_previous_runs_is_named(month, capsys):
    db = str(month / "s.duckdb")
    args = ["run", str(month / "in"), "--db", db, "--period", "2026-01"]
    _, _, err = run_cli(args + ["--out", str(month / "o1"), "--as-of", "2026-02-03"], capsys)
    assert "--as-of" not in err
    _, _, err = run_cli(args + ["--out", str(month / "o2"), "--as-of", "2026-02-05"], capsys)
    assert "--as-of" not in err  # later: fine
    code, _, err = run_cli(args + ["--out", str(month / "o3"), "--as-of", "2026-01-30"], capsys)
    assert "warning: --as-of 2026-01-30 is before 2026-02-05, the as-of date of run R" in err
    assert "count as 0 days old" in err
    rows = [r for r in read_results(month / "o3") if r["status"] in ("unknown", "review")]
    assert rows and {(r["first_seen"], r["age_days"]) for r in rows} == {("2026-02-03", "0")}
