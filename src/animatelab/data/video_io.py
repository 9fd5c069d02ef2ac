"""Video files in and out: h264 mp4 writing (PyAV), metadata probing (PyAV), clip decoding (decord).

PyAV only reads container metadata (cheap, no decoding); every pixel is decoded by decord,
resized at decode time, so a long or high-resolution video costs only the frames asked for.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np


# x264's macroblock-tree rate control reads heap memory it never wrote: the same frames came out
# with other bytes once the process's heap held other garbage (7 of 746 clips per synth_data run,
# found by encoding after filling freed memory with 0x00 / 0xff). mbtree=0 removes that read;
# one thread everywhere (x264, its lookahead, swscale) keeps scheduling out of the bytes.
X264_PARAMS = "threads=1:lookahead-threads=1:sliced-threads=0:mbtree=0"


def write_mp4(path: str | Path, frames: np.ndarray, fps: int, crf: int = 23, lossless: bool = False) -> None:
    """Write uint8 (F, H, W, 3) RGB frames as an h264/yuv420p mp4 (moov atom first, like web video);
    ``lossless``: x264's RGB encoder (libx264rgb, rgb24) at qp 0 instead, which decodes bit-exactly
    (``crf`` unused): the world's frames without codec artefacts.

    The bytes are a function of the input only (see ``X264_PARAMS``); the container holds no
    timestamps. PyAV defaults to ``thread_count=0`` (one per CPU) with slice threading, which
    its RGB->YUV conversion also uses: both are pinned to one thread before the codec opens.
    """
    import av

    frames = np.ascontiguousarray(frames, dtype=np.uint8)
    _, height, width, _ = frames.shape
    with av.open(str(path), "w", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264rgb" if lossless else "libx264", rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "rgb24" if lossless else "yuv420p"
        stream.codec_context.thread_count = 1
        stream.codec_context.thread_type = "NONE"
        rate = {"qp": "0"} if lossless else {"crf": str(crf)}
        stream.options = {**rate, "preset": "medium", "threads": "1", "x264-params": X264_PARAMS}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_gif(path: str | Path, video: np.ndarray, fps: int) -> None:
    """One 256-colour palette for the whole clip (quantising each frame on its own was 4x slower
    and makes colours flicker between frames)."""
    from PIL import Image

    palette = Image.fromarray(video.reshape(-1, video.shape[2], 3)).quantize(256, dither=Image.Dither.NONE)
    frames = [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in video]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=round(1000 / fps), loop=0)



@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    codec: str


class VideoError(Exception):
    """A video that cannot be used; ``reason`` is the key counted in the prepare summary."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def probe(path: str | Path) -> VideoInfo:
    """Container metadata of the first video stream, or :class:`VideoError` saying why not."""
    import av

    path = Path(path)
    if not path.exists():
        raise VideoError("missing")
    if path.stat().st_size == 0:
        raise VideoError("empty_file")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError("not_video", "no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or 0
            return VideoInfo(stream.width, stream.height, float(rate), stream.codec_context.name)
    except av.error.FFmpegError as err:
        # An mp4 header with no readable index is a cut-off download, anything else is not video.
        with path.open("rb") as fh:
            head = fh.read(12)
        reason = "truncated" if head[4:8] == b"ftyp" else "not_video"
        raise VideoError(reason, str(err)) from None


def _short(message: str) -> str:
    """decord's first error line without its clock time and source location, so that logs of
    two runs on the same inputs are identical."""
    line = message.splitlines()[0] if message else ""
    return re.sub(r"^\[[\d:]+\] \S+:\d+: ", "", line)[:200]


def resized_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(width, height) after scaling so the short side equals ``short_side`` (aspect kept)."""
    scale = short_side / min(width, height)
    return max(short_side, round(width * scale)), max(short_side, round(height * scale))


def center_crop(frames: np.ndarray, size: int) -> np.ndarray:
    """Centre ``size``×``size`` crop of (F, H, W, C) frames."""
    h, w = frames.shape[1:3]
    top, left = (h - size) // 2, (w - size) // 2
    return frames[:, top : top + size, left : left + size]


def open_reader(path: str | Path, width: int = -1, height: int = -1):
    """A decord VideoReader (resizing at decode when width/height are given), or VideoError."""
    import decord

    try:
        return decord.VideoReader(str(path), width=width, height=height, num_threads=1)
    except (decord.DECORDError, RuntimeError) as err:
        message = str(err)
        # decord reads packets while opening: a read failure there means the data is cut off;
        # otherwise the container parsed but decord has no decoder for the stream.
        reason = "truncated" if "av_read_frame" in message else "unreadable_codec"
        raise VideoError(reason, _short(message)) from None


class ResizeAtDecodeFailed(VideoError):
    """decord 0.6 cannot copy out frames resized to some widths (e.g. 8, 16, 24, 48, 72 px:
    'DECORDArrayCopyFromTo: The size must exactly match'); the caller decodes natively instead."""


def read_frames(reader, indices: list[int]) -> np.ndarray:
    """Decode only ``indices`` (uint8 N×H×W×3); a decode failure means the file is cut off."""
    import decord

    try:
        return reader.get_batch(indices).asnumpy()
    except (decord.DECORDError, RuntimeError, IndexError) as err:
        message = str(err)
        if "DECORDArrayCopyFromTo" in message:
            raise ResizeAtDecodeFailed("resize_failed", _short(message)) from None
        raise VideoError("truncated", _short(message)) from None


def decode_resized(
    path: str | Path, info: VideoInfo, short_side: int, pick: Callable[[int], list[int]]
) -> tuple[np.ndarray, str]:
    """Frames ``pick(num_frames)`` with the short side scaled to ``short_side``: resized by decord
    at decode (memory ~ output size), or, for the widths decord cannot resize to, decoded natively
    and resized with OpenCV (INTER_AREA). Returns (frames, how), how in {"none", "decord", "cv2"}.
    ``pick`` may raise :class:`VideoError` (e.g. too short)."""
    width, height = resized_size(info.width, info.height, short_side)
    if (width, height) == (info.width, info.height):
        reader = open_reader(path)
        return read_frames(reader, pick(len(reader))), "none"
    reader = open_reader(path, width, height)
    indices = pick(len(reader))
    try:
        return read_frames(reader, indices), "decord"
    except ResizeAtDecodeFailed:
        import cv2

        native = read_frames(open_reader(path), indices)
        resized = [cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in native]
        return np.stack(resized), "cv2"
