"""The local runner: executes the published definition JSON on this machine (see `pipelines.run`).

One job per module: `expressions` and `conditions` evaluate the definition's functions, `store` maps S3
to a folder, `jobs/` runs processing, training and tuning jobs on the host Python, `registry` calls the
model registry through boto3, `cache` and `record` keep what a run did, and `executor` walks the DAG.
"""
