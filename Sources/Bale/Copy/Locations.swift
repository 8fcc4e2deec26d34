import BaleCore
import BaleIO
import Foundation

/// An image a source holds: its top-level descriptor (a manifest or an index) and its names.
public struct SourceImage: Sendable, Hashable {
    public var descriptor: Descriptor
    /// Normalised names with tags; empty for an untagged image.
    public var names: [Reference]
    public init(descriptor: Descriptor, names: [Reference]) {
        self.descriptor = descriptor
        self.names = names
    }
}

/// A stream of a blob's bytes: BaleIO's `ByteSource` (so it feeds a `TarReader`, a gunzip or a hashing
/// copy as it is) that is a reference and can be closed early. `read` returns 0 at the end.
public protocol BlobReader: AnyObject, ByteSource {
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
    func close()
}

/// A readable location (the store, an archive, a layout).
///
/// Contract:
/// - `images()` lists what the location holds, in the location's order (an archive's order; the store's
///   index order). A source that has no manifest bytes of its own (a legacy docker-archive) synthesises
///   them deterministically, so the same input always gives the same digests.
/// - `document` returns the exact bytes of a small JSON blob (manifest, index, config), verified against
///   the descriptor's digest and size, and capped at `JSON.maxDocumentSize`.
/// - `openBlob` streams any blob's bytes. The **caller** verifies size and digest while copying.
/// - `document` and `openBlob` may be called from several threads at once.
/// - `close()` last; it removes whatever the source staged.
public protocol ImageSource: AnyObject, Sendable {
    /// A short description for messages (`docker-archive:app.tar`).
    var name: String { get }
    func images() throws -> [SourceImage]
    func document(_ descriptor: Descriptor) throws -> Data
    func openBlob(_ descriptor: Descriptor) throws -> any BlobReader
    /// Whether an index this source names is the image as kept (the store), so that a copy keeps it
    /// whole unless a platform is asked for; elsewhere an index is a menu and a copy takes the host's
    /// platform by default.
    var holdsWholeIndexes: Bool { get }
    /// A file that holds the blob's bytes as they are, for a destination that reads layers in place
    /// (`rootfs:` flattens layers with two passes over each); nil when the source keeps none (the copier
    /// then stages the blob).
    func blobFile(_ descriptor: Descriptor) -> String?
    /// What the source noticed while it was read (a rootfs's skipped sockets, …), for the user.
    var warnings: [String] { get }
    /// What refers to the manifest or index `digest` (OCI 1.1 referrers and cosign attachments; see
    /// `Referrer`), each a document `document` gives: the one place a copy learns of them. Locations
    /// that cannot hold any answer none.
    func referrers(of digest: Digest) throws -> [Referrer]
    /// Whether one image that cannot be read leaves the others to be copied (a stopped engine's data
    /// root, where a rescue takes what it can), rather than failing the whole copy and leaving the
    /// destination as it was (every other location: bad input loses nothing and changes nothing).
    var imagesFailAlone: Bool { get }
    func close()
}

extension ImageSource {
    public var holdsWholeIndexes: Bool { false }
    public func blobFile(_ descriptor: Descriptor) -> String? { nil }
    public var warnings: [String] { [] }
    public func referrers(of digest: Digest) throws -> [Referrer] { [] }
    public var imagesFailAlone: Bool { false }
}

/// What a destination wants, so the copier can adapt.
public struct DestinationProperties: Sendable {
    /// Whether Docker-typed manifests and configs may be written as they are. When false (OCI layouts,
    /// which skopeo and umoci read only when OCI-typed), the copier converts them to OCI types; the
    /// config bytes, and so the image ID, stay the same.
    public var acceptsDockerTypes: Bool
    /// Whether `putBlob` may be called from several threads at once (a tar stream may not).
    public var concurrentPuts: Bool

    public init(acceptsDockerTypes: Bool, concurrentPuts: Bool) {
        self.acceptsDockerTypes = acceptsDockerTypes
        self.concurrentPuts = concurrentPuts
    }
}

/// A writable location.
///
/// Contract, in call order:
/// 1. `putBlob` for layers and configs, `putBlob` for manifests children first, then indexes. Each put
///    verifies size and digest while writing (to a temp file or a tar member); on any error nothing of that
///    blob is left. `putBlob` with `expected == nil` (a streaming source that learns a digest only by
///    reading) returns the digest it computed.
/// 2. `addImage` for each top-level descriptor and its names.
/// 3. `commit()` makes everything visible at once (index.json, manifest.json, the archive under its final
///    name); `abort()` instead leaves the location as it was. Exactly one of the two is called.
public protocol ImageDestination: AnyObject, Sendable {
    var name: String { get }
    var properties: DestinationProperties { get }
    /// Whether the destination already holds this blob, intact: a file of the wrong size (or, where the
    /// destination was asked to, the wrong hash) is not held, and is replaced when put. The copier skips
    /// what is held. `size` nil: whatever its size (an incremental archive's expectations give none).
    func contains(_ digest: Digest, size: Int64?) -> Bool
    /// Where a blob that `contains` found came from when it was not held before it was asked: a
    /// registry mounts a blob from another repository of the registry (the repository's name); nil
    /// elsewhere.
    func origin(of digest: Digest) -> String?
    /// Writes a blob from `reader`, checking it against `expected` (digest and size) when given.
    @discardableResult
    func putBlob(_ reader: any BlobReader, expected: Descriptor?) throws -> (digest: Digest, size: Int64)
    /// See the extension: incremental archives.
    func expect(_ blobs: [Digest: String]) throws
    /// Writes a small document (manifest, index, config) whose bytes the copier holds. Destinations that
    /// must read documents back (to write manifest.json) keep them.
    func putDocument(_ bytes: Data, descriptor: Descriptor) throws
    /// Records a top-level image and its names (may be empty).
    func addImage(_ image: SourceImage) throws
    /// Whether the destination keeps referrers (`addReferrer`); the copier leaves them out, with a
    /// warning, where it does not.
    var holdsReferrers: Bool { get }
    /// Records a referrer of `image` (called after `addImage(image)`, its documents and blobs put like
    /// an image's): an OCI 1.1 referrer is kept so its subject's referrers list it, a cosign attachment
    /// under its tag in each repository the image is named in.
    func addReferrer(_ referrer: Referrer, of image: SourceImage) throws
    func commit() throws
    func abort()
}

/// Thrown by `putBlob` when the destination lost the bytes part-way and cannot take the rest (a
/// registry upload cut with its connection: the session cannot be resumed). The copier opens the blob
/// again and puts it once more, `attempts` times in all.
public struct PutInterrupted: Error, CustomStringConvertible {
    public static let attempts = 4
    public let cause: any Error
    public init(cause: any Error) { self.cause = cause }
    public var description: String { String(describing: cause) }
}

/// A destination that takes an image's layers as files, in order, rather than blobs: `rootfs:`, which
/// flattens them (a tar output reads each layer twice: headers first, then the data that survives).
/// The copier hands it the source's own files where it has them, and stages the others; it then calls
/// `commit` or `abort` as for any destination.
public protocol FlatteningDestination: ImageDestination {
    /// Flattens one image: its layers bottom first, each a file holding the blob's bytes. `diffIDs`
    /// gives each layer's DiffID from the config: the uncompressed bytes are read anyway, so a layer
    /// that differs is refused. Returns the members refused as unsafe (skipped, not fatal) and warnings.
    func flatten(layers: [(digest: Digest, path: String)], diffIDs: [Digest: Digest]) throws -> (refused: [RefusedMember], warnings: [String])
}

/// A `BlobReader` over bytes in memory.
public final class DataReader: BlobReader {
    private let data: Data
    private var offset = 0
    public init(_ data: Data) { self.data = data }
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, data.count - offset)
        if n > 0 {
            data.withUnsafeBytes { raw in
                buffer.baseAddress!.copyMemory(from: raw.baseAddress! + offset, byteCount: n)
            }
        }
        offset += n
        return n
    }
    public func close() {}
}

extension ImageDestination {
    public func origin(of digest: Digest) -> String? { nil }

    public var holdsReferrers: Bool { false }

    public func addReferrer(_ referrer: Referrer, of image: SourceImage) throws {
        throw BaleError(.unsupported, "\(name) cannot hold referrers")
    }

    /// Records that the destination will not hold these blobs but expects whoever reads it to have
    /// them (an incremental archive); called before any blob is put. Only archives support it.
    public func expect(_ blobs: [Digest: String]) throws {
        throw BaleError(.unsupported, "\(name): only archives can leave out blobs (--since)")
    }

    public func putDocument(_ bytes: Data, descriptor: Descriptor) throws {
        try putBlob(DataReader(bytes), expected: descriptor)
    }
}

/// Somewhere a streaming source can put blobs as they pass, before it knows which it needs, and read
/// them back. The store and directory layouts are their own sinks (what is not needed is removed at
/// commit); for a tar destination the copier gives a temporary directory.
public protocol BlobSink: AnyObject, Sendable {
    /// Stores a blob, verified against `expected` when given; returns its digest and size.
    func put(_ reader: any BlobReader, expected: Descriptor?) throws -> (digest: Digest, size: Int64)
    /// Stores the blob `produce` writes into the sink it is given. `produce` returns the digest and size
    /// of what it wrote, which it computed on the way (the parallel compressor hashes its output anyway,
    /// so no byte is hashed twice); the blob is named by that digest. On any error nothing is left.
    func putProduced(_ produce: (any ByteSink) throws -> (digest: Digest, size: Int64)) throws -> (digest: Digest, size: Int64)
    /// Opens a blob put earlier.
    func open(_ digest: Digest) throws -> any BlobReader
    /// The file holding a blob put earlier (see `ImageSource.blobFile`).
    func file(_ digest: Digest) -> String?
    /// Whether the sink already holds a blob, intact as `ImageDestination.contains` says (an incremental
    /// archive's expected blobs must be there).
    func contains(_ digest: Digest, size: Int64?) -> Bool
    /// Notes a layer's uncompressed size, learnt while its DiffID was checked (the store keeps it for
    /// `VirtualSize`; other sinks ignore it).
    func recordUnpackedSize(_ size: Int64, of digest: Digest)
}

extension BlobSink {
    public func recordUnpackedSize(_ size: Int64, of digest: Digest) {}
}

/// A source that can only read its input once, front to back (an archive, possibly on a pipe).
/// `stage(into:)` is called once, before `images()`: it reads the whole input, putting blobs into
/// `sink` as they pass and keeping documents in memory; afterwards the source serves from them.
public protocol StreamingImageSource: ImageSource {
    func stage(into sink: any BlobSink) throws
}

/// A blob read ahead on a thread of its own, for sources whose reading costs real work (docker-root
/// rebuilds a layer from many small files, checking each one's CRC-64): that work overlaps the
/// copier's hashing and writing instead of alternating with it. At most about 4 MiB is read ahead.
/// `close` stops the reading thread and waits for it, so the base reader is closed when it returns.
public final class ReadAheadReader: BlobReader, @unchecked Sendable {
    // @unchecked Sendable: `base` is used by the reading thread only, until `close` has joined it.
    private let channel = ByteChannel(capacity: 4 << 20)
    private let base: any BlobReader
    private let thread = DispatchGroup()
    private var closed = false

    public init(_ base: any BlobReader) {
        self.base = base
        thread.enter()
        let worker = Thread { [self] in
            defer { self.thread.leave() }
            do {
                while true {
                    let block = ByteBlock(capacity: 1 << 20)
                    let ended = try block.fill { try self.base.read(into: $0) }
                    try self.channel.send(block)
                    if ended { break }
                }
                self.channel.finish()
            } catch {
                self.channel.fail(error)
            }
            self.base.close()
        }
        worker.start()
    }

    deinit { close() }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try channel.read(into: buffer)
    }

    public func close() {
        guard !closed else { return }
        closed = true
        channel.cancel()
        thread.wait()
    }
}
