import BaleCore
import Foundation

/// `bale login` and `bale logout` as docker does them, apart from the terminal: the CLI gathers the
/// user and password (flags, stdin, prompts) and prints what these return.
public enum Login {
    /// Checks a credential against a registry (`RegistryClient.checkLogin` in the CLI): returns when the
    /// registry accepts it, throws otherwise. `host` is `docker.io` for Docker Hub, else `host[:port]`.
    public typealias Checker = (_ host: String, _ credential: RegistryCredential, _ options: RegistryOptions) throws -> Void

    /// What a login did.
    public struct Outcome: Sendable, Equatable {
        /// For stdout: `Login Succeeded`.
        public var lines: [String]
        /// For stderr: docker's warning when the password went into the file unencrypted.
        public var warnings: [String]
    }

    /// The host a SERVER argument names, as references spell it: `docker.io` for Docker Hub (also
    /// when nil), else `host[:port]` (a URL's scheme and path dropped).
    public static func host(of server: String?) -> String {
        let key = DockerConfig.key(for: server ?? DockerConfig.dockerHubKey)
        return key == DockerConfig.dockerHubKey ? "docker.io" : key
    }

    /// Logs in to `server` (nil: Docker Hub): refuses an empty user or password, asks `check` whether
    /// the registry accepts the credential, and only then saves it in `config` (through its credential
    /// helper when it has one for the server). A refused login changes nothing.
    public static func login(server: String?, credential: RegistryCredential, config: DockerConfig,
                             options: RegistryOptions, check: Checker) throws -> Outcome {
        guard !credential.username.isEmpty else { throw BaleError(.usage, "Non-null Username Required") }
        guard !credential.password.isEmpty || credential.identityToken != nil else {
            throw BaleError(.usage, "Password Required")
        }
        let host = host(of: server)
        do {
            try check(host, credential, options)
        } catch let error as BaleError {
            throw BaleError(error.code, "login to \(host) failed: \(error.message)", cause: error.cause)
        } catch {
            throw BaleError(.io, "login to \(host) failed", cause: error)
        }
        let place = try config.store(credential, for: server ?? DockerConfig.dockerHubKey)
        var warnings: [String] = []
        if place == config.path {
            warnings = ["WARNING! Your password will be stored unencrypted in \(config.path).",
                        "Configure a credential helper to remove this warning. See",
                        "https://docs.docker.com/engine/reference/commandline/login/#credentials-store", ""]
        }
        return Outcome(lines: ["Login Succeeded"], warnings: warnings)
    }

    /// Logs out of `server` (nil: Docker Hub), as docker does: `Removing login credentials for SERVER`,
    /// or `Not logged in to SERVER` (not an error) when the config file holds no login for it.
    public static func logout(server: String?, config: DockerConfig) throws -> String {
        let key = DockerConfig.key(for: server ?? DockerConfig.dockerHubKey)
        guard try config.erase(server: server ?? key) else { return "Not logged in to \(key)" }
        return "Removing login credentials for \(key)"
    }
}
