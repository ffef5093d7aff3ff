"""The ``finding`` column in SQL: a stable code with its parameters, never a sentence.

Each step that decides a line writes, beside its Chinese explanation, why it decided so as a code of
``recon.labels.FINDINGS`` with the values the sentence needs: ``AMOUNT_DIFFERS{"diff":"-5.00",…}``.
``finding`` builds that SQL expression; it refuses a code the labels do not define, or parameters
other than the ones its sentences use, so every code the engine can write has a zh and an en
sentence (``recon.labels.render``) by construction.

Parameters are SQL expressions of the step (column names of its own tables), cast to text and put in
a JSON object by DuckDB's ``json_object`` (keys sorted, compact, strings escaped): a value from an
input file is data inside the JSON, never SQL.
"""

from __future__ import annotations

from recon.labels import FINDINGS, SEPARATOR, params_of
from recon.sql.quote import quote_literal


def finding(code: str, /, **params: str) -> str:
    """The SQL expression of one finding item: ``'CODE'`` or ``'CODE' || json_object(...)``."""
    if code not in FINDINGS:
        raise KeyError(f"finding code {code!r} has no labels in recon.labels.FINDINGS")
    if tuple(sorted(params)) != params_of(code):
        raise KeyError(f"finding {code} takes {', '.join(params_of(code)) or 'no parameters'}, "
                       f"not {', '.join(sorted(params)) or 'none'}")
    if not params:
        return quote_literal(code)
    args = ", ".join(f"{quote_literal(k)}, CAST({params[k]} AS VARCHAR)" for k in sorted(params))
    return f"({quote_literal(code)} || CAST(json_object({args}) AS VARCHAR))"


def then(*items: str) -> str:
    """Finding expressions as one cell (``first; second; …``) in order; a NULL item is left out."""
    return f"concat_ws({quote_literal(SEPARATOR)}, {', '.join(items)})"
