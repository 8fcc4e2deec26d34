#!/usr/bin/env bash
# make bench: bale side by side with the tools a user would otherwise use, in one run.
#
#   testdata/bench.sh BALE_BIN [WORKDIR]
#
# Corpus: about 1 GiB of real files (a tar of /usr/share, /usr/include, /usr/bin and part of
# /usr/lib), and the same files in four tars for a four-layer image, made once and cached in WORKDIR
# (default ./bench-work, git-ignored). Each command runs once under GNU time, except the pairs the
# targets compare (import vs umoci, export vs tar -x, save vs tar cf, load vs tar xf): three alternating
# runs each, and the median counts, because single runs on this machine varied by a third. The table
# gives wall seconds, CPU seconds (user+sys) and peak RSS, and the last lines give ratios bale ÷ peer.
# bale push and pull run against the real docker-registry on 127.0.0.1 (started here, one per push),
# next to skopeo copy of the same transfer.
# Figures, not pass/fail: the targets live in the issue notes.
# When other work shares the cores, wall times swing by a factor of two between runs; CPU ratios
# move far less.
set -euo pipefail
bale=$(readlink -f "$1")
work=$(readlink -m "${2:-bench-work}")
mkdir -p "$work"
cd "$work"
jobs=$(nproc)

corpus=corpus.tar
if [ ! -s "$corpus" ] || [ ! -s part4.tar ]; then
  echo "making the corpus (once) in $work" >&2
  rm -f list part*.list
  # Whole directories until about 1 GiB: a tar is never cut in the middle. The same directories, dealt
  # round-robin into four parts, make the four layers of the multi-layer image for save and load.
  budget=$((1024 * 1024 * 1024)); total=0; n=0
  for d in usr/share usr/include usr/bin $(cd / && ls -d usr/lib/*/ 2>/dev/null); do
    size=$(du -sb "/$d" 2>/dev/null | cut -f1)
    [ $((total + size)) -le $budget ] || continue
    echo "$d" >> list; echo "$d" >> "part$((n % 4 + 1)).list"; total=$((total + size)); n=$((n + 1))
  done
  tar -C / --warning=no-file-changed -cf "$corpus" -T list 2>/dev/null || true
  for i in 1 2 3 4; do tar -C / --warning=no-file-changed -cf "part$i.tar" -T "part$i.list" 2>/dev/null || true; done
  rm -f list part*.list
fi
corpus_bytes=$(stat -c %s "$corpus")

declare -A wall cpu rss
measure() { # name command...
  local name=$1; shift
  sync
  /usr/bin/time -f "%e %U %S %M" -o time.out "$@" > /dev/null 2> err.out || { echo "FAILED: $name" >&2; cat err.out >&2; return 1; }
  read -r w u s m < <(tail -n 1 time.out)
  wall[$name]=$w; cpu[$name]=$(echo "$u + $s" | bc); rss[$name]=$((m / 1024))
  printf '%-34s %8.2f s %8.2f s %7d MiB\n' "$name" "$w" "${cpu[$name]}" "${rss[$name]}"
}

printf 'corpus: %s (%d MiB), %d cores\n\n' "$corpus" $((corpus_bytes / 1048576)) "$jobs"
printf '%-34s %10s %10s %11s\n' command wall cpu "peak RSS"

# --- import: rootfs tar → one gzip layer in a store -------------------------------------------------
median() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
# The median of runs 1-3 of each named command becomes the command's row.
medians() {
  local name
  for name in "$@"; do
    wall[$name]=$(median "${wall[$name (run 1)]}" "${wall[$name (run 2)]}" "${wall[$name (run 3)]}")
    cpu[$name]=$(median "${cpu[$name (run 1)]}" "${cpu[$name (run 2)]}" "${cpu[$name (run 3)]}")
    rss[$name]=$(median "${rss[$name (run 1)]}" "${rss[$name (run 2)]}" "${rss[$name (run 3)]}")
    printf '%-34s %8.2f s %8.2f s %7d MiB\n' "$name (median)" "${wall[$name]}" "${cpu[$name]}" "${rss[$name]}"
  done
}
rm -rf store1 store2
measure "bale import --jobs 1" "$bale" --root store1 --no-progress --jobs 1 import "$corpus" bench:1
for i in 1 2 3; do
  rm -rf store2 umoci-img && umoci init --layout umoci-img >/dev/null && umoci new --image umoci-img:bench >/dev/null
  measure "bale import --jobs $jobs (run $i)" "$bale" --root store2 --no-progress --jobs "$jobs" import "$corpus" bench:1
  measure "umoci raw add-layer (run $i)" umoci raw add-layer --image umoci-img:bench "$corpus"
done
medians "bale import --jobs $jobs" "umoci raw add-layer"
layer=$(ls -S store2/blobs/sha256 | head -n 1)
bale_layer=$(stat -c %s "store2/blobs/sha256/$layer")
measure "pigz -p $jobs -6" sh -c "pigz -p $jobs -6 < $corpus > corpus.pigz.gz"
measure "gzip -6" sh -c "gzip -6 < $corpus > corpus.gzip.gz"
gzip_layer=$(stat -c %s corpus.gzip.gz)

# --- export: flatten back to a directory --------------------------------------------------------------
# Each extraction writes into a new, empty ext4 file system (an image in /dev/shm, loop-mounted), so
# neither pays for the other's deletions: on this machine's disk, creating files after a large rm -rf
# was seen to take up to 8 times longer (ext4's inode allocation rechecks recently freed inodes), which
# swamped the comparison. Without root (no loop mount) both write into plain directories here.
fs_image=/dev/shm/bale-bench-fs.img
fresh_fs() { # prints a new empty directory for one extraction
  local mnt=$work/mnt
  if mountpoint -q "$mnt"; then umount "$mnt"; fi
  rm -rf "$mnt" out-dir && mkdir -p "$mnt"
  if truncate -s 4G "$fs_image" && mkfs.ext4 -q -F "$fs_image" && mount -o loop "$fs_image" "$mnt" 2>/dev/null; then
    echo "$mnt/out"
  else
    echo "$work/out-dir"
  fi
}
cleanup_fs() { if mountpoint -q "$work/mnt"; then umount "$work/mnt"; fi; rm -rf "$fs_image" "$work/mnt" "$work/out-dir"; }
trap cleanup_fs EXIT
for i in 1 2 3; do
  out=$(fresh_fs)
  measure "bale export --dir (run $i)" "$bale" --root store2 --no-progress export --dir "$out" bench:1
  out=$(fresh_fs) && mkdir "$out"
  measure "tar -x (run $i)" tar -C "$out" -xf "$corpus"
done
medians "bale export --dir" "tar -x"
case $out in "$work"/mnt/*) echo "(export and tar -x each into a new ext4 file system)";; esac
cleanup_fs

# --- save / load / copy next to skopeo, on a four-layer image of the same files ------------------------
rm -f bale.tar skopeo.tar && rm -rf store3 store4 skopeo-oci bale-oci
"$bale" --root store3 --no-progress import part1.tar multi:1 > /dev/null
for i in 2 3 4; do "$bale" --root store3 --no-progress commit --base multi:1 "part$i.tar" multi:1 > /dev/null; done

# --- save vs tar cf, load vs tar xf (issue #9) ----------------------------------------------------------
# save writes the image's blobs into one tar, as tar cf does with the same blob files (the list is the
# archive's own blobs/sha256/ members, taken after the first save); load unpacks that archive into an
# empty store, as tar xf does into an empty directory. Both sides read and write in this directory's
# file system. bale also fsyncs what it wrote before it renames it into place; tar does not.
for i in 1 2 3; do
  rm -f bale.tar
  measure "bale save (4 layers) (run $i)" "$bale" --root store3 --no-progress save -o bale.tar multi:1
  [ -s blobs.list ] || tar -tf bale.tar | grep '^blobs/sha256/.' > blobs.list
  rm -f blobs.tar
  measure "tar cf (same blobs) (run $i)" tar -C store3 -cf blobs.tar -T blobs.list
done
medians "bale save (4 layers)" "tar cf (same blobs)"
for i in 1 2 3; do
  rm -rf store4
  measure "bale load (run $i)" "$bale" --root store4 --no-progress load -i bale.tar
  rm -rf tar-out && mkdir tar-out
  measure "tar xf (same archive) (run $i)" tar -C tar-out -xf bale.tar
done
medians "bale load" "tar xf (same archive)"
rm -rf blobs.list blobs.tar tar-out
# --- end of save vs tar cf, load vs tar xf ---------------------------------------------------------------

measure "skopeo copy oci: → docker-archive:" skopeo copy -q oci:store3:docker.io/library/multi:1 docker-archive:skopeo.tar:multi:1
measure "skopeo copy docker-archive: → oci:" skopeo copy -q docker-archive:bale.tar oci:skopeo-oci:multi
measure "bale copy docker-archive: → oci:" "$bale" --root store4 --no-progress copy docker-archive:bale.tar oci:bale-oci:multi
printf '(image: %d MiB in 4 gzip layers)\n' $(( $(stat -c %s bale.tar) / 1048576 ))
# >>> registry push and pull (issue #11) >>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>
# The four-layer image to and from the real docker-registry on loopback (plain HTTP: bale needs no flag
# for 127.0.0.1, skopeo gets --*-tls-verify=false), next to skopeo copy of the same transfer (skopeo
# reads the store as the OCI layout it is). Each push goes into a registry of its own with an empty
# storage root, so that neither finds the other's blobs (no HEAD hit, no cross-repository mount); both
# pulls read what skopeo pushed, into an empty store / layout. A failure here (a missing command, a
# registry that does not start) costs only these rows: the rest of the bench goes on.
registry_pid=
start_registry() { # storage folder; sets registry_host and registry_pid
  local port i
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') || return 1
  rm -rf "$1" && mkdir -p "$1" || return 1
  printf '%s\n' "version: 0.1" "log:" "  level: warn" "storage:" "  filesystem:" "    rootdirectory: $work/$1" \
    "  maintenance:" "    uploadpurging:" "      enabled: false" "http:" "  addr: 127.0.0.1:$port" > "$1.yml"
  docker-registry serve "$1.yml" > "$1.log" 2>&1 &
  registry_pid=$!
  registry_host=127.0.0.1:$port
  for i in $(seq 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$registry_host/v2/")" = 200 ] && return 0
    kill -0 "$registry_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "docker-registry did not start:" >&2; cat "$1.log" >&2; stop_registry; return 1
}
stop_registry() { if [ -n "$registry_pid" ]; then kill "$registry_pid" 2>/dev/null || true; wait "$registry_pid" 2>/dev/null || true; registry_pid=; fi; }
registry_bench() {
  local source_host source_pid
  start_registry registry-skopeo || return 1
  source_host=$registry_host; source_pid=$registry_pid
  measure "skopeo copy oci: → docker://" skopeo copy -q --dest-tls-verify=false \
    oci:store3:docker.io/library/multi:1 "docker://$source_host/bench/multi:1" || return 1
  registry_pid=
  start_registry registry-bale || { registry_pid=$source_pid; return 1; }
  measure "bale push" "$bale" --root store3 --no-progress push multi:1 "docker://$registry_host/bench/multi:1" \
    || { stop_registry; registry_pid=$source_pid; return 1; }
  stop_registry
  # The registry's own floor: the same blobs sent by curl, each in one POST, one PATCH from the file
  # and the PUT, all at once, then the manifest. Whatever a client does, the registry spends this much
  # receiving, hashing and storing the bytes; the push ratio cannot go below floor ÷ skopeo.
  start_registry registry-curl || { registry_pid=$source_pid; return 1; }
  python3 - store3 > upload.list <<'PY' || { stop_registry; registry_pid=$source_pid; return 1; }
import json, sys
root = sys.argv[1]
def blob(d): return f"{root}/blobs/sha256/{d.split(':')[1]}"
index = json.load(open(f"{root}/index.json"))
top = [m for m in index["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name", "").endswith("multi:1")][0]
manifest = json.load(open(blob(top["digest"])))
for d in [manifest["config"]] + manifest["layers"]: print(d["digest"], blob(d["digest"]))
print(top["mediaType"], blob(top["digest"]))
PY
  measure "curl upload (registry floor)" bash -c '
    host=$1; list=$2; pids=()
    while read -r digest file; do
      case $digest in sha256:*) ;; *) continue;; esac
      ( loc=$(curl -sf -D - -o /dev/null -X POST "http://$host/v2/bench/multi/blobs/uploads/" | tr -d "\r" | sed -n "s/^[Ll]ocation: //p") &&
        loc=$(curl -sf -D - -o /dev/null -X PATCH -H "Content-Type: application/octet-stream" -T "$file" "$loc" | tr -d "\r" | sed -n "s/^[Ll]ocation: //p") &&
        curl -sf -o /dev/null -X PUT "$loc&digest=$digest" ) & pids+=($!)
    done < "$list"
    for p in "${pids[@]}"; do wait "$p" || exit 1; done
    read -r type file < <(tail -n 1 "$list")
    curl -sf -o /dev/null -X PUT -H "Content-Type: $type" --data-binary "@$file" "http://$host/v2/bench/multi/manifests/1"
  ' _ "$registry_host" upload.list || { stop_registry; registry_pid=$source_pid; return 1; }
  stop_registry
  registry_pid=$source_pid
  rm -rf skopeo-pull store5
  measure "skopeo copy docker:// → oci:" skopeo copy -q --src-tls-verify=false \
    "docker://$source_host/bench/multi:1" oci:skopeo-pull:multi || return 1
  measure "bale pull" "$bale" --root store5 --no-progress pull "$source_host/bench/multi:1" || return 1
}
registry_bench || echo "(registry push and pull: failed, their rows are missing)" >&2
stop_registry
rm -rf registry-skopeo registry-bale registry-curl registry-skopeo.* registry-bale.* registry-curl.* upload.list skopeo-pull store5
# <<< registry push and pull <<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<

# >>> serve (issue #12) >>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>
# skopeo copy of the four-layer image (store3) from `bale serve` over the store and from `bale serve`
# over the docker save archive (served by offset), next to docker-registry serving the same image from
# a registry tree; three alternating runs, medians. Then 16 skopeo copies at once from bale serve (each
# must succeed: skopeo checks every blob's digest), and bale serve's peak RSS (VmHWM) over all of it.
# Beside them: skopeo reading the same image from the store's OCI layout with no server at all (the
# floor of any server's ratio), and each server's own CPU over its three pulls.
# Loopback only; the servers are stopped by their own pids. A failure here is reported, and the rest of
# the bench still runs.
server_cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
serve_bench() { # [IMAGE] (default multi:1; it must be in store3 and bale.tar)
  local image=${1:-multi:1}
  local pids=() port_store port_archive port_registry i status=0
  rm -rf serve-tree serve-out* && "$bale" --root store3 --no-progress copy "$image" "registry-tree:serve-tree:$image" 2> /dev/null
  port_store=$(free_port); port_archive=$(free_port); port_registry=$(free_port)
  "$bale" --root store3 serve --addr "127.0.0.1:$port_store" 2> serve-store.log & pids+=($!); local serve_pid=$!
  "$bale" serve --addr "127.0.0.1:$port_archive" docker-archive:bale.tar 2> serve-archive.log & pids+=($!)
  local archive_pid=$!
  printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
    "$work/serve-tree" "$port_registry" > registry.yml
  docker-registry serve registry.yml 2> registry.log & pids+=($!)
  local registry_serve_pid=$!
  for i in $(seq 100); do
    grep -q 'listening on' serve-store.log && grep -q 'listening on' serve-archive.log \
      && curl -sf "http://127.0.0.1:$port_registry/v2/" > /dev/null && break
    sleep 0.2
  done
  # The servers' own CPU (user+sys) over the three pulls each: steadier than wall on shared cores.
  local server_cpu_before=("$(server_cpu "$serve_pid")" "$(server_cpu "$archive_pid")" "$(server_cpu "$registry_serve_pid")")
  for i in 1 2 3; do
    rm -rf serve-out && measure "skopeo ← bale serve (store) (run $i)" skopeo copy -q --src-tls-verify=false \
      "docker://127.0.0.1:$port_store/$image" dir:serve-out || status=1
    rm -rf serve-out && measure "skopeo ← bale serve (archive) (run $i)" skopeo copy -q --src-tls-verify=false \
      "docker://127.0.0.1:$port_archive/$image" dir:serve-out || status=1
    rm -rf serve-out && measure "skopeo ← docker-registry (run $i)" skopeo copy -q --src-tls-verify=false \
      "docker://127.0.0.1:$port_registry/$image" dir:serve-out || status=1
    # No server at all: skopeo reading the store as the OCI layout it is. What skopeo itself costs
    # (hashing and writing every byte) bounds how far any server can go below docker-registry.
    rm -rf serve-out && measure "skopeo ← oci: (no server) (run $i)" skopeo copy -q \
      "oci:store3:docker.io/library/$image" dir:serve-out || status=1
  done
  local server_cpu_after=("$(server_cpu "$serve_pid")" "$(server_cpu "$archive_pid")" "$(server_cpu "$registry_serve_pid")")
  [ $status = 0 ] && medians "skopeo ← bale serve (store)" "skopeo ← docker-registry" \
    && medians "skopeo ← bale serve (archive)" "skopeo ← docker-registry" && medians "skopeo ← oci: (no server)"
  printf '%-34s %8s   store %.2f s, archive %.2f s, docker-registry %.2f s (3 pulls each)\n' "server CPU (user+sys)" "" \
    "$(echo "${server_cpu_after[0]} - ${server_cpu_before[0]}" | bc)" "$(echo "${server_cpu_after[1]} - ${server_cpu_before[1]}" | bc)" \
    "$(echo "${server_cpu_after[2]} - ${server_cpu_before[2]}" | bc)"
  local start ok=0 t
  start=$(date +%s.%N)
  for i in $(seq 16); do
    rm -rf "serve-out$i"
    skopeo copy -q --src-tls-verify=false "docker://127.0.0.1:$port_store/$image" "dir:serve-out$i" > /dev/null 2>&1 &
    t[$i]=$!
  done
  for i in $(seq 16); do wait "${t[$i]}" && ok=$((ok + 1)); done
  printf '%-34s %8.2f s   %d of 16 verified\n' "16 × skopeo ← bale serve" "$(echo "$(date +%s.%N) - $start" | bc)" "$ok"
  local hwm hwm_archive
  hwm=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$serve_pid/status")
  hwm_archive=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$archive_pid/status")
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2> /dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2> /dev/null || true; done
  rm -rf serve-tree serve-out* registry.yml
  if [ $status = 0 ]; then
    echo "  serve (store) wall vs docker-registry:   $(echo "scale=2; ${wall[skopeo ← bale serve (store)]} / ${wall[skopeo ← docker-registry]}" | bc)   (target ≤ 0.8)"
    echo "  serve (archive) wall vs docker-registry: $(echo "scale=2; ${wall[skopeo ← bale serve (archive)]} / ${wall[skopeo ← docker-registry]}" | bc)"
    echo "  no server (skopeo ← oci:) vs docker-registry: $(echo "scale=2; ${wall[skopeo ← oci: (no server)]} / ${wall[skopeo ← docker-registry]}" | bc)   (the floor of the serve ratios)"
  fi
  echo "  bale serve peak RSS: store ${hwm} MiB (after the 16 concurrent pulls), archive ${hwm_archive} MiB   (target ≤ 128)"
  [ $status = 0 ] && [ $ok = 16 ]
}
serve_bench || echo "serve bench FAILED (see serve-*.log); the rest still runs" >&2
# <<< serve <<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<
rm -rf store1 store2 store3 store4 skopeo-oci bale-oci umoci-img bale.tar skopeo.tar corpus.pigz.gz corpus.gzip.gz

# >>> many names (issue #10 class 5) >>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>
# An archive of 10 000 small images (a tiny layer and a config each) with one tag each: every step of
# a load (staging, the store index, the output) must be O(n log n) in names, images and blobs. When a
# step searched a list per name, 2 500 tags took 43 s and 5 000 took 180 s.
many=many-images.tar
if [ ! -s "$many" ]; then
  python3 - "$many" <<'PY'
import hashlib, io, json, sys, tarfile
def member(t, name, data):
    info = tarfile.TarInfo(name); info.size = len(data); t.addfile(info, io.BytesIO(data))
items = []
with tarfile.open(sys.argv[1], "w") as out:
    for i in range(10000):
        layer = io.BytesIO()
        with tarfile.open(fileobj=layer, mode="w") as t:
            member(t, "etc/image-%d" % i, b"%d\n" % i)
        layer = layer.getvalue()
        config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Labels": {"n": str(i)}},
                             "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}}).encode()
        cid = hashlib.sha256(config).hexdigest()
        member(out, cid + ".json", config)
        member(out, "%d/layer.tar" % i, layer)
        items.append({"Config": cid + ".json", "RepoTags": ["bench/many:%d" % i], "Layers": ["%d/layer.tar" % i]})
    member(out, "manifest.json", json.dumps(items).encode())
PY
fi
rm -rf store-many
measure "bale load (10000 images, tags)" "$bale" --root store-many --no-progress load -i "$many"
measure "bale images (10000 images)" "$bale" --root store-many images
measure "bale inspect (1 of 10000)" "$bale" --root store-many inspect bench/many:5000
rm -rf store-many
# <<< many names <<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<

# >>> sync (issue #12) >>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>
# 20 images sharing bases (4 bases of 16 MiB × 5 apps of 2 MiB each, incompressible, one layer each
# on top of its base: 104 MiB of distinct layers), pushed by bale to a docker-registry on 127.0.0.1,
# then copied from one skopeo-sync YAML list by `bale sync` (into an OCI layout, and into a docker
# archive) and by `skopeo sync --src yaml --dest dir`, each into an empty destination. bale moves each
# shared base once; skopeo's dir: destination is a folder per image, so it writes each base five times
# (skopeo sync 1.9 has no oci: destination).
sync_bench() {
  local b a
  rm -rf sync-in store-sync sync-oci sync-dir sync.tar && mkdir -p sync-in || return 1
  for b in 1 2 3 4; do
    head -c 16M /dev/urandom > sync-in/base && tar -C sync-in -cf "sync-in/base$b.tar" base || return 1
    "$bale" --root store-sync --no-progress import "sync-in/base$b.tar" "base$b:1" > /dev/null || return 1
    for a in 1 2 3 4 5; do
      head -c 2M /dev/urandom > sync-in/app && tar -C sync-in -cf sync-in/app.tar app || return 1
      "$bale" --root store-sync --no-progress commit --base "base$b:1" sync-in/app.tar "app$b$a:1" > /dev/null || return 1
    done
  done
  start_registry registry-sync || return 1
  for b in 1 2 3 4; do for a in 1 2 3 4 5; do
    "$bale" --root store-sync --no-progress push "app$b$a:1" "docker://$registry_host/bench/app$b$a:1" > /dev/null 2>&1 || return 1
  done; done
  { echo "$registry_host:"; echo "  tls-verify: false"; echo "  images:"
    for b in 1 2 3 4; do for a in 1 2 3 4 5; do echo "    bench/app$b$a: [\"1\"]"; done; done; } > sync.yml
  measure "bale sync (20 images) → oci:" "$bale" --root store-sync --no-progress sync sync.yml oci:sync-oci || return 1
  measure "bale sync (20 images) → archive" "$bale" --root store-sync --no-progress sync sync.yml docker-archive:sync.tar || return 1
  measure "skopeo sync (20 images) → dir" skopeo sync --src yaml --dest dir sync.yml sync-dir || return 1
  printf '(20 images, %d MiB of layers in the archive; the OCI layout holds %d blobs)\n' \
    $(( $(stat -c %s sync.tar) / 1048576 )) "$(ls sync-oci/blobs/sha256 | wc -l)"
}
sync_bench || echo "(sync: failed, its rows are missing)" >&2
stop_registry
rm -rf sync-in store-sync sync-oci sync-dir sync.tar sync.yml registry-sync registry-sync.*
# <<< sync <<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<

ratio() { echo "scale=2; $1 / $2" | bc; }
echo
echo "ratios (bale ÷ peer):"
echo "  import wall vs umoci raw add-layer:   $(ratio "${wall[bale import --jobs $jobs]}" "${wall[umoci raw add-layer]}")   (target ≤ 0.6, aim ≤ 0.45)"
echo "  import cpu vs umoci raw add-layer:    $(ratio "${cpu[bale import --jobs $jobs]}" "${cpu[umoci raw add-layer]}")   (steadier than wall on a shared machine)"
echo "  import wall vs pigz -p $jobs -6:          $(ratio "${wall[bale import --jobs $jobs]}" "${wall[pigz -p $jobs -6]}")"
echo "  import wall vs gzip -6:               $(ratio "${wall[bale import --jobs $jobs]}" "${wall[gzip -6]}")"
echo "  layer size vs gzip -6 output:         $(ratio "$bale_layer" "$gzip_layer")   (target ≤ 1.08)"
echo "  import peak RSS:                      ${rss[bale import --jobs $jobs]} MiB   (target ≤ 64)"
echo "  export wall vs tar -x:                $(ratio "${wall[bale export --dir]}" "${wall[tar -x]}")   (target ≤ 1.2)"
echo "  save wall vs tar cf (same blobs):     $(ratio "${wall[bale save (4 layers)]}" "${wall[tar cf (same blobs)]}")   (target ≤ 1.1; peak RSS ${rss[bale save (4 layers)]} MiB vs ${rss[tar cf (same blobs)]} MiB)"
echo "  load wall vs tar xf (same archive):   $(ratio "${wall[bale load]}" "${wall[tar xf (same archive)]}")   (target ≤ 1.0; peak RSS ${rss[bale load]} MiB vs ${rss[tar xf (same archive)]} MiB)"
echo "  save wall vs skopeo:                  $(ratio "${wall[bale save (4 layers)]}" "${wall[skopeo copy oci: → docker-archive:]}")"
echo "  load wall vs skopeo:                  $(ratio "${wall[bale load]}" "${wall[skopeo copy docker-archive: → oci:]}")"
echo "  copy wall vs skopeo:                  $(ratio "${wall[bale copy docker-archive: → oci:]}" "${wall[skopeo copy docker-archive: → oci:]}")"
echo "  load peak RSS vs skopeo:              $(ratio "${rss[bale load]}" "${rss[skopeo copy docker-archive: → oci:]}")"
if [ -n "${wall[bale push]:-}" ]; then
  echo "  push wall vs skopeo (registry):       $(ratio "${wall[bale push]}" "${wall[skopeo copy oci: → docker://]}")   (target ≤ 0.5; peak RSS ${rss[bale push]} MiB, target ≤ 64; skopeo ${rss[skopeo copy oci: → docker://]} MiB)"
fi
if [ -n "${wall[curl upload (registry floor)]:-}" ] && [ -n "${wall[skopeo copy oci: → docker://]:-}" ]; then
  echo "  registry floor (curl) vs skopeo push: $(ratio "${wall[curl upload (registry floor)]}" "${wall[skopeo copy oci: → docker://]}")   (no client's push ratio can be lower)"
fi
if [ -n "${wall[bale pull]:-}" ]; then
  echo "  pull wall vs skopeo (registry):       $(ratio "${wall[bale pull]}" "${wall[skopeo copy docker:// → oci:]}")   (target ≤ 0.5; peak RSS ${rss[bale pull]} MiB, target ≤ 64; skopeo ${rss[skopeo copy docker:// → oci:]} MiB)"
fi
if [ -n "${wall[skopeo sync (20 images) → dir]:-}" ]; then
  echo "  sync wall vs skopeo sync (20 images): oci: $(ratio "${wall[bale sync (20 images) → oci:]}" "${wall[skopeo sync (20 images) → dir]}"), archive $(ratio "${wall[bale sync (20 images) → archive]}" "${wall[skopeo sync (20 images) → dir]}")   (peak RSS ${rss[bale sync (20 images) → oci:]} / ${rss[bale sync (20 images) → archive]} MiB; skopeo ${rss[skopeo sync (20 images) → dir]} MiB)"
fi
