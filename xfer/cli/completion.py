"""Shell completion of profile names (Typer's own completion: ``xfer --install-completion``).

``PROFILE:`` targets complete to the saved profile names followed by ``:``; a name
alone (``profile show NAME``) completes to the names.  Profiles that fail to load are
still offered: completion must never print an error into the user's shell.
"""

from __future__ import annotations

__all__ = ["complete_doctor_target", "complete_profile", "complete_target"]


def _names() -> list[str]:
    try:
        from ..profiles import list_profiles

        return sorted({name for name, _ in list_profiles()})
    except Exception:  # completion must stay silent whatever the config holds
        return []


def complete_profile(incomplete: str) -> list[str]:
    """Profile names starting with ``incomplete``."""
    return [name for name in _names() if name.startswith(incomplete)]


def complete_target(incomplete: str) -> list[str]:
    """``NAME:`` for each profile starting with ``incomplete``; nothing once a path or URL is typed."""
    if ":" in incomplete or "/" in incomplete:
        return []
    return [f"{name}:" for name in complete_profile(incomplete)]


def complete_doctor_target(incomplete: str) -> list[str]:
    """``doctor`` takes a bare profile name as well as ``NAME:/path``."""
    return complete_profile(incomplete) if ":" not in incomplete and "/" not in incomplete else []
