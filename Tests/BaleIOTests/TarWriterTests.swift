import BaleCore
import BaleIO
import Foundation
import Testing

@Suite struct TarWriterTests {
    /// One of each kind, with the names that need PAX headers.
    static let longName = String(repeating: "d", count: 60) + "/" + String(repeating: "f", count: 60) + ".txt"
    static let veryLongName = (0 ..< 30).map { "dir\($0)" }.joined(separator: "/") + "/" + String(repeating: "x", count: 120)
    static let unicodeName = "données/héllo-日本-🚀.txt"

    static func sampleEntries() -> [(TarEntry, Data)] {
        [
            (TarEntry(path: "dir/", kind: .directory, mode: 0o755, uid: 1000, gid: 1001, uname: "alice",
                      gname: "staff", mtime: TarTime(seconds: 1_700_000_000)), Data()),
            (TarEntry(path: "dir/file.txt", kind: .file, size: 5, mode: 0o640, uid: 1000, gid: 1001,
                      uname: "alice", gname: "staff", mtime: TarTime(seconds: 1_700_000_001)), Data("hello".utf8)),
            (TarEntry(path: "dir/exec", kind: .file, size: 0, mode: 0o4755), Data()),
            (TarEntry(path: "dir/link", kind: .symlink, mode: 0o777, linkTarget: "../elsewhere/target"), Data()),
            (TarEntry(path: "dir/hard", kind: .hardlink, mode: 0o640, linkTarget: "dir/file.txt"), Data()),
            (TarEntry(path: RawPath(longName), kind: .file, size: 4, mode: 0o644), Data("long".utf8)),
            (TarEntry(path: RawPath(veryLongName), kind: .file, size: 9, mode: 0o600), Data("very long".utf8)),
            (TarEntry(path: RawPath(unicodeName), kind: .file, size: 7, mode: 0o644), Data("unicode".utf8)),
            (TarEntry(path: "dir/attrs", kind: .file, size: 1, mode: 0o644,
                      xattrs: ["user.comment": Data("café".utf8), "security.capability": Data([1, 0, 0, 2, 0xff]),
                               "trusted.empty": Data()]), Data("x".utf8)),
            (TarEntry(path: "dev/null", kind: .characterDevice, mode: 0o666, devMajor: 1, devMinor: 3), Data()),
            (TarEntry(path: "dev/sda", kind: .blockDevice, mode: 0o660, devMajor: 8, devMinor: 0), Data()),
            (TarEntry(path: "run/fifo", kind: .fifo, mode: 0o600), Data()),
            (TarEntry(path: "big-ids", kind: .file, size: 0, mode: 0o644, uid: 3_000_000_000, gid: 70_000_000,
                      mtime: TarTime(seconds: 9_000_000_000, nanoseconds: 123_456_789)), Data()),
        ]
    }

    static func writeSample(compression: TarCompression = .none,
                            normalise: TarWriter.Normalisation? = nil) throws -> Data {
        let sink = DataSink()
        let writer = try TarWriter(sink: sink, name: "sample.tar", compression: compression, normalise: normalise)
        for (entry, data) in sampleEntries() {
            try writer.writeEntry(entry, data: data)
        }
        try writer.finish()
        return sink.data
    }

    @Test func roundTripKeepsEveryHeaderField() throws {
        let bytes = try Self.writeSample()
        let reader = try TarReader(source: DataByteSource(bytes), name: "sample.tar")
        let members = try readAllMembers(reader)
        let expected = Self.sampleEntries()
        #expect(members.map(\.0.path) == expected.map(\.0.path))
        for ((got, data), (want, wantData)) in zip(members, expected) {
            #expect(got.kind == want.kind, "\(want.path)")
            #expect(got.mode == want.mode, "\(want.path)")
            #expect(got.uid == want.uid && got.gid == want.gid, "\(want.path)")
            #expect(got.uname == want.uname && got.gname == want.gname, "\(want.path)")
            #expect(got.mtime.seconds == want.mtime.seconds, "\(want.path)")
            #expect(got.linkTarget == want.linkTarget, "\(want.path)")
            #expect(got.devMajor == want.devMajor && got.devMinor == want.devMinor, "\(want.path)")
            #expect(got.xattrs == want.xattrs, "\(want.path)")
            #expect(got.isSparse == false)
            #expect(data == wantData, "\(want.path)")
            if want.kind == .file { #expect(got.size == want.size, "\(want.path)") }
        }
        #expect(reader.compression == .none)
        #expect(reader.filterNames.isEmpty)
        #expect(reader.formatName?.contains("pax") == true || reader.formatName?.contains("ustar") == true)
    }

    /// `onEntry` is told every member's path, in order, as it is begun (commit's change summary relies
    /// on it instead of reading the layer back).
    @Test func onEntrySeesEveryMemberInOrder() throws {
        var seen: [RawPath] = []
        let writer = try TarWriter(sink: ClosureByteSink { _ in }, name: "observed.tar")
        writer.onEntry = { seen.append($0) }
        try writer.writeEntry(TarEntry(path: "d/", kind: .directory, size: 0, mode: 0o755))
        try writer.writeEntry(TarEntry(path: "d/f", kind: .file, size: 0, mode: 0o644), data: Data("x".utf8))
        try writer.writeEntry(TarEntry(path: RawPath([0x64, 0x2f, 0x2e, 0x77, 0x68, 0x2e, 0xe9]), kind: .file, size: 0, mode: 0o644))
        try writer.finish()
        #expect(seen == ["d/", "d/f", RawPath([0x64, 0x2f, 0x2e, 0x77, 0x68, 0x2e, 0xe9])])
    }

    @Test func nanosecondsSurviveWhenAPaxHeaderIsWritten() throws {
        let sink = DataSink()
        let writer = try TarWriter(sink: sink, name: "ns.tar")
        // The long name forces a PAX header, which then carries the sub-second mtime.
        try writer.writeEntry(TarEntry(path: RawPath(String(repeating: "n", count: 120)), kind: .file,
                                       mtime: TarTime(seconds: 1_600_000_000, nanoseconds: 5)), data: Data("n".utf8))
        try writer.finish()
        let reader = try TarReader(source: DataByteSource(sink.data), name: "ns.tar")
        let entry = try #require(try reader.next())
        #expect(entry.mtime.seconds == 1_600_000_000)
        #expect(entry.mtime.nanoseconds == 5)
    }

    @Test(.enabled(if: hasProgram("tar")))
    func gnuTarReadsWhatWeWrite() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("sample.tar")
        try Self.writeSample().write(to: URL(fileURLWithPath: path))
        let listing = String(decoding: try run(["env", "LC_ALL=C.UTF-8", "tar", "-tf", path]), as: UTF8.self)
        let names = listing.split(separator: "\n").map(String.init)
        #expect(names == Self.sampleEntries().map(\.0.path.description))
        let content = try run(["tar", "-xOf", path, Self.unicodeName])
        #expect(content == Data("unicode".utf8))
        // The xattrs go out as PAX SCHILY.xattr records, the form Docker layers use.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(bytes.range(of: Data("SCHILY.xattr.user.comment=café".utf8)) != nil)
        #expect(bytes.range(of: Data("LIBARCHIVE.xattr".utf8)) == nil, "only the SCHILY form, as Go writes")
    }

    /// Names and link targets that are not UTF-8 are written as their bytes (a PAX record marked
    /// `hdrcharset=BINARY`), and read back byte for byte by TarReader and by GNU tar; a UTF-8 name in
    /// decomposed form (NFD) is written decomposed.
    @Test(.enabled(if: hasProgram("tar")))
    func nonUTF8NamesAreWrittenAsTheirBytes() throws {
        let dirName = RawPath(Array("d".utf8) + [0xff])
        let file = RawPath(Array("d".utf8) + [0xff, 0x2f] + Array("caf".utf8) + [0xe9])
        let link = RawPath(Array("lnk".utf8) + [0xe9])
        let target = RawPath(Array("../tgt".utf8) + [0xe9])
        let hard = RawPath(Array("hard".utf8) + [0xe9])
        let decomposed = RawPath("e\u{301}")
        let sink = DataSink()
        let writer = try TarWriter(sink: sink, name: "latin1.tar")
        try writer.writeDirectory(path: RawPath(dirName.bytes + [0x2f]))
        try writer.writeFile(path: file, data: Data("x".utf8))
        try writer.writeSymlink(path: link, target: target)
        try writer.writeHardlink(path: hard, target: file)
        try writer.writeFile(path: decomposed, data: Data())
        try writer.finish()

        let members = try readAllMembers(try TarReader(source: DataByteSource(sink.data), name: "latin1.tar"))
        // The decomposed name comes back composed: libarchive normalises a UTF-8 PAX name to NFC when it
        // reads it (Libarchive.swift); GNU tar below shows that the archive holds it decomposed.
        #expect(members.map(\.0.path) == [RawPath(dirName.bytes + [0x2f]), file, link, hard, RawPath("\u{e9}")])
        #expect(members[1].1 == Data("x".utf8))
        #expect(members[2].0.linkTarget == target)
        #expect(members[3].0.kind == .hardlink)
        #expect(members[3].0.linkTarget == file)
        #expect(sink.data.range(of: Data("hdrcharset=BINARY".utf8)) != nil)

        let dir = try TemporaryDirectory()
        let path = dir.file("latin1.tar")
        try sink.data.write(to: URL(fileURLWithPath: path))
        // GNU tar lists the raw bytes (and warns about the hdrcharset keyword it does not know).
        let listing = try run(["tar", "--quoting-style=literal", "-tvf", path])
        let lines = listing.split(separator: UInt8(ascii: "\n")).map { Array($0) }
        #expect(lines.count == 5)
        func ends(_ line: Int, with bytes: [UInt8]) -> Bool { lines.count > line && lines[line].suffix(bytes.count).elementsEqual(bytes) }
        #expect(ends(0, with: dirName.bytes + [0x2f]))
        #expect(ends(1, with: [0x20] + file.bytes))
        #expect(ends(2, with: [0x20] + link.bytes + Array(" -> ".utf8) + target.bytes))
        #expect(ends(3, with: [0x20] + hard.bytes + Array(" link to ".utf8) + file.bytes))
        #expect(ends(4, with: [0x20] + decomposed.bytes))
    }

    @Test(arguments: TarCompression.allCases)
    func wholeArchiveCompressionRoundTrips(compression: TarCompression) throws {
        let bytes = try Self.writeSample(compression: compression)
        let reader = try TarReader(source: DataByteSource(bytes), name: "sample")
        let members = try readAllMembers(reader)
        #expect(members.count == Self.sampleEntries().count)
        #expect(members.first { $0.0.path == RawPath(Self.unicodeName) }?.1 == Data("unicode".utf8))
        #expect(reader.compression == compression)
        #expect(reader.filterNames == (compression == .none ? [] : [compression.rawValue]))
        let magic: [TarCompression: [UInt8]] = [.gzip: [0x1f, 0x8b], .bzip2: Array("BZh".utf8),
                                                .xz: [0xfd, 0x37, 0x7a, 0x58, 0x5a], .zstd: [0x28, 0xb5, 0x2f, 0xfd],
                                                .lzma: [0x5d, 0x00], .none: []]
        #expect(Array(bytes.prefix(magic[compression]?.count ?? 0)) == magic[compression])
    }

    @Test(arguments: TarCompression.allCases)
    func outputIsDeterministic(compression: TarCompression) throws {
        let first = try Self.writeSample(compression: compression)
        let second = try Self.writeSample(compression: compression)
        #expect(first == second)
        if compression == .gzip {
            // MTIME (bytes 4–7) zero, and no FNAME flag: nothing about the moment or the file leaks in.
            #expect(Array(first[4 ..< 8]) == [0, 0, 0, 0])
            #expect(first[3] & 0x08 == 0)
        }
    }

    @Test(.enabled(if: ["gzip", "bzip2", "xz", "zstd"].allSatisfy(hasProgram)))
    func systemToolsReadOurOutput() throws {
        for (compression, program) in [(TarCompression.gzip, "gzip"), (.bzip2, "bzip2"), (.xz, "xz"), (.zstd, "zstd")] {
            let plain = try Self.writeSample()
            let decoded = try run([program, "-dc"], input: try Self.writeSample(compression: compression))
            #expect(decoded == plain, "\(program)")
        }
    }

    @Test func gzipLevelChangesTheBytesButNotTheContent() throws {
        let data = patternData(count: 50_000) + Data(repeating: 0x41, count: 200_000)
        func archive(_ level: Int) throws -> Data {
            let sink = DataSink()
            let writer = try TarWriter(sink: sink, name: "l", compression: .gzip, level: level)
            try writer.writeFile(path: "f", data: data)
            try writer.finish()
            return sink.data
        }
        let fast = try archive(1)
        let best = try archive(9)
        #expect(fast.count > best.count)
        for bytes in [fast, best] {
            let reader = try TarReader(source: DataByteSource(bytes), name: "l")
            _ = try reader.next()
            #expect(try reader.readAll(limit: 1 << 20) == data)
        }
    }

    @Test func normalisationFixesOwnerAndTime() throws {
        let bytes = try Self.writeSample(normalise: TarWriter.Normalisation(mtime: TarTime(seconds: 42)))
        let members = try readAllMembers(try TarReader(source: DataByteSource(bytes), name: "n.tar"))
        #expect(members.count == Self.sampleEntries().count)
        for (entry, _) in members {
            #expect(entry.uid == 0 && entry.gid == 0, "\(entry.path)")
            #expect(entry.uname == "" && entry.gname == "", "\(entry.path)")
            #expect(entry.mtime == TarTime(seconds: 42), "\(entry.path)")
        }
    }

    @Test func archivesAreNotPaddedToARecord() throws {
        let sink = DataSink()
        let writer = try TarWriter(sink: sink, name: "small.tar")
        try writer.writeFile(path: "a", data: Data("abc".utf8))
        try writer.finish()
        // header + one data block + two end-of-archive blocks, no padding to 10240.
        #expect(sink.data.count == 512 + 512 + 1024)
        #expect(sink.data.suffix(1024).allSatisfy { $0 == 0 })
    }

    /// Blocks of 0 pass a large data write to the sink whole, and change no byte of the archive.
    @Test(arguments: [TarCompression.none, .gzip])
    func passThroughWritesTheSameBytesInFewerWrites(compression: TarCompression) throws {
        let big = patternData(count: 1 << 20)
        func write(blockSize: Int) throws -> (data: Data, writes: [Int]) {
            let collected = DataSink()
            var writes: [Int] = []
            let sink = ClosureByteSink { bytes in
                writes.append(bytes.count)
                try collected.write(bytes)
            }
            let writer = try TarWriter(sink: sink, name: "few.tar", compression: compression,
                                       normalise: TarWriter.Normalisation(), blockSize: blockSize)
            for (entry, data) in Self.sampleEntries() { try writer.writeEntry(entry, data: data) }
            try writer.writeFile(path: "big", data: big)
            try writer.finish()
            return (collected.data, writes)
        }
        let blocked = try write(blockSize: 10240)
        let through = try write(blockSize: 0)
        #expect(through.data == blocked.data)
        if compression == .none {
            #expect(through.writes.contains(big.count))
            #expect(blocked.writes.allSatisfy { $0 <= 10240 })
        }
    }

    @Test func bigFileStreamsInChunks() throws {
        let data = patternData(count: 3 << 20 + 17)
        let dir = try TemporaryDirectory()
        let path = dir.file("big.tar")
        let writer = try TarWriter(path: path, compression: .zstd)
        try writer.beginEntry(TarEntry(path: "big.bin", kind: .file, size: Int64(data.count)))
        var offset = 0
        while offset < data.count {
            let end = min(offset + 100_000, data.count)
            try writer.write(data[offset ..< end])
            offset = end
        }
        try writer.endEntry()
        try writer.finish()

        let reader = try TarReader(path: path)
        let entry = try #require(try reader.next())
        #expect(entry.size == Int64(data.count))
        var hasher = SHA256Hasher()
        var total = 0
        var chunks = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
        defer { buffer.deallocate() }
        while case let n = try reader.read(into: buffer), n > 0 {
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0 ..< n]))
            total += n
            chunks += 1
        }
        #expect(total == data.count)
        #expect(chunks > 700)
        #expect(hasher.finalize() == SHA256Hasher.digest(data))
        #expect(try reader.next() == nil)
    }

    @Test func dataLongerThanDeclaredIsRefused() throws {
        let writer = try TarWriter(sink: DataSink(), name: "w.tar")
        try writer.beginEntry(TarEntry(path: "f", kind: .file, size: 3))
        let error = #expect(throws: BaleError.self) { try writer.write(Data("four".utf8)) }
        #expect(error?.code == .integrity)
        #expect(error?.message.contains("\"f\"") == true)
        // The writer stays failed.
        #expect(throws: BaleError.self) { try writer.finish() }
    }

    @Test func dataShorterThanDeclaredIsRefused() throws {
        let writer = try TarWriter(sink: DataSink(), name: "w.tar")
        try writer.beginEntry(TarEntry(path: "f", kind: .file, size: 10))
        try writer.write(Data("abc".utf8))
        let error = #expect(throws: BaleError.self) { try writer.endEntry() }
        #expect(error?.code == .integrity)
        #expect(error?.message == "w.tar: member \"f\": 3 bytes written, header declared 10")
    }

    @Test func sinkErrorsKeepTheirCodeAndCause() throws {
        let sink = ClosureByteSink { _ in throw BaleError(.io, "disk full") }
        let writer = try TarWriter(sink: sink, name: "out.tar")
        let error = #expect(throws: BaleError.self) {
            // libarchive buffers 10240 bytes before the first write reaches the sink.
            try writer.writeFile(path: "big", data: Data(count: 100_000))
            try writer.finish()
        }
        #expect(error?.code == .io)
        #expect(error?.message.contains("out.tar") == true)
        #expect(error?.message.contains("disk full") == true)
        #expect(error?.cause != nil)
    }

    @Test func abandonedWriterDoesNotLookComplete() throws {
        let sink = DataSink()
        do {
            let writer = try TarWriter(sink: sink, name: "abandoned.tar")
            try writer.writeFile(path: "a", data: Data(count: 20_000))
        }
        // No end-of-archive marker: a reader must see a truncated archive, not a finished one.
        let reader = try TarReader(source: DataByteSource(sink.data), name: "abandoned.tar")
        #expect(throws: BaleError.self) { _ = try readAllMembers(reader) }
    }

    @Test func pathAndDescriptorDestinations() throws {
        let dir = try TemporaryDirectory()
        let viaPath = dir.file("p.tar")
        let writer = try TarWriter(path: viaPath, compression: .gzip)
        try writer.writeDirectory(path: "d")
        try writer.writeSymlink(path: "d/l", target: "x")
        try writer.writeHardlink(path: "d/h", target: "d/f0")
        try writer.finish()
        let fd = open(dir.file("fd.tar"), O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        #expect(fd >= 0)
        defer { close(fd) }
        let fdWriter = try TarWriter(fileDescriptor: fd, name: "fd.tar", compression: .gzip)
        try fdWriter.writeDirectory(path: "d")
        try fdWriter.writeSymlink(path: "d/l", target: "x")
        try fdWriter.writeHardlink(path: "d/h", target: "d/f0")
        try fdWriter.finish()
        let a = try Data(contentsOf: URL(fileURLWithPath: viaPath))
        let b = try Data(contentsOf: URL(fileURLWithPath: dir.file("fd.tar")))
        #expect(a == b)
        let kinds = try readAllMembers(try TarReader(path: viaPath)).map(\.0.kind)
        #expect(kinds == [.directory, .symlink, .hardlink])
    }

    @Test func unwritableKindsAndMisuseAreErrors() throws {
        let writer = try TarWriter(sink: DataSink(), name: "w.tar")
        let other = #expect(throws: BaleError.self) { try writer.writeEntry(TarEntry(path: "s", kind: .other)) }
        #expect(other?.code == .unsupported)
        let nul = try TarWriter(sink: DataSink(), name: "w.tar")
        let nulError = #expect(throws: BaleError.self) { try nul.writeFile(path: "a\u{0}b", data: Data()) }
        #expect(nulError?.code == .invalidInput)
        let empty = try TarWriter(sink: DataSink(), name: "w.tar")
        #expect(throws: BaleError.self) { try empty.writeDirectory(path: "") }
        let second = try TarWriter(sink: DataSink(), name: "w2.tar")
        #expect(throws: BaleError.self) { try second.write(Data("x".utf8)) }
        #expect(throws: BaleError.self) { try second.endEntry() }
        try second.beginEntry(TarEntry(path: "f", kind: .file, size: 1))
        #expect(throws: BaleError.self) { try second.beginEntry(TarEntry(path: "g", kind: .file)) }
    }

    // MARK: - Sparse members

    static let gib: Int64 = 1 << 30
    /// The sparse sample's extents' data, in order: 4096 bytes at 0, 8192 at 5 GiB, "tail!" at 12 GiB + 100.
    static let sparseData = patternData(count: 4096 + 8192) + Data("tail!".utf8)

    /// A 20 GiB file with data at 0, 5 GiB (two blocks) and 12 GiB, and a hole at the end; then a small
    /// plain file, to show the archive goes on in step after the sparse member.
    static func writeSparseSample(to sink: any ByteSink) throws -> [TarEntry.SparseExtent] {
        let map = [TarEntry.SparseExtent(offset: 0, length: 4096),
                   TarEntry.SparseExtent(offset: 5 * gib, length: 8192),
                   TarEntry.SparseExtent(offset: 12 * gib + 100, length: 5)]
        let writer = try TarWriter(sink: sink, name: "sparse.tar")
        try writer.beginEntry(TarEntry(path: "big", kind: .file, size: 20 * gib, mode: 0o644, sparseMap: map))
        // In pieces that straddle the extents' ends.
        try writer.write(sparseData.prefix(5096))
        try writer.write(sparseData.dropFirst(5096))
        try writer.endEntry()
        try writer.writeFile(path: "after", data: Data("after".utf8))
        try writer.finish()
        return map
    }

    /// A sparse member is written as one: small, its logical size and map as given, its extents' data
    /// in place; TarReader reads it back block by block at the map's offsets.
    @Test func sparseMemberKeepsItsHolesOut() throws {
        let sink = DataSink()
        let map = try Self.writeSparseSample(to: sink)
        #expect(sink.data.count < 64 * 1024, "\(sink.data.count) bytes")
        let reader = try TarReader(source: DataByteSource(sink.data), name: "sparse.tar")
        let big = try #require(try reader.next())
        #expect(big.path == "big" && big.kind == .file && big.size == 20 * Self.gib)
        // With the empty extent at the end that the format uses to carry a trailing hole.
        #expect(big.sparseMap == map + [TarEntry.SparseExtent(offset: 20 * Self.gib, length: 0)])
        var blocks: [(Int64, Data)] = []
        while try reader.readBlock({ offset, bytes in blocks.append((offset, Data(bytes))) }) != nil {}
        #expect(blocks.reduce(Data()) { $0 + $1.1 } == Self.sparseData)
        #expect(blocks.first?.0 == 0 && blocks.last?.0 == 12 * Self.gib + 100)
        let after = try #require(try reader.next())
        #expect(after.path == "after")
        #expect(try reader.readAll(limit: 100) == Data("after".utf8))
    }

    /// GNU tar and bsdtar list the logical size and extract the same sparse file: holes as holes (a few
    /// blocks on disk), the data where the map puts it.
    @Test func gnuTarAndBsdtarExtractASparseMember() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("sparse.tar")
        let sink = DataSink()
        _ = try Self.writeSparseSample(to: sink)
        try sink.data.write(to: URL(fileURLWithPath: path))
        let listing = String(decoding: try run(["tar", "-tvf", path]), as: UTF8.self)
        #expect(listing.contains(" 21474836480 "), "\(listing)")
        #expect(!listing.contains("GNUSparseFile"), "\(listing)")
        for tool in ["tar", "bsdtar"] {
            let out = dir.file(tool)
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
            try run([tool, "-xf", path, "-C", out])
            var info = stat()
            #expect(stat(out + "/big", &info) == 0)
            #expect(Int64(info.st_size) == 20 * Self.gib, "\(tool)")
            #expect(info.st_blocks * 512 < 1 << 20, "\(tool): \(info.st_blocks) blocks on disk")
            let handle = try #require(FileHandle(forReadingAtPath: out + "/big"))
            defer { try? handle.close() }
            #expect(try handle.read(upToCount: 4096 + 16) == Self.sparseData.prefix(4096) + Data(count: 16),
                    "\(tool): the first extent, then a hole that reads as zeros")
            try handle.seek(toOffset: UInt64(5 * Self.gib))
            #expect(try handle.read(upToCount: 8192) == Self.sparseData.dropFirst(4096).prefix(8192), "\(tool)")
            try handle.seek(toOffset: UInt64(12 * Self.gib + 98))
            #expect(try handle.read(upToCount: 9) == Data([0, 0]) + Data("tail!".utf8) + Data([0, 0]), "\(tool)")
            #expect(try String(contentsOfFile: out + "/after", encoding: .utf8) == "after", "\(tool)")
        }
    }

    /// A sparse member that is all hole (an empty map), and one whose map ends before its size.
    @Test func allHoleSparseMemberReadsBack() throws {
        let sink = DataSink()
        let writer = try TarWriter(sink: sink, name: "holes.tar")
        try writer.writeEntry(TarEntry(path: "empty", kind: .file, size: 3 * Self.gib, sparseMap: []))
        try writer.writeFile(path: "next", data: Data("n".utf8))
        try writer.finish()
        #expect(sink.data.count < 16 * 1024)
        let reader = try TarReader(source: DataByteSource(sink.data), name: "holes.tar")
        let empty = try #require(try reader.next())
        #expect(empty.size == 3 * Self.gib && empty.isSparse)
        #expect(try reader.readBlock({ _, bytes in bytes.count }) == nil)
        #expect(try reader.next()?.path == "next")
        #expect(try reader.readAll(limit: 10) == Data("n".utf8))
    }

    /// Sparse misuse: a map out of order or past the size is refused as bad input naming the member; a
    /// block given at an offset the map does not expect, or more data than the extents hold, is an
    /// integrity error.
    @Test func badSparseMapsAndMisplacedBlocksAreErrors() throws {
        let overlapping = [TarEntry.SparseExtent(offset: 0, length: 10), TarEntry.SparseExtent(offset: 5, length: 10)]
        let past = [TarEntry.SparseExtent(offset: 90, length: 20)]
        for map in [overlapping, past, [TarEntry.SparseExtent(offset: -1, length: 1)]] {
            let writer = try TarWriter(sink: DataSink(), name: "w.tar")
            let error = #expect(throws: BaleError.self) {
                try writer.beginEntry(TarEntry(path: "s", kind: .file, size: 100, sparseMap: map))
            }
            #expect(error?.code == .invalidInput)
            #expect(error?.message.contains("\"s\"") == true, "\(error?.message ?? "")")
        }
        let map = [TarEntry.SparseExtent(offset: 10, length: 4), TarEntry.SparseExtent(offset: 50, length: 4)]
        let writer = try TarWriter(sink: DataSink(), name: "w.tar")
        try writer.beginEntry(TarEntry(path: "s", kind: .file, size: 100, sparseMap: map))
        try Data("abcd".utf8).withUnsafeBytes { try writer.write($0, at: 10) }
        let misplaced = #expect(throws: BaleError.self) {
            try Data("efgh".utf8).withUnsafeBytes { try writer.write($0, at: 14) }
        }
        #expect(misplaced?.code == .integrity)
        let extra = try TarWriter(sink: DataSink(), name: "w.tar")
        try extra.beginEntry(TarEntry(path: "s", kind: .file, size: 100, sparseMap: map))
        let tooMuch = #expect(throws: BaleError.self) { try extra.write(Data(count: 9)) }
        #expect(tooMuch?.code == .integrity)
    }
}
