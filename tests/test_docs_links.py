"""Every relative link in README.md and docs/*.md leads somewhere: the file exists, and so does the `#anchor`'s heading.

The manuals moved out of the README into docs/ and link to each other by section; a renamed heading or a moved file
would otherwise leave dead links that nobody notices until a reader clicks one. Anchors follow GitHub's rule for
headings: lowercase, punctuation dropped, spaces turned into '-', and a repeated heading gets '-1', '-2', … .
No network: links with a scheme (https:, mailto:) are not followed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
INLINE_CODE = re.compile(r"`+[^`]*`+")
# [text](target) and ![alt](target), with an optional "title"; the text may hold inline code but no nested brackets.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//")


def prose_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) outside fenced code blocks: a `[x](y)` inside a code block is not a link."""
    in_fence = False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if not in_fence:
            yield number, line


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading contributes its text only
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    for _, line in prose_lines(path.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def broken_links(path: Path, root: Path = REPO_ROOT) -> list[str]:
    """One line per link in `path` that leads nowhere, saying where it is and what is missing."""
    problems = []
    for number, line in prose_lines(path.read_text(encoding="utf-8")):
        for target in LINK.findall(INLINE_CODE.sub("", line)):
            if SCHEME.match(target):
                continue
            file_part, _, anchor = target.partition("#")
            where = f"{path.relative_to(root)}:{number}: ({target})"
            dest = (path.parent / file_part).resolve() if file_part else path
            if not dest.is_relative_to(root.resolve()) or not dest.exists():
                problems.append(f"{where} → no file {file_part!r}")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                problems.append(f"{where} → {dest.relative_to(root.resolve())} has no heading with anchor #{anchor}")
    return problems


@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_relative_link_resolves(doc: Path) -> None:
    problems = broken_links(doc)
    assert not problems, (
        "Dead links (fix the target, or the heading it points to — anchors are the heading lowercased, "
        "punctuation dropped, spaces as '-'):\n" + "\n".join(problems)
    )


def test_docs_are_found() -> None:
    # An empty glob would make the parametrized test vacuous.
    names = {p.name for p in DOC_FILES}
    assert {"README.md", "operations.md", "security.md", "performance.md", "change-safety.md"} <= names


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("What `make demo` shows", "what-make-demo-shows"),
        ("Reading encrypted orders: the codec server", "reading-encrypted-orders-the-codec-server"),
        ("The Order API's cost", "the-order-apis-cost"),
        ("Versioned rollouts: Worker Versioning", "versioned-rollouts-worker-versioning"),
        ("How an order runs: retries, idempotency", "how-an-order-runs-retries-idempotency"),
        ("Web UI — traces", "web-ui--traces"),
    ],
)
def test_slug_follows_github(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_a_dead_link_is_reported(tmp_path: Path) -> None:
    """The checker itself: a missing file, a missing heading and a link in a code block (ignored)."""
    (tmp_path / "other.md").write_text("# Other\n\n## A section: here\n\n## A section: here\n", encoding="utf-8")
    doc = tmp_path / "doc.md"
    doc.write_text(
        "# Doc\n\n[ok](other.md#a-section-here) [dup](other.md#a-section-here-1) [self](#doc) [web](https://x.org)\n"
        "[gone](missing.md) [no heading](other.md#nowhere) [self gone](#nope)\n"
        "```\n[in code](missing-too.md)\n```\n`[inline](missing-three.md)`\n",
        encoding="utf-8",
    )
    problems = broken_links(doc, root=tmp_path)
    assert len(problems) == 3, problems
    assert "doc.md:4: (missing.md) → no file 'missing.md'" in problems[0]
    assert "#nowhere" in problems[1] and "#nope" in problems[2]


def test_readme_opens_with_the_two_commands() -> None:
    """A newcomer's first two commands stay the README's first code block, and both are Makefile targets."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    first_block = readme.split("```", 2)[1]
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()[1:] if line.strip()]
    assert commands == ["make demo", "make test"]
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
