"""Generated, clearly labelled sample market (bars + scored tweets)."""
