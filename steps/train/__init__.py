"""Training job: walk-forward CV with early stopping, refit, model + out-of-fold predictions."""
