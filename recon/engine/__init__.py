"""The reconciliation core: SQL builders and the logic that sequences them.

Belongs here: matching passes, classification, drill-down, vouchers, the difference locator and
the conservation proof, all as set-based SQL over the store. Does not belong here: file parsing
(``recon.io``), rendering (``recon.report``), flags and printing (``recon.cli``).
"""
