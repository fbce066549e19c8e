"""One light module per protocol, each with ``SPEC = ProtocolSpec(...)``; :mod:`xfer.registry` lists them.

A spec holds what a protocol *is*: schemes and default ports, its profile table (options,
checks, the typed settings it becomes) and the dotted path of its adapter.  Adding a protocol:
a spec module here, its line in :data:`xfer.registry.PROTOCOLS`, its adapter under
:mod:`xfer.adapters` and its test server under :mod:`xfer.testing`.

Nothing here imports a network or crypto library at import time (a test holds that), so URL
parsing, profile validation and ``xfer --help`` stay fast and work without optional packages.
"""
