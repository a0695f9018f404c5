"""The serving container: SageMaker's `GET /ping` and `POST /invocations` over the ensemble artifact."""
