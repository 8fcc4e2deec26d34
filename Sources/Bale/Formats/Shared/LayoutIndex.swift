import BaleCore
import Foundation

/// How image names map to and from index.json annotations in the OCI layouts bale reads and writes
/// (directories, archives, docker save's Docker 25+ form; FORMATS.md sections 2 and 3).
///
/// ```
/// io.containerd.image.name           docker.io/library/app:1   full name (Docker 25+, containerd)
/// org.opencontainers.image.ref.name  1                         the tag (Docker 25+); or whatever
///                                                              name skopeo was given (oci:DIR:NAME)
/// ```
enum LayoutIndex {
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

    /// An index.json entry without the name annotations and platform that describe its place there.
    static func bare(_ entry: Descriptor) -> Descriptor {
        var d = entry
        d.annotations?.removeValue(forKey: Descriptor.Annotation.refName)
        d.annotations?.removeValue(forKey: Descriptor.Annotation.containerdImageName)
        if d.annotations?.isEmpty == true { d.annotations = nil }
        d.platform = nil
        return d
    }

    /// The tag an entry is kept under: its name's tag, else a bare ref.name; nil for an unnamed entry.
    static func tag(of entry: Descriptor) -> String? {
        names(of: entry).first?.tag ?? entry.annotations?[Descriptor.Annotation.refName]
    }

    /// The entries that may be referrers (`ReferrerMap`): every one, with the tag it is kept under.
    static func referrerCandidates(_ entries: [Descriptor]) -> [ReferrerMap.Candidate] {
        entries.map { ReferrerMap.Candidate(descriptor: bare($0), tag: tag(of: $0)) }
    }

    /// `images` without the unnamed entries that are referrers (a `subject`): they ride along with the
    /// image they refer to rather than being copied as images of their own.
    static func withoutReferrers(_ images: [SourceImage], read: (Descriptor) throws -> Data?) -> [SourceImage] {
        images.filter { image in
            !image.names.isEmpty || !ReferrerMap.isReferrer(ReferrerMap.Candidate(descriptor: image.descriptor, tag: nil), read: read)
        }
    }

    /// The index.json entries for a referrer, as oras and skopeo leave them: an OCI 1.1 referrer is one
    /// unnamed entry (its `subject` finds it); a cosign attachment is named by its tag, in the image's
    /// repositories (Docker 25's annotations), or alone when the image has no name or REF was given.
    static func entries(for referrer: Referrer, of image: SourceImage, reference: String?) throws -> [Descriptor] {
        var base = Descriptor(mediaType: referrer.descriptor.mediaType, digest: referrer.descriptor.digest,
                              size: referrer.descriptor.size)
        base.artifactType = referrer.descriptor.artifactType
        guard let tag = referrer.tag else { return [base] }
        if reference != nil || image.names.isEmpty {
            base.annotations = [Descriptor.Annotation.refName: tag]
            return [base]
        }
        return try image.names.map { name in
            var d = base
            d.annotations = LayoutIndex.annotations(for: try name.withTag(tag))
            return d
        }
    }

    /// Groups index entries into images (one per digest, names merged, in first-seen order) and applies
    /// the location's selector.
    static func select(_ entries: [Descriptor], reference: String?, location: String) throws -> [SourceImage] {
        var images: [SourceImage] = []
        var candidates = entries.filter { !Index.isAttestation($0) && $0.annotations?["io.containerd.manifest.subject"] == nil }
        // Cosign attachments ride along with their image (`referrerCandidates`); named, they are
        // still what an explicit REF selects.
        if reference == nil { candidates.removeAll { tag(of: $0).flatMap(Referrer.cosignSubject(ofTag:)) != nil } }
        if let reference, reference.hasPrefix("@") {
            guard let n = Int(reference.dropFirst()) else {
                throw BaleError(.usage, "\(location): \"\(reference)\" is not an image position (@0, @1, …)")
            }
            var seen = Set<Digest>()
            let digests = candidates.map(\.digest).filter { seen.insert($0).inserted }
            guard digests.indices.contains(n) else {
                throw BaleError(.notFound, "\(location): no image at position \(n) (it holds \(digests.count))")
            }
            candidates = candidates.filter { $0.digest == digests[n] }
        } else if let reference {
            candidates = candidates.filter { LayoutIndex.matches($0, ref: reference) }
            guard !candidates.isEmpty else { throw BaleError(.notFound, "\(location): no image named \"\(reference)\"") }
        }
        // Names gathered per digest in a map: a search per entry was quadratic in an index of thousands.
        var position: [Digest: Int] = [:]
        var names: [Set<Reference>] = []
        for entry in candidates {
            if let i = position[entry.digest] {
                names[i].formUnion(LayoutIndex.names(of: entry))
            } else {
                position[entry.digest] = images.count
                images.append(SourceImage(descriptor: bare(entry), names: []))
                names.append(Set(LayoutIndex.names(of: entry)))
            }
        }
        for i in images.indices { images[i].names = names[i].sorted() }
        return images
    }

}
