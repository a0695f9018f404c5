"""Features, labels and walk-forward folds from bars and scored tweets (`python -m steps.features`)."""

from steps.features.build import build_features, feature_columns
from steps.features.settings import FeatureSettings

__all__ = ["FeatureSettings", "build_features", "feature_columns"]
