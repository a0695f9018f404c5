"""Load the packed artifact in a fresh process through the serving code and re-score the holdout."""
