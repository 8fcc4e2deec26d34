import AsyncHTTPClient
import BaleCore
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// The registry HTTP API v2 (the Distribution spec and the OCI distribution spec; FORMATS.md section 9)
/// for one repository of one registry, used synchronously from worker threads.
///
/// - Connection: TLS by default, with the system roots plus `certs.d/HOST[:PORT]/*.crt`, and
///   `client.cert` + `client.key` as a client certificate. For localhost, 127.0.0.0/8 and ::1, and for
///   every host with `insecure`, plain HTTP is tried first and kept when the server answers in it (a TLS
///   server refuses a plain request); otherwise TLS, so an untrusted certificate is never bypassed. `insecure` also skips TLS verification.
/// - Auth: a request answered 401 is authenticated from its `WWW-Authenticate` challenge (Basic with
///   the login, or Bearer: a token for this repository's scope from the token server, anonymously or
///   with the login or identity token; cached per scope until it expires) and sent again once. A 401
///   with a fresh token is "authentication required"; 403 is "denied".
/// - Faults: 5xx, 429 (its `Retry-After` honoured) and transport errors are retried with exponential
///   backoff (bodyless requests whole; blobs resume with `Range`; a cut upload is `PutInterrupted`,
///   and the copier sends the blob again from its source in a new session).
/// - Every error is one line naming `docker://HOST/REPOSITORY` and what was asked.
public final class RegistryClient: @unchecked Sendable {
    // @unchecked Sendable: `authorization` is guarded by `lock`; everything else is immutable.

    /// The registry as a reference names it (`127.0.0.1:5000`, `docker.io`).
    public let host: String
    /// The repository path (`library/alpine`); empty for registry-wide calls (catalog, login check).
    public let repository: String
    /// `docker://HOST/REPOSITORY`, for messages.
    public var display: String { repository.isEmpty ? "docker://\(host)" : "docker://\(host)/\(repository)" }

    let options: RegistryOptions
    private let credential: RegistryCredential?
    /// Scopes asked of a token server (`repository:NAME:pull,push`, `registry:catalog:*`).
    private let scopes: [String]
    private let base: URL
    private let tls: TLSConfiguration
    private let lock = NSLock()
    private var authorization: String?

    /// Attempts of one request (or, for a blob, without progress) before the error is reported.
    static let maxAttempts = 6

    /// Opens `repository` on `host`; `push` asks for push rights too. `mirror`: a base URL to use
    /// instead of the host's own (`https://mirror.local:5000`), whose scheme is used as given. Pings
    /// the registry (`GET /v2/`) to settle the scheme.
    public init(host: String, repository: String, options: RegistryOptions, push: Bool = false,
                mirror: String? = nil, credential: RegistryCredential? = nil, scopes: [String]? = nil) throws {
        self.host = host
        self.repository = repository
        self.options = options
        self.credential = try credential ?? options.credentials.credential(for: host)
        self.scopes = scopes ?? (repository.isEmpty ? [] : ["repository:\(repository):\(push ? "pull,push" : "pull")"])
        let certificateHost = mirror.flatMap { URL(string: $0) }.map { url in
            url.port.map { "\(url.host ?? ""):\($0)" } ?? (url.host ?? "")
        } ?? host
        tls = try Self.tlsConfiguration(for: certificateHost, options: options)
        if let mirror {
            guard let url = URL(string: mirror.hasSuffix("/") ? String(mirror.dropLast()) : mirror),
                  url.scheme == "http" || url.scheme == "https" else {
                throw BaleError(.usage, "registry mirror \(mirror): not an http:// or https:// URL")
            }
            base = url
        } else {
            base = try Self.resolveBase(host: host, options: options, tls: tls)
        }
    }

    // MARK: Connection

    /// The API host of a registry name: Docker Hub's is not `docker.io` (normalize.go).
    static func apiHost(_ host: String) -> String { host == "docker.io" ? "registry-1.docker.io" : host }

    /// Whether plain HTTP is allowed without `--insecure`: localhost, 127.0.0.0/8, ::1 (as docker).
    static func isLoopback(_ host: String) -> Bool {
        var name = host
        if name.hasPrefix("["), let end = name.firstIndex(of: "]") {
            name = String(name[name.index(after: name.startIndex)..<end])
        } else if name.filter({ $0 == ":" }).count == 1, let colon = name.lastIndex(of: ":") {
            name = String(name[..<colon])
        }
        if name == "localhost" || name == "::1" { return true }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    /// The system roots plus the CAs and client certificate in `certs.d/HOST[:PORT]/`.
    static func tlsConfiguration(for host: String, options: RegistryOptions) throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        if options.insecure { tls.certificateVerification = .none }
        let dir = options.certificatesDirectory + "/" + host
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
        for file in files where file.hasSuffix(".crt") {
            tls.additionalTrustRoots.append(.file(dir + "/" + file))
        }
        if files.contains("client.cert") {
            guard files.contains("client.key") else {
                throw BaleError(.invalidInput, "\(dir): client.cert without client.key")
            }
            do {
                tls.certificateChain = try NIOSSLCertificate.fromPEMFile(dir + "/client.cert").map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: dir + "/client.key", format: .pem))
            } catch {
                throw BaleError(.invalidInput, "\(dir): the client certificate cannot be read: \(error)")
            }
        }
        return tls
    }

    private static let schemes = SchemeCache()

    /// https, or http where allowed and the server does not speak TLS; settled once per host.
    private static func resolveBase(host: String, options: RegistryOptions, tls: TLSConfiguration) throws -> URL {
        let key = "\(host) \(options.insecure) \(options.certificatesDirectory)"
        if let known = schemes.get(key) { return known }
        let apiHost = apiHost(host)
        guard let https = URL(string: "https://\(apiHost)"), let http = URL(string: "http://\(apiHost)") else {
            throw BaleError(.invalidReference, "docker://\(host): not a registry host")
        }
        // Where plain HTTP is allowed, it is asked first: a TLS attempt at a plain-text server is not
        // answered with an error the pool gives up on at once, but retried until the connect timeout
        // (20 s a command, measured). A TLS server answers plain HTTP with a 400 that says so (Go's
        // net/http, which the Distribution registry uses) or drops it; then HTTPS, verified unless
        // --insecure, so a TLS registry on 127.0.0.1 with an untrusted CA is still refused.
        if isLoopback(host) || options.insecure, speaksPlainHTTP(http, tls: tls) {
            schemes.set(key, http)
            return http
        }
        do {
            try ping(https, tls: tls)
        } catch {
            // A registry that requires a client certificate ends the TLS session when none comes, and
            // the client sees only a closed connection: say what is likely missing.
            var text = describe(error)
            if tls.certificateChain.isEmpty, let closed = error as? HTTPClientError, closed == .remoteConnectionClosed {
                text += " during TLS setup (a registry that requires a client certificate does this: put client.cert and client.key in \(options.certificatesDirectory)/\(host)/)"
            }
            throw BaleError(.io, "docker://\(host): \(text)")
        }
        schemes.set(key, https)
        return https
    }

    /// Whether the server answers `GET /v2/` in plain HTTP as a registry, not with the 400 a TLS server
    /// gives a plain-text request.
    private static func speaksPlainHTTP(_ base: URL, tls: TLSConfiguration) -> Bool {
        guard let request = try? HTTPClient.Request(url: base.absoluteString + "/v2/", method: .GET, tlsConfiguration: tls),
              let response = try? HTTPTransport.send(request) else { return false }
        defer { response.discard() }
        guard response.status == 400 else { return true }
        let body = (try? response.body(limit: 4096)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return !body.contains("HTTPS server")
    }

    /// `GET /v2/`: any answer of the registry (200, 401) means it is there.
    private static func ping(_ base: URL, tls: TLSConfiguration) throws {
        let request = try HTTPClient.Request(url: base.absoluteString + "/v2/", method: .GET, tlsConfiguration: tls)
        let response = try HTTPTransport.send(request)
        response.discard()
    }

    /// A transport error in words (NIO's are type dumps).
    static func describe(_ error: any Error) -> String {
        if let error = error as? BaleError { return error.message }
        let text = String(describing: error)
        if text.contains("CERTIFICATE_VERIFY_FAILED") || text.contains("certificate") && text.contains("verif") {
            return "the server's TLS certificate is not trusted (put its CA in certs.d/HOST:PORT/ca.crt, or use --insecure): \(text)"
        }
        if let error = error as? HTTPClientError {
            switch error {
            case .redirectCycleDetected: return "redirect loop"
            case .redirectLimitReached: return "too many redirects"
            case .remoteConnectionClosed: return "the connection was closed"
            case .readTimeout: return "read timed out"
            case .connectTimeout: return "connect timed out"
            default: break
            }
        }
        return text
    }

    // MARK: Requests

    /// `/v2/REPOSITORY/SUFFIX` on this registry.
    func url(_ suffix: String) throws -> URL {
        let path = repository.isEmpty ? "/v2/\(suffix)" : "/v2/\(repository)/\(suffix)"
        guard let url = URL(string: base.absoluteString + path) else {
            throw BaleError(.invalidReference, "\(display): cannot make a URL of \(path)")
        }
        return url
    }

    /// A URL the registry gave (`Location`, `Link`), resolved against the request's.
    public static func resolve(_ given: String, against: URL) throws -> URL {
        guard let url = URL(string: given, relativeTo: against)?.absoluteURL else {
            throw BaleError(.invalidInput, "\(against.host ?? ""): the registry gave an invalid URL: \(given)")
        }
        return url
    }

    /// `url` with a query parameter added, after whatever query it has (Distribution's upload
    /// locations carry `_state=`).
    static func appending(_ url: URL, _ name: String, _ value: String) throws -> URL {
        guard var parts = URLComponents(url: url, resolvingAgainstBaseURL: true) else {
            throw BaleError(.invalidInput, "not a URL: \(url)")
        }
        parts.queryItems = (parts.queryItems ?? []) + [URLQueryItem(name: name, value: value)]
        // `+` in a query means a space to many servers; digests never hold one, but base64 states can.
        parts.percentEncodedQuery = parts.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        guard let out = parts.url else { throw BaleError(.invalidInput, "not a URL: \(url)") }
        return out
    }

    /// Sends a request, authenticating on a 401 and retrying transient failures (only bodyless
    /// requests are retried whole; `body` is sent once). `what` names the request in errors.
    func send(_ method: HTTPMethod, _ url: URL, headers: HTTPHeaders = HTTPHeaders(), body: (any BlobReader)? = nil,
              what: String) throws -> HTTPResponse {
        var attempt = 0
        var freshAuthorization = false
        while true {
            var h = headers
            if let auth = lock.withLock({ authorization }) { h.replaceOrAdd(name: "Authorization", value: auth) }
            let request = try HTTPClient.Request(url: url, method: method, headers: h, tlsConfiguration: tls)
            let response: HTTPResponse
            do {
                response = try HTTPTransport.send(request, body: body)
            } catch let error as BaleError {
                throw error  // from the body's reader: the source's fault, said as it is
            } catch {
                if body == nil && attempt + 1 < Self.maxAttempts && Self.isTransient(error) {
                    attempt += 1
                    Self.backoff(attempt)
                    continue
                }
                throw BaleError(.io, "\(display): \(what): \(Self.describe(error))", cause: error)
            }
            if response.status == 401 {
                let challenges = AuthChallenge.parse(response.header("WWW-Authenticate") ?? "")
                let details = Self.errorSummary(try? response.body(limit: 64 << 10))
                // A body cannot be sent again: requests with one come after a bodyless one that
                // authenticated (the upload's POST).
                if freshAuthorization || body != nil { throw authError(details) }
                try authenticate(challenges, details: details)
                freshAuthorization = true
                continue
            }
            if [429, 500, 502, 503, 504].contains(response.status) && body == nil && attempt + 1 < Self.maxAttempts {
                attempt += 1
                let retryAfter = response.header("Retry-After").flatMap(Double.init)
                response.discard()
                Self.backoff(attempt, retryAfter: retryAfter)
                continue
            }
            return response
        }
    }

    /// Transport errors worth another try: resets, closed connections, timeouts (not TLS trust, not
    /// redirect loops, not bale's own errors).
    static func isTransient(_ error: any Error) -> Bool {
        if error is TransientError { return true }
        if let error = error as? BaleError { return error.cause.map(isTransient) ?? false }
        if let error = error as? HTTPClientError {
            return ![HTTPClientError.redirectCycleDetected, .redirectLimitReached, .invalidURL, .cancelled].contains(error)
        }
        let text = String(describing: error)
        return !text.contains("CERTIFICATE") && !text.contains("handshake")
    }

    /// Waits 0.25 s × 2^attempt (at most 8 s), or what the registry asked (at most 30 s).
    static func backoff(_ attempt: Int, retryAfter: Double? = nil) {
        let seconds = retryAfter.map { min(max($0, 0), 30) } ?? min(0.25 * Double(1 << min(attempt, 5)), 8)
        Thread.sleep(forTimeInterval: seconds)
    }

    /// Fails unless the response has one of `statuses`; the error carries the registry's own message.
    func expect(_ response: HTTPResponse, _ statuses: Set<Int>, what: String) throws {
        guard !statuses.contains(response.status) else { return }
        let summary = Self.errorSummary(try? response.body(limit: 64 << 10))
        let text = "\(display): \(what): \(response.status)\(summary.isEmpty ? "" : " " + summary)"
        switch response.status {
        case 401: throw authError(summary)
        case 403: throw BaleError(.io, "\(display): denied: \(what)\(summary.isEmpty ? "" : ": " + summary)")
        case 404: throw BaleError(.notFound, text)
        default: throw BaleError(.io, text)
        }
    }

    private func authError(_ details: String) -> BaleError {
        BaleError(.io, "\(display): authentication required\(credential == nil ? " (no login for \(host))" : " (the login for \(host) was refused)")\(details.isEmpty ? "" : ": " + details)")
    }

    /// `{"errors":[{"code","message","detail"}]}` as one line: `MANIFEST_BLOB_UNKNOWN: blob unknown to
    /// registry (sha256:…)`; other bodies as their first line, short.
    static func errorSummary(_ body: Data?) -> String {
        guard let body, !body.isEmpty else { return "" }
        struct Errors: Decodable {
            struct Item: Decodable {
                var code: String?
                var message: String?
                var detail: String?
                init(from decoder: any Decoder) throws {
                    let c = try decoder.container(keyedBy: CodingKeys.self)
                    code = try? c.decode(String.self, forKey: .code)
                    message = try? c.decode(String.self, forKey: .message)
                    detail = try? c.decode(String.self, forKey: .detail)
                }
                enum CodingKeys: String, CodingKey { case code, message, detail }
            }
            var errors: [Item]
        }
        if let decoded = try? JSONDecoder().decode(Errors.self, from: body), !decoded.errors.isEmpty {
            return decoded.errors.map { item in
                [item.code, item.message].compactMap { $0 }.joined(separator: ": ")
                    + (item.detail.map { " (\($0))" } ?? "")
            }.joined(separator: "; ")
        }
        let text = String(decoding: body.prefix(200), as: UTF8.self)
        return String(text.split(separator: "\n").first ?? "").trimmingCharacters(in: .whitespaces)
    }

    // MARK: Authentication

    private func authenticate(_ challenges: [AuthChallenge], details: String) throws {
        if let bearer = challenges.first(where: { $0.scheme == "bearer" }), let realm = bearer.parameters["realm"] {
            var scopes = self.scopes
            if let asked = bearer.parameters["scope"] {
                for scope in asked.split(separator: " ").map(String.init) where !scopes.contains(scope) { scopes.append(scope) }
            }
            let token = try fetchToken(realm: realm, service: bearer.parameters["service"], scopes: scopes)
            lock.withLock { authorization = "Bearer " + token }
        } else if challenges.contains(where: { $0.scheme == "basic" }), let credential {
            let pair = Data("\(credential.username):\(credential.password)".utf8).base64EncodedString()
            lock.withLock { authorization = "Basic " + pair }
        } else {
            throw authError(details)
        }
    }

    /// A token for `scopes`, from the cache or the token server: with an identity token, the OAuth2
    /// refresh-token grant (POST); else GET with the login as Basic auth, or anonymously.
    private func fetchToken(realm: String, service: String?, scopes: [String]) throws -> String {
        let key = ([realm, service ?? "", credential?.username ?? ""] + scopes).joined(separator: "|")
        if let token = TokenCache.shared.token(for: key) { return token }
        guard var parts = URLComponents(string: realm), parts.scheme == "https" || parts.scheme == "http" else {
            throw BaleError(.invalidInput, "\(display): the registry names an invalid token realm: \(realm)")
        }
        var headers = HTTPHeaders()
        var body: HTTPClient.Body?
        var method = HTTPMethod.GET
        if let credential, let refresh = credential.identityToken, !refresh.isEmpty {
            method = .POST
            var form = URLComponents()
            form.queryItems = [URLQueryItem(name: "grant_type", value: "refresh_token"),
                               URLQueryItem(name: "refresh_token", value: refresh),
                               URLQueryItem(name: "client_id", value: "bale")]
                + (service.map { [URLQueryItem(name: "service", value: $0)] } ?? [])
                + [URLQueryItem(name: "scope", value: scopes.joined(separator: " "))]
            let encoded = (form.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B")
            headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            body = .bytes(Array(encoded.utf8))
        } else {
            parts.queryItems = (parts.queryItems ?? []) + (service.map { [URLQueryItem(name: "service", value: $0)] } ?? [])
                + scopes.map { URLQueryItem(name: "scope", value: $0) }
                + (credential.map { [URLQueryItem(name: "account", value: $0.username)] } ?? [])
            if let credential {
                let pair = Data("\(credential.username):\(credential.password)".utf8).base64EncodedString()
                headers.add(name: "Authorization", value: "Basic " + pair)
            }
        }
        guard let url = parts.url else {
            throw BaleError(.invalidInput, "\(display): the registry names an invalid token realm: \(realm)")
        }
        let realmHost = url.port.map { "\(url.host ?? ""):\($0)" } ?? (url.host ?? "")
        let request = try HTTPClient.Request(url: url, method: method, headers: headers, body: body,
                                             tlsConfiguration: try Self.tlsConfiguration(for: realmHost, options: options))
        let response: HTTPResponse
        do {
            response = try HTTPTransport.send(request)
        } catch {
            throw BaleError(.io, "\(display): token server \(realm): \(Self.describe(error))")
        }
        guard response.status == 200 else {
            let summary = Self.errorSummary(try? response.body(limit: 64 << 10))
            if response.status == 401 || response.status == 403 { throw authError(summary) }
            throw BaleError(.io, "\(display): token server \(realm): \(response.status) \(summary)")
        }
        let decoded = try JSON.decode(TokenResponse.self, from: response.body(limit: 1 << 20), what: "\(display): token from \(realm)")
        guard let token = decoded.token ?? decoded.accessToken, !token.isEmpty else {
            throw BaleError(.invalidInput, "\(display): the token server \(realm) gave no token")
        }
        TokenCache.shared.store(token, for: key, lifetime: TimeInterval(decoded.expiresIn ?? 60))
        return token
    }
}

/// A failure that another attempt may cure (a body cut short).
struct TransientError: Error, CustomStringConvertible {
    var description: String
}

/// The scheme settled for each registry in this process.
private final class SchemeCache: @unchecked Sendable {
    // @unchecked Sendable: `known` is guarded by `lock`.
    private let lock = NSLock()
    private var known: [String: URL] = [:]
    func get(_ key: String) -> URL? { lock.withLock { known[key] } }
    func set(_ key: String, _ url: URL) { lock.withLock { known[key] = url } }
}
