"""One small builder per pipeline stage; `pipelines.definition` composes them."""
