#!/usr/bin/env python3
"""Deterministic generator of OCI image layouts for bale's tests and demo.

    mkimage.py OUTDIR --image NAME:TAG[=SPEC] [--image ...] [options]

Writes an OCI image layout (oci-layout, index.json, blobs/sha256/...) holding one image per
--image. The same arguments always give the same bytes, hence the same digests (given the same
zlib; the tests compute expected digests from the written layout, never hard-code them).

Layout written:

    OUTDIR/oci-layout                 {"imageLayoutVersion":"1.0.0"}
    OUTDIR/index.json                 one manifest descriptor per image, in argument order,
                                      annotated org.opencontainers.image.ref.name
    OUTDIR/blobs/sha256/<hex>         manifests, configs, layers (a shared layer is stored once)

SPEC is a comma-separated list of KEY=VALUE:

    layers=N      layers of this image on top of its base (default 2; 0 allowed with a base)
    files=N       files per layer (default 3)
    size=N        bytes per file, pseudo-random so incompressible (default 512)
    seed=S        content seed (default NAME:TAG); same seed and shape -> same layer blobs
    base=NAME:TAG start from the layers, history and labels of an image given earlier
    created=TIME  config "created", RFC 3339 (default 2024-01-01T00:00:00Z plus one day per image)
    arch=A os=O variant=V    platform of the config (default amd64, linux)
    label.K=V     a label in config.Labels (repeatable)

Options:

    --share-base       every image without base= is built on the first image
    --docker-types     Docker schema-2 media types for manifests, configs and layers
    --compression C    gzip (default) or none
    --ref-name FORM    given (default: the NAME:TAG as written), tag (TAG only), or
                       full (docker-normalised: docker.io/library/NAME:TAG)
    --summary          print a JSON summary (ref, manifest, config, layers, diff_ids) on stdout

Determinism: tar entries are sorted, with mtime 1704067200, uid/gid 0, empty user and group
names, fixed modes; gzip has mtime 0 and no file name; JSON documents are written with sorted
keys and no spaces.
"""

import argparse
import datetime
import gzip
import hashlib
import io
import json
import os
import re
import sys
import tarfile

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
REF_NAME = "org.opencontainers.image.ref.name"
TAR_MTIME = 1704067200  # 2024-01-01T00:00:00Z
BASE_TIME = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def fail(message):
    print("mkimage: " + message, file=sys.stderr)
    sys.exit(2)


def canonical_json(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def rfc3339(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text):
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        fail("bad created time %r (want RFC 3339, e.g. 2024-01-01T00:00:00Z)" % text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc)


def pseudo_random(seed, length):
    """length bytes of SHA-256 in counter mode: deterministic and incompressible."""
    out = bytearray()
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(("%s/%d" % (seed, counter)).encode()).digest()
        counter += 1
    return bytes(out[:length])


def split_name(name):
    """NAME:TAG -> (NAME, TAG); the tag is after the last colon that follows the last slash."""
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1:]
    return name, "latest"


def normalise(name):
    """Docker normalisation of NAME[:TAG]: docker.io, library/ and :latest added as docker does."""
    repo, tag = split_name(name)
    first, _, rest = repo.partition("/")
    if not rest:
        repo = "docker.io/library/" + repo
    elif not ("." in first or ":" in first or first == "localhost"):
        repo = "docker.io/" + repo
    return repo + ":" + tag


class Layout:
    """Blobs written once each, by digest."""

    def __init__(self, root):
        self.root = root
        self.blob_dir = os.path.join(root, "blobs", "sha256")
        os.makedirs(self.blob_dir, exist_ok=True)

    def put(self, data, media_type):
        hexdigest = hashlib.sha256(data).hexdigest()
        path = os.path.join(self.blob_dir, hexdigest)
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(data)
        return {"mediaType": media_type, "digest": "sha256:" + hexdigest, "size": len(data)}


def make_tar(seed, slug, index, files, size):
    """One layer's tar: opt/SLUG/lINDEX/fJ.bin plus its parent directories, sorted."""
    top = "opt/%s/l%d" % (slug, index)
    entries = []
    parts = top.split("/")
    for depth in range(1, len(parts) + 1):
        entries.append(("/".join(parts[:depth]), None))
    for j in range(files):
        entries.append(("%s/f%d.bin" % (top, j), pseudo_random("%s/%d/%d" % (seed, index, j), size)))
    entries.sort(key=lambda e: e[0])
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in entries:
            info = tarfile.TarInfo(name)
            info.mtime = TAR_MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if content is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.mode = 0o644
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue(), top


def compress(data, compression):
    if compression == "none":
        return data
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", fileobj=buffer, mode="wb", compresslevel=6, mtime=0) as gz:
        gz.write(data)
    return buffer.getvalue()


def parse_spec(text):
    spec = {"labels": {}}
    if not text:
        return spec
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep:
            fail("bad spec item %r (want KEY=VALUE)" % item)
        if key.startswith("label."):
            spec["labels"][key[len("label."):]] = value
        elif key in ("layers", "files", "size"):
            if not value.isdigit():
                fail("%s wants a number, got %r" % (key, value))
            spec[key] = int(value)
        elif key in ("seed", "base", "created", "arch", "os", "variant"):
            spec[key] = value
        else:
            fail("unknown spec key %r" % key)
    return spec


def build_image(layout, number, name, spec, base, args):
    repo, _ = split_name(name)
    slug = re.sub(r"[^a-z0-9]+", "-", repo.lower()).strip("-")
    seed = spec.get("seed", name)
    created = parse_time(spec["created"]) if "created" in spec else BASE_TIME + datetime.timedelta(days=number)
    layer_type = DOCKER_LAYER if args.docker_types else OCI_LAYER
    if args.compression == "gzip":
        layer_type += ".gzip" if args.docker_types else "+gzip"

    layers = list(base["layers"]) if base else []
    diff_ids = list(base["diff_ids"]) if base else []
    history = list(base["history"]) if base else []
    labels = dict(base["labels"]) if base else {}
    labels.update(spec["labels"])

    count = spec.get("layers", 2)
    for index in range(count):
        tar, top = make_tar(seed, slug, index, spec.get("files", 3), spec.get("size", 512))
        diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
        layers.append(layout.put(compress(tar, args.compression), layer_type))
        step = created - datetime.timedelta(minutes=count - index)
        history.append({
            "created": rfc3339(step),
            "created_by": "/bin/sh -c #(nop) ADD dir:%s in /%s " % (diff_ids[-1][7:19], top),
        })
    if spec["labels"]:
        label_text = " ".join("%s=%s" % item for item in sorted(spec["labels"].items()))
        history.append({"created": rfc3339(created), "created_by": "/bin/sh -c #(nop)  LABEL " + label_text,
                        "empty_layer": True})
    history.append({"created": rfc3339(created), "created_by": '/bin/sh -c #(nop)  CMD ["/bin/sh"]',
                    "empty_layer": True})
    if not layers:
        fail("image %s has no layers" % name)

    container_config = {"Cmd": ["/bin/sh"], "Env": [PATH_ENV], "WorkingDir": "/"}
    if labels:
        container_config["Labels"] = labels
    config = {
        "architecture": spec.get("arch", "amd64"),
        "config": container_config,
        "created": rfc3339(created),
        "history": history,
        "os": spec.get("os", "linux"),
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    if "variant" in spec:
        config["variant"] = spec["variant"]
    config_desc = layout.put(canonical_json(config), DOCKER_CONFIG if args.docker_types else OCI_CONFIG)
    manifest_type = DOCKER_MANIFEST if args.docker_types else OCI_MANIFEST
    manifest = {"schemaVersion": 2, "mediaType": manifest_type, "config": config_desc, "layers": layers}
    manifest_desc = layout.put(canonical_json(manifest), manifest_type)
    return {
        "name": name, "manifest": manifest_desc, "config": config_desc, "layers": layers,
        "diff_ids": diff_ids, "history": history, "labels": labels,
        "platform": {"architecture": config["architecture"], "os": config["os"]},
    }


def main():
    parser = argparse.ArgumentParser(description="Write a deterministic OCI image layout.")
    parser.add_argument("outdir")
    parser.add_argument("--image", action="append", required=True, metavar="NAME:TAG[=SPEC]")
    parser.add_argument("--share-base", action="store_true")
    parser.add_argument("--docker-types", action="store_true")
    parser.add_argument("--compression", choices=["gzip", "none"], default="gzip")
    parser.add_argument("--ref-name", choices=["given", "tag", "full"], default="given")
    parser.add_argument("--summary", action="store_true")
    args = parser.parse_args()

    if os.path.exists(args.outdir) and os.listdir(args.outdir):
        fail("%s exists and is not empty" % args.outdir)
    requests = []
    for item in args.image:
        name, _, spec_text = item.partition("=")
        if name in (known for known, _ in requests):
            fail("image %s given twice" % name)
        spec = parse_spec(spec_text)
        if "base" in spec and spec["base"] not in (known for known, _ in requests):
            fail("base %s of %s is not an image given before it" % (spec["base"], name))
        requests.append((name, spec))

    layout = Layout(args.outdir)
    built = {}
    images = []
    for number, (name, spec) in enumerate(requests):
        base_name = spec.get("base")
        if base_name is None and args.share_base and images:
            base_name = images[0]["name"]
        image = build_image(layout, number, name, spec, built.get(base_name), args)
        built[name] = image
        images.append(image)

    manifests = []
    for image in images:
        ref = {"given": image["name"], "tag": split_name(image["name"])[1],
               "full": normalise(image["name"])}[args.ref_name]
        image["ref"] = ref
        descriptor = dict(image["manifest"])
        descriptor["annotations"] = {REF_NAME: ref}
        manifests.append(descriptor)
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
    with open(os.path.join(args.outdir, "index.json"), "wb") as f:
        f.write(canonical_json(index))
    with open(os.path.join(args.outdir, "oci-layout"), "wb") as f:
        f.write(canonical_json({"imageLayoutVersion": "1.0.0"}))

    if args.summary:
        summary = [{"ref": image["ref"], "manifest": image["manifest"]["digest"],
                    "config": image["config"]["digest"],
                    "layers": [layer["digest"] for layer in image["layers"]],
                    "diff_ids": image["diff_ids"]} for image in images]
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")


if __name__ == "__main__":
    main()
