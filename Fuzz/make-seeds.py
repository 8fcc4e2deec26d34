#!/usr/bin/env python3
"""Seed corpora for `make fuzz`: make-seeds.py OUTDIR writes OUTDIR/TARGET/ for every fuzz target.

Each target starts from testdata/fuzz/TARGET/ (hand-written seeds and every crash input kept as a
regression), plus what the fixtures give it: the archives of testdata/docker-archive/make-fixtures.py
and an oci-archive of testdata/gen/mkimage.py (for load and tar), their members (tar: the layers), and
the JSON documents inside them, sorted by kind (manifest, index, config, docker-manifest).
Only the Python standard library; deterministic, like the generators it runs.
"""
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGETS = ["reference", "digest", "manifest", "index", "config", "docker-manifest", "change", "tar", "load",
           "auth-challenge", "link", "sync-list"]


def put(out, target, data):
    path = os.path.join(out, target, hashlib.sha1(data).hexdigest())
    with open(path, "wb") as f:
        f.write(data)


def kind(data):
    """The fuzz target a JSON member feeds, or None."""
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    if isinstance(doc, list):
        return "docker-manifest"
    if not isinstance(doc, dict):
        return None
    if "manifests" in doc:
        return "index"
    if "layers" in doc and "config" in doc:
        return "manifest"
    if "rootfs" in doc or "architecture" in doc:
        return "config"
    return None


def archive_members(out, archive):
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            data = tar.extractfile(member).read()
            if data[:2] == b"\x1f\x8b" or data[257:262] == b"ustar":
                put(out, "tar", data)
            elif kind(data):
                put(out, kind(data), data)


def main():
    out = sys.argv[1]
    for target in TARGETS:
        os.makedirs(os.path.join(out, target), exist_ok=True)
        own = os.path.join(ROOT, "testdata", "fuzz", target)
        for name in sorted(os.listdir(own)) if os.path.isdir(own) else []:
            shutil.copy(os.path.join(own, name), os.path.join(out, target, name))
    with tempfile.TemporaryDirectory() as work:
        fixtures = os.path.join(work, "fixtures")
        subprocess.run([sys.executable, os.path.join(ROOT, "testdata/docker-archive/make-fixtures.py"), fixtures],
                       check=True, stdout=subprocess.DEVNULL)
        layout = os.path.join(work, "layout")
        subprocess.run([sys.executable, os.path.join(ROOT, "testdata/gen/mkimage.py"), layout,
                        "--image", "fuzz/a:1=layers=1,files=2,size=64", "--image", "fuzz/b:1=layers=1,files=1,size=32,base=fuzz/a:1"],
                       check=True, stdout=subprocess.DEVNULL)
        oci = os.path.join(fixtures, "oci.tar")
        with tarfile.open(oci, "w", format=tarfile.PAX_FORMAT) as tar:
            tar.add(layout, arcname=".")
        for name in sorted(os.listdir(fixtures)):
            path = os.path.join(fixtures, name)
            with open(path, "rb") as f:
                data = f.read()
            put(out, "load", data)
            put(out, "tar", data)
            archive_members(out, path)
    for target in TARGETS:
        print(f"{target}: {len(os.listdir(os.path.join(out, target)))} seeds")


if __name__ == "__main__":
    main()
