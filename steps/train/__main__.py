"""`python -m steps.train --algorithm {xgboost,catboost,lightgbm,gru} [--grouping global|stock|sector]
[--min_group_rows N] [--<hyperparameter> value ...] [--log-format text|json]`: a SageMaker training job.

Paths come from SM_CHANNEL_TRAIN, SM_MODEL_DIR and SM_OUTPUT_DATA_DIR (defaults under /opt/ml).
Prints `validation:auc=<float>` and `train:auc=<float>` on stdout for the definition's metric regexes.

Names: every option but --log-format is a SageMaker hyperparameter (the tuning job passes them, and writes
them to hyperparameters.json, under these names), so they keep SageMaker's spelling (`--min_group_rows`,
`--max_depth`); a dash in a name reads as an underscore (`--min-group-rows` is the same option).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from steps.common.cli import run_main
from steps.common.logging import get_logger
from steps.train.hyperparameter_specs import DECLARED
from steps.train.settings import ALGORITHMS, TrainingSettings


def usage() -> str:
    """The module's doc and every algorithm's hyperparameters: name, type, default, allowed values, meaning. Read
    from the declarations (steps/train/hyperparameter_specs.py): no model library is imported for --help."""
    lines = [__doc__.strip(), "", "Job options: " + ", ".join(f"--{name}" for name in TrainingSettings.model_fields),
             "Logging: --log-format text|json (default text; text: '<UTC time> <step> <LEVEL> <message>', json: one "
             "JSON object a line)"]
    for name in ALGORITHMS:
        lines += ["", f"--algorithm {name}:"]
        for hp in DECLARED[name]:
            allowed = f"; allowed {hp.bounds()}" if hp.kind in (int, float) and hp.bounds() != "(-inf, inf)" else ""
            lines.append(f"  --{hp.name} {hp.kind.__name__} (default {hp.default!r}{allowed})"
                         + (f": {hp.help}" if hp.help else ""))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if {"-h", "--help"} & set(arguments):
        print(usage())
        return 0
    # after --help: the model library of the one family this job trains, and pandas, load only now
    from steps.train.algorithms import get_algorithm
    from steps.train.hyperparameters import hyperparameters_json_path, read_hyperparameters_json, resolve, split_argv
    from steps.train.run import Grouping, run_training

    given = split_argv(arguments)
    log_format = given.pop("log_format", "text")
    json_path = hyperparameters_json_path()
    from_file = read_hyperparameters_json(json_path)
    # Arguments win; the JSON file fills in what the arguments leave out.
    merged = {**from_file, **given}
    algorithm_cls = get_algorithm(merged.pop("algorithm", "xgboost"))
    source = "command line" if given else str(json_path)
    options = {name: merged.pop(name) for name in TrainingSettings.model_fields if name in merged}
    grouping = Grouping.from_settings(TrainingSettings.parse(options, source))
    params = resolve(algorithm_cls, merged, source)
    logger = get_logger("train", log_format)
    train_dir = os.environ.get("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train")
    model_dir = os.environ.get("SM_MODEL_DIR", "/opt/ml/model")
    output_dir = os.environ.get("SM_OUTPUT_DATA_DIR", "/opt/ml/output/data")
    logger.info("algorithm=%s grouping=%s hyperparameters=%s", algorithm_cls.name, grouping.mode, params)
    result = run_training(train_dir, model_dir, output_dir, algorithm_cls, params, logger, grouping)
    print(f"train:auc={result.train_auc:.6f}", flush=True)
    print(f"validation:auc={result.validation_auc:.6f}", flush=True)
    return 0


if __name__ == "__main__":
    run_main(main)
