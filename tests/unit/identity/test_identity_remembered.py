"""Remembered logins (pure logic, a fake clock): each entry keeps its own lifetime, the least
recently used one makes room, and nothing but a SHA-256 of the password is kept."""

from __future__ import annotations

from dockyard.services.identity.remembered import RememberedLogins


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_each_login_lives_its_own_lifetime() -> None:
    clock = Clock()
    logins = RememberedLogins(seconds=60, clock=clock)
    logins.remember("alice", "pw-a", "alice", "", "stamp-a")
    clock.now += 40
    for index in range(50):  # other users' logins come and go
        logins.remember(f"user{index}", "pw", f"user{index}", "", "s")
    alice = logins.get("alice", "pw-a")
    assert alice is not None and (alice.subject, alice.stamp) == ("alice", "stamp-a")
    logins.remember("bob", "pw-b", "bob", "pat:7", "stamp-b")
    clock.now += 20  # alice's minute is over, bob's is not
    assert logins.get("alice", "pw-a") is None
    bob = logins.get("bob", "pw-b")
    assert bob is not None and bob.via == "pat:7"
    assert logins.get("bob", "another-password") is None
    assert logins.get("Bob", "pw-b") is None  # keyed by the name typed


def test_the_least_recently_used_login_makes_room() -> None:
    logins = RememberedLogins(capacity=3, clock=Clock())
    for name in ("a", "b", "c"):
        logins.remember(name, "pw", name, "", "s")
    assert logins.get("a", "pw") is not None  # "a" used: "b" is now the oldest
    logins.remember("d", "pw", "d", "", "s")
    assert len(logins) == 3
    assert logins.get("b", "pw") is None
    assert all(logins.get(name, "pw") is not None for name in ("a", "c", "d"))


def test_the_subject_may_be_spelled_differently_and_forget_drops_one() -> None:
    logins = RememberedLogins(clock=Clock())
    logins.remember("ALICE", "pw", "alice", "", "s")
    logins.remember("alice", "pw", "alice", "", "s")
    found = logins.get("ALICE", "pw")
    assert found is not None and found.subject == "alice"
    logins.forget("ALICE", "pw")
    assert logins.get("ALICE", "pw") is None and logins.get("alice", "pw") is not None


def test_no_password_is_kept() -> None:
    logins = RememberedLogins(clock=Clock())
    logins.remember("alice", "very-secret-password\ud800", "alice", "", "s")  # odd text too
    assert "very-secret-password" not in repr(vars(logins))
    assert logins.get("alice", "very-secret-password\ud800") is not None
