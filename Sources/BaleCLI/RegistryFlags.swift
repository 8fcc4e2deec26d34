import ArgumentParser
import Bale
import BaleCore
import Foundation

/// The registry flags of the commands that may reach a registry (`docker://` locations, pull, push,
/// login, search): how to connect, and which mirrors to try. They fill `LocationContext.registry`.
struct RegistryFlags: ParsableArguments {
    @Flag(name: .long, help: "Allow plain HTTP, and TLS without certificate verification, for every registry (without it plain HTTP is used only for localhost, 127.0.0.0/8 and ::1, and only when the registry does not speak TLS).")
    var insecure = false

    @Option(name: .long, help: ArgumentHelp("Docker's per-registry certificate folders: DIR/HOST[:PORT]/*.crt are trusted CAs, client.cert and client.key a client certificate (default: /etc/docker/certs.d).", valueName: "dir"))
    var certsDir: String?

    @Option(name: .customLong("registry-mirror"), help: ArgumentHelp("A mirror to try for Docker Hub images, after those of bale's config file (registry-mirrors in $XDG_CONFIG_HOME/bale/config.json); repeatable, tried in order.", valueName: "url"))
    var registryMirror: [String] = []

    /// The registry options these flags and the config files give: mirrors from bale's config file,
    /// then from the flags, in order; logins from the Docker config file.
    func registryOptions(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> RegistryOptions {
        var options = RegistryOptions()
        options.insecure = insecure
        if let certsDir { options.certificatesDirectory = certsDir }
        options.mirrors = try BaleConfig(path: BaleConfig.defaultPath(environment: environment)).registryMirrors
            + registryMirror.map { try BaleConfig.mirror($0, from: "--registry-mirror") }
        options.credentials = DockerConfig(environment: environment)
        return options
    }
}
