"""Tweets from the X/Twitter v2 filtered stream to Parquet partitioned by date and ticker (`python -m steps.ingest`)."""
