"""The benchmarks' one way to write and print a result (``bench/_report.py``), by the benchmark convention."""

import json
from pathlib import Path

import pytest

from bench import _report

pytestmark = pytest.mark.unit


def result(name: str = "probe", quick: bool = False) -> dict[str, object]:
    return {
        "name": name,
        "quick": quick,
        "started_at": _report.started_at(),
        "machine": _report.machine(load_average_after=[1.5, 1.0, 0.5]),
        "params": {"rows": 10},
        "figures": {"wall_s": 1.25, "rows": 12_345},
        "ratios": {"speedup": 2.0},
        "notes": "",
    }


@pytest.mark.parametrize(("quick", "file"), [(False, "probe.json"), (True, "probe.quick.json")])
def test_a_result_is_written_where_its_name_and_mode_say_and_printed(
    quick: bool, file: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_report, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(_report, "ROOT", tmp_path)
    probe = result(quick=quick)
    written = _report.write_and_print(probe, quick)
    assert written == tmp_path / "results" / file
    assert json.loads(written.read_text()) == probe
    assert capsys.readouterr().out.splitlines() == [
        "wall_s   1.25",
        "rows     12,345",
        "speedup  2.0",
        "load average [1.5, 1.0, 0.5]",
        f"written to results/{file}",
    ]


def test_the_machine_block_and_the_start_follow_the_convention() -> None:
    machine = _report.machine(load_average_1m=0.5)
    assert list(machine) == ["cpus", "memory_gb", "python", "load_average_1m"]
    assert machine["memory_gb"] > 0
    assert len(_report.load_average()) == 3
    started = _report.started_at()
    assert len(started) == 20
    assert started.endswith("Z")


def test_a_script_s_own_table_replaces_the_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_report, "RESULTS", tmp_path)
    monkeypatch.setattr(_report, "ROOT", tmp_path)
    probe = result() | {"machine": _report.machine()}
    _report.write_and_print(probe, False, ["model  auc", "lgbm   0.75"])
    assert capsys.readouterr().out.splitlines() == ["model  auc", "lgbm   0.75", "written to probe.json"]
