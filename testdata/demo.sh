#!/usr/bin/env bash
# bale at work on two temporary stores: testdata/demo.sh BALE_BIN
#
# Generated images (two sharing a base layer) are put into the first store with skopeo, which can
# write the store because the store is an OCI image layout whose ref names are full references.
# After the store commands comes the main job: save images from the first store to one archive,
# load it into a second store (as on a host without a registry), list both; then an incremental
# archive (--since) that carries only what the first archive lacks, and a copy to an OCI layout.
# Last, the rootfs loop: import a directory, export it, change it, commit the changes, flatten.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 BALE_BIN" >&2
  exit 2
fi
BALE=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
[ -x "$BALE" ] || { echo "demo: $1 is not an executable" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bale-demo.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
STORE=$WORK/store
STORE2=$WORK/store2
LAYOUT=$WORK/generated

# Print a command like `+ bale images`, then run it.
show() {
  local line="+" arg
  for arg in "$@"; do
    if [[ $arg =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then line+=" $arg"; else line+=" '$arg'"; fi
  done
  echo "$line"
  "$@"
}

# `bale …` works on the first store unless `--root` is given first.
bale() {
  if [ "${1:-}" = "--root" ]; then
    "$BALE" --no-progress "$@"
  else
    "$BALE" --root "$STORE" --no-progress "$@"
  fi
}

echo "# three images that share their base layers, as an OCI layout"
show python3 "$HERE/gen/mkimage.py" "$LAYOUT" --share-base \
  --image app:1=layers=2,label.org.opencontainers.image.title=app \
  --image tool:2=layers=1 \
  --image app:2=layers=3
echo
echo "# the store is an OCI layout too, so skopeo can fill it"
show skopeo copy --quiet oci:"$LAYOUT":app:1 oci:"$STORE":docker.io/library/app:1
show skopeo copy --quiet oci:"$LAYOUT":tool:2 oci:"$STORE":localhost:5000/team/tool:2
echo
show bale images
show bale tag app:1 app:latest
show bale images
echo "+ bale inspect app:1 | head -n 20"
bale inspect app:1 >"$WORK/inspect.json"
head -n 20 "$WORK/inspect.json"
show bale history app:1
show bale rmi app:latest
show bale images --format '{{.Repository}}:{{.Tag}} {{.ID}}'
show bale verify
show bale rmi localhost:5000/team/tool:2
show bale prune
show bale images
echo
echo "# the main job: save images to one file, carry it to a host without a registry, load it there"
show bale copy oci:"$LAYOUT":tool:2 localhost:5000/team/tool:2
show bale save -o "$WORK/images.tar" app:1 localhost:5000/team/tool:2
echo "+ tar -tf $WORK/images.tar   # blobs the two images share are in it once"
tar -tf "$WORK/images.tar"
show bale --root "$STORE2" load -i "$WORK/images.tar"
echo "# both stores hold the same images, with the same IDs"
show bale images
show bale --root "$STORE2" images
echo
echo "# an incremental archive: only the layers images.tar does not carry"
show bale copy oci:"$LAYOUT":app:2 app:2
show bale save --since "$WORK/images.tar" -o "$WORK/week2.tar" app:2
echo "+ tar -tf $WORK/week2.tar"
tar -tf "$WORK/week2.tar"
echo "+ bale --root $WORK/empty load -i $WORK/week2.tar   # refused: this store lacks the base"
if bale --root "$WORK/empty" load -i "$WORK/week2.tar"; then
  echo "demo: loading an incremental archive into an empty store should have failed" >&2
  exit 1
fi
show bale --root "$STORE2" load -i "$WORK/week2.tar"
show bale --root "$STORE2" images
echo
echo "# copy between locations: the store to an OCI layout, which skopeo reads"
show bale copy app:2 oci:"$WORK/layout":app-2
show skopeo inspect --format '{{.Digest}} {{.Layers}}' oci:"$WORK/layout":app-2
echo
echo "# a base image from a rootfs template: import a directory, export it, edit, commit, flatten"
ROOTFS=$WORK/rootfs
mkdir -p "$ROOTFS/etc" "$ROOTFS/bin"
echo "welcome to the demo" >"$ROOTFS/etc/motd"
echo "Demo Linux" >"$ROOTFS/etc/issue"
printf '#!/bin/sh\necho hello\n' >"$ROOTFS/bin/hello"
chmod 755 "$ROOTFS/bin/hello"
ln -s hello "$ROOTFS/bin/hi"
show bale import "$ROOTFS" demo/base:1 -c 'ENV A=b' -m 'from the demo'
show bale export --dir "$WORK/out" demo/base:1
echo "+ echo 'changed by the demo' >>$WORK/out/etc/motd; rm $WORK/out/etc/issue"
echo "changed by the demo" >>"$WORK/out/etc/motd"
rm "$WORK/out/etc/issue"
show bale commit --base demo/base:1 "$WORK/out" demo/base:2
show bale history demo/base:2
show bale export -o "$WORK/flat.tar" demo/base:2
echo "+ tar -tf $WORK/flat.tar   # one tree: etc/issue is gone, no .wh. entries"
tar -tf "$WORK/flat.tar"
echo "+ tar -xOf $WORK/flat.tar etc/motd"
tar -xOf "$WORK/flat.tar" etc/motd
