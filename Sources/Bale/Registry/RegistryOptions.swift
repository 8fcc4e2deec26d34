import BaleCore
import Foundation

/// A registry login: a user and password, or an identity token (docker's `identitytoken`, sent as a
/// refresh token to the token server).
public struct RegistryCredential: Sendable, Equatable {
    public var username: String
    public var password: String
    public var identityToken: String?
    public init(username: String, password: String, identityToken: String? = nil) {
        self.username = username
        self.password = password
        self.identityToken = identityToken
    }
}

/// Where logins come from: the Docker config file (`auths`, `credsStore`, `credHelpers`), or nothing.
/// `host` is the registry as a reference names it (`localhost:5000`, `docker.io`).
public protocol CredentialStore: Sendable {
    func credential(for host: String) throws -> RegistryCredential?
}

/// No logins at all (anonymous access).
public struct NoCredentials: CredentialStore {
    public init() {}
    public func credential(for host: String) throws -> RegistryCredential? { nil }
}

/// How bale talks to registries (`docker://`): what every registry location of one command shares.
public struct RegistryOptions: Sendable {
    /// Plain HTTP, and TLS without verification, for every registry (`--insecure`). Without it plain
    /// HTTP is used only for localhost and 127.0.0.0/8 (and ::1), as docker does.
    public var insecure = false
    /// Mirrors tried in order for Docker Hub names before Docker Hub itself (`registry-mirrors` in
    /// bale's config file, then `--registry-mirror`): URLs such as `https://mirror.local:5000`.
    public var mirrors: [String] = []
    /// Logins.
    public var credentials: any CredentialStore = NoCredentials()
    /// Docker's per-registry certificate folders: `<dir>/HOST[:PORT]/ca.crt` (a private CA, also any
    /// `*.crt`), `client.cert` and `client.key` (a client certificate).
    public var certificatesDirectory = "/etc/docker/certs.d"
    public init() {}
}
