"""MLflow tracking of one workflow job (§10): one run per job, named `{rule}/{wildcards}` and
tagged with what produced it; training curves come from the trainers' own MLflow callback
logging into that run.

Tracking is an observer: any failure (no server, a locked SQLite store, a bad URI) is logged
as a warning and the job goes on, its outputs complete. The store is `MLFLOW_TRACKING_URI`,
else a local SQLite database under results/mlflow.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_STORE = Path("results/mlflow")
EXPERIMENT = "polyfact"
# An unreachable server must fail fast, not after minutes of HTTP retries.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")


def tracking_uri() -> str:
    """`MLFLOW_TRACKING_URI` if set, else the workflow's local SQLite store."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(DEFAULT_STORE / 'mlflow.db').resolve()}"


class JobRun:
    """The MLflow run of one job; every call is guarded and a failure disables tracking."""

    def __init__(self, name: str, tags: Mapping[str, str]) -> None:
        self.name, self.tags = name, dict(tags)
        self.run_id: str | None = None
        self.mlflow: Any = None

    def _guard(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if self.mlflow is None:
            return None
        try:
            return fn(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - tracking must never fail the job
            log.warning("MLflow %s failed (%s); tracking is off for the rest of this job", what, err)
            self.mlflow = None
            return None

    def start(self) -> JobRun:
        try:
            mlflow = _experiment()
            self.run_id = mlflow.start_run(run_name=self.name, tags=self.tags).info.run_id
            self.mlflow = mlflow
        except Exception as err:  # noqa: BLE001
            log.warning("MLflow tracking unavailable (%s: %s); the job runs untracked", tracking_uri(), err)
        return self

    def set_tags(self, tags: Mapping[str, str]) -> None:
        clean = {k[:250]: str(v)[:8000] for k, v in tags.items()}
        self._guard("set_tags", lambda: self.mlflow.set_tags(clean))

    def log_params(self, params: Mapping[str, Any]) -> None:
        clean = {k[:250]: str(v)[:6000] for k, v in params.items()}
        self._guard("log_params", lambda: self.mlflow.log_params(clean))

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        finite = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and math.isfinite(v)}
        if finite:
            self._guard("log_metrics", lambda: self.mlflow.log_metrics(finite))

    def log_artifacts(self, paths: Iterable[str | Path]) -> None:
        for path in paths:
            self._guard("log_artifact", lambda p=path: self.mlflow.log_artifact(str(p)))

    def end(self, ok: bool) -> None:
        self._guard("end_run", lambda: self.mlflow.end_run(status="FINISHED" if ok else "FAILED"))


def _experiment() -> Any:
    """mlflow, pointed at the store and the workflow's experiment (created on first use)."""
    import mlflow

    uri = tracking_uri()
    if uri.startswith("sqlite:///"):
        DEFAULT_STORE.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        location = (DEFAULT_STORE / "artifacts").resolve().as_uri() if uri.startswith("sqlite") else None
        mlflow.create_experiment(EXPERIMENT, artifact_location=location)
    mlflow.set_experiment(EXPERIMENT)
    return mlflow


def prepare_store() -> None:
    """Create the store and experiment once before jobs start (Snakemake `onstart`), so
    parallel first jobs do not race to create the SQLite schema."""
    try:
        _experiment()
    except Exception as err:  # noqa: BLE001
        log.warning("MLflow store %s not ready (%s); jobs will run untracked if it stays so", tracking_uri(), err)


def active() -> bool:
    """Whether this process has an MLflow run to log into (training adds its callback then)."""
    try:
        import mlflow

        return mlflow.active_run() is not None
    except Exception:  # noqa: BLE001
        return False


def flatten(data: Mapping[str, Any], prefix: str = "", max_depth: int | None = None) -> dict[str, Any]:
    """Nested mappings as dotted keys (a.b.c); below `max_depth` levels a mapping stays whole."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping) and (max_depth is None or max_depth > 1):
            out.update(flatten(value, f"{prefix}{key}.", None if max_depth is None else max_depth - 1))
        else:
            out[f"{prefix}{key}"] = value
    return out


def summary_metrics(data: Mapping[str, Any]) -> dict[str, float]:
    """Numeric leaves (four levels deep at most) of a result's summary as MLflow metrics."""
    return {
        _metric_name(key): float(value)
        for key, value in flatten(data, max_depth=4).items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    }


def _metric_name(name: str) -> str:
    """MLflow allows letters, digits and _-./ and space in names."""
    return "".join(c if c.isalnum() or c in "_-./ " else "_" for c in name)[:250]
