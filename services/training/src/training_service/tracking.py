"""The training service's only door to MLflow: log a trained model, register it, move aliases.

A run is registered only after its metrics, artifacts and model are all logged, so a worker killed mid-training
leaves at most an unfinished run and never a registered half-model. Registered versions carry the command's
request id as a tag: a command redelivered after a crash finds its version instead of training twice.
"""

from __future__ import annotations

import json
import logging
from importlib.metadata import version as installed
from typing import Any, Final

from credit_shared.contracts.training import ModelPromoted, ModelTrained, PromoteModel, TrainModel
from credit_shared.model_loading import BACKGROUND_KEY, FAMILY_KEY, FEATURES_KEY, THRESHOLD_KEY
from credit_shared.settings import MlflowSettings
from training_service.trainer import TrainedModel, TrainingError

log = logging.getLogger(__name__)

HEADLINE: Final = (
    "cv_roc_auc",
    "cv_business_cost",
    "test_roc_auc",
    "test_pr_auc",
    "test_business_cost",
    "test_cost_at_0_5",
    "test_refusal_rate",
    "test_recall",
    "test_precision",
    "test_brier",
    "test_log_loss",
    "test_ece",
    "test_expected_observed_ratio",
)
EXPECTED_OBSERVED: Final = (0.8, 1.25)  # the champion gate's bounds on the test split's mean PD / default rate
AUC_METRICS: Final = ("test_roc_auc", "roc_auc")
REQUIREMENTS: Final = ("scikit-learn", "lightgbm", "imbalanced-learn", "pandas", "numpy", "cloudpickle", "scipy")


class PromotionRefused(TrainingError):
    """The gate refused a promotion (or the version does not exist)."""


class MlflowTracker:
    """Logs runs and registers versions of ``settings.model_name`` on the configured tracking server."""

    def __init__(self, settings: MlflowSettings) -> None:
        import mlflow

        self.settings = settings
        self.name = settings.model_name
        # This process works for one tracking server: the fluent API (log_model, register_model) reads the global.
        mlflow.set_tracking_uri(settings.tracking_uri)
        mlflow.set_registry_uri(settings.tracking_uri)
        self.client = mlflow.MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)

    def find_trained(self, request_id: str) -> ModelTrained | None:
        """The event of a version already registered for ``request_id`` (a redelivered command), if any."""
        found = self.client.search_model_versions(f"name = '{self.name}' AND tags.request_id = '{request_id}'")
        if not found:
            return None
        event = found[0].tags.get("event")
        return ModelTrained.model_validate_json(event) if event else None

    def experiment_for(self, dataset_id: str, experiment_id: str | None) -> str:
        """The dataset's experiment (from its manifest), created when the dataset has none."""
        if experiment_id and self.client.get_experiment(experiment_id) is not None:
            return experiment_id
        name = f"dataset-{dataset_id}"
        existing = self.client.get_experiment_by_name(name)
        return existing.experiment_id if existing else str(self.client.create_experiment(name))

    def log_and_register(self, command: TrainModel, trained: TrainedModel, duration_s: float) -> ModelTrained:
        """Log the run (params, metrics, artifacts, model) and register the model last.

        Returns:
            The model-trained event.
        """
        import mlflow
        import mlflow.sklearn
        from mlflow.models import infer_signature

        manifest = trained.manifest
        experiment_id = self.experiment_for(manifest.dataset_id, manifest.mlflow_experiment_id)
        headline: dict[str, float] = {k: float(trained.metrics[k]) for k in HEADLINE if k in trained.metrics}
        tags = _tags(command, trained, headline)
        with mlflow.start_run(experiment_id=experiment_id, run_name=command.run_name, tags=tags) as run:
            mlflow.log_params(_params(command, trained.params))
            mlflow.log_metrics({k: float(v) for k, v in trained.metrics.items()})
            mlflow.log_text(command.model_dump_json(indent=1), "command.json")
            mlflow.log_artifacts(str(trained.artifacts))
            example = trained.input_example
            signature = infer_signature(example, trained.pipeline.predict_proba(example)[:, 1])
            info = mlflow.sklearn.log_model(
                trained.pipeline,
                name="model",
                serialization_format="cloudpickle",  # LightGBM and our early-stopping wrapper are not skops-safe
                signature=signature,
                input_example=example,
                pip_requirements=[f"{p}=={installed(p)}" for p in REQUIREMENTS],
                pyfunc_predict_fn="predict_proba",
                metadata=_metadata(command, trained),
            )
            # Everything is logged: only now does the model become visible in the registry.
            version = mlflow.register_model(info.model_uri, self.name, tags=tags)
            event = ModelTrained(
                request_id=command.request_id,
                dataset_id=manifest.dataset_id,
                family=command.family,
                run_id=run.info.run_id,
                experiment_id=experiment_id,
                model_name=self.name,
                version=str(version.version),
                model_uri=f"models:/{self.name}/{version.version}",
                threshold=trained.threshold,
                metrics=headline,
                best_params=trained.params,
                duration_s=duration_s,
            )
            self.client.set_model_version_tag(self.name, str(version.version), "event", event.model_dump_json())
            mlflow.set_tag("registered_version", str(version.version))
        log.info("registered %s version %s from run %s", self.name, version.version, run.info.run_id)
        return event

    def baseline_auc(self, run: Any) -> float:
        """Test ROC AUC of the dataset's baseline run (0.5, chance, when there is none)."""
        baseline_id = run.data.tags.get("baseline_run_id")
        candidates = []
        if baseline_id:
            candidates.append(self.client.get_run(baseline_id))
        else:
            candidates = self.client.search_runs(
                [run.info.experiment_id], "attributes.run_name = 'baseline'", max_results=1
            )
        for baseline in candidates:
            for key in AUC_METRICS:
                if key in baseline.data.metrics:
                    return float(baseline.data.metrics[key])
        return 0.5

    def promote(self, command: PromoteModel) -> ModelPromoted:
        """Point the alias at the version, after the champion gate (unless forced).

        Raises:
            PromotionRefused: the version does not exist, has no threshold, does not beat the baseline, or its
                test split's expected/observed default rate lies outside :data:`EXPECTED_OBSERVED`.
        """
        from mlflow.exceptions import MlflowException

        try:
            mv = self.client.get_model_version(self.name, command.version)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":  # MLflow unreachable or failing: not a missing version
                raise
            raise PromotionRefused("version_not_found", f"{self.name} has no version {command.version}") from exc
        run = self.client.get_run(mv.run_id) if mv.run_id else None
        test_auc = run.data.metrics.get("test_roc_auc") if run else None
        ratio = run.data.metrics.get("test_expected_observed_ratio") if run else None
        baseline = self.baseline_auc(run) if run else None
        if command.alias == "champion" and not command.force:
            if THRESHOLD_KEY not in mv.tags:
                raise PromotionRefused("gate_refused", f"version {command.version} has no decision threshold")
            if test_auc is None or baseline is None or test_auc <= baseline:
                raise PromotionRefused(
                    "gate_refused",
                    f"version {command.version} test ROC AUC {_show(test_auc)} does not beat the dataset baseline "
                    f"{_show(baseline)}; an administrator may force it",
                )
            low, high = EXPECTED_OBSERVED
            if ratio is None or not low <= ratio <= high:
                raise PromotionRefused(
                    "gate_refused",
                    f"version {command.version} expects {_show(ratio)} times the default rate it observes on the "
                    f"test split (mean probability / default rate, allowed {low:g} to {high:g}): its probabilities "
                    "are not calibrated; an administrator may force it",
                )
        previous = self._alias_version(command.alias)
        self.client.set_registered_model_alias(self.name, command.alias, command.version)
        self.client.set_model_version_tag(self.name, command.version, f"promoted_{command.alias}_by",
                                          command.requested_by or "unknown")  # fmt: skip
        log.info("%s@%s -> version %s (was %s)", self.name, command.alias, command.version, previous)
        return ModelPromoted(
            request_id=command.request_id,
            model_name=self.name,
            version=command.version,
            alias=command.alias,
            previous_version=previous,
            run_id=mv.run_id,
            forced=command.force,
            test_roc_auc=test_auc,
            baseline_roc_auc=baseline,
            test_expected_observed_ratio=ratio,
        )

    def _alias_version(self, alias: str) -> str | None:
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client.get_model_version_by_alias(self.name, alias).version)
        except MlflowException:
            return None


def _metadata(command: TrainModel, trained: TrainedModel) -> dict[str, Any]:
    """What the logged model carries for scoring: threshold, features, family, costs, calibration, background."""
    metadata: dict[str, Any] = {
        THRESHOLD_KEY: trained.threshold,
        FEATURES_KEY: trained.feature_names,
        FAMILY_KEY: command.family.value,
        "cost_fn": command.cost.fn,
        "cost_fp": command.cost.fp,
        **trained.metadata,  # calibration, excluded and flagged inputs, monotone constraints, fit
    }
    if trained.background is not None:
        metadata[BACKGROUND_KEY] = trained.background
    return metadata


def _tags(command: TrainModel, trained: TrainedModel, headline: dict[str, float]) -> dict[str, str]:
    """The run's and the version's tags: request id, dataset, family, calibration, threshold, costs, headline."""
    manifest = trained.manifest
    return {
        "request_id": command.request_id,
        "dataset_id": manifest.dataset_id,
        "family": command.family.value,
        "imbalance": command.imbalance.value,
        "calibration": str(trained.metadata.get("calibration", {}).get("method", "none")),
        THRESHOLD_KEY: f"{trained.threshold:.6g}",
        "cost_fn": f"{command.cost.fn:g}",
        "cost_fp": f"{command.cost.fp:g}",
        **({"baseline_run_id": manifest.baseline_run_id} if manifest.baseline_run_id else {}),
        **{k: f"{v:.6g}" for k, v in headline.items()},
    }


def _show(value: float | None) -> str:
    return "missing" if value is None else f"{value:.4f}"


def _params(command: TrainModel, chosen: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {
        "family": command.family.value,
        "imbalance": command.imbalance.value,
        "scaling": command.scaling,
        "pca_variance": command.pca_variance,
        "folds": command.folds,
        "test_share": command.test_share,
        "cost_fn": command.cost.fn,
        "cost_fp": command.cost.fp,
        "seed": command.seed,
        "dataset_id": command.dataset_id,
        "calibration": command.calibration,
        "refit_all_rows": command.refit_all_rows,
        "feature_policy": json.dumps(command.feature_policy.model_dump(mode="json"))[:6000],
        "monotone_constraints": json.dumps(command.monotone_constraints)[:6000]
        if command.monotone_constraints
        else "none",
        "search": json.dumps(command.search.model_dump(mode="json"))[:6000] if command.search else "none",
    }
    params.update({f"model.{k}": v for k, v in chosen.items()})
    return params
