import Foundation
import Testing

/// `bale import`, `export` and `commit` run as the built binary (`BALE_BIN`, else `.build/debug/bale`).
@Suite struct RootfsCLITests {
    static let bale = ProcessInfo.processInfo.environment["BALE_BIN"]
        ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path + "/.build/debug/bale"

    /// Runs a shell command through `CLIRunner.run` (output in files, never pipes); returns status,
    /// stdout and stderr.
    @discardableResult
    static func sh(_ command: String, env: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
        let run = try CLIRunner.run(URL(fileURLWithPath: "/bin/sh"), ["-c", command], environment: env)
        return (run.status, run.out, run.err)
    }

    @Test func importPrintsTheImageIDAndExportCommitRoundTrip() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("bale-cli-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let env = ["BALE_ROOT": root + "/store", "SOURCE_DATE_EPOCH": "1700000000"]
        _ = try Self.sh("mkdir -p \(root)/src/d && echo hi > \(root)/src/d/f && echo x > \(root)/src/x", env: env)
        let first = try Self.sh("'\(Self.bale)' import -c 'ENV A=1' -m hello \(root)/src r:1", env: env)
        #expect(first.status == 0)
        #expect(first.out.range(of: #"^sha256:[0-9a-f]{64}\n$"#, options: .regularExpression) != nil)
        // From stdin, gzipped: the same tree gives another layer (tar's bytes differ), but a valid image.
        let stdin = try Self.sh("tar -C \(root)/src -cz . | '\(Self.bale)' import - r:2", env: env)
        #expect(stdin.status == 0)
        let again = try Self.sh("'\(Self.bale)' import -c 'ENV A=1' -m hello \(root)/src r:3", env: env)
        #expect(again.out == first.out)

        let roundTrip = try Self.sh("""
            set -e; B='\(Self.bale)'
            $B export --dir \(root)/ed r:1; rm \(root)/ed/x; echo y > \(root)/ed/d/g
            $B commit -a me -m edit --base r:1 \(root)/ed r:4
            $B export r:4 | tar -t | sort | tr '\\n' ' '
            """, env: env)
        #expect(roundTrip.status == 0, "\(roundTrip.err)")
        #expect(roundTrip.out.hasSuffix("d/ d/f d/g "))
        #expect(try Self.sh("'\(Self.bale)' export -o \(root)/out.tar r:4 && tar -tf \(root)/out.tar | wc -l", env: env).out
                    .trimmingCharacters(in: .whitespacesAndNewlines) == "3")
    }

    /// A small layer holding a 20 GiB sparse file (GNU tar `--sparse`) comes out of `export -o` and of
    /// `copy IMG rootfs:FILE` as a small tar with a sparse member: listed at its logical size, extracted
    /// by GNU tar and bsdtar to the same sparse file (holes as holes, data in place). Before, the holes
    /// were written out as 20 GiB of zeros.
    @Test func exportAndCopyToRootfsTarKeepSparseFilesSparse() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("bale-cli-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let env = ["BALE_ROOT": root + "/store"]
        let setup = try Self.sh("""
            set -e; mkdir -p \(root)/src; cd \(root)/src
            truncate -s 20G big
            head -c 8192 /dev/urandom | dd of=big bs=4096 seek=3 conv=notrunc status=none
            printf 'middle' | dd of=big bs=1 seek=$((7*1024*1024*1024+5)) conv=notrunc status=none
            head -c 4096 /dev/urandom | dd of=big bs=4096 seek=$((15*1024*1024/4)) conv=notrunc status=none
            echo small > small
            tar --sparse -cf \(root)/layer.tar big small
            '\(Self.bale)' import \(root)/layer.tar r:1 >/dev/null
            """, env: env)
        try #require(setup.status == 0, "\(setup.err)")

        let outputs = ["export": "'\(Self.bale)' export -o \(root)/export.tar r:1",
                       "copy": "'\(Self.bale)' copy r:1 rootfs:\(root)/copy.tar"]
        for (name, command) in outputs.sorted(by: { $0.key < $1.key }) {
            // A limit on the file size, so the old code fails fast instead of writing 20 GiB.
            let run = try Self.sh("ulimit -f \(64 * 1024 * 2); \(command)", env: env)
            #expect(run.status == 0, "\(name): \(run.err)")
            let tar = "\(root)/\(name).tar"
            let check = try Self.sh("""
                set -e; cd \(root)
                stat -c %s \(tar)
                tar -tvf \(tar) | grep ' big$' | awk '{print $3}'
                for t in tar bsdtar; do
                  rm -rf x; mkdir x; $t -xf \(tar) -C x
                  stat -c '%s %b %B' x/big
                  cmp -n 16384 src/big x/big && echo head-same
                  cmp -i $((7*1024*1024*1024)):$((7*1024*1024*1024)) -n 4096 src/big x/big && echo middle-same
                  cmp -i $((15*1024*1024*1024)):$((15*1024*1024*1024)) -n 8192 src/big x/big && echo tail-same
                  cat x/small
                done
                """)
            #expect(check.status == 0, "\(name): \(check.out)\(check.err)")
            let lines = check.out.split(separator: "\n").map(String.init)
            guard lines.count == 12 else {
                Issue.record("\(name): \(check.out)\(check.err)")
                continue
            }
            #expect((Int(lines[0]) ?? .max) < 1 << 20, "\(name): the tar is \(lines[0]) bytes")
            #expect(lines[1] == "21474836480", "\(name): \(lines[1])")
            for tool in 0 ..< 2 {
                let at = 2 + tool * 5
                let stat = lines[at].split(separator: " ").compactMap { Int($0) }
                #expect(stat.count == 3 && stat[0] == 20 << 30 && stat[1] * stat[2] < 1 << 20, "\(name): \(lines[at])")
                #expect(Array(lines[(at + 1) ... (at + 4)]) == ["head-same", "middle-same", "tail-same", "small"],
                        "\(name): \(check.out)")
            }
        }
    }

    @Test func usageErrorsExitWithStatusTwoAndChangeErrorsAreDockers() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("bale-cli-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let env = ["BALE_ROOT": root + "/store"]
        _ = try Self.sh("mkdir -p \(root)/src", env: env)
        let bad = try Self.sh("'\(Self.bale)' import -c 'RUN x' \(root)/src", env: env)
        #expect(bad.status == 2)
        #expect(bad.err.contains("run is not a valid change command"))
        #expect(try Self.sh("'\(Self.bale)' export -o a --dir b x", env: env).status == 2)
        #expect(try Self.sh("'\(Self.bale)' import --compression-level 10 \(root)/src", env: env).status == 2)
    }

    /// `-o` writes a symlink's target and keeps the link, writes into a FIFO without replacing it, and
    /// names the path as given when its directory is missing (`OutputFile`), for export and save alike.
    @Test func dashOWritesThroughSymlinksAndIntoFIFOs() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("bale-cli-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let env = ["BALE_ROOT": root + "/store"]
        let setup = try Self.sh("""
            set -e; mkdir -p \(root)/src/d \(root)/out && echo hi > \(root)/src/d/f
            '\(Self.bale)' import \(root)/src r:1 >/dev/null
            echo old > \(root)/out/real.tar; ln -s real.tar \(root)/out/lnk.tar
            echo old > \(root)/out/saved.tar; ln -s saved.tar \(root)/out/save-lnk.tar
            """, env: env)
        try #require(setup.status == 0, "\(setup.err)")

        let export = try Self.sh("'\(Self.bale)' export -o \(root)/out/lnk.tar r:1", env: env)
        #expect(export.status == 0, "\(export.err)")
        let save = try Self.sh("'\(Self.bale)' save -o \(root)/out/save-lnk.tar r:1", env: env)
        #expect(save.status == 0, "\(save.err)")
        let check = try Self.sh("""
            cd \(root)/out; test -L lnk.tar && echo link-kept; tar -tf real.tar | sort | tr '\\n' ' '; echo
            test -L save-lnk.tar && echo save-link-kept; tar -tf saved.tar | grep -c '^manifest.json$'
            ls -A | tr '\\n' ' '
            """)
        #expect(check.out == "link-kept\nd/ d/f \nsave-link-kept\n1\nlnk.tar real.tar save-lnk.tar saved.tar ",
                "\(check.out)\(check.err)")

        let fifo = try Self.sh("""
            cd \(root)/out; mkfifo p; cat p > got & '\(Self.bale)' export -o p r:1; s=$?; wait
            echo $s; test -p p && echo still-fifo; tar -tf got | sort | tr '\\n' ' '
            """, env: env)
        #expect(fifo.out == "0\nstill-fifo\nd/ d/f ", "\(fifo.out)\(fifo.err)")

        let missing = try Self.sh("'\(Self.bale)' export -o \(root)/nodir/x.tar r:1", env: env)
        #expect(missing.status != 0)
        #expect(missing.err.contains("\(root)/nodir/x.tar: create: No such file or directory"), "\(missing.err)")
        #expect(!missing.err.contains(".tmp-"))
    }

    /// An image with more directories than a process may usually have open files: the extractor's
    /// directory cache stays well under the limit.
    @Test func exportOfManyDirectoriesStaysUnderTheOpenFileLimit() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("bale-cli-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let env = ["BALE_ROOT": root + "/store"]
        let run = try Self.sh("""
            set -e; mkdir -p \(root)/src && cd \(root)/src
            for i in $(seq 1 1500); do mkdir -p d$i/sub; echo $i > d$i/sub/f; done
            '\(Self.bale)' import \(root)/src many:1 >/dev/null
            ulimit -n 300
            '\(Self.bale)' export --dir \(root)/out many:1
            find \(root)/out -type f | wc -l
            """, env: env)
        #expect(run.status == 0, "\(run.err)")
        #expect(run.out.trimmingCharacters(in: .whitespacesAndNewlines) == "1500")
    }

    /// A gzip tar whose trailer is wrong is refused by import and commit alike, and the store keeps
    /// neither an image nor a blob of it.
    @Test func aGzipTarWithABadCRCIsRefusedAndLeavesTheStoreAsItWas() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("bale-cli-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let env = ["BALE_ROOT": root + "/store"]
        let setup = try Self.sh("""
            set -e; mkdir -p \(root)/src && head -c 300000 /dev/urandom > \(root)/src/blob && echo hi > \(root)/src/f
            '\(Self.bale)' import \(root)/src base:1 >/dev/null
            tar -C \(root)/src -c . | gzip -c > \(root)/c.tgz
            python3 -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[-8]^=1; open(p,'wb').write(b)" \(root)/c.tgz
            ! gzip -t \(root)/c.tgz 2>/dev/null
            """, env: env)
        try #require(setup.status == 0, "\(setup.err)")
        // Names and IDs, not the "created ... ago" column, which moves with the clock.
        let state = "find \(root)/store -type f | sort | xargs sha256sum; '\(Self.bale)' images --no-trunc --format '{{.Repository}}:{{.Tag}} {{.ID}}'"
        let before = try Self.sh(state, env: env)

        for command in ["import \(root)/c.tgz bad:1", "commit --base base:1 \(root)/c.tgz bad:2"] {
            let run = try Self.sh("'\(Self.bale)' \(command)", env: env)
            #expect(run.status != 0, "\(command)")
            #expect(run.err.contains("\(root)/c.tgz"), "\(command): \(run.err)")
            #expect(run.err.contains("CRC-32 or size check failed"), "\(command): \(run.err)")
            #expect(run.err.split(separator: "\n").count == 1, "\(command): one line: \(run.err)")
            let after = try Self.sh(state, env: env)
            #expect(after.out == before.out, "\(command) changed the store")
            // Image lines start with the name; a blob's hex digest may contain "bad" by chance.
            #expect(!after.out.split(separator: "\n").contains { $0.hasPrefix("bad:") })
        }
    }

    /// A root filesystem with Latin-1 names (bytes 0xE9, 0xFF; a directory, files, a symlink whose
    /// target is such a name, a hard link to one) made by GNU tar, and a second layer whiting one out:
    /// `import` and `commit TAR` accept them, `export -o` and `export --dir` give the same bytes, an
    /// unchanged tree commits to an empty layer, and a change and a deletion commit to a member and a
    /// whiteout with the same bytes. Messages show such names escaped, on one line.
    @Test func latin1NamesRoundTripByteExact() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("bale-cli-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let env = ["BALE_ROOT": root + "/store"]
        // The last layer of an image, listed by GNU tar (octal escapes: \351 is 0xE9, \377 is 0xFF);
        // printed with printf, as dash's echo would turn the escapes back into bytes.
        let lastLayer = """
            last() { m=$("$B" inspect "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Manifest"]["digest"].split(":")[1])')
              l=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][-1]["digest"].split(":")[1])' "$BALE_ROOT/blobs/sha256/$m")
              tar --quoting-style=escape -tzf "$BALE_ROOT/blobs/sha256/$l" | LC_ALL=C sort | tr '\\n' ' '; }
            """
        let run = try Self.sh("""
            set -e; B='\(Self.bale)'; mkdir -p \(root); cd \(root)
            \(lastLayer)
            mkdir src up; cd src; mkdir "$(printf 'd\\377')"; printf one > "$(printf 'd\\377/caf\\351')"
            printf doc > "$(printf 'doc\\351')"; ln -s "$(printf 'd\\377/caf\\351')" "$(printf 'lnk\\351')"
            ln "$(printf 'd\\377/caf\\351')" "$(printf 'hard\\351')"; cd ..
            : > "up/$(printf '.wh.doc\\351')"
            tar --format=gnu --sort=name -cf lower.tar -C src .; tar --format=gnu -cf upper.tar -C up .
            "$B" import lower.tar latin:1 >/dev/null
            "$B" commit --base latin:1 upper.tar latin:2 >/dev/null
            "$B" export -o out.tar latin:2
            printf 'tar: %s\\n' "$(tar --quoting-style=escape -tvf out.tar 2>/dev/null | sed 's/^.* [0-9][0-9]:[0-9][0-9] //' | tr '\\n' ';')"
            "$B" export --dir ed latin:2
            rm "src/$(printf 'doc\\351')"
            (cd src && find . | LC_ALL=C sort) > want; (cd ed && find . | LC_ALL=C sort) > got
            cmp want got && echo "dir: same names"
            test "$(readlink "ed/$(printf 'lnk\\351')")" = "$(printf 'd\\377/caf\\351')" && echo "dir: same target"
            "$B" commit --base latin:2 ed latin:3 >/dev/null
            printf 'unchanged: [%s]\\n' "$(last latin:3)"
            printf more >> "ed/$(printf 'd\\377/caf\\351')"; rm "ed/$(printf 'lnk\\351')"
            "$B" commit --base latin:2 ed latin:4 >/dev/null
            printf 'changed: %s\\n' "$(last latin:4)"
            """, env: env)
        #expect(run.status == 0, "\(run.err)")
        #expect(run.out == #"""
            tar: d\377/;d\377/caf\351;hard\351 link to d\377/caf\351;lnk\351 -> d\377/caf\351;
            dir: same names
            dir: same target
            unchanged: []
            changed: .wh.lnk\351 d\377/ d\377/caf\351 hard\351 

            """#, "\(run.out)")

        // A message naming such a member escapes it: one line, no raw byte.
        let warn = try Self.sh("""
            set -e; B='\(Self.bale)'; cd \(root); mkdir -p w/"$(printf '.wh.x\\351')"; printf c > w/"$(printf '.wh.x\\351/ch\\033[2Jild')"
            tar --format=gnu -cf w.tar -C w .; "$B" commit --base latin:1 w.tar latin:5 >/dev/null
            "$B" export -o w-out.tar latin:5
            """, env: env)
        #expect(warn.status == 0, "\(warn.err)")
        #expect(warn.err.contains(#"member "./.wh.x\xe9/ch\x1b[2Jild": dropped: it is inside the whiteout ".wh.x\xe9""#), "\(warn.err)")
        #expect(!warn.err.utf8.contains(0xe9) && !warn.err.utf8.contains(0x1b))
        #expect(warn.err.split(separator: "\n").count == 1, "one line: \(warn.err)")
    }
}
