import BaleCore
import BaleIO
import Foundation
import Testing

@Suite struct AtomicFileTests {
    @Test func commitPublishesTheBytesAndLeavesNoTempFile() throws {
        let dir = try TemporaryDirectory()
        let file = try AtomicFile(directory: dir.path)
        #expect(FileManager.default.fileExists(atPath: file.temporaryPath))
        try file.write(Data("hello ".utf8))
        try file.write(Data("world".utf8))
        #expect(file.byteCount == 11)
        try file.commit(to: dir.file("final"))
        #expect(try dir.contents() == ["final"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.file("final"))) == Data("hello world".utf8))
        let mode = try FileManager.default.attributesOfItem(atPath: dir.file("final"))[.posixPermissions] as? Int
        #expect(mode.map { $0 & 0o600 } == 0o600)
        // The object is settled: a later discard must not remove the committed file.
        file.discard()
        #expect(try dir.contents() == ["final"])
    }

    @Test func commitReplacesAnExistingFile() throws {
        let dir = try TemporaryDirectory()
        try Data("old".utf8).write(to: URL(fileURLWithPath: dir.file("index.json")))
        let file = try AtomicFile(directory: dir.path)
        try file.write(Data("new".utf8))
        try file.commit(to: dir.file("index.json"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.file("index.json"))) == Data("new".utf8))
        #expect(try dir.contents() == ["index.json"])
    }

    @Test func discardRemovesTheTempFile() throws {
        let dir = try TemporaryDirectory()
        let file = try AtomicFile(directory: dir.path)
        try file.write(Data(repeating: 7, count: 100))
        file.discard()
        file.discard()
        #expect(try dir.contents().isEmpty)
        #expect(throws: BaleError.self) { try file.write(Data([1])) }
        #expect(throws: BaleError.self) { try file.commit(to: dir.file("x")) }
        #expect(try dir.contents().isEmpty)
    }

    @Test func releasingWithoutCommitDiscards() throws {
        let dir = try TemporaryDirectory()
        do {
            let file = try AtomicFile(directory: dir.path, prefix: "ingest-")
            try file.write(Data("partial".utf8))
            #expect(file.temporaryPath.hasPrefix(dir.path + "/ingest-"))
            #expect(try dir.contents().count == 1)
        }
        #expect(try dir.contents().isEmpty)
    }

    @Test func failedCommitLeavesNothing() throws {
        let dir = try TemporaryDirectory()
        let file = try AtomicFile(directory: dir.path)
        try file.write(Data("x".utf8))
        let error = #expect(throws: BaleError.self) { try file.commit(to: dir.file("missing/dir/final")) }
        #expect(error?.code == .io)
        #expect(try dir.contents().isEmpty)
    }

    @Test func missingDirectoryFails() {
        let error = #expect(throws: BaleError.self) { try AtomicFile(directory: "/nonexistent-bale-dir") }
        #expect(error?.message.contains("/nonexistent-bale-dir") == true)
    }

    @Test func atomicFileIsAByteSinkForTheTarWriter() throws {
        let dir = try TemporaryDirectory()
        let file = try AtomicFile(directory: dir.path)
        let digesting = DigestingSink(file)
        let writer = try TarWriter(sink: digesting, name: "layer.tar")
        try writer.writeFile(path: "a", data: Data("abc".utf8))
        try writer.finish()
        try file.commit(to: dir.file("layer.tar"))
        let bytes = try Data(contentsOf: URL(fileURLWithPath: dir.file("layer.tar")))
        #expect(digesting.digest == SHA256Hasher.digest(bytes))
        #expect(digesting.byteCount == Int64(bytes.count))
    }
}
