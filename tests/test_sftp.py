"""SFTP against the in-process asyncssh server: the contract suite, the CLI end to end, and every refusal.

Each refusal is one ``xfer: error:`` line with the exit code the README promises: an unknown
host key (4, with its fingerprint and the known_hosts line to add), a pin that does not match
(4), an expired certificate (4), a certificate for another principal (4), a wrong passphrase
(4), a refused login (6), a missing file (6), permission denied (6).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest
import tomli_w

import xfer
from tests.helpers import one_error, run
from xfer.adapters.base import Adapter
from xfer.adapters.sftp import SFTPAdapter
from xfer.errors import (
    ClientCertificateRejected,
    ConfigError,
    ConnectionDropped,
    ConnectTimeout,
    IdentityExpired,
    IdentityPasswordError,
    RemoteExists,
    RemoteIsFolder,
    RemoteNotFound,
    ServerCertificateUntrusted,
)
from xfer.profiles import Profile
from xfer.testing.contract import AdapterContract, make_file, sha256_of
from xfer.testing.sftp_server import SFTPServer, SSHTestKeys, create_ssh_keys


@pytest.fixture(scope="session")
def ssh_keys(tmp_path_factory: pytest.TempPathFactory) -> SSHTestKeys:
    return create_ssh_keys(tmp_path_factory.mktemp("ssh-pki"))


@pytest.fixture
def server_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sftp-root")  # not under tmp_path: the contract checks what tmp_path holds


@pytest.fixture
def sftpd(ssh_keys: SSHTestKeys, server_root: Path) -> Iterator[SFTPServer]:
    with SFTPServer(ssh_keys, root=server_root) as srv:
        yield srv


def profile_of(srv: SFTPServer, keys: SSHTestKeys, key: Path | None = None, **extra: Any) -> Profile:
    """A profile that logs in with ``key`` (default: the certified, encrypted client key) and trusts the host CA."""
    sftp = {"known_hosts": str(keys.known_hosts_ca), **extra.pop("sftp", {})}
    data: dict[str, Any] = {"url": srv.url, "timeout": 10.0, "sftp": sftp, **extra}
    if key is not None or "identity" not in extra:
        data["identity"] = str(key or keys.client_key)
        if key is None or key == keys.client_key:
            data.setdefault("identity_password", f"file:{keys.passphrase_file}")
    return Profile.from_mapping("partner", {k: v for k, v in data.items() if v is not None})


# -- the contract suite ------------------------------------------------------------------------


class TestContract(AdapterContract):
    """Certificate login, host certificate trusted through @cert-authority, temp name + rename."""

    @pytest.fixture
    def remote(self, sftpd: SFTPServer, ssh_keys: SSHTestKeys) -> Iterator[Adapter]:
        with xfer.connect(profile_of(sftpd, ssh_keys)) as remote:
            yield remote


class TestContractPlainKeyDirectWrite(AdapterContract):
    """A plain authorized key, the host key trusted by a plain known_hosts line, no temp name."""

    @pytest.fixture
    def remote(self, ssh_keys: SSHTestKeys, server_root: Path, tmp_path_factory: pytest.TempPathFactory,
               ) -> Iterator[Adapter]:
        with SFTPServer(ssh_keys, root=server_root, authorized=(Path(f"{ssh_keys.plain_key}.pub"),),
                        host_certificate=False) as srv:
            known = srv.known_hosts(tmp_path_factory.mktemp("kh"))
            profile = profile_of(srv, ssh_keys, ssh_keys.plain_key,
                                 sftp={"known_hosts": str(known), "upload_temp_name": False})
            with xfer.connect(profile) as remote:
                yield remote


# -- behaviour beyond the contract ---------------------------------------------------------------


@pytest.fixture
def remote(sftpd: SFTPServer, ssh_keys: SSHTestKeys) -> Iterator[SFTPAdapter]:
    with xfer.connect(profile_of(sftpd, ssh_keys)) as adapter:
        assert isinstance(adapter, SFTPAdapter)
        yield adapter


def test_upload_is_never_visible_half_written(remote: SFTPAdapter, server_root: Path, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    make_file(source, 9 << 20)
    seen: list[list[str]] = []

    def watch(done: int, total: int | None) -> None:
        seen.append(sorted(p.name for p in server_root.iterdir()))

    result = remote.put_file(source, "/big.bin", callback=watch)
    assert result.size_verified is True and result.temp_name and result.temp_name.endswith(".xfer-part")
    assert all("big.bin" not in names for names in seen[:-1]), "the final name appeared before the upload ended"
    assert any(result.temp_name in names for names in seen)
    assert sorted(p.name for p in server_root.iterdir()) == ["big.bin"]
    assert sha256_of(server_root / "big.bin") == sha256_of(source)


def test_failed_upload_leaves_old_file_and_no_temp(remote: SFTPAdapter, server_root: Path, tmp_path: Path) -> None:
    (server_root / "keep.txt").write_bytes(b"old version")
    source = tmp_path / "new.bin"
    make_file(source, 6 << 20)

    def stop(done: int, total: int | None) -> None:
        if done > 0:
            raise RuntimeError("stopped by the test")

    with pytest.raises(RuntimeError):
        remote.put_file(source, "/keep.txt", callback=stop)
    assert sorted(p.name for p in server_root.iterdir()) == ["keep.txt"]
    assert (server_root / "keep.txt").read_bytes() == b"old version"


def test_put_into_missing_folders_and_never_over_a_folder(remote: SFTPAdapter, server_root: Path,
                                                          tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"data")
    remote.put_file(tmp_path / "f", "/new/deeper/f")
    assert (server_root / "new" / "deeper" / "f").read_bytes() == b"data"
    with pytest.raises(RemoteIsFolder):
        remote.put_file(tmp_path / "f", "/new")
    assert (server_root / "new" / "deeper").is_dir()


def test_mv_follows_posix_rules(remote: SFTPAdapter, server_root: Path) -> None:
    (server_root / "a.txt").write_bytes(b"a")
    (server_root / "b.txt").write_bytes(b"b")
    (server_root / "box").mkdir()
    remote.mv("/a.txt", "/box")  # an existing folder: into it
    assert (server_root / "box" / "a.txt").read_bytes() == b"a"
    remote.mv("/b.txt", "/box/a.txt")  # an existing file: replaced
    assert (server_root / "box" / "a.txt").read_bytes() == b"b" and not (server_root / "b.txt").exists()
    (server_root / "box2" / "box").mkdir(parents=True)
    (server_root / "box2" / "box" / "x").write_bytes(b"x")
    with pytest.raises(RemoteIsFolder):
        remote.mv("/box", "/box2")  # /box2/box is a folder: never replaced
    (server_root / "file").write_bytes(b"f")
    with pytest.raises(RemoteExists):
        remote.mv("/box2/box", "/file")  # a folder never replaces a file
    assert (server_root / "box2" / "box" / "x").exists() and (server_root / "file").read_bytes() == b"f"


def test_mv_into_a_missing_folder_names_the_folder(remote: SFTPAdapter, server_root: Path) -> None:
    """SFTP answers NO_SUCH_FILE for a missing source and a missing destination folder alike:
    the error names the folder, as WebDAV's does, and the source stays (review A, defect 3)."""
    (server_root / "a.txt").write_bytes(b"a")
    with pytest.raises(RemoteNotFound, match=r"the folder /archive does not exist") as caught:
        remote.mv("/a.txt", "/archive/a.txt")
    assert caught.value.hint is not None and caught.value.hint.startswith("create it first with xfer mkdir")
    assert caught.value.path == "/archive/a.txt"
    assert (server_root / "a.txt").read_bytes() == b"a" and not (server_root / "archive").exists()


def test_rm_r_removes_links_never_what_they_point_to(remote: SFTPAdapter, server_root: Path,
                                                     tmp_path: Path) -> None:
    outside = server_root / "precious"
    outside.mkdir()
    (outside / "keep").write_bytes(b"keep")
    (server_root / "tree" / "sub").mkdir(parents=True)
    (server_root / "tree" / "sub" / "f").write_bytes(b"x")
    os.symlink(outside, server_root / "tree" / "link")
    remote.rm("/tree", recursive=True)
    assert not (server_root / "tree").exists()
    assert (outside / "keep").read_bytes() == b"keep"


def test_reads_and_writes_at_offsets(remote: SFTPAdapter, server_root: Path) -> None:
    (server_root / "f").write_bytes(b"0123456789")
    assert remote.read_range("/f", 3, 4) == b"3456"
    assert remote.read_range("/f", 8) == b"89"
    remote.write_range("/f", 10, b"abc")  # continue where it ended: nothing before is sent again
    remote.write_range("/g", 0, b"new")
    assert (server_root / "f").read_bytes() == b"0123456789abc"
    assert (server_root / "g").read_bytes() == b"new"


def test_ranges_of_many_blocks_read_and_write_what_was_asked(remote: SFTPAdapter, server_root: Path) -> None:
    """Ranges over several pipeline blocks (255 KiB each), ending inside a block and past the end."""
    data = os.urandom((1 << 20) + 7)
    (server_root / "big").write_bytes(data)
    for start, length in [(0, None), (5, 600_000), (261_119, 261_121), (1 << 20, 100), (1_000_000, None),
                          (len(data) - 3, 10), (len(data), 5), (len(data) + 9, 5)]:
        end = None if length is None else start + length
        assert remote.read_range("/big", start, length) == data[start:end], (start, length)
    patch = os.urandom(700_000)
    remote.write_range("/big", 300_001, patch)
    assert (server_root / "big").read_bytes() == data[:300_001] + patch + data[1_000_001:]


def test_listing_is_capped(sftpd: SFTPServer, ssh_keys: SSHTestKeys, server_root: Path) -> None:
    for index in range(300):
        (server_root / f"file-with-a-rather-long-name-{index:04}").write_bytes(b"")
    settings_profile = profile_of(sftpd, ssh_keys)
    with xfer.connect(settings_profile, max_listing=1) as remote:
        assert len(remote.ls("/")) == 300
    from xfer.errors import ListingTooLarge

    with xfer.connect(settings_profile) as remote:
        remote.settings.__dict__["max_listing"] = 4096  # frozen dataclass; a 4 KiB cap for this test only
        with pytest.raises(ListingTooLarge):
            remote.ls("/")


# -- the CLI ---------------------------------------------------------------------------------------


@pytest.fixture
def profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[Profile], str]:
    folder = tmp_path / "profiles"
    folder.mkdir()
    monkeypatch.setenv("XFER_PROFILE_PATH", str(folder))
    monkeypatch.setenv("XFER_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # never the user's ~/.ssh
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)

    def save(profile: Profile, name: str = "partner") -> str:
        (folder / f"{name}.toml").write_text(tomli_w.dumps(profile.to_toml()))
        return name

    return save


def test_cli_end_to_end(sftpd: SFTPServer, ssh_keys: SSHTestKeys, server_root: Path, tmp_path: Path,
                        profiles: Callable[[Profile], str], capsys: pytest.CaptureFixture[str]) -> None:
    name = profiles(profile_of(sftpd, ssh_keys))
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    for index in range(5):
        make_file(tree / f"f{index}.bin", 1000 * index, seed=index)
    make_file(tree / "sub" / "deep.bin", 70_000)

    code, out, err = run(capsys, "put", "-r", "-P", "3", str(tree), f"{name}:/in/", "--json")
    assert code == 0, err
    results = json.loads(out)
    assert len(results) == 6 and {r["protocol"] for r in results} == {"sftp"}
    assert all(r["size_verified"] for r in results)
    assert sha256_of(server_root / "in" / "tree" / "sub" / "deep.bin") == sha256_of(tree / "sub" / "deep.bin")

    code, out, err = run(capsys, "ls", f"{name}:/in/tree", "--json")
    assert code == 0, err
    assert {e["name"] for e in json.loads(out)} == {"sub", *(f"f{i}.bin" for i in range(5))}

    back = tmp_path / "back"
    code, out, err = run(capsys, "get", "-r", "-P", "2", f"{name}:/in/tree", f"{back}/", "--json")
    assert code == 0, err
    assert sha256_of(back / "tree" / "sub" / "deep.bin") == sha256_of(tree / "sub" / "deep.bin")

    assert run(capsys, "mkdir", f"{name}:/out/a")[0] == 0
    assert run(capsys, "mv", f"{name}:/in/tree/f1.bin", f"{name}:/out/a/")[0] == 0
    assert (server_root / "out" / "a" / "f1.bin").stat().st_size == 1000
    code, out, err = run(capsys, "rm", f"{name}:/in")
    assert code == 6 and "rm -r" in err
    code, out, err = run(capsys, "rm", "-r", f"{name}:/in", "--json")
    assert code == 0, err
    assert json.loads(out)["action"] == "rm" and not (server_root / "in").exists()


def test_cli_url_with_identity_and_pin(sftpd: SFTPServer, ssh_keys: SSHTestKeys, server_root: Path,
                                       tmp_path: Path, profiles: Callable[[Profile], str],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    (server_root / "hello.txt").write_bytes(b"hello")
    code, _out, err = run(capsys, "get", f"{sftpd.url}hello.txt", str(tmp_path / "h.txt"),
                         "--identity", str(ssh_keys.client_key),
                         "--identity-password", f"file:{ssh_keys.passphrase_file}",
                         "--pin", ssh_keys.host_fingerprint())
    assert code == 0, err
    assert (tmp_path / "h.txt").read_bytes() == b"hello"


def _fails(capsys: pytest.CaptureFixture[str], code: int, *args: str) -> tuple[str, str]:
    got, _out, err = run(capsys, *args)
    assert got == code, err
    return one_error(err), err


def test_unknown_host_key_is_refused_with_the_line_to_add(
    sftpd: SFTPServer, ssh_keys: SSHTestKeys, tmp_path: Path, profiles: Callable[[Profile], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Nothing trusts the server: no ~/.ssh/known_hosts (HOME is empty), no pin.
    line, err = _fails(capsys, 4, "ls", sftpd.url, "--identity", str(ssh_keys.client_key),
                       "--identity-password", f"file:{ssh_keys.passphrase_file}")
    assert "unknown SSH host key" in line and ssh_keys.host_fingerprint() in line
    assert ssh_keys.known_hosts_line(sftpd.host, sftpd.port).strip() in err
    assert sftpd.logins == []  # nothing was sent to an untrusted server


def test_untrusted_host_without_certificate_is_refused(
    ssh_keys: SSHTestKeys, server_root: Path, tmp_path: Path,
) -> None:
    other = tmp_path / "known_hosts"
    other.write_text("somewhere.else " + Path(f"{ssh_keys.plain_key}.pub").read_text())
    with SFTPServer(ssh_keys, root=server_root, host_certificate=False) as srv, \
            pytest.raises(ServerCertificateUntrusted) as caught:
        xfer.connect(profile_of(srv, ssh_keys, sftp={"known_hosts": str(other)}))
    assert ssh_keys.host_fingerprint() in caught.value.message and "unknown SSH host key" in caught.value.message


def test_changed_host_key_is_refused_as_changed(ssh_keys: SSHTestKeys, server_root: Path, tmp_path: Path) -> None:
    with SFTPServer(ssh_keys, root=server_root) as srv:
        other = tmp_path / "known_hosts"
        old_key = Path(f"{ssh_keys.plain_key}.pub").read_text()  # what known_hosts says this host had
        other.write_text(f"[{srv.host}]:{srv.port} {old_key}")
        with pytest.raises(ServerCertificateUntrusted) as caught:
            xfer.connect(profile_of(srv, ssh_keys, sftp={"known_hosts": str(other)}))
    error = caught.value
    old = asyncssh.import_public_key(old_key).get_fingerprint("sha256").rstrip("=")
    assert "has CHANGED" in error.message and ssh_keys.host_fingerprint() in error.message and old in error.message
    assert error.hint is not None and "attack" in error.hint and "add this line" not in error.hint


def test_a_plain_host_key_where_known_hosts_trusts_only_a_ca_is_an_unknown_key(
    ssh_keys: SSHTestKeys, server_root: Path
) -> None:
    """Review G: asyncssh offers only certificate algorithms when known_hosts names a CA for the
    host, and a server with a plain key then failed as "key exchange failed: no algorithm xfer
    accepts" (a cipher question).  It is an untrusted host key, said with the line to add."""
    with SFTPServer(ssh_keys, root=server_root, host_certificate=False) as srv, \
            pytest.raises(ServerCertificateUntrusted) as caught:
        xfer.connect(profile_of(srv, ssh_keys))
    assert "unknown SSH host key" in caught.value.message and ssh_keys.host_fingerprint() in caught.value.message
    assert caught.value.hint is not None and "add this line" in caught.value.hint


def test_a_revoked_host_key_is_refused_as_revoked(ssh_keys: SSHTestKeys, server_root: Path, tmp_path: Path) -> None:
    """Review G: a key marked @revoked was refused as CHANGED, quoting its own fingerprint twice."""
    with SFTPServer(ssh_keys, root=server_root, host_certificate=False) as srv:
        line = ssh_keys.known_hosts_line(srv.host, srv.port).strip()  # "[host]:port KEY": the server's own
        known = tmp_path / "known_hosts"
        known.write_text(f"@revoked * {line.split(' ', 1)[1]}\n{line}\n")
        with pytest.raises(ServerCertificateUntrusted) as caught:
            xfer.connect(profile_of(srv, ssh_keys, sftp={"known_hosts": str(known)}))
    assert "is marked @revoked" in caught.value.message and "CHANGED" not in caught.value.message
    assert caught.value.message.count(ssh_keys.host_fingerprint()) == 1


def test_wrong_pin_is_refused(sftpd: SFTPServer, ssh_keys: SSHTestKeys, profiles: Callable[[Profile], str],
                              capsys: pytest.CaptureFixture[str]) -> None:
    wrong = "SHA256:" + "A" * 43
    line, _ = _fails(capsys, 4, "ls", sftpd.url, "--identity", str(ssh_keys.client_key),
                     "--identity-password", f"file:{ssh_keys.passphrase_file}", "--pin", wrong)
    assert ssh_keys.host_fingerprint() in line and "pinned" in line


def test_tls_pin_format_is_refused_for_sftp(sftpd: SFTPServer, profiles: Callable[[Profile], str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    line, err = _fails(capsys, 2, "ls", sftpd.url, "--pin", "sha256:" + "ab" * 32)  # typed: usage (review A, defect 8)
    assert "TLS certificate fingerprint" in line and "ssh-keygen" in err


def test_expired_certificate_is_refused_before_connecting(
    sftpd: SFTPServer, ssh_keys: SSHTestKeys, profiles: Callable[[Profile], str], capsys: pytest.CaptureFixture[str],
) -> None:
    name = profiles(profile_of(sftpd, ssh_keys, ssh_keys.expired_key))
    line, _ = _fails(capsys, 4, "ls", f"{name}:/")
    assert "xfer-expired" in line and "expired on" in line
    assert sftpd.logins == []
    with pytest.raises(IdentityExpired):
        xfer.connect(profile_of(sftpd, ssh_keys, ssh_keys.expired_key))


def test_certificate_for_another_principal_is_refused(
    sftpd: SFTPServer, ssh_keys: SSHTestKeys, profiles: Callable[[Profile], str], capsys: pytest.CaptureFixture[str],
) -> None:
    name = profiles(profile_of(sftpd, ssh_keys, ssh_keys.other_principal_key))
    line, _ = _fails(capsys, 4, "ls", f"{name}:/")
    assert "refused the SSH certificate" in line and "someone-else" in line and "'xfer'" in line
    with pytest.raises(ClientCertificateRejected):
        xfer.connect(profile_of(sftpd, ssh_keys, ssh_keys.other_principal_key))


def test_wrong_or_missing_passphrase(sftpd: SFTPServer, ssh_keys: SSHTestKeys, tmp_path: Path,
                                     profiles: Callable[[Profile], str], capsys: pytest.CaptureFixture[str]) -> None:
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not the passphrase")
    name = profiles(profile_of(sftpd, ssh_keys, identity_password=f"file:{wrong}"))
    line, _ = _fails(capsys, 4, "ls", f"{name}:/")
    assert line == f"xfer: error: wrong passphrase for the SSH key {ssh_keys.client_key}"
    data = profile_of(sftpd, ssh_keys).to_toml()
    del data["identity_password"]
    with pytest.raises(IdentityPasswordError, match="encrypted and no passphrase"):
        xfer.connect(Profile.from_mapping("nopw", data))


#: An encrypted PEM key whose DEK-Info IV is one byte long (review 26's fuzzing of identities).
_MALFORMED_PEM = (b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n"
                  b"-----END RSA PRIVATE KEY-----\n")


def test_a_malformed_encrypted_key_is_a_format_error(sftpd: SFTPServer, ssh_keys: SSHTestKeys, tmp_path: Path,
                                                     profiles: Callable[[Profile], str],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """The cipher's ValueError went out as "unexpected internal error (ValueError)", exit 1 (review
    26, finding 8): it is the key file's fault, said as for any other malformed key."""
    key = tmp_path / "id_rsa"
    key.write_bytes(_MALFORMED_PEM)
    key.chmod(0o600)
    secret = tmp_path / "pass"
    secret.write_text("a passphrase")
    secret.chmod(0o600)
    name = profiles(profile_of(sftpd, ssh_keys, key, identity_password=f"file:{secret}"))
    line, _ = _fails(capsys, 4, "ls", f"{name}:/")
    assert line.startswith(f"xfer: error: the SSH key {key} is encrypted but malformed ("), line


def test_login_refused(sftpd: SFTPServer, ssh_keys: SSHTestKeys, profiles: Callable[[Profile], str],
                       capsys: pytest.CaptureFixture[str]) -> None:
    name = profiles(profile_of(sftpd, ssh_keys, ssh_keys.plain_key))  # not authorized, no certificate
    line, _ = _fails(capsys, 6, "ls", f"{name}:/")
    assert "refused the login of 'xfer'" in line and str(ssh_keys.plain_key) in line


def test_password_as_last_resort(ssh_keys: SSHTestKeys, server_root: Path, tmp_path: Path,
                                 profiles: Callable[[Profile], str], capsys: pytest.CaptureFixture[str]) -> None:
    right, wrong = tmp_path / "right", tmp_path / "wrong"
    right.write_text("s3cret-password")
    wrong.write_text("nope")
    with SFTPServer(ssh_keys, root=server_root, password="s3cret-password") as srv:
        base = profile_of(srv, ssh_keys, identity=None).to_toml()
        base.pop("identity", None)
        base.pop("identity_password", None)
        name = profiles(Profile.from_mapping("pw", {**base, "username": "xfer", "password": f"file:{right}"}))
        assert run(capsys, "ls", f"{name}:/")[0] == 0
        name = profiles(Profile.from_mapping("pw", {**base, "username": "xfer", "password": f"file:{wrong}"}))
        line, _ = _fails(capsys, 6, "ls", f"{name}:/")
        assert "with the password" in line and "nope" not in line


class _Guarded(asyncssh.SFTPServer):
    """A server where /locked refuses everything, as a folder of another user would."""

    def _refuse(self, path: bytes) -> None:
        if b"locked" in path:
            raise asyncssh.SFTPPermissionDenied("Permission denied")

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> Any:
        self._refuse(path)
        return super().open(path, pflags, attrs)

    def stat(self, path: bytes) -> Any:
        self._refuse(path)
        return super().stat(path)


def test_missing_file_and_permission_denied(ssh_keys: SSHTestKeys, server_root: Path, tmp_path: Path,
                                            profiles: Callable[[Profile], str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    (server_root / "locked").write_bytes(b"secret")
    with SFTPServer(ssh_keys, root=server_root, sftp_class=_Guarded) as srv:
        name = profiles(profile_of(srv, ssh_keys))
        line, _ = _fails(capsys, 6, "get", f"{name}:/nothing.txt", str(tmp_path / "x"))
        assert "/nothing.txt does not exist" in line
        line, _ = _fails(capsys, 6, "get", f"{name}:/locked", str(tmp_path / "x"))
        assert "permission denied" in line
    assert not (tmp_path / "x").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".xfer-part")] == []


def test_profile_checks(sftpd: SFTPServer, ssh_keys: SSHTestKeys) -> None:
    with pytest.raises(ConfigError, match="ca does not apply to sftp"):
        Profile.from_mapping("p1", {"url": sftpd.url, "ca": "/etc/ssl/certs/ca-certificates.crt"})
    profile = Profile.from_mapping("p1", {"url": sftpd.url, "pin": ssh_keys.host_fingerprint() + "="})
    assert profile.get("pin").endswith("=")  # stored as written; normalised when used


def test_identity_show_of_a_certificate(ssh_keys: SSHTestKeys, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "identity", "show", str(ssh_keys.client_cert))
    assert code == 0, err
    assert "xfer-test-user" in out and "principals" in out and "xfer" in out
    ca = asyncssh.read_public_key(f"{ssh_keys.user_ca}.pub").get_fingerprint("sha256").rstrip("=")
    assert ca in out
    code, out, err = run(capsys, "identity", "show", f"{ssh_keys.expired_key}-cert.pub", "--json")
    assert code == 0, err
    facts = json.loads(out)
    assert facts["key_id"] == "xfer-expired" and facts["principals"] == ["xfer"] and ca in facts["signing_ca"]


def _certified_key(keys: SSHTestKeys, folder: Path, *, days: float, principal: str = "xfer") -> Path:
    """A fresh unencrypted key in ``folder`` with a user certificate valid for ``days`` more days."""
    import time

    ca = asyncssh.read_private_key(str(keys.user_ca))
    key = asyncssh.generate_private_key("ssh-ed25519")
    path = folder / "soon_key"
    key.write_private_key(str(path))
    path.chmod(0o600)
    now = time.time()
    ca.generate_user_certificate(key, "xfer-soon", principals=[principal], valid_after=int(now - 60),
                                 valid_before=int(now + days * 86400)).write_certificate(f"{path}-cert.pub")
    return path


def test_certificate_ending_soon_warns(sftpd: SFTPServer, ssh_keys: SSHTestKeys, tmp_path: Path,
                                       profiles: Callable[[Profile], str], capsys: pytest.CaptureFixture[str]) -> None:
    name = profiles(profile_of(sftpd, ssh_keys, _certified_key(ssh_keys, tmp_path, days=5.5)))
    code, _out, err = run(capsys, "ls", f"{name}:/")
    assert code == 0, err
    assert "xfer: warning: SSH certificate 'xfer-soon' expires in 5 days" in err


@pytest.fixture
def agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, profiles: Callable[[Profile], str],
          ) -> Iterator[Callable[[Path], None]]:
    """A private ssh-agent (OpenSSH's) for this test; yields ``add(key)``.  After ``profiles``,
    which removes the user's SSH_AUTH_SOCK."""
    import subprocess

    socket_path = tmp_path / "agent.sock"
    process = subprocess.Popen(["ssh-agent", "-D", "-a", str(socket_path)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        import time

        for _ in range(100):
            if socket_path.exists():
                break
            time.sleep(0.05)
        env = {**os.environ, "SSH_AUTH_SOCK": str(socket_path)}

        def add(key: Path) -> None:
            subprocess.run(["ssh-add", "-q", str(key)], env=env, check=True, capture_output=True)

        monkeypatch.setenv("SSH_AUTH_SOCK", str(socket_path))
        yield add
    finally:
        process.terminate()
        process.wait(10)


def test_agent_login_and_agent_off(ssh_keys: SSHTestKeys, server_root: Path, tmp_path: Path,
                                   profiles: Callable[[Profile], str], agent: Callable[[Path], None],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    # The agent holds a certified key (ssh-add loads KEY-cert.pub beside it); no identity in the profile.
    agent(_certified_key(ssh_keys, tmp_path, days=30))
    with SFTPServer(ssh_keys, root=server_root) as srv:
        base = profile_of(srv, ssh_keys).to_toml()
        base.pop("identity")
        base.pop("identity_password")
        name = profiles(Profile.from_mapping("agent", base))
        code, _out, err = run(capsys, "ls", f"{name}:/")
        assert code == 0, err
        assert srv.logins == ["xfer"]
        name = profiles(Profile.from_mapping("agent", {**base, "sftp": {**base["sftp"], "agent": False}}))
        line, _ = _fails(capsys, 6, "ls", f"{name}:/")
        assert "refused the login of 'xfer' with the agent's and ~/.ssh keys" in line


def test_nothing_listening_is_a_connect_error(ssh_keys: SSHTestKeys, server_root: Path,
                                              profiles: Callable[[Profile], str],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    with SFTPServer(ssh_keys, root=server_root) as srv:
        profile = profile_of(srv, ssh_keys)
    name = profiles(profile)  # the server is gone: its port refuses
    line, _ = _fails(capsys, 5, "ls", f"{name}:/", "--retries", "0")
    assert "refused the connection" in line


class _Stalling(asyncssh.SFTPServer):
    """Serves the first MiB of a file, then never answers another read."""

    async def read(self, file_obj: object, offset: int, size: int) -> bytes:
        import asyncio

        if offset >= 1 << 20:
            await asyncio.sleep(60)
        data: bytes = await asyncio.to_thread(super().read, file_obj, offset, size)  # type: ignore[arg-type]
        return data


def test_ctrl_c_mid_download(ssh_keys: SSHTestKeys, server_root: Path, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    make_file(server_root / "report.bin", 8 << 20)
    target = tmp_path / "report.bin"
    target.write_text("yesterday's report")
    with SFTPServer(ssh_keys, root=server_root, sftp_class=_Stalling) as srv:
        argv = [sys.executable, "-m", "xfer", "get", f"{srv.url}report.bin", str(target),
                "--identity", str(ssh_keys.client_key), "--identity-password", f"file:{ssh_keys.passphrase_file}",
                "--pin", ssh_keys.host_fingerprint()]
        env = {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(Path(__file__).parent.parent)}
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as process:
            deadline = time.monotonic() + 30
            while not [p for p in tmp_path.iterdir() if p.name.endswith(".xfer-part")]:
                assert time.monotonic() < deadline, "the download never started"
                assert process.poll() is None, process.communicate()
                time.sleep(0.02)
            time.sleep(0.5)  # the first MiB is on its way to disk under the temporary name
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=20)
    assert process.returncode == 130, err
    assert [line for line in err.splitlines() if line.strip()] == ["xfer: interrupted"] and out == ""
    assert target.read_text() == "yesterday's report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.bin"]


class _Slow(asyncssh.SFTPServer):
    """Takes every write, slowly (a thin link)."""

    async def write(self, file_obj: object, offset: int, data: bytes) -> int:
        import asyncio

        await asyncio.sleep(0.05)
        written: int = await asyncio.to_thread(super().write, file_obj, offset, data)  # type: ignore[arg-type]
        return written


class _SlowReads(asyncssh.SFTPServer):
    """Answers every read, slowly."""

    async def read(self, file_obj: object, offset: int, size: int) -> bytes:
        import asyncio

        await asyncio.sleep(0.05)
        data: bytes = await asyncio.to_thread(super().read, file_obj, offset, size)  # type: ignore[arg-type]
        return data


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_ctrl_c_or_sigterm_mid_upload_leaves_nothing_on_the_server(ssh_keys: SSHTestKeys, server_root: Path,
                                                                   tmp_path: Path, signum: str) -> None:
    """SIGTERM (a scheduler stopping the job) as Ctrl-C; before, it left the server's part file."""
    import signal
    import subprocess
    import sys
    import time

    source = tmp_path / "invoice.bin"
    make_file(source, 64 << 20)
    with SFTPServer(ssh_keys, root=server_root, sftp_class=_Slow) as srv:
        argv = [sys.executable, "-m", "xfer", "put", str(source), f"{srv.url}invoice.bin",
                "--identity", str(ssh_keys.client_key), "--identity-password", f"file:{ssh_keys.passphrase_file}",
                "--pin", ssh_keys.host_fingerprint()]
        env = {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(Path(__file__).parent.parent)}
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as process:
            deadline = time.monotonic() + 30
            while not [p for p in server_root.iterdir() if p.name.endswith(".xfer-part")]:
                assert time.monotonic() < deadline, "the upload never started"
                assert process.poll() is None, process.communicate()
                time.sleep(0.02)
            time.sleep(0.5)
            process.send_signal(getattr(signal, signum))
            out, err = process.communicate(timeout=20)
    assert process.returncode == 130, err
    assert [line for line in err.splitlines() if line.strip()] == ["xfer: interrupted"] and out == ""
    assert list(server_root.iterdir()) == []


def test_sigterm_mid_download_leaves_no_part(ssh_keys: SSHTestKeys, server_root: Path, tmp_path: Path) -> None:
    """Before: the part file stayed, under a random name nothing resumes (cron and systemd stop with SIGTERM)."""
    import signal
    import subprocess
    import sys
    import time

    make_file(server_root / "big.bin", 64 << 20)
    local = tmp_path / "inbox"
    local.mkdir()
    with SFTPServer(ssh_keys, root=server_root, sftp_class=_SlowReads) as srv:
        argv = [sys.executable, "-m", "xfer", "get", f"{srv.url}big.bin", str(local / "big.bin"),
                "--identity", str(ssh_keys.client_key), "--identity-password", f"file:{ssh_keys.passphrase_file}",
                "--pin", ssh_keys.host_fingerprint()]
        env = {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(Path(__file__).parent.parent)}
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as process:
            deadline = time.monotonic() + 30
            while not [p for p in local.iterdir() if p.name.endswith(".xfer-part") and p.stat().st_size]:
                assert time.monotonic() < deadline, "the download never started"
                assert process.poll() is None, process.communicate()
                time.sleep(0.02)
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=20)
    assert process.returncode == 130, err
    assert list(local.iterdir()) == []


def test_a_name_that_is_not_utf8_is_listed_fetched_read_and_removed(remote: SFTPAdapter, server_root: Path,
                                                                    tmp_path: Path) -> None:
    """A Latin-1 server's name goes back as the bytes it sent.  Before, it was left out of the
    listing, and a sync --delete then removed the local copy of a file the server still had."""
    (server_root / "ok.txt").write_bytes(b"1")
    bad = os.fsdecode(b"bad\xff.bin")
    (server_root / bad).write_bytes(b"22")
    assert [entry.name for entry in remote.ls("/")] == [bad, "ok.txt"]
    assert remote.read_range(f"/{bad}", 1, 1) == b"2"
    remote.get_file(f"/{bad}", tmp_path / bad)
    assert (tmp_path / bad).read_bytes() == b"22"
    remote.rm(f"/{bad}")
    assert sorted(p.name for p in server_root.iterdir()) == ["ok.txt"]


def test_parallel_connections_resolve_the_passphrase_once(
    sftpd: SFTPServer, ssh_keys: SSHTestKeys, server_root: Path, tmp_path: Path,
    profiles: Callable[[Profile], str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    from xfer.secrets import resolve as real

    asked: list[str] = []

    def counting(ref: str, **kwargs: Any) -> str:
        asked.append(kwargs.get("field_name", ""))
        return real(ref, **kwargs)

    monkeypatch.setattr("xfer.client.resolve", counting)  # a `prompt` reference would ask each time
    name = profiles(profile_of(sftpd, ssh_keys))
    folder = tmp_path / "batch"
    folder.mkdir()
    for index in range(6):
        (folder / f"f{index}").write_bytes(b"x" * index)
    code, _out, err = run(capsys, "put", "-r", "-P", "3", str(folder), f"{name}:/")
    assert code == 0, err
    assert len(list((server_root / "batch").iterdir())) == 6
    assert asked.count("identity_password") == 1


def test_profile_test_shows_host_key_trust_and_login(sftpd: SFTPServer, ssh_keys: SSHTestKeys, tmp_path: Path,
                                                     profiles: Callable[[Profile], str],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    name = profiles(profile_of(sftpd, ssh_keys))
    code, out, err = run(capsys, "profile", "test", name, "--json")
    assert code == 0, err
    facts = _protocol_facts(json.loads(out))
    assert facts["host_key"] == ssh_keys.host_fingerprint()
    assert facts["host_key_trusted_by"] == "known_hosts @cert-authority"
    assert (facts["login"], facts["auth"], facts["certificate_key_id"]) == ("xfer", "certificate", "xfer-test-user")
    assert facts["certificate_principals"] == ["xfer"] and json.loads(out)["ok"] is True
    known = sftpd.known_hosts(tmp_path)
    name = profiles(profile_of(sftpd, ssh_keys, sftp={"known_hosts": str(known)}))
    code, out, err = run(capsys, "profile", "test", name, "--json")
    assert code == 0, err
    assert _protocol_facts(json.loads(out))["host_key_trusted_by"] == "known_hosts"


def _protocol_facts(report: dict[str, Any]) -> dict[str, Any]:
    """The facts of the doctor report's protocol step (``profile test`` is the doctor's report)."""
    facts: dict[str, Any] = next(step["facts"] for step in report["steps"] if step["key"] == "protocol")
    return facts


@pytest.mark.parametrize(("algorithm", "form"), [("ssh-ed25519", "pkcs8-pem"), ("ecdsa-sha2-nistp256", "pkcs1-pem"),
                                                  ("ssh-rsa", "openssh")])
def test_pem_and_pkcs8_keys_with_a_passphrase(sftpd: SFTPServer, ssh_keys: SSHTestKeys, tmp_path: Path,
                                              algorithm: str, form: str) -> None:
    import time

    ca = asyncssh.read_private_key(str(ssh_keys.user_ca))
    key = asyncssh.generate_private_key(algorithm)
    path = tmp_path / "id_key"
    path.write_bytes(key.export_private_key(form, "a passphrase"))
    path.chmod(0o600)
    ca.generate_user_certificate(key, f"xfer-{form}", principals=["xfer"], valid_after=int(time.time() - 60),
                                 valid_before=int(time.time() + 3600)).write_certificate(f"{path}-cert.pub")
    secret = tmp_path / "pass"
    secret.write_text("a passphrase")
    with xfer.connect(profile_of(sftpd, ssh_keys, path, identity_password=f"file:{secret}")) as remote:
        assert remote.ls("/") == []
        assert remote.connection_facts()["certificate_key_id"] == f"xfer-{form}"


def test_openssh_key_without_bcrypt_says_so(sftpd: SFTPServer, ssh_keys: SSHTestKeys,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncssh.public_key

    monkeypatch.setattr(asyncssh.public_key, "_bcrypt_available", False)  # as without asyncssh[bcrypt]
    with pytest.raises(ConfigError, match="needs the Python package bcrypt") as caught:
        xfer.connect(profile_of(sftpd, ssh_keys))
    assert not isinstance(caught.value, IdentityPasswordError)


def test_the_key_is_decrypted_once_for_every_connection(
    sftpd: SFTPServer, ssh_keys: SSHTestKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A retry's reconnection and the ``-P`` workers' connections reuse the decrypted key
    (bcrypt at asyncssh's 128 rounds costs about a second per decryption)."""
    from xfer.adapters.sftp.keys import load_client_key

    loads: list[str] = []

    def counted(*args: Any) -> Any:
        loads.append(args[0])
        return load_client_key(*args)

    monkeypatch.setattr("xfer.adapters.sftp.session.load_client_key", counted)
    with xfer.connect(profile_of(sftpd, ssh_keys)) as remote:
        remote.reopen()  # what a retry does
        with type(remote)(remote.settings) as worker:  # what a -P worker does
            assert worker.ls("/") == remote.ls("/")
    assert loads == [str(ssh_keys.client_key)]


def test_options_replaced_for_another_key_start_a_cache_of_their_own() -> None:
    """The decrypted key is cached on the options; dataclasses.replace() copied the cache, so
    options for another key file would have answered with the first key."""
    import dataclasses

    from xfer.protocols.sftp import SFTPOptions

    first = SFTPOptions(key_file="/keys/a")
    second = dataclasses.replace(first, key_file="/keys/b")
    assert second.loaded_key is not first.loaded_key


class _StallsAfterOneMiB(asyncssh.SFTPServer):
    """Answers reads and writes of the first MiB, then never again, while the SSH connection stays up
    (its keepalives answered): an sftp-server stuck on a hung disk."""

    async def read(self, file_obj: object, offset: int, size: int) -> bytes:
        import asyncio

        if offset >= 1 << 20:
            await asyncio.sleep(3600)
        return await asyncio.to_thread(super().read, file_obj, offset, size)  # type: ignore[arg-type]

    async def write(self, file_obj: object, offset: int, data: bytes) -> int:
        import asyncio

        if offset >= 1 << 20:
            await asyncio.sleep(3600)
        return await asyncio.to_thread(super().write, file_obj, offset, data)  # type: ignore[arg-type]


def _exercise(remote: Adapter, operation: str, tmp_path: Path) -> None:
    """One operation of the stuck-server tests: on /big.bin (the server's) or tmp_path/big.bin (ours)."""
    if operation == "get":
        remote.get_file("/big.bin", tmp_path / "back.bin")
    elif operation == "put":
        remote.put_file(tmp_path / "big.bin", "/up.bin")
    elif operation == "stream":  # put -, fsspec's open("wb")
        with remote.open_write("/up.bin") as writer:
            for _ in range(32):
                writer.write(b"s" * (256 << 10))
    elif operation == "read_range":  # fsspec's block reads: past the first MiB
        remote.read_range("/big.bin", 1 << 20, 4 << 20)
    elif operation == "write_range":
        assert isinstance(remote, SFTPAdapter)
        remote.write_range("/up.bin", 0, b"w" * (4 << 20))
    else:
        remote.ls("/")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("direction", ["get", "put", "stream", "read_range", "write_range"])
def test_a_server_that_stops_answering_fails_after_the_timeout(
    ssh_keys: SSHTestKeys, server_root: Path, tmp_path: Path, direction: str
) -> None:
    """Before: the transfer waited for ever (keepalives prove the connection, not the SFTP server);
    a ranged read or write (asyncssh's own parallel I/O, unbounded) too."""
    import time

    make_file(server_root / "big.bin", 8 << 20)
    make_file(tmp_path / "big.bin", 8 << 20)
    with SFTPServer(ssh_keys, root=server_root, sftp_class=_StallsAfterOneMiB) as srv, \
            xfer.connect(profile_of(srv, ssh_keys, timeout=2.0, retries=0)) as remote:
        started = time.monotonic()
        with pytest.raises(ConnectionDropped, match=r"stopped answering .*no reply within 2 s"):
            _exercise(remote, direction, tmp_path)
        assert time.monotonic() - started < 20
    assert not (tmp_path / "back.bin").exists()


class _DiskHung(asyncssh.SFTPServer):
    """Every look at a file waits for ever (a hung disk on every connection): stat, open, listing."""

    async def stat(self, path: bytes) -> asyncssh.SFTPAttrs:
        import asyncio

        await asyncio.sleep(3600)
        raise AssertionError("never")

    lstat = stat

    async def scandir(self, path: bytes) -> Any:  # (asyncssh's server hands out entries from this)
        import asyncio

        await asyncio.sleep(3600)
        yield None  # pragma: no cover


@pytest.mark.timeout(90)
@pytest.mark.parametrize("operation", ["get", "put", "ls"])
def test_a_stuck_server_fails_every_request_after_the_timeout_not_only_transfers(
    ssh_keys: SSHTestKeys, server_root: Path, tmp_path: Path, operation: str
) -> None:
    """A retry opens a new connection, whose requests (stat, open, a listing) hit the same hung disk.
    Before: only reads and writes were bounded, so the retry waited for ever."""
    import time

    make_file(server_root / "big.bin", 1 << 20)
    make_file(tmp_path / "big.bin", 1 << 20)
    with SFTPServer(ssh_keys, root=server_root, sftp_class=_DiskHung) as srv, \
            xfer.connect(profile_of(srv, ssh_keys, timeout=2.0, retries=1, retry_wait=0.1)) as remote:
        started = time.monotonic()
        with pytest.raises(ConnectionDropped, match=r"stopped answering .*no reply within 2 s"):
            _exercise(remote, operation, tmp_path)
        assert time.monotonic() - started < 30


@pytest.mark.parametrize("which", ["private", "public"])
def test_identity_show_on_an_ssh_key_points_at_its_certificate(
    ssh_keys: SSHTestKeys, capsys: pytest.CaptureFixture[str], which: str
) -> None:
    """It said "is a PEM file, not PKCS#12" and advised ``openssl pkcs12 -export`` for an SSH key,
    which the README makes the identity of SFTP (review A, defect 10)."""
    key = str(ssh_keys.client_key)
    shown = key if which == "private" else f"{key}.pub"
    code, _, err = run(capsys, "identity", "show", shown)
    assert code == 4, err
    one_error(err, f"{shown} is an OpenSSH {which} key, not PKCS#12")
    assert "hint: an SSH key is an identity for sftp:// profiles" in err
    assert f"xfer identity show {key}-cert.pub" in err and "openssl" not in err
    assert run(capsys, "identity", "show", f"{key}-cert.pub")[0] == 0  # where the hint points


def test_an_ssh_key_as_a_tls_identity_says_what_it_is(ssh_keys: SSHTestKeys) -> None:
    from xfer.errors import IdentityFormatError
    from xfer.identity import Identity

    with pytest.raises(IdentityFormatError, match="is an OpenSSH private key, not PKCS#12") as caught:
        Identity.load(ssh_keys.plain_key, None)
    assert caught.value.hint is not None and "sftp://" in caught.value.hint and "openssl" not in caught.value.hint
    with pytest.raises(IdentityFormatError, match="is an OpenSSH certificate, not PKCS#12"):
        Identity.load(ssh_keys.client_cert, None)


def test_a_server_that_accepts_and_never_says_a_word_is_a_timeout_not_a_crash(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Review M-2: a port that accepts TCP and never sends the SSH banner.  The connect limit
    inside the session is a ``TimeoutError`` -- on Python 3.11 the very class of the wait's own
    limit -- and was taken for it, then failed formatting a missing limit: "unexpected internal
    error (TypeError)", exit 1, not retried, and a bare ``TypeError`` from ``xfer.connect``."""
    import socket
    import threading

    with socket.create_server(("127.0.0.1", 0)) as listener:
        held: list[socket.socket] = []

        def hold() -> None:
            with contextlib.suppress(OSError):
                while True:
                    held.append(listener.accept()[0])

        threading.Thread(target=hold, daemon=True).start()
        url = f"sftp://127.0.0.1:{listener.getsockname()[1]}/"
        with pytest.raises(ConnectTimeout):
            xfer.connect(url, timeout=0.5, retries=0)
        code, _, err = run(capsys, "ls", url, "--timeout", "0.5", "--retries", "1")
        assert code == 5, err
        assert "xfer: retry 1/1" in err  # a connect timeout is retried
        one_error("\n".join(line for line in err.splitlines() if not line.startswith("xfer: retry")),
                  "did not answer in time")
        assert len(held) == 3
        for connection in held:
            connection.close()
