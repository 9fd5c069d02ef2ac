"""The typed schema of ``params.yaml``, one module per domain; ``animatelab.config`` loads and validates it."""
