import BaleCore
import BaleIO
import Foundation

/// What `bale verify --archive` found in one archive (or split set).
public struct ArchiveCheckReport: Sendable {
    /// The archive as named.
    public var archive: String
    /// One line per problem, naming the archive, the image and the digest.
    public var problems: [String] = []
    /// What is worth knowing but not wrong: what an incremental archive expects from elsewhere and
    /// whether the store holds it; platforms an index names that the archive does not carry.
    public var notes: [String] = []
    /// Images and blobs checked.
    public var images = 0
    public var blobs = 0
}

/// `bale verify --archive`: checks an archive without loading it. The archive is read by the one
/// archive reader (`ArchiveSource`), as a load reads it, into a sink that hashes every blob and keeps
/// only the small ones (`CheckingSink`: no temporary copy of the layers, nothing in the store), so every
/// check a load makes is made here (each blob member against the digest its name gives, each layer's
/// content against the config's DiffIDs, manifest.json against the members, every part of a split set
/// against its sum); then each image's graph is walked for completeness: every manifest, config and
/// layer it names is in the archive with the size its descriptor gives, or is one that an incremental
/// archive expects.
///
/// The reader stops at the first damaged member (what follows in a tar stream cannot be trusted to be
/// where the damaged one says), so such an archive gives that one problem; the completeness walk lists
/// every missing blob.
public enum ArchiveCheck {
    /// Checks the archive at `path` (`NAME`, `NAME.000` or `NAME.sha256` for a split set); `store`, when
    /// given, is asked whether it holds what an incremental archive expects. Throws only when the
    /// check itself cannot run (no temporary directory); the archive's problems are in the report.
    public static func check(_ path: String, store: Store?, temporaryDirectory: String = NSTemporaryDirectory()) throws -> ArchiveCheckReport {
        var report = ArchiveCheckReport(archive: path)
        let sink = CheckingSink(try TemporaryBlobSink(parent: temporaryDirectory))
        let source: ArchiveSource
        do {
            source = try ArchiveSource(path: path, reference: nil, name: path)
            try source.stage(into: sink)
        } catch let error as BaleError {
            report.problems.append(error.message)
            return report
        }
        defer { source.close() }
        do {
            let images = try source.images()
            let expected = try source.expectations()
            report.images = images.count
            for (digest, origin) in expected.sorted(by: { $0.key < $1.key }) {
                let held = store.map { $0.hasBlob(digest) ? "the store holds it" : "the store lacks it" } ?? "no store to look in"
                report.notes.append("\(path): incremental: expects \(digest) (carried by \(origin)); \(held)")
            }
            for image in images {
                walk(image, source: source, sink: sink, expected: expected, report: &report)
            }
        } catch let error as BaleError {
            report.problems.append(error.message.hasPrefix(path) ? error.message : "\(path): \(error.message)")
        }
        withExtendedLifetime(sink) {}
        return report
    }

    /// Walks one image: documents are read (and so verified) through the source; a layer or config
    /// must be in the archive with its descriptor's size, unless expected from elsewhere.
    private static func walk(_ image: SourceImage, source: ArchiveSource, sink: CheckingSink,
                             expected: [Digest: String], report: inout ArchiveCheckReport) {
        let top = image.names.first.map { "image \($0.familiar)" } ?? "image \(image.descriptor.digest)"
        var problems: [String] = []
        var notes: [String] = []
        var blobs = 0
        /// The size of a blob the archive carries (or, for a legacy archive's synthesised manifest and
        /// in-memory config, the reader holds), nil when it does not.
        func carried(_ d: Descriptor) -> Int64? {
            sink.size(of: d.digest) ?? (try? source.document(d)).map { Int64($0.count) }
        }
        do {
            try ImageGraph.walk([image.descriptor], read: { d in
                guard carried(d) != nil else { return nil }
                do {
                    return try source.document(d)
                } catch let error as BaleError {
                    problems.append("\(top): \(error.message)")
                    return nil
                }
            }) { d, node in
                switch node {
                case .index(let index):
                    blobs += 1
                    for child in index.manifests where carried(child) == nil {
                        let platform = child.platform.map { " (\($0))" } ?? ""
                        notes.append("\(source.name): \(top): index \(d.digest) names \(child.digest)\(platform), which the archive does not carry")
                    }
                    return true
                case .manifest(let manifest):
                    blobs += 1
                    for blob in [manifest.config] + manifest.layers {
                        if expected[blob.digest] != nil { continue }
                        guard let size = carried(blob) else {
                            problems.append("\(source.name): \(top): manifest \(d.digest): \(blob.digest) (\(blob.mediaType)) is missing from the archive")
                            continue
                        }
                        blobs += 1
                        if size != blob.size {
                            problems.append("\(source.name): \(top): \(blob.digest): \(size) bytes in the archive, the manifest gives \(blob.size)")
                        }
                    }
                    return false
                case .leaf:
                    return false
                }
            }
        } catch let error as BaleError {
            problems.append("\(source.name): \(top): \(error.message)")
        } catch {
            problems.append("\(source.name): \(top): \(error)")
        }
        report.problems += problems
        report.notes += notes
        report.blobs += blobs
    }
}

/// The sink of a check: every blob is hashed as it passes (and checked against the digest its member
/// name gives, as a load checks it); only blobs small enough to be documents are kept (in a temporary
/// directory: the reader may read them back), a larger one's bytes are dropped and its size noted, so a
/// check needs no room for the layers. It answers "held" for the blobs an incremental archive expects,
/// so the reader goes on past its expectation list (a load refuses there unless the store holds them);
/// the check lists them as notes instead.
final class CheckingSink: BlobSink, @unchecked Sendable {
    // Sendable: `sizes` is guarded by `lock`; the small-blob directory takes concurrent puts.
    private let small: TemporaryBlobSink
    private let lock = NSLock()
    private var sizes: [Digest: Int64] = [:]

    init(_ small: TemporaryBlobSink) { self.small = small }

    /// The size of a blob that passed, nil when none with this digest did.
    func size(of digest: Digest) -> Int64? { lock.withLock { sizes[digest] } }

    func put(_ reader: any BlobReader, expected: Descriptor?) throws -> (digest: Digest, size: Int64) {
        let cap = JSON.maxDocumentSize
        var kept: Data? = Data()
        let result = try HashingCopy.copy(from: reader, to: ClosureByteSink { bytes in
            guard let held = kept else { return }
            kept = held.count + bytes.count <= cap ? held + bytes : nil
        }, expected: expected.map { ($0.digest, $0.size) }, name: expected.map { "\($0.digest)" } ?? "blob")
        if let kept {
            try small.put(DataReader(kept), expected: Descriptor(mediaType: "application/octet-stream",
                                                                 digest: result.digest, size: result.size))
        }
        lock.withLock { sizes[result.digest] = result.size }
        return result
    }

    func putProduced(_ produce: (any ByteSink) throws -> (digest: Digest, size: Int64)) throws -> (digest: Digest, size: Int64) {
        let result = try small.putProduced(produce)
        lock.withLock { sizes[result.digest] = result.size }
        return result
    }

    func open(_ digest: Digest) throws -> any BlobReader { try small.open(digest) }
    func file(_ digest: Digest) -> String? { small.file(digest) }
    func contains(_ digest: Digest, size: Int64?) -> Bool { true }
}
