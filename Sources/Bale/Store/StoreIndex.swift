import BaleCore
import Foundation

/// The store's `index.json`, decoded: one entry per name, plus unnamed entries for untagged images.
/// Entries bale does not understand (a ref.name that is no reference) are kept untouched, so a store
/// that a peer wrote survives bale's edits.
public struct StoreIndex: Sendable {
    /// One `index.json` descriptor and the name it carries.
    public struct Entry: Sendable, Hashable {
        /// The descriptor as it stands in index.json (annotations included).
        public var descriptor: Descriptor
        /// The parsed, normalised name (tag defaulted to latest); nil for an untagged entry or a ref.name
        /// that is not a reference.
        public var name: Reference?
        /// True for an entry with no ref.name at all (an untagged image).
        var isUnnamed: Bool { descriptor.annotations?[Descriptor.Annotation.refName] == nil }
    }

    /// The decoded document; `manifests` is rebuilt from `entries` on save.
    var document: Index
    /// Entries in index.json order.
    public private(set) var entries: [Entry]

    init(bytes: Data, path: String) throws {
        document = try JSON.decode(Index.self, from: bytes, what: path)
        entries = document.manifests.map { d in
            let name = d.annotations?[Descriptor.Annotation.refName].flatMap { try? Reference(parsing: $0).withDefaultTag() }
            return Entry(descriptor: d, name: name)
        }
    }

    /// The bytes to write back.
    func encoded() throws -> Data {
        var doc = document
        doc.manifests = entries.map(\.descriptor)
        return try JSON.canonical(doc)
    }

    /// Distinct top-level digests, in first-seen order.
    public var digests: [Digest] {
        var seen = Set<Digest>()
        return entries.map(\.descriptor.digest).filter { seen.insert($0).inserted }
    }

    /// The names that point at `digest`, sorted.
    public func names(of digest: Digest) -> [Reference] {
        entries.filter { $0.descriptor.digest == digest }.compactMap(\.name).sorted()
    }

    /// The top-level digest a name points at.
    public func digest(named name: Reference) -> Digest? {
        entries.first { $0.name == name }?.descriptor.digest
    }

    /// Points `name` at `descriptor`, moving it from any other image. An image left with no entry keeps
    /// an unnamed one, so it stays in the store as `<none>`, as docker does. Returns the digest the name
    /// pointed at before, when that was another image.
    @discardableResult
    mutating func setName(_ name: Reference, to descriptor: Descriptor) -> Digest? {
        let previous = entries.first { $0.name == name }
        if previous?.descriptor.digest == descriptor.digest { return nil }
        entries.removeAll { $0.name == name }
        if let previous, !entries.contains(where: { $0.descriptor.digest == previous.descriptor.digest }) {
            entries.append(Entry(descriptor: Self.bare(previous.descriptor), name: nil))
        }
        // A named entry replaces the image's unnamed one.
        entries.removeAll { $0.descriptor.digest == descriptor.digest && $0.isUnnamed }
        var d = Self.bare(descriptor)
        d.annotations = (d.annotations ?? [:]).merging([Descriptor.Annotation.refName: name.string]) { $1 }
        entries.append(Entry(descriptor: d, name: name))
        return previous?.descriptor.digest
    }

    /// Removes `name`; returns true when it was there. The image loses the name; callers decide whether
    /// the image itself goes (`removeImage`).
    mutating func removeName(_ name: Reference) -> Bool {
        let before = entries.count
        entries.removeAll { $0.name == name }
        return entries.count != before
    }

    /// Adds an unnamed entry for `descriptor` unless one for its digest exists.
    mutating func addUnnamed(_ descriptor: Descriptor) {
        guard !entries.contains(where: { $0.descriptor.digest == descriptor.digest }) else { return }
        entries.append(Entry(descriptor: Self.bare(descriptor), name: nil))
    }

    /// Removes every entry for `digest`.
    mutating func removeImage(_ digest: Digest) {
        entries.removeAll { $0.descriptor.digest == digest }
    }

    /// A descriptor with bale's own annotations and platform dropped.
    static func bare(_ d: Descriptor) -> Descriptor {
        var d = d
        d.annotations?.removeValue(forKey: Descriptor.Annotation.refName)
        if d.annotations?.isEmpty == true { d.annotations = nil }
        return d
    }
}
