import BaleCore

/// How image names map to and from index.json annotations in OCI layouts that bale reads and writes
/// (FORMATS.md sections 2 and 3).
///
/// ```
/// io.containerd.image.name           docker.io/library/app:1   full name (Docker 25+, containerd)
/// org.opencontainers.image.ref.name  1                         the tag (Docker 25+); or whatever
///                                                              name skopeo was given (oci:DIR:NAME)
/// ```
enum OCILayoutNames {
    /// The names an index.json entry carries: containerd's full name first; else ref.name when it reads
    /// as a full reference (it has a `/` or a `:`); a bare ref.name is only a tag, so no name.
    static func names(of entry: Descriptor) -> [Reference] {
        let annotations = entry.annotations ?? [:]
        if let full = annotations[Descriptor.Annotation.containerdImageName],
           let ref = try? Reference(parsing: full), ref.digest == nil {
            return [ref.withDefaultTag()]
        }
        if let refName = annotations[Descriptor.Annotation.refName], refName.contains(where: { $0 == "/" || $0 == ":" }),
           let ref = try? Reference(parsing: refName), ref.digest == nil {
            return [ref.withDefaultTag()]
        }
        return []
    }

    /// The annotations for one name, Docker 25's way: the full name for containerd, the tag as ref.name.
    static func annotations(for name: Reference) -> [String: String] {
        [Descriptor.Annotation.containerdImageName: name.string,
         Descriptor.Annotation.refName: name.tag ?? "latest"]
    }

    /// Whether `entry` is what `ref` (the REF of `oci:DIR:REF`) selects: ref.name equal to it, as skopeo
    /// matches, or a full name equal to it once both are normalised.
    static func matches(_ entry: Descriptor, ref: String) -> Bool {
        if entry.annotations?[Descriptor.Annotation.refName] == ref { return true }
        guard let wanted = try? Reference(parsing: ref).withDefaultTag() else { return false }
        return names(of: entry).contains(wanted)
    }
}
