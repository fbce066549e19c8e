"""Every profile option, declared once.

Each :class:`Option` carries its name, type, default, help and whether it is a
secret reference.  That one declaration drives profile validation
(``profiles.py``), the ``xfer profile add`` flags, ``profile show`` (secrets shown
as references only) and the README's option table (``render_markdown``).

Top-level options apply to every protocol and are declared here; each protocol's own
table (``[ftps]``, ``[https]``...) is declared in its spec (:mod:`xfer.protocols`) and
reached through :func:`sections`, so unknown keys are caught before anything connects.
"""

from __future__ import annotations

from collections.abc import Mapping

from . import registry
from .protocols.spec import Option

__all__ = ["CORE", "DEFAULT_MAX_DEPTH", "Option", "render_markdown", "sections"]


def _protocol_help() -> str:
    """``Set to "as2" for an AS2 partner (url is then https://)``, one sentence per profile-only scheme."""
    return "; ".join(
        f'Set to "{name}" for an {label} partner (url is then {scheme.url_scheme}://)'
        for name, scheme in registry.profile_only_schemes().items()
        for label in [spec.label for spec in registry.PROTOCOLS if scheme in spec.schemes]
    )


CORE: Mapping[str, Option] = {
    o.name: o
    for o in (
        Option("url", str, None, f"Where to connect: {', '.join(f'{s}://' for s in registry.url_schemes())} URL",
               cli=False),
        Option("protocol", str, None, _protocol_help(), choices=tuple(registry.profile_only_schemes())),
        Option("identity", str, None, "PKCS#12 client identity (.p12/.pfx); for sftp:// an SSH private key",
               path=True),
        Option("identity_password", str, None, "Password of the identity, passphrase of an SSH key",
               secret=True),
        Option("ca", str, None, "PEM file of CA certificates to trust instead of the system store",
               path=True),
        Option("pin", str, None, "SHA-256 fingerprint the server certificate must have (sha256:HEX); for "
               "sftp:// the host key's, as ssh-keygen prints it (SHA256:BASE64)"),
        Option("username", str, None, "Login name (FTPS, WebDAV basic auth, SFTP)"),
        Option("password", str, None, "Login password", secret=True),
        Option("timeout", float, 30.0, "Seconds to wait for connect and for each reply"),
        Option("tls_min", str, "1.2", "Lowest TLS version offered", choices=("1.2", "1.3")),
        Option("tls_max", str, None, "Highest TLS version offered", choices=("1.2", "1.3")),
        Option("max_listing", int, 64, "MiB of one folder listing (index page, PROPFIND, MLSD) read "
               "before xfer gives up on it"),
        Option("proxy", str, None, "Proxy for every protocol: http://HOST:PORT (CONNECT), socks5:// or "
               "socks5h:// (names resolved by the proxy); https://HOST:PORT (TLS to the proxy) for HTTPS, WebDAV "
               'and AS2 only; or "direct"; unset: HTTPS_PROXY / ALL_PROXY / NO_PROXY'),
        Option("checksum", bool, False, "Fail a transfer the server offers no hash for (FTP HASH/XSHA256, "
               "HTTP Repr-Digest...) instead of accepting a size check"),
        Option("limit_rate", str, None, "Bytes per second for all transfers of a run together, with K, M "
               "or G (e.g. 10M)"),
        Option("retries", int, 3, "Tries again this many times after a transient failure (a cut connection, "
               "FTP 421/425/426/450/451, HTTP 408/429/502/503/504); 0: never", minimum=0),
        Option("retry_wait", float, 1.0, "Seconds before the first retry; each further one waits up to twice "
               "as long (random, at most 60 s; a server's Retry-After wins)"),
        Option("resume", bool, False, "get: keep the part of a download that failed (with a small "
               "sidecar) and continue it next time, if the remote file is unchanged"),
    )
}

#: How many folder levels a recursive download descends by default (``xfer.client.get``'s
#: ``max_depth``, ``xfer get --max-depth``).  Real trees are rarely 20 deep; a server showing
#: an endless tree (a link loop, a hostile listing) is stopped long before the local file
#: system or Python's recursion limit gives out.  A per-run choice, not a profile key.
DEFAULT_MAX_DEPTH = 64


def sections() -> dict[str, Mapping[str, Option]]:
    """Each protocol's table (``[ftps]``, ``[https]``...), as its spec in :mod:`xfer.registry` declares it."""
    return {spec.section: spec.declared for spec in registry.PROTOCOLS}


def render_markdown() -> str:
    """The option reference as a Markdown table (used for the README)."""
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]

    def add(prefix: str, option: Option) -> None:
        default = "" if option.default is None else f"`{option.default}`"
        kind = "reference" if option.secret else option.type.__name__
        if option.choices:
            kind = " / ".join(option.choices)
        lines.append(f"| `{prefix}{option.name}` | {kind} | {default} | {option.help} |")

    for option in CORE.values():
        add("", option)
    for section, options in sections().items():
        for option in options.values():
            add(f"[{section}] ", option)
    return "\n".join(lines)
