import BaleCore
import Foundation

/// What `rmi` did, one line each, in docker's words.
public enum RemoveEvent: Sendable, Hashable {
    /// `Untagged: NAME:TAG`
    case untagged(Reference)
    /// `Deleted: sha256:…` (an image ID)
    case deleted(Digest)
}

extension Store {
    /// Finds an image by name (tag defaults to latest), `NAME@DIGEST`, full ID or unique ID prefix, in
    /// that order, as docker does, among images already loaded (`images`' filters).
    public func resolve(_ text: String, in images: [StoredImage]) throws -> StoredImage {
        try resolveAll(text, candidates: images.map { image in
            Candidate(descriptor: image.descriptor, names: image.names, load: { image },
                      manifest: { image.manifestDescriptor.digest }, id: { image.id })
        }).first!
    }

    /// `resolve` through index.json alone: only the image found is loaded and verified (an ID prefix
    /// reads manifests, not configs). Takes the shared lock.
    public func image(_ text: String) throws -> StoredImage {
        try withLock(exclusive: false) { try resolveAll(text, in: loadIndex()).first! }
    }

    /// Every image `text` names, found through `index` (callers hold the lock): only the images found
    /// are loaded and verified, so one lookup in a store of thousands of images reads one image, not
    /// all of them; an ID prefix reads manifests (not configs) until it has its answer.
    func resolveAll(_ text: String, in index: StoreIndex) throws -> [StoredImage] {
        if let ref = try? Reference(parsing: text), ref.digest == nil,
           let digest = index.digest(named: ref.withDefaultTag()), let descriptor = index.descriptor(of: digest) {
            return [try loadImage(descriptor, names: index.names(of: digest))]
        }
        let candidates = index.digests.compactMap { digest -> Candidate? in
            guard let descriptor = index.descriptor(of: digest) else { return nil }
            let manifest = { try? self.hostManifest(of: descriptor) }
            return Candidate(descriptor: descriptor, names: index.names(of: digest),
                             load: { try self.loadImage(descriptor, names: index.names(of: digest)) },
                             manifest: { manifest()?.descriptor.digest },
                             id: { manifest()?.manifest.config.digest })
        }
        return try resolveAll(text, candidates: candidates)
    }

    /// A stored image as `resolveAll` sees it: its top descriptor and names, and, computed only when
    /// asked, the image itself, its manifest's digest and its ID.
    struct Candidate {
        var descriptor: Descriptor
        var names: [Reference]
        var load: () throws -> StoredImage
        var manifest: () -> Digest?
        var id: () -> Digest?
    }

    /// The image IDs (config digests) of the stored images whose top-level digests are given; one left
    /// out when the store does not list it or its manifest cannot be read. Reads those manifests only.
    public func imageIDs(of digests: some Sequence<Digest>) throws -> [Digest: Digest] {
        try withLock(exclusive: false) {
            let index = try loadIndex()
            var ids: [Digest: Digest] = [:]
            for digest in digests {
                ids[digest] = index.descriptor(of: digest).flatMap { try? hostManifest(of: $0).manifest.config.digest }
            }
            return ids
        }
    }

    /// The manifest a top-level descriptor stands for on this host.
    func hostManifest(of descriptor: Descriptor) throws -> (descriptor: Descriptor, manifest: Manifest) {
        try ImageGraph.manifest(of: descriptor, platform: .host, location: "store \(root)") {
            hasBlob($0.digest) ? try readDocument($0) : nil
        }
    }

    /// The one resolution rule, over candidates that load lazily.
    private func resolveAll(_ text: String, candidates: [Candidate]) throws -> [StoredImage] {
        let parsed = Result { try Reference(parsing: text) }
        if case .success(let ref) = parsed {
            if let digest = ref.digest {
                var found = candidates.filter { $0.descriptor.digest == digest }
                if found.isEmpty { found = candidates.filter { !$0.descriptor.mediaType.isManifest && $0.manifest() == digest } }
                if !found.isEmpty { return try found.map { try $0.load() } }
            } else {
                let name = ref.withDefaultTag()
                if let found = candidates.first(where: { $0.names.contains(name) }) { return [try found.load()] }
            }
        }
        var hex = Substring(text)
        if hex.hasPrefix("sha256:") { hex = hex.dropFirst(7) }
        if !hex.isEmpty, hex.count <= 64, Digest.isLowerHex(String(hex), length: hex.count) {
            let found = candidates.filter { $0.id()?.encoded.hasPrefix(hex) ?? false }
            let ids = Set(found.compactMap { $0.id() })
            if ids.count > 1 {
                throw BaleError(.conflict, "multiple IDs found with provided prefix: \(text)")
            }
            if !found.isEmpty { return try found.map { try $0.load() } }
        }
        if case .failure(let error) = parsed, !Digest.isLowerHex(String(hex), length: hex.count) { throw error }
        throw BaleError(.notFound, "No such image: \(text)")
    }

    /// Points `target` (tag defaults to latest) at the image `source` names. A name that pointed at
    /// another image moves; that image stays as `<none>` if it has no other name.
    public func tag(_ source: String, as target: String) throws {
        let name = try Reference(parsing: target)
        guard name.digest == nil else {
            throw BaleError(.invalidReference, "invalid reference \"\(target)\": refusing to create a tag with a digest reference")
        }
        try withLock(exclusive: true) {
            var index = try loadIndex()
            let image: StoredImage
            do {
                image = try resolveAll(source, in: index)[0]
            } catch let error as BaleError where error.code == .notFound {
                // docker names the reference it looked for, with the tag it defaulted to.
                guard let ref = try? Reference(parsing: source), ref.digest == nil else { throw error }
                throw BaleError(.notFound, "No such image: \(ref.withDefaultTag().familiar)")
            }
            index.setName(name.withDefaultTag(), to: image.descriptor)
            try saveIndex(index)
        }
    }

    /// Docker's `rmi`: untags names and deletes images that lose their last name, then removes the
    /// blobs no remaining image uses. Arguments are handled one by one; an error on one does not stop
    /// the others. Returns what happened and the errors met.
    public func remove(_ arguments: [String], force: Bool) throws -> (events: [RemoveEvent], errors: [BaleError]) {
        try withLock(exclusive: true) {
            var index = try loadIndex()
            var events: [RemoveEvent] = []
            var errors: [BaleError] = []
            var deleted = Set<Digest>()
            for argument in arguments {
                do {
                    // A name is found and removed in the index alone: no image is loaded, so thousands
                    // of names cost thousands of lookups, and an image that cannot be read loses its
                    // names all the same.
                    if let ref = try? Reference(parsing: argument), ref.digest == nil,
                       case let name = ref.withDefaultTag(), let digest = index.digest(named: name) {
                        let top = index.descriptor(of: digest)
                        _ = index.removeName(name)
                        events.append(.untagged(name))
                        if !index.isNamed(digest) {
                            let id = top.flatMap { try? hostManifest(of: $0).manifest.config.digest } ?? digest
                            index.removeImage(digest)
                            if deleted.insert(id).inserted { events.append(.deleted(id)) }
                        }
                        continue
                    }
                    let matches = try resolveAll(argument, in: index)
                    if let ref = try? Reference(parsing: argument), ref.digest != nil {
                        try untagDigest(ref, of: matches[0], in: &index, events: &events, deleted: &deleted)
                        continue
                    }
                    let byName = (try? Reference(parsing: argument)).map { ref in
                        ref.digest == nil && matches.count == 1 && matches[0].names.contains(ref.withDefaultTag())
                    } ?? false
                    if byName, let ref = try? Reference(parsing: argument).withDefaultTag() {
                        _ = index.removeName(ref)
                        events.append(.untagged(ref))
                        if !index.isNamed(matches[0].descriptor.digest) {
                            deleteImages([matches[0]], from: &index, events: &events, deleted: &deleted)
                        }
                        continue
                    }
                    let names = Array(Set(matches.flatMap(\.names))).sorted()
                    if names.count > 1 && !force {
                        throw BaleError(.conflict, "conflict: unable to delete \(matches[0].id.shortHex) (must be forced) - image is referenced in multiple repositories")
                    }
                    for name in names where index.removeName(name) { events.append(.untagged(name)) }
                    deleteImages(matches, from: &index, events: &events, deleted: &deleted)
                } catch let error as BaleError {
                    errors.append(error)
                }
            }
            if !events.isEmpty {
                removeOrphanedReferrers(&index, events: &events)
                try saveIndex(index)
                _ = try collectGarbage(index)
            }
            return (events, errors)
        }
    }

    /// `rmi NAME@DIGEST`: the digest reference goes. bale records names only, and shows NAME@DIGEST for
    /// every name of that repository on the image, so those names go with it (each reported); the image
    /// is deleted when it has no name left, as docker deletes an image that loses its last reference.
    private func untagDigest(_ ref: Reference, of image: StoredImage, in index: inout StoreIndex,
                             events: inout [RemoveEvent], deleted: inout Set<Digest>) throws {
        let names = index.names(of: image.descriptor.digest).filter { $0.domain == ref.domain && $0.path == ref.path }
        guard !names.isEmpty else { throw BaleError(.notFound, "No such image: \(ref.familiar)") }
        events.append(.untagged(ref))
        for name in names where index.removeName(name) { events.append(.untagged(name)) }
        if !index.isNamed(image.descriptor.digest) {
            deleteImages([image], from: &index, events: &events, deleted: &deleted)
        }
    }

    private func deleteImages(_ images: [StoredImage], from index: inout StoreIndex,
                              events: inout [RemoveEvent], deleted: inout Set<Digest>) {
        for image in images {
            index.removeImage(image.descriptor.digest)
            if deleted.insert(image.id).inserted { events.append(.deleted(image.id)) }
        }
    }
}

extension Store {
    /// Records an image whose blobs are already in the store under `names` (tags default to latest);
    /// with no names it is kept untagged. Checks first that every blob the image needs is present, so
    /// index.json never names a missing blob. Returns, for each name that moved, the digest it left.
    @discardableResult
    public func addImage(_ descriptor: Descriptor, names: [Reference]) throws -> [Reference: Digest] {
        try withLock(exclusive: true) { try addImageLocked(descriptor, names: names) }
    }

    /// `addImage` for callers that already hold the exclusive lock.
    public func addImageLocked(_ descriptor: Descriptor, names: [Reference]) throws -> [Reference: Digest] {
        try checkComplete(descriptor)
        var index = try loadIndex()
        var moved: [Reference: Digest] = [:]
        for name in names {
            guard name.digest == nil else {
                throw BaleError(.invalidReference, "\(name): a stored name cannot carry a digest")
            }
            let tagged = name.withDefaultTag()
            if let previous = index.setName(tagged, to: descriptor) { moved[tagged] = previous }
        }
        if names.isEmpty { index.addUnnamed(descriptor) }
        try saveIndex(index)
        return moved
    }

    /// Throws `notFound` naming the first blob of the image graph that is not in the store. In an
    /// index, entries whose manifest is absent are allowed (a layout may hold only some platforms), but
    /// at least one must be present.
    func checkComplete(_ descriptor: Descriptor) throws {
        _ = try readDocument(descriptor)
        try ImageGraph.walk([descriptor], read: { hasBlob($0.digest) ? try readDocument($0) : nil }) { d, node in
            switch node {
            case .index(let index):
                guard index.manifests.isEmpty || index.manifests.contains(where: { hasBlob($0.digest) }) else {
                    throw BaleError(.notFound, "index \(d.digest): none of its \(index.manifests.count) manifests is in the store")
                }
            case .manifest(let manifest):
                for blob in [manifest.config] + manifest.layers {
                    guard let size = blobSize(blob.digest) else {
                        throw BaleError(.notFound, "manifest \(d.digest): blob \(blob.digest) is not in the store")
                    }
                    guard size == blob.size else {
                        throw BaleError(.integrity, "manifest \(d.digest): blob \(blob.digest) has \(size) bytes, the manifest says \(blob.size)")
                    }
                }
            case .leaf:
                break
            }
            return true
        }
    }
}
