"""Live scoring: bars and tweets as they arrive -> the feature engine -> the model -> scores (issue 18)."""
