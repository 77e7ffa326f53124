"""``dockyard.identity.oidc``: defaults, YAML and environment, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.config import ConfigError, load_settings
from dockyard.config.oidc import OidcGroupMapping

ISSUER = "https://login.example.test/realms/main"


def oidc_env(**keys: str) -> dict[str, str]:
    return {f"REGISTRY_DOCKYARD_IDENTITY_OIDC_{k.upper()}": v for k, v in keys.items()}


def error_of(environ: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(None, environ)
    text = str(info.value)
    assert "\n" not in text
    return text


def test_off_by_default() -> None:
    oidc = load_settings(None, {}).dockyard.identity.oidc
    assert not oidc.enabled
    assert oidc.algorithms == ["RS256", "ES256"]
    assert (oidc.usernameclaim, oidc.groupsclaim, oidc.emailclaim) == ("", "groups", "email")
    assert not oidc.insecureskipverify


def test_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text(
        "dockyard:\n  identity:\n    enabled: true\n    oidc:\n"
        f"      issuer: {ISSUER}\n      clientid: registry\n      usernameclaim: email\n"
        "      jwksttl: 10m\n      algorithms: [ES256]\n      admingroups: [ops]\n"
        "      groupmappings:\n        - {group: devs, project: team-a}\n"
        "        - {group: qa, project: team-a, role: guest}\n"
    )
    oidc = load_settings(str(path), {}).dockyard.identity.oidc
    assert oidc.enabled and oidc.clientid == "registry" and oidc.usernameclaim == "email"
    assert oidc.jwksttl_seconds == 600 and oidc.algorithms == ["ES256"]
    assert oidc.groupmappings == [
        OidcGroupMapping(group="devs", project="team-a", role="developer"),
        OidcGroupMapping(group="qa", project="team-a", role="guest"),
    ]


def test_environment() -> None:
    env = oidc_env(issuer="http://127.0.0.1:8080", clientid="c", admingroups="[ops, root]")
    oidc = load_settings(None, env).dockyard.identity.oidc
    assert oidc.issuer == "http://127.0.0.1:8080" and oidc.admingroups == ["ops", "root"]


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"clientid": "c"}, "dockyard.identity.oidc.issuer: required"),
        ({"issuer": ISSUER}, "dockyard.identity.oidc.clientid: required"),
        ({"issuer": "http://idp.example.test", "clientid": "c"}, "plain http is only allowed"),
        ({"issuer": "ftp://idp.example.test", "clientid": "c"}, "expected an https:// URL"),
        ({"issuer": "not a url", "clientid": "c"}, "dockyard.identity.oidc.issuer:"),
        ({"issuer": ISSUER + "?x=1", "clientid": "c"}, "must not have a query"),
        ({"issuer": ISSUER, "clientid": "c", "algorithms": "[HS256]"}, "not accepted: HS256"),
        ({"issuer": ISSUER, "clientid": "c", "algorithms": "[none]"}, "not accepted: none"),
        ({"issuer": ISSUER, "clientid": "c", "algorithms": "[]"}, "at least one algorithm"),
        ({"issuer": ISSUER, "clientid": "c", "jwksttl": "0"}, "jwksttl: duration must be above"),
        ({"issuer": ISSUER, "clientid": "c", "timeout": "soon"}, "timeout: invalid duration"),
        ({"issuer": ISSUER, "clientid": "c", "cacertificate": "/nope.pem"}, "file not found"),
        (
            {"issuer": ISSUER, "clientid": "c", "groupmappings": "[{group: d, project: Bad}]"},
            "groupmappings[0].project: not a project name",
        ),
        (
            {"issuer": ISSUER, "clientid": "c", "groupmappings": "[{project: team}]"},
            "groupmappings[0].group: required key missing",
        ),
        ({"issuer": ISSUER, "clientid": "c", "admingroups": "['']"}, "admingroups[0]: must not"),
        (  # a known key whose value holds an unknown key
            {"issuer": ISSUER, "clientid": "c", "groupmappings": "[{group: d, project: t, x: 1}]"},
            "unknown key dockyard.identity.oidc.groupmappings[0].x",
        ),
    ],
)
def test_errors_name_the_key(keys: dict[str, str], expected: str) -> None:
    assert expected in error_of(oidc_env(**keys))
