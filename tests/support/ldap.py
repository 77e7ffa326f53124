"""A real OpenLDAP ``slapd`` (Debian ``slapd``) on free loopback ports in a temp dir.

The test makes everything: a throwaway CA and a server certificate for 127.0.0.1/localhost
(with ``cryptography``), a ``slapd.conf`` (mdb database, TLS, an ACL that lets nobody search
without binding), and a small directory loaded with ``slapadd`` before the server starts:

    dc=dockyard,dc=test
      ou=people    uid=alice (developers, readers, "on call (24/7)"), uid=bob (readers),
                   uid=carol (no group), uid=erin (registry-admins),
                   cn=Frank (Ops)* (uid frank; developers),
                   uid=pw-* (no group; passwords SASLprep would change, ODD_PASSWORDS)
      ou=groups    cn=developers, cn=readers, cn=registry-admins, cn=on call (24/7)
                   (groupOfNames, member: DN; the last name is not one dockyard can hold)
      ou=services  cn=dockyard (the service account dockyard binds as to search)

It listens on ``ldap://`` (StartTLS available) and ``ldaps://``. Group changes while it runs go
through ``ldapmodify`` (Debian ``ldap-utils``) as the root DN.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from support.server import free_port

BASE = "dc=dockyard,dc=test"
PEOPLE, GROUPS = f"ou=people,{BASE}", f"ou=groups,{BASE}"
ROOT_DN, ROOT_PASSWORD = f"cn=admin,{BASE}", "root-secret"
SERVICE_DN, SERVICE_PASSWORD = f"cn=dockyard,ou=services,{BASE}", "service-secret"
PASSWORDS = {"alice": "alice-ldap-pw", "bob": "bob-ldap-pw", "carol": "carol-ldap-pw",
             "erin": "erin-ldap-pw", "frank": "frank-ldap-pw"}  # fmt: skip
# Passwords stored byte for byte that SASLprep (RFC 4013) would refuse (control characters,
# right-to-left mixed with left-to-right) or map to something else (NFKC, "mapped to nothing").
ODD_PASSWORDS = {"pw-tab": "tab\there", "pw-nul": "nul\x00inside", "pw-del": "del\x7finside",
                 "pw-mixed": "\u05e9\u05dc\u05d5\u05dd-shalom", "pw-super": "power\u00b2",
                 "pw-decomposed": "cafe\u0301-noir", "pw-softhyphen": "soft\u00adhyphen",
                 "pw-fullwidth": "\uff26ullwidth", "pw-plain": "Plain-password"}  # fmt: skip
# frank's entry is named by cn, with filter syntax in it: finding his groups needs the DN escaped
ODD_DNS = {"frank": f"cn=Frank (Ops)*,{PEOPLE}"}
MEMBERS = {"developers": ["alice", "frank"], "readers": ["alice", "bob"],
           "registry-admins": ["erin"], "on call (24/7)": ["alice"]}  # fmt: skip
SCHEMAS = ("core", "cosine", "inetorgperson", "nis")
PLACEHOLDER = f"cn=placeholder,{BASE}"  # in every group, so that any user can leave one


def user_dn(name: str) -> str:
    return ODD_DNS.get(name, f"uid={name},{PEOPLE}")


def require(binary: str, package: str) -> str:
    for folder in ("", "/usr/sbin/", "/usr/bin/"):
        found = shutil.which(folder + binary) if folder else shutil.which(binary)
        if found:
            return found
    raise AssertionError(f"{binary} is missing: apt-get install {package}")


# --- TLS material -----------------------------------------------------------------------


@dataclass(frozen=True)
class LdapTls:
    ca: Path  # the CA that signed the server certificate
    other_ca: Path  # a CA that did not (a client trusting only it must fail)
    cert: Path
    key: Path


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write_ca(path: Path, common: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(_name(common)).issuer_name(_name(common))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def make_ldap_tls(directory: Path) -> LdapTls:
    ca_cert, ca_key = _write_ca(directory / "ca.crt", "dockyard ldap test CA")
    _write_ca(directory / "other-ca.crt", "some other CA")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder().subject_name(_name("127.0.0.1")).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    (directory / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "server.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption())
    )  # fmt: skip
    return LdapTls(directory / "ca.crt", directory / "other-ca.crt", directory / "server.crt",
                   directory / "server.key")  # fmt: skip


# --- configuration and data ---------------------------------------------------------------


def _slapd_conf(directory: Path, tls: LdapTls) -> str:
    includes = "".join(f"include /etc/ldap/schema/{name}.schema\n" for name in SCHEMAS)
    return (
        f"{includes}"
        "modulepath /usr/lib/ldap\nmoduleload back_mdb\n"
        f"pidfile {directory}/slapd.pid\nargsfile {directory}/slapd.args\n"
        f"TLSCACertificateFile {tls.ca}\nTLSCertificateFile {tls.cert}\n"
        f"TLSCertificateKeyFile {tls.key}\n"
        "database mdb\nmaxsize 10485760\n"
        f'suffix "{BASE}"\nrootdn "{ROOT_DN}"\nrootpw {ROOT_PASSWORD}\n'
        f"directory {directory}/db\n"
        "access to attrs=userPassword by self read by anonymous auth by * none\n"
        "access to * by users read by * none\n"
    )


def _entry(dn: str, *lines: str) -> str:
    return "\n".join([f"dn: {dn}", *lines]) + "\n\n"


def _ldif() -> str:
    text = _entry(BASE, "objectClass: dcObject", "objectClass: organization", "o: dockyard",
                  "dc: dockyard")  # fmt: skip
    for unit in ("people", "groups", "services"):
        text += _entry(f"ou={unit},{BASE}", "objectClass: organizationalUnit", f"ou: {unit}")
    text += _entry(SERVICE_DN, "objectClass: person", "cn: dockyard", "sn: service",
                   f"userPassword: {SERVICE_PASSWORD}")  # fmt: skip
    for name, password in PASSWORDS.items():
        common = user_dn(name).split(",")[0].removeprefix("cn=") if name in ODD_DNS else name
        text += _entry(user_dn(name), "objectClass: inetOrgPerson", f"uid: {name}",
                       f"cn: {common}", f"sn: {name.title()}",
                       f"mail: {name}@dockyard.test", f"userPassword: {password}")  # fmt: skip
    for name, password in ODD_PASSWORDS.items():
        raw = base64.b64encode(password.encode()).decode()  # LDIF: "::" is base64, byte-exact
        text += _entry(user_dn(name), "objectClass: inetOrgPerson", f"uid: {name}",
                       f"cn: {name}", "sn: odd", f"userPassword:: {raw}")  # fmt: skip
    for group, members in MEMBERS.items():
        text += _entry(f"cn={group},{GROUPS}", "objectClass: groupOfNames", f"cn: {group}",
                       f"member: {PLACEHOLDER}",  # groupOfNames needs one member
                       *(f"member: {user_dn(m)}" for m in members))  # fmt: skip
    return text


# --- the server ---------------------------------------------------------------------------


@dataclass
class Slapd:
    directory: Path
    tls: LdapTls
    port: int = field(default_factory=free_port)
    tls_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://127.0.0.1:{self.tls_port}"

    def prepare(self) -> None:
        conf = self.directory / "slapd.conf"
        (self.directory / "db").mkdir(parents=True, exist_ok=True)
        conf.write_text(_slapd_conf(self.directory, self.tls))
        data = self.directory / "data.ldif"
        data.write_text(_ldif())
        slapadd = require("slapadd", "slapd")
        done = subprocess.run([slapadd, "-f", str(conf), "-l", str(data)], capture_output=True,
                              text=True, timeout=60, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr

    def start(self) -> None:
        listeners = f"{self.url}/ {self.ldaps_url}/"
        log = open(self.directory / "slapd.log", "ab")  # noqa: SIM115 - kept open by the child
        self.process = subprocess.Popen(
            [require("slapd", "slapd"), "-f", str(self.directory / "slapd.conf"), "-h", listeners,
             "-d", "0"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"slapd exited: {self.log()}")
            if all(_accepts(port) for port in (self.port, self.tls_port)):
                return
            time.sleep(0.05)
        raise RuntimeError(f"slapd did not start: {self.log()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def log(self) -> str:
        return (self.directory / "slapd.log").read_text(errors="replace")

    def set_member(self, group: str, user: str, *, member: bool) -> None:
        """Add ``user`` to (or remove from) ``group`` with ``ldapmodify`` as the root DN;
        nothing happens when that is already so."""
        change = "add" if member else "delete"
        ldif = f"dn: cn={group},{GROUPS}\nchangetype: modify\n{change}: member\n"
        ldif += f"member: {user_dn(user)}\n"
        done = subprocess.run(
            [require("ldapmodify", "ldap-utils"), "-x", "-H", self.url, "-D", ROOT_DN,
             "-w", ROOT_PASSWORD],
            input=ldif, capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert done.returncode in (0, 16, 20), done.stderr  # 16/20: already so


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@contextmanager
def running_slapd(directory: Path) -> Iterator[Slapd]:
    """A started slapd with the test directory loaded; stopped at the end."""
    directory.mkdir(parents=True, exist_ok=True)
    server = Slapd(directory, make_ldap_tls(directory))
    server.prepare()
    server.start()
    try:
        yield server
    finally:
        server.stop()
