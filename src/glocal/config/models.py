"""Settings of the model layer: the global learner, the local bank and per-entity selection."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from glocal.config.base import Section

__all__ = [
    "CandidateKind",
    "GlobalModelSettings",
    "LocalModelSettings",
    "Objective",
    "SelectionSettings",
]

CandidateKind = Literal["residual", "level", "scale", "direct", "intermittent"]
"""Kinds of per-entity candidate: see ``docs/models.md``."""

Objective = Literal["mse", "mae"]
"""The loss every stage minimises and evaluation leads with."""

_DEFAULT_CANDIDATES: tuple[CandidateKind, ...] = (
    "residual",
    "level",
    "scale",
    "direct",
    "intermittent",
)


class GlobalModelSettings(Section):
    """The global model trained on every entity's rows."""

    estimator: str = Field(
        default="lightgbm",
        description="'lightgbm' or a scikit-learn regressor name, e.g. RandomForestRegressor.",
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments passed to the estimator."
    )
    early_stopping_rounds: int = Field(
        default=50, gt=0, description="LightGBM stops when validation loss has not improved."
    )
    refit_on_validation: bool = Field(
        default=True,
        description=(
            "After early stopping, refit on all the rows before the test block (train and "
            "validation) with the best iteration count."
        ),
    )
    entity_feature: bool | Literal["auto"] = Field(
        default="auto",
        description=(
            "In the hybrid model, give the LightGBM global model the entity id as a "
            "categorical feature (it learns regularized per-entity effects from all rows); "
            "'auto' keeps it only when it is better on the most recent validation fold and "
            "significantly better on all of them (a paired test clustered by entity)."
        ),
    )
    offsets: list[str] = Field(
        default_factory=lambda: ["none", "naive", "btyd"],
        min_length=1,
        description=(
            "The hybrid's global learners: one per entry, fitted on the target ('none') or on "
            "the target minus a baseline forecast (the panel column baseline_<name>) that is "
            "added back, so the learner only corrects the baseline. Baselines the panel lacks "
            "are skipped."
        ),
    )
    ensemble: Literal["auto", "best"] = Field(
        default="auto",
        description=(
            "How the hybrid combines its global components (the learners above and every "
            "baseline_* column): 'auto' averages every component not significantly worse than "
            "the best on the validation folds; 'best' keeps the best."
        ),
    )
    ensemble_sharpness: float = Field(
        default=8.0,
        ge=0,
        description=(
            "Weight of each averaged component: (best validation loss / its loss) to this "
            "power, normalised; 0 averages with equal weights, a large value keeps the best."
        ),
    )
    ensemble_baselines: bool = Field(
        default=True,
        description="Let the panel's baseline_* forecasts themselves join the global ensemble.",
    )
    fit_workers: int = Field(
        default=-1,
        description=(
            "Global learners fitted at the same time, each on one thread (LightGBM releases "
            "the interpreter while it trains); -1 means one per core. The numbers do not "
            "depend on it."
        ),
    )

    @field_validator("fit_workers")
    @classmethod
    def _workers_valid(cls, value: int) -> int:
        if value == 0 or value < -1:
            raise ValueError(
                "fit_workers must be a positive number of threads, or -1 for one per core"
            )
        return value

    @field_validator("offsets")
    @classmethod
    def _offsets_unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("offsets must not repeat a name")
        return value


class LocalModelSettings(Section):
    """The bank of per-entity regularized linear models and the candidates built from it."""

    candidates: list[CandidateKind] = Field(
        default_factory=lambda: list(_DEFAULT_CANDIDATES),
        min_length=1,
        description=(
            "Per-entity candidates tried against the global model: 'residual' (ridge on the "
            "global residual), 'level' (shrunk mean residual), 'scale' (shrunk multiplicative "
            "correction of the global prediction), 'direct' (ridge on the target), "
            "'intermittent' (shrunk rate of non-zero targets times their shrunk size)."
        ),
    )
    blend: bool = Field(
        default=True,
        description="Also try each candidate as global + w * (candidate - global).",
    )
    blend_shrinkage_rows: float = Field(
        default=20.0,
        ge=0,
        description="Blend weight w = n / (n + this), n the entity's training rows.",
    )
    level_shrinkage_rows: float = Field(
        default=5.0,
        ge=0,
        description=(
            "Level and scale corrections are shrunk by n / (n + this) toward zero; the "
            "intermittent candidate's rate and size toward the population's."
        ),
    )
    alphas: list[float] = Field(
        default_factory=lambda: [0.1, 1.0, 10.0, 100.0, 1000.0],
        min_length=1,
        description="Ridge penalties tried, per row of the entity; chosen per entity by GCV.",
    )
    features: list[str] | None = Field(
        default=None,
        description="Numeric features of the ridge candidates; empty means all numeric features.",
    )
    standardize: bool = Field(
        default=True, description="Standardize features per entity before the ridge fit."
    )
    clip: float | None = Field(
        default=3.0,
        gt=0,
        description=(
            "Clip standardized features to [-clip, clip] and ridge predictions to the "
            "entity's training target range; empty disables both."
        ),
    )
    min_train_rows: int = Field(default=8, gt=0, description="Fewer rows: no local model.")
    refit_on_validation: bool = Field(
        default=True,
        description="After selection, refit the local models on every row before the test block.",
    )
    n_jobs: int = Field(
        default=-1,
        description=(
            "Threads of the vectorized fit and of the per-fold chunks of entities; "
            "-1 means every core."
        ),
    )

    @field_validator("alphas")
    @classmethod
    def _alphas_non_negative(cls, value: list[float]) -> list[float]:
        if any(alpha < 0 for alpha in value):
            raise ValueError("every ridge penalty in alphas must be >= 0")
        return value

    @field_validator("candidates")
    @classmethod
    def _candidates_unique(cls, value: list[CandidateKind]) -> list[CandidateKind]:
        if len(set(value)) != len(value):
            raise ValueError("candidates must not repeat a kind")
        return value


class SelectionSettings(Section):
    """Guardrails on choosing local over global per entity."""

    min_validation_rows: int = Field(
        default=6, gt=1, description="Fewer validation rows (over all folds): global."
    )
    min_nonzero_rows: int = Field(
        default=2,
        ge=0,
        description=(
            "Fewer validation rows with a non-zero target (over all folds): global. An entity "
            "that bought nothing on validation proves nothing about its next purchase."
        ),
    )
    significance: float = Field(
        default=0.1,
        gt=0,
        lt=1,
        description=(
            "Loosest level of the one-sided paired test local vs global; the population "
            "guard tightens it (halving it up to 7 times) to the level that helps most on "
            "held-out folds."
        ),
    )
    variance_prior_rows: float = Field(
        default=10.0,
        ge=0,
        description=(
            "The paired test's variance is floored with the variance of the candidate's "
            "residuals over the entity's training rows, shrunk toward that of entities at the "
            "same prediction level with this many rows' weight, so a quiet validation block "
            "cannot give a near-zero variance."
        ),
    )
    population_guard: bool = Field(
        default=True,
        description=(
            "Cross-fit the per-entity choices over the validation folds (decide on the other "
            "folds, score on the held-out one) and keep the test level whose switches improve "
            "the held-out loss most, in total, in most folds and significantly (clustered by "
            "entity); if no level does, every entity stays global."
        ),
    )
    multiple_testing: Literal["fdr", "bonferroni", "none"] = Field(
        default="fdr",
        description=(
            "Correction across entities: 'fdr' (Benjamini-Hochberg), 'bonferroni' or 'none'. "
            "Within an entity the best of k candidates is always Bonferroni-corrected (x k)."
        ),
    )
    dependence_lags: int | None = Field(
        default=None,
        ge=0,
        description=(
            "Newey-West lags of the paired test, for validation rows whose target windows "
            "overlap in time. Empty means derived from the horizon and the spacing of the "
            "panel's cutoffs: ceil(horizon_days / spacing) - 1 (4 for weekly cutoffs and a "
            "30-day target); 0 for independent rows."
        ),
    )
