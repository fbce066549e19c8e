"""HTTPS: files over HTTP with a client certificate (``https://``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..errors import ConfigError
from .spec import Option, ProfileFacts, ProtocolOptions, ProtocolSpec, Scheme

__all__ = ["SPEC", "HTTPSOptions"]


@dataclass(frozen=True)
class HTTPSOptions(ProtocolOptions):
    """The ``[https]`` table, parsed (defaults are the declarations' below)."""

    upload_method: Literal["PUT", "POST"]
    form_field: str
    index: Literal["auto", "json", "html", "none"]
    verify_upload: bool


def _validate(facts: ProfileFacts) -> None:
    if not facts.table["form_field"]:
        raise ConfigError(f"{facts.where}: [https] form_field must not be empty")
    if "form_field" in facts.given and facts.table["upload_method"] != "POST":
        raise ConfigError(f"{facts.where}: [https] form_field only applies with upload_method = \"POST\"")


SPEC = ProtocolSpec(
    label="HTTPS",
    section="https",
    schemes=(Scheme("https", 443, "xfer.adapters.https:HTTPSAdapter", insecure_aliases=("http",)),),
    options=(
        Option("upload_method", str, "PUT", "PUT the body, or POST it as a multipart form", choices=("PUT", "POST")),
        Option("form_field", str, "file", "Form field name for POST uploads"),
        Option("index", str, "auto", "How to list folders: JSON or HTML index page",
               choices=("auto", "json", "html", "none")),
        Option("verify_upload", bool, True, "After a PUT, HEAD the file and compare its size"),
    ),
    settings_type=HTTPSOptions,
    validate=_validate,
)
