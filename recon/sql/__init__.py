"""SQL building blocks shared by the engine: identifier quoting, the rule-expression language, the dialect.

What belongs here: ``quote`` (the one place identifiers are quoted), ``expr`` (the small,
validated expression language that matching rules and the known-discrepancy dictionary are
written in: parse, allow-list check, compile to parameterised SQL plus a sentence a clerk can read),
``dialect`` (the one place SQL only DuckDB speaks is written, behind named methods a Spark dialect
renders its own way), ``neutralise`` (``r_safe``) and ``bind``.

What does not: SQL for a particular match pass or report (``recon.engine``), running statements
(the backend), or YAML loading (``recon.config``). Nothing here touches a database.
"""
