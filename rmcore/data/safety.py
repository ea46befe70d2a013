"""Path checks for data that arrives from elsewhere (an inbox, a scheduled run's parameters).

A path named by a person on the command line is theirs to choose; a path that reaches us through a
drop folder or an event is not, so it must stay inside the data root it was meant for. Symlinks are
followed before the check: a link inside the root that points outside escapes just like `../`.
"""

from __future__ import annotations

from pathlib import Path


class PathEscapeError(ValueError):
    """A data path resolves outside the folder it must stay in."""


def resolve_under(path: str | Path, root: str | Path) -> Path:
    """`path` with symlinks and `..` resolved, relative paths taken from `root`; refused if it leaves `root`.

    Raises:
        PathEscapeError: naming the path, what it resolves to and the root.
    """
    root_resolved = Path(root).expanduser().resolve()
    candidate = Path(path).expanduser()
    if not candidate.is_absolute():
        candidate = root_resolved / candidate
    resolved = candidate.resolve()
    if resolved != root_resolved and root_resolved not in resolved.parents:
        raise PathEscapeError(
            f"{path}: resolves to {resolved}, outside the data root {root_resolved} "
            "(paths with '..' or symlinks that leave the root are refused)"
        )
    return resolved


def is_under(path: str | Path, root: str | Path) -> bool:
    """True when `resolve_under` would accept `path`."""
    try:
        resolve_under(path, root)
    except PathEscapeError:
        return False
    return True


def is_missing_local_path(name: str) -> bool:
    """True for a name that can only be a local path (./x, /x, ~/x, a/b/c) and does not exist."""
    if Path(name).expanduser().exists():
        return False
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name
