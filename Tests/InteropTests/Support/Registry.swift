import Foundation
import Testing
import TestSupport

/// The real Distribution registry (Debian's `docker-registry`, 2.8) for one test, on 127.0.0.1 and a
/// free port, with its storage root, configuration and log under a temporary directory (or a storage
/// root the test gives). Stopped when the body returns. In CI a missing `docker-registry` is a failure.
///
/// What the configuration can turn on is what the registry tests need: read-only mode (a registry
/// serving a tree bale writes into), htpasswd Basic auth, token (Bearer) auth against a test token
/// server, TLS with a test CA's certificate, and pull-through proxying (a mirror).
struct Registry {
    /// `127.0.0.1:PORT`.
    let host: String
    /// The storage root (the folder that holds `docker/registry/v2`).
    let root: String
    /// The registry's log (access lines included).
    let logPath: String
    /// Serves TLS.
    var isTLS = false

    struct Options {
        /// A storage root of the test's; nil: a fresh one under the temporary directory.
        var root: String?
        /// Serve read-only (`maintenance.readonly`), as a mirror seeded from a carried tree would.
        var readOnly = false
        /// An htpasswd file (bcrypt entries) for Basic auth.
        var htpasswd: String?
        /// Token auth: the token server's realm URL, service and issuer names, and the certificate bundle
        /// whose keys sign the tokens.
        var token: (realm: String, service: String, issuer: String, rootCertBundle: String)?
        /// TLS: the server's certificate and key (PEM).
        var tls: (certificate: String, key: String)?
        /// With TLS: require a client certificate signed by one of these CA bundles (`http.tls.clientcas`).
        var clientCAs: [String] = []
        /// Pull-through cache of this upstream URL (a mirror).
        var proxyRemoteURL: String?
        /// The in-memory blob descriptor cache (`storage.cache.blobdescriptor: inmemory`), on in
        /// Debian's default configuration.
        var descriptorCache = false
        init() {}
    }

    /// Starts a registry, waits until `/v2/` answers, runs `body`, stops the registry.
    static func with<T>(_ options: Options = Options(), _ body: (Registry) throws -> T) throws -> T {
        let program = try Harness.requirePeer("docker-registry")
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("bale-registry-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let root = options.root ?? dir + "/storage"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)

        // A port the kernel just gave out and took back; a clash with another test is retried.
        for _ in 0..<5 {
            let port = try freePort()
            let host = "127.0.0.1:\(port)"
            let config = dir + "/config.yml"
            try configuration(options, root: root, host: host).write(toFile: config, atomically: true, encoding: .utf8)
            let logPath = dir + "/registry.log"
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            let logHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
            defer { try? logHandle.close() }
            let process = try BackgroundProcess(program, ["serve", config], output: logHandle)
            defer { process.stop(grace: 10) }
            let registry = Registry(host: host, root: root, logPath: logPath, isTLS: options.tls != nil)
            if try registry.waitUntilUp(process, tls: options.tls != nil, clientCertificates: !options.clientCAs.isEmpty) {
                return try body(registry)
            }
            if !registry.log.contains("address already in use") {
                throw HarnessError("docker-registry did not start:\n\(registry.log.suffix(2000))")
            }
        }
        throw HarnessError("docker-registry found no free port")
    }

    /// The registry's base URL (`http://127.0.0.1:PORT`, or https with TLS), as a mirror is configured.
    var url: String { (isTLS ? "https://" : "http://") + host }

    /// The log so far.
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// The access-log lines for requests of `method` whose path contains `pathPart`
    /// (`registry.requests("POST", "/blobs/uploads/")` counts upload starts).
    func requests(_ method: String, _ pathPart: String) -> [String] {
        log.split(separator: "\n").map(String.init).filter {
            $0.contains("\"\(method) ") && $0.contains(pathPart)
        }
    }

    private func waitUntilUp(_ process: BackgroundProcess, tls: Bool, clientCertificates: Bool) throws -> Bool {
        let curl = try Harness.requirePeer("curl")
        let url = (tls ? "https://" : "http://") + host + "/v2/"
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning && Date() < deadline {
            // Any HTTP status (401 with auth on) means the registry listens.
            let r = try Harness.run(curl, ["-s", "-k", "-o", "/dev/null", "-w", "%{http_code}", url])
            if r.succeeded, r.out != "000" { return true }
            // A registry that requires client certificates refuses curl's handshake: anything but
            // "could not connect" (7) means it listens.
            if clientCertificates, r.status != 7, !r.signalled { return true }
            usleep(100_000)
        }
        return false
    }

    private static func configuration(_ options: Options, root: String, host: String) -> String {
        var yaml = """
        version: 0.1
        log:
          level: info
          accesslog:
            disabled: false
        storage:
          filesystem:
            rootdirectory: \(root)
          delete:
            enabled: true
          cache:
            blobdescriptor: \(options.descriptorCache ? "inmemory" : "\"\"")
          maintenance:
            uploadpurging:
              enabled: false
            readonly:
              enabled: \(options.readOnly)
        http:
          addr: \(host)
          headers:
            X-Content-Type-Options: [nosniff]

        """
        if let tls = options.tls {
            yaml += """
              tls:
                certificate: \(tls.certificate)
                key: \(tls.key)

            """
            if !options.clientCAs.isEmpty {
                yaml += "    clientcas: [\(options.clientCAs.joined(separator: ", "))]\n"
            }
        }
        if let htpasswd = options.htpasswd {
            yaml += """
            auth:
              htpasswd:
                realm: bale-test
                path: \(htpasswd)

            """
        } else if let token = options.token {
            yaml += """
            auth:
              token:
                realm: \(token.realm)
                service: \(token.service)
                issuer: \(token.issuer)
                rootcertbundle: \(token.rootCertBundle)

            """
        }
        if let remote = options.proxyRemoteURL {
            yaml += """
            proxy:
              remoteurl: \(remote)

            """
        }
        return yaml
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
func freePort() throws -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw HarnessError("socket: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    guard bound else { throw HarnessError("bind: \(String(cString: strerror(errno)))") }
    return UInt16(bigEndian: address.sin_port)
}
