"""MoonShot (RQ7) in one place: its params schema, the MVB UNet (model), both training stages,
sampling, scoring and where its samples are written (layout).

The study pipeline (``experiments/moonshot``) runs these through thin stages in ``animatelab.stages``.
"""
