import Foundation

/// An OS/architecture pair as on index entries and in configs (image-spec image-index.md).
public struct Platform: Hashable, Sendable, Codable, CustomStringConvertible {
    public var architecture: String
    public var os: String
    public var osVersion: String?
    public var osFeatures: [String]?
    public var variant: String?
    public var features: [String]?

    enum CodingKeys: String, CodingKey {
        case architecture, os, variant, features
        case osVersion = "os.version"
        case osFeatures = "os.features"
    }

    public init(os: String, architecture: String, variant: String? = nil) {
        self.os = os
        self.architecture = architecture
        self.variant = variant
    }

    /// Parses `os/arch[/variant]`, as docker's `--platform`.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (2...3).contains(parts.count), parts.allSatisfy({ !$0.isEmpty }) else {
            throw BaleError(.usage, "invalid platform \"\(text)\": expected OS/ARCH[/VARIANT]")
        }
        self.init(os: parts[0].lowercased(), architecture: Platform.normalisedArchitecture(parts[1].lowercased()),
                  variant: parts.count == 3 ? parts[2].lowercased() : nil)
        if architecture == "arm64" && variant == nil { variant = "v8" }
    }

    /// `os/arch[/variant]`.
    public var description: String {
        [os, architecture, variant].compactMap { $0 }.joined(separator: "/")
    }

    /// The machine bale runs on, in Go's names (GOOS/GOARCH), as docker defaults it.
    public static let host: Platform = {
        var name = utsname()
        uname(&name)
        let machine = withUnsafeBytes(of: &name.machine) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        let arch = normalisedArchitecture(machine)
        var p = Platform(os: "linux", architecture: arch)
        if arch == "arm64" { p.variant = "v8" }
        if arch == "arm" { p.variant = "v7" }
        return p
    }()

    /// Maps uname/common spellings to GOARCH.
    public static func normalisedArchitecture(_ a: String) -> String {
        switch a {
        case "x86_64", "x86-64", "amd64": return "amd64"
        case "aarch64", "arm64": return "arm64"
        case "i386", "i486", "i586", "i686", "386": return "386"
        case "armv7l", "armhf", "arm": return "arm"
        default: return a
        }
    }

    /// Whether an image for `self` satisfies a request for `wanted`: same OS and architecture, and the same
    /// variant when both name one (arm64's `v8` is the default and matches no variant).
    public func matches(_ wanted: Platform) -> Bool {
        guard os == wanted.os, architecture == wanted.architecture else { return false }
        func norm(_ v: String?) -> String? { architecture == "arm64" && v == "v8" ? nil : v }
        if let w = norm(wanted.variant), let v = norm(variant) { return w == v }
        return norm(wanted.variant) == nil || norm(variant) == nil
    }
}
