"""The typed schema of ``params.yaml``, one module per domain; ``animatelab.config`` loads and validates it.

The schema types and validates; the values live in the params files. A group the core's ``params.yaml``
carries codes no value (each field is required, so a value is never said twice); coded defaults remain only
where they mean something per item (a loop, a LoRA, a ``train_motion`` run, a summary entry) and in the
study-only groups that the core's file leaves out.
"""
