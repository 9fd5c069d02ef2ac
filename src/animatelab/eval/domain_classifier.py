"""A template-free measure of the video domain: a small CNN that tells clean images (0) from
frames of real video clips (1), whatever marks the video domain (watermark, blur, codec).

Generated frames all come out of the VAE's decoder, so training may mix in VAE reconstructions of
both classes (labelled by their source): the net then asks "is this a decoded video frame or a
decoded image?" rather than "is this decoder output?". ``domain_video_frac`` of a video is the
fraction of its frames the net calls "video".
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn



@dataclass
class DomainNetConfig:
    channels: tuple[int, ...] = (16, 32, 64)


class DomainNet(nn.Module):
    """3x3 convs (the first at full resolution: the watermark's bars are 2 px wide), then strided
    ones, global average pooling, and one logit for "video"."""

    def __init__(self, config: DomainNetConfig) -> None:
        super().__init__()
        self.config = config
        layers, c_in = [], 3
        for i, c in enumerate(config.channels):
            layers += [nn.Conv2d(c_in, c, 3, stride=1 if i == 0 else 2, padding=1), nn.GroupNorm(1, c), nn.SiLU()]
            c_in = c
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [-1, 1] -> (N,) logits."""
        return self.head(self.body(x).mean((2, 3))).squeeze(-1)

    def save(self, path: str | Path) -> None:
        from safetensors.torch import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(path))
        path.with_suffix(".json").write_text(json.dumps(asdict(self.config)) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "DomainNet":
        from safetensors.torch import load_file

        path = Path(path)
        cfg = json.loads(path.with_suffix(".json").read_text())
        net = cls(DomainNetConfig(channels=tuple(cfg["channels"])))
        net.load_state_dict(load_file(str(path)))
        return net.eval()


def pixels(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, H, W) in [-1, 1]."""
    x = frames if isinstance(frames, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(frames))
    return x.float().div(127.5).sub(1).permute(0, 3, 1, 2)


@torch.no_grad()
def video_probability(net: DomainNet, frames: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """P("video") of uint8 (..., H, W, 3) frames, in their leading shape."""
    flat = frames.reshape(-1, *frames.shape[-3:])
    out = [torch.sigmoid(net(pixels(flat[i : i + batch_size]))) for i in range(0, len(flat), batch_size)]
    return torch.cat(out).numpy().reshape(frames.shape[:-3])


def domain_video_frac(net: DomainNet, videos: np.ndarray) -> np.ndarray:
    """Per video: the fraction of its frames called "video" (P > 0.5); (N, H, W, 3) images count as 1-frame videos."""
    if videos.ndim == 4:
        videos = videos[:, None]
    return (video_probability(net, videos) > 0.5).mean(1)


def heldout_accuracy(net: DomainNet, images: np.ndarray, frames: np.ndarray) -> dict[str, float]:
    """Balanced accuracy on held-out clean images vs held-out video frames, and each side's hit rate."""
    img = float((video_probability(net, images) <= 0.5).mean())
    vid = float((video_probability(net, frames) > 0.5).mean())
    return {"accuracy": 0.5 * (img + vid), "images_called_image": img, "frames_called_video": vid}
