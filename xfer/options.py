"""Every profile option, declared once.

Each :class:`Option` carries its name, type, default, help and whether it is a
secret reference.  That one declaration drives profile validation
(``profiles.py``), the ``xfer profile add`` flags, ``profile show`` (secrets shown
as references only) and the README's option table (``render_markdown``).

Top-level options apply to every protocol; each protocol has its own table
(``[ftps]``, ``[https]``, ``[webdav]``, ``[as2]``) whose keys are declared here
too, so unknown keys are caught before anything connects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["CORE", "DEFAULT_MAX_DEPTH", "SECTIONS", "Option", "render_markdown"]


@dataclass(frozen=True)
class Option:
    """One setting: what it is called, what it holds, and how to explain it."""

    name: str
    type: type
    default: Any
    help: str
    #: Holds a secret *reference* (env:, file:, keyring, prompt), never a secret.
    secret: bool = False
    #: Allowed values, if the option is an enumeration.
    choices: tuple[str, ...] | None = None
    #: A local file path (``~`` expanded, relative paths resolved against the profile's folder).
    path: bool = False
    #: Shown as a flag on ``xfer profile add`` and connection commands.
    cli: bool = True


CORE: Mapping[str, Option] = {
    o.name: o
    for o in (
        Option("url", str, None, "Where to connect: https://, ftps://, ftpes://, davs:// URL", cli=False),
        Option("protocol", str, None, "Set to \"as2\" for an AS2 partner (url is then https://)",
               choices=("as2",)),
        Option("identity", str, None, "PKCS#12 client identity (.p12/.pfx)", path=True),
        Option("identity_password", str, None, "Password of the identity (reference)", secret=True),
        Option("ca", str, None, "PEM file of CA certificates to trust instead of the system store",
               path=True),
        Option("pin", str, None, "SHA-256 fingerprint the server certificate must have (sha256:HEX)"),
        Option("username", str, None, "Login name (FTPS, WebDAV basic auth)"),
        Option("password", str, None, "Login password (reference)", secret=True),
        Option("timeout", float, 30.0, "Seconds to wait for connect and for each reply"),
        Option("tls_min", str, "1.2", "Lowest TLS version offered", choices=("1.2", "1.3")),
        Option("tls_max", str, None, "Highest TLS version offered", choices=("1.2", "1.3")),
        Option("max_listing", int, 64, "MiB of one folder listing (index page, PROPFIND, MLSD) read "
               "before xfer gives up on it"),
    )
}  # fmt: skip

SECTIONS: Mapping[str, Mapping[str, Option]] = {
    "https": {
        o.name: o
        for o in (
            Option("upload_method", str, "PUT", "PUT the body, or POST it as a multipart form",
                   choices=("PUT", "POST")),
            Option("form_field", str, "file", "Form field name for POST uploads"),
            Option("index", str, "auto", "How to list folders: JSON or HTML index page",
                   choices=("auto", "json", "html", "none")),
            Option("verify_upload", bool, True, "After a PUT, HEAD the file and compare its size"),
        )
    },
    "ftps": {
        o.name: o
        for o in (
            Option("epsv", bool, True, "Try EPSV before PASV (passive mode only; the address in a PASV "
                   "reply is always ignored)"),
            Option("upload_temp_name", bool, True,
                   "Upload under a temporary name, then rename (pick-up folders never see half files)"),
            Option("keepalive", float, 60.0, "Seconds: TCP keepalive on the control connection, and idle "
                   "time after which it is checked with NOOP and reopened before reuse (0 = off)"),
        )
    },
    "webdav": {
        o.name: o
        for o in (
            Option("upload_temp_name", bool, True, "Upload under a temporary name, then MOVE (an "
                   "interrupted upload never leaves a half file under the real name; servers that "
                   "refuse MOVE need false)"),
            Option("overwrite", bool, True, "Let mv and copy replace an existing file (a folder is never replaced)"),
        )
    },
    "as2": {
        o.name: o
        for o in (
            Option("as2_from", str, None, "Our AS2 identifier"),
            Option("as2_to", str, None, "The partner's AS2 identifier"),
            Option("partner_cert", str, None, "Partner's certificate (PEM) for encryption and "
                   "MDN verification", path=True),
            Option("sign", str, "sha256", "Signature digest, or none",
                   choices=("none", "sha1", "sha256", "sha384", "sha512")),
            Option("encrypt", str, "aes256-cbc", "Content encryption, or none",
                   choices=("none", "3des", "aes128-cbc", "aes192-cbc", "aes256-cbc")),
            Option("compress", bool, False, "Compress (RFC 5402) before signing"),
            Option("mdn", str, "signed-sync", "Receipt wanted",
                   choices=("none", "unsigned-sync", "signed-sync")),
            Option("content_type", str, None, "Payload Content-Type (guessed from the file if unset)"),
            Option("subject", str, "AS2 message", "Subject header"),
            Option("signing_identity", str, None, "Separate PKCS#12 identity for AS2 signatures",
                   path=True),
            Option("signing_identity_password", str, None, "Password of the signing identity "
                   "(reference)", secret=True),
        )
    },
}  # fmt: skip

#: How many folder levels a recursive download descends by default (``xfer.client.get``'s
#: ``max_depth``, ``xfer get --max-depth``).  Real trees are rarely 20 deep; a server showing
#: an endless tree (a link loop, a hostile listing) is stopped long before the local file
#: system or Python's recursion limit gives out.  A per-run choice, not a profile key.
DEFAULT_MAX_DEPTH = 64

#: Which section a URL scheme reads.
SECTION_FOR_SCHEME: Mapping[str, str] = {
    "https": "https",
    "ftps": "ftps",
    "ftpes": "ftps",
    "davs": "webdav",
    "as2": "as2",
}


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
    for section, options in SECTIONS.items():
        for option in options.values():
            add(f"[{section}] ", option)
    return "\n".join(lines)
