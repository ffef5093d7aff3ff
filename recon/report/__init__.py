"""Writers of what users read: results.csv, quarantine.csv, manifest.json (and later HTML/Excel).

Text that came from an input file is neutralised against formula injection in every CSV we write;
amounts stay plain numbers.
"""
