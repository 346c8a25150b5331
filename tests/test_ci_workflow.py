"""The GitHub Actions workflow stays valid YAML and keeps testing the three platforms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

WORKFLOW = Path(__file__).resolve().parents[1] / ".github" / "workflows" / "ci.yml"


def _workflow() -> dict[str, Any]:
    loaded = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(loaded, dict)
    return loaded


def _runs(job: dict[str, Any]) -> list[str]:
    return [str(step["run"]) for step in job["steps"] if "run" in step]


def _platforms(job: dict[str, Any]) -> set[str]:
    runs_on = str(job["runs-on"])
    if "matrix.os" in runs_on:
        return {str(os).split("-")[0] for os in job["strategy"]["matrix"]["os"]}
    return {runs_on.split("-")[0]}


def test_the_workflow_is_valid_and_runs_on_pushes_and_pull_requests() -> None:
    workflow = _workflow()
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert {"push", "pull_request"} <= set(triggers)
    for job in workflow["jobs"].values():
        assert job["steps"][0]["uses"].startswith("actions/checkout@v")
        assert any(
            str(s.get("uses", "")).startswith("actions/setup-python@v") for s in job["steps"]
        )


def test_the_suite_runs_on_linux_macos_and_windows() -> None:
    tested = set()
    for job in _workflow()["jobs"].values():
        if any("pytest" in run for run in _runs(job)):
            tested |= _platforms(job)
    assert tested == {"ubuntu", "macos", "windows"}


def test_postgresql_tests_run_on_linux_only() -> None:
    for name, job in _workflow()["jobs"].items():
        pytest_runs = [run for run in _runs(job) if "pytest" in run]
        if not pytest_runs:
            continue
        if _platforms(job) == {"ubuntu"}:
            assert "postgres" in job.get("services", {}), name
            assert all("not postgres" not in run for run in pytest_runs), name
            port = job["services"]["postgres"]["ports"][0]
            assert str(port).startswith("5432:"), "the suite connects to 127.0.0.1:5432"
        else:
            assert "services" not in job, f"{name}: service containers are Linux-only"
            assert all('-m "not postgres"' in run for run in pytest_runs), name


def test_lint_runs_what_the_readme_asks_before_a_commit() -> None:
    runs = " ".join(_runs(_workflow()["jobs"]["lint"]))
    for tool in ("ruff check", "ruff format --check", "mypy", "lint-imports"):
        assert tool in runs
