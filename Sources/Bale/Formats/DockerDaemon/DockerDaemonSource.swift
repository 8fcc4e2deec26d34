import BaleCore
import BaleIO
import Foundation

/// The images of a running Docker engine, read as `docker save` gives them: one `GET /images/get`
/// for every image wanted (several names in one request), whose tar streams through the docker-archive
/// reader (`ArchiveSource`) in one pass, as `docker save | bale load` would, with no copy of the archive.
/// Layers go straight into the destination's sink (or the copier's staging directory); IDs are the
/// engine's, since configs keep their bytes.
public final class DockerDaemonSource: StreamingImageSource, @unchecked Sendable {
    // Sendable: `archive` is set once, under `lock`, by `stage`; afterwards it is only read.
    public let name: String
    private let engine: DockerEngine
    private let reference: String?
    private let lock = NSLock()
    private var archive: ArchiveSource?

    /// `reference`: `NAME[:TAG]`, an image ID or ID prefix, or nil for every image of the engine.
    init(engine: DockerEngine, reference: String?) {
        self.engine = engine
        self.reference = reference
        name = engine.location
    }

    /// What to ask `docker save` for: the one name or ID given, else every tag of the engine and the ID
    /// of every untagged image (docker save of a tagged image by ID would drop its tags).
    private func names() throws -> [String] {
        if let reference { return [reference] }
        var names: [String] = []
        for image in try engine.images() {
            let tags = (image.RepoTags ?? []).filter { $0 != "<none>:<none>" }
            names += tags.isEmpty ? [image.Id] : tags
        }
        guard !names.isEmpty else { throw BaleError(.notFound, "\(name): the engine holds no images") }
        return names
    }

    public func stage(into sink: any BlobSink) throws {
        let response = try engine.save(names())
        let archive = try ArchiveSource(source: ResponseBodySource(response: response, location: name),
                                        reference: nil, name: name)
        defer { response.discard() }
        try archive.stage(into: sink)
        lock.withLock { self.archive = archive }
    }

    private func staged() throws -> ArchiveSource {
        guard let archive = lock.withLock({ archive }) else {
            throw BaleError(.internal, "\(name): the engine's images were not read before use")
        }
        return archive
    }

    public func images() throws -> [SourceImage] { try staged().images() }
    public func document(_ descriptor: Descriptor) throws -> Data { try staged().document(descriptor) }
    public func openBlob(_ descriptor: Descriptor) throws -> any BlobReader { try staged().openBlob(descriptor) }
    public func blobFile(_ descriptor: Descriptor) -> String? { (try? staged())?.blobFile(descriptor) }
    public func close() { lock.withLock { archive?.close(); archive = nil } }
}
