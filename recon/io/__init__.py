"""Reading what clerks download: containers, encodings, header detection, format profiles.

Belongs here: turning bytes into canonical store rows with provenance, quarantine and control
proofs. Does not belong here: matching or classification (``recon.engine``).
"""
