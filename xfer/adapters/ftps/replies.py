"""FTP reply codes -> the xfer error a user can act on.

RFC 959 codes are coarse: 550 means "not found" on one server and "permission
denied" on another, and vsftpd says only "Failed to open file." for both.  So the
text is read where the code is shared; when the text does not tell, the adapter
asks the server whether the path exists (:func:`is_ambiguous_550`).
"""

# S321 flags every ftplib name as "FTP is insecure"; here it is only ftplib's exception type.
# ruff: noqa: S321

from __future__ import annotations

import ftplib
import re
from collections.abc import Iterable

from ...errors import (
    AuthenticationFailed,
    ClientCertificateRejected,
    ConnectionDropped,
    ErrorFields,
    InsecureSchemeRefused,
    RemoteError,
    RemoteExists,
    RemoteFolderNotEmpty,
    RemoteNotFound,
    RemotePermissionDenied,
    RemoteStorageFull,
    ServerError,
    TLSError,
    UnsupportedOperation,
    XferError,
)
from ...numbers import server_int, server_status

__all__ = [
    "NOT_UNDERSTOOD",
    "TRANSIENT_HINT",
    "expect_reply",
    "is_ambiguous_550",
    "listing_not_read",
    "login_error",
    "protocol_error",
    "refuses_session_reuse",
    "reply_code",
    "reply_error",
    "reply_text",
    "says_exists",
    "says_no_files",
    "says_not_found",
    "says_storage_full",
    "size_in_150",
]

#: The hint of every 4xx (transient) refusal that has no more specific one.
TRANSIENT_HINT = "the server says this is temporary; try again"

#: Replies meaning "this server does not implement that command" (RFC 959 500/502/504).
NOT_UNDERSTOOD = ("500", "502", "504")

_NOT_FOUND = re.compile(
    r"no such file|not found|does ?n[o']t exist|not exist|cannot find|can't find|no files found"
    r"|could not get file size|not a (regular )?file|is not a directory|not a directory",
    re.IGNORECASE,
)
_DENIED = re.compile(
    r"permission|denied|not allowed|privilege|forbidden|access|prohibited|read-only|refused",
    re.IGNORECASE,
)
_FULL = re.compile(r"space|quota|disk full|storage|exceed|full", re.IGNORECASE)
_EXISTS = re.compile(r"exists", re.IGNORECASE)
#: "550 Directory not empty" (pyftpdlib, proftpd, pure-ftpd: strerror(ENOTEMPTY)).
_NOT_EMPTY = re.compile(r"not empty|non-?empty", re.IGNORECASE)
_CERTIFICATE = re.compile(r"certificate|\bcert\b|tls|ssl", re.IGNORECASE)
_REUSE = re.compile(r"reuse|resum|session", re.IGNORECASE)


def reply_code(reply: str) -> str:
    """The three-digit code of a reply (``"550"``), or ``""`` if there is none."""
    head = reply[:3]
    return head if server_status(head) is not None else ""


def reply_text(reply: str) -> str:
    """The human part of a reply, on one line (multi-line replies joined)."""
    lines = [line[4:] if reply_code(line) else line.strip() for line in reply.splitlines()]
    return " ".join(part.strip() for part in lines if part.strip()) or reply.strip()


def is_ambiguous_550(reply: str, path: str | None = None) -> bool:
    """True for a 550 whose text (the quoted ``path`` aside) says neither "not found" nor "denied"."""
    reason = _reason(reply, path)
    return reply_code(reply) == "550" and not any(
        pattern.search(reason) for pattern in (_NOT_FOUND, _DENIED, _NOT_EMPTY))


#: A listing's *success* reply that says the folder was not read: vsftpd (postlogin.c) answers
#: LIST of a folder it may enter but not open (``x`` without ``r``, an SELinux label) with an
#: empty listing and "226 Transfer done (but failed to open directory)."; ProFTPD (mod_ls.c) and
#: pure-ftpd (ls.c) end a LIST whose glob failed with "226 Read error during globbing of X"
#: (or "Out of memory ...", "Unknown error ...") over no entries (review of 8ce053a, finding 3).
_NOT_READ = re.compile(
    r"(fail(ed)?|unable|cannot|can't|could ?n[o']t)( to)? (open|read|list)|permission denied|access denied"
    r"|during globbing of",
    re.IGNORECASE,
)

#: pure-ftpd's words, in each language it is built in (src/messages_*.h), for a listing it cut
#: at its ``-L`` limit (10,000 names by default, MLSD and LIST alike: ls.c) and for a LIST glob
#: that failed (read error, out of memory), each with the encoding its file is written in.  The
#: server sends those bytes as they are; xfer reads a reply as UTF-8, a byte that is not as a
#: surrogate (connection.py): each is matched so, and as UTF-8 (a build whose file was
#: re-encoded).  Exactly: Big5's second bytes include ASCII letters (``X``, ``I``, ``u``), so
#: "a run of non-ASCII" matched no zh_TW reply (review of fe5f526, finding 5).
_LATIN1, _LATIN2 = "iso-8859-1", "iso-8859-2"
_PUREFTPD_CUT = (
    ("Output truncated to %u matches", "ascii"), ("Výstup zkrácen na %u shod", _LATIN2),
    ("Data afrundet til %u sammenfald", _LATIN1), ("Anzeige auf %u Einträge beschränkt.", _LATIN1),
    ("Salida truncada a %u ocurrencias", _LATIN1), ("Sortie tronquee a %u elements", "ascii"),
    ("Je t'en file %u et c'est deja pas mal", "ascii"), ("Kimenet %u részre csonkítva", _LATIN2),
    ("Output troncato a %u corrispondenze", _LATIN1), ("%u 개의 결과 표시", "euc-kr"),
    ("Output afgekort naar %u overeenstemmingen", "ascii"), ("Resultat er avkortet til %u treff", _LATIN1),
    ("Wyjście obcięte do %u pasujących", _LATIN2), ("Resultado truncado em %u ocorrências", _LATIN1),
    ("Rezultat trunchiat la %u potriviri", _LATIN2), ("Вывод обрезан до %u совпадений", "koi8-r"),
    ("Vystup skrateny na %u zhod", _LATIN2), ("Rezultati i shkurtuar ne %u krahasime", _LATIN1),
    ("Utdata trunkeras till %u träffar", _LATIN1), ("Çıktı kısaltması %u uygun", "iso-8859-9"),
    ("输出截短到 %u 符合", "gb2312"), ("輸出截短到 %u 符合", "big5"),
)
_PUREFTPD_GLOB_FAILED = (
    ("Chyba čtení při globbovaní %s", _LATIN2), ("Během globbingu %s došla paměť", _LATIN2),
    ("Læsefejl under gennemgang af %s", _LATIN1), ("Løb tør for hukommelse under gennemgang af %s", _LATIN1),
    ("Lesefehler beim Vervollständigen von %s.", _LATIN1),
    ("Nicht genug Speicher beim Vervollständigen von %s.", _LATIN1),
    ("Error de lectura durante %s", _LATIN1), ("Sin memoria durante globbing de %s", _LATIN1),
    ("Erreur de lecture pendant le globbing de %s", "ascii"),
    ("Depassement de memoire pendant le globbing de %s", "ascii"), ("Ca me fait chier d'evaluer %s", "ascii"),
    ("Bordel, y a pas assez de memoire pour %s", "ascii"), ("Olvasási hiba %s teljesítése közben", _LATIN2),
    ("Elfogyott a memória %s teljesítése közben", _LATIN2), ("Errore di lettura durante il globbing di %s", _LATIN1),
    ("Memoria esaurita durante il globbing di %s", _LATIN1), ("%s 를 globbing 하던중 읽기 오류 발생", "euc-kr"),
    ("%s 를 globbing 하던중 메모리 초과", "euc-kr"), ("Leesfout tijdens globbing van %s", "ascii"),
    ("Niet genoeg geheugen tijdens globbing van %s", "ascii"), ("Lesefeil under gjennomgang av %s", _LATIN1),
    ("Slutt på minnet under gjennomgang av %s", _LATIN1), ("Błąd odczytu podczas rozwijania %s", _LATIN2),
    ("Zabrakło pamięci podczas rozwijania %s", _LATIN2), ("Erro de leitura durante expansão de %s", _LATIN1),
    ("Sem memória (devido expansão de %s)", _LATIN1), ("Eroare de citire la operatia de globalizare a %s", _LATIN2),
    ("Nu mai exista memorie (datorita operatiei de globalizare a %s)", _LATIN2),
    ("Ошибка чтения при обработке %s", "koi8-r"), ("Недостаточно памяти для обработки запроса %s", "koi8-r"),
    ("Chyba citania pri globbovani %s", _LATIN2), ("Pocas globbingu %s dosla pamat", _LATIN2),
    ("Gabim leximi gjate globbing-ut te %s", _LATIN1), ("Mbaroi memoria gjate globbing-ut te %s", _LATIN1),
    ("Läsfel under globbing av %s", _LATIN1), ("Minnet är slut pga globbing av %s", _LATIN1),
    ("%s esnasında  okuma hatası", "iso-8859-9"), ("%s esnasında bellek taşması oluştu", "iso-8859-9"),
    ("形成 %s 时发生读取错误", "gb2312"), ("形成 %s 时，内存不足", "gb2312"), ("形成 %s 時發生讀取錯誤", "big5"),
    ("形成 %s 時，記憶體不足", "big5"),
)


def _printf_pattern(templates: Iterable[tuple[str, str]]) -> re.Pattern[str]:
    """One pattern matching a whole reply line printed from any of ``templates`` (C format
    strings with the encoding they are sent in: ``%u`` a number, ``%s`` anything), as xfer
    reads it, and as the same words in UTF-8."""
    def one(text: str) -> str:
        return "".join(r"\d+" if part == "%u" else ".*" if part == "%s" else re.escape(part)
                       for part in re.split(r"(%u|%s)", text))

    variants = dict.fromkeys(
        variant for template, encoding in templates
        for variant in (template, template.encode(encoding).decode("utf-8", "surrogateescape")))
    return re.compile("|".join(f"(?:{one(variant)})" for variant in variants))


_CUT = _printf_pattern(_PUREFTPD_CUT)
_GLOB_FAILED = _printf_pattern(_PUREFTPD_GLOB_FAILED)


def _line_texts(reply: str) -> list[str]:
    """The text of each line of a (multi-line) reply, its code taken off."""
    return [(line[4:] if reply_code(line) else line).strip() for line in reply.splitlines()]


def listing_not_read(reply: str) -> bool:
    """True for a 2xx reply ending a listing that says the folder could not be read.

    Such a listing is no listing: taken as an empty folder, ``sync --delete`` removed the local
    copies of everything in it (review D, finding 2).
    """
    return reply_code(reply).startswith("2") and (
        bool(_NOT_READ.search(reply_text(reply))) or any(_GLOB_FAILED.fullmatch(text) for text in _line_texts(reply)))


def listing_cut(reply: str) -> bool:
    """True for a 2xx reply ending a listing that says the server left names out.

    The listing looks whole (a success code, a clean close_notify); only the reply says it is
    not.  Taken as whole, every name after the cut looked absent: ``get -r`` fetched part of
    the folder with exit 0, and ``sync --delete`` down removed the local copies of the rest.
    Only a whole line in pure-ftpd's own words counts: a reply quoting a folder named
    ``truncated-2024`` (FileZilla Server's ``226 Successfully transferred "/truncated-2024"``)
    is no cut (review of 8ce053a, finding 6).
    """
    return reply_code(reply).startswith("2") and any(_CUT.fullmatch(text) for text in _line_texts(reply))


#: Words that say a name is not there, and only that: not "not a regular file" (vsftpd and
#: pyftpdlib say so of a folder, a device), not a refusal.  With the missing-file words of the
#: bed's daemons: pure-ftpd's "Can't check for file existence", vsftpd's SIZE "Could not get
#: file size." (measured; not its MDTM's "Could not get file modification time.", which it and
#: others say of a folder or any stat failure: review of f4bc8d5).  Not ProFTPD's MLST
#: "cannot be listed": it says so of a file it cannot stat for any reason (mod_facts.c), whose
#: MLSD leaves it out too; asked again without MLST, its SIZE says which.
_GONE = re.compile(
    r"no such file|not found|does ?n[o']t exist|not exist|cannot find|can't find|could not get file size"
    r"|can't check for file existence"
    # FileZilla Server 1.x's words for a missing file (FluentFTP reads them so), the whole phrase
    # ("Could not open the file: Too many open files" is no absence); and "not found" in the
    # languages servers are most often set to (review of 6100fe2, finding 3).
    r"|could ?n[o']t open the file or directory|nicht gefunden|introuvable|no encontrado|non trovato",
    re.IGNORECASE,
)


def says_gone(reply: str, path: str | None = None) -> bool:
    """True for a reply whose words (the quoted ``path`` aside) say the name is not there, and
    nothing that refuses: what lets ``sync --delete`` down delete a local copy the listing did
    not show (review of 15ffd9e, finding 3: "550 Unable to handle command" is ProFTPD's MLST
    refused by ``<Limit>``, "Operation not permitted" pyftpdlib's EPERM: no such words)."""
    reason = _reason(reply, path)
    return bool(_GONE.search(reason)) and not _DENIED.search(reason)


def says_denied(reply: str, path: str | None = None) -> bool:
    """True for a reply whose words (the quoted ``path`` aside) refuse: "Permission denied",
    "Access denied", "not allowed"."""
    return bool(_DENIED.search(_reason(reply, path)))


def says_not_found(reply: str, path: str | None = None) -> bool:
    """True for a 450/550 whose words (the quoted ``path`` aside) say there is no such file.

    Not every 550 about a file means that: proftpd's ``<Limit SIZE>`` or a server's "file too
    large for SIZE" refuses SIZE for a file that is there, and RETR would still work.
    """
    reason = _reason(reply, path)
    return reply_code(reply) in ("450", "550") and bool(_NOT_FOUND.search(reason) or _NOT_RETRIEVABLE.search(reason))


#: pyftpdlib's SIZE and MDTM of anything but a regular file, whether a folder or nothing.
_NOT_RETRIEVABLE = re.compile(r"not retrievable", re.IGNORECASE)


def protocol_error(message: str) -> ftplib.Error:
    """A reply xfer cannot read, as ftplib says it: ``message`` must not start with a reply code,
    so that the session is dropped (:func:`~.connection.breaks_session`)."""
    return ftplib.error_proto(message)


def expect_reply(reply: str, code: str, command: str) -> str:
    """``reply`` if it carries ``code``, the one success RFC 959/3659 allows for ``command``.

    ``sendcmd`` takes any 1xx, 2xx or 3xx as success, so an extra reply the server sent earlier
    (a second 226 after a transfer) was read as the answer to the next command, and every reply
    after it answered the command before (review L, finding 17).  A protocol error, worded with
    no reply code in front: the session is dropped (:func:`~.connection.breaks_session`).
    """
    if reply_code(reply) != code:
        raise protocol_error(
            f"the server answered {command} with {reply_text(reply)[:200]!r} ({reply_code(reply) or 'no code'}), "
            f"where only {code} is a success: the dialogue is out of step"
        )
    return reply


#: A refused listing that means "empty" on proftpd and wu-ftpd (their NLST habit, on LIST at times).
_NO_FILES = re.compile(r"no files? (were )?found|no such files", re.IGNORECASE)


def says_no_files(reply: str) -> bool:
    """True for a 450/550 answering a listing with "No files found": an empty folder, on servers
    that say so, or no folder at all, on others.  Only an answer that the folder exists tells."""
    return reply_code(reply) in ("450", "550") and bool(_NO_FILES.search(reply_text(reply)))


def says_exists(reply: str) -> bool:
    """True for a refusal that says the target already exists (IIS: "Cannot create a file when
    that file already exists.")."""
    return reply_code(reply) in ("450", "550", "553") and bool(_EXISTS.search(reply_text(reply)))


#: A size at the very end of a 150 (vsftpd: "150 Opening BINARY mode data connection for x (1000 bytes).").
_SIZE_AT_END = re.compile(r"\((\d+) bytes\)\.?\s*\Z", re.IGNORECASE)


def size_in_150(reply: str) -> int | None:
    """The size a ``150`` announces, or None: only a ``(N bytes)`` ending the reply, outside quotes.

    Many servers echo the file name in the 150 (FileZilla Server 0.9: ``150 Opening data channel
    for file download from server of "/invoice (5 bytes).edi"``).  ftplib's ``parse150`` takes the
    first ``(N bytes)`` anywhere, that name's too, and a download cut after 5 bytes of 1000 was
    accepted as whole (review 26, finding 2).  The size servers add comes last (vsftpd, proftpd),
    after any name: a match inside an open quote, or before more words, is no size.
    """
    if not reply.startswith("150"):
        return None
    found = _SIZE_AT_END.search(reply)
    if found is None or reply.count('"', 0, found.start()) % 2:
        return None
    return server_int(found.group(1))


def _facts(reply: str, *, server: str, path: str | None) -> ErrorFields:
    code = reply_code(reply)
    return {"server": server, "path": path, "reply_code": int(code) if code.isdigit() else None}


def login_error(reply: str, *, server: str, username: str) -> XferError:
    """A refused USER/PASS (530 and friends), telling a refused certificate from a refused login."""
    text = reply_text(reply)
    facts = _facts(reply, server=server, path=None)
    if _CERTIFICATE.search(text):
        # The login is fine; the certificate is what must change: same exit code (4) as
        # a certificate refused during the handshake.
        return ClientCertificateRejected(
            f"{server} refused the login of {username!r} because of the client certificate: "
            f"{reply.strip()}",
            hint="the certificate is valid for TLS but not registered for this FTP account; "
            "ask the partner which certificate belongs to this user",
            **facts,
        )
    if reply_code(reply) == "421":
        return ConnectionDropped(f"{server} closed the session during login: {reply.strip()}", **facts)
    return AuthenticationFailed(
        f"{server} refused the login of {username!r} (wrong user name or password): {reply.strip()}",
        hint="check --username and --password (the TLS client certificate was accepted)",
        **facts,
    )


def refuses_session_reuse(reply: str) -> bool:
    """Whether ``reply`` refuses a data connection for not resuming the control connection's TLS
    session (vsftpd, proftpd: ``522``; some servers say it with a ``425``)."""
    code = reply_code(reply)
    return code == "522" or (code == "425" and bool(_REUSE.search(reply_text(reply))))


def _reason(reply: str, path: str | None) -> str:
    """A reply's words without the path it quotes, for reading the reason.

    proftpd leads with the path (``550 /in/full.csv: No such file``), others quote it
    (``550 "/in/a": ...``): a file or folder name must not read as the reason ("full",
    "access", "not-found").  Only those forms go, never a bare substring: the name ``a`` or
    ``full`` is also a letter or a word of "No space left on device", "Disk full".
    """
    text = reply_text(reply)
    if not path or not path.strip("/"):
        return text
    name = re.escape(path.rstrip("/").rsplit("/", 1)[-1])
    # Leading: the path as sent, the bare name, or the server's own absolute path ending in it
    # (its folders may hold spaces: anything but a colon or a quote up to the last slash).
    text = re.sub(rf'^\s*"?(?:[^:"]*/)?{name}/?"?:\s*', "", text)
    return text.replace(f'"{path}"', " ")


def says_storage_full(reply: str) -> bool:
    """Whether a failure reply blames space or a quota (a 426 "disk full" is no cut)."""
    return bool(_FULL.search(_reason(reply, None)))


def reply_error(reply: str, *, server: str, action: str, path: str | None = None) -> XferError:
    """Map a failed reply to an xfer error.  ``action`` reads "uploading", "listing", ...

    The caller resolves an ambiguous 550 (see :func:`is_ambiguous_550`) before calling,
    or accepts the generic :class:`RemoteError` this returns for it.
    """
    code = reply_code(reply)
    reason = _reason(reply, path)  # "550 /in/full.csv: No such file" is no full disk
    where = f" {path}" if path else ""
    said = f"(server said: {reply.strip()})"
    facts = _facts(reply, server=server, path=path)
    if code == "421":
        return ConnectionDropped(
            f"{server} closed the session while {action}{where} {said}",
            hint="the server may be shutting down or limiting connections; try again later",
            **facts,
        )
    if refuses_session_reuse(reply):
        return TLSError(
            f"{server} refused the TLS data connection while {action}{where} {said}",
            hint="the server requires the data connection to resume the control connection's "
            "TLS session; xfer always offers it, so the server's session cache may have expired "
            "or it only resumes TLS 1.2 sessions (try --tls-max 1.2)",
            **facts,
        )
    if code in ("425", "426"):
        if _FULL.search(reason) and code == "426":
            return RemoteStorageFull(f"{server} has no space left for{where} {said}",
                                     hint="free space on the server or ask the partner to raise the quota", **facts)
        return ConnectionDropped(
            f"{server}: the data connection failed while {action}{where} {said}",
            hint="a firewall may block passive-mode ports, or the connection was cut; try again",
            **facts,
        )
    if code == "550" and _NOT_EMPTY.search(reason):
        # Before the "full" words: proftpd quotes the path ("550 /in/full: Directory not empty").
        return RemoteFolderNotEmpty.refused(said=said, **facts)
    if code in ("552", "452") or (code in ("451", "450", "550") and _FULL.search(reason)
                                  and not _DENIED.search(reason)):
        return RemoteStorageFull(
            f"{server} has no space (or quota) left while {action}{where} {said}",
            hint="free space on the server or ask the partner to raise the quota",
            **facts,
        )
    if code == "553":
        return RemotePermissionDenied(
            f"{server} refused the file name{where} while {action} {said}",
            hint="the name may contain characters the server refuses, or the folder is not writable",
            **facts,
        )
    if code == "530":
        return AuthenticationFailed(f"{server}: not logged in while {action}{where} {said}", **facts)
    if code == "534":
        return InsecureSchemeRefused(f"{server} refused a TLS protection request while {action} {said}", **facts)
    if code in NOT_UNDERSTOOD:
        return UnsupportedOperation(f"{server} does not support {action}{where} {said}", **facts)
    if code in ("550", "450"):
        if _NOT_FOUND.search(reason):
            return RemoteNotFound(f"{server}:{where} does not exist {said}", **facts)
        if _EXISTS.search(reason):
            return RemoteExists(f"{server}:{where} already exists {said}", **facts)
    if code.startswith("4"):
        # 4xx is RFC 959's "transient negative completion", whatever the text says: IIS
        # answers a file in use with "450 The process cannot access the file ...", which
        # the "denied" words below would turn into a permanent permission error.
        return ServerError(f"{server} failed {action}{where}, temporarily {said}", hint=TRANSIENT_HINT, **facts)
    if code == "550":
        if _DENIED.search(reason):
            return RemotePermissionDenied(f"{server}: permission denied while {action}{where} {said}", **facts)
        return RemoteError(f"{server} refused {action}{where} {said}", **facts)
    return RemoteError(f"{server} refused {action}{where} {said}", **facts)
