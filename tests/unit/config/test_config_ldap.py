"""``dockyard.identity.ldap``: defaults, YAML, REGISTRY_* overrides and one-line errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.config import ConfigError, load_settings

WriteConfig = Callable[[str], str]
PREFIX = "REGISTRY_DOCKYARD_IDENTITY_LDAP_"
BASE = {f"{PREFIX}URL": "ldap://127.0.0.1:3890", f"{PREFIX}USERSEARCHBASE": "ou=people,dc=x"}


def error(environ: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(None, environ)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_off_by_default() -> None:
    ldap = load_settings(None, {}).dockyard.identity.ldap
    assert not ldap.enabled
    assert ldap.userfilter == "(uid={username})"
    assert ldap.attributes.username == "uid"
    assert ldap.timeout_seconds == 10


def test_environment_overrides_reach_every_key(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not checked here\n")
    environ = {
        **BASE,
        f"{PREFIX}URL": "ldaps://ldap.example.test",
        f"{PREFIX}BINDDN": "cn=reader,dc=x",
        f"{PREFIX}BINDPASSWORD": "12345",  # YAML would read a number: kept as text
        f"{PREFIX}USERFILTER": "(sAMAccountName={username})",
        f"{PREFIX}GROUPSEARCHBASE": "ou=groups,dc=x",
        f"{PREFIX}ATTRIBUTES_USERNAME": "sAMAccountName",
        f"{PREFIX}CACERTIFICATE": str(ca),
        f"{PREFIX}TIMEOUT": "3s",
        f"{PREFIX}GROUPMAPPINGS_0_GROUP": "developers",
        f"{PREFIX}GROUPMAPPINGS_0_PROJECT": "team",
        f"{PREFIX}GROUPMAPPINGS_0_ROLE": "maintainer",
        f"{PREFIX}ADMINGROUPS_0": "registry-admins",
    }
    ldap = load_settings(None, environ).dockyard.identity.ldap
    assert ldap.enabled and ldap.url == "ldaps://ldap.example.test"
    assert ldap.bindpassword == "12345"
    assert ldap.userfilter == "(sAMAccountName={username})"
    assert ldap.attributes.username == "sAMAccountName"
    assert ldap.attributes.email == "mail"  # untouched keys keep their defaults
    assert ldap.timeout_seconds == 3
    assert [(m.group, m.project, m.role) for m in ldap.groupmappings] == [
        ("developers", "team", "maintainer")
    ]
    assert ldap.admingroups == ["registry-admins"]


def test_yaml_section(write_config: WriteConfig) -> None:
    path = write_config(
        "version: 0.1\ndockyard:\n  identity:\n    ldap:\n"
        "      url: ldap://127.0.0.1:389\n      starttls: true\n"
        "      usersearchbase: ou=people,dc=x\n      groupsearchbase: ou=groups,dc=x\n"
        "      groupmappings:\n        - {group: readers, project: team, role: guest}\n"
    )
    ldap = load_settings(path, {}).dockyard.identity.ldap
    assert ldap.starttls
    assert ldap.groupmappings[0].role == "guest"


BAD: list[tuple[dict[str, str], str]] = [
    ({f"{PREFIX}URL": "http://ldap.example.test", f"{PREFIX}USERSEARCHBASE": "dc=x"},
     "dockyard.identity.ldap.url: expected ldap://HOST or ldaps://HOST"),
    ({f"{PREFIX}URL": "ldap://", f"{PREFIX}USERSEARCHBASE": "dc=x"},
     "dockyard.identity.ldap.url: expected ldap://HOST[:PORT]"),
    ({f"{PREFIX}URL": "ldap://host:99999", f"{PREFIX}USERSEARCHBASE": "dc=x"},
     "dockyard.identity.ldap.url: invalid port"),
    ({f"{PREFIX}URL": "ldap://host/dc=x?uid", f"{PREFIX}USERSEARCHBASE": "dc=x"},
     "dockyard.identity.ldap.url: only scheme, host and port"),
    ({**BASE, f"{PREFIX}URL": "ldaps://host", f"{PREFIX}STARTTLS": "true"},
     "dockyard.identity.ldap.starttls: cannot be combined with an ldaps:// url"),
    ({f"{PREFIX}URL": "ldap://host"}, "dockyard.identity.ldap.usersearchbase: required"),
    ({f"{PREFIX}BINDDN": "cn=x"}, "dockyard.identity.ldap.url: required"),
    ({**BASE, f"{PREFIX}USERFILTER": "(uid=alice)"},
     "dockyard.identity.ldap.userfilter: must contain {username}"),
    ({**BASE, f"{PREFIX}USERFILTER": "uid={username}"},
     "dockyard.identity.ldap.userfilter: expected an LDAP filter in parentheses"),
    ({**BASE, f"{PREFIX}USERFILTER": "(&(uid={username})(o={org}))"},
     "dockyard.identity.ldap.userfilter: unknown placeholder {org}"),
    ({**BASE, f"{PREFIX}GROUPSEARCHBASE": "dc=x", f"{PREFIX}GROUPFILTER": "(member=x)"},
     "dockyard.identity.ldap.groupfilter: must contain {dn} or {username}"),
    ({**BASE, f"{PREFIX}BINDDN": "cn=reader"},
     "dockyard.identity.ldap.bindpassword: required when binddn is set"),
    ({**BASE, f"{PREFIX}CACERTIFICATE": "/nonexistent/ca.pem"},
     "dockyard.identity.ldap.cacertificate: file not found"),
    ({**BASE, f"{PREFIX}TIMEOUT": "soon"}, "dockyard.identity.ldap.timeout: invalid duration"),
    ({**BASE, f"{PREFIX}TIMEOUT": "0s"}, "dockyard.identity.ldap.timeout: must be above zero"),
    ({**BASE, f"{PREFIX}ATTRIBUTES_USERNAME": " "},
     "dockyard.identity.ldap.attributes.username: must not be empty"),
    ({**BASE, f"{PREFIX}ADMINGROUPS_0": "admins"},
     "dockyard.identity.ldap.groupsearchbase: required when groupmappings or admingroups"),
    ({**BASE, f"{PREFIX}GROUPSEARCHBASE": "dc=x", f"{PREFIX}GROUPMAPPINGS_0_GROUP": "devs",
      f"{PREFIX}GROUPMAPPINGS_0_PROJECT": "Team!"},
     'dockyard.identity.ldap.groupmappings[0].project: invalid project name "Team!"'),
    ({**BASE, f"{PREFIX}GROUPSEARCHBASE": "dc=x", f"{PREFIX}GROUPMAPPINGS_0_GROUP": "devs",
      f"{PREFIX}GROUPMAPPINGS_0_PROJECT": "team", f"{PREFIX}GROUPMAPPINGS_0_ROLE": "Boss Man"},
     'dockyard.identity.ldap.groupmappings[0].role: invalid role name "Boss Man"'),
    ({**BASE, f"{PREFIX}GROUPSEARCHBASE": "dc=x", f"{PREFIX}GROUPMAPPINGS_0_GROUP": "devs"},
     "groupmappings[0]"),  # project is required
]  # fmt: skip


@pytest.mark.parametrize(("environ", "expected"), BAD, ids=[e for _, e in BAD])
def test_bad_settings_give_one_line_naming_the_key(environ: dict[str, str], expected: str) -> None:
    assert expected in error(environ)
