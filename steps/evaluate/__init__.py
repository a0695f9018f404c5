"""Out-of-time evaluation of a trained model on the holdout (`python -m steps.evaluate`)."""
