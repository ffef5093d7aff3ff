"""Natural keys (order numbers, transaction and refund numbers) as fixed-width integers for joins.

The engine groups and joins order-level lines by keys that are strings of any length. Each key is
hashed once to an integer by the expression ``key_hash`` renders (NULL stays NULL, so a line without
a key still matches nothing), and the joins and groups go by that integer. A hash can collide: two
different order numbers may share one. So every join and group on a hash also carries the key
itself (``ON a.okey = b.okey AND a.order_no = b.order_no``, ``GROUP BY okey, mkey``): rows whose
hashes are equal are compared by their original keys, and two different keys are never merged,
whatever the hash does. ``HASH`` is the one place the function is named; a test replaces it with
one that maps every key to the same integer and checks that no two orders are matched together.

The hash needs no dialect: DuckDB's ``hash`` is 64-bit and Spark's ``hash`` 32-bit (murmur3), and since
equal hashes are always compared by their keys, a narrower hash only means more keys to compare.
"""

from __future__ import annotations

# the hash of a non-NULL key ``{k}`` (DuckDB's 64-bit hash of the string)
HASH = "hash({k})"


def key_hash(k: str) -> str:
    """The SQL of ``HASH`` of key expression ``k`` (a column), NULL for NULL."""
    return f"CASE WHEN {k} IS NOT NULL THEN {HASH.format(k=k)} END"
