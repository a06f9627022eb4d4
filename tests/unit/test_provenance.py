"""Jobs run through `polyfact --job`: provenance records, MLflow runs (and their failure
modes), and lineage from an artifact back to its sources."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest
from polyfact.cli import main
from polyfact.errors import PolyfactError
from polyfact.provenance import Job, lineage, render_lineage, sha256_path

from tests.unit.test_tables import write_eval


def job_json(rule: str, inputs: list[str], outputs: list[str], **wildcards: str) -> str:
    return json.dumps(
        {
            "rule": rule,
            "wildcards": wildcards,
            "inputs": inputs,
            "outputs": outputs,
            "config": {"evaluation": {"bootstrap_resamples": 100}},
            "config_digest": "c0ffee",
            "code_digest": "decade",
        }
    )


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workflow working directory with its own MLflow store (as results/mlflow would be)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return tmp_path


def run_tables_job(evals: list[str]) -> list[str]:
    outputs = ["results/tables/main.md", "results/tables/main.csv"]
    job = job_json("results_table", evals, outputs)
    main(["--job", job, "report", "tables", "--evals", *evals, "--md", outputs[0], "--csv", outputs[1]])
    return outputs


def test_a_job_writes_its_provenance_and_one_mlflow_run(workdir: Path) -> None:
    import mlflow

    evals = [str(write_eval(Path("."), "base", 0.3, 0))]
    outputs = run_tables_job(evals)
    record = json.loads(Path("results/provenance/results_table/job.json").read_text())
    assert record["rule"] == "results_table" and record["config_digest"] == "c0ffee"
    assert record["inputs"][0] == {
        "path": evals[0],
        "sha256": sha256_path(evals[0]),
        "stat": record["inputs"][0]["stat"],
    }
    assert [o["path"] for o in record["outputs"]] == outputs and record["outputs"][0]["sha256"] == sha256_path(
        outputs[0]
    )
    assert record["versions"]["torch"] and record["host"] and record["finished"] >= record["started"]
    runs = mlflow.search_runs(experiment_names=["polyfact"], output_format="list")
    assert len(runs) == 1 and runs[0].info.run_id == record["mlflow_run_id"]
    tags = runs[0].data.tags
    assert tags["rule"] == "results_table" and tags["config_digest"] == "c0ffee" and tags["code_digest"] == "decade"
    assert tags["mlflow.runName"] == "results_table" and json.loads(tags["inputs"]) == {evals[0]: sha256_path(evals[0])}
    assert runs[0].info.status == "FINISHED" and runs[0].data.params["config.evaluation.bootstrap_resamples"] == "100"
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(runs[0].info.run_id)}
    assert {"main.md", "main.csv", "job.json"} <= artifacts


def test_an_unreachable_tracking_server_never_fails_the_job(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # nothing listens on port 9
    evals = [str(write_eval(Path("."), "base", 0.3, 0))]
    with caplog.at_level(logging.WARNING):
        outputs = run_tables_job(evals)
    assert "MLflow tracking unavailable" in caplog.text
    assert all(Path(o).stat().st_size > 0 for o in outputs)
    record = json.loads(Path("results/provenance/results_table/job.json").read_text())
    assert record["mlflow_run_id"] is None


def test_a_failed_job_leaves_no_provenance_and_a_failed_run(workdir: Path) -> None:
    import mlflow

    job = job_json("results_table", ["missing.json"], ["results/tables/main.md"])
    with pytest.raises(FileNotFoundError):
        main(["--job", job, "report", "tables", "--evals", "missing.json", "--md", "m.md", "--csv", "m.csv"])
    assert not Path("results/provenance").exists()
    (run,) = mlflow.search_runs(experiment_names=["polyfact"], output_format="list")
    assert run.info.status == "FAILED"


def test_lineage_walks_from_a_table_to_the_source(workdir: Path) -> None:
    """A source file -> an evaluation job -> the tables job; the lineage of the table reaches
    the source with digests, and a later edit of the table is flagged."""
    Path("data").mkdir()
    Path("data/source.txt").write_text("raw facts\n")
    evals = str(write_eval(Path("."), "base", 0.3, 0))
    main(["--job", job_json("evaluate_polyfact", ["data/source.txt"], [evals], model="toy", method="base"),
          "report", "tables", "--evals", evals, "--md", "scratch.md", "--csv", "scratch.csv"])  # fmt: skip
    outputs = run_tables_job([evals])
    tree = lineage(outputs[0])
    assert tree["job"]["rule"] == "results_table" and tree["sha256_now"] == tree["sha256"]
    (evaluation,) = tree["inputs"]
    assert evaluation["path"] == evals and evaluation["job"]["wildcards"] == {"model": "toy", "method": "base"}
    (source,) = evaluation["inputs"]
    assert source == {"path": "data/source.txt", "sha256": sha256_path("data/source.txt"), "source": True}
    text = render_lineage(tree)
    assert "<- evaluate_polyfact method=base model=toy" in text and "data/source.txt" in text
    assert "[source: no job made it]" in text and "unchanged since the job" in text
    Path(outputs[0]).write_text("edited by hand\n")
    assert "MODIFIED since the job" in render_lineage(lineage(outputs[0]))
    with pytest.raises(PolyfactError, match="no provenance record"):
        lineage("data/source.txt")


def test_lineage_of_a_file_inside_a_directory_output(workdir: Path) -> None:
    model = Path("results/models/toy/base")
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    from polyfact.provenance import environment, write_record

    write_record(Job("prepare_base_model", {"model": "toy"}, [], [str(model)]), "t0", 1.0, None, environment())
    tree = lineage(str(model / "config.json"))
    assert tree["job"]["rule"] == "prepare_base_model" and tree["inputs"] == []
    assert "no input files" in render_lineage(tree)


def test_bad_job_descriptions_are_refused() -> None:
    with pytest.raises(PolyfactError, match="not JSON"):
        Job.from_json("{")
    with pytest.raises(PolyfactError, match="unknown keys"):
        Job.from_json('{"rule": "x", "surprise": 1}')
    with pytest.raises(PolyfactError, match="no rule"):
        Job.from_json("{}")
    assert Job.from_json('{"rule": "r", "wildcards": {"a": "1", "b": "x+y"}}').name == "r/1/x+y"
    assert os.fspath(Job("r", {"a": "1"}).record_path) == "results/provenance/r/a=1.json"
    with pytest.raises(PolyfactError, match="cannot read the job's file"):
        Job.load("no/such/job.json")


def test_a_job_file_written_by_a_rule_runs_the_job_and_feeds_its_config(workdir: Path) -> None:
    """The workflow passes `--job FILE` and config sections as `FILE#config.SECTION`."""
    from polyfact.cli import build_parser

    evals = [str(write_eval(Path("."), "base", 0.3, 0))]
    spec = Path(".snakemake/polyfact/jobs/significance/job.0123.json")
    spec.parent.mkdir(parents=True)
    spec.write_text(job_json("significance", evals, ["s.md", "s.json"]))
    assert Job.load(str(spec)).config == {"evaluation": {"bootstrap_resamples": 100}}
    main(["--job", str(spec), "report", "significance", "--evals", *evals, "--md", "s.md", "--json", "s.json"])
    assert json.loads(Path("results/provenance/significance/job.json").read_text())["outputs"][0]["path"] == "s.md"
    parser = build_parser()
    args = parser.parse_args(["train", "sft", "--base", "b", "--data-dir", "d", "--languages", "en",
                              "--settings", f"{spec}#config.evaluation", "--training", str(spec),
                              "--checkpoint-dir", "c", "--out", "o"])  # fmt: skip
    assert args.settings == {"bootstrap_resamples": 100} and args.training["rule"] == "significance"
    small = spec.with_name("job.small.json")  # JSON writes small floats without a dot: 2e-05
    small.write_text(json.dumps({"config": {"sft": {"learning_rate": 0.00002}}}))
    args = parser.parse_args(["train", "sft", "--base", "b", "--data-dir", "d", "--languages", "en",
                              "--settings", f"{small}#config.sft", "--checkpoint-dir", "c", "--out", "o"])  # fmt: skip
    assert args.settings == {"learning_rate": 2e-05}
    for bad in (f"{spec}#config.nope", "missing.json#config", "{not json"):
        with pytest.raises(SystemExit):
            parser.parse_args(["train", "sft", "--base", "b", "--data-dir", "d", "--languages", "en",
                               "--settings", bad, "--checkpoint-dir", "c", "--out", "o"])  # fmt: skip
