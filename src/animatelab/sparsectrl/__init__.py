"""SparseCtrl (RQ6) in one place: its params schema, the encoder, training, sampling and scoring.

The study pipeline (``experiments/sparsectrl``) runs these through thin stages in ``animatelab.stages``.
"""
