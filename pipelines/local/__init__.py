"""The local runner: executes the published definition JSON on this machine (see `pipelines.run`).

It runs a definition; what the definition means (its expressions, conditions, graph and SageMaker's rules
for it) is the definition layer's (`pipelines.definition`), which this package imports and which never
imports it. One job per module: `handlers/` is what each step type does, `store` maps S3 to a folder,
`jobs/` runs processing, training and tuning jobs on the host Python, `registry` calls the model registry
through boto3, `cache` and `record` keep what a run did, and `executor` walks the DAG.
"""
