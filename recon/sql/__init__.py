"""SQL building blocks shared by the engine: identifier quoting and the rule-expression language.

What belongs here: ``quote`` (the one place identifiers are quoted) and ``expr`` (the small,
validated expression language that matching rules and the known-discrepancy dictionary are
written in: parse, allow-list check, compile to parameterised SQL plus a sentence a clerk can read).

What does not: SQL for a particular match pass or report (``recon.engine``), running statements
(the backend), or YAML loading (``recon.config``). Nothing here touches a database.
"""
