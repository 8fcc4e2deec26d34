import Bale
import BaleCore
import BaleIO
import Foundation
import Testing

/// A copy of several images in which some cannot be read. From a source whose images fail alone
/// (docker-root), the others are copied and committed, each failing image is named in one line of the
/// error, and none of it is recorded at the destination; from any other, nothing is.
@Suite struct CopierPartialFailureTests {
    /// A source as `base`, but whose images fail alone, as docker-root's do.
    final class Rescue: ImageSource, @unchecked Sendable {
        let base: any ImageSource
        init(_ base: any ImageSource) { self.base = base }
        var name: String { base.name }
        func images() throws -> [SourceImage] { try base.images() }
        func document(_ descriptor: Descriptor) throws -> Data { try base.document(descriptor) }
        func openBlob(_ descriptor: Descriptor) throws -> any BlobReader { try base.openBlob(descriptor) }
        var holdsWholeIndexes: Bool { base.holdsWholeIndexes }
        func blobFile(_ descriptor: Descriptor) -> String? { base.blobFile(descriptor) }
        var imagesFailAlone: Bool { true }
        func close() { base.close() }
    }

    /// Three images, two of which share a damaged layer; returns the source and the good image.
    func damagedSource() throws -> (StoreFixture, good: (descriptor: Descriptor, id: Digest), bad: Data) {
        let source = try StoreFixture()
        let good = try source.image(layers: [Data("shared".utf8), Data("good".utf8)], names: ["good:1"])
        let badLayer = Data("bad layer".utf8)
        try source.image(layers: [Data("shared".utf8), badLayer], names: ["hurt-layer:1"])
        // A second image sharing the damaged layer is left out too.
        try source.image(layers: [badLayer, Data("more".utf8)], names: ["hurt-too:1"])
        try damage(source, SHA256Hasher.digest(badLayer))
        return (source, good, badLayer)
    }

    @Test func fromAnyOtherSourceOneBadImageLeavesTheDestinationAsItWas() throws {
        let (source, _, _) = try damagedSource()
        let destination = try StoreFixture()
        let before = destination.indexBytes
        let from = try StoreSource(store: source.store, selecting: ["good:1", "hurt-layer:1", "hurt-too:1"])
        #expect(throws: BaleError.self) {
            try Copier(options: CopyOptions(jobs: 2)).copy(from: from, to: try StoreDestination(store: destination.store))
        }
        #expect(destination.indexBytes == before)
    }

    /// Overwrites a blob of the store with other bytes of the same size (damage on disk).
    func damage(_ fixture: StoreFixture, _ digest: Digest) throws {
        let path = fixture.store.blobPath(digest)
        let size = try #require(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        try FileManager.default.removeItem(atPath: path)
        #expect(FileManager.default.createFile(atPath: path, contents: Data(repeating: 0x5a, count: size)))
    }

    @Test func fromARescueSourceTheOtherImagesStillCopy() throws {
        let (source, good, badLayer) = try damagedSource()
        let destination = try StoreFixture()
        let from = Rescue(try StoreSource(store: source.store, selecting: ["good:1", "hurt-layer:1", "hurt-too:1"]))
        let to = try StoreDestination(store: destination.store)
        var thrown: (any Error)?
        do {
            _ = try Copier(options: CopyOptions(jobs: 2)).copy(from: from, to: to)
        } catch {
            thrown = error
        }
        let error = try #require(thrown as? ImagesNotCopied, "a copy with failing images must end in ImagesNotCopied, not \(String(describing: thrown))")
        let lines = error.failures.map(\.message)
        #expect(lines.count == 2, "\(error)")
        #expect(lines.contains { $0.contains("hurt-layer:1") && $0.contains(SHA256Hasher.digest(badLayer).string) }, "\(error)")
        #expect(lines.contains { $0.contains("hurt-too:1") && $0.contains(SHA256Hasher.digest(badLayer).string) }, "\(error)")
        #expect(error.report.images.count == 1)

        // Only the good image is in the destination, whole.
        let (images, problems) = try destination.store.images()
        #expect(problems.isEmpty)
        #expect(images.map(\.id) == [good.id])
        #expect(try destination.store.verify(deep: false).damage.isEmpty)
    }

    @Test func aSingleFailingImageFailsTheCopyAndLeavesTheDestinationAlone() throws {
        let source = try StoreFixture()
        let layer = Data("only layer".utf8)
        try source.image(layers: [layer], names: ["alone:1"])
        try damage(source, SHA256Hasher.digest(layer))
        let destination = try StoreFixture()
        let before = destination.indexBytes
        #expect(throws: BaleError.self) {
            try Copier().copy(from: try StoreSource(store: source.store, selecting: ["alone:1"]),
                              to: try StoreDestination(store: destination.store))
        }
        #expect(destination.indexBytes == before)
    }
}
