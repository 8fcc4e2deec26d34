import Foundation
import Testing

/// The images the Docker engine tests load into the private dockerd: two generated multi-layer images
/// sharing a base (gen/a:1, gen/b:1), two with whiteouts (a deleted file, a deleted directory) and hard
/// links made through import and commit (edit/base:1, edit/top:1), and one from `docker import`
/// (imported/x:1).
enum EngineImages {
    /// Every name, as the engine lists them.
    static let names = ["gen/a:1", "gen/b:1", "edit/base:1", "edit/top:1", "imported/x:1"]

    /// What `make` leaves: the first four images saved by bale, and the rootfs tar for `docker import`.
    struct Files {
        let archive: URL
        let rootfs: URL
    }

    static func sh(_ script: String) throws -> RunResult {
        let r = try Harness.run(URL(fileURLWithPath: "/bin/sh"), ["-c", script])
        try #require(r.succeeded, "\(r)")
        return r
    }

    static func bale(_ arguments: [String], _ root: URL) throws -> RunResult {
        let r = try Harness.bale(arguments, root: root)
        try #require(r.succeeded, "\(r)")
        return r
    }

    /// Builds the images under `d` (a store at d/seed, the files below).
    static func make(in d: URL) throws -> Files {
        let store = d.appendingPathComponent("seed")
        let layout = try Harness.makeLayout(in: d, images: ["gen/a:1=layers=3", "gen/b:1=layers=2"], options: ["--share-base"])
        _ = try bale(["copy", "oci:\(layout.path):gen/a:1", "gen/a:1"], store)
        _ = try bale(["copy", "oci:\(layout.path):gen/b:1", "gen/b:1"], store)
        _ = try sh("""
            cd '\(d.path)' && mkdir -p rootfs/etc rootfs/srv/app/cache rootfs/gone/deep && \
            printf 'hello\\n' > rootfs/etc/motd && printf 'a' > rootfs/srv/app/a && printf 'b' > rootfs/srv/app/cache/b && \
            printf 'x' > rootfs/gone/deep/x && ln rootfs/srv/app/a rootfs/srv/app/a-hard && ln -s ../etc/motd rootfs/srv/motd && \
            tar -C rootfs -cf rootfs.tar .
            """)
        _ = try bale(["import", d.appendingPathComponent("rootfs").path, "edit/base:1"], store)
        let work = d.appendingPathComponent("work")
        _ = try bale(["export", "--dir", work.path, "edit/base:1"], store)
        _ = try sh("cd '\(work.path)' && rm -rf gone && rm srv/app/cache/b && printf 'changed' > etc/motd && ln etc/motd etc/motd-hard")
        _ = try bale(["commit", "-m", "edit", "--base", "edit/base:1", work.path, "edit/top:1"], store)
        let archive = d.appendingPathComponent("images.tar")
        _ = try bale(["save", "-o", archive.path, "gen/a:1", "gen/b:1", "edit/base:1", "edit/top:1"], store)
        return Files(archive: archive, rootfs: d.appendingPathComponent("rootfs.tar"))
    }

    /// Loads the images into `docker`; returns the engine's sorted `NAME:TAG ID` lines.
    static func load(_ files: Files, into docker: DockerDaemon) throws -> [String] {
        try docker.must(["load", "-i", files.archive.path])
        try docker.must(["import", files.rootfs.path, "imported/x:1"])
        return try listing(docker)
    }

    /// The engine's sorted `NAME:TAG ID` lines.
    static func listing(_ docker: DockerDaemon) throws -> [String] {
        try docker.must(["images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]).lines.sorted()
    }
}
