import AsyncHTTPClient
import BaleCore
import BaleIO
import Foundation
import NIOHTTP1

/// The few calls of the Docker Engine API that `docker-daemon:` needs, over the engine's Unix socket,
/// through the process's HTTP client (`HTTPTransport`, async-http-client's `http+unix` scheme): bodies
/// stream both ways with bounded memory, as for a registry.
///
/// ```
/// GET  /v1.41/images/json                    the engine's images: Id, RepoTags, Created, Size
/// GET  /v1.41/images/get?names=A&names=B     a `docker save` tar of A and B (one stream)
/// POST /v1.41/images/load?quiet=1            a `docker load` of the tar sent; JSON lines come back,
///                                            {"stream":"Loaded image: …"} or {"errorDetail":{…},"error":…}
/// any error status                           {"message":"…"}
/// ```
///
/// API 1.41 is Docker 20.10's; newer engines serve older API versions unchanged.
struct DockerEngine: Sendable {
    /// The socket's path.
    let socket: String
    /// The location, for messages (`docker-daemon:app:1`).
    let location: String

    static let apiVersion = "v1.41"
    static let defaultHost = "unix:///var/run/docker.sock"

    /// The engine at `host` (`unix:///PATH`), else `$DOCKER_HOST`, else the default socket. Only Unix
    /// sockets: a `tcp://` engine is refused with a message (it would need Docker's TLS settings).
    init(host: String?, location: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let chosen = host ?? environment["DOCKER_HOST"].flatMap { $0.isEmpty ? nil : $0 } ?? Self.defaultHost
        guard chosen.hasPrefix("unix://"), chosen.count > "unix://".count else {
            throw BaleError(.unsupported, "\(location): the Docker host \(chosen) is not a Unix socket; docker-daemon: reaches an engine only through unix:///PATH (--docker-host or DOCKER_HOST)")
        }
        socket = String(chosen.dropFirst("unix://".count))
        self.location = location
    }

    /// One image as `GET /images/json` lists it.
    struct ListedImage: Decodable, Sendable {
        let Id: String
        let RepoTags: [String]?
        let Created: Int64
        let Size: Int64
    }

    /// The engine's images.
    func images() throws -> [ListedImage] {
        let response = try send(.GET, "/images/json")
        let body = try read(response, limit: 64 << 20)
        return try JSON.decode([ListedImage].self, from: body, what: "\(location): the engine's image list")
    }

    /// Starts `docker save` of `names` (tags, names or IDs); the response body is the tar.
    func save(_ names: [String]) throws -> HTTPResponse {
        var query = URLComponents()
        query.queryItems = names.map { URLQueryItem(name: "names", value: $0) }
        return try send(.GET, "/images/get?" + (query.percentEncodedQuery ?? ""))
    }

    /// Sends `body` (a docker-archive stream) to `docker load` and waits for the engine to finish it;
    /// the engine's error, from the status or from the load's JSON lines, is thrown in one line.
    func load(_ body: any BlobReader) throws {
        let response = try send(.POST, "/images/load?quiet=1", body: body,
                                headers: ["Content-Type": "application/x-tar"])
        let text = try read(response, limit: 16 << 20)
        // One JSON object per line (a message of the load, or its error).
        struct Line: Decodable {
            struct Detail: Decodable { let message: String? }
            let error: String?
            let errorDetail: Detail?
        }
        for line in text.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
            guard let parsed = try? JSONDecoder().decode(Line.self, from: Data(line)) else { continue }
            if let message = parsed.errorDetail?.message ?? parsed.error {
                throw BaleError(.invalidInput, "\(location): the engine refused the load: \(Self.oneLine(message))")
            }
        }
    }

    // MARK: HTTP

    /// Starts a request on the socket and returns once the response head is in; an error status is
    /// thrown with the engine's `message`.
    private func send(_ method: HTTPMethod, _ path: String, body: (any BlobReader)? = nil,
                      headers: [String: String] = [:]) throws -> HTTPResponse {
        // Checked first: the HTTP client would retry a socket that is not there until its connect
        // timeout, and say less.
        var st = stat()
        guard stat(socket, &st) == 0, (st.st_mode & S_IFMT) == S_IFSOCK else {
            throw BaleError(.notFound, "\(location): no Docker engine socket at \(socket) (is the engine running? --docker-host or DOCKER_HOST name another)")
        }
        guard access(socket, R_OK | W_OK) == 0 else {
            throw BaleError(.usage, "\(location): no permission to use the Docker engine socket \(socket) (root or the docker group may)")
        }
        guard let url = URL(httpURLWithSocketPath: socket, uri: "/\(Self.apiVersion)\(path)") else {
            throw BaleError(.usage, "\(location): the socket path \(socket) cannot be used")
        }
        var request = try HTTPClient.Request(url: url, method: method)
        // The engine requires a Host header; over a socket any name does (the docker CLI sends this one).
        request.headers.replaceOrAdd(name: "Host", value: "docker")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response: HTTPResponse
        do {
            response = try HTTPTransport.send(request, body: body)
        } catch let error as BaleError {
            throw error
        } catch {
            throw BaleError(.io, "\(location): cannot talk to the Docker engine at unix://\(socket): \(error) (is it running, and may this user use its socket?)", cause: error)
        }
        guard (200..<300).contains(response.status) else {
            // An answer that came before the request body was all sent cannot be read to its end (the
            // exchange is not over until the body is): the status alone then. The engine reads a whole
            // load before it answers, and reports a refused load in the answer's stream (`load`).
            guard body == nil else {
                response.discard()
                throw BaleError(.invalidInput, "\(location): the engine answered \(response.status) before it took the archive")
            }
            let data = (try? response.body(limit: 1 << 20)) ?? Data()
            struct Message: Decodable { let message: String }
            let message = (try? JSONDecoder().decode(Message.self, from: data).message)
                ?? String(decoding: data.prefix(500), as: UTF8.self)
            let code: BaleError.Code = response.status == 404 ? .notFound : .invalidInput
            throw BaleError(code, "\(location): the engine answered \(response.status): \(Self.oneLine(message))")
        }
        return response
    }

    private func read(_ response: HTTPResponse, limit: Int) throws -> Data {
        do { return try response.body(limit: limit) } catch let error as BaleError { throw error } catch {
            throw BaleError(.io, "\(location): the engine's answer broke off: \(error)", cause: error)
        }
    }

    /// A message of the engine on one line.
    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.joined(separator: "; ")
    }
}

/// A response body as a `ByteSource` (what `TarReader` reads).
struct ResponseBodySource: ByteSource {
    let response: HTTPResponse
    let location: String
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        do { return try response.read(into: buffer) } catch let error as BaleError { throw error } catch {
            throw BaleError(.io, "\(location): the engine's stream broke off: \(error)", cause: error)
        }
    }
}
