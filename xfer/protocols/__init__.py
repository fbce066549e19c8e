"""One light module per protocol, each with ``SPEC = ProtocolSpec(...)``; :mod:`xfer.registry` lists them.

Nothing here imports a network or crypto library (a test holds that), so URL parsing, profile
validation and ``xfer --help`` stay fast and work without the optional dependencies.
"""
