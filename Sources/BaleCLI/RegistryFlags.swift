import ArgumentParser
import Bale
import Foundation

/// The flags of the commands that talk to registries (`pull`, `push`, `copy`): how to connect. They
/// fill `LocationContext.registry`.
struct RegistryFlags: ParsableArguments {
    @Flag(name: .long, help: "Allow plain HTTP, and TLS without certificate verification, for every registry (without it plain HTTP is used only for localhost, 127.0.0.0/8 and ::1, and only when the registry does not speak TLS).")
    var insecure = false

    @Option(name: .long, help: ArgumentHelp("Docker's per-registry certificate folders: DIR/HOST[:PORT]/*.crt are trusted CAs, client.cert and client.key a client certificate (default: /etc/docker/certs.d).", valueName: "dir"))
    var certsDir: String?

    /// Sets what these flags say in `options`.
    func apply(to options: inout RegistryOptions) {
        options.insecure = insecure
        if let certsDir { options.certificatesDirectory = certsDir }
    }
}

extension GlobalOptions {
    /// The context formats open locations with, with the registry flags applied.
    func context(registry: RegistryFlags) -> LocationContext {
        var context = context()
        registry.apply(to: &context.registry)
        return context
    }
}
