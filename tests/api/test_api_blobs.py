"""Blob uploads (monolithic, streamed, chunked), downloads with ranges, mounts and deletes."""

from __future__ import annotations

import hashlib
import os

import httpx

from support.oci import assert_oci_error, push_blob, sha256


def _start(client: httpx.Client, repo: str) -> str:
    response = client.post(f"/v2/{repo}/blobs/uploads/")
    assert response.status_code == 202, response.text
    assert response.headers["Range"] == "0-0"
    assert response.headers["OCI-Chunk-Min-Length"].isdigit()
    assert response.headers["Docker-Upload-UUID"]
    return response.headers["Location"]


def test_monolithic_post_with_digest(client: httpx.Client, repo: str) -> None:
    data = os.urandom(100_000)
    response = push_blob(client, repo, data)
    assert response.headers["Docker-Content-Digest"] == sha256(data)
    assert response.headers["Location"].endswith(f"/v2/{repo}/blobs/{sha256(data)}")
    fetched = client.get(f"/v2/{repo}/blobs/{sha256(data)}")
    assert fetched.status_code == 200
    assert fetched.content == data
    assert fetched.headers["Docker-Content-Digest"] == sha256(data)
    assert fetched.headers["Accept-Ranges"] == "bytes"
    assert fetched.headers["Content-Length"] == str(len(data))


def test_post_then_put_monolithic(client: httpx.Client, repo: str) -> None:
    data = b"hello blob"
    location = _start(client, repo)
    response = client.put(location, params={"digest": sha256(data)}, content=data)
    assert response.status_code == 201, response.text
    assert client.get(f"/v2/{repo}/blobs/{sha256(data)}").content == data


def test_streamed_patch_then_put(client: httpx.Client, repo: str) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    location = _start(client, repo)

    def body():  # type: ignore[no-untyped-def]
        for start in range(0, len(data), 65536):
            yield data[start : start + 65536]

    patched = client.patch(location, content=body())
    assert patched.status_code == 202, patched.text
    assert patched.headers["Range"] == f"0-{len(data) - 1}"
    done = client.put(patched.headers["Location"], params={"digest": sha256(data)})
    assert done.status_code == 201, done.text
    assert client.get(f"/v2/{repo}/blobs/{sha256(data)}").content == data


def test_chunked_upload_with_content_range(client: httpx.Client, repo: str) -> None:
    data = os.urandom(250_000)
    location = _start(client, repo)
    for start in range(0, len(data), 100_000):
        chunk = data[start : start + 100_000]
        response = client.patch(
            location,
            content=chunk,
            headers={
                "Content-Range": f"{start}-{start + len(chunk) - 1}",
                "Content-Type": "application/octet-stream",
            },
        )
        assert response.status_code == 202, response.text
        assert response.headers["Range"] == f"0-{start + len(chunk) - 1}"
        location = response.headers["Location"]
    status = client.get(location)
    assert status.status_code == 204
    assert status.headers["Range"] == f"0-{len(data) - 1}"
    done = client.put(location, params={"digest": sha256(data)})
    assert done.status_code == 201
    assert client.get(f"/v2/{repo}/blobs/{sha256(data)}").content == data


def test_chunks_of_odd_sizes_across_the_write_buffers(client: httpx.Client, repo: str) -> None:
    """PATCHes that end anywhere (the filesystem driver writes whole 4 MiB buffers with
    O_DIRECT and must re-align on every append), then a PUT carrying the last chunk."""
    sizes = [5 * 1024 * 1024 + 3, 3 * 1024 * 1024 + 1, 4 * 1024 * 1024, 7, 1024 * 1024 + 5]
    data = os.urandom(sum(sizes))
    location = _start(client, repo)
    start = 0
    for size in sizes[:-1]:
        chunk = data[start : start + size]
        headers = {"Content-Range": f"{start}-{start + size - 1}"}
        response = client.patch(location, content=chunk, headers=headers)
        assert response.status_code == 202, response.text
        assert response.headers["Range"] == f"0-{start + size - 1}"
        location, start = response.headers["Location"], start + size
    done = client.put(location, params={"digest": sha256(data)}, content=data[start:])
    assert done.status_code == 201, done.text
    fetched = client.get(f"/v2/{repo}/blobs/{sha256(data)}")
    assert fetched.content == data


def test_out_of_order_chunk_is_416_with_true_range(client: httpx.Client, repo: str) -> None:
    location = _start(client, repo)
    first = client.patch(location, content=b"a" * 10, headers={"Content-Range": "0-9"})
    assert first.status_code == 202
    skipped = client.patch(location, content=b"b" * 10, headers={"Content-Range": "20-29"})
    assert_oci_error(skipped, 416, "BLOB_UPLOAD_INVALID")
    assert skipped.headers["Range"] == "0-9"
    assert skipped.headers["Location"].endswith(location.rsplit("/", 1)[1])
    overlapping = client.patch(location, content=b"c" * 5, headers={"Content-Range": "5-9"})
    assert_oci_error(overlapping, 416, "BLOB_UPLOAD_INVALID")
    assert client.get(location).headers["Range"] == "0-9"


def test_closing_put_with_wrong_content_range_is_416_and_resumable(
    client: httpx.Client, repo: str
) -> None:
    data = b"a" * 10 + b"b" * 10
    location = _start(client, repo)
    assert client.patch(location, content=data[:10], headers={"Content-Range": "0-9"}).is_success
    for wrong in ("20-29", "5-14"):
        refused = client.put(
            location,
            params={"digest": sha256(data)},
            content=data[10:],
            headers={"Content-Range": wrong},
        )
        assert_oci_error(refused, 416, "BLOB_UPLOAD_INVALID")
        assert refused.headers["Range"] == "0-9"
        assert refused.headers["Location"].endswith(location.rsplit("/", 1)[1])
        assert client.get(location).headers["Range"] == "0-9"
    done = client.put(
        location,
        params={"digest": sha256(data)},
        content=data[10:],
        headers={"Content-Range": "10-19"},
    )
    assert done.status_code == 201, done.text
    assert client.get(f"/v2/{repo}/blobs/{sha256(data)}").content == data


def test_malformed_content_range_is_416(client: httpx.Client, repo: str) -> None:
    location = _start(client, repo)
    for bad in ("nonsense", "5-2", "0-9"):
        response = client.patch(location, content=b"abc", headers={"Content-Range": bad})
        assert_oci_error(response, 416, "BLOB_UPLOAD_INVALID")
    assert client.get(location).headers["Range"] == "0-0"


def test_digest_mismatch_publishes_nothing(client: httpx.Client, repo: str) -> None:
    data = b"the real content"
    wrong = sha256(b"something else")
    response = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": wrong}, content=data)
    assert_oci_error(response, 400, "DIGEST_INVALID")
    assert client.head(f"/v2/{repo}/blobs/{wrong}").status_code == 404
    assert client.head(f"/v2/{repo}/blobs/{sha256(data)}").status_code == 404

    location = _start(client, repo)
    client.patch(location, content=data)
    finished = client.put(location, params={"digest": wrong})
    assert_oci_error(finished, 400, "DIGEST_INVALID")
    assert client.head(f"/v2/{repo}/blobs/{wrong}").status_code == 404
    assert client.head(f"/v2/{repo}/blobs/{sha256(data)}").status_code == 404


def test_sha512_blob(client: httpx.Client, repo: str) -> None:
    data = os.urandom(5000)
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    location = _start(client, repo)
    client.patch(location, content=data[:1000])
    done = client.put(location, params={"digest": digest}, content=data[1000:])
    assert done.status_code == 201, done.text
    assert done.headers["Docker-Content-Digest"] == digest
    assert client.get(f"/v2/{repo}/blobs/{digest}").content == data
    mono = client.post(f"/v2/{repo}-mono/blobs/uploads/", params={"digest": digest}, content=data)
    assert mono.status_code == 201


def test_malformed_and_unsupported_digests(client: httpx.Client, repo: str) -> None:
    for bad in (
        "sha256:xyz",
        "md5:" + "a" * 32,
        "sha256:" + "A" * 64,
        "nodigest",
        "sha256:" + "a" * 63,
    ):
        response = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": bad}, content=b"x")
        assert_oci_error(response, 400, "DIGEST_INVALID")
        assert_oci_error(client.get(f"/v2/{repo}/blobs/{bad}"), 400, "DIGEST_INVALID")
    location = _start(client, repo)
    assert_oci_error(client.put(location, content=b"x"), 400, "DIGEST_INVALID")


def test_head_and_get_unknown_blob(client: httpx.Client, repo: str) -> None:
    digest = sha256(b"never pushed")
    head = client.head(f"/v2/{repo}/blobs/{digest}")
    assert head.status_code == 404
    assert_oci_error(client.get(f"/v2/{repo}/blobs/{digest}"), 404, "BLOB_UNKNOWN")


def test_head_blob_has_length_and_digest(client: httpx.Client, repo: str) -> None:
    data = os.urandom(777)
    push_blob(client, repo, data)
    head = client.head(f"/v2/{repo}/blobs/{sha256(data)}")
    assert head.status_code == 200
    assert head.headers["Content-Length"] == "777"
    assert head.headers["Docker-Content-Digest"] == sha256(data)
    assert head.content == b""


def test_range_requests(client: httpx.Client, repo: str) -> None:
    data = os.urandom(3 * 1024 * 1024)
    push_blob(client, repo, data)
    url = f"/v2/{repo}/blobs/{sha256(data)}"
    partial = client.get(url, headers={"Range": "bytes=100-199"})
    assert partial.status_code == 206
    assert partial.content == data[100:200]
    assert partial.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    assert partial.headers["Content-Length"] == "100"
    tail = client.get(url, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == data[-10:]
    open_end = client.get(url, headers={"Range": f"bytes={len(data) - 5}-"})
    assert open_end.content == data[-5:]
    across = client.get(url, headers={"Range": "bytes=1048000-2097999"})
    assert across.content == data[1048000:2098000]
    beyond = client.get(url, headers={"Range": f"bytes={len(data)}-"})
    assert_oci_error(beyond, 416, "RANGE_INVALID")
    assert beyond.headers["Content-Range"] == f"bytes */{len(data)}"
    garbage = client.get(url, headers={"Range": "pages=1-2"})
    assert garbage.status_code == 200 and garbage.content == data


def test_blob_is_visible_only_where_linked(client: httpx.Client, repo: str) -> None:
    data = os.urandom(64)
    push_blob(client, repo, data)
    assert client.head(f"/v2/{repo}-other/blobs/{sha256(data)}").status_code == 404


def test_cross_repository_mount(client: httpx.Client, repo: str) -> None:
    data = os.urandom(2048)
    push_blob(client, repo, data)
    target = f"{repo}-target"
    response = client.post(
        f"/v2/{target}/blobs/uploads/", params={"mount": sha256(data), "from": repo}
    )
    assert response.status_code == 201, response.text
    assert response.headers["Docker-Content-Digest"] == sha256(data)
    assert client.get(f"/v2/{target}/blobs/{sha256(data)}").content == data


def test_mount_of_unknown_blob_starts_an_upload(client: httpx.Client, repo: str) -> None:
    response = client.post(
        f"/v2/{repo}/blobs/uploads/", params={"mount": sha256(b"missing"), "from": f"{repo}-src"}
    )
    assert response.status_code == 202
    assert "/blobs/uploads/" in response.headers["Location"]


def test_automatic_mount_without_from(client: httpx.Client, repo: str) -> None:
    data = os.urandom(4096)
    push_blob(client, repo, data)
    target = f"{repo}-auto"
    response = client.post(f"/v2/{target}/blobs/uploads/", params={"mount": sha256(data)})
    assert response.status_code == 201, response.text
    assert client.head(f"/v2/{target}/blobs/{sha256(data)}").status_code == 200


def test_mount_from_invalid_repository_name_starts_upload(client: httpx.Client, repo: str) -> None:
    response = client.post(
        f"/v2/{repo}/blobs/uploads/", params={"mount": sha256(b"x"), "from": "Bad//Name"}
    )
    assert response.status_code == 202


def test_cancel_upload(client: httpx.Client, repo: str) -> None:
    location = _start(client, repo)
    client.patch(location, content=b"abc")
    assert client.delete(location).status_code == 204
    assert_oci_error(client.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_oci_error(client.patch(location, content=b"d"), 404, "BLOB_UPLOAD_UNKNOWN")


def test_upload_id_bound_to_its_repository(client: httpx.Client, repo: str) -> None:
    location = _start(client, repo)
    upload_id = location.rsplit("/", 1)[1]
    elsewhere = f"/v2/{repo}-other/blobs/uploads/{upload_id}"
    assert_oci_error(client.get(elsewhere), 404, "BLOB_UPLOAD_UNKNOWN")
    data = b"sneaky"
    put = client.put(elsewhere, params={"digest": sha256(data)}, content=data)
    assert_oci_error(put, 404, "BLOB_UPLOAD_UNKNOWN")
    assert client.get(location).status_code == 204


def test_unknown_and_malformed_upload_ids(client: httpx.Client, repo: str) -> None:
    for upload_id in ("doesnotexist" * 3, "a.b", "a" * 300, "bad%20id"):
        assert_oci_error(
            client.get(f"/v2/{repo}/blobs/uploads/{upload_id}"), 404, "BLOB_UPLOAD_UNKNOWN"
        )


def test_delete_blob_unlinks_it(client: httpx.Client, repo: str) -> None:
    data = os.urandom(100)
    push_blob(client, repo, data)
    url = f"/v2/{repo}/blobs/{sha256(data)}"
    assert client.delete(url).status_code == 202
    assert client.head(url).status_code == 404
    assert_oci_error(client.delete(url), 404, "BLOB_UNKNOWN")


def test_empty_blob(client: httpx.Client, repo: str) -> None:
    response = push_blob(client, repo, b"")
    assert response.headers["Docker-Content-Digest"] == sha256(b"")
    fetched = client.get(f"/v2/{repo}/blobs/{sha256(b'')}")
    assert fetched.status_code == 200 and fetched.content == b""


def test_errors_before_reading_a_body_are_delivered_not_reset(
    client: httpx.Client, repo: str
) -> None:
    """An error answered before the body was read must reach the client as the error."""
    body = os.urandom(2 * 1024 * 1024)
    unknown = f"/v2/{repo}/blobs/uploads/{'x' * 32}"
    for _ in range(10):
        assert_oci_error(client.patch(unknown, content=body), 404, "BLOB_UPLOAD_UNKNOWN")
    location = _start(client, repo)
    for _ in range(10):
        response = client.patch(location, content=body, headers={"Content-Range": "5-2097156"})
        assert_oci_error(response, 416, "BLOB_UPLOAD_INVALID")
