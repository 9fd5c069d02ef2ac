"""Splice ``reports/findings.md`` (a figures-stage output) into the project README between two markers.

``make repro`` runs ``python -m animatelab.readme_splice`` after ``dvc repro``, so the README's headline
numbers come from the pipeline while no DVC stage owns (or rewrites) the hand-edited README.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

FINDINGS_START = "<!-- findings:start (reports/findings.md from the figures stage, spliced by `make repro`; do not edit) -->"
FINDINGS_END = "<!-- findings:end -->"


def splice_file(readme: str | Path = "README.md", findings: str | Path = "reports/findings.md") -> bool:
    """Put ``findings`` (written by the figures stage) between the markers of ``readme``, with its
    relative links re-rooted at the README's folder."""
    readme, findings = Path(readme), Path(findings)
    if not findings.is_file():
        return False
    prefix = Path(os.path.relpath(findings.parent, readme.parent or ".")).as_posix() + "/"
    return splice_findings(readme, findings.read_text().splitlines(), prefix)


def splice_findings(readme: Path, lines: list[str], link_prefix: str) -> bool:
    """Replace the text between the FINDINGS markers of ``readme`` (the project README) so its
    headline numbers come from the pipeline too; figure links are re-rooted with ``link_prefix``.
    Returns False (and writes nothing) when the file or its markers are absent."""
    if not readme.is_file():
        return False
    text = readme.read_text()
    if FINDINGS_START not in text or FINDINGS_END not in text:
        return False
    head, rest = text.split(FINDINGS_START, 1)
    _, tail = rest.split(FINDINGS_END, 1)
    body = "\n".join(re.sub(r"\]\((?![a-z]+:|/)", f"]({link_prefix}", line) for line in lines)
    readme.write_text(f"{head}{FINDINGS_START}\n{body.strip()}\n{FINDINGS_END}{tail}")
    return True


if __name__ == "__main__":  # make repro: refresh the project README's findings block after dvc repro
    import sys

    ok = splice_file(*sys.argv[1:3])
    print("README findings block " + ("updated" if ok else "left as it was (no findings file or no markers)"))
