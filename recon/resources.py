"""Where packaged defaults live: format profiles, rules, dictionaries, report templates.

In the source tree the defaults sit at the top level (``rules/``, ``dictionaries/``, ``reports/``);
a wheel ships the same folders as ``recon.defaults.*`` packages, so ``recon`` works after a plain
``pip install .`` from any directory.
"""

from importlib import resources
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent


def _folder(package: str, repo_dir: str) -> Path:
    try:
        path = Path(str(resources.files(package)))
        if path.is_dir():
            return path
    except (ModuleNotFoundError, TypeError):
        pass
    return _REPO / repo_dir


def profiles_dir() -> Path:
    return Path(str(resources.files("recon.io.profiles")))


def rules_dir() -> Path:
    return _folder("recon.defaults.rules", "rules")


def dictionaries_dir() -> Path:
    return _folder("recon.defaults.dictionaries", "dictionaries")


def reports_dir() -> Path:
    return _folder("recon.defaults.reports", "reports")
