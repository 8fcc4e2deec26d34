import BaleCore
import Foundation

/// One challenge of a `WWW-Authenticate` header (RFC 7235): a scheme and its parameters,
/// `Bearer realm="https://auth.example/token",service="registry",scope="repository:x:pull"`.
public struct AuthChallenge: Equatable, Sendable {
    /// Lowercased: `bearer`, `basic`.
    public var scheme: String
    /// Parameter names lowercased; values unquoted.
    public var parameters: [String: String]

    public init(scheme: String, parameters: [String: String]) {
        self.scheme = scheme
        self.parameters = parameters
    }

    /// Parses a header value into its challenges (several may share one header, separated by commas
    /// that are followed by a new scheme). Malformed parts are skipped, never fatal: the registry's 401
    /// is then reported as it is.
    public static func parse(_ header: String) -> [AuthChallenge] {
        var challenges: [AuthChallenge] = []
        var scanner = Substring(header)
        func skipSpaces() { scanner = scanner.drop { $0 == " " || $0 == "\t" || $0 == "," } }
        func token() -> String {
            let t = scanner.prefix { !" \t,=\"".contains($0) }
            scanner = scanner.dropFirst(t.count)
            return String(t)
        }
        while true {
            skipSpaces()
            let scheme = token()
            guard !scheme.isEmpty else { break }
            var challenge = AuthChallenge(scheme: scheme.lowercased(), parameters: [:])
            // Parameters until the next bare token (a new scheme).
            while true {
                skipSpaces()
                let save = scanner
                let name = token()
                scanner = scanner.drop { $0 == " " || $0 == "\t" }
                guard !name.isEmpty, scanner.first == "=" else { scanner = save; break }
                scanner = scanner.dropFirst().drop { $0 == " " || $0 == "\t" }
                var value = ""
                if scanner.first == "\"" {
                    scanner = scanner.dropFirst()
                    while let c = scanner.first, c != "\"" {
                        if c == "\\", let next = scanner.dropFirst().first {
                            value.append(next)
                            scanner = scanner.dropFirst(2)
                        } else {
                            value.append(c)
                            scanner = scanner.dropFirst()
                        }
                    }
                    scanner = scanner.dropFirst()
                } else {
                    value = token()
                }
                challenge.parameters[name.lowercased()] = value
            }
            challenges.append(challenge)
        }
        return challenges
    }
}

/// Tokens from a registry's token server (distribution docs/spec/auth/token.md), cached per scope
/// until they expire.
final class TokenCache: @unchecked Sendable {
    // @unchecked Sendable: `tokens` is guarded by `lock`.
    private let lock = NSLock()
    private var tokens: [String: (token: String, expires: Date)] = [:]

    static let shared = TokenCache()

    func token(for key: String) -> String? {
        lock.withLock {
            guard let entry = tokens[key], entry.expires > Date() else { return nil }
            return entry.token
        }
    }

    func store(_ token: String, for key: String, lifetime: TimeInterval) {
        // Refreshed a little before the server's expiry, so a long blob never starts on a dying token.
        lock.withLock { tokens[key] = (token, Date().addingTimeInterval(max(lifetime - 10, 1))) }
    }

    func forget(_ key: String) {
        _ = lock.withLock { tokens.removeValue(forKey: key) }
    }
}

/// The token server's answer: `token` or `access_token`, `expires_in` (seconds; 60 when absent).
struct TokenResponse: Decodable {
    var token: String?
    var accessToken: String?
    var expiresIn: Int?
    enum CodingKeys: String, CodingKey {
        case token
        case accessToken = "access_token"
        case expiresIn = "expires_in"
    }
}
