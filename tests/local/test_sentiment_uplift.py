"""The sentiment-uplift experiment: two real runs on identical folds; the uplift is the measured difference."""

from __future__ import annotations

import pytest

from pipelines.experiments import sentiment_uplift as experiment


def test_doc_block_is_replaced_in_place_and_others_kept(tmp_path):
    doc = tmp_path / "optimal_hyperparameters.md"
    experiment.write_doc("first AAPL\n", "AAPL:xgboost:120", doc)
    experiment.write_doc("MSFT block\n", "MSFT:xgboost:120", doc)
    experiment.write_doc("second AAPL\n", "AAPL:xgboost:120", doc)
    text = doc.read_text()
    assert text.startswith("# Optimal hyperparameters")
    assert "second AAPL" in text and "first AAPL" not in text and "MSFT block" in text
    assert text.index("second AAPL") < text.index("MSFT block")  # replaced where it was


def test_unknown_ticker_is_a_one_line_error(tmp_path, capsys):
    assert experiment.main(["--ticker", "ZZZZ", "--run-dir", str(tmp_path), "--no-doc"]) == 2
    err = capsys.readouterr().err.strip()
    assert "ZZZZ" in err and "\n" not in err


@pytest.mark.slow
def test_two_arms_on_the_same_holdout_rows_and_the_uplift_is_their_difference(tmp_path):
    result = experiment.run_experiment("AAPL", "xgboost", days=60, trials=2, run_dir=tmp_path, echo=lambda _: None)
    with_auc, without_auc = result.with_sentiment.model.auc, result.without_sentiment.model.auc
    # The paired bootstrap's point estimate must be the plain difference of the two evaluations' AUCs,
    # computed by a different program (steps.evaluate) on the same rows.
    assert result.uplift.difference == pytest.approx(with_auc - without_auc, abs=1e-9)
    assert result.uplift.ci_low <= result.uplift.difference <= result.uplift.ci_high
    assert result.holdout_rows > 100
    assert result.with_sentiment.tuning.best_hyperparameters
    section = experiment.result_markdown(result, "cmd")
    assert f"{with_auc:.4f}" in section and f"{without_auc:.4f}" in section
    verdict = "meets" if result.uplift.difference >= 0.02 else "does NOT meet"
    assert f"{verdict} the required +0.02" in section
