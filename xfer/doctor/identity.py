"""Step 4: our identity, and the verdict a partner-onboarding engineer needs.

"your issuer CN=… is / is not among the CAs the server accepts", "your certificate
expires in 12 days", "the .p12 lacks the intermediate the server needs".
"""

from __future__ import annotations

from .. import pfx
from ..errors import ClientCertificateRejected, ClientCertificateRequired, IdentityExpired, IdentityFormatError
from ..identity import EXPIRY_WARNING_DAYS, Identity, time_left
from ..tls import unknown_ca_hint
from ..tls.translate import identity_not_sent
from .certs import describe, issued_by_one_of, utc_now
from .handshake import Probe
from .report import SKIP, Step

__all__ = ["identity_step"]


def identity_step(identity: Identity | None, found: Probe, *, warn_days: int | None) -> Step:
    """What we present, and whether the server's request and answer say it will do."""
    step = Step("identity", "Our client identity")
    requested = found.facts.certificate_requested
    if identity is None:
        step.facts = {"configured": False}
        if isinstance(found.error, ClientCertificateRequired):
            return step.fail(found.error, verdict="no identity is configured, but the server requires a client "
                             "certificate")
        step.status = SKIP
        step.lines.append("no identity configured" + (
            " (the server asked for one but let us in without)" if requested else ""))
        return step
    now = utc_now()
    try:
        leaf = identity.certificate
        sent = [leaf, *identity.chain]
    except IdentityFormatError as unreadable:  # OpenSSL took it; cryptography cannot show its details
        step.facts = {"configured": True, "source": identity.source, "sha256": identity.fingerprint}
        return step.fail(unreadable)
    info = describe(leaf, now=now)
    # Names compared as OpenSSL compares them too (review of the TLS fixes, finding H3).
    by_openssl = pfx.self_issued(identity.certificate_der)  # None if its names cannot be read so
    self_issued = leaf.issuer == leaf.subject if by_openssl is None else by_openssl
    step.facts = {
        "configured": True,
        "source": identity.source,
        **info,
        "chain_sent": [c.subject.rfc4514_string() for c in sent],
        "intermediate_included": bool(identity.chain) or self_issued,
        "client_auth": identity.has_client_auth(),
        "issuer_accepted": None,
    }
    step.lines.append(f"{info['subject']}  issued by {info['issuer']}  ({identity.source})")
    step.lines.append(f"    valid {info['not_before'][:10]} to {info['not_after'][:10]} "
                      f"({time_left(identity.not_after, now=now)}), "
                      f"{info['key_type']}{' ' + str(info['key_size']) if info['key_size'] else ''}, "
                      f"clientAuth {'yes' if step.facts['client_auth'] else 'NO'}, {info['sha256']}")
    step.lines.append("chain as sent: " + " -> ".join(step.facts["chain_sent"]))
    issuer = leaf.issuer.rfc4514_string()

    # Validity first: an expired certificate explains any rejection by itself.
    if now > identity.not_after or now < identity.not_before:
        late = now > identity.not_after
        verdict = (f"your certificate expired on {identity.not_after:%Y-%m-%d} "
                   f"({time_left(identity.not_after, now=now).removeprefix('expired ')})"
                   if late else f"your certificate is not valid before {identity.not_before:%Y-%m-%d}")
        # The hint is the dates', also when the server's rejection came with its own (the partner's
        # registration is not what a certificate from the future needs: review R, finding 10).
        hint = ("renew the identity (ask your CA or the partner for a new .p12)" if late else
                f"check this computer's clock; if it is right, the certificate is valid only from "
                f"{identity.not_before:%Y-%m-%d %H:%M} UTC: wait until then, or ask your CA for one valid now")
        error = found.error if isinstance(found.error, ClientCertificateRejected) else IdentityExpired(
            f"client certificate {identity.common_name!r} in {identity.source}: "
            f"{verdict.removeprefix('your certificate ')}",
        )
        return step.fail(error.copy_with(hint=hint), verdict=verdict)
    if info["days_left"] < max(warn_days or 0, EXPIRY_WARNING_DAYS):
        step.verdicts.append(f"your certificate expires in {info['days_left']} days ({identity.not_after:%Y-%m-%d})")
    if not step.facts["client_auth"]:
        step.verdicts.append("your certificate lacks the clientAuth extended key usage: strict servers reject it")

    # The server asked, and OpenSSL sent nothing: our key type is not among the signature algorithms
    # it allows.  No registration or CA list matters then (review TLS-ID, finding H2).
    server = found.error.server if found.error is not None and found.error.server else "the server"
    not_sent = identity_not_sent(found.facts, server=server, identity=identity)
    if not_sent is not None:
        algorithms = ", ".join(found.facts.client_signature_algorithms) or "not listed"
        return step.fail(not_sent, verdict=f"your certificate was not sent: its {info['key_type']} key fits none of "
                         f"the signature algorithms the server accepts ({algorithms})")
    accepted_ders = found.facts.acceptable_client_ca_ders
    rejected = isinstance(found.error, ClientCertificateRejected)
    lacks_intermediate = not identity.chain and not self_issued
    accepts = " | ".join(found.facts.acceptable_client_cas)
    if accepted_ders:
        match = issued_by_one_of(sent, accepted_ders)
        step.facts["issuer_accepted"] = match is not None
        if match is not None and match[0] is leaf:
            step.verdicts.append(f"your issuer {issuer} is among the CAs the server accepts")
        elif match is not None:
            # The CA the server named, reached through a certificate we send along: "your issuer
            # CN=intermediate is among ..." was said when only the root was (review R, finding 10).
            through, name = match
            step.verdicts.append(f"your chain reaches {name.rfc4514_string()}, which is among the CAs the server "
                                 f"accepts (through {through.subject.rfc4514_string()}, sent along)")
        elif lacks_intermediate:
            step.verdicts.append(f"the .p12 lacks the intermediate the server needs: your issuer {issuer} is not "
                                 f"among the CAs the server accepts ({accepts}), and no chain is sent to reach one")
        else:
            step.verdicts.append(f"your issuer {issuer} is not among the CAs the server accepts ({accepts})")
    elif requested:
        step.lines.append("the server named no acceptable CAs: its answer decides")
        if rejected and found.error is not None and "does not trust the issuer" in found.error.message:
            step.facts["issuer_accepted"] = False
            step.verdicts.append(
                f"the .p12 lacks the intermediate the server needs: the server does not trust your issuer {issuer} "
                "on its own" if lacks_intermediate else
                f"your issuer {issuer} is not among the CAs the server accepts (it answered: unknown CA)")
    if rejected and found.error is not None and step.facts["issuer_accepted"] is False:
        hint = ("export the identity again with its intermediate certificate (openssl pkcs12 -export -certfile "
                "intermediate.pem ...)" if lacks_intermediate
                else unknown_ca_hint(identity))
        return step.fail(found.error.copy_with(hint=hint))
    if rejected and found.error is not None and not step.facts["client_auth"]:
        # The server refused a certificate we already knew was unfit for a client: that is the
        # cause, not a missing registration at the partner (review R, finding 8).
        return step.fail(found.error.copy_with(
            hint="get a certificate with the clientAuth extended key usage (TLS Web Client Authentication) "
            "from your CA or the partner"))
    return step
