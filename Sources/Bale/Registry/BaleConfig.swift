import BaleCore
import Foundation

/// bale's own config file, `$XDG_CONFIG_HOME/bale/config.json`, else `~/.config/bale/config.json`.
/// Its keys are docker's daemon.json keys, so a line can be copied from one to the other:
///
/// ```
/// { "registry-mirrors": ["https://mirror.local:5000", "http://10.0.0.5:5000"] }
/// ```
///
/// Other keys are ignored (bale reads only what it uses). An absent file is
/// an empty configuration; a malformed one is an error naming the file.
public struct BaleConfig: Sendable, Equatable {
    /// Mirrors tried in order for Docker Hub names (`registry-mirrors`).
    public var registryMirrors: [String] = []

    public init(registryMirrors: [String] = []) {
        self.registryMirrors = registryMirrors
    }

    /// Where the file is.
    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let x = environment["XDG_CONFIG_HOME"], !x.isEmpty { return x + "/bale/config.json" }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.config/bale/config.json"
    }

    private struct File: Decodable {
        var registryMirrors: [String]?
        enum CodingKeys: String, CodingKey { case registryMirrors = "registry-mirrors" }
    }

    /// Reads the file at `path`.
    public init(path: String) throws {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch CocoaError.fileReadNoSuchFile {
            return
        } catch {
            throw BaleError(.io, "\(path): cannot read bale's config file", cause: error)
        }
        let file = try JSON.decode(File.self, from: data, what: "\(path) (bale's config file)")
        registryMirrors = try (file.registryMirrors ?? []).map { try Self.mirror($0, from: path) }
    }

    /// A mirror URL as dockerd accepts one: `http` or `https`, a host, no query; a trailing `/` dropped.
    /// `from` names where it was given, for the error.
    public static func mirror(_ text: String, from: String) throws -> String {
        guard let url = URLComponents(string: text), let scheme = url.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = url.host, !host.isEmpty,
              url.query == nil, url.fragment == nil, url.user == nil else {
            throw BaleError(.usage, "\(from): invalid registry mirror \"\(text)\": expected http://HOST[:PORT] or https://HOST[:PORT]")
        }
        var trimmed = Substring(text)
        while trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        return String(trimmed)
    }
}
