"""Every claim quotes the source text verbatim (shortened with "…" only)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.discovery import load_studies

SOURCE = Path(__file__).resolve().parent.parent / "studies" / "sources" / "seed-articles.txt"


def plain_source() -> str:
    """The seed text with formulas' TeX brace groups dropped, as quotes do."""
    text = SOURCE.read_text()
    previous = None
    while previous != text:  # nested braces: strip innermost groups until none is left
        previous, text = text, re.sub(r"\{[^{}]*\}", "", text)
    return re.sub(r"\s+", " ", text)


CLAIMS = [(name, claim) for name in load_studies().names() for claim in load_studies().get(name).claims]


@pytest.mark.parametrize("study,claim", CLAIMS, ids=[c.id for _, c in CLAIMS])
def test_quote_is_verbatim(study, claim):
    source = plain_source()
    for fragment in claim.quote.split("…"):
        fragment = re.sub(r"\s+", " ", fragment).strip(" ,;")
        if fragment:
            assert fragment in source, f"{claim.id}: not in the seed text: {fragment!r}"


def test_seed_text_is_the_shared_copy():
    shared = SOURCE.parent.parent.parent.parent / "shared" / "sources" / "seed-articles.txt"
    if not shared.exists():
        pytest.skip("no ../shared beside this checkout")
    assert shared.read_text() == SOURCE.read_text()
