#!/usr/bin/env bash
# Pin the images to what the project's .venv (the one `make test` ran with) has installed.
set -euo pipefail
cd "$(dirname "$0")/.."
names='aiohttp|boto3|catboost|lightgbm|llvmlite|numba|numpy|onnxruntime|pandas|peft|polars|pyarrow|pydantic|PyYAML|scikit-learn|scipy|shap|tokenizers|transformers|tweepy|xgboost'
{
  sed -n '1,2p' containers/constraints.txt
  .venv/bin/pip freeze | grep -E "^(${names})==" | sort -f
} > containers/constraints.txt.partial
mv containers/constraints.txt.partial containers/constraints.txt
echo "wrote containers/constraints.txt"
