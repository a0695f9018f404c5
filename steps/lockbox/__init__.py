"""The lockbox: the final holdout, sealed away from every step before the round loop has ended."""
