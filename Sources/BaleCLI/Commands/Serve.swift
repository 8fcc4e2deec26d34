import ArgumentParser
import Bale
import BaleCore
import Foundation

/// `bale serve`: a read-only registry over locations already on disk.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve images read-only over the registry HTTP API (Distribution v2, OCI 1.1).",
        discussion: """
            Serves the store (when no LOCATION is given), OCI layouts (oci:DIR), registry trees \
            (registry-tree:DIR) and docker save / OCI archives (docker-archive:FILE, oci-archive:FILE) to \
            docker pull, podman, skopeo and containerd: GET /v2/, manifests by tag and digest, blobs (with \
            Range), tags/list, _catalog (n/last pagination) and the OCI 1.1 referrers API. Several locations \
            are served at once; a repository name found in two of them is an error. docker.io names are \
            served by their short path (busybox, team/app), others with their host less its port \
            (quay.io/team/app; localhost:5000/team/app as localhost/team/app), and two names served as one \
            repository are an error. \
            What is served is read at start; the store is not locked meanwhile, so pull, load and rmi go \
            on while it is served (a blob removed since start answers 404).

            Archives are not unpacked: each is read once at start, its members checked against their \
            digests and remembered by offset, and blobs are then served from the file itself. A compressed \
            archive cannot be read by offset, so it is decompressed once to a temporary file (serve says so, \
            and how big). Manifests are served as they are kept; a client whose Accept header leaves out a \
            manifest's type gets MANIFEST_UNKNOWN rather than a conversion (which would change its digest). \
            Writes (POST, PUT, PATCH, DELETE) get 405 UNSUPPORTED.

            One access log line per request goes to stderr. SIGTERM or SIGINT stops accepting, lets requests \
            in flight finish (up to 10 seconds) and exits 0.
            """)

    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: ArgumentHelp("Address to listen on (host:port; port 0 picks a free one).", valueName: "host:port"))
    var addr = "127.0.0.1:5000"

    @Option(name: .long, help: ArgumentHelp("PEM certificate (chain) for HTTPS; needs --tls-key.", valueName: "file"))
    var tlsCert: String?

    @Option(name: .long, help: ArgumentHelp("PEM private key for HTTPS.", valueName: "file"))
    var tlsKey: String?

    @Option(name: .long, help: ArgumentHelp("Close a connection idle (no request in flight) this long: 30s, 2m, 500ms.", valueName: "duration"))
    var readTimeout = "60s"

    @Option(name: .long, help: ArgumentHelp("Most connections open at once; more are closed when accepted.", valueName: "n"))
    var maxConnections = 512

    @Argument(help: ArgumentHelp("What to serve (default: the store).", valueName: "location"))
    var locations: [String] = []

    func validate() throws {
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        if Self.seconds(readTimeout) == nil { throw ValidationError("--read-timeout: \"\(readTimeout)\" is not a duration (30s, 2m, 500ms)") }
        if maxConnections < 1 { throw ValidationError("--max-connections must be a positive number") }
        if Self.hostPort(addr) == nil { throw ValidationError("--addr: \"\(addr)\" is not host:port") }
    }

    func run() throws {
        var options = ServeOptions()
        (options.host, options.port) = Self.hostPort(addr)!
        options.readTimeout = Self.seconds(readTimeout)!
        options.maxConnections = maxConnections
        if let tlsCert, let tlsKey { options.tls = (tlsCert, tlsKey) }

        let root = global.root ?? Store.defaultRoot()
        let context = LocationContext(store: { try Store(readingAt: root) })
        let parsed = try (locations.isEmpty ? ["store:"] : locations).map { try Location(parsing: $0) }
        let content = try ServedContent(locations: parsed, context: context) { printError("bale serve: \($0)") }
        defer { content.close() }
        content.notes.forEach { printError("bale serve: warning: \($0)") }

        // Signals are taken from a dispatch source, not a handler: stopping needs locks and threads.
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        let stopping = DispatchSemaphore(value: 0)
        let sources = [SIGTERM, SIGINT].map { number in
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { stopping.signal() }
            source.resume()
            return source
        }
        let server = RegistryServer(content: content, options: options) { line in printError("\(line)") }
        let port = try server.start()
        let repositories = content.names.count
        printError("bale serve: listening on \(options.tls == nil ? "http" : "https")://\(options.host):\(port) (\(repositories) repositories)")
        stopping.wait()
        printError("bale serve: stopping")
        server.stop()
        sources.forEach { $0.cancel() }
    }

    /// `host:port`, `[v6]:port` or `:port` (all addresses).
    static func hostPort(_ text: String) -> (String, Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (0...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }

    /// `90`, `30s`, `2m`, `500ms`, `1h` in seconds.
    static func seconds(_ text: String) -> Double? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let value = Double(text.dropLast(suffix.count)), value > 0 else { return nil }
            return value * scale
        }
        guard let value = Double(text), value > 0 else { return nil }
        return value
    }
}
