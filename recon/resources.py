"""Where packaged defaults live: format profiles, rules, dictionaries, report templates.

In the source tree the defaults sit at the top level (``rules/``, ``dictionaries/``, ``reports/``);
a wheel ships the same folders as ``recon.defaults.*`` packages, so ``recon`` works after a plain
``pip install .`` from any directory.
"""

from importlib import resources
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_REPO = _PACKAGE.parent


def _folder(name: str) -> Path:
    """``recon/defaults/NAME`` in an installed wheel, else the top-level ``NAME/`` of the source tree."""
    installed = _PACKAGE / "defaults" / name
    return installed if installed.is_dir() else _REPO / name


def profiles_dir() -> Path:
    return Path(str(resources.files("recon.io.profiles")))


def rules_dir() -> Path:
    return _folder("rules")


def dictionaries_dir() -> Path:
    return _folder("dictionaries")


def reports_dir() -> Path:
    return _folder("reports")
