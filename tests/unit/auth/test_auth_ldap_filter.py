"""LDAP filter building: RFC 4515 escaping of untrusted values, one-pass substitution."""

from __future__ import annotations

import pytest

from dockyard.auth.ldap_filter import build_filter, escape_filter_value


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("alice", "alice"),
        ("*", r"\2a"),
        ("*)(uid=*", r"\2a\29\28uid=\2a"),
        ("a\\b", r"a\5cb"),
        ("nul\x00byte", r"nul\00byte"),
        ("tab\tnewline\n", r"tab\09newline\0a"),
        ("del\x7f", r"del\7f"),
        ("josé.müller", "josé.müller"),  # UTF-8 is allowed as is
        ("o'brien-smith_2", "o'brien-smith_2"),
        ("", ""),
    ],
)
def test_escape_filter_value(value: str, escaped: str) -> None:
    assert escape_filter_value(value) == escaped


def test_escaped_values_leave_no_filter_syntax() -> None:
    for hostile in ("*", "*)(|(uid=*", "admin)(&)", "x\\2a", "(objectClass=*)"):
        escaped = escape_filter_value(hostile)
        assert not set(escaped) & {"*", "(", ")", "\x00"}
        assert escaped.count("\\") == sum(hostile.count(c) for c in "*()\\")


def test_build_filter_substitutes_and_escapes() -> None:
    template = "(&(objectClass=person)(|(uid={username})(mail={username})))"
    assert build_filter(template, {"username": "bob"}) == (
        "(&(objectClass=person)(|(uid=bob)(mail=bob)))"
    )
    assert build_filter("(uid={username})", {"username": "*)(uid=*"}) == r"(uid=\2a\29\28uid=\2a)"


def test_build_filter_escapes_dns_and_never_expands_twice() -> None:
    dn = "cn=Smith\\, John (IT),ou=people,dc=x"
    assert build_filter("(member={dn})", {"dn": dn}) == (
        r"(member=cn=Smith\5c, John \28IT\29,ou=people,dc=x)"
    )
    # a login name that looks like a placeholder is a literal name, not a second substitution
    values = {"username": "{dn}", "dn": "cn=victim,dc=x"}
    assert build_filter("(&(uid={username})(member={dn}))", values) == (
        "(&(uid={dn})(member=cn=victim,dc=x))"
    )


def test_templates_without_placeholders_are_unchanged() -> None:
    assert build_filter("(objectClass=groupOfNames)", {}) == "(objectClass=groupOfNames)"
