"""Tweet sentiment: FinBERT on ONNX Runtime (CPU) and FinGPT by constrained label log-probabilities (GPU)."""
