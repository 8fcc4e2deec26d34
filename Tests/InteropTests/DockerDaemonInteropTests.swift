import Foundation
import Testing

/// `docker-daemon:`: a running engine over its API socket. The test images (`EngineImages`) copy from
/// the private dockerd to a store with the engine's image IDs and back into a second engine with the
/// same IDs; `bale save` from the engine equals `docker save` image for image; engine errors come back
/// as one line, and nothing is changed.
@Suite(.enabled(if: Harness.peersAvailable("dockerd", "docker", "python3", "tar", "sh")))
struct DockerDaemonInteropTests {
    func bale(_ arguments: [String], _ root: URL) throws -> RunResult {
        let r = try Harness.bale(arguments, root: root)
        try #require(r.succeeded, "\(r)")
        return r
    }

    /// A store's `NAME:TAG ID` lines (familiar names, as docker shows them).
    func listing(_ root: URL, digests: Bool = false) throws -> [String] {
        let format = "{{.Repository}}:{{.Tag}} {{.ID}}" + (digests ? " {{.Digest}}" : "")
        return try bale(["images", "-a", "--no-trunc", "--format", format], root).lines.sorted()
    }

    @Test func copiesFromAnEngineAndIntoASecondWithTheSameIDs() throws {
        try Harness.withTemporaryDirectory { d in
            let files = try EngineImages.make(in: d)
            let store = d.appendingPathComponent("store")
            let engine = try DockerDaemon.with { docker in
                let engine = try EngineImages.load(files, into: docker)
                #expect(engine.count == 5)
                let host = ["--docker-host", "unix://" + docker.socket]

                // Every image, in one request: the engine's names and IDs.
                _ = try bale(["copy"] + host + ["docker-daemon:", "store:"], store)
                #expect(try listing(store) == engine)
                _ = try bale(["verify", "--deep"], store)

                // The engine's own list.
                let listed = try bale(["images"] + host + ["--source", "docker-daemon:", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"], store)
                #expect(listed.lines.sorted() == engine)

                // One by name into an OCI layout, one by ID into a store (DOCKER_HOST this time).
                let top = try #require(engine.first { $0.hasPrefix("edit/top:1 ") })
                let layout = d.appendingPathComponent("layout")
                _ = try bale(["copy"] + host + ["docker-daemon:edit/top:1", "oci:\(layout.path):top"], store)
                let fromLayout = d.appendingPathComponent("from-layout")
                _ = try bale(["copy", "oci:\(layout.path):top", "edit/top:1"], fromLayout)
                #expect(try listing(fromLayout) == [top])
                let byID = d.appendingPathComponent("by-id")
                let id = String(top.split(separator: " ")[1].dropFirst(7).prefix(12))
                let r = try Harness.bale(["copy", "docker-daemon:\(id)", "store:"], root: byID,
                                         environment: ["DOCKER_HOST": "unix://" + docker.socket])
                try #require(r.succeeded, "\(r)")
                #expect(try listing(byID).map { $0.split(separator: " ")[1] } == [top.split(separator: " ")[1]])

                // bale save from the engine equals docker save, image for image: names, IDs (so
                // diffIDs) and manifest digests (so layer bytes) once each is read back.
                let baleSaved = d.appendingPathComponent("bale-save.tar")
                _ = try bale(["save"] + host + ["-o", baleSaved.path, "docker-daemon:"], store)
                let dockerSaved = d.appendingPathComponent("docker-save.tar")
                try docker.must(["save", "-o", dockerSaved.path] + EngineImages.names)
                let a = d.appendingPathComponent("a"), b = d.appendingPathComponent("b")
                _ = try bale(["load", "-i", baleSaved.path], a)
                _ = try bale(["load", "-i", dockerSaved.path], b)
                #expect(try listing(a, digests: true) == (try listing(b, digests: true)))
                #expect(try listing(a) == engine)
                return engine
            }

            // Back into a second engine (its own data root and socket), image by image.
            try DockerDaemon.with { second in
                let host = ["--docker-host", "unix://" + second.socket]
                _ = try bale(["copy"] + host + ["gen/a:1", "docker-daemon:gen/a:1"], store)
                for name in EngineImages.names.dropFirst() {
                    _ = try bale(["copy"] + host + [name, "docker-daemon:"], store)
                }
                #expect(try EngineImages.listing(second) == engine)
                // A new name at the destination.
                _ = try bale(["copy"] + host + ["edit/top:1", "docker-daemon:renamed/top:2"], store)
                let renamed = try second.must(["images", "--no-trunc", "--format", "{{.ID}}", "renamed/top:2"]).out
                #expect(engine.contains { $0.hasPrefix("edit/top:1 ") && $0.hasSuffix(renamed.trimmingCharacters(in: .whitespacesAndNewlines)) })
            }
        }
    }

    @Test func engineErrorsAreOneLineAndChangeNothing() throws {
        try Harness.withTemporaryDirectory { d in
            let store = d.appendingPathComponent("store")
            _ = try EngineImages.sh("mkdir -p '\(d.path)/root/etc' && printf 'x' > '\(d.path)/root/etc/x'")
            _ = try bale(["import", "--platform", "windows/amd64", d.appendingPathComponent("root").path, "win:1"], store)
            _ = try bale(["import", d.appendingPathComponent("root").path, "plain:1"], store)
            let before = try listing(store)
            try DockerDaemon.with { docker in
                let host = ["--docker-host", "unix://" + docker.socket]

                // An unknown image: the engine's 404, in one line naming the location.
                let unknown = try Harness.bale(["copy"] + host + ["docker-daemon:nope:1", "store:"], root: store)
                #expect(!unknown.succeeded)
                let lines = unknown.err.split(separator: "\n")
                #expect(lines.count == 1 && lines[0].contains("docker-daemon:nope:1"), "\(unknown.err)")
                #expect(try listing(store) == before)

                // A load the engine refuses (a Windows image on Linux): its error, one line, no image.
                let refused = try Harness.bale(["copy"] + host + ["win:1", "docker-daemon:"], root: store)
                #expect(!refused.succeeded)
                let refusal = refused.err.split(separator: "\n")
                #expect(refusal.count == 1 && refusal[0].contains("docker-daemon:") && refusal[0].contains("windows"), "\(refused.err)")
                #expect(try EngineImages.listing(docker).isEmpty)

                // No engine at the socket: one line saying where it looked.
                let gone = try Harness.bale(["copy", "--docker-host", "unix:///nonexistent/docker.sock", "plain:1", "docker-daemon:"], root: store)
                #expect(!gone.succeeded && gone.err.split(separator: "\n").count == 1 && gone.err.contains("/nonexistent/docker.sock"), "\(gone.err)")
                let tcp = try Harness.bale(["copy", "--docker-host", "tcp://127.0.0.1:2375", "plain:1", "docker-daemon:"], root: store)
                #expect(!tcp.succeeded && tcp.err.contains("not a Unix socket"), "\(tcp.err)")

                // The engine still loads a good image afterwards.
                _ = try bale(["copy"] + host + ["plain:1", "docker-daemon:"], store)
                #expect(try EngineImages.listing(docker).count == 1)
            }
            #expect(try listing(store) == before)
        }
    }
}
