#!/usr/bin/env bash
# The store commands at work on a temporary store: testdata/demo.sh BALE_BIN
#
# Two generated images (sharing a base layer) are put into the store with skopeo, which can
# write the store because the store is an OCI image layout whose ref names are full references.
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

bale() {
  "$BALE" --root "$STORE" --no-progress "$@"
}

echo "# two images that share their base layer, as an OCI layout"
show python3 "$HERE/gen/mkimage.py" "$LAYOUT" --share-base \
  --image app:1=layers=2,label.org.opencontainers.image.title=app \
  --image tool:2=layers=1
echo
echo "# the store is an OCI layout too, so skopeo can fill it until 'bale load' exists"
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
