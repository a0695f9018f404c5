#!/bin/sh
# SageMaker starts training images as `<image> train` and serving images as `<image> serve`; processing
# jobs name their own entrypoint (`python3 -m steps.<name>`) in the definition and bypass this script.
# A `code` channel or input (the definition's content-hashed source) goes on PYTHONPATH ahead of the
# image's copy of the package, through the Environment the definition sets.
set -e
case "${1:-}" in
  train)
    shift
    exec python3 -m steps.train "$@"
    ;;
  serve)
    shift
    exec python3 -m steps.serve --model "${SM_MODEL_DIR:-/opt/ml/model}" --host 0.0.0.0 --port "${SAGEMAKER_BIND_TO_PORT:-8080}" "$@"
    ;;
  *)
    exec "$@"
    ;;
esac
