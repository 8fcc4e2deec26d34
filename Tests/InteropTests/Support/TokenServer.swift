import Foundation
import Testing
import TestSupport

/// The test token server (testdata/registry/token-server.py) for the registry's `token` auth, on
/// 127.0.0.1 and a port it picks, signing with the TestPKI's token certificate. Stopped when the body
/// returns. `registryOptions` configures a `Registry` to send clients to it.
struct TokenServer {
    /// The realm URL the registry puts in its `WWW-Authenticate: Bearer` challenge.
    let realm: String
    let service: String
    let issuer: String
    let logPath: String
    private let rootCertBundle: String

    /// One request to the token server, as it logged it.
    struct Request: Decodable {
        var method: String
        var service: String
        var scopes: [String]
        /// The user of the Basic credentials; nil when anonymous.
        var account: String?
        var status: Int
    }

    /// `users` (name → password) get every action they ask for; without credentials, pull-only tokens
    /// when `anonymousPull`, else 401.
    static func with<T>(
        pki: TestPKI, users: [String: String], anonymousPull: Bool = true, _ body: (TokenServer) throws -> T
    ) throws -> T {
        let python = try Harness.requirePeer("python3")
        _ = try Harness.requirePeer("openssl")
        let script = Harness.packageRoot.appendingPathComponent("testdata/registry/token-server.py").path
        return try Harness.withTemporaryDirectory { dir in
            let portFile = dir.appendingPathComponent("port").path
            let logPath = dir.appendingPathComponent("requests.jsonl").path
            let outputPath = dir.appendingPathComponent("output").path
            let service = "bale-test-registry"
            let issuer = "bale-test-token-issuer"
            var arguments = [
                script, "--port-file", portFile, "--log", logPath, "--key", pki.tokenKey, "--cert", pki.tokenCertificate,
                "--issuer", issuer, "--service", service, "--anonymous", anonymousPull ? "pull" : "none",
            ]
            for (user, password) in users.sorted(by: { $0.key < $1.key }) { arguments += ["--user", "\(user):\(password)"] }
            _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
            let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
            defer { try? output.close() }
            let process = try BackgroundProcess(python, arguments, output: output)
            defer { process.stop(grace: 5) }
            let deadline = Date().addingTimeInterval(30)
            var port: String?
            while port == nil && process.isRunning && Date() < deadline {
                port = try? String(contentsOfFile: portFile, encoding: .utf8)
                if port == nil { usleep(50_000) }
            }
            guard let port else {
                let said = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
                throw HarnessError("token server did not start:\n\(said.suffix(2000))")
            }
            let server = TokenServer(realm: "http://127.0.0.1:\(port)/token", service: service, issuer: issuer,
                                     logPath: logPath, rootCertBundle: pki.caCertificate)
            return try body(server)
        }
    }

    /// For `Registry.Options.token`.
    var registryOptions: (realm: String, service: String, issuer: String, rootCertBundle: String) {
        (realm, service, issuer, rootCertBundle)
    }

    /// Every request so far, oldest first.
    var requests: [Request] {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(Request.self, from: Data($0.utf8)) }
    }

    /// The log as text, for failure messages.
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// True when a token was given (200) to `account` (nil: anonymous) for a scope that names
    /// `repository` with at least `actions` (`["pull", "push"]`).
    func granted(repository: String, actions: Set<String>, account: String?) -> Bool {
        requests.contains { request in
            request.status == 200 && request.account == account && request.scopes.contains { scope in
                let parts = scope.split(separator: ":", omittingEmptySubsequences: false)
                guard parts.count >= 3, parts.first == "repository" else { return false }
                let name = parts.dropFirst().dropLast().joined(separator: ":")
                let asked = Set(parts.last!.split(separator: ",").map(String.init))
                return name == repository && actions.isSubset(of: asked)
            }
        }
    }
}
