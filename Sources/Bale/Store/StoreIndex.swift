import BaleCore
import Foundation

/// The store's `index.json`, decoded: one entry per name, plus unnamed entries for untagged images.
/// Entries bale does not understand (a ref.name that is no reference) are kept untouched, so a store
/// that a peer wrote survives bale's edits.
///
/// Every operation on one name or one digest costs O(1) amortised (plus the entries of that digest):
/// entries sit in slots, removed ones leave a hole, and two maps lead from a name and from a digest to
/// their slots. A store of 10 000 names is edited 10 000 times by one load; a linear search per edit
/// made that quadratic (issue #10).
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
    /// Entries in index.json order; nil where one was removed.
    private var slots: [Entry?] = []
    /// Slots of each name (usually one; a peer's index may repeat a name).
    private var byName: [Reference: Set<Int>] = [:]
    /// Slots of each top-level digest.
    private var byDigest: [Digest: Set<Int>] = [:]
    /// Slots of the unnamed entries (no ref.name at all) of each digest.
    private var unnamed: [Digest: Set<Int>] = [:]
    /// How many entries of each digest carry a parsed name.
    private var nameCount: [Digest: Int] = [:]

    init(bytes: Data, path: String) throws {
        document = try JSON.decode(Index.self, from: bytes, what: path)
        for d in document.manifests {
            let name = d.annotations?[Descriptor.Annotation.refName].flatMap { try? Reference(parsing: $0).withDefaultTag() }
            append(Entry(descriptor: d, name: name))
        }
    }

    /// Entries in index.json order.
    public var entries: [Entry] { slots.compactMap { $0 } }

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

    /// The first entry for `digest`: the image's top-level descriptor as index.json holds it.
    public func descriptor(of digest: Digest) -> Descriptor? {
        byDigest[digest]?.min().flatMap { slots[$0]?.descriptor }
    }

    /// The names that point at `digest`, sorted.
    public func names(of digest: Digest) -> [Reference] {
        (byDigest[digest] ?? []).compactMap { slots[$0]?.name }.sorted()
    }

    /// Whether every entry for `digest` is an unnamed one (an untagged image bale recorded).
    func onlyUnnamed(_ digest: Digest) -> Bool {
        (byDigest[digest]?.count ?? 0) == (unnamed[digest]?.count ?? 0)
    }

    /// Whether any name points at `digest` (cheaper than `names(of:)`, which sorts them).
    func isNamed(_ digest: Digest) -> Bool { (nameCount[digest] ?? 0) > 0 }

    /// The top-level digest a name points at.
    public func digest(named name: Reference) -> Digest? {
        byName[name]?.min().flatMap { slots[$0]?.descriptor.digest }
    }

    /// Points `name` at `descriptor`, moving it from any other image. An image left with no entry keeps
    /// an unnamed one, so it stays in the store as `<none>`, as docker does. Returns the digest the name
    /// pointed at before, when that was another image.
    @discardableResult
    mutating func setName(_ name: Reference, to descriptor: Descriptor) -> Digest? {
        let previous = byName[name]?.min().flatMap { slots[$0]?.descriptor }
        if previous?.digest == descriptor.digest { return nil }
        remove(byName[name] ?? [])
        if let previous, byDigest[previous.digest] == nil {
            append(Entry(descriptor: Self.bare(previous), name: nil))
        }
        // A named entry replaces the image's unnamed one.
        remove(unnamed[descriptor.digest] ?? [])
        var d = Self.bare(descriptor)
        d.annotations = (d.annotations ?? [:]).merging([Descriptor.Annotation.refName: name.string]) { $1 }
        append(Entry(descriptor: d, name: name))
        return previous?.digest
    }

    /// Removes `name`; returns true when it was there. The image loses the name; callers decide whether
    /// the image itself goes (`removeImage`).
    mutating func removeName(_ name: Reference) -> Bool {
        guard let found = byName[name] else { return false }
        remove(found)
        return true
    }

    /// Adds an unnamed entry for `descriptor` unless one for its digest exists.
    mutating func addUnnamed(_ descriptor: Descriptor) {
        guard byDigest[descriptor.digest] == nil else { return }
        append(Entry(descriptor: Self.bare(descriptor), name: nil))
    }

    /// Removes every entry for `digest`.
    mutating func removeImage(_ digest: Digest) {
        remove(byDigest[digest] ?? [])
    }

    private mutating func append(_ entry: Entry) {
        let slot = slots.count
        slots.append(entry)
        let digest = entry.descriptor.digest
        byDigest[digest, default: []].insert(slot)
        if entry.isUnnamed { unnamed[digest, default: []].insert(slot) }
        if let name = entry.name {
            byName[name, default: []].insert(slot)
            nameCount[digest, default: 0] += 1
        }
    }

    private mutating func remove(_ found: Set<Int>) {
        for slot in found {
            guard let entry = slots[slot] else { continue }
            slots[slot] = nil
            let digest = entry.descriptor.digest
            byDigest[digest]?.remove(slot)
            if byDigest[digest]?.isEmpty == true { byDigest[digest] = nil }
            unnamed[digest]?.remove(slot)
            if unnamed[digest]?.isEmpty == true { unnamed[digest] = nil }
            if let name = entry.name {
                byName[name]?.remove(slot)
                if byName[name]?.isEmpty == true { byName[name] = nil }
                nameCount[digest, default: 1] -= 1
                if nameCount[digest] == 0 { nameCount[digest] = nil }
            }
        }
    }

    /// A descriptor with bale's own annotations and platform dropped.
    static func bare(_ d: Descriptor) -> Descriptor {
        var d = d
        d.annotations?.removeValue(forKey: Descriptor.Annotation.refName)
        if d.annotations?.isEmpty == true { d.annotations = nil }
        return d
    }
}
