"""Shell completion of profile names (Typer's own completion: ``xfer --install-completion``).

``PROFILE:`` targets complete to the saved profile names followed by ``:``; a name
alone (``profile show NAME``) completes to the names.  Profiles that fail to load are
still offered: completion must never print an error into the user's shell.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["complete_as2_target", "complete_doctor_target", "complete_local_or_target", "complete_more_sources",
           "complete_profile", "complete_remote_then_local", "complete_target"]


def _names(protocol: str | None = None) -> list[str]:
    """Profile names; with ``protocol`` (a spec's section, ``"as2"``) only its profiles, and the
    broken ones (their protocol is unknown)."""
    try:
        from ..profiles import list_profiles

        return sorted(name for name, profile in list_profiles()
                      if protocol is None or isinstance(profile, Exception) or profile.spec.section == protocol)
    except Exception:  # completion must stay silent whatever the config holds
        return []


def _matching(incomplete: str, protocol: str | None = None) -> list[str]:
    return [name for name in _names(protocol) if name.startswith(incomplete)]


def complete_profile(incomplete: str) -> list[str]:
    """Profile names starting with ``incomplete``."""
    return _matching(incomplete)


def complete_target(incomplete: str) -> list[str]:
    """``NAME:`` for each profile starting with ``incomplete``; nothing once a path or URL is typed."""
    if ":" in incomplete or "/" in incomplete:
        return []
    return [f"{name}:" for name in complete_profile(incomplete)]


def complete_doctor_target(incomplete: str) -> list[str]:
    """``doctor`` takes a bare profile name as well as ``NAME:/path``."""
    return complete_profile(incomplete) if ":" not in incomplete and "/" not in incomplete else []


def complete_as2_target(incomplete: str) -> list[str]:
    """``as2 send`` takes an AS2 profile's name (or ``NAME:/name``): only AS2 profiles are offered."""
    return _matching(incomplete, "as2") if ":" not in incomplete and "/" not in incomplete else []


def _local(incomplete: str) -> list[str]:
    """Local files and folders (``NAME/``) starting with ``incomplete``."""
    import glob

    return sorted(path + ("/" if os.path.isdir(path) else "") for path in glob.glob(glob.escape(incomplete) + "*"))


def complete_local_or_target(incomplete: str) -> list[str]:
    """A word that is a local path or a remote target (``sync SRC DST``, ``put``'s later words).

    ``NAME:`` for matching profiles, and then the matching local names too: a non-empty
    answer replaces the shell's own file completion, which must not lose ``partner-notes.txt``
    to ``partner:``.  No matching profile: nothing, and the shell completes file names itself.
    """
    targets = complete_target(incomplete)
    return [*targets, *_local(incomplete)] if targets else []


def complete_remote_then_local(ctx: Any, incomplete: str) -> list[str]:
    """``get SOURCE... LOCAL``: click hands every word to SOURCE...; the first is a remote target,
    a later one may be the local name, which must not be lost to ``NAME:``.  (With one word
    typed, click holds it as LOCAL.)"""
    if ctx.params.get("sources") or ctx.params.get("local"):
        return complete_local_or_target(incomplete)
    return complete_target(incomplete)


def complete_more_sources(ctx: Any, incomplete: str) -> list[str]:
    """``put SOURCE... TARGET``: click hands every word to SOURCE... (TARGET's own completion is
    never asked), so from the second word on, a word may be the target.  The first word is a
    local file: the shell's file completion.  (With one word typed, click holds it as TARGET.)"""
    return complete_local_or_target(incomplete) if ctx.params.get("sources") or ctx.params.get("target") else []
