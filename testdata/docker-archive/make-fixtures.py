#!/usr/bin/env python3
"""Generate the three docker-archive forms bale reads, deterministically, from FORMATS.md facts.

    make-fixtures.py OUTDIR

writes OUTDIR/legacy.tar, OUTDIR/docker25.tar and OUTDIR/containerd.tar (see info.txt) and prints a JSON
summary on stdout: for each archive, its images with the expected image ID (sha256 of the config bytes),
names, and the manifest (or index) digest when the archive carries one (null when a loader must
synthesise it). Same script, same bytes: every tar header has uid/gid 0, mtime 0, sorted order.
Only the Python standard library is used.
"""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

EPOCH = "1970-01-01T00:00:00Z"


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def hexof(digest):
    return digest.split(":", 1)[1]


def dumps(value):
    """Compact, key-sorted JSON: the bytes are the content, so they must not vary."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def layer_tar(files):
    """An uncompressed layer tar: files as {path: text}, plus their parent directories."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({os.path.dirname(p) for p in files if os.path.dirname(p)})
        for d in dirs:
            info = tarfile.TarInfo(d + "/")
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
            tar.addfile(info)
        for path in sorted(files):
            data = files[path].encode()
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def gzipped(data):
    # mtime=0 and no file name: the same input always gives the same bytes.
    return gzip.compress(data, compresslevel=6, mtime=0)


def config(diff_ids, created, cmd, arch="amd64"):
    """An image config (FORMATS.md section 3), with history paired to diff_ids."""
    return dumps({
        "architecture": arch, "os": "linux", "created": created,
        "config": {"Cmd": cmd, "Env": ["PATH=/usr/bin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": created, "created_by": "fixture layer %d" % i} for i in range(len(diff_ids))],
    })


def chain_ids(diff_ids):
    """ChainIDs (FORMATS.md section 0): C(L0) = D0; C(L0..n) = sha256(C(n-1) + " " + Dn)."""
    out = []
    for d in diff_ids:
        out.append(d if not out else sha((out[-1] + " " + d).encode()))
    return out


def v1_ids(diff_ids, top):
    """Opaque, deterministic v1 layer IDs in moby's spirit (FORMATS.md section 1): hash of a key-sorted
    v1 JSON with layer_id = ChainID and parent = the previous v1 ID; lower layers carry only
    created = epoch, the top layer the image's own fields (`top`). Nobody verifies them."""
    ids, parent = [], ""
    chains = chain_ids(diff_ids)
    for i, chain in enumerate(chains):
        obj = dict(top) if i == len(chains) - 1 else {"created": EPOCH}
        obj["layer_id"] = chain
        if parent:
            obj["parent"] = "sha256:" + parent
        parent = hashlib.sha256(dumps(obj)).hexdigest()
        ids.append(parent)
    return ids


class Tar:
    """Members collected, then written sorted by name (directories first by construction of names)."""

    def __init__(self):
        self.members = {}

    def file(self, path, data):
        self.members[path] = ("file", data)

    def dir(self, path):
        self.members[path.rstrip("/") + "/"] = ("dir", None)

    def symlink(self, path, target):
        self.members[path] = ("symlink", target)

    def write(self, path):
        with open(path, "wb") as out, tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name in sorted(self.members):
                kind, value = self.members[name]
                info = tarfile.TarInfo(name)
                info.mtime, info.uid, info.gid = 0, 0, 0
                if kind == "file":
                    info.size, info.mode = len(value), 0o644
                    tar.addfile(info, io.BytesIO(value))
                elif kind == "dir":
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
                else:
                    info.type, info.linkname, info.mode = tarfile.SYMTYPE, value, 0o777
                    tar.addfile(info)


# Two images sharing a base layer: `web` (base + app) and `tool` (base + tool).
BASE = layer_tar({"etc/os-release": "ID=fixture\n", "bin/sh": "#!fixture\n"})
APP = layer_tar({"srv/web/index.html": "<h1>hello</h1>\n"})
TOOL = layer_tar({"usr/bin/tool": "#!/bin/sh\necho tool\n"})


def legacy(out):
    """Docker <= 24 `docker save` (FORMATS.md section 1): <config-hex>.json, <v1id>/{VERSION,json,layer.tar},
    a repeated layer as a relative symlink, manifest.json with familiar RepoTags, repositories.
    `base` is the shared layer alone: as its top layer it gets another v1 ID than as web's lower
    layer, so its layer.tar is a symlink to web's, as moby writes it."""
    tar, images, repositories = Tar(), [], {}
    written = {}  # diffID -> v1 dir holding the real layer.tar
    for name, tags, layers, created in [("web", ["web:1", "web:latest"], [BASE, APP], "2024-05-01T10:00:00Z"),
                                        ("tool", ["reg.local:5000/team/tool:2"], [BASE, TOOL], "2024-06-01T10:00:00Z"),
                                        ("base", ["base:1"], [BASE], "2024-04-01T10:00:00Z")]:
        diffs = [sha(l) for l in layers]
        cfg = config(diffs, created, ["/bin/" + name])
        tar.file(hexof(sha(cfg)) + ".json", cfg)
        v1 = v1_ids(diffs, {"created": created, "config": {"Cmd": ["/bin/" + name]}})
        paths = []
        for i, (layer, d, v) in enumerate(zip(layers, diffs, v1)):
            tar.dir(v)
            tar.file(v + "/VERSION", b"1.0")
            tar.file(v + "/json", dumps({"id": v, "created": EPOCH} | ({"parent": v1[i - 1]} if i else {})))
            if d in written and written[d] != v:
                tar.symlink(v + "/layer.tar", "../" + written[d] + "/layer.tar")
            else:
                tar.file(v + "/layer.tar", layer)
                written[d] = v
            paths.append(v + "/layer.tar")
        for t in tags:
            repo, tag = t.rsplit(":", 1)
            repositories.setdefault(repo, {})[tag] = v1[-1]
        images.append({"Config": hexof(sha(cfg)) + ".json", "RepoTags": tags, "Layers": paths,
                       "_id": sha(cfg), "_names": tags})
    tar.file("manifest.json", dumps([{k: v for k, v in i.items() if not k.startswith("_")} for i in images]))
    tar.file("repositories", dumps(repositories))
    tar.write(os.path.join(out, "legacy.tar"))
    return [{"id": i["_id"], "names": i["_names"], "manifest": None} for i in images]


def full_name(familiar):
    """docker.io/library/ normalisation of a familiar name:tag (FORMATS.md section 6)."""
    name, tag = familiar.rsplit(":", 1)
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = "docker.io/library/" + name
    elif not ("." in first or ":" in first or first == "localhost"):
        name = "docker.io/" + name
    return name + ":" + tag


def docker25(out):
    """Docker 25+ classic store (FORMATS.md section 2): OCI layout inside, uncompressed layers named by
    DiffID and typed ...oci.image.layer.v1.tar, one index.json entry per tag with both annotations,
    plus manifest.json (blobs/sha256 paths) and repositories (top DiffID hex)."""
    tar, items, entries, repositories, summary = Tar(), [], [], {}, []
    tar.dir("blobs")
    tar.dir("blobs/sha256")
    for name, tags, layers, created in [("web", ["web:1"], [BASE, APP], "2024-05-01T10:00:00Z"),
                                        ("tool", ["tool:2", "tool:latest"], [BASE, TOOL], "2024-06-01T10:00:00Z")]:
        diffs = [sha(l) for l in layers]
        cfg = config(diffs, created, ["/bin/" + name])
        for layer in layers:
            tar.file("blobs/sha256/" + hexof(sha(layer)), layer)
        tar.file("blobs/sha256/" + hexof(sha(cfg)), cfg)
        manifest = dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(cfg), "size": len(cfg)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha(l), "size": len(l)}
                       for l in layers],
        })
        tar.file("blobs/sha256/" + hexof(sha(manifest)), manifest)
        for t in tags:
            entries.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(manifest),
                            "size": len(manifest), "annotations": {
                                "io.containerd.image.name": full_name(t),
                                "org.opencontainers.image.ref.name": t.rsplit(":", 1)[1]}})
            repo, tag = t.rsplit(":", 1)
            repositories.setdefault(repo, {})[tag] = hexof(diffs[-1])
        items.append({"Config": "blobs/sha256/" + hexof(sha(cfg)), "RepoTags": tags,
                      "Layers": ["blobs/sha256/" + hexof(sha(l)) for l in layers]})
        summary.append({"id": sha(cfg), "names": tags, "manifest": sha(manifest)})
    tar.file("index.json", dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                                  "manifests": entries}))
    tar.file("manifest.json", dumps(items))
    tar.file("oci-layout", dumps({"imageLayoutVersion": "1.0.0"}))
    tar.file("repositories", dumps(repositories))
    tar.write(os.path.join(out, "docker25.tar"))
    return summary


def containerd(out):
    """Docker on the containerd image store (FORMATS.md section 2): distribution blobs (gzip layers by
    compressed digest), the index.json entry points at a multi-platform index of which only the
    linux/amd64 manifest is in the archive; manifest.json Layers point at the compressed blobs."""
    tar = Tar()
    tar.dir("blobs")
    tar.dir("blobs/sha256")
    layers = [BASE, APP]
    gz = [gzipped(l) for l in layers]
    cfg = config([sha(l) for l in layers], "2024-07-01T10:00:00Z", ["/bin/web"])
    for blob in gz + [cfg]:
        tar.file("blobs/sha256/" + hexof(sha(blob)), blob)
    manifest = dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(cfg), "size": len(cfg)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(b), "size": len(b)}
                   for b in gz],
    })
    tar.file("blobs/sha256/" + hexof(sha(manifest)), manifest)
    absent = sha(b"linux/arm64 manifest: not in this archive")  # missing blobs are legitimate
    index = dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(manifest), "size": len(manifest),
         "platform": {"architecture": "amd64", "os": "linux"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": absent, "size": 1000,
         "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
    ]})
    tar.file("blobs/sha256/" + hexof(sha(index)), index)
    tar.file("index.json", dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                                  "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json",
                                                 "digest": sha(index), "size": len(index), "annotations": {
                                                     "io.containerd.image.name": "docker.io/library/web:2",
                                                     "org.opencontainers.image.ref.name": "2"}}]}))
    tar.file("manifest.json", dumps([{"Config": "blobs/sha256/" + hexof(sha(cfg)), "RepoTags": ["web:2"],
                                      "Layers": ["blobs/sha256/" + hexof(sha(b)) for b in gz]}]))
    tar.file("oci-layout", dumps({"imageLayoutVersion": "1.0.0"}))
    tar.write(os.path.join(out, "containerd.tar"))
    return [{"id": sha(cfg), "names": ["web:2"], "manifest": sha(index)}]


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make-fixtures.py OUTDIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    summary = {"legacy.tar": legacy(out), "docker25.tar": docker25(out), "containerd.tar": containerd(out)}
    json.dump(summary, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
