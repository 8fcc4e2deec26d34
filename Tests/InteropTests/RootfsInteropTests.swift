import Foundation
import Testing

/// Interop of `bale import`, `export` and `commit` with real peers: umoci (unpack) and the Docker daemon
/// (`docker import --change`). Self-contained: runs the built `bale` binary (`BALE_BIN`, else
/// `.build/debug/bale` of this package). A missing peer skips the test, except under CI=true, where it
/// fails.
@Suite(.serialized) struct RootfsInteropTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path
    static let bale = ProcessInfo.processInfo.environment["BALE_BIN"] ?? packageRoot + "/.build/debug/bale"
    static let inCI = ProcessInfo.processInfo.environment["CI"] == "true"

    /// Runs a shell command through `Harness.run` (output in files, so a daemon the command starts
    /// cannot hold a pipe open); returns status, stdout and stderr.
    @discardableResult
    static func sh(_ command: String, env: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
        let run = try Harness.run(URL(fileURLWithPath: "/bin/sh"), ["-c", command], environment: env)
        return (run.status, run.out, run.err)
    }

    /// Whether `tool` is on PATH; records a failure in CI when it is not.
    static func available(_ tool: String) throws -> Bool {
        if try sh("command -v \(tool) >/dev/null").status == 0 { return true }
        if inCI { Issue.record("\(tool) is required in CI") }
        return false
    }

    /// Listing without inode numbers (which differ), with hard links shown by shared first path.
    static func normalisedListing(_ dir: String) throws -> String {
        try sh("""
            cd '\(dir)' && find . -mindepth 1 -printf '%i %P %y %m %s %l\\n' | sort -k2 | \
            awk '{ ino=$1; if (!(ino in first)) first[ino]=$2; size=($3=="d") ? "-" : $5; print $2, $3, $4, size, $6, "link=" first[ino] }'; \
            find . -type f -printf '%P\\0' | sort -z | xargs -0 -r sha256sum
            """).out
    }

    /// A small rootfs at `dir`: directories (one empty, one 0700), a file with a hard link and a
    /// symlink to it, and 3 MB of random bytes with mode 0751.
    static func makeSourceTree(_ dir: String) throws {
        let made = try sh("""
            set -e; mkdir -p '\(dir)/etc/sub' '\(dir)/empty'
            printf 'root\\n' > '\(dir)/etc/passwd'; head -c 3000000 /dev/urandom > '\(dir)/big'
            ln '\(dir)/etc/passwd' '\(dir)/etc/hard'; ln -s passwd '\(dir)/etc/link'
            chmod 0751 '\(dir)/big'; chmod 0700 '\(dir)/etc/sub'
            """)
        try #require(made.status == 0, "\(made.err)")
    }

    @Test func umociUnpacksABaleImportToTheInputTree() throws {
        guard try Self.available("umoci") else { return }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("bale-interop-\(UUID().uuidString)").path
        defer { _ = try? Self.sh("rm -rf '\(root)'") }
        let env = ["BALE_ROOT": root + "/store"]
        try Self.makeSourceTree(root + "/src")
        #expect(try Self.sh("'\(Self.bale)' import '\(root)/src' imp:1 >/dev/null", env: env).status == 0)
        #expect(try Self.sh("'\(Self.bale)' copy imp:1 'oci:\(root)/layout:imp' >/dev/null 2>&1", env: env).status == 0)
        #expect(try Self.sh("umoci unpack --rootless --image '\(root)/layout:imp' '\(root)/bundle' >/dev/null 2>&1").status == 0)
        let want = try Self.normalisedListing(root + "/src")
        #expect(!want.isEmpty)
        #expect(try Self.normalisedListing(root + "/bundle/rootfs") == want)
    }

    /// `rootfs:` as a location on either side of `copy`, with no store involved: a directory straight into
    /// an OCI layout (umoci unpacks the input tree), and the layout straight back into a tar (bsdtar's
    /// extraction of it is the same tree again) and into a directory.
    @Test func rootfsLocationCopiesIntoAndOutOfALayoutWithoutTheStore() throws {
        guard try Self.available("umoci"), try Self.available("bsdtar") else { return }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("bale-interop-\(UUID().uuidString)").path
        defer { _ = try? Self.sh("rm -rf '\(root)'") }
        let env = ["BALE_ROOT": root + "/store-never-made"]
        try Self.makeSourceTree(root + "/src")
        let copied = try Self.sh("'\(Self.bale)' copy 'rootfs:\(root)/src' 'oci:\(root)/layout:app'", env: env)
        #expect(copied.status == 0, "\(copied.err)")
        #expect(try Self.sh("umoci unpack --rootless --image '\(root)/layout:app' '\(root)/bundle' >/dev/null 2>&1").status == 0)
        let want = try Self.normalisedListing(root + "/src")
        #expect(!want.isEmpty)
        #expect(try Self.normalisedListing(root + "/bundle/rootfs") == want)

        let out = try Self.sh("""
            set -e; B='\(Self.bale)'
            $B copy 'oci:\(root)/layout:app' 'rootfs:\(root)/flat.tar'
            mkdir '\(root)/bsd' && bsdtar -xpf '\(root)/flat.tar' -C '\(root)/bsd'
            $B copy 'oci:\(root)/layout:app' 'rootfs:\(root)/dir/'
            """, env: env)
        #expect(out.status == 0, "\(out.err)")
        #expect(try Self.normalisedListing(root + "/bsd") == want)
        #expect(try Self.normalisedListing(root + "/dir") == want)
        #expect(!FileManager.default.fileExists(atPath: root + "/store-never-made"))
    }

    @Test func exportOfAMultiLayerImageEqualsUmociUnpack() throws {
        guard try Self.available("umoci") else { return }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("bale-interop-\(UUID().uuidString)").path
        defer { _ = try? Self.sh("rm -rf '\(root)'") }
        let env = ["BALE_ROOT": root + "/store"]
        // Base: a tree; commit: deletions (a file, a directory), a change and an addition.
        #expect(try Self.sh("""
            set -e; mkdir -p '\(root)/src/opt/sub' '\(root)/src/etc'
            echo a > '\(root)/src/opt/a'; echo deep > '\(root)/src/opt/sub/deep'; echo p > '\(root)/src/etc/passwd'
            echo gone > '\(root)/src/gone'; ln '\(root)/src/etc/passwd' '\(root)/src/etc/hard'; ln -s /etc '\(root)/src/etclink'
            '\(Self.bale)' import '\(root)/src' m:1 >/dev/null
            '\(Self.bale)' export --dir '\(root)/edit' m:1
            rm -rf '\(root)/edit/opt/sub' '\(root)/edit/gone'; echo more >> '\(root)/edit/etc/passwd'; echo new > '\(root)/edit/new'
            '\(Self.bale)' commit --base m:1 '\(root)/edit' m:2 >/dev/null
            '\(Self.bale)' export --dir '\(root)/out' m:2
            '\(Self.bale)' copy m:2 'oci:\(root)/layout:m2' >/dev/null 2>&1
            umoci unpack --rootless --image '\(root)/layout:m2' '\(root)/bundle' >/dev/null 2>&1
            """, env: env).status == 0)
        let ours = try Self.normalisedListing(root + "/out")
        #expect(ours.contains("new f"))
        #expect(!ours.contains("gone"))
        #expect(ours == (try Self.normalisedListing(root + "/bundle/rootfs")))
        #expect(ours == (try Self.normalisedListing(root + "/edit")))
    }

    @Test func changesLandInTheConfigAsDockerImportPutsThem() throws {
        guard try Self.available("dockerd"), try Self.available("docker") else { return }
        guard geteuid() == 0 else {
            if Self.inCI { Issue.record("the Docker daemon check needs root") }
            return
        }
        let root = "/tmp/bale-dockerd-\(UUID().uuidString.prefix(8))"
        defer { _ = try? Self.sh("rm -rf '\(root)'") }
        let sock = "unix://\(root)/sock"
        #expect(try Self.sh("""
            mkdir -p '\(root)/data' '\(root)/exec' '\(root)/src/etc' && echo x > '\(root)/src/etc/x' && tar -C '\(root)/src' -cf '\(root)/r.tar' .
            python3 -c 'import subprocess, sys; subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=open(sys.argv[1], "w"), stderr=subprocess.STDOUT, close_fds=True, start_new_session=True)' \
              '\(root)/log' dockerd --storage-driver=vfs --iptables=false --ip6tables=false --bridge=none --data-root '\(root)/data' \
              --exec-root '\(root)/exec' --pidfile '\(root)/pid' --host '\(sock)'
            for i in $(seq 1 60); do DOCKER_HOST='\(sock)' docker version >/dev/null 2>&1 && exit 0; sleep 0.5; done; exit 1
            """).status == 0)
        defer { _ = try? Self.sh("kill $(cat '\(root)/pid'); sleep 1") }
        // The daemon inherits no descriptor of this process (close_fds): an inherited pipe would keep the
        // test runner waiting for its end.
        // STOPSIGNAL is left out: the classic daemon's import refuses it ("stopsignal is not a valid change command").
        let changeSets: [[String]] = [
            ["ENV A=1 B=\"x y\"", "ENV A=2"], ["CMD echo hi"], ["CMD [\"/a\",\"b\"]"], ["ENTRYPOINT /e x"],
            ["CMD [\"c\"]", "ENTRYPOINT [\"/e\"]"], ["EXPOSE 80 53/udp 7000-7001"], ["LABEL a=b \"c d\"=e"],
            ["VOLUME /data [\"/x\"]"], ["VOLUME [\"/y\", \"/z\"]"], ["USER app:app"], ["WORKDIR /srv", "WORKDIR app"],
            ["ONBUILD RUN  make"], ["HEALTHCHECK NONE"],
            ["HEALTHCHECK --interval=1m30s --timeout=5s --start-period=2s --retries=3 CMD curl x"],  // no --start-interval: the daemon here is 20.10
            ["HEALTHCHECK CMD [\"/check\"]"],
        ]
        let env = ["BALE_ROOT": root + "/store", "DOCKER_HOST": sock]
        for (i, changes) in changeSets.enumerated() {
            let flags = changes.map { "-c '\($0.replacingOccurrences(of: "'", with: "'\\''"))'" }.joined(separator: " ")
            let script = """
                import json,sys
                d = json.load(open(sys.argv[1]))[0]
                c = {k: v for k, v in (d["Config"] or {}).items() if v not in ("", False, None, [], {})}
                print(json.dumps({"Config": c, "Comment": d["Comment"]}, sort_keys=True))
                """
            try script.write(toFile: root + "/cfg.py", atomically: true, encoding: .utf8)
            let docker = try Self.sh("""
                docker import \(flags) -m 'msg \(i)' '\(root)/r.tar' d:\(i) >/dev/null && docker inspect d:\(i) > '\(root)/d.json' && python3 '\(root)/cfg.py' '\(root)/d.json'
                """, env: env)
            let bale = try Self.sh("""
                '\(Self.bale)' import \(flags) -m 'msg \(i)' '\(root)/r.tar' b:\(i) >/dev/null && '\(Self.bale)' inspect b:\(i) > '\(root)/b.json' && python3 '\(root)/cfg.py' '\(root)/b.json'
                """, env: env)
            #expect(docker.status == 0 && bale.status == 0, "\(changes)")
            #expect(!docker.out.isEmpty)
            #expect(bale.out == docker.out, "\(changes)")
        }
    }
}
