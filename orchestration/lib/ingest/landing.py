"""Finding feed files in a landing folder (layout: docs/feeds.md)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from orchestration.lib.reference import FEEDS

# file naming per feed; the folder names the partition, the file name repeats it
_PATTERNS = {
    "msds": re.compile(
        r"^msds/(?P<school_year>\d{4}-\d{2})/msds_(?P<collection>fall|spring|eoy|srm)_(?P=school_year)(?:_(?P<seq>\d{2}))?\.(?P<fmt>csv|parquet)$"
    ),
    "assessment": re.compile(
        r"^assessment/(?P<school_year>\d{4}-\d{2})/assessment_(?P<window>fall|spring)_(?P=school_year)(?:_(?P<seq>\d{2}))?\.(?P<fmt>csv|parquet)$"
    ),
    "ps_enrollment": re.compile(
        r"^ps_enrollment/FY(?P<fiscal_year>\d{4})/enrollment_(?P<institution>\d{7})_FY(?P=fiscal_year)_(?P<term>SU|FA|WI|SP)\.(?P<fmt>csv|parquet)$"
    ),
    "ps_awards": re.compile(
        r"^ps_awards/FY(?P<fiscal_year>\d{4})/awards_(?P<institution>\d{7})_FY(?P=fiscal_year)\.(?P<fmt>csv|parquet)$"
    ),
}


@dataclass(frozen=True)
class LandingFile:
    feed: str
    path: Path
    relpath: str  # relative to the landing folder, as recorded with every row
    fields: dict

    @property
    def fmt(self) -> str:
        return self.fields["fmt"]


class LandingError(Exception):
    """A landing folder or file that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Skipped:
    """An entry of the landing folder that is not loaded, and why (the landing report)."""

    path: str  # relative to the landing folder
    why: str


def _walk(folder: Path, landing: Path, skipped: list[Skipped]):
    """Every regular file under `folder`, in name order. Symbolic links are not followed
    (one could point outside the landing folder), hidden entries and files still being
    written are left, and an entry that cannot be read is named: each goes to `skipped`."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        skipped.append(Skipped(_rel(folder, landing), f"unreadable ({exc.strerror or type(exc).__name__})"))
        return
    for entry in entries:
        path = Path(entry.path)
        if entry.is_symlink():
            skipped.append(Skipped(_rel(path, landing), "a symbolic link, not followed"))
        elif entry.name.startswith("."):
            skipped.append(Skipped(_rel(path, landing), "hidden"))
        elif entry.is_dir(follow_symlinks=False):
            yield from _walk(path, landing, skipped)
        elif entry.name.endswith(".partial"):
            skipped.append(Skipped(_rel(path, landing), "still being written (.partial)"))
        elif not entry.is_file(follow_symlinks=False):
            skipped.append(Skipped(_rel(path, landing), "not a regular file"))
        elif not os.access(path, os.R_OK):
            skipped.append(Skipped(_rel(path, landing), "unreadable (permission denied)"))
        else:
            yield path


def _unhidden(rel: str) -> str:
    """The path without a leading dot on its file name (a hidden copy of a delivery)."""
    head, _, name = rel.rpartition("/")
    return f"{head}/{name.lstrip('.')}" if head else name.lstrip(".")


def _rel(path: Path, landing: Path) -> str:
    return path.relative_to(landing).as_posix()


def _check_landing(landing: Path) -> None:
    if not landing.is_dir():
        raise LandingError(f"landing folder {landing} does not exist: run `sleds generate` or set SLEDS_LANDING")


def discover(landing: Path, feed: str) -> list[LandingFile]:
    """Every file of `feed` under `landing`, in a stable order.

    Files whose names do not follow docs/feeds.md are reported, not skipped
    silently: a misnamed file would otherwise never be loaded and nobody would know.
    An unreadable entry under the feed's folder stops the build: its partitions would
    otherwise look removed, or half there.
    """
    if feed not in FEEDS:
        raise LandingError(f"unknown feed {feed!r}; feeds are {', '.join(FEEDS)}")
    _check_landing(landing)
    pattern = _PATTERNS[feed]
    root = landing / feed
    found, misnamed, skipped = [], [], []
    for path in _walk(root, landing, skipped) if root.is_dir() and not root.is_symlink() else []:
        rel = path.relative_to(landing).as_posix()
        match = pattern.match(rel)
        if match:
            found.append(LandingFile(feed, path, rel, match.groupdict()))
        else:
            misnamed.append(rel)
    # a link, hidden or special file named like a delivery would shrink its partition on
    # the next load (its rows deleted, the rest reloaded): stop rather than skip it
    unreadable = [s for s in skipped if s.why.startswith("unreadable") or pattern.match(_unhidden(s.path))]
    if unreadable:
        raise LandingError(
            f"{len(unreadable)} entr{'y' if len(unreadable) == 1 else 'ies'} under {root} cannot be loaded, e.g. "
            f"{unreadable[0].path} ({unreadable[0].why}): a delivery must be a readable regular file in the "
            "landing folder; fix it and rerun, nothing was loaded"
        )
    if misnamed:
        raise LandingError(
            f"{len(misnamed)} file(s) under {root} do not follow the {feed} naming in docs/feeds.md, "
            f"e.g. {misnamed[0]!r}"
        )
    return found


def survey(landing: Path) -> list[Skipped]:
    """What the landing folder holds that no feed loads: entries beside the feed folders
    (a misspelt feed folder among them), symbolic links, hidden entries, files still being
    written, unreadable entries. For the landing report of every build."""
    _check_landing(landing)
    skipped: list[Skipped] = []
    for entry in sorted(landing.iterdir()):
        if entry.name in FEEDS and entry.is_dir() and not entry.is_symlink():
            list(_walk(entry, landing, skipped))
        elif entry.is_symlink():
            skipped.append(Skipped(entry.name, "a symbolic link, not followed"))
        elif entry.name.startswith("."):
            skipped.append(Skipped(entry.name, "hidden"))
        else:
            skipped.append(Skipped(entry.name, f"not a feed folder (the feeds are {', '.join(FEEDS)})"))
    return skipped
