import Foundation
import Testing
import TestSupport

/// `bale serve` against the real clients: docker (the private dockerd; 127.0.0.1 registries are insecure
/// by default), skopeo, podman and containerd's ctr pull from it over plain HTTP on 127.0.0.1, and get
/// the IDs and manifest digests the locations hold. Also: writes refused, Range, SIGTERM draining, a
/// client leaving mid-blob, and two locations naming one repository.
@Suite(.serialized) struct ServeInteropTests {
    /// One generated image (`app:1`, OCI types, two ~1 MiB incompressible layers) put, under a different
    /// name each, into every kind of location serve reads.
    struct Fixture {
        let directory: URL
        let layout: URL
        let store: URL
        /// Location arguments for `bale serve`, and the repository each serves.
        let locations: [(location: String, repository: String)]
        /// The image ID (config digest) and manifest digest every copy has.
        let id: String
        let digest: String
        /// The first layer's digest and bytes.
        let layer: (digest: String, bytes: Data)
    }

    static func withFixture<T>(_ body: (Fixture) throws -> T) throws -> T {
        try Harness.withTemporaryDirectory { directory in
            let layout = try Harness.makeLayout(in: directory, images: ["app:1=layers=2,files=2,size=524288"])
            let store = directory.appendingPathComponent("store")
            let source = "oci:\(layout.path):app:1"
            try mustBale(["copy", source, "fromstore:1"], root: store)
            let layout2 = directory.appendingPathComponent("layout2").path
            try mustBale(["copy", source, "oci:\(layout2):fromlayout:1"])
            let tree = directory.appendingPathComponent("tree").path
            try mustBale(["copy", source, "registry-tree:\(tree):fromtree:1"])
            let archive = directory.appendingPathComponent("plain.tar").path
            try mustBale(["copy", source, "docker-archive:\(archive):fromarchive:1"])
            let gz = directory.appendingPathComponent("packed.tar").path
            try mustBale(["copy", source, "docker-archive:\(gz):fromgz:1"])
            let zipped = try Harness.peer("gzip", [gz])
            guard zipped.succeeded else { throw HarnessError("gzip: \(zipped)") }

            let index = try json(layout.appendingPathComponent("index.json"))
            let manifestDigest = ((index["manifests"] as? [[String: Any]])?.first?["digest"] as? String) ?? ""
            let manifest = try json(blob(layout, manifestDigest))
            let config = (manifest["config"] as? [String: Any])?["digest"] as? String ?? ""
            let layerDigest = ((manifest["layers"] as? [[String: Any]])?.first?["digest"] as? String) ?? ""
            let layerBytes = try Data(contentsOf: blob(layout, layerDigest))
            return try body(Fixture(
                directory: directory, layout: layout, store: store,
                locations: [("store:", "fromstore"), ("oci:\(layout2)", "fromlayout"), ("registry-tree:\(tree)", "fromtree"),
                            ("docker-archive:\(archive)", "fromarchive"), ("docker-archive:\(gz).gz", "fromgz")],
                id: config, digest: manifestDigest, layer: (layerDigest, layerBytes)))
        }
    }

    static func blob(_ layout: URL, _ digest: String) -> URL {
        layout.appendingPathComponent("blobs/sha256/" + digest.dropFirst("sha256:".count))
    }

    static func json(_ url: URL) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any] ?? [:]
    }

    @discardableResult
    static func mustBale(_ arguments: [String], root: URL? = nil) throws -> RunResult {
        let r = try Harness.bale(arguments, root: root)
        guard r.succeeded else { throw HarnessError("bale failed: \(r)") }
        return r
    }

    static func sha256(_ data: Data) throws -> String {
        let r = try Harness.peer("sha256sum", [], stdin: data)
        return "sha256:" + (r.out.split(separator: " ").first.map(String.init) ?? "")
    }

    /// curl with `arguments`; its stdout is the body (or `-w` output).
    static func curl(_ arguments: [String]) throws -> RunResult {
        try Harness.peer("curl", ["-sS"] + arguments)
    }

    // MARK: Pulls

    @Test func everyKindOfLocationPullsWithDockerAndSkopeo() throws {
        try Self.withFixture { f in
            try BaleServer.with(f.locations.map(\.location), root: f.store, directory: f.directory) { server in
                let catalog = try Self.curl(["http://\(server.host)/v2/_catalog"])
                #expect(catalog.out.contains("\"repositories\":[\"fromarchive\",\"fromgz\",\"fromlayout\",\"fromstore\",\"fromtree\"]"),
                        "\(catalog)")
                #expect(server.log.contains("decompressing it once"), "\(server.log)")

                for (_, repository) in f.locations {
                    let reference = "\(server.host)/\(repository):1"
                    let raw = try Harness.peer("skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(reference)"])
                    #expect(raw.succeeded, "\(raw)")
                    let out = f.directory.appendingPathComponent("skopeo-\(repository)")
                    let copy = try Harness.peer("skopeo", ["copy", "--src-tls-verify=false", "docker://\(reference)", "oci:\(out.path):x"])
                    #expect(copy.succeeded, "\(copy)")
                    let copied = try Self.json(out.appendingPathComponent("index.json"))
                    let copiedDigest = (copied["manifests"] as? [[String: Any]])?.first?["digest"] as? String
                    // The same image: bale made every location from one OCI manifest, kept as it was.
                    #expect(copiedDigest == f.digest, "\(repository): skopeo got \(copiedDigest ?? "nil")")
                }

                try DockerDaemon.with { docker in
                    for (_, repository) in f.locations {
                        let reference = "\(server.host)/\(repository):1"
                        try docker.must(["pull", reference])
                        let id = try docker.must(["image", "inspect", "--format", "{{.Id}}", reference]).out
                            .trimmingCharacters(in: .whitespacesAndNewlines)
                        #expect(id == f.id, "\(repository)")
                        let digests = try docker.must(["image", "inspect", "--format", "{{json .RepoDigests}}", reference]).out
                        #expect(digests.contains("\(server.host)/\(repository)@\(f.digest)"), "\(repository): \(digests)")
                    }
                    // By digest too.
                    try docker.must(["pull", "\(server.host)/fromtree@\(f.digest)"])

                    // A real `docker save` (Docker 20.10: the legacy form, no manifest of its own): served
                    // with a manifest bale synthesises, pulled back with the same image ID.
                    try docker.must(["tag", "\(server.host)/fromstore:1", "realsave:1"])
                    let saved = f.directory.appendingPathComponent("real.tar")
                    try docker.must(["save", "-o", saved.path, "realsave:1"])
                    try BaleServer.with(["docker-archive:\(saved.path)"], root: nil, directory: f.directory) { second in
                        try docker.must(["rmi", "realsave:1"])
                        try docker.must(["pull", "\(second.host)/realsave:1"])
                        let id = try docker.must(["image", "inspect", "--format", "{{.Id}}", "\(second.host)/realsave:1"]).out
                            .trimmingCharacters(in: .whitespacesAndNewlines)
                        #expect(id == f.id)
                        let copy = try Harness.peer("skopeo", ["copy", "--src-tls-verify=false", "docker://\(second.host)/realsave:1",
                                                               "oci:\(f.directory.path)/real-out:x"])
                        #expect(copy.succeeded, "\(copy)")
                    }
                }
            }
        }
    }

    /// An image named for a registry with a port (`localhost:5000/team/app`, as saved from a private
    /// registry) is served under its host less the port: `_catalog` lists only names a client can ask
    /// for, and docker and skopeo pull it by them with its ID and manifest digest.
    @Test func aNameWithARegistryPortIsServedUnderItsHost() throws {
        try Harness.withTemporaryDirectory { directory in
            let name = "localhost:5000/team/app:1"
            let layout = try Harness.makeLayout(in: directory, images: ["\(name)=layers=1"])
            let image = try LayoutReader.image(name, in: layout)
            let store = directory.appendingPathComponent("store")
            try Self.mustBale(["copy", "oci:\(layout.path):\(name)", name], root: store)
            try Self.mustBale(["tag", name, "localhost:5000/team/app:latest"], root: store)
            let archive = directory.appendingPathComponent("saved.tar").path
            try Self.mustBale(["save", "-o", archive, name, "localhost:5000/team/app:latest"], root: store)
            try BaleServer.with(["docker-archive:\(archive)"], root: nil, directory: directory) { server in
                let catalog = try Self.curl(["http://\(server.host)/v2/_catalog"])
                #expect(catalog.out == #"{"repositories":["localhost/team/app"]}"#, "\(catalog)")
                let tags = try Self.curl(["http://\(server.host)/v2/localhost/team/app/tags/list"])
                #expect(tags.out == #"{"name":"localhost/team/app","tags":["1","latest"]}"#, "\(tags)")
                let served = "\(server.host)/localhost/team/app"
                let inspect = try Harness.peer("skopeo", ["inspect", "--tls-verify=false", "--format", "{{.Digest}}", "docker://\(served):1"])
                #expect(inspect.out.trimmingCharacters(in: .whitespacesAndNewlines) == image.manifestDigest, "\(inspect)")
                try DockerDaemon.with { docker in
                    try docker.must(["pull", served])
                    let id = try docker.must(["image", "inspect", "--format", "{{.Id}}", served]).out
                    #expect(id.trimmingCharacters(in: .whitespacesAndNewlines) == image.configDigest)
                }
            }
        }
    }

    @Test func podmanAndContainerdPull() throws {
        let podman = try Harness.requirePeer("podman")
        let containerd = try Harness.requirePeer("containerd")
        let ctr = try Harness.requirePeer("ctr")
        try Self.withFixture { f in
            try BaleServer.with([f.locations[0].location, f.locations[3].location], root: f.store, directory: f.directory) { server in
                // podman, with storage of its own (a short path: podman refuses a runroot over 50 bytes).
                let root = "/tmp/bale-pm-\(UInt32.random(in: 0...UInt32.max))"
                defer { try? FileManager.default.removeItem(atPath: root) }
                let base = ["--root", root + "/root", "--runroot", root + "/run", "--storage-driver", "vfs",
                            "--events-backend", "file", "--cgroup-manager", "cgroupfs"]
                for repository in ["fromstore", "fromarchive"] {
                    let reference = "\(server.host)/\(repository):1"
                    let pull = try Harness.run(podman, base + ["pull", "--tls-verify=false", reference])
                    #expect(pull.succeeded, "\(pull)")
                    let id = try Harness.run(podman, base + ["image", "inspect", "--format", "{{.Id}}", reference])
                    #expect("sha256:" + id.out.trimmingCharacters(in: .whitespacesAndNewlines) == f.id, "\(id)")
                    let digest = try Harness.run(podman, base + ["image", "inspect", "--format", "{{.Digest}}", reference])
                    #expect(digest.out.trimmingCharacters(in: .whitespacesAndNewlines) == f.digest, "\(digest)")
                }
                // containerd, private: its own root, state and socket.
                let dir = "/tmp/bale-ctrd-\(UInt32.random(in: 0...UInt32.max))"
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(atPath: dir) }
                let socket = dir + "/c.sock"
                let logHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: {
                    _ = FileManager.default.createFile(atPath: dir + "/log", contents: nil); return dir + "/log" }()))
                let daemon = try BackgroundProcess(containerd, ["--root", dir + "/root", "--state", dir + "/state",
                                                                "--address", socket], output: logHandle)
                defer { daemon.stop(grace: 10) }
                let deadline = Date().addingTimeInterval(30)
                while !FileManager.default.fileExists(atPath: socket), Date() < deadline { usleep(100_000) }
                for repository in ["fromstore", "fromarchive"] {
                    let reference = "\(server.host)/\(repository):1"
                    let pull = try Harness.run(ctr, ["-a", socket, "image", "pull", "--plain-http", reference])
                    #expect(pull.succeeded, "\(pull)")
                    let list = try Harness.run(ctr, ["-a", socket, "image", "ls"])
                    let line = list.lines.first { $0.hasPrefix(reference + " ") } ?? ""
                    #expect(line.contains(f.digest), "\(list)")
                }
            }
        }
    }

    // MARK: The protocol's edges

    @Test func writesAreRefusedAndRangesHonoured() throws {
        try Self.withFixture { f in
            try BaleServer.with([f.locations[3].location, f.locations[0].location], root: f.store, directory: f.directory) { server in
                let base = "http://\(server.host)/v2/fromarchive"
                let put = try Self.curl(["-X", "PUT", "-H", "Content-Type: application/vnd.oci.image.manifest.v1+json",
                                         "--data-binary", "{}", "-w", "\n%{http_code}", "\(base)/manifests/2"])
                #expect(put.out.hasSuffix("405"), "\(put)")
                #expect(put.out.contains("\"code\":\"UNSUPPORTED\""), "\(put)")
                let push = try Harness.peer("skopeo", ["copy", "--dest-tls-verify=false", "oci:\(f.layout.path):app:1",
                                                       "docker://\(server.host)/pushed:1"])
                #expect(!push.succeeded)
                #expect((push.out + push.err).contains("405") || (push.out + push.err).lowercased().contains("unsupported"), "\(push)")

                // Ranges, from an archive (served by offset) and from the store (a blob file).
                for repository in ["fromarchive", "fromstore"] {
                    let url = "http://\(server.host)/v2/\(repository)/blobs/\(f.layer.digest)"
                    let out = f.directory.appendingPathComponent("range-\(repository)")
                    let ranged = try Self.curl(["-r", "1000-200999", "-o", out.path, "-w", "%{http_code}", url])
                    #expect(ranged.out == "206", "\(ranged)")
                    #expect(try Data(contentsOf: out) == f.layer.bytes.subdata(in: 1000 ..< 201_000))
                    let tail = try Self.curl(["-r", "-100", "-o", out.path, "-w", "%{http_code}", url])
                    #expect(tail.out == "206")
                    #expect(try Data(contentsOf: out) == f.layer.bytes.suffix(100))
                    let whole = try Self.curl(["-o", out.path, "-w", "%{http_code}", url])
                    #expect(whole.out == "200")
                    #expect(try Data(contentsOf: out) == f.layer.bytes)
                    let bad = try Self.curl(["-r", "\(f.layer.bytes.count + 10)-", "-o", "/dev/null", "-w", "%{http_code}", url])
                    #expect(bad.out == "416", "\(bad)")
                }
                let unknown = try Self.curl(["-w", "\n%{http_code}", "http://\(server.host)/v2/nothere/tags/list"])
                #expect(unknown.out.contains("NAME_UNKNOWN") && unknown.out.hasSuffix("404"), "\(unknown)")
                // An old client that accepts only Docker types gets no OCI manifest converted for it.
                let docker = try Self.curl(["-H", "Accept: application/vnd.docker.distribution.manifest.v2+json",
                                            "-w", "\n%{http_code}", "\(base)/manifests/1"])
                #expect(docker.out.contains("MANIFEST_UNKNOWN") && docker.out.hasSuffix("404"), "\(docker)")
                #expect(server.log.contains("PUT /v2/fromarchive/manifests/2 405"), "\(server.log)")
            }
        }
    }

    @Test func theStoreStaysWritableWhileServed() throws {
        try Self.withFixture { f in
            try BaleServer.with(["store:"], root: f.store, directory: f.directory) { server in
                // Writers of the store do not wait for the server (it holds no lock once started).
                let start = Date()
                let copy = try ProcessRunner.bale(["--root", f.store.path, "copy", "oci:\(f.layout.path):app:1", "second:1"], timeout: 60)
                #expect(copy.succeeded, "\(copy)")
                let rmi = try ProcessRunner.bale(["--root", f.store.path, "rmi", "fromstore:1", "second:1"], timeout: 60)
                #expect(rmi.succeeded, "\(rmi)")
                let prune = try ProcessRunner.bale(["--root", f.store.path, "prune"], timeout: 60)
                #expect(prune.succeeded, "\(prune)")
                #expect(Date().timeIntervalSince(start) < 50)
                // A blob removed since start is unknown to the server, as after a registry's GC.
                let gone = try Self.curl(["-w", "\n%{http_code}", "http://\(server.host)/v2/fromstore/blobs/\(f.layer.digest)"])
                #expect(gone.out.contains("BLOB_UNKNOWN") && gone.out.hasSuffix("404"), "\(gone)")
            }
        }
    }

    @Test func sigtermLetsTheRequestInFlightFinish() throws {
        try Self.withFixture { f in
            let server = try BaleServer.start([f.locations[3].location], root: nil, directory: f.directory)
            let out = f.directory.appendingPathComponent("slow")
            let curl = try Harness.requirePeer("curl")
            let slow = try BackgroundProcess(curl, ["-sS", "--limit-rate", "400k", "-o", out.path,
                                                    "http://\(server.host)/v2/fromarchive/blobs/\(f.layer.digest)"])
            usleep(700_000)
            server.process.signal(SIGTERM)
            #expect(server.process.wait(timeout: 30), "bale serve did not stop")
            #expect(server.process.terminationStatus == 0, "\(server.log)")
            #expect(slow.wait(timeout: 30))
            #expect(slow.terminationStatus == 0)
            #expect(try Data(contentsOf: out) == f.layer.bytes)
        }
    }

    @Test func aClientLeavingMidBlobDisturbsNoOther() throws {
        try Self.withFixture { f in
            try BaleServer.with([f.locations[3].location], root: nil, directory: f.directory) { server in
                let url = "http://\(server.host)/v2/fromarchive/blobs/\(f.layer.digest)"
                let curl = try Harness.requirePeer("curl")
                let leaving = try BackgroundProcess(curl, ["-sS", "--limit-rate", "100k", "-o", "/dev/null", url])
                let out = f.directory.appendingPathComponent("steady")
                let steady = try BackgroundProcess(curl, ["-sS", "--limit-rate", "2M", "-o", out.path, url])
                usleep(300_000)
                leaving.kill(SIGKILL)
                #expect(steady.wait(timeout: 30))
                #expect(steady.terminationStatus == 0)
                #expect(try Data(contentsOf: out) == f.layer.bytes)
                let again = try Self.curl(["-o", "/dev/null", "-w", "%{http_code}", url])
                #expect(again.out == "200")
            }
        }
    }

    /// HTTPS with --tls-cert/--tls-key (blobs then go in chunks, not sendfile), and --read-timeout
    /// closing a connection that sends nothing.
    @Test func tlsAndReadTimeout() throws {
        try Self.withFixture { f in
            let certs = f.directory.appendingPathComponent("certs")
            try FileManager.default.createDirectory(at: certs, withIntermediateDirectories: true)
            let made = try Harness.peer("openssl", [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                "-addext", "subjectAltName=IP:127.0.0.1",
                "-keyout", certs.appendingPathComponent("key.pem").path, "-out", certs.appendingPathComponent("ca.crt").path,
            ])
            guard made.succeeded else { throw HarnessError("openssl: \(made)") }
            let options = ["--tls-cert", certs.appendingPathComponent("ca.crt").path,
                           "--tls-key", certs.appendingPathComponent("key.pem").path, "--read-timeout", "1s"]
            try BaleServer.with(options + [f.locations[3].location], root: nil, directory: f.directory) { server in
                let out = f.directory.appendingPathComponent("tls-out")
                let copy = try Harness.peer("skopeo", ["copy", "--src-cert-dir", certs.path, "docker://\(server.host)/fromarchive:1",
                                                       "oci:\(out.path):x"])
                #expect(copy.succeeded, "\(copy)")
                let index = try Self.json(out.appendingPathComponent("index.json"))
                #expect((index["manifests"] as? [[String: Any]])?.first?["digest"] as? String == f.digest)
                let blob = try Harness.peer("curl", ["-sS", "--cacert", certs.appendingPathComponent("ca.crt").path, "-r", "5-",
                                                     "https://\(server.host)/v2/fromarchive/blobs/\(f.layer.digest)"])
                #expect(blob.stdout == f.layer.bytes.dropFirst(5))

                // A connection that sends nothing is closed after about a second.
                let script = """
                import socket, sys, time
                s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
                s.settimeout(10)
                start = time.time()
                data = s.recv(1)
                print("closed" if data == b"" else "data", round(time.time() - start, 1))
                """
                let port = String(server.host.split(separator: ":").last ?? "")
                let idle = try Harness.peer("python3", ["-c", script, port])
                #expect(idle.out.hasPrefix("closed"), "\(idle)")
            }
        }
    }

    /// --max-connections: with one connection held open, the next is closed unanswered; once it
    /// goes, requests are answered again.
    @Test func maxConnectionsClosesTheExtraOnes() throws {
        try Self.withFixture { f in
            try BaleServer.with(["--max-connections", "1", f.locations[3].location], root: nil, directory: f.directory) { server in
                let port = String(server.host.split(separator: ":").last ?? "")
                let script = """
                import socket, sys, time, urllib.request
                held = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
                time.sleep(0.3)
                try:
                    urllib.request.urlopen("http://127.0.0.1:%s/v2/" % sys.argv[1], timeout=10).read()
                    print("answered while full")
                except Exception as e:
                    print("refused while full")
                held.close()
                time.sleep(0.3)
                print(urllib.request.urlopen("http://127.0.0.1:%s/v2/" % sys.argv[1], timeout=10).status)
                """
                let r = try Harness.peer("python3", ["-c", script, port])
                #expect(r.lines == ["refused while full", "200"], "\(r)")
            }
        }
    }

    @Test func oneNameInTwoLocationsIsAnErrorAtStart() throws {
        try Self.withFixture { f in
            let r = try Harness.bale(["serve", "--addr", "127.0.0.1:0", f.locations[3].location, f.locations[3].location])
            #expect(!r.succeeded)
            #expect(r.err.contains("repository \"fromarchive\" is in both"), "\(r)")
        }
    }
}

/// `bale serve` as a background process on a free port of 127.0.0.1, its stderr in a file.
final class BaleServer {
    let host: String
    let process: BackgroundProcess
    private let logPath: String

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    private init(host: String, process: BackgroundProcess, logPath: String) {
        self.host = host
        self.process = process
        self.logPath = logPath
    }

    /// Starts serving `locations` and waits until it listens.
    static func start(_ locations: [String], root: URL?, directory: URL) throws -> BaleServer {
        let port = try freePort()
        let logPath = directory.appendingPathComponent("serve-\(port).log").path
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        let prefix = root.map { ["--root", $0.path] } ?? []
        let process = try BackgroundProcess(try Harness.baleBinary(),
                                            prefix + ["serve", "--addr", "127.0.0.1:\(port)"] + locations, output: handle)
        let server = BaleServer(host: "127.0.0.1:\(port)", process: process, logPath: logPath)
        let deadline = Date().addingTimeInterval(120)
        while !server.log.contains("listening on") {
            guard process.isRunning, Date() < deadline else {
                process.stop(grace: 5)
                throw HarnessError("bale serve did not start:\n\(server.log)")
            }
            usleep(100_000)
        }
        return server
    }

    static func with<T>(_ locations: [String], root: URL?, directory: URL, _ body: (BaleServer) throws -> T) throws -> T {
        let server = try start(locations, root: root, directory: directory)
        defer { server.process.stop(grace: 20) }
        return try body(server)
    }
}
