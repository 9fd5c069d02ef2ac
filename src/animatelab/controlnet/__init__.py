"""The image ControlNet on video (RQ7c) in one place: its params schema, the ControlNet (model), its
image training, sampling on AnimateDiff and MoonShot, edge-agreement scoring and sample layout.

It runs in the MoonShot study pipeline (``experiments/moonshot``) through thin stages in
``animatelab.stages``.
"""
