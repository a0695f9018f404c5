"""SHAP stability feature selection across walk-forward folds (`python -m steps.stability`)."""
