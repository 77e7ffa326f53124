"""The error-code table and the OCI error envelope."""

from __future__ import annotations

import json

from dockyard.core.errors import ErrorCode, RegistryError


def test_envelope_shape_with_defaults() -> None:
    error = RegistryError(ErrorCode.BLOB_UNKNOWN)
    assert error.envelope() == {
        "errors": [{"code": "BLOB_UNKNOWN", "message": "blob unknown to registry", "detail": {}}]
    }
    assert error.status == 404
    assert error.headers == {}
    assert str(error) == "blob unknown to registry"


def test_envelope_carries_message_and_detail() -> None:
    error = RegistryError(
        ErrorCode.MANIFEST_BLOB_UNKNOWN, "layer missing", detail={"digest": "sha256:ab"}
    )
    (entry,) = error.envelope()["errors"]
    assert entry == {
        "code": "MANIFEST_BLOB_UNKNOWN",
        "message": "layer missing",
        "detail": {"digest": "sha256:ab"},
    }
    assert set(entry) == {"code", "message", "detail"}


def test_envelope_keeps_non_dict_detail_and_is_json() -> None:
    error = RegistryError(ErrorCode.DENIED, detail=[{"Type": "repository", "Action": "push"}])
    envelope = error.envelope()
    assert envelope["errors"][0]["detail"] == [{"Type": "repository", "Action": "push"}]
    assert json.loads(json.dumps(envelope)) == envelope


def test_status_and_headers_override() -> None:
    error = RegistryError(
        ErrorCode.UNAUTHORIZED, status=401, headers={"WWW-Authenticate": 'Basic realm="x"'}
    )
    assert error.status == 401
    assert error.headers["WWW-Authenticate"] == 'Basic realm="x"'
    assert RegistryError(ErrorCode.SIZE_INVALID, status=416).status == 416


def test_table_is_consistent() -> None:
    values = [code.value_name for code in ErrorCode]
    assert len(values) == len(set(values))
    for code in ErrorCode:
        assert code.value_name == code.name
        assert 400 <= code.status < 600
        assert code.message


def test_spec_statuses() -> None:
    expected = {
        "BLOB_UNKNOWN": 404,
        "BLOB_UPLOAD_INVALID": 400,
        "BLOB_UPLOAD_UNKNOWN": 404,
        "DIGEST_INVALID": 400,
        "MANIFEST_BLOB_UNKNOWN": 400,
        "MANIFEST_INVALID": 400,
        "MANIFEST_UNKNOWN": 404,
        "NAME_INVALID": 400,
        "NAME_UNKNOWN": 404,
        "SIZE_INVALID": 400,
        "UNAUTHORIZED": 401,
        "DENIED": 403,
        "UNSUPPORTED": 405,
        "TOOMANYREQUESTS": 429,
    }
    for name, status in expected.items():
        assert ErrorCode[name].status == status, name
