import Foundation
import Testing
import TestSupport

/// A throwaway certificate authority for one test, made with `openssl` in a temporary directory and
/// removed when the body returns: the CA, a server certificate for 127.0.0.1 (SAN `IP:127.0.0.1` and
/// `DNS:localhost`), a client certificate, and the token server's RSA signing certificate (RS256; the
/// registry's `rootcertbundle` is the CA, so it trusts the token signer through the `x5c` chain).
/// Everything expires after a day. Files are PEM.
struct TestPKI {
    let directory: String
    var caCertificate: String { directory + "/ca.crt" }
    var serverCertificate: String { directory + "/server.crt" }
    var serverKey: String { directory + "/server.key" }
    var clientCertificate: String { directory + "/client.crt" }
    var clientKey: String { directory + "/client.key" }
    var tokenCertificate: String { directory + "/token.crt" }
    var tokenKey: String { directory + "/token.key" }

    /// Makes the CA and its certificates, runs `body`, removes them.
    static func with<T>(_ body: (TestPKI) throws -> T) throws -> T {
        try Harness.withTemporaryDirectory { directory in
            let pki = TestPKI(directory: directory.path)
            try pki.make()
            return try body(pki)
        }
    }

    private func make() throws {
        // P-256 keys are made in a millisecond; only the token signer is RSA (RS256 from `openssl dgst`).
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        try openssl(["req", "-x509"] + ec + [
            "-nodes", "-keyout", directory + "/ca.key", "-out", caCertificate, "-days", "1",
            "-subj", "/CN=bale-test-ca",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ])
        try issue("server", key: ec, subject: "/CN=127.0.0.1", extensions: """
            subjectAltName=IP:127.0.0.1,DNS:localhost
            extendedKeyUsage=serverAuth
            basicConstraints=CA:FALSE
            """)
        try issue("client", key: ec, subject: "/CN=bale-test-client", extensions: """
            extendedKeyUsage=clientAuth
            basicConstraints=CA:FALSE
            """)
        try issue("token", key: ["-newkey", "rsa:2048"], subject: "/CN=bale-test-token-signer", extensions: """
            keyUsage=critical,digitalSignature
            basicConstraints=CA:FALSE
            """)
    }

    /// A key and a certificate signed by the CA (`NAME.key`, `NAME.crt`).
    private func issue(_ name: String, key: [String], subject: String, extensions: String) throws {
        let base = directory + "/" + name
        try extensions.write(toFile: base + ".ext", atomically: true, encoding: .utf8)
        try openssl(["req", "-new"] + key + ["-nodes", "-keyout", base + ".key", "-out", base + ".csr", "-subj", subject])
        try openssl([
            "x509", "-req", "-in", base + ".csr", "-CA", caCertificate, "-CAkey", directory + "/ca.key",
            "-set_serial", "0x" + String(UInt64.random(in: 1...UInt64.max), radix: 16),
            "-days", "1", "-extfile", base + ".ext", "-out", base + ".crt",
        ])
    }

    private func openssl(_ arguments: [String]) throws {
        let r = try Harness.run(try Harness.requirePeer("openssl"), arguments)
        guard r.succeeded else { throw HarnessError("openssl failed: \(r)") }
    }

    /// A certificate folder as docker, skopeo and bale read one (`HOST[:PORT]/` under certs.d): `ca.crt`,
    /// and with `client` also `client.cert` and `client.key`. At `path`, created (and replaced) here.
    func writeCertificateFolder(at path: String, client: Bool) throws {
        let files = FileManager.default
        try? files.removeItem(atPath: path)
        try files.createDirectory(atPath: path, withIntermediateDirectories: true)
        try files.copyItem(atPath: caCertificate, toPath: path + "/ca.crt")
        if client {
            try files.copyItem(atPath: clientCertificate, toPath: path + "/client.cert")
            try files.copyItem(atPath: clientKey, toPath: path + "/client.key")
        }
    }

    /// Docker's certificate folder for `host` (`127.0.0.1:PORT`) under `/etc/docker/certs.d`, where bale
    /// looks by default (RegistryOptions.certificatesDirectory), for the body only. The port is the
    /// test's own, so parallel tests never share a folder. Needs root, as the interop tests run.
    func withDockerCertificates<T>(
        for host: String, client: Bool, certsDirectory: String = "/etc/docker/certs.d", _ body: () throws -> T
    ) throws -> T {
        let folder = certsDirectory + "/" + host
        guard !FileManager.default.fileExists(atPath: folder) else {
            throw HarnessError("\(folder) exists already; a test must not replace a real registry's certificates")
        }
        try writeCertificateFolder(at: folder, client: client)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        return try body()
    }
}

/// An htpasswd file with bcrypt entries (`htpasswd -B`, the only hash Distribution accepts) for
/// `users` (name → password), at `path`.
func writeHtpasswd(at path: String, users: [String: String]) throws {
    let htpasswd = try Harness.requirePeer("htpasswd")
    var lines: [String] = []
    for (user, password) in users.sorted(by: { $0.key < $1.key }) {
        // -n prints the entry instead of writing a file; -b takes the password from the arguments.
        let r = try Harness.run(htpasswd, ["-nbB", user, password])
        guard r.succeeded else { throw HarnessError("htpasswd failed: \(r)") }
        lines.append(r.out.trimmingCharacters(in: .whitespacesAndNewlines))
    }
    try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
}
