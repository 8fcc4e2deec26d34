import BaleCore
import Foundation

/// `docker://HOST[:PORT]/NAME[:TAG|@DIGEST]` (skopeo's spelling): an image in a registry, over the
/// registry HTTP API v2 (Registry/RegistryClient). `docker://HOST` or `docker://HOST/` alone is, as a
/// source, every repository and tag of the registry's catalog.
///
/// NAME is read as docker reads it (a first component with `.` or `:`, or `localhost`, is the host;
/// else Docker Hub, `library/` added to a one-component name), so `docker://alpine` is Docker Hub's.
public enum RegistryFormat: LocationFormat {
    public static let prefix = "docker"
    /// `//HOST/NAME:TAG` holds colons of its own: the whole text after `docker:` is the reference.
    public static let hasPath = false

    public static func source(path: String, reference: String?, context: LocationContext) throws -> any ImageSource {
        let (host, image) = try parse(reference)
        return try RegistrySource(host: host, image: image, options: context.registry)
    }

    public static func destination(path: String, reference: String?, context: LocationContext) throws -> any ImageDestination {
        let (_, image) = try parse(reference)
        guard let image else {
            throw BaleError(.usage, "docker:\(reference ?? ""): a destination needs a repository name (docker://HOST/NAME[:TAG])")
        }
        return try RegistryDestination(image: image, options: context.registry)
    }

    /// The host and, unless only a host is given, the image reference.
    static func parse(_ reference: String?) throws -> (host: String, image: Reference?) {
        guard let reference, reference.hasPrefix("//"), reference.count > 2 else {
            throw BaleError(.usage, "docker:\(reference ?? ""): write docker://HOST[:PORT]/NAME[:TAG|@DIGEST]")
        }
        var rest = reference.dropFirst(2)
        if rest.hasSuffix("/") && rest.dropLast().firstIndex(of: "/") == nil { rest = rest.dropLast() }
        if rest.firstIndex(of: "/") == nil && (rest.contains(".") || rest.contains(":") || rest == "localhost") {
            return (String(rest), nil)
        }
        let image = try Reference(parsing: String(rest))
        return (image.domain, image)
    }
}
