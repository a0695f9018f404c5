"""Approval and deployment helpers behind `pipelines.approve` and `pipelines.deploy` (boto3 only, no data science)."""
