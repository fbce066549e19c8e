#!/bin/sh
# Install everything the real-server test bed needs on Debian 12 (bookworm).  Run as root.
#
# Idempotent and quick when done: each step checks whether its result already exists.
#
# Why the FTP servers are not simply apt-get installed: vsftpd, pure-ftpd and proftpd-core each
# "Conflicts: ftp-server" (and each Provides it), so apt installs at most one of them.  We also do
# not want any of them running as a system service on port 21.  So all three are fetched with
# `apt-get download` and unpacked with `dpkg-deb -x` into a private prefix (XFER_SERVERS_PREFIX,
# default /opt/xfer-servers); their shared-library dependencies are read from each .deb and
# installed normally.  The launcher finds the binaries under that prefix (or on PATH, as in the
# Docker images where each container installs its one FTP server with apt).
set -eu

PREFIX="${XFER_SERVERS_PREFIX:-/opt/xfer-servers}"
PYAS2_VENV="${XFER_PYAS2_VENV:-/opt/xfer-pyas2-venv}"
FTP_USER="${XFER_FTP_USER:-xferftp}"
FTP_PASSWORD="${XFER_FTP_PASSWORD:-xfer-ftp-password}"
SFTP_USER="${XFER_SFTP_USER:-xfersftp}"
PAM_SERVICE=xfer-ftp
export DEBIAN_FRONTEND=noninteractive

APT_PACKAGES="nginx libnginx-mod-http-dav-ext apache2 strace curl lftp rclone openssl ca-certificates \
python3-venv perl openssh-server openjdk-17-jre-headless"
FTP_DEBS="vsftpd pure-ftpd pure-ftpd-common proftpd-core proftpd-mod-crypto"

log() { printf 'setup: %s\n' "$*"; }

if [ "$(id -u)" != 0 ]; then
    echo "setup: must run as root" >&2
    exit 1
fi

missing=""
for p in $APT_PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done

# --- 1. FTP server packages into the private prefix -------------------------------------------
stamp="$PREFIX/.xfer-unpacked"
versions="$PREFIX/.xfer-versions"  # "package version" lines, read by the launcher's status table
if [ ! -f "$stamp" ] || [ ! -f "$versions" ]; then
    rm -f "$stamp"
    if [ -n "$missing" ] || [ ! -d /var/lib/apt/lists ] || [ -z "$(ls /var/lib/apt/lists 2>/dev/null | grep -v lock)" ]; then
        log "apt-get update"
        apt-get update -qq
    fi
    debdir="$(mktemp -d)"
    trap 'rm -rf "$debdir"' EXIT
    chmod 755 "$debdir"  # apt's _apt user downloads into it
    log "downloading $FTP_DEBS"
    (cd "$debdir" && apt-get download -qq $FTP_DEBS)
    libs=""
    mkdir -p "$PREFIX"
    for deb in "$debdir"/*.deb; do
        dpkg-deb -x "$deb" "$PREFIX"
        printf '%s %s\n' "$(dpkg-deb -f "$deb" Package)" "$(dpkg-deb -f "$deb" Version)" >> "$versions.tmp"
        # Depends: "a (>= 1), b | c, ..." -> first alternative, no version; keep shared libraries.
        for dep in $(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/[[:space:]]//g'); do
            case "$dep" in lib*|zlib*) libs="$libs $dep" ;; esac
        done
    done
    missing="$missing $(echo $libs | tr ' ' '\n' | sort -u | tr '\n' ' ')"
fi

# --- 2. apt packages (and the FTP servers' libraries) ------------------------------------------
if [ -n "$(echo $missing)" ]; then
    if [ -z "$(ls /var/lib/apt/lists 2>/dev/null | grep -v -e lock -e partial)" ]; then
        apt-get update -qq
    fi
    log "apt-get install$missing"
    # policy-rc.d is not touched: nginx/apache2 may start their default sites on :80; the bed never
    # uses those and runs its own instances from generated configs on free ports.
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if [ ! -f "$stamp" ]; then
    for bin in "$PREFIX/usr/sbin/vsftpd" "$PREFIX/usr/sbin/pure-ftpd" "$PREFIX/usr/sbin/proftpd"; do
        if ldd "$bin" | grep -q "not found"; then
            echo "setup: $bin misses libraries:" >&2
            ldd "$bin" | grep "not found" >&2
            exit 1
        fi
    done
    mv "$versions.tmp" "$versions"
    touch "$stamp"
    log "FTP servers unpacked into $PREFIX"
fi

# vsftpd refuses to start without its secure_chroot_dir (an empty, root-owned directory).
mkdir -p /var/run/vsftpd/empty /usr/share/empty

# --- 3. the local FTP test user ------------------------------------------------------------------
if ! id "$FTP_USER" >/dev/null 2>&1; then
    log "creating FTP test user $FTP_USER"
    useradd --system --create-home --home-dir "/home/$FTP_USER" --shell /usr/sbin/nologin "$FTP_USER"
fi
if true; then  # cheap, and keeps the documented password even if someone changed it
    echo "$FTP_USER:$FTP_PASSWORD" | chpasswd
fi
# A PAM service of our own (vsftpd's pam_service_name points here) so the system's vsftpd/ftp PAM
# files, /etc/ftpusers and /etc/shells rules do not decide whether the test user may log in.
if [ ! -f "/etc/pam.d/$PAM_SERVICE" ]; then
    cat > "/etc/pam.d/$PAM_SERVICE" <<PAM
# Written by xfer's integration/setup.sh for the test FTP servers only.
auth     required pam_unix.so
account  required pam_unix.so
session  required pam_permit.so
PAM
fi

# --- 3b. the SFTP test user (OpenSSH sshd, certificate logins only, chrooted by the bed) ---------
if ! id "$SFTP_USER" >/dev/null 2>&1; then
    log "creating SFTP test user $SFTP_USER"
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$SFTP_USER"
fi
# No password, but not locked: with UsePAM no, sshd refuses every login of a "!"-locked account.
usermod -p '*' "$SFTP_USER"
# The bed runs its own sshd on a free port; Debian's system sshd (port 22) is not needed.
mkdir -p /run/sshd

# --- 4. django-pyas2 in its own venv ---------------------------------------------------------------
if [ ! -x "$PYAS2_VENV/bin/gunicorn" ] || ! "$PYAS2_VENV/bin/python" -c "import pyas2" 2>/dev/null; then
    log "creating $PYAS2_VENV with django-pyas2 1.2.3"
    python3 -m venv "$PYAS2_VENV"
    "$PYAS2_VENV/bin/pip" install -q "django-pyas2==1.2.3" gunicorn
fi
# oscrypto 1.3.0 cannot parse OpenSSL 3.0.10+ version strings (regex \d\.\d\.\d); the upstream fix
# (oscrypto commit d5f3437) was never released.  Patch the installed copy.
"$PYAS2_VENV/bin/python" - <<'PY'
import pathlib, re, sysconfig
path = pathlib.Path(sysconfig.get_paths()["purelib"]) / "oscrypto" / "_openssl" / "_libcrypto_cffi.py"
paths = [path, path.with_name("_libcrypto_ctypes.py")]
for p in paths:
    if not p.exists():
        continue
    text = p.read_text()
    # The source holds the pattern as a plain string literal: '\\b(\\d\\.\\d\\.\\d[a-z]*)\\b'.
    new = text.replace(r"(\\d\\.\\d\\.\\d[a-z]*)", r"(\\d+\\.\\d+\\.\\d+[a-z]*)")
    if new != text:
        p.write_text(new)
        print(f"setup: patched {p}")
PY
"$PYAS2_VENV/bin/python" -c "import oscrypto.asymmetric, pyas2lib" || {
    echo "setup: oscrypto/pyas2lib still fail to import in $PYAS2_VENV" >&2
    exit 1
}
log "ready"
