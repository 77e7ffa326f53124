"""The LDAP credential backend against a real slapd: binds, searches, groups, TLS, failures."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from dockyard.auth.identity import ExternalIdentity
from dockyard.auth.ldap import LdapBackend
from dockyard.config.ldap import LdapAttributes, LdapSettings
from dockyard.core.errors import ErrorCode, RegistryError
from support.ldap import (
    GROUPS,
    ODD_PASSWORDS,
    PASSWORDS,
    PEOPLE,
    SERVICE_DN,
    SERVICE_PASSWORD,
    Slapd,
    running_slapd,
)
from support.server import free_port


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    with running_slapd(tmp_path_factory.mktemp("slapd")) as server:
        yield server


def backend(slapd: Slapd, **changes: Any) -> LdapBackend:
    settings: dict[str, Any] = {
        "url": slapd.url, "binddn": SERVICE_DN, "bindpassword": SERVICE_PASSWORD,
        "usersearchbase": PEOPLE, "groupsearchbase": GROUPS, "timeout": "5s",
    }  # fmt: skip
    return LdapBackend(LdapSettings(**(settings | changes)))


def check(ldap: LdapBackend, username: str, password: str) -> ExternalIdentity | None:
    return asyncio.run(ldap.authenticate(username, password))


def unavailable(ldap: LdapBackend, username: str = "alice") -> RegistryError:
    with pytest.raises(RegistryError) as info:
        check(ldap, username, PASSWORDS.get(username, "whatever"))
    assert info.value.code is ErrorCode.UNAVAILABLE
    assert info.value.code.status == 503
    return info.value


def test_users_groups_and_email(slapd: Slapd) -> None:
    ldap = backend(slapd)
    alice = check(ldap, "alice", PASSWORDS["alice"])
    assert alice == ExternalIdentity("alice", "ldap", ("developers", "readers"),
                                     "alice@dockyard.test")  # fmt: skip
    assert check(ldap, "bob", PASSWORDS["bob"]) == ExternalIdentity(
        "bob", "ldap", ("readers",), "bob@dockyard.test"
    )
    carol = check(ldap, "carol", PASSWORDS["carol"])
    assert carol is not None and carol.groups == ()
    assert check(backend(slapd, groupsearchbase=""), "alice", PASSWORDS["alice"]) == (
        ExternalIdentity("alice", "ldap", (), "alice@dockyard.test")
    )


def test_entry_names_with_filter_syntax_and_odd_group_names(slapd: Slapd) -> None:
    frank = check(backend(slapd), "frank", PASSWORDS["frank"])  # DN "cn=Frank (Ops)*,..."
    assert frank is not None and frank.groups == ("developers",)
    alice = check(backend(slapd), "alice", PASSWORDS["alice"])
    assert alice is not None and "on call (24/7)" not in alice.groups  # not a dockyard name


def test_wrong_password_and_unknown_user_look_the_same(slapd: Slapd) -> None:
    ldap = backend(slapd)
    assert check(ldap, "alice", "not-her-password") is None
    assert check(ldap, "alice", PASSWORDS["bob"]) is None  # another user's password
    assert check(ldap, "nobody", "whatever") is None
    assert check(ldap, "nobody", PASSWORDS["alice"]) is None


@pytest.mark.parametrize("name", ["*", "*)(uid=*", "alice)(uid=*", "a*", "al*ce", "*)(|(uid=*",
                                  "alice\x00", " alice", "alice ", "x" * 300])  # fmt: skip
def test_injection_and_lookalike_names_are_refused(slapd: Slapd, name: str) -> None:
    assert check(backend(slapd), name, PASSWORDS["alice"]) is None


def test_the_directory_decides_the_case_and_the_entry_names_the_account(slapd: Slapd) -> None:
    ldap = backend(slapd)
    for typed in ("ALICE", "Alice", "aLiCe"):  # uid matches ignoring case (caseIgnoreMatch)
        found = check(ldap, typed, PASSWORDS["alice"])
        assert found == ExternalIdentity("alice", "ldap", ("developers", "readers"),
                                         "alice@dockyard.test"), typed  # fmt: skip
        assert check(ldap, typed, PASSWORDS["bob"]) is None  # still her password only
    frank = check(ldap, "FRANK", PASSWORDS["frank"])  # DN "cn=Frank (Ops)*,..."
    assert frank is not None and frank.username == "frank"
    by_mail = backend(
        slapd, userfilter="(mail={username})", attributes=LdapAttributes(username="mail")
    )
    found = check(by_mail, "Bob@Dockyard.TEST", PASSWORDS["bob"])
    assert found is not None and found.username == "bob@dockyard.test"
    by_uid = backend(slapd, userfilter="(mail={username})")  # looked up by mail, named by uid
    found = check(by_uid, "BOB@dockyard.test", PASSWORDS["bob"])
    assert found is not None and found.username == "bob"


def test_an_entry_whose_name_dockyard_cannot_hold_is_refused(slapd: Slapd) -> None:
    by_cn = backend(slapd, attributes=LdapAttributes(username="cn"))  # "Frank (Ops)*"
    assert check(by_cn, "frank", PASSWORDS["frank"]) is None
    assert check(by_cn, "alice", PASSWORDS["alice"]) is not None  # cn "alice" is fine


def test_empty_password_is_refused_without_asking_the_directory(slapd: Slapd) -> None:
    assert check(backend(slapd), "alice", "") is None
    closed = backend(slapd, url=f"ldap://127.0.0.1:{free_port()}")
    assert check(closed, "alice", "") is None  # nothing was sent: no 503 either
    assert check(closed, "", "x") is None


def test_another_login_attribute(slapd: Slapd) -> None:
    by_mail = backend(slapd, userfilter="(&(objectClass=inetOrgPerson)(mail={username}))",
                      attributes=LdapAttributes(username="mail"))  # fmt: skip
    found = check(by_mail, "bob@dockyard.test", PASSWORDS["bob"])
    assert found is not None and found.username == "bob@dockyard.test"
    assert check(by_mail, "bob", PASSWORDS["bob"]) is None


def test_starttls_and_ldaps_with_the_right_ca(slapd: Slapd) -> None:
    ca = str(slapd.tls.ca)
    for ldap in (backend(slapd, starttls=True, cacertificate=ca),
                 backend(slapd, url=slapd.ldaps_url, cacertificate=ca)):  # fmt: skip
        found = check(ldap, "bob", PASSWORDS["bob"])
        assert found is not None and found.groups == ("readers",)
        assert check(ldap, "bob", "wrong") is None


def test_a_certificate_from_another_ca_fails_cleanly(slapd: Slapd) -> None:
    other = str(slapd.tls.other_ca)
    unavailable(backend(slapd, starttls=True, cacertificate=other))
    unavailable(backend(slapd, url=slapd.ldaps_url, cacertificate=other))
    unavailable(backend(slapd, url=slapd.ldaps_url))  # the system CAs do not know it either
    skipping = backend(slapd, url=slapd.ldaps_url, cacertificate=other, insecureskipverify=True)
    assert check(skipping, "bob", PASSWORDS["bob"]) is not None


def test_directory_unreachable_or_refusing_the_service_account(slapd: Slapd) -> None:
    error = unavailable(backend(slapd, url=f"ldap://127.0.0.1:{free_port()}"))
    assert "password" not in error.message and PASSWORDS["alice"] not in error.message
    unavailable(backend(slapd, bindpassword="not-the-service-password"))
    unavailable(backend(slapd, url=f"ldaps://127.0.0.1:{slapd.port}"))  # TLS to a plain port


def test_anonymous_search_finds_nobody_when_the_acl_forbids_it(slapd: Slapd) -> None:
    assert check(backend(slapd, binddn="", bindpassword=""), "alice", PASSWORDS["alice"]) is None


def test_group_filter_with_the_login_name(slapd: Slapd) -> None:
    by_name = backend(slapd, groupfilter="(member=uid={username},ou=people,dc=dockyard,dc=test)")
    found = check(by_name, "alice", PASSWORDS["alice"])
    assert found is not None and found.groups == ("developers", "readers")


@pytest.mark.parametrize("name", sorted(ODD_PASSWORDS))
def test_the_password_is_sent_exactly_as_typed(slapd: Slapd, name: str) -> None:
    found = check(backend(slapd), name, ODD_PASSWORDS[name])  # stored byte for byte
    assert found is not None and found.username == name


# (user, a password SASLprep makes equal to theirs, or that carries a control character)
LOOKALIKES = [
    ("pw-super", "power2"), ("pw-decomposed", "caf\u00e9-noir"), ("pw-softhyphen", "softhyphen"),
    ("pw-fullwidth", "Fullwidth"), ("pw-plain", "Plain-pass\u00adword"),
    ("pw-plain", "\uff30lain-password"), ("pw-plain", "Plain-password\u200b"),
    ("pw-tab", "tab\tthere"), ("pw-nul", "nul\x00outside"), ("pw-del", "del\x7foutside"),
    ("alice", "wrong\x00"), ("alice", "wrong\tpassword"), ("alice", "\x7f"),
    ("alice", "\u05e9-wrong"), ("nobody", "x\x00y"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "password"), LOOKALIKES)
def test_lookalike_and_control_character_passwords_are_wrong_passwords(
    slapd: Slapd, name: str, password: str
) -> None:
    assert check(backend(slapd), name, password) is None  # a 401, never a 503


def test_a_password_that_is_not_utf8_is_refused_without_asking(slapd: Slapd) -> None:
    closed = backend(slapd, url=f"ldap://127.0.0.1:{free_port()}")
    assert check(closed, "alice", "\ud800") is None  # a lone surrogate: nothing is sent


def test_an_outage_is_still_a_503_whatever_the_password(slapd: Slapd) -> None:
    closed = backend(slapd, url=f"ldap://127.0.0.1:{free_port()}")
    for password in ("tab\there", "x\x00y", "power\u00b2"):
        with pytest.raises(RegistryError) as info:
            check(closed, "pw-tab", password)
        assert info.value.code is ErrorCode.UNAVAILABLE
