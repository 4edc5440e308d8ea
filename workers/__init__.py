"""The worker process: polls the task queue and runs `OrderWorkflow` and its activities."""
