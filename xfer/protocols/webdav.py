"""WebDAV over TLS (``davs://``): folders, renames and copies on top of HTTPS."""

from __future__ import annotations

from dataclasses import dataclass

from .spec import Option, ProtocolOptions, ProtocolSpec, Scheme

__all__ = ["SPEC", "WebDAVOptions"]


@dataclass(frozen=True)
class WebDAVOptions(ProtocolOptions):
    """The ``[webdav]`` table, parsed (defaults are the declarations' below)."""

    #: An interrupted PUT never leaves a half file under the real name.
    upload_temp_name: bool
    #: Whether mv and copy may replace an existing *file* (a folder is never replaced).
    overwrite: bool


SPEC = ProtocolSpec(
    label="WebDAV",
    section="webdav",
    schemes=(Scheme("davs", 443, "xfer.adapters.webdav:WebDAVAdapter", insecure_aliases=("dav", "webdav")),),
    options=(
        Option("upload_temp_name", bool, True, "Upload under a temporary name, then MOVE (an "
               "interrupted upload never leaves a half file under the real name; servers that "
               "refuse MOVE need false)"),
        Option("overwrite", bool, True, "Let mv and copy replace an existing file (a folder is never replaced)"),
    ),
    settings_type=WebDAVOptions,
    packages={"webdav3": "webdavclient3"},
)
