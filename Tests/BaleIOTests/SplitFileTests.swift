import BaleCore
import BaleIO
import Foundation
import Testing

/// The split archive writer (`SplitFileSink`) and reader (`SplitArchive`).
@Suite struct SplitFileTests {
    private func bytes(_ count: Int, seed: UInt8 = 0) -> Data {
        Data((0 ..< count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ Int(seed)) })
    }

    private func contents(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

    private func sumLines(_ dir: TemporaryDirectory, _ base: String) -> [String] {
        String(decoding: contents(dir.file(base + ".sha256")) ?? Data(), as: UTF8.self)
            .split(separator: "\n").map(String.init)
    }

    @Test func partsAreExactlySizeAndAWriteSpansThem() throws {
        let dir = try TemporaryDirectory()
        let sink = try SplitFileSink(path: dir.file("a.tar"), partSize: 10)
        let data = bytes(25)
        try sink.write(data.prefix(4))      // inside part 0
        try sink.write(data[4 ..< 23])      // ends part 0, fills part 1, into part 2
        try sink.write(data[23...])
        #expect(try dir.contents().filter { !$0.hasPrefix(".") }.isEmpty, "nothing under a final name before commit")
        try sink.commit()
        #expect(try dir.contents() == ["a.tar.000", "a.tar.001", "a.tar.002", "a.tar.sha256"])
        #expect(contents(dir.file("a.tar.000")) == data.prefix(10))
        #expect(contents(dir.file("a.tar.001")) == data[10 ..< 20])
        #expect(contents(dir.file("a.tar.002")) == data[20...])
        #expect(sumLines(dir, "a.tar") == [0, 1, 2].map { n in
            "\(SHA256Hasher.digest(data[(n * 10) ..< min(25, n * 10 + 10)]).encoded)  a.tar.00\(n)"
        })
    }

    /// Parts of several hashing blocks (1 MiB), written in odd sizes: each part's bytes and sum are right.
    @Test func partsLargerThanAHashingBlockAreSummedRight() throws {
        let dir = try TemporaryDirectory()
        let partSize = 3 << 19   // 1.5 MiB
        let data = bytes(4 << 20 + 12_345, seed: 9)
        let sink = try SplitFileSink(path: dir.file("g"), partSize: Int64(partSize))
        var offset = 0
        for size in [1, 700_000, 1 << 20, 3, 2_000_001] where offset < data.count {
            let end = min(data.count, offset + size)
            try sink.write(data[offset ..< end])
            offset = end
        }
        try sink.write(data[offset...])
        try sink.commit()
        #expect(try dir.contents() == ["g.000", "g.001", "g.002", "g.sha256"])
        for n in 0 ..< 3 {
            let part = data[(n * partSize) ..< min(data.count, (n + 1) * partSize)]
            #expect(contents(dir.file("g.00\(n)")) == part)
            #expect(sumLines(dir, "g")[n] == "\(SHA256Hasher.digest(part).encoded)  g.00\(n)")
        }
    }

    @Test func aStreamEndingOnABoundaryHasNoEmptyLastPart() throws {
        let dir = try TemporaryDirectory()
        let sink = try SplitFileSink(path: dir.file("b"), partSize: 8)
        try sink.write(bytes(16))
        try sink.commit()
        #expect(try dir.contents() == ["b.000", "b.001", "b.sha256"])
        #expect(contents(dir.file("b.001"))?.count == 8)
        #expect(sumLines(dir, "b").count == 2)
    }

    @Test func discardLeavesNothingAndAnOlderSetUntouched() throws {
        let dir = try TemporaryDirectory()
        try Data("old".utf8).write(to: URL(fileURLWithPath: dir.file("c.000")))
        try Data("sums".utf8).write(to: URL(fileURLWithPath: dir.file("c.sha256")))
        let sink = try SplitFileSink(path: dir.file("c"), partSize: 4)
        try sink.write(bytes(10))
        sink.discard()
        #expect(try dir.contents() == ["c.000", "c.sha256"])
        #expect(contents(dir.file("c.000")) == Data("old".utf8))
        #expect(throws: BaleError.self) { try sink.commit() }
    }

    @Test func aLongerOlderSetLosesItsStaleParts() throws {
        let dir = try TemporaryDirectory()
        for n in 0 ..< 5 { try Data("old".utf8).write(to: URL(fileURLWithPath: dir.file("d.00\(n)"))) }
        let sink = try SplitFileSink(path: dir.file("d"), partSize: 4)
        try sink.write(bytes(6))
        try sink.commit()
        #expect(try dir.contents() == ["d.000", "d.001", "d.sha256"])
        try SplitArchive(sumFile: dir.file("d.sha256")).check()
    }

    @Test func theSetIsFoundByAnyNameAndReadAsOneStream() throws {
        let dir = try TemporaryDirectory()
        let data = bytes(1000, seed: 3)
        let sink = try SplitFileSink(path: dir.file("e.tar"), partSize: 300)
        try sink.write(data)
        try sink.commit()
        for name in ["e.tar", "e.tar.000", "e.tar.sha256"] {
            let set = try #require(try SplitArchive.find(dir.file(name)), "\(name)")
            #expect(set.parts.map { ($0.path as NSString).lastPathComponent } == ["e.tar.000", "e.tar.001", "e.tar.002", "e.tar.003"])
            try set.check(jobs: 2)
            var reader = set.reader()
            var read = Data()
            var buffer = [UInt8](repeating: 0, count: 128)
            while case let n = try buffer.withUnsafeMutableBytes({ try reader.read(into: $0) }), n > 0 {
                read.append(contentsOf: buffer[0 ..< n])
            }
            #expect(read == data)
        }
        try Data("plain".utf8).write(to: URL(fileURLWithPath: dir.file("plain.tar")))
        #expect(try SplitArchive.find(dir.file("plain.tar")) == nil)
    }

    @Test func aDamagedAndAMissingPartAreBothNamed() throws {
        let dir = try TemporaryDirectory()
        let sink = try SplitFileSink(path: dir.file("f"), partSize: 10)
        try sink.write(bytes(30))
        try sink.commit()
        var part = try #require(contents(dir.file("f.001")))
        part[3] ^= 0x01
        try part.write(to: URL(fileURLWithPath: dir.file("f.001")))
        unlink(dir.file("f.002"))
        let error = try #require(throws: BaleError.self) { try SplitArchive(sumFile: dir.file("f.sha256")).check() }
        #expect(error.code == .integrity)
        #expect(error.message.contains("f.001: sha256 mismatch (expected "), "\(error.message)")
        #expect(error.message.contains("f.002: missing"), "\(error.message)")
        #expect(!error.message.contains("f.000"), "\(error.message)")
    }
}
