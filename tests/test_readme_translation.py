"""README.ru.md is README.md in Russian, and the two cannot drift apart.

Both must name the same make targets, the same UPPER_CASE names (environment variables, and the placement fields and
settings written the same way) and the same `/api` routes; name every target `make help` lists and every variable
config.py reads; link to each other at the top; keep their code blocks (the fences with a language) identical and
their headings, table rows and list items in the same number and order; and every `#anchor` link in them must
resolve to a heading of the same file. Prose is translated freely; what a reader types or the API answers is not.
"""

from __future__ import annotations

import re
from functools import cache

import pytest

from tests.support.paths import REPO_ROOT

ENGLISH, RUSSIAN = "README.md", "README.ru.md"
READMES = (ENGLISH, RUSSIAN)

# A fenced block: its language (empty for the diagrams and the layout, which are translated) and its body.
FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`([^`]+)`")
# `make test`, `make -s jwt ...`, `FUZZ_EXAMPLES=5000 make test ...`; the target is what follows make and its flags.
MAKE_COMMAND = re.compile(r"\bmake(?:\s+-[a-zA-Z]+)*\s+([a-z][a-z0-9-]*)")
# JWT_SECRET, TEST_DB_* (a family, named as such), DJANGO_SUPERUSER_USERNAME in `DJANGO_SUPERUSER_USERNAME/EMAIL/...`.
UPPER_NAME = re.compile(r"(?<![A-Za-z0-9_])[A-Z][A-Z0-9]*(?:_(?:[A-Z0-9]+|\*))+(?![A-Za-z0-9_])")
# /api, /api/getToken, /api/openapi.json, /api/admin/ (in prose, code, tables and URLs alike).
ROUTE = re.compile(r"/api(?![\w-])(?:/[\w-]+(?:\.[\w-]+)*)*/?")
# The Makefile's own rule for what `make help` lists.
HELP_TARGET = re.compile(r"^([a-zA-Z0-9_-]+):.*## ", re.MULTILINE)
# config.py reads the environment only through environs' `env.<type>("NAME", ...)`.
ENV_CALL = re.compile(r"\benv\.(\w+)\(\s*([^,)]*)")
ENV_READERS = {"str", "int", "bool", "list", "float", "path", "log_level"}
ENV_NAME = re.compile(r'"([A-Z][A-Z0-9_]*)"')


@cache
def read(name: str) -> str:
    return (REPO_ROOT / name).read_text(encoding="utf-8")


def fences(text: str) -> list[tuple[str, str]]:
    return FENCE.findall(text)


def without_fences(text: str) -> str:
    return FENCE.sub("", text)


def code(text: str) -> list[str]:
    """Every piece of code: fenced blocks' bodies and inline code spans (which may wrap across lines)."""
    return [body for _, body in fences(text)] + CODE_SPAN.findall(without_fences(text))


@cache
def help_targets() -> frozenset[str]:
    targets = frozenset(HELP_TARGET.findall((REPO_ROOT / "Makefile").read_text()))
    assert {"help", "run", "test"} <= targets, f"the Makefile's help rule no longer matches: found {sorted(targets)}"
    return targets


def make_targets(text: str) -> set[str]:
    """`make <target>` in code, plus targets listed on their own (`lint`, `audit`, ...)."""
    pieces = code(text)
    commands = {target for piece in pieces for target in MAKE_COMMAND.findall(piece)}
    listed = {piece.strip() for piece in pieces if piece.strip() in help_targets()}
    return commands | listed


def upper_names(text: str) -> set[str]:
    return {name for piece in code(text) for name in UPPER_NAME.findall(piece)}


def routes(text: str) -> set[str]:
    return set(ROUTE.findall(text))


@cache
def config_variables() -> frozenset[str]:
    """The variables config.py reads; fails on a read this test cannot follow rather than overlook it."""
    names, unfollowed = set(), []
    for method, argument in ENV_CALL.findall((REPO_ROOT / "config.py").read_text()):
        if method == "read_env":
            continue
        name = ENV_NAME.fullmatch(argument.strip())
        if method in ENV_READERS and name:
            names.add(name.group(1))
        else:
            unfollowed.append(f"env.{method}({argument.strip()}")
    assert not unfollowed, f"config.py reads the environment in a way this test does not follow: {unfollowed}"
    assert len(names) > 30, f"found only {sorted(names)} in config.py: the pattern no longer matches its reads"
    return frozenset(names)


def differences(what: str, english: set[str], russian: set[str]) -> str:
    return (
        f"{ENGLISH} and {RUSSIAN} name different {what}:\n"
        f"  only in {ENGLISH}: {', '.join(sorted(english - russian)) or '-'}\n"
        f"  only in {RUSSIAN}: {', '.join(sorted(russian - english)) or '-'}"
    )


NAMED = {
    "make targets": make_targets,
    "environment variables (UPPER_CASE names in code)": upper_names,
    "API routes": routes,
}


@pytest.mark.parametrize("what", list(NAMED))
def test_both_readmes_name_the_same(what):
    english, russian = NAMED[what](read(ENGLISH)), NAMED[what](read(RUSSIAN))
    assert english, f"found no {what} in {ENGLISH}: the pattern no longer matches it"
    assert english == russian, differences(what, english, russian)


@pytest.mark.parametrize("readme", READMES)
def test_every_target_make_help_lists_is_named(readme):
    not_named = help_targets() - make_targets(read(readme))
    assert not_named == set(), f"{readme}: targets `make help` lists that it does not name: {sorted(not_named)}"


@pytest.mark.parametrize("readme", READMES)
def test_every_variable_config_reads_is_named(readme):
    missing = config_variables() - upper_names(read(readme))
    assert not missing, f"{readme} does not name these variables config.py reads: {sorted(missing)}"


@pytest.mark.parametrize(("readme", "other"), [(ENGLISH, RUSSIAN), (RUSSIAN, ENGLISH)])
def test_each_links_to_the_other_under_its_title(readme, other):
    title, blank, link = read(readme).splitlines()[:3]
    assert title.startswith("# "), f"{readme} should start with its title"
    assert not blank, f"{readme}'s title should be followed by a blank line"
    assert re.fullmatch(rf"\[[^\]]+\]\({re.escape(other)}\)", link), f"{readme}'s third line should link to {other}"


def test_code_blocks_are_the_same():
    english = [block for block in fences(read(ENGLISH)) if block[0]]
    russian = [block for block in fences(read(RUSSIAN)) if block[0]]
    assert len(english) == len(russian), f"{len(english)} code blocks in {ENGLISH}, {len(russian)} in {RUSSIAN}"
    for number, (ours, theirs) in enumerate(zip(english, russian, strict=True), start=1):
        assert ours == theirs, f"code block {number} ({ours[0]}) differs:\n{ours[1]}\n---\n{theirs[1]}"


def structure(text: str) -> dict[str, list[str]]:
    prose = without_fences(text).splitlines()
    return {
        "headings (levels)": [line.split(" ", 1)[0] for line in prose if re.match(r"#{1,6} ", line)],
        "table rows (cells)": [str(line.count("|")) for line in prose if line.startswith("|")],
        "list items (indent and marker)": [
            match.group(1) for line in prose if (match := re.match(r"(\s*(?:[-*]|\d+\.)) ", line))
        ],
    }


def test_same_structure():
    english, russian = structure(read(ENGLISH)), structure(read(RUSSIAN))
    for what in english:
        assert english[what] == russian[what], (
            f"{what} differ:\n  {ENGLISH}: {english[what]}\n  {RUSSIAN}: {russian[what]}"
        )


def github_anchor(heading: str) -> str:
    """The id GitHub gives a heading: its text lower-cased, punctuation dropped (letters of any script, digits,
    `_` and `-` kept), spaces turned into hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    found, seen = set(), dict[str, int]()
    for heading in re.findall(r"^#{1,6} (.+)$", without_fences(text), re.MULTILINE):
        anchor = github_anchor(heading)
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        found.add(f"{anchor}-{count}" if count else anchor)
    return found | set(re.findall(r"<a\s+(?:id|name)=\"([^\"]+)\"", text))


@pytest.mark.parametrize("readme", READMES)
def test_internal_links_resolve(readme):
    text = read(readme)
    links = re.findall(r"\]\(#([^)]+)\)", without_fences(text))
    assert links, f"no internal links found in {readme}"
    unresolved = sorted(set(links) - anchors(text))
    assert not unresolved, (
        f"{readme} links to anchors no heading has: {unresolved}; its anchors: {sorted(anchors(text))}"
    )
