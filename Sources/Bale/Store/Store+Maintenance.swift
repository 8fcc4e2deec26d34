import BaleCore
import BaleIO
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What `prune` removed.
public struct PruneReport: Sendable {
    /// Untagged images removed (`prune --all`).
    public var images: [Digest] = []
    /// Blobs no image uses, removed.
    public var blobs: [Digest] = []
    /// Stale ingest files removed.
    public var ingests = 0
    /// Bytes freed in all.
    public var bytes: Int64 = 0
}

/// What `verify` found.
public struct VerifyReport: Sendable {
    /// Blobs re-hashed.
    public var blobs = 0
    /// Bytes re-hashed.
    public var bytes: Int64 = 0
    /// One error per damaged or missing blob, naming its digest.
    public var damage: [BaleError] = []
    /// The digests of the blobs found damaged or missing (what `verify --repair` fetches back).
    public var damaged = Set<Digest>()
}

extension Store {
    /// Every blob digest reachable from index.json. Throws when a document on the way cannot be read,
    /// so that garbage collection never deletes what a damaged manifest might still need.
    func reachableBlobs(_ index: StoreIndex) throws -> Set<Digest> {
        var reachable = Set<Digest>()
        // A manifest's subject (the image a referrer refers to) is kept too, and what it reaches.
        var roots = index.entries.map(\.descriptor)
        while !roots.isEmpty {
            var subjects: [Descriptor] = []
            try ImageGraph.walk(roots, read: { d in
                guard hasBlob(d.digest), d.size <= Int64(JSON.maxDocumentSize) else { return nil }
                return try readDocument(d)
            }) { d, node in
                guard reachable.insert(d.digest).inserted else { return false }
                if case .manifest(let m) = node, let subject = m.subject, !reachable.contains(subject.digest) {
                    subjects.append(subject)
                }
                return true
            }
            roots = subjects
        }
        return reachable
    }

    /// All blob files in the store, with their digests (files whose names are not digests are skipped).
    func storedBlobs() throws -> [(digest: Digest, path: String)] {
        var found: [(Digest, String)] = []
        for algorithm in [Digest.Algorithm.sha256] {
            let dir = "\(root)/blobs/\(algorithm.rawValue)"
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { continue }
            for name in names.sorted() {
                if let d = try? Digest(parsing: "\(algorithm.rawValue):\(name)") { found.append((d, dir + "/" + name)) }
            }
        }
        return found
    }

    /// Deletes every blob index.json does not reach (callers hold the exclusive lock).
    func collectGarbage(_ index: StoreIndex) throws -> (blobs: [Digest], bytes: Int64) {
        let keep = try reachableBlobs(index)
        var removed: [Digest] = []
        var bytes: Int64 = 0
        for (digest, path) in try storedBlobs() where !keep.contains(digest) {
            let size = blobSize(digest) ?? 0
            if unlink(path) == 0 {
                _ = unlink(unpackedSizePath(digest))
                removed.append(digest)
                bytes += size
            }
        }
        return (removed, bytes)
    }

    /// Removes unreferenced blobs and stale ingest files; with `untagged`, untagged images first.
    public func prune(untagged: Bool) throws -> PruneReport {
        try withLock(exclusive: true) {
            var report = PruneReport()
            var index = try loadIndex()
            if untagged {
                for digest in index.digests where index.names(of: digest).isEmpty && index.onlyUnnamed(digest) {
                    index.removeImage(digest)
                    report.images.append(digest)
                }
                if !report.images.isEmpty { try saveIndex(index) }
            }
            // Every writer holds the exclusive lock while it ingests, so with the lock held here, whatever
            // is left in ingest/ belongs to a command that died.
            if let names = try? FileManager.default.contentsOfDirectory(atPath: ingestDir) {
                for name in names {
                    let path = ingestDir + "/" + name
                    var st = stat()
                    if lstat(path, &st) == 0 { report.bytes += Int64(st.st_size) }
                    if (try? FileManager.default.removeItem(atPath: path)) != nil { report.ingests += 1 }
                }
            }
            let garbage = try collectGarbage(index)
            report.blobs = garbage.blobs
            report.bytes += garbage.bytes
            return report
        }
    }

    /// Re-hashes every blob in the store and checks that every blob an image needs is present with the
    /// size its descriptor says. `deep` also decompresses each layer and compares its DiffID with the
    /// config's `rootfs.diff_ids`.
    public func verify(deep: Bool) throws -> VerifyReport {
        try withLock(exclusive: false) {
            var report = VerifyReport()
            var damaged = Set<Digest>()
            for (digest, path) in try storedBlobs() {
                do {
                    let (actual, size) = try Self.hashFile(path)
                    report.blobs += 1
                    report.bytes += size
                    if actual != digest {
                        damaged.insert(digest)
                        report.damage.append(BaleError(.integrity, "\(digest): content does not match the digest (hashes to \(actual)) in \(path)"))
                    }
                } catch let error as BaleError {
                    damaged.insert(digest)
                    report.damage.append(BaleError(.integrity, "\(digest): cannot be read: \(error.message)"))
                }
            }
            // Every blob an image needs must be there with the size its descriptor gives. A document's
            // problem (damaged, missing, unreadable) is reported once and the walk goes on without it.
            func usable(_ d: Descriptor) -> Bool {
                guard !damaged.contains(d.digest) else { return false }
                guard let size = blobSize(d.digest) else {
                    damaged.insert(d.digest)
                    report.damage.append(BaleError(.integrity, "\(d.digest): missing from the store (\(d.mediaType))"))
                    return false
                }
                guard size == d.size else {
                    damaged.insert(d.digest)
                    report.damage.append(BaleError(.integrity, "\(d.digest): \(size) bytes in the store, descriptor says \(d.size)"))
                    return false
                }
                return true
            }
            var checked = Set<Digest>()
            do {
                try ImageGraph.walk(try loadIndex().entries.map(\.descriptor), read: { d in
                    checked.insert(d.digest)
                    guard usable(d) else { return nil }
                    do {
                        return try readDocument(d)
                    } catch let error as BaleError {
                        report.damage.append(BaleError(.integrity, error.message))
                        return nil
                    }
                }) { d, node in
                    if !checked.contains(d.digest) { _ = usable(d) }
                    if deep, case .manifest(let m) = node {
                        do { try verifyDiffIDs(m, report: &report) } catch let error as BaleError {
                            report.damage.append(BaleError(.integrity, error.message))
                        }
                    }
                    return true
                }
            } catch let error as BaleError {
                report.damage.append(BaleError(.integrity, error.message))
            }
            report.damaged = damaged
            return report
        }
    }

    /// SHA-256 and size of a file, read once in 1 MiB chunks.
    static func hashFile(_ path: String) throws -> (Digest, Int64) { try BlobFile.hashFile(path) }
}

extension Store {
    /// Decompresses each layer of `manifest` and compares its DiffID with the config's.
    func verifyDiffIDs(_ manifest: Manifest, report: inout VerifyReport) throws {
        let config = try JSON.decode(ImageConfig.self, from: try readDocument(manifest.config),
                                     what: "config \(manifest.config.digest)")
        guard config.rootfs.diffIDs.count == manifest.layers.count else {
            report.damage.append(BaleError(.integrity, "\(manifest.config.digest): config lists \(config.rootfs.diffIDs.count) diff_ids for \(manifest.layers.count) layers"))
            return
        }
        for (layer, expected) in zip(manifest.layers, config.rootfs.diffIDs) where hasBlob(layer.digest) {
            let actual = try LayerDigest.diffID(ofFile: blobPath(layer.digest))
            if actual != expected {
                report.damage.append(BaleError(.integrity, "\(layer.digest): uncompressed content hashes to \(actual), config says \(expected)"))
            }
        }
    }
}
