"""recon: batch reconciliation of platform settlements, ERP receivables and bank statements.

The importable API lives in :mod:`recon.api`; the command line in :mod:`recon.cli` is a thin shell
over it. ``recon/io`` reads the files clerks download, ``recon/engine`` matches in DuckDB and
``recon/report`` writes what users read.
"""

__version__ = "0.1.0"
