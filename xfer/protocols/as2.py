"""AS2 (RFC 4130): signed, encrypted messages with receipts, posted to an ``https://`` URL.

Profile-only: no one types ``as2://``; a profile says ``protocol = "as2"`` and gives the
partner's https:// URL.  Its typed settings hold the loaded signing identity and partner
certificate, so the adapter receives objects, not file names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..log import logger
from .spec import Option, ProfileFacts, ProtocolOptions, ProtocolSpec, Scheme, SettingsSource

if TYPE_CHECKING:
    from cryptography import x509

    from ..identity import Identity

__all__ = ["MDN_MODES", "SPEC", "AS2Options"]

#: Receipt modes; anything else (say the message builder's "signed") would skip the signature check.
MDN_MODES = ("none", "unsigned-sync", "signed-sync")
_log = logger(__name__)


@dataclass(frozen=True)
class AS2Options(ProtocolOptions):
    """The ``[as2]`` table with its files loaded: identities and the partner certificate as objects."""

    as2_from: str
    as2_to: str
    sign: str
    encrypt: str
    compress: bool
    mdn: str
    content_type: str | None
    subject: str | None
    #: Signs messages: ``[as2] signing_identity``, else the connection's identity (the adapter
    #: falls back to it when settings were built by hand without one).
    signing_identity: Identity | None = field(repr=False)
    #: Encrypts to the partner and verifies its signed receipts.
    partner_certificate: x509.Certificate | None = field(repr=False)
    #: Where messages are posted (the profile URL); None: the connection's root.
    url: str | None = None
    #: Verifies the partner's signed receipts when it signs with another certificate than
    #: ``partner_certificate`` (``[as2] partner_mdn_cert``); None: ``partner_certificate`` does.
    partner_mdn_certificate: x509.Certificate | None = field(default=None, repr=False)


def _validate(facts: ProfileFacts) -> None:
    where, as2 = facts.where, facts.table
    missing = [k for k in ("as2_from", "as2_to") if not as2.get(k)]
    if missing:
        raise ConfigError(f"{where}: [as2] needs {', '.join(missing)}")
    if as2["encrypt"] != "none" and not as2.get("partner_cert"):
        raise ConfigError(f"{where}: [as2] encrypt = {as2['encrypt']!r} needs partner_cert to encrypt to",
                          hint="set partner_cert to the partner's certificate (PEM), or encrypt = \"none\"")
    if as2.get("signing_identity_password") and not as2.get("signing_identity"):
        raise ConfigError(f"{where}: [as2] signing_identity_password is set but signing_identity is not")
    if as2["sign"] != "none" and not (facts.values.get("identity") or as2.get("signing_identity")):
        raise ConfigError(f"{where}: [as2] sign = {as2['sign']!r} needs an identity to sign with",
                          hint="set identity (or [as2] signing_identity), or sign = \"none\"")
    if as2["mdn"] == "signed-sync" and not (as2.get("partner_cert") or as2.get("partner_mdn_cert")):
        raise ConfigError(f"{where}: a signed MDN needs [as2] partner_cert (or partner_mdn_cert) to verify it")


def _build(source: SettingsSource) -> AS2Options:
    table = source.table
    signer = source.identity
    signing = source.path("signing_identity")
    if signing is not None:
        from ..identity import Identity

        signer = Identity.load(signing, source.secret("signing_identity_password"))
        for message in signer.check_usable():
            if source.warn is not None:
                source.warn(message)
    partner = source.path("partner_cert")
    certificate = _certificate(partner)
    if certificate is not None:
        _check_partner(certificate, partner, encrypt=table["encrypt"], warn=source.warn)
    return AS2Options(
        as2_from=table["as2_from"], as2_to=table["as2_to"], sign=table["sign"], encrypt=table["encrypt"],
        compress=table["compress"], mdn=table["mdn"], content_type=table["content_type"], subject=table["subject"],
        signing_identity=signer, partner_certificate=certificate, url=source.url,
        partner_mdn_certificate=_certificate(source.path("partner_mdn_cert")),
    )


def _from_mapping(options: Mapping[str, Any]) -> AS2Options:
    """Settings a library caller built by hand (no profile): only what keeps the send safe is checked.

    What is not given takes the declared default (signed, encrypted, signed receipt), as in a
    profile.  The rest fails safe later: the message builder refuses missing AS2 names,
    encryption without a partner certificate and signing without an identity before anything
    is sent, and a signed receipt that cannot be verified is recorded as unverified.
    """
    given = {**SPEC.defaults(), **{key: value for key, value in options.items() if value is not None}}
    mdn = str(given["mdn"])
    if mdn not in MDN_MODES:
        raise ConfigError(f"[as2] mdn = {mdn!r} is not supported", hint="use none, unsigned-sync or signed-sync")
    subject = options.get("subject")
    certificate = _certificate(options.get("partner_cert"))
    if certificate is not None:
        _check_partner(certificate, options["partner_cert"], encrypt=str(given["encrypt"]), warn=None)
    return AS2Options(
        as2_from=str(options.get("as2_from") or ""), as2_to=str(options.get("as2_to") or ""),
        sign=str(given["sign"]), encrypt=str(given["encrypt"]),
        compress=bool(given["compress"]), mdn=mdn, content_type=options.get("content_type") or None,
        subject=None if subject is None else str(subject), signing_identity=options.get("signing_identity"),
        partner_certificate=certificate,
        url=str(options.get("profile_url") or "") or None,
        partner_mdn_certificate=_certificate(options.get("partner_mdn_cert")),
    )


def _check_partner(
    certificate: x509.Certificate, path: Any, *, encrypt: str, warn: Callable[[str], None] | None
) -> None:
    """Refuse a partner certificate that may not encrypt when we encrypt; warn when it is out of
    date or its key too small (:func:`~xfer.identity.certificate_weakness`).

    Only a warning: partners often keep decrypting with the old key while a renewal is under
    way, and the receipt still says whether it worked (a receipt it signs is no proof, though:
    :class:`~xfer.adapters.as2.AS2Adapter` refuses that one).
    """
    from cryptography import x509

    name = f"AS2 partner certificate {certificate.subject.rfc4514_string()} ({path})"
    if encrypt != "none":
        try:
            usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
        except x509.ExtensionNotFound:
            usage = None  # no keyUsage: any use is allowed (RFC 5280 §4.2.1.3)
        if usage is not None and not usage.key_encipherment:
            raise ConfigError(
                f"[as2] encrypt = {encrypt!r}: the {name} may not be used for encryption "
                "(its keyUsage lacks keyEncipherment)",
                hint="ask the partner for their encryption certificate, or set encrypt = \"none\"",
            )
    from ..identity import certificate_weakness

    weakness = certificate_weakness(certificate)
    if weakness is not None:
        message = (f"{name} {weakness}; the partner may refuse what is encrypted to it, and receipts it "
                   "signs prove nothing: ask for their current certificate")
        if warn is not None:
            warn(message)
        else:
            _log.warning("%s", message)


def _certificate(path: Any) -> x509.Certificate | None:
    if not path:
        return None
    from ..identity import load_certificate

    return load_certificate(path)


SPEC = ProtocolSpec(
    label="AS2",
    section="as2",
    schemes=(Scheme("as2", 443, "xfer.adapters.as2:AS2Adapter", url_scheme="https"),),
    options=(
        Option("as2_from", str, None, "Our AS2 identifier"),
        Option("as2_to", str, None, "The partner's AS2 identifier"),
        Option("partner_cert", str, None, "Partner's certificate (PEM) for encryption and "
               "MDN verification", path=True),
        Option("partner_mdn_cert", str, None, "Partner's MDN-signing certificate (PEM), when it "
               "differs from partner_cert", path=True),
        Option("sign", str, "sha256", "Signature digest, or none",
               choices=("none", "sha1", "sha256", "sha384", "sha512")),
        Option("encrypt", str, "aes256-cbc", "Content encryption, or none",
               choices=("none", "3des", "aes128-cbc", "aes192-cbc", "aes256-cbc")),
        Option("compress", bool, False, "Compress (RFC 5402) before signing"),
        Option("mdn", str, "signed-sync", "Receipt wanted", choices=MDN_MODES),
        Option("content_type", str, None, "Payload Content-Type (guessed from the file if unset)"),
        Option("subject", str, "AS2 message", "Subject header"),
        Option("signing_identity", str, None, "Separate PKCS#12 identity for AS2 signatures",
               path=True),
        Option("signing_identity_password", str, None, "Password of the signing identity",
               secret=True),
    ),
    settings_type=AS2Options,
    validate=_validate,
    build=_build,
    from_mapping=_from_mapping,
)
