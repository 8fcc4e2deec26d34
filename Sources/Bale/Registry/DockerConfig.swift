import BaleCore
import Foundation

/// The Docker client's config file, `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`, as the
/// place logins live (docker/cli `cli/config/configfile/file.go`, `credentials/file_store.go`,
/// `credentials/native_store.go`; FORMATS.md section 9):
///
/// ```
/// { "auths": { "https://index.docker.io/v1/": { "auth": base64("user:pass") },
///              "reg.local:5000": { "auth": "…", "identitytoken": "…" },
///              "helped.local": {} },                     ← a login whose secret a helper keeps
///   "credsStore": "secretservice",                       ← helper for every registry …
///   "credHelpers": { "helped.local": "pass" },           ← … or for one
///   …every other key docker or a plug-in wrote… }
/// ```
///
/// Keys: Docker Hub's is `https://index.docker.io/v1/`, any other registry's is `host[:port]`. A
/// lookup tries the exact key, then each key reduced to its host (scheme and path stripped), as docker
/// does. A helper is the program `docker-credential-<name>` on PATH, spoken to on stdin and stdout
/// (`get`, `store`, `erase`).
///
/// Writes keep every other key of the file as it was (the file is held as a generic JSON value, never
/// a struct that would drop what it does not know), write an entry's `auth` only (blanking `username`,
/// `password` and `serveraddress`, as docker does), indent with tabs, and replace the file atomically
/// (temp file in the same directory, fsync, rename) with mode 0600; the directory is made 0700.
public struct DockerConfig: CredentialStore {
    /// The config file.
    public let path: String
    /// Where `docker-credential-*` helpers are looked for (`$PATH`).
    public let searchPath: String

    /// Docker Hub's key in `auths`, and the server URL its helpers are given.
    public static let dockerHubKey = "https://index.docker.io/v1/"

    public init(path: String, searchPath: String = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin") {
        self.path = path
        self.searchPath = searchPath
    }

    /// The config file docker uses: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        let directory: String
        if let d = environment["DOCKER_CONFIG"], !d.isEmpty {
            directory = d
        } else {
            let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
            directory = home + "/.docker"
        }
        self.init(path: directory + "/config.json", searchPath: environment["PATH"] ?? "/usr/bin:/bin")
    }

    // MARK: Keys

    /// The `auths` key of a server as `login`/`logout` or a reference names it: Docker Hub (`docker.io`,
    /// `index.docker.io`, `registry-1.docker.io`, any URL of those) is `https://index.docker.io/v1/`;
    /// any other is reduced to `host[:port]` (`https://reg.local:5000/v2/` → `reg.local:5000`).
    public static func key(for server: String) -> String {
        let host = hostname(of: server)
        return ["docker.io", "index.docker.io", "registry-1.docker.io"].contains(host.lowercased()) ? dockerHubKey : host
    }

    /// docker's `ConvertToHostname`: the text without its `http://` or `https://` and without any path.
    static func hostname(of key: String) -> String {
        var rest = Substring(key)
        for scheme in ["http://", "https://"] where rest.lowercased().hasPrefix(scheme) {
            rest = rest.dropFirst(scheme.count)
            break
        }
        return String(rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first ?? rest)
    }

    // MARK: Reading

    /// The login for `host` (a registry as a reference names it: `docker.io`, `localhost:5000`): from
    /// the helper docker would ask (`credHelpers`, then `credsStore`), else from `auths`. nil when there
    /// is none (no file, no entry, a helper that has none).
    public func credential(for host: String) throws -> RegistryCredential? {
        let file = try read()
        let key = Self.key(for: host)
        if let helper = helper(for: key, in: file) {
            return try helperCredential(helper, server: key)
        }
        guard let auths = file["auths"]?.object else { return nil }
        let entry = auths[key] ?? auths.sorted { $0.key < $1.key }.first { Self.key(for: $0.key) == key }?.value
        guard let entry else { return nil }
        return try decode(entry, key: key)
    }

    /// The user name stored for `server`, for a login prompt's default (nil when none or unreadable).
    public func storedUsername(for server: String) -> String? {
        guard let stored = try? credential(for: server), !stored.username.isEmpty else { return nil }
        return stored.username
    }

    /// An `auths` entry as docker reads it: `auth` is base64 of `user:pass`, split at the first `:`, the
    /// user non-empty, NULs trimmed from the password; without `auth`, the legacy `username`/`password`.
    private func decode(_ entry: JSONValue, key: String) throws -> RegistryCredential? {
        guard let object = entry.object else {
            throw BaleError(.invalidInput, "\(path): auths[\"\(key)\"] is not an object")
        }
        let token = object["identitytoken"]?.string.flatMap { $0.isEmpty ? nil : $0 }
        var username = object["username"]?.string ?? ""
        var password = object["password"]?.string ?? ""
        if let auth = object["auth"]?.string, !auth.isEmpty {
            guard let data = Data(base64Encoded: auth), let text = String(data: data, encoding: .utf8),
                  let colon = text.firstIndex(of: ":"), colon != text.startIndex else {
                throw BaleError(.invalidInput, "\(path): auths[\"\(key)\"]: invalid auth configuration (auth is not base64 of user:password)")
            }
            username = String(text[..<colon])
            password = String(text[text.index(after: colon)...]).trimmingCharacters(in: CharacterSet(charactersIn: "\0"))
        }
        if username.isEmpty && password.isEmpty && token == nil { return nil }
        return RegistryCredential(username: username, password: password, identityToken: token)
    }

    /// The file as a JSON object; an absent file is an empty one.
    func read() throws -> JSONValue {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch CocoaError.fileReadNoSuchFile {
            return .object([:])
        } catch {
            throw BaleError(.io, "\(path): cannot read the Docker config file", cause: error)
        }
        if data.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return .object([:]) }
        let value = try JSON.decode(JSONValue.self, from: data, what: "\(path) (the Docker config file)")
        guard value.object != nil else {
            throw BaleError(.invalidInput, "\(path): malformed Docker config file: not a JSON object")
        }
        for key in ["auths", "credHelpers"] where Self.member(of: value, key, isNot: \.object) {
            throw BaleError(.invalidInput, "\(path): malformed Docker config file: \(key) is not an object")
        }
        if Self.member(of: value, "credsStore", isNot: \.string) {
            throw BaleError(.invalidInput, "\(path): malformed Docker config file: credsStore is not a string")
        }
        return value
    }

    /// Whether `value` has a non-null `key` of another shape than `shape` reads.
    private static func member<T>(of value: JSONValue, _ key: String, isNot shape: KeyPath<JSONValue, T?>) -> Bool {
        guard let member = value[key], member != .null else { return false }
        return member[keyPath: shape] == nil
    }

    // MARK: Writing

    /// Saves a login for `server` (any spelling `key(for:)` takes): through the helper docker would
    /// use for it, which keeps the secret (the file then holds an empty entry, as docker writes), else
    /// as `auth` in the file. Returns where it went (the file, or `docker-credential-<name>`).
    @discardableResult
    public func store(_ credential: RegistryCredential, for server: String) throws -> String {
        var file = try read()
        let key = Self.key(for: server)
        var auths = file["auths"]?.object ?? [:]
        var entry: [String: JSONValue] = [:]
        let helper = helper(for: key, in: file)
        if let helper {
            let secret = credential.identityToken ?? credential.password
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let message = try encoder.encode(HelperCredential(
                serverURL: key, username: credential.identityToken == nil ? credential.username : "<token>", secret: secret))
            _ = try runHelper(helper, "store", input: message)
        } else {
            entry["auth"] = .string(Data("\(credential.username):\(credential.password)".utf8).base64EncodedString())
            if let token = credential.identityToken { entry["identitytoken"] = .string(token) }
        }
        auths[key] = .object(entry)
        file["auths"] = .object(auths)
        try write(file)
        return helper.map { "docker-credential-" + $0 } ?? path
    }

    /// Removes the login for `server`, as `docker logout` does: the first of the keys docker tries
    /// (the key itself; for a registry other than Docker Hub also `host`, `http://host`, `https://host`)
    /// that `auths` holds is erased from the file and from its helper. Returns false, changing nothing,
    /// when none is there (docker's "Not logged in").
    public func erase(server: String) throws -> Bool {
        var file = try read()
        let key = Self.key(for: server)
        var candidates = [server, key]
        if key != Self.dockerHubKey { candidates += ["http://" + key, "https://" + key] }
        guard var auths = file["auths"]?.object, let found = candidates.first(where: { auths[$0] != nil }) else {
            return false
        }
        if let helper = helper(for: found, in: file) {
            do {
                _ = try runHelper(helper, "erase", input: Data(found.utf8))
            } catch let error as BaleError where Self.isNotFound(error.message) {
                // The helper had nothing: the file's entry still goes.
            }
        }
        auths[found] = nil
        file["auths"] = .object(auths)
        try write(file)
        return true
    }

    /// Replaces the file: tab-indented JSON, mode 0600, atomically; a symlinked config is written
    /// where it points, and a missing directory is made 0700.
    private func write(_ value: JSONValue) throws {
        let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)).map { link in
            link.hasPrefix("/") ? link : ((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent(link)
        } ?? path
        let directory = (target as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw BaleError(.io, "\(directory): cannot create the Docker config directory", cause: error)
        }
        try BlobFile.replace(target, with: Self.encode(value), mode: 0o600)
    }

    /// JSON indented with tabs, `"key": value`, `{}` for an empty object, as docker writes the file
    /// (`json.MarshalIndent(…, "", "\t")`); keys sorted. Foundation's pretty printer writes `"key" :`
    /// and spreads an empty object over lines, so only the scalars go through JSONEncoder (which does
    /// the escaping), and the layout is made here.
    static func encode(_ value: JSONValue) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        func scalar(_ value: JSONValue) throws -> String { String(decoding: try encoder.encode(value), as: UTF8.self) }
        func render(_ value: JSONValue, depth: Int) throws -> String {
            let inner = String(repeating: "\t", count: depth + 1), outer = String(repeating: "\t", count: depth)
            switch value {
            case .object(let members) where !members.isEmpty:
                let lines = try members.sorted { $0.key < $1.key }.map { try inner + scalar(.string($0.key)) + ": " + render($0.value, depth: depth + 1) }
                return "{\n" + lines.joined(separator: ",\n") + "\n" + outer + "}"
            case .array(let elements) where !elements.isEmpty:
                let lines = try elements.map { try inner + render($0, depth: depth + 1) }
                return "[\n" + lines.joined(separator: ",\n") + "\n" + outer + "]"
            default:
                return try scalar(value)
            }
        }
        return Data(try render(value, depth: 0).utf8)
    }

    // MARK: Helpers

    /// `credHelpers[key]` (also under the key reduced to its host), else `credsStore`; nil for none.
    private func helper(for key: String, in file: JSONValue) -> String? {
        if let helpers = file["credHelpers"]?.object {
            let host = Self.hostname(of: key)
            if let name = (helpers[key] ?? helpers[host])?.string, !name.isEmpty { return name }
        }
        if let store = file["credsStore"]?.string, !store.isEmpty { return store }
        return nil
    }

    /// The helpers' JSON: `{"ServerURL", "Username", "Secret"}`.
    private struct HelperCredential: Codable {
        var serverURL: String?
        var username: String?
        var secret: String?
        enum CodingKeys: String, CodingKey {
            case serverURL = "ServerURL", username = "Username", secret = "Secret"
        }
    }

    /// What the helper holds for `server`: nil when it says "credentials not found"; Username
    /// `<token>` means the secret is an identity token.
    private func helperCredential(_ helper: String, server: String) throws -> RegistryCredential? {
        let out: Data
        do {
            out = try runHelper(helper, "get", input: Data(server.utf8))
        } catch let error as BaleError where Self.isNotFound(error.message) {
            return nil
        }
        let reply = try JSON.decode(HelperCredential.self, from: out, what: "docker-credential-\(helper) get \(server)")
        let username = reply.username ?? "", secret = reply.secret ?? ""
        if username.isEmpty && secret.isEmpty { return nil }
        if username == "<token>" { return RegistryCredential(username: "", password: "", identityToken: secret) }
        return RegistryCredential(username: username, password: secret)
    }

    /// docker-credential-helpers' message for a server it holds nothing for.
    private static func isNotFound(_ message: String) -> Bool {
        message.lowercased().contains("credentials not found")
    }

    /// Runs `docker-credential-<helper> <action>` with `input` on stdin; returns its stdout. A failure
    /// is an error carrying the helper's own message (stdout, else stderr).
    private func runHelper(_ helper: String, _ action: String, input: Data) throws -> Data {
        let program = "docker-credential-" + helper
        let candidates = searchPath.components(separatedBy: ":").map { ($0.isEmpty ? "." : $0) + "/" + program }
        guard let executable = candidates.first(where: { access($0, X_OK) == 0 }) else {
            throw BaleError(.notFound, "\(program) not found on PATH (the credential helper \(path) names)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [action]
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        do {
            // The input (a server URL, a small JSON) fits the pipe's buffer: written before the helper
            // starts, it can never meet a helper that already left (SIGPIPE).
            try stdin.fileHandleForWriting.write(contentsOf: input)
            try stdin.fileHandleForWriting.close()
            try process.run()
        } catch {
            throw BaleError(.io, "\(executable): cannot run the credential helper", cause: error)
        }
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        let err = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            let said = [out, err].map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
                .first { !$0.isEmpty } ?? "exit status \(process.terminationStatus)"
            throw BaleError(.io, "\(program) \(action) failed: \(said.split(separator: "\n").first.map(String.init) ?? said)")
        }
        return out
    }
}
