"""The input probes of the security table, as plain data: one row per attack on a handler's inputs.

Each probe says how to send it (method, path, query with ``{image}`` standing for a datastore id, form fields, an
upload named by the body that ``probe_body`` builds) and the status a safe server answers. ``send_probe`` sends one
over HTTP and returns its row; the gate's probes (auth, CORS, Host, switches, byte limit) live with the gate.
"""

from __future__ import annotations

import gzip
import io
import json
import struct
import tarfile
import zlib

import requests

INPUT_PROBES: list[dict] = [
    {
        "name": "session tar member '../x'",
        "method": "PUT",
        "path": "/session/",
        "query": {"uncompress": "true"},
        "upload": ("files", "volume.tar", "tar_dotdot"),
        "expect": 400,
    },
    {
        "name": "session tar symlink to /etc/passwd",
        "method": "PUT",
        "path": "/session/",
        "query": {"uncompress": "true"},
        "upload": ("files", "volume.tar", "tar_symlink"),
        "expect": 400,
    },
    {
        "name": "session tar with 1,001 members",
        "method": "PUT",
        "path": "/session/",
        "query": {"uncompress": "true"},
        "upload": ("files", "volume.tar", "tar_many"),
        "expect": 413,
    },
    {
        "name": "label tag '../../x'",
        "method": "PUT",
        "path": "/datastore/label",
        "query": {"image": "{image}", "tag": "../../x"},
        "upload": ("label", "l.nii.gz", "small_label"),
        "expect": 400,
    },
    {
        "name": "label tag absolute",
        "method": "PUT",
        "path": "/datastore/label",
        "query": {"image": "{image}", "tag": "/abs-tag"},
        "upload": ("label", "l.nii.gz", "small_label"),
        "expect": 400,
    },
    {
        "name": "label tag with NUL",
        "method": "PUT",
        "path": "/datastore/label",
        "query": {"image": "{image}", "tag": "a\x00b"},
        "upload": ("label", "l.nii.gz", "small_label"),
        "expect": 400,
    },
    {
        "name": "label tag of 300 characters",
        "method": "PUT",
        "path": "/datastore/label",
        "query": {"image": "{image}", "tag": "t" * 300},
        "upload": ("label", "l.nii.gz", "small_label"),
        "expect": 400,
    },
    {
        "name": "infer save_label with label_tag '../../x'",
        "method": "POST",
        "path": "/infer/pipeline",
        "query": {"image": "{image}"},
        "form": {"params": json.dumps({"save_label": True, "label_tag": "../../x"})},
        "expect": 400,
    },
    *[
        {
            "name": f"infer {model} on a server path",
            "method": "POST",
            "path": f"/infer/{model}",
            "query": {"image": "/etc/hostname"},
            "expect": 400,
        }
        for model in ("pipeline", "levels", "compression")
    ],
    {
        "name": "infer params swapping the image for a path",
        "method": "POST",
        "path": "/infer/pipeline",
        "query": {"image": "{image}"},
        "form": {"params": json.dumps({"image": "/etc/hostname"})},
        "expect": 400,
    },
    {
        "name": "infer an unknown id",
        "method": "POST",
        "path": "/infer/pipeline",
        "query": {"image": "nope"},
        "expect": 400,
    },
    {"name": "infer without an image", "method": "POST", "path": "/infer/pipeline", "expect": 400},
    {
        "name": "label whose header says 20000 x 20000",
        "method": "PUT",
        "path": "/datastore/label",
        "query": {"image": "{image}", "tag": "final"},
        "upload": ("label", "huge.nii.gz", "huge_label"),
        "expect": 413,
    },
    {
        "name": "PNG decompression bomb upload",
        "method": "PUT",
        "path": "/datastore/image",
        "query": {"image": "probe_bomb"},
        "upload": ("file", "bomb.png", "png_bomb"),
        "expect": 413,
    },
    {
        "name": "PNG of 10000 x 10000 upload",
        "method": "PUT",
        "path": "/datastore/image",
        "query": {"image": "probe_big"},
        "upload": ("file", "big.png", "png_big"),
        "expect": 413,
    },
    {
        "name": "infer an upload that is no image",
        "method": "POST",
        "path": "/infer/pipeline",
        "upload": ("file", "notes.dcm", "text"),
        "expect": 400,
    },
    {
        "name": "PNG decompression bomb to infer",
        "method": "POST",
        "path": "/infer/pipeline",
        "upload": ("file", "bomb.png", "png_bomb"),
        "expect": 413,
    },
]


def probe_body(kind: str) -> bytes:
    """The upload a probe names."""
    if kind.startswith("tar_"):
        members = {
            "tar_dotdot": [_member("../x")],
            "tar_symlink": [_member("ln", tarfile.SYMTYPE, "/etc/passwd")],
            "tar_many": [_member(f"f{i}") for i in range(1001)],
        }[kind]
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for info, data in members:
                tar.addfile(info, io.BytesIO(data) if data is not None else None)
        return buf.getvalue()
    if kind in ("small_label", "huge_label"):
        return _nifti_gz((4, 4, 1) if kind == "small_label" else (20000, 20000, 1))
    if kind in ("png_bomb", "png_big"):
        return _png_header(*((20000, 20000) if kind == "png_bomb" else (10000, 10000)))
    if kind == "text":
        return b"plain text, not DICOM"
    raise KeyError(kind)


def send_probe(url: str, probe: dict, image_id: str, timeout_s: float = 120.0) -> dict:
    """Send one probe to the server at ``url``; its row: name, expected and answered status, whether they agree."""
    query = {k: v.replace("{image}", image_id) for k, v in probe.get("query", {}).items()}
    files = None
    if "upload" in probe:
        field, filename, kind = probe["upload"]
        files = {field: (filename, probe_body(kind))}
    answer = requests.request(
        probe["method"], url + probe["path"], params=query, data=probe.get("form"), files=files, timeout=timeout_s
    )
    return {
        "name": probe["name"],
        "expect": probe["expect"],
        "status": answer.status_code,
        "ok": answer.status_code == probe["expect"],
    }


def _member(name: str, kind=tarfile.REGTYPE, link: str = ""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    data = b"x" if kind == tarfile.REGTYPE else None
    info.size = len(data or b"")
    return info, data


def _nifti_gz(shape: tuple[int, int, int]) -> bytes:
    """A gzip NIfTI-1 of ``shape`` uint8 zeros; only as much data as a small label has (the header says the rest)."""
    import nibabel as nib
    import numpy as np

    header = nib.Nifti1Header()
    header.set_data_dtype(np.uint8)
    header.set_data_shape(shape)
    header.set_sform(np.eye(4), code=1)
    voxels = int(np.prod(shape)) if np.prod(shape) <= 4096 else 1 << 20
    data = bytearray(voxels)
    if voxels == 16:
        data[5] = 1
    return gzip.compress(header.binaryblock + b"\x00" * 4 + bytes(data))


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(256)))
