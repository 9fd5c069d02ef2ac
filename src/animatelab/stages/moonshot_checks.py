"""``--run`` of the MoonShot sample/evaluate stages: a key of ``sample_moonshot.modes``."""

from __future__ import annotations

from animatelab.config import Params, ParamsError


def check_mode(params: Params, mode: str | None) -> str:
    modes = params.sample_moonshot.modes
    if mode not in modes:
        raise ParamsError(f"--run: {mode!r} is not a sample_moonshot mode ({', '.join(modes)})")
    return str(mode)
