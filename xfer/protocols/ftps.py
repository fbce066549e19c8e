"""FTPS: FTP over TLS, implicit (``ftps://``, port 990) or explicit with AUTH TLS (``ftpes://``, port 21)."""

from __future__ import annotations

from dataclasses import dataclass

from .spec import Option, ProtocolOptions, ProtocolSpec, Scheme

__all__ = ["SPEC", "FTPSOptions"]


@dataclass(frozen=True)
class FTPSOptions(ProtocolOptions):
    """The ``[ftps]`` table, parsed (defaults are the declarations' below)."""

    epsv: bool
    upload_temp_name: bool
    #: Seconds; 0 turns keepalive off.
    keepalive: float


SPEC = ProtocolSpec(
    label="FTPS",
    section="ftps",
    schemes=(
        Scheme("ftps", 990, "xfer.adapters.ftps:ImplicitFTPSAdapter", note="implicit TLS"),
        Scheme("ftpes", 21, "xfer.adapters.ftps:ExplicitFTPSAdapter", note="explicit TLS",
               insecure_aliases=("ftp",)),
    ),
    options=(
        Option("epsv", bool, True, "Try EPSV before PASV (passive mode only; the address in a PASV "
               "reply is always ignored)"),
        Option("upload_temp_name", bool, True,
               "Upload under a temporary name, then rename (pick-up folders never see half files)"),
        Option("keepalive", float, 60.0, "Seconds: TCP keepalive on the control connection, and idle "
               "time after which it is checked with NOOP and reopened before reuse (0 = off)"),
    ),
    settings_type=FTPSOptions,
    proxy_environment=("ALL_PROXY",),
)
