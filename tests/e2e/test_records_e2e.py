"""A night's record holds only what judged it: smoke, partial, --lf and criteria runs against the sandbox."""

from suite_runs import NIGHT, Outputs, nightly


def checks_of(issues):
    """The checks an issue list names (each run's sandbox has its own ports, so the texts differ)."""
    return [issue.split(":")[0] for issue in issues]


def test_a_failed_night_stays_failed_through_smoke_partial_lf_and_criteria_runs(tmp_path):
    reports = tmp_path / "reports"

    def run(*args, **kw):
        result = nightly(reports, "--sandbox=failed-night", f"--night={NIGHT}", *args, **kw)
        return result, Outputs(reports, result).record()

    result, failed = run(cache=tmp_path / "cache")
    assert failed["status"] == "failed" and len(failed["issues"]) == 3, result.stdout[-3000:]
    week1 = (reports / "week1.md").read_bytes()
    assert "| Day 7 | " + NIGHT + " | ❌ Failed |" in week1.decode()

    result, record = run(marks="smoke")
    assert result.returncode == 0 and "smoke run, night" in result.stdout, result.stdout[-3000:]
    assert record == failed and (reports / "week1.md").read_bytes() == week1

    result, record = run("-k", "test_reset_started_on_time")
    assert result.returncode == 0, result.stdout[-3000:]
    assert (record["status"], record["issues"]) == ("failed", failed["issues"])
    assert record["changes"][-1]["scope"] == "1 of the night's checks"
    assert "❌ Failed" in (reports / "week1.md").read_text(encoding="utf-8")

    result, record = run("--lf", cache=tmp_path / "cache")
    # The two failed checks (the third issue is a check that could not see: --lf does not re-run it).
    assert "run-last-failure: rerun previous 2 failures" in result.stdout, result.stdout[-3000:]
    assert (record["status"], checks_of(record["issues"])) == ("failed", checks_of(failed["issues"]))
    assert record["changes"][-1]["scope"] == "2 of the night's checks"

    result, record = run(marks="criteria")
    assert "completion criteria:" in result.stdout, result.stdout[-3000:]
    assert (record["status"], checks_of(record["issues"])) == ("failed", checks_of(failed["issues"]))
    assert len(record["changes"]) == 3  # the full, -k and --lf runs: not the smoke or the criteria run


def test_rerunning_the_checks_that_failed_after_the_fix_turns_the_night_green(tmp_path):
    reports = tmp_path / "reports"
    first = nightly(reports, "--sandbox=healthy", f"--night={NIGHT}", "--sandbox-fault=promtail=error500")
    failed = Outputs(reports, first).record()
    assert failed["status"] != "passed" and failed["issues"], first.stdout[-3000:]
    assert all("promtail" in issue.split(":")[0] for issue in failed["issues"]), failed["issues"]
    # Promtail is back: re-run only its checks.
    second = nightly(reports, "--sandbox=healthy", f"--night={NIGHT}", "-k", "promtail")
    record = Outputs(reports, second).record()
    assert (record["status"], record["issues"], record["complete"]) == ("passed", [], True), second.stdout[-3000:]
    change = record["changes"][-1]
    assert (change["from"], change["to"]) == (failed["status"], "passed")
    assert f"changed by this run ({record['run']})" in second.stdout
    assert "✅ Successful" in (reports / "week1.md").read_text(encoding="utf-8")
