import Foundation
import Testing

/// What docker makes of bale's rootfs images: `docker load` of a bale-imported and a bale-committed
/// image, then `docker create` + `docker export`, gives the same tree as `bale export`.
@Suite(.enabled(if: Harness.peersAvailable("dockerd", "docker", "tar", "sh")))
struct RootfsDockerTests {
    /// Paths docker adds to every container's filesystem (mount points and its own files).
    static let dockerOwn = ["./.dockerenv", "./dev", "./proc", "./sys", "./etc/hostname", "./etc/hosts",
                            "./etc/resolv.conf", "./etc/mtab"]

    /// One line per entry: path, type, mode, size (files), link target; then the files' SHA-256.
    func listing(_ dir: URL) throws -> [String] {
        let prune = Self.dockerOwn.map { "-path '\($0)' -prune -o" }.joined(separator: " ")
        let script = """
            cd '\(dir.path)' && find . -mindepth 1 \(prune) -printf '%p %y %m %s %l\\n' | \
              awk '{ if ($2 == "d") $4 = "-"; print }' | sort; \
            find . \(prune) -type f -print0 | sort -z | xargs -0 -r sha256sum
            """
        let r = try Harness.run(URL(fileURLWithPath: "/bin/sh"), ["-c", script])
        try #require(r.succeeded, "\(r)")
        return r.lines
    }

    func sh(_ script: String) throws {
        let r = try Harness.run(URL(fileURLWithPath: "/bin/sh"), ["-c", script])
        try #require(r.succeeded, "\(r)")
    }

    @Test func dockerExportsTheSameTreeAsBale() throws {
        try Harness.withTemporaryDirectory { d in
            let store = d.appendingPathComponent("store")
            let rootfs = d.appendingPathComponent("rootfs")
            try sh("""
                cd '\(d.path)' && mkdir -p rootfs/etc rootfs/bin rootfs/srv/app/cache rootfs/gone/deep && \
                printf 'hello\\n' > rootfs/etc/motd && printf '#!/bin/sh\\necho hi\\n' > rootfs/bin/hi && chmod 755 rootfs/bin/hi && \
                printf 'a' > rootfs/srv/app/a && printf 'b' > rootfs/srv/app/cache/b && printf 'x' > rootfs/gone/deep/x && \
                ln -s ../etc/motd rootfs/bin/motd-link && ln rootfs/srv/app/a rootfs/srv/app/a-hard && chmod 700 rootfs/srv
                """)
            let imported = try Harness.bale(["import", rootfs.path, "rootfs/base:1"], root: store)
            try #require(imported.succeeded, "\(imported)")
            let work = d.appendingPathComponent("work")
            try #require(try Harness.bale(["export", "--dir", work.path, "rootfs/base:1"], root: store).succeeded)
            try sh("""
                cd '\(work.path)' && rm -rf gone && rm srv/app/cache/b && printf 'changed' > etc/motd && \
                mkdir -p opt && printf 'new' > opt/new
                """)
            let committed = try Harness.bale(["commit", "-m", "edit", "--base", "rootfs/base:1", work.path, "rootfs/base:2"], root: store)
            try #require(committed.succeeded, "\(committed)")
            let archive = d.appendingPathComponent("images.tar")
            try #require(try Harness.bale(["save", "-o", archive.path, "rootfs/base:1", "rootfs/base:2"], root: store).succeeded)

            try DockerDaemon.with { docker in
                try docker.must(["load", "-i", archive.path])
                for name in ["rootfs/base:1", "rootfs/base:2"] {
                    let tag = name.replacingOccurrences(of: "/", with: "-").replacingOccurrences(of: ":", with: "-")
                    let fromBale = d.appendingPathComponent("bale-\(tag)")
                    try #require(try Harness.bale(["export", "--dir", fromBale.path, name], root: store).succeeded)
                    let container = try docker.must(["create", name, "/bin/hi"]).out
                        .trimmingCharacters(in: .whitespacesAndNewlines)
                    let flat = d.appendingPathComponent("docker-\(tag).tar")
                    try docker.must(["export", "-o", flat.path, container])
                    let fromDocker = d.appendingPathComponent("docker-\(tag)")
                    try sh("mkdir -p '\(fromDocker.path)' && tar -C '\(fromDocker.path)' -xf '\(flat.path)'")
                    let baleTree = try listing(fromBale)
                    let dockerTree = try listing(fromDocker)
                    #expect(!baleTree.isEmpty)
                    #expect(baleTree == dockerTree, "\(name): bale \(baleTree) docker \(dockerTree)")
                }
            }
            // The committed layer deleted what the edit deleted.
            let two = try listing(d.appendingPathComponent("bale-rootfs-base-2"))
            #expect(!two.contains { $0.hasPrefix("./gone") })
            #expect(two.contains { $0.hasPrefix("./opt/new f") })
        }
    }
}
