"""The leak checks, one module each (named as the check is in the report): every check returns a CheckResult
(common.py) and none raises on a leak (the report says it). Nothing is imported here: import a check's module.

- truncation_invariance: the *code* — features recomputed from inputs cut at random instants equal the full
  computation on every row at or before the cut;
- table_matches_code: the *table* — the given features equal a recomputation from the inputs with the
  manifest's settings; a column the code does not produce cannot be verified, and fails;
- label_alignment: every label window ends after its row (label_end > ts) and labels match returns;
- labels_match_bars: every row's forward_return, label (dead zone included) and label_end recomputed from the
  bars (locate_rows) with none of the feature code; a row whose label the bars cannot recompute fails;
- timestamp_alignment: against the bars themselves, not the feature code: every row sits on a bar close, its
  label window is the bars t+1 .. t+1+H (strictly after t), and every sentiment column equals an independent
  recount of the tweets created at or before t - ingest_lag, on every row;
- folds: chronological, purged and embargoed train rows (purged on the label windows recomputed from the bars,
  so an understated label_end cannot hide an overlap), holdout outside every fold;
- duplicates: no (ticker, ts) twice, no row or identical feature vector in two of train/validation/holdout;
- target_leakage: no single feature separates the labels implausibly well (single-feature AUC outside
  [1 - a, a] on development rows), and none correlates with the future return far more than with the past
  return over the same horizon: the usual symptoms of a label or future return copied into a feature.
The other checks live beside this package: causality (causality.py), past_future_asymmetry (asymmetry.py),
settings_contract (contracts.py). ranks.py holds the rank statistics target_leakage and asymmetry share.
"""
