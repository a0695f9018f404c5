"""The pipeline's configuration: `configs/pipeline.yaml`, `configs/hpo/<algorithm>.yaml`, `configs/universe.csv`.

Config declares, code builds: every name, default, instance type, gate and window the definition uses
comes from here. Validation is strict (unknown keys are errors) because a misspelt key that is silently
ignored is how a gate ends up at its default without anyone noticing.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipelines.definition.parameter_rules import MAX_ENUM_VALUES
from steps.common.backtest_plausibility import BacktestPlausibility
from steps.common.names import s3_uri_error
from steps.common.settings import NumbersAreNotBooleans, SettingTooLong, first_problem, settings_arguments
from steps.ensemble.settings import EnsembleSettings
from steps.evaluate.settings import BacktestOptions, EvaluateSettings, SignalSettings
from steps.features.settings import FeatureOptions, FeatureRun, FeatureSettings, FoldSettings
from steps.final_holdout.settings import FinalHoldoutSettings
from steps.leaks.settings import LeakRun, LeakScreens, LeakSettings
from steps.sentiment.settings import CombinePolicy, FinBertScoring, FinBertSettings, FinGptSettings
from steps.stability.settings import StabilitySettings
from steps.train.settings import TrainingSettings, known_algorithm

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "configs" / "pipeline.yaml"


class ConfigError(ValueError):
    """A configuration problem, phrased as one line that names the file, the key and what is allowed."""


class _Strict(NumbersAreNotBooleans):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PipelineSection(_Strict):
    name: str = Field(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$")
    description: str = ""
    role_arn: str = Field(pattern=r"^arn:aws[a-z\-]*:iam::\d{12}:role/.+$")
    region: str = Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
    bucket: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
    prefix: str = Field(pattern=r"^[A-Za-z0-9_\-/]+$")
    tags: dict[str, str] = Field(default_factory=dict)
    # ParallelismConfiguration.MaxParallelExecutionSteps of CreatePipeline / UpdatePipeline (botocore: min 1;
    # "The max number of steps that can be executed in parallel"); None: SageMaker runs every ready step at once.
    # A request member, not part of the definition JSON: `upsert` sends it and the local runner honours it.
    max_parallel_steps: int | None = Field(default=None, ge=1)


class Images(_Strict):
    """Job image URIs (containers/cpu, containers/gpu). `gpu` is the image of every step on a GPU instance type
    (ml.g*, ml.p*): the Tune step of a `gpu` family of steps/train/settings.py's ALGORITHMS (Tune-gru, on
    GruInstanceType) and ScoreSentimentFinGPT (`sentiment.fingpt.image` defaults to it)."""

    processing: str
    training: str
    serving: str
    gpu: str


class Instances(_Strict):
    processing: str = Field(pattern=r"^ml\.")
    training: str = Field(pattern=r"^ml\.")
    gru: str = Field(default="ml.g4dn.xlarge", pattern=r"^ml\.")  # GruInstanceType's default: GPU-capable
    inference: list[str]
    transform: list[str]
    volume_size_gb: int = Field(ge=1, le=16384)
    max_runtime_seconds: int = Field(ge=60, le=2419200)


def _data_url(value: str) -> str:
    """An s3:// data URL follows S3's bucket and key rules (steps.common.names.s3_uri_error: no `..`, `.` or
    empty segment); file:// is a local run's folder (pipelines.run links it; lint and upsert refuse it)."""
    if value.startswith("s3://"):
        refused = s3_uri_error(value)
        if refused:
            raise ValueError(refused)
    return value


DataUrl = Annotated[str, Field(pattern=r"^(s3|file)://"), AfterValidator(_data_url)]


class Data(_Strict):
    input_data_url: DataUrl
    tweets_data_url: DataUrl
    universe_csv: str


class Features(FeatureOptions, FeatureRun):
    """steps.features' own models (steps/features/settings.py: defaults, bounds, messages) plus what only the
    pipeline needs: `include_sentiment` is the IncludeSentiment parameter's default, and `instance_count`
    FeatureInstanceCount's. `ticker_batches` (FeatureRun) reaches BuildFeatures only: it is how the table is
    built, not what it holds, so it is no part of the contract LeakTests holds the table to."""

    instance_count: int = Field(default=1, ge=1, le=100)  # FeatureInstanceCount's default: shards of tickers


class Tuning(_Strict):
    strategy: Literal["Bayesian", "Random", "Hyperband", "Grid"]
    objective_metric: str
    objective_type: Literal["Maximize", "Minimize"]
    max_jobs: int = Field(ge=1, le=500)
    max_parallel_jobs: int = Field(ge=1, le=100)
    early_stopping: Literal["Off", "Auto"]
    # HyperParameterTuningJobConfig.RandomSeed: botocore's shape is an `integer` (min 0), a 32-bit signed int
    # in the AWS JSON protocol; a 40-digit seed landed in the definition and failed at CreateHyperParameterTuningJob
    random_seed: int = Field(ge=0, le=2**31 - 1)


# A tuning job names at most 5 warm-start parents (botocore's ParentHyperParameterTuningJobs, max 5; "A tuning
# job can have a maximum of 5 parent jobs", https://docs.aws.amazon.com/sagemaker/latest/dg/automatic-model-tuning-warm-start.html).
# Round r names every earlier round (warm start is not recursive: pipelines/stages/tuning.py), so SageMaker would
# take 6 rounds; the mission's "re-tuning at most 3 attempts" is the cap (tests/pipelines/test_tuning_rounds.py
# holds the cap within the parent limit).
MAX_WARM_START_PARENTS = 5


class Gates(_Strict):
    min_model_auc: float = Field(ge=0.5, le=1.0)
    min_ensemble_auc: float = Field(ge=0.5, le=1.0)
    # Gate-final: the final holdout (the lockbox) AUC of the model about to be registered (steps.final_holdout)
    min_final_auc: float = Field(ge=0.5, le=1.0)
    # Optional, off (null) by default like backtest.min_net_sharpe: Gate-final also requires the selection holdout's
    # deflated Sharpe ratio >= min_dsr and the probability of backtest overfitting <= max_pbo (an undefined figure
    # fails the condition). Definition-time literals: changing them means publishing again.
    min_dsr: float | None = Field(default=None, ge=0.0, le=1.0)
    max_pbo: float | None = Field(default=None, ge=0.0, le=1.0)
    max_tuning_attempts: int = Field(ge=1, le=3)  # the mission: re-tuning at most 3 attempts
    # steps.ensemble's `margin` (its model declares the default and bounds): ensemble AUC >= best single AUC - margin
    ensemble_margin: Annotated[float, EnsembleSettings.model_fields["margin"]]


class Training(TrainingSettings):
    """steps.train's job options (steps/train/settings.py): one global model, or one per stock / sector."""


class Plausibility(LeakScreens, BacktestPlausibility):
    """What honest features and models can reach on data of one bar frequency and label horizon (docs/leaks.md).

    Plausibility depends on the data: a single-feature AUC of 0.66 is a leak on next-session index direction and
    unremarkable on a generated market with a planted signal. So every threshold of the screens (steps.leaks'
    `LeakScreens`) lives here, one entry per `<bar_frequency>/<label_horizon_bars>`, and a run whose horizon has
    no entry is refused. So do the ceilings of the backtest's economics (`BacktestPlausibility`: per-period
    Sharpe, hit rate, optionally the annualised Sharpe; a flag in evaluation.json, not a gate), which the
    evaluations receive inside their `backtest` settings.
    """

    # steps.evaluate's `suspicious_auc` (the flag) and the ceiling of Gate-plausible*: above it, Fail-implausible
    max_holdout_auc: Annotated[float, EvaluateSettings.model_fields["suspicious_auc"]]


class Leaks(LeakRun):
    """steps.leaks' settings (steps/leaks/settings.py); the screens' thresholds are per horizon in `plausibility`."""

    plausibility: dict[str, Plausibility] = Field(default_factory=dict)

    @field_validator("plausibility")
    @classmethod
    def _horizon_keys(cls, entries: dict[str, Plausibility]) -> dict[str, Plausibility]:
        for key in entries:
            frequency, _, horizon = key.partition("/")
            if frequency not in ("1min", "1d") or not horizon.isdigit() or int(horizon) < 1:
                raise ValueError(f"entry {key!r}: keys are '<bar_frequency>/<label_horizon_bars>', e.g. '1d/1'")
        return entries


def horizon_key(features: Features) -> str:
    """The `leaks.plausibility` entry that applies to a feature configuration, e.g. '1min/30'."""
    return f"{features.frequency}/{features.label_horizon_bars}"


class Stability(StabilitySettings):
    """The optional FeatureStability step: steps.stability's own model (steps/stability/settings.py) plus whether
    the definition holds the step at all (`enabled`, `--feature-analysis`)."""

    enabled: bool = False


class Registry(_Strict):
    model_package_group: str = Field(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
    approval_status: Literal["PendingManualApproval", "Approved", "Rejected"]


class Caching(_Strict):
    enabled: bool
    expire_after: str = Field(pattern=r"^P")
    # Job steps whose output may differ between runs on the same input (e.g. a live ingest): never cached.
    nondeterministic_steps: list[str] = Field(default_factory=list)


class Security(_Strict):
    """Encryption and network settings every job step must carry when they are set (checked by pipelines.lint)."""

    kms_key_id: str | None = None
    subnets: list[str] = Field(default_factory=list)
    security_group_ids: list[str] = Field(default_factory=list)
    network_isolation: bool = False
    allowed_instance_types: list[str] = Field(default_factory=list)

    @field_validator("allowed_instance_types")
    @classmethod
    def _fits_enum_values(cls, value: list[str]) -> list[str]:
        """The allowlist becomes the instance-type parameters' EnumValues, which SageMaker caps."""
        if len(value) > MAX_ENUM_VALUES:
            raise ValueError(
                f"{len(value)} instance types; it becomes the instance-type parameters' EnumValues, and SageMaker "
                f"takes at most {MAX_ENUM_VALUES} (sagemaker-python-sdk#2314)"
            )
        return value

    @model_validator(mode="after")
    def _vpc_pairs(self) -> Security:
        if bool(self.subnets) != bool(self.security_group_ids):
            raise ValueError("set both subnets and security_group_ids for a VPC, or neither")
        return self


class Retries(_Strict):
    max_attempts: int = Field(ge=1, le=20)
    interval_seconds: int = Field(ge=1)
    backoff_rate: float = Field(ge=1.0)


class FinBert(FinBertScoring):
    """ScoreSentimentFinBERT: steps.sentiment.finbert's scoring settings (steps/sentiment/settings.py) plus an
    exported folder (python -m steps.sentiment.export) and where it runs."""

    model_url: str = Field(default="s3://conviction-ml-artifacts/models/finbert-onnx/", pattern=r"^(s3|file)://")
    image: str | None = None  # None: images.processing (the CPU image carries onnxruntime)
    # Processing instances, each scoring a shard of the raw tweet objects (ShardedByS3Key over date=/ticker=).
    instance_count: int = Field(default=1, ge=1, le=100)


class FinGpt(FinGptSettings):
    """ScoreSentimentFinGPT: steps.sentiment.fingpt's settings (steps/sentiment/settings.py) plus the training job
    on managed spot that runs it, resumable from its checkpoint folder.

    `enabled` is a definition-time choice (`--fingpt` / FINGPT=1), not a run-time parameter: with it, the
    definition holds ScoreSentimentFinGPT and FinBERT reads its checkpoint prefix through a property of that
    step, so SageMaker orders the two by data dependency. Switching it means publishing the definition again.
    It matters only with `sentiment.enabled` (FinGPT feeds ScoreSentimentFinBERT).
    """

    enabled: bool = False
    base_model_url: str = Field(default="s3://conviction-ml-artifacts/models/fingpt/base/", pattern=r"^(s3|file)://")
    adapter_url: str | None = Field(default=None, pattern=r"^(s3|file)://")
    image: str | None = None  # None: images.gpu (one declaration of the GPU image)
    instance_type: str = Field(default="ml.g4dn.xlarge", pattern=r"^ml\.")
    spot: bool = True
    max_run_seconds: int = Field(default=4 * 3600, ge=60, le=2419200)
    max_wait_seconds: int = Field(default=8 * 3600, ge=60, le=2419200)
    # Training instances, each scoring a shard of the raw tweet objects (ShardedByS3Key over date=/ticker=).
    instance_count: int = Field(default=1, ge=1, le=20)

    @model_validator(mode="after")
    def _wait_covers_run(self) -> FinGpt:
        if self.spot and self.max_wait_seconds < self.max_run_seconds:
            raise ValueError("max_wait_seconds must be >= max_run_seconds for spot training")
        return self


class Sentiment(_Strict):
    """Tweet scoring before BuildFeatures (`--twitter-sentiment`); off: TweetsDataUrl holds scored tweets."""

    enabled: bool = False
    # steps.sentiment.finbert's `combine` (its model declares the choices and the default)
    combine: Annotated[CombinePolicy, FinBertSettings.model_fields["combine"]]
    # Incremental scoring: scores kept under <prefix>/sentiment/cache/ by model digest and tweet id, reused
    # across executions (steps/sentiment/score_cache.py); false: every execution scores every tweet.
    cache: bool = True
    finbert: FinBert = FinBert()
    fingpt: FinGpt = FinGpt()

    def finbert_settings(self) -> FinBertSettings:
        """What steps.sentiment.finbert takes: `finbert`'s scoring settings and `combine`."""
        return FinBertSettings(combine=self.combine,
                               **self.finbert.model_dump(include=set(FinBertScoring.model_fields)))

    def fingpt_settings(self) -> FinGptSettings:
        """What steps.sentiment.fingpt takes: `fingpt`'s scoring settings (not the job's instance and spot ones)."""
        return FinGptSettings(**self.fingpt.model_dump(include=set(FinGptSettings.model_fields)))


class SampleData(_Strict):
    days: int = Field(default=60, ge=5)
    seed: int = 7
    tickers: int | Literal["all"] = "all"
    universe: str | None = None  # a universe CSV to simulate instead of data.universe_csv (e.g. one ticker)
    # steps.sample_data --signal: the planted signal's strength (None or 1: the default market; 0: a null market
    # whose labels are independent of every input, for checking that the pipeline finds nothing where nothing is)
    signal: float | None = Field(default=None, ge=0.0, le=10.0)


class HpoRange(_Strict):
    type: Literal["integer", "continuous", "categorical"]
    min: float | None = None
    max: float | None = None
    values: list[str] | None = None
    scaling: Literal["Auto", "Linear", "Logarithmic", "ReverseLogarithmic"] = "Auto"

    @model_validator(mode="after")
    def _bounds(self) -> HpoRange:
        if self.type == "categorical":
            if not self.values:
                raise ValueError("a categorical range needs 'values'")
        elif self.min is None or self.max is None or self.min > self.max:
            raise ValueError("an integer or continuous range needs 'min' <= 'max'")
        elif self.scaling == "Logarithmic" and self.min <= 0:
            raise ValueError("Logarithmic scaling needs 'min' > 0")
        return self


class HpoSpec(_Strict):
    algorithm: Annotated[str, AfterValidator(known_algorithm)]
    defaults: dict[str, int | float | str | bool]
    ranges: dict[str, HpoRange]

    @model_validator(mode="after")
    def _defaults_cover_ranges(self) -> HpoSpec:
        missing = sorted(set(self.ranges) - set(self.defaults))
        if missing:
            raise ValueError(f"tuned hyperparameters without a default: {', '.join(missing)}")
        return self

    @property
    def static(self) -> dict[str, int | float | str | bool]:
        """What every tuning job receives unchanged: the defaults that are not tuned."""
        return {k: v for k, v in self.defaults.items() if k not in self.ranges}


class UniverseMember(_Strict):
    ticker: str
    sector: str


class DeployAlarms(_Strict):
    """CloudWatch alarms on the endpoint (AWS/SageMaker metrics), each wired to the SNS topic.

    Each alarms on what means trouble when requests come: errors and latency. None alarms on the absence of
    traffic (an endpoint is idle outside market hours, and missing data is not breaching), so an idle
    endpoint raises nothing.
    """

    period_seconds: int = Field(default=300, ge=60)
    evaluation_periods: int = Field(default=3, ge=1)
    max_5xx_errors: float = Field(default=1.0, ge=0.0)  # Invocation5XXErrors (sum per period) above this
    max_model_latency_ms: float = Field(default=500.0, gt=0.0)  # ModelLatency p99 above this
    # Invocation4XXErrors (sum per period) above this: requests the model refuses (a client sending features
    # in another shape, a schema change not deployed on both sides)
    max_4xx_errors: float = Field(default=5.0, ge=0.0)


class TweetMetric(_Strict):
    """The ingester's tweet-count metric (steps.ingest.metrics) for the dashboard's tweet-volume widget."""

    namespace: str = "Conviction/Ingestion"
    name: str = "TweetsIngested"
    dimension: str = "Ticker"


class Deploy(_Strict):
    """`python -m pipelines.deploy`: endpoint naming, capacity, data capture, smoke test, monitoring."""

    endpoint_name_template: str = Field(default="conviction-ensemble-v5-{timestamp}", pattern=r"\{timestamp\}")
    timestamp_format: str = "%Y%m%d-%H%M%S"
    instance_type: str = Field(default="ml.m5.large", pattern=r"^ml\.")
    instance_count: int = Field(default=1, ge=1, le=100)
    data_capture_percent: int = Field(default=100, ge=0, le=100)  # 0 turns capture off
    data_capture_prefix: str = "data-capture"  # under s3://<bucket>/<prefix>/
    wait_timeout_seconds: int = Field(default=1800, ge=1)
    poll_seconds: float = Field(default=30.0, gt=0.0)
    smoke_rows: int = Field(default=16, ge=1, le=1000)
    smoke_tolerance: float = Field(default=1e-6, ge=0.0)  # |endpoint - artifact's own prediction| allowed
    sns_topic: str = Field(default="conviction-model-alerts", pattern=r"^[A-Za-z0-9_-]{1,256}$")
    dashboard: str = Field(default="conviction-endpoint", pattern=r"^[A-Za-z0-9_-]{1,255}$")
    alarms: DeployAlarms = DeployAlarms()
    tweet_metric: TweetMetric = TweetMetric()


class Backtest(BacktestOptions):
    """The evaluations' cost-aware backtest (steps.evaluate's `BacktestOptions`, docs/training.md) and its optional
    gate. The screen of its economics is set per horizon in `leaks.plausibility` (`Plausibility`), not here.

    `min_net_sharpe`: when set, Gate-signal[-r] requires the ensemble's holdout long-short net Sharpe to reach
    it before the artifact check and Register (None: no gate; the definition is then as without this). A
    definition-time setting, like FinGPT: changing it means publishing the definition again."""

    min_net_sharpe: float | None = Field(default=None, ge=-10.0, le=10.0)


class PipelineConfig(_Strict):
    pipeline: PipelineSection
    images: Images
    instances: Instances
    data: Data
    features: Features
    folds: FoldSettings = FoldSettings()
    algorithms: list[str] = Field(min_length=1)  # families of steps/train/settings.py's ALGORITHMS
    tuning: Tuning
    training: Training = Training()
    gates: Gates
    registry: Registry
    caching: Caching
    leaks: Leaks = Leaks()
    stability: Stability = Stability()
    retries: Retries
    security: Security = Security()
    sentiment: Sentiment = Sentiment()
    sample_data: SampleData = SampleData()
    deploy: Deploy = Deploy()
    backtest: Backtest = Backtest()
    profiles: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # Filled by load_config, not by the YAML file.
    hpo: dict[str, HpoSpec] = Field(default_factory=dict)
    universe: list[UniverseMember] = Field(default_factory=list)
    universe_path: str = ""  # data.universe_csv resolved: the file the code bundle ships to the jobs
    source: str = ""
    profile: str | None = None

    @field_validator("folds")
    @classmethod
    def _a_lockbox(cls, folds: FoldSettings) -> FoldSettings:
        """The pipeline always seals a final holdout: Register requires its gate (docs/training.md, "Two holdouts")."""
        if folds.final_holdout_days < 1:
            raise ValueError("final_holdout_days must be >= 1: the pipeline scores the lockbox before Register")
        return folds

    @field_validator("algorithms")
    @classmethod
    def _known_algorithms(cls, algorithms: list[str]) -> list[str]:
        for algorithm in algorithms:
            known_algorithm(algorithm)
        if len(set(algorithms)) != len(algorithms):
            raise ValueError("an algorithm is listed twice")
        return algorithms

    def feature_settings(self) -> FeatureSettings:
        """`features` and `folds` as the feature steps take them (steps/features/settings.py)."""
        return FeatureSettings(**self.features.model_dump(exclude={"instance_count", *FeatureRun.model_fields}),
                               **self.folds.model_dump())

    def build_features_settings(self) -> dict[str, Any]:
        """What BuildFeatures is given as settings (JSON values): the feature and fold settings (it builds with them,
        and LeakTests holds the table to the same configuration, never to the manifest of the table under test) and
        how to build (`features.ticker_batches`: FeatureRun, BuildFeatures only, no part of that contract)."""
        return {**self.feature_settings().model_dump(mode="json", exclude={"absent_inputs", "extra"}),
                **self.features.model_dump(mode="json", include=set(FeatureRun.model_fields))}

    def leak_settings(self) -> LeakSettings:
        """steps.leaks' settings: `leaks`, this horizon's screens and the feature settings (the contract)."""
        screens = self.plausibility.model_dump(include=set(LeakScreens.model_fields))
        return LeakSettings(**self.leaks.model_dump(exclude={"plausibility"}), **screens,
                            **self.feature_settings().model_dump(exclude={"absent_inputs", "extra"}))

    def evaluate_settings(self) -> EvaluateSettings:
        """What the config sets of steps.evaluate's settings: this horizon's ceiling and the backtest."""
        return EvaluateSettings(suspicious_auc=self.plausibility.max_holdout_auc, backtest=self.signal_settings())

    def ensemble_settings(self) -> EnsembleSettings:
        """What the config sets of steps.ensemble's settings: the gate's margin and the backtest."""
        return EnsembleSettings(margin=self.gates.ensemble_margin, backtest=self.signal_settings())

    def unpassable_gates(self) -> list[str]:
        """The AUC gates set above the horizon's plausible ceiling: Gate-plausible stops every AUC above it first, so
        such a gate can never pass (the daily profile's MinEnsembleAUC 0.62 against its 0.60: by design, nothing is
        registered on next-session index direction; said before a run, not refused)."""
        ceiling = self.plausibility.max_holdout_auc
        return [f"gates.{name} {getattr(self.gates, name)} is above the plausible ceiling {ceiling} "
                f"(leaks.plausibility {horizon_key(self.features)} max_holdout_auc): no model can pass it"
                for name in ("min_model_auc", "min_ensemble_auc", "min_final_auc")
                if getattr(self.gates, name) > ceiling]

    def final_holdout_settings(self) -> FinalHoldoutSettings:
        """What the config sets of steps.final_holdout's settings: this horizon's ceiling and the backtest."""
        return FinalHoldoutSettings(suspicious_auc=self.plausibility.max_holdout_auc, backtest=self.signal_settings())

    def signal_settings(self) -> SignalSettings:
        """`backtest:` with this horizon's plausibility ceilings (`leaks.plausibility.<key>`)."""
        ceilings = self.plausibility.model_dump(include=set(BacktestPlausibility.model_fields))
        return SignalSettings(**self.backtest.model_dump(exclude={"min_net_sharpe"}),
                              plausibility=BacktestPlausibility(**ceilings))

    @property
    def plausibility(self) -> Plausibility:
        """The thresholds of this run's bar frequency and label horizon."""
        return self.leaks.plausibility[horizon_key(self.features)]

    @property
    def s3_root(self) -> str:
        return f"s3://{self.pipeline.bucket}/{self.pipeline.prefix}"


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Override replaces only the fields it sets (the kedro-sagemaker `__default__` habit)."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _describe_error(path: Path, error: ValidationError) -> str:
    """pydantic's first problem (read by steps/common/settings.py, as a step's own error is) as one line about
    the YAML file: the key, and for an unknown key the keys allowed there."""
    problem = first_problem(error)
    key = problem.key or "(top level)"
    if problem.kind == "extra_forbidden":
        allowed = _allowed_keys(PipelineConfig, problem.loc[:-1])
        hint = f"unknown key; allowed here: {', '.join(allowed)}" if allowed else "unknown key"
        return f"{path}: key '{key}': {hint}"
    if problem.kind == "missing":
        return f"{path}: key '{key}' is required"
    return f"{path}: key '{key}': {problem.detail}"


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return [field.alias or name for name, field in model.model_fields.items()
            if name not in {"hpo", "universe", "universe_path", "source", "profile"}]


MAX_CONFIG_BYTES = 1024 * 1024  # configs/pipeline.yaml is ~20 KB; a config past 1 MiB is not one


MAX_CONFIG_VALUES = 100_000  # values once aliases are expanded; configs/pipeline.yaml has ~1,000


class _ConfigLoader(yaml.SafeLoader):
    """yaml.SafeLoader for configuration: aliases bounded (a short file whose aliases expand to billions of
    values made lint run past a minute; yaml.safe_dump writes aliases for a repeated value, so they are not
    refused outright), no recursive alias, and no key twice in one mapping (the last one won silently). Each
    refusal is a yaml.MarkedYAMLError: the line, never the expanded input."""

    def compose_document(self):  # type: ignore[no-untyped-def]
        node = super().compose_document()
        if node is not None:
            self._expanded_size(node, {}, set())
        return node

    def _expanded_size(self, node: yaml.Node, sizes: dict[int, int], open_nodes: set[int]) -> int:
        """How many values `node` holds with every alias written out (each shared node counted once, then
        reused: linear in the file, however large the expansion)."""
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in open_nodes:
            raise yaml.composer.ComposerError(None, None, "an alias refers to the value that holds it "
                                              "(a recursive alias)", node.start_mark)
        total = 1
        if isinstance(node, yaml.CollectionNode):
            open_nodes.add(id(node))
            children = node.value if isinstance(node, yaml.SequenceNode) else [n for pair in node.value for n in pair]
            for child in children:
                total += self._expanded_size(child, sizes, open_nodes)
                if total > MAX_CONFIG_VALUES:
                    raise yaml.composer.ComposerError(
                        None, None, f"expands to more than {MAX_CONFIG_VALUES:,} values (aliases repeat a value "
                        "many times): write the values out", node.start_mark)
            open_nodes.discard(id(node))
        sizes[id(node)] = total
        return total

    def construct_mapping(self, node, deep=False):  # type: ignore[no-untyped-def]
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base`: keys after it may override its own
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # a list or mapping as a key
                raise yaml.constructor.ConstructorError(None, None, "a key must be a name, not a list or mapping",
                                                        key_node.start_mark) from None
            seen.setdefault(key, key_node.start_mark.line + 1)
            if first is not None:
                raise yaml.constructor.ConstructorError(None, None, f"key {str(key)[:60]!r} appears twice in one "
                                                        f"mapping (first on line {first}): keep one",
                                                        key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str | bytes, source: str) -> Any:
    """YAML text of a config, a per-user config, a --set or CONVICTION_* value, read by `_ConfigLoader`;
    ConfigError naming `source` on one line (with the line for a file) for anything it refuses: not UTF-8,
    past MAX_CONFIG_BYTES, not YAML, an alias, a key twice."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{source}: {len(text):,} bytes, more than a config's {MAX_CONFIG_BYTES:,}")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{source}: not UTF-8 text (byte {exc.start}); is it a YAML file?") from None
    try:
        loader = _ConfigLoader(text)  # a SafeLoader subclass: no Python tags, aliases bounded, keys once
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(" ".join(f"{source}:{where} is not valid YAML: {problem}".split())) from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply to be a config") from None


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: file not found; pass --config with the path to pipeline.yaml")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: {path.stat().st_size:,} bytes, more than a config's {MAX_CONFIG_BYTES:,}")
    loaded = parse_yaml(path.read_bytes(), str(path))
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    return loaded


def load_hpo(path: Path) -> HpoSpec:
    try:
        return HpoSpec.model_validate(_read_yaml(path))
    except ValidationError as exc:
        problem = first_problem(exc)
        raise ConfigError(f"{path}: key '{problem.key or '(top level)'}': {problem.message}") from None


def load_universe(path: Path) -> list[UniverseMember]:
    """The universe CSV's members, read by the steps' own reader (steps.common.names: each ticker and sector
    a name, never a path; a ticker once, with one sector)."""
    from steps.common.errors import StepInputError
    from steps.common.names import read_universe_rows

    if not path.is_file():
        raise ConfigError(f"{path}: universe file not found; set data.universe_csv in pipeline.yaml")
    try:
        rows = read_universe_rows(path)
    except StepInputError as exc:
        raise ConfigError(f"{exc} (data.universe_csv)") from None
    return [UniverseMember(ticker=ticker, sector=sector) for ticker, sector in rows]


def _check_argument_lengths(config: PipelineConfig, path: Path) -> None:
    """Every step's settings must fit the container arguments they travel in (steps/common/settings.py packs them
    under 256 characters each); a setting that cannot (a list of 80 windows) is refused here, naming it, rather
    than when the definition is built."""
    sections = {"features": config.build_features_settings(),
                "leaks": config.leak_settings().model_dump(mode="json"),
                "stability": config.stability.model_dump(mode="json", exclude={"enabled"}),
                "backtest": config.evaluate_settings().model_dump(mode="json")}
    for section, values in sections.items():
        try:
            settings_arguments(values)
        except SettingTooLong as exc:
            key = f"features.{exc.name}" if section == "leaks" and exc.name in sections["features"] else \
                f"{section}.{exc.name}"
            raise ConfigError(f"{path}: key '{key}': {exc}; shorten it") from None


def load_config(
    path: str | Path = DEFAULT_CONFIG,
    profile: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> PipelineConfig:
    """Read, merge (file < profile < overrides) and validate the configuration; raises ConfigError."""
    path = Path(path)
    raw = _read_yaml(path)
    merged = raw
    if profile:
        profiles = raw.get("profiles") or {}
        if not isinstance(profiles, dict):
            raise ConfigError(f"{path}: key 'profiles': expected a mapping of profile names to overrides")
        if profile not in profiles:
            allowed = ", ".join(str(name) for name in profiles) or "none defined"
            raise ConfigError(f"{path}: key 'profiles.{profile}' not found; profiles: {allowed}")
        if not isinstance(profiles[profile], dict):
            raise ConfigError(f"{path}: key 'profiles.{profile}': expected a mapping of overrides "
                              f"(like the config's own sections), not {type(profiles[profile]).__name__}")
        merged = deep_merge(merged, profiles[profile])
    if overrides:
        merged = deep_merge(merged, overrides)
    try:
        config = PipelineConfig.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_describe_error(path, exc)) from None

    key = horizon_key(config.features)
    if key not in config.leaks.plausibility:
        known = ", ".join(sorted(config.leaks.plausibility)) or "none"
        raise ConfigError(
            f"{path}: key 'leaks.plausibility': no entry '{key}' for this features.bar_frequency/label_horizon_bars "
            f"(entries: {known}); add one with what an honest model reaches at that horizon (docs/leaks.md)"
        )
    _check_argument_lengths(config, path)
    config_dir = path.resolve().parent
    hpo = {name: load_hpo(config_dir / "hpo" / f"{name}.yaml") for name in config.algorithms}
    universe_path = Path(config.data.universe_csv)
    if not universe_path.is_absolute():
        universe_path = config_dir.parent / universe_path
    return config.model_copy(
        update={
            "hpo": hpo,
            "universe": load_universe(universe_path),
            "universe_path": str(universe_path),
            "source": str(path),
            "profile": profile,
        }
    )
