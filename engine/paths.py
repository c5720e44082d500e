"""Where the project's files live: the repository root in a source checkout, else the working directory."""

from __future__ import annotations

from pathlib import Path


def project_root() -> Path:
    """The directory holding processes/, local_rules/ and var/.

    In a source checkout (the normal case: `make run`, an editable install) that is the repository,
    found next to this package; an installed wheel has no repository, so the working directory is used.
    """
    here = Path(__file__).resolve().parent.parent
    if (here / "pyproject.toml").is_file():
        return here
    return Path.cwd()
