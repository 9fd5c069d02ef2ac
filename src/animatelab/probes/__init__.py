"""Probes of RQ1's "why": where the appearance signal of the video data goes.

One module per probe (``spectrum``, ``static_input``, ``loss_split``); ``inputs`` loads the
encoded clips and a motion UNet, ``hooks`` captures or bypasses the motion modules. Each probe
returns per-run metrics (``{mean, ci_low, ci_high, n}``) and curves; the figures stage draws them.
"""
