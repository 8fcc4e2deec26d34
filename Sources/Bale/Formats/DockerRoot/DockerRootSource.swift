import BaleCore
import BaleIO
import Foundation

/// The images of a Docker data root (see DockerRootFormat.swift for the layout). Reads everything it
/// needs to list the images on first use (configs, layer records, each layer's tar-split for the tar's
/// size); each layer's tar is then rebuilt as it is read (`LayerAssembler`).
public final class DockerRootSource: ImageSource, @unchecked Sendable {
    // Sendable: `scanned` is written once under `lock`; everything else is immutable.
    public let name: String
    private let root: String
    private let reference: String?
    private let lock = NSLock()
    private var scanned: Scanned?

    /// What a scan found: the selected images, their documents, and how to rebuild each layer.
    private struct Scanned {
        let images: [SourceImage]
        let documents: [Digest: Data]
        let layers: [Digest: LayerRecord]
        /// Images that could not be read, by image ID: their error, thrown when their manifest is asked
        /// for, so the copier leaves out only them (see `scan`).
        let broken: [Digest: BaleError]
    }

    /// `reference`: `NAME[:TAG]`, an image ID (full, or a unique prefix of at least 12 hex digits, with
    /// or without `sha256:`), or nil for every image.
    public init(root: String, reference: String?) throws {
        self.root = root
        self.reference = reference
        name = "docker-root:\(root)"
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root + "/image", isDirectory: &isDirectory), isDirectory.boolValue else {
            throw BaleError(.notFound, "\(name): not a Docker data root (no image/ directory)")
        }
    }

    /// A rescue takes what it can: a damaged image is named, the others still copy.
    public var imagesFailAlone: Bool { true }

    public func images() throws -> [SourceImage] { try state().images }

    public func document(_ descriptor: Descriptor) throws -> Data {
        let s = try state()
        if let error = s.broken[descriptor.digest] { throw error }
        guard let data = s.documents[descriptor.digest] else {
            throw BaleError(.notFound, "\(name): no document \(descriptor.digest)")
        }
        try descriptor.verify(data, in: name)
        return data
    }

    public func openBlob(_ descriptor: Descriptor) throws -> any BlobReader {
        let s = try state()
        if let data = s.documents[descriptor.digest] { return DataReader(data) }
        guard let layer = s.layers[descriptor.digest] else {
            throw BaleError(.notFound, "\(name): no blob \(descriptor.digest)")
        }
        // Rebuilding reads and checks many small files: done ahead, while the copier hashes and writes.
        return ReadAheadReader(try LayerAssembler(layer))
    }

    public func close() {}

    private func state() throws -> Scanned {
        try lock.withLock {
            if let scanned { return scanned }
            let made = try scan()
            scanned = made
            return made
        }
    }

    // MARK: Scanning

    /// One image of one driver: its ID and names.
    private struct Found {
        let driver: String
        let id: Digest
        var names: [Reference]
    }

    private func scan() throws -> Scanned {
        let drivers = try FileManager.default.contentsOfDirectory(atPath: root + "/image").sorted().filter {
            FileManager.default.fileExists(atPath: "\(root)/image/\($0)/imagedb/content/sha256")
        }
        var all: [Found] = []
        for driver in drivers { all += try found(driver: driver) }
        var documents: [Digest: Data] = [:]
        var layers: [Digest: LayerRecord] = [:]
        var images: [SourceImage] = []
        var broken: [Digest: BaleError] = [:]
        let selected = try select(all)
        for image in selected {
            do {
                let descriptor = try manifest(of: image, documents: &documents, layers: &layers)
                images.append(SourceImage(descriptor: descriptor, names: image.names))
            } catch let error as BaleError where selected.count > 1 {
                // One damaged image must not hide the others: it is listed under its ID, and reading
                // it gives this error, which the copier reports for it alone.
                broken[image.id] = error
                images.append(SourceImage(descriptor: Descriptor(mediaType: .ociManifest, digest: image.id, size: 0),
                                          names: image.names))
            }
        }
        return Scanned(images: images, documents: documents, layers: layers, broken: broken)
    }

    /// Every image of a driver, tagged ones first (by name), then untagged ones (by ID).
    private func found(driver: String) throws -> [Found] {
        let base = "\(root)/image/\(driver)"
        var names: [Digest: [Reference]] = [:]
        if FileManager.default.fileExists(atPath: base + "/repositories.json") {
            struct Repositories: Decodable { let Repositories: [String: [String: String]]? }
            let path = base + "/repositories.json"
            let data = try RegularFile.read(path, limit: JSON.maxDocumentSize + 1)
            let repositories = try JSON.decode(Repositories.self, from: data, what: "\(name): \(path)")
            for (_, refs) in repositories.Repositories ?? [:] {
                for (text, id) in refs {
                    // Digest references (`name@sha256:…`) record where an image was pulled from; only tags name it.
                    guard let reference = try? Reference(parsing: text), reference.digest == nil,
                          let digest = try? Digest(parsing: id) else { continue }
                    names[digest, default: []].append(reference.withDefaultTag())
                }
            }
        }
        let ids = try FileManager.default.contentsOfDirectory(atPath: base + "/imagedb/content/sha256")
            .compactMap { try? Digest(sha256Hex: $0) }.sorted()
        let tagged = ids.compactMap { id in names[id].map { Found(driver: driver, id: id, names: $0.sorted()) } }
            .sorted { $0.names[0] < $1.names[0] }
        return tagged + ids.filter { names[$0] == nil }.map { Found(driver: driver, id: $0, names: []) }
    }

    /// The images the reference selects: all, one by ID (with its names), or one by name (with that name).
    private func select(_ all: [Found]) throws -> [Found] {
        guard let reference else { return all }
        let hex = reference.hasPrefix("sha256:") ? String(reference.dropFirst(7)) : reference
        if hex.count >= 12, hex.count <= 64, Digest.isLowerHex(hex, length: hex.count) {
            var byID: [Digest: Found] = [:]
            for image in all where image.id.encoded.hasPrefix(hex) && byID[image.id] == nil { byID[image.id] = image }
            if byID.count > 1 {
                throw BaleError(.usage, "\(name): image ID prefix \(hex) is ambiguous (\(byID.count) images)")
            }
            if let one = byID.first?.value { return [one] }
        }
        if reference.hasPrefix("sha256:") {
            throw BaleError(.notFound, "\(name): no image ID \(reference) (an ID prefix needs 12 or more hex digits)")
        }
        let wanted = try Reference(parsing: reference).withDefaultTag()
        guard var image = all.first(where: { $0.names.contains(wanted) }) else {
            throw BaleError(.notFound, "\(name): no image \(wanted) (nor an image ID \(reference))")
        }
        image.names = [wanted]
        return [image]
    }

    /// The image's config (checked against its ID), its layers' records, and the manifest synthesised
    /// for it; all added to `documents` and `layers`. Returns the manifest's descriptor.
    private func manifest(of image: Found, documents: inout [Digest: Data],
                          layers: inout [Digest: LayerRecord]) throws -> Descriptor {
        let label = "image \(image.names.first.map { "\($0) (\(image.id.shortHex))" } ?? image.id.string)"
        let base = "\(root)/image/\(image.driver)"
        let configPath = "\(base)/imagedb/content/sha256/\(image.id.encoded)"
        let config: Data
        do { config = try RegularFile.read(configPath, limit: JSON.maxDocumentSize + 1) } catch {
            throw BaleError(.notFound, "\(name): \(label): its config is gone (\(configPath))", cause: error)
        }
        guard SHA256Hasher.digest(config) == image.id else {
            throw BaleError(.integrity, "\(name): \(label): its config \(configPath) does not hash to the image ID (changed or damaged)")
        }
        let parsed = try JSON.decode(ImageConfig.self, from: config, what: "\(name): \(label): config")
        var chain: Digest?
        var descriptors: [Descriptor] = []
        for (i, diffID) in parsed.rootfs.diffIDs.enumerated() {
            let chainID = chain.map { SHA256Hasher.digest(Data("\($0.string) \(diffID.string)".utf8)) } ?? diffID
            chain = chainID
            let layer: LayerRecord
            if let known = layers[diffID] {
                layer = known
            } else {
                do {
                    layer = try LayerRecord(root: root, driver: image.driver, diffID: diffID, chainID: chainID,
                                            what: "\(label): layer \(i + 1) (\(diffID))")
                } catch var error as BaleError {
                    error.message = "\(name): \(error.message)"
                    throw error
                }
                layers[diffID] = layer
            }
            descriptors.append(Descriptor(mediaType: .ociLayer, digest: diffID, size: layer.size))
        }
        // As a legacy `docker save` archive's manifest is synthesised (Formats/Shared/ArchiveSource.swift):
        // the same bytes, so the same manifest digest either way.
        let manifest = Manifest(mediaType: .ociManifest,
                                config: Descriptor(mediaType: .ociConfig, digest: image.id, size: Int64(config.count)),
                                layers: descriptors)
        let bytes = try JSON.canonical(manifest)
        let digest = SHA256Hasher.digest(bytes)
        documents[image.id] = config
        documents[digest] = bytes
        return Descriptor(mediaType: .ociManifest, digest: digest, size: Int64(bytes.count))
    }
}
