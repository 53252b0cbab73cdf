"""``hedgerow view …``, ``hedgerow export`` and ``hedgerow verify`` through click's CliRunner."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cli import views
from protocol import id_to_text
from tests.node.views.conftest import make_node, network


@click.group()
def hedgerow() -> None:
    """Stand-in for the root group of cli/main.py."""


views.register(hedgerow)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_node(tmp_path_factory.mktemp("cli") / "node", network())


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(hedgerow, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_a_view_prints_a_plain_table_and_what_was_left_out(data_dir: Path) -> None:
    code, out, _ = run("view", "themes", "--status", "active", "--data-dir", str(data_dir))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["theme", "practices", "nodes"]
    assert any(line.split()[0] == "repair" for line in lines[1:])
    assert lines[-1].startswith("left out: forked authors 1, entries of forked authors 5, "
                                "retracted practices 11")


def test_json_output_is_the_view(data_dir: Path) -> None:
    alpha = id_to_text(network().keys["L0"].public)
    code, out, _ = run("view", "spread", "--node", alpha, "--key", "repair-cafe", "--json",
                       "--data-dir", str(data_dir))
    assert code == 0
    result = json.loads(out)
    assert result["figures"]["adopting_nodes"] == 4  # and one node that only credited
    assert result["figures"]["crediting_nodes"] == 1
    code, out, _ = run("view", "health", "--json", "--data-dir", str(data_dir))
    assert json.loads(out)["figures"]["forked_nodes"] == 1


def test_user_errors_are_one_line_and_exit_1(data_dir: Path, tmp_path: Path) -> None:
    code, _out, err = run("view", "themes", "--since", "last week", "--data-dir", str(data_dir))
    assert code == 1
    assert err == "error: since: must be a date: YYYY, YYYY-MM or YYYY-MM-DD\n"
    code, _, err = run("view", "spread", "--node", "nonsense", "--key", "x",
                       "--data-dir", str(data_dir))
    assert code == 1 and err.startswith("error: node: ") and err.count("\n") == 1
    code, _, err = run("view", "themes", "--data-dir", str(tmp_path / "nowhere"))
    assert code == 1 and err.startswith("error: ") and "Traceback" not in err


def test_usage_errors_exit_2(data_dir: Path) -> None:
    code, _, err = run("view", "themes", "--level", "galactic", "--data-dir", str(data_dir))
    assert code == 2 and "galactic" in err
    code, _, _ = run("export", "--data-dir", str(data_dir))
    assert code == 2


def test_export_csv_to_a_file(data_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "areas.csv"
    code, _, err = run("export", "--format", "csv", "--view", "areas", "-o", str(target),
                       "--data-dir", str(data_dir))
    assert code == 0 and err.startswith(f"wrote {target}")
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert {row["area"] for row in rows} >= {"E8", "Leeds", "LS6"}


def test_export_graph_and_openreferral_to_stdout(data_dir: Path) -> None:
    code, out, _ = run("export", "--format", "graphml", "--data-dir", str(data_dir))
    assert code == 0 and out.startswith("<?xml")
    code, out, _ = run("export", "--format", "openreferral", "--theme", "food",
                       "--data-dir", str(data_dir))
    assert code == 0 and json.loads(out)["services"]
    code, _, err = run("export", "--format", "graphml", "--view", "themes",
                       "--data-dir", str(data_dir))
    assert code == 1 and err.startswith("error: view: graphml exports the attribution graph")


def test_export_with_evidence_then_verify(data_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "themes.json"
    code, _, _ = run("export", "--format", "json", "--view", "themes", "--evidence",
                     "-o", str(target), "--data-dir", str(data_dir))
    assert code == 0
    code, out, _ = run("verify", str(target))
    assert code == 0 and out.startswith("ok: the themes figures follow from ")
    doc = json.loads(target.read_text())
    doc["figures"]["rows"][0]["nodes"] += 1
    target.write_text(json.dumps(doc))
    code, out, err = run("verify", str(target))
    assert code == 1
    assert err.startswith("error: figure rows[0].nodes: the export says ")
    code, out, err = run("verify", "--json", str(target))
    assert code == 1 and json.loads(out)["ok"] is False


def test_verify_refuses_what_is_not_an_export(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("not json")
    code, _, err = run("verify", str(tmp_path / "x.json"))
    assert code == 1 and err == f"error: {tmp_path / 'x.json'} is not JSON\n"
    code, _, err = run("verify", str(tmp_path / "missing.json"))
    assert code == 1 and "cannot read" in err
