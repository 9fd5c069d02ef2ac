"""WebVid-format CSVs (``videoid,contentUrl,duration,page_dir,name``) and where their videos live."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

WEBVID_COLUMNS = ("videoid", "contentUrl", "duration", "page_dir", "name")


@dataclass(frozen=True)
class WebVidRow:
    videoid: str
    content_url: str
    duration: str
    page_dir: str
    caption: str
    caption_issue: str | None = None  # "empty_caption" | "invalid_utf8_caption" | None


def iso_duration(seconds: float) -> str:
    """WebVid's duration format, e.g. ``PT00H00M03S``."""
    s = int(round(seconds))
    return f"PT{s // 3600:02d}H{s % 3600 // 60:02d}M{s % 60:02d}S"


def write_webvid_csv(path: str | Path, rows: list[dict[str, str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=WEBVID_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def read_webvid_csv(path: str | Path) -> list[WebVidRow]:
    """Rows of a WebVid CSV. Bytes that are not UTF-8 do not abort the read: the row's caption
    is flagged ``invalid_utf8_caption`` (and decoded with U+FFFD) so the caller decides."""
    text = Path(path).read_bytes().decode("utf-8", errors="surrogateescape")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in ("videoid", "name") if c not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"{path}: not a WebVid CSV, missing column(s) {missing}")
    rows = []
    for rec in reader:
        raw = rec.get("name") or ""
        try:
            raw.encode("utf-8")
            caption, issue = raw.strip(), None
        except UnicodeEncodeError:
            caption = raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace").strip()
            issue = "invalid_utf8_caption"
        if issue is None and not caption:
            issue = "empty_caption"
        rows.append(
            WebVidRow(
                videoid=_clean(rec.get("videoid")),
                content_url=_clean(rec.get("contentUrl")),
                duration=_clean(rec.get("duration")),
                page_dir=_clean(rec.get("page_dir")),
                caption=caption,
                caption_issue=issue,
            )
        )
    return rows


def _clean(value: str | None) -> str:
    return (value or "").encode("utf-8", "surrogateescape").decode("utf-8", "replace").strip()


def find_video(video_dir: str | Path, row: WebVidRow) -> Path:
    """``{video_dir}/{videoid}.mp4`` or ``{video_dir}/{page_dir}/{videoid}.mp4`` (WebVid's layout);
    the first candidate when neither exists, so the caller reports it missing."""
    flat = Path(video_dir) / f"{row.videoid}.mp4"
    if flat.exists() or not row.page_dir:
        return flat
    nested = Path(video_dir) / row.page_dir / f"{row.videoid}.mp4"
    return nested if nested.exists() else flat
