"""animatelab: reproducible AnimateDiff-family text-to-video research (AnimateDiff, SparseCtrl, MoonShot)."""

__version__ = "0.1.0"
