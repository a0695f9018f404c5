"""`python -m steps.sentiment.export`: a Hugging Face sequence classifier -> ONNX (+ optimized int8).

Run at image build time (the production container bakes FinBERT in; nothing downloads at run time) and
by tests on tiny random-weight models. Three steps, each with the tool made for it:
1. optimum's ONNX exporter (`main_export`, task text-classification): dynamic batch and sequence axes.
2. ONNX Runtime's transformer optimizer (`model_type="bert"`): fuses embeddings+LayerNorm, attention and
   Gelu into single kernels: the main CPU speed-up before quantization.
3. dynamic int8 quantization of the fused graph's MatMul weights (`quantize_dynamic`, QInt8).
`export.json` in the output names the file the scorer loads, the label order and the versions used.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from steps.common.cli import StepArgumentParser, run_main
from steps.common.errors import StepInputError
from steps.common.logging import get_logger
from steps.sentiment.labels import label_order

MANIFEST = "export.json"
FP32_FILE = "model.onnx"
OPTIMIZED_FILE = "model_optimized.onnx"
INT8_FILE = "model_int8.onnx"


def _model_config(model_dir: Path) -> dict[str, Any]:
    config_path = model_dir / "config.json"
    if not config_path.is_file():
        raise StepInputError("no config.json in the model folder", file=model_dir,
                             fix="pass a folder written by save_pretrained (config, weights, tokenizer)")
    return json.loads(config_path.read_text())


def export_classifier(model_dir: str | Path, output: str | Path, *, quantize: str = "int8", optimize: bool = True,
                      opset: int | None = None, logger: logging.Logger | None = None) -> dict[str, Any]:
    """Export, optimize and quantize; the output folder appears whole or not at all."""
    import onnxruntime
    from optimum.exporters.onnx import main_export

    from steps.common.io import atomic_dir, write_json  # here, not above: --help answers without pandas

    logger = logger or logging.getLogger(__name__)
    source, destination = Path(model_dir), Path(output)
    config = _model_config(source)
    order = label_order(config.get("id2label", {}), str(source / "config.json"))
    timings: dict[str, float] = {}
    with atomic_dir(destination) as staging:
        start = time.perf_counter()
        kwargs = {"opset": opset} if opset else {}
        main_export(str(source), output=staging, task="text-classification", device="cpu", **kwargs)
        timings["export"] = round(time.perf_counter() - start, 3)
        scoring_file = FP32_FILE
        if optimize:
            from onnxruntime.transformers.optimizer import optimize_model

            start = time.perf_counter()
            heads = int(config.get("num_attention_heads", 0))
            hidden = int(config.get("hidden_size", 0))
            optimized = optimize_model(str(staging / FP32_FILE), model_type="bert", num_heads=heads,
                                       hidden_size=hidden, opt_level=None)
            optimized.save_model_to_file(str(staging / OPTIMIZED_FILE))
            fused = {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}
            logger.info("ORT transformer optimizer fused: %s", fused)
            timings["optimize"] = round(time.perf_counter() - start, 3)
            scoring_file = OPTIMIZED_FILE
        if quantize == "int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            start = time.perf_counter()
            # The fused graph holds com.microsoft ops that shape inference cannot type; FLOAT is what
            # every such tensor is here.
            quantize_dynamic(str(staging / scoring_file), str(staging / INT8_FILE), weight_type=QuantType.QInt8,
                             extra_options={"DefaultTensorType": 1})
            timings["quantize"] = round(time.perf_counter() - start, 3)
            scoring_file = INT8_FILE
        manifest = {
            "scoring_model": scoring_file,
            "fp32_model": FP32_FILE,
            "optimized": optimize,
            "quantize": quantize,
            "label_order": order,
            "id2label": config.get("id2label"),
            "model_name": config.get("_name_or_path") or source.name,
            "max_position_embeddings": config.get("max_position_embeddings"),
            "onnxruntime": onnxruntime.__version__,
            "timings": timings,
        }
        write_json(manifest, staging / MANIFEST)
        for leftover in staging.glob("*.onnx.data"):
            logger.info("external weights file kept: %s", leftover.name)
    logger.info("exported %s -> %s (%s) in %s", source, destination, scoring_file, timings)
    return manifest


def parse_args(argv: Sequence[str] | None):
    parser = StepArgumentParser(prog="python -m steps.sentiment.export", description=__doc__)
    parser.add_argument("--model", required=True, help="Hugging Face model folder (save_pretrained layout)")
    parser.add_argument("--output", required=True, help="folder for the ONNX files, tokenizer and export.json")
    parser.add_argument("--quantize", choices=["int8", "none"], default="int8")
    parser.add_argument("--no-optimize", action="store_true", help="skip the ORT transformer optimizer")
    parser.add_argument("--opset", type=int, default=None)
    parser.add_log_format()
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logger = get_logger("sentiment.export", args.log_format)
    if not Path(args.model).is_dir():
        raise StepInputError("model folder not found", file=args.model, fix="pass --model DIR")
    export_classifier(args.model, args.output, quantize=args.quantize, optimize=not args.no_optimize,
                      opset=args.opset, logger=logger)
    return 0


if __name__ == "__main__":
    run_main(main)
