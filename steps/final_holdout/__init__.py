"""The final holdout: the lockbox opened once, after the round loop, by the model about to be registered."""
