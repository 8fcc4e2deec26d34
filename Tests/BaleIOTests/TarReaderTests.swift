import BaleCore
import BaleIO
import Foundation
import Testing

@Suite struct TarReaderTests {
    /// A small tree made with the shell: a file, an executable, a subdirectory, a symlink, a hardlink.
    static func makeTree(in dir: TemporaryDirectory, longNames: Bool) throws -> String {
        let root = dir.file("tree")
        var script = """
            set -e
            mkdir -p tree/sub
            printf 'hello' > tree/a.txt
            printf '#!/bin/sh\\n' > tree/sub/run.sh && chmod 755 tree/sub/run.sh
            ln -s ../a.txt tree/sub/link
            ln tree/a.txt tree/hard.txt
            """
        if longNames {
            script += "\nmkdir -p tree/\(String(repeating: "L", count: 90))"
            script += "\nprintf 'long' > tree/\(String(repeating: "L", count: 90))/\(String(repeating: "n", count: 120))"
        }
        try run(["sh", "-c", script], in: dir.path)
        return root
    }

    @Test(.enabled(if: hasProgram("tar")), arguments: ["gnu", "posix", "ustar", "v7", "oldgnu"])
    func readsGnuTarDialects(format: String) throws {
        let dir = try TemporaryDirectory()
        let longNames = format == "gnu" || format == "posix" || format == "oldgnu"
        _ = try Self.makeTree(in: dir, longNames: longNames)
        let path = dir.file("t.tar")
        try run(["tar", "--format=\(format)", "--sort=name", "-cf", path, "-C", dir.file("tree"), "."])

        let reader = try TarReader(path: path)
        var members: [String: (TarEntry, Data)] = [:]
        for (entry, data) in try readAllMembers(reader) {
            members[try SafePath.clean(entry.path).description] = (entry, data)
        }
        #expect(members["a.txt"]?.1 == Data("hello".utf8))
        #expect(members["a.txt"]?.0.kind == .file)
        #expect(members["sub"]?.0.kind == .directory)
        #expect(members["sub/run.sh"]?.0.mode == 0o755)
        #expect(members["sub/link"]?.0.kind == .symlink)
        #expect(members["sub/link"]?.0.linkTarget == "../a.txt")
        // GNU tar stores the later name of a hardlink pair as the link (sorted: a.txt first).
        #expect(members["hard.txt"]?.0.kind == .hardlink)
        #expect(members["hard.txt"].flatMap { try? SafePath.clean($0.0.linkTarget ?? "") } == "a.txt")
        if longNames {
            let long = String(repeating: "L", count: 90) + "/" + String(repeating: "n", count: 120)
            #expect(members[long]?.1 == Data("long".utf8))
        }
        #expect(reader.compression == .none)
        #expect(reader.formatName != nil)
    }

    @Test(.enabled(if: hasProgram("tar") && hasProgram("truncate")))
    func readsASparseFileBlockWise() throws {
        let dir = try TemporaryDirectory()
        try run(["sh", "-c", """
            set -e
            truncate -s 1G sparse.img
            printf 'begin' | dd of=sparse.img bs=1 conv=notrunc status=none
            printf 'middle' | dd of=sparse.img bs=1 seek=536870912 conv=notrunc status=none
            """], in: dir.path)
        for format in ["gnu", "posix"] {
            let path = dir.file("sparse-\(format).tar")
            try run(["tar", "--format=\(format)", "-S", "-cf", path, "-C", dir.path, "sparse.img"])
            // The archive holds a few KB, not a gigabyte.
            let archiveSize = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
            #expect(archiveSize < 1 << 20)

            let reader = try TarReader(path: path)
            let entry = try #require(try reader.next())
            #expect(entry.path.description.hasSuffix("sparse.img"))
            #expect(entry.size == 1 << 30, "\(format)")
            #expect(entry.isSparse, "\(format)")
            var stored: [(Int64, Data)] = []
            while let block = try reader.readBlock({ offset, bytes in (offset, Data(bytes)) }) {
                stored.append(block)
            }
            let total = stored.reduce(0) { $0 + $1.1.count }
            #expect(total < 1 << 20, "\(format): \(total) bytes materialised")
            let begin = try #require(stored.first { $0.0 == 0 })
            #expect(begin.1.starts(with: Data("begin".utf8)))
            let middle = try #require(stored.first { $0.0 <= 536_870_912 && 536_870_912 < $0.0 + Int64($0.1.count) })
            let at = Int(536_870_912 - middle.0)
            #expect(middle.1[middle.1.startIndex + at ..< middle.1.startIndex + at + 6] == Data("middle".utf8))
            #expect(try reader.next() == nil)
        }
    }

    @Test(.enabled(if: ["gzip", "bzip2", "xz", "zstd"].allSatisfy(hasProgram)))
    func detectsCompressionMadeBySystemTools() throws {
        let plain = try TarWriterTests.writeSample()
        for (program, expected) in [("gzip", TarCompression.gzip), ("bzip2", .bzip2), ("xz", .xz), ("zstd", .zstd)] {
            let compressed = try run([program, "-c"], input: plain)
            let reader = try TarReader(source: DataByteSource(compressed), name: "x.tar.\(program)")
            let members = try readAllMembers(reader)
            #expect(members.count == TarWriterTests.sampleEntries().count, "\(program)")
            #expect(reader.compression == expected)
        }
    }

    @Test(.enabled(if: hasProgram("pigz")))
    func pigzOutputReads() throws {
        let plain = try TarWriterTests.writeSample()
        let compressed = try run(["pigz", "-c", "-p", "2"], input: plain)
        let members = try readAllMembers(try TarReader(source: DataByteSource(compressed), name: "p.tgz"))
        #expect(members.map(\.0.path) == TarWriterTests.sampleEntries().map(\.0.path))
    }

    /// An archive whose second member is large, so cutting it lands inside that member's data.
    static func archiveWithBigSecondMember(compression: TarCompression) throws -> Data {
        let sink = DataSink()
        let writer = try TarWriter(sink: sink, name: "t", compression: compression)
        try writer.writeFile(path: "first.txt", data: Data("first".utf8))
        try writer.writeFile(path: "layer/big.bin", data: patternData(count: 300_000))
        try writer.writeFile(path: "last.txt", data: Data("last".utf8))
        try writer.finish()
        return sink.data
    }

    @Test(arguments: [TarCompression.none, .gzip, .xz, .zstd])
    func truncatedDataNamesTheMember(compression: TarCompression) throws {
        let whole = try Self.archiveWithBigSecondMember(compression: compression)
        let cut = whole.prefix(whole.count / 2)
        let reader = try TarReader(source: DataByteSource(Data(cut)), name: "cut.tar")
        #expect(try reader.next()?.path == "first.txt")
        let error = #expect(throws: BaleError.self) { _ = try readAllMembers(reader) }
        #expect(error?.code == .invalidInput)
        #expect(error?.message.hasPrefix("cut.tar: member \"layer/big.bin\": ") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("\n") == false)
        // The reader stays failed with the same error.
        let again = #expect(throws: BaleError.self) { _ = try reader.next() }
        #expect(again?.message == error?.message)
    }

    @Test func truncatedBzip2BeforeItsFirstBlockFailsAtStart() throws {
        // bzip2 decodes whole 900 kB blocks: half of a one-block stream yields no member at all.
        let whole = try Self.archiveWithBigSecondMember(compression: .bzip2)
        let error = #expect(throws: BaleError.self) {
            _ = try readAllMembers(try TarReader(source: DataByteSource(Data(whole.prefix(whole.count / 2))),
                                                 name: "cut.tar.bz2"))
        }
        #expect(error?.message.hasPrefix("cut.tar.bz2: at start: ") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("bzip2") == true)
    }

    @Test func truncationWhileSkippingNamesTheMember() throws {
        let whole = try Self.archiveWithBigSecondMember(compression: .gzip)
        let reader = try TarReader(source: DataByteSource(Data(whole.prefix(whole.count / 2))), name: "cut.tgz")
        _ = try reader.next()
        #expect(try reader.next()?.path == "layer/big.bin")
        // Not reading the data: next() skips it and hits the end of the input.
        let error = #expect(throws: BaleError.self) { _ = try reader.next() }
        #expect(error?.message.hasPrefix("cut.tgz: member \"layer/big.bin\": ") == true, "\(error?.message ?? "")")
    }

    @Test func truncationInAHeaderSaysAfterWhichMember() throws {
        let sink = DataSink()
        let writer = try TarWriter(sink: sink, name: "t")
        try writer.writeFile(path: "one", data: Data("1".utf8))
        try writer.writeFile(path: "two", data: Data("2".utf8))
        try writer.finish()
        // Keep "one" (header + data block) and half of the header of "two".
        let cut = Data(sink.data.prefix(1024 + 256))
        let reader = try TarReader(source: DataByteSource(cut), name: "cut.tar")
        #expect(try reader.next()?.path == "one")
        #expect(try reader.readAll(limit: 10) == Data("1".utf8))
        let error = #expect(throws: BaleError.self) { _ = try reader.next() }
        #expect(error?.message.hasPrefix("cut.tar: after member \"one\": ") == true, "\(error?.message ?? "")")
    }

    @Test func corruptHeaderIsAnError() throws {
        let sink = DataSink()
        let writer = try TarWriter(sink: sink, name: "t")
        try writer.writeFile(path: "one", data: Data("1".utf8))
        try writer.writeFile(path: "two", data: Data("2".utf8))
        try writer.finish()
        var bytes = sink.data
        // Scribble over the name of the second header: its checksum no longer matches.
        bytes.replaceSubrange(1024 ..< 1030, with: Data("XXXXXX".utf8))
        let reader = try TarReader(source: DataByteSource(bytes), name: "bad.tar")
        _ = try reader.next()
        let error = #expect(throws: BaleError.self) { _ = try readAllMembers(reader) }
        #expect(error?.code == .invalidInput)
        #expect(error?.message.hasPrefix("bad.tar: after member \"one\": ") == true, "\(error?.message ?? "")")
    }

    @Test func corruptDeflateStreamIsAnError() throws {
        var bytes = try TarWriterTests.writeSample(compression: .gzip)
        // The first deflate block header sits right after the 10-byte gzip header; 0xff there is
        // BTYPE 11, which inflate rejects. (libarchive does not check the gzip CRC, so corrupting stored
        // data would go unnoticed here; digests catch that.)
        bytes[10] = 0xff
        let error = #expect(throws: BaleError.self) {
            _ = try readAllMembers(try TarReader(source: DataByteSource(bytes), name: "bad.tgz"))
        }
        #expect(error?.code == .invalidInput)
        #expect(error?.message.hasPrefix("bad.tgz: ") == true, "\(error?.message ?? "")")
    }

    @Test(arguments: [Data(), Data("this is not a tar archive at all".utf8), Data(repeating: 0xAB, count: 4096)])
    func nonTarInputFailsAtStart(bytes: Data) {
        let error = #expect(throws: BaleError.self) {
            let reader = try TarReader(source: DataByteSource(bytes), name: "junk")
            _ = try reader.next()
        }
        #expect(error?.code == .invalidInput)
        #expect(error?.message.hasPrefix("junk: at start: ") == true, "\(error?.message ?? "")")
    }

    @Test(.enabled(if: hasProgram("python3")))
    func otherArchiveFormatsAreRefused() throws {
        let zip = try run(["python3", "-c", """
            import io, sys, zipfile
            b = io.BytesIO()
            with zipfile.ZipFile(b, "w") as z: z.writestr("f", "x")
            sys.stdout.buffer.write(b.getvalue())
            """])
        #expect(zip.starts(with: Data("PK".utf8)))
        let error = #expect(throws: BaleError.self) {
            _ = try readAllMembers(try TarReader(source: DataByteSource(zip), name: "a.zip"))
        }
        #expect(error?.message.hasPrefix("a.zip: at start: ") == true, "\(error?.message ?? "")")
    }

    @Test func sourceErrorsKeepTheirCodeAndCause() throws {
        let whole = try Self.archiveWithBigSecondMember(compression: .none)
        var position = 0
        let source = ClosureByteSource { buffer in
            guard position < 200_000 else { throw BaleError(.io, "pipe: connection reset") }
            let n = min(buffer.count, whole.count - position)
            whole.copyBytes(to: buffer.bindMemory(to: UInt8.self), from: position ..< position + n)
            position += n
            return n
        }
        let reader = try TarReader(source: source, name: "<stdin>")
        let error = #expect(throws: BaleError.self) { _ = try readAllMembers(reader) }
        #expect(error?.code == .io)
        #expect(error?.message == "<stdin>: member \"layer/big.bin\": pipe: connection reset")
        #expect((error?.cause as? BaleError)?.message == "pipe: connection reset")
    }

    @Test func readAllEnforcesTheLimit() throws {
        let bytes = try Self.archiveWithBigSecondMember(compression: .none)
        let reader = try TarReader(source: DataByteSource(bytes), name: "t.tar")
        _ = try reader.next()
        _ = try reader.next()
        let error = #expect(throws: BaleError.self) { _ = try reader.readAll(limit: 4096) }
        #expect(error?.code == .invalidInput)
        #expect(error?.message == "t.tar: member \"layer/big.bin\": data larger than the limit of 4096 bytes")
        // Refused from the header, before reading: the data is still there to skip.
        #expect(try reader.next()?.path == "last.txt")
        #expect(try reader.readAll(limit: 4) == Data("last".utf8))
    }

    @Test func skipDataAndPartialReadsMoveOn() throws {
        let bytes = try Self.archiveWithBigSecondMember(compression: .xz)
        let reader = try TarReader(source: DataByteSource(bytes), name: "t.tar.xz")
        _ = try reader.next()
        try reader.skipData()
        _ = try reader.next()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 100, alignment: 1)
        defer { buffer.deallocate() }
        #expect(try reader.read(into: buffer) == 100)
        // Leave the rest unread: next() skips it.
        let last = try #require(try reader.next())
        #expect(last.path == "last.txt")
        #expect(try reader.readAll(limit: 10) == Data("last".utf8))
        #expect(try reader.next() == nil)
        #expect(try reader.next() == nil)
    }

    @Test func skipsOverDataOfAPlainTarFile() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("plain.tar")
        let writer = try TarWriter(path: path)
        try writer.writeFile(path: "huge.bin", data: patternData(count: 5 << 20))
        try writer.writeFile(path: "manifest.json", data: Data("[]".utf8))
        try writer.finish()
        let reader = try TarReader(path: path)
        #expect(try reader.next()?.path == "huge.bin")
        #expect(try reader.next()?.path == "manifest.json")
        #expect(try reader.readAll(limit: 100) == Data("[]".utf8))
        #expect(try reader.next() == nil)

        // Cut inside huge.bin: the seek must not jump past the end and hide the truncation.
        let cutPath = dir.file("cut.tar")
        try Data(try Data(contentsOf: URL(fileURLWithPath: path)).prefix(3 << 20))
            .write(to: URL(fileURLWithPath: cutPath))
        let cut = try TarReader(path: cutPath)
        #expect(try cut.next()?.path == "huge.bin")
        let error = #expect(throws: BaleError.self) { _ = try cut.next() }
        #expect(error?.message.hasPrefix("\(cutPath): member \"huge.bin\": ") == true, "\(error?.message ?? "")")
    }

    @Test func readsFromAFileDescriptor() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("t.tar.gz")
        try Self.archiveWithBigSecondMember(compression: .gzip).write(to: URL(fileURLWithPath: path))
        let fd = open(path, O_RDONLY)
        #expect(fd >= 0)
        defer { close(fd) }
        let reader = try TarReader(fileDescriptor: fd, name: "t.tar.gz")
        let members = try readAllMembers(reader)
        #expect(members.map(\.0.path) == ["first.txt", "layer/big.bin", "last.txt"])
        #expect(members[1].1 == patternData(count: 300_000))
        #expect(reader.filterNames == ["gzip"])
        // The reader did not close the caller's descriptor.
        #expect(fcntl(fd, F_GETFD) != -1)
    }

    @Test func readsThroughADigestingSource() throws {
        let bytes = try Self.archiveWithBigSecondMember(compression: .zstd)
        let source = DigestingSource(DataByteSource(bytes))
        let reader = try TarReader(source: source, name: "blob")
        #expect(try readAllMembers(reader).count == 3)
        try source.drain()
        #expect(source.digest == SHA256Hasher.digest(bytes))
    }

    @Test func missingFileIsNotFound() {
        let error = #expect(throws: BaleError.self) { try TarReader(path: "/nonexistent/bale.tar") }
        #expect(error?.code == .notFound)
        #expect(error?.message.contains("/nonexistent/bale.tar") == true)
    }

    /// Names that are not UTF-8 (Latin-1 "caf\xe9", "d\xff") are read as their bytes, never repaired
    /// (repairing to U+FFFD would merge distinct names) nor refused: raw in GNU and ustar headers, and
    /// in PAX records without `hdrcharset` (GNU tar's and Go's way, which libarchive reads back raw).
    @Test(.enabled(if: hasProgram("tar")), arguments: ["gnu", "posix", "ustar"])
    func nonUTF8NamesAreReadAsTheirBytes(format: String) throws {
        let dir = try TemporaryDirectory()
        try run(["sh", "-c", """
            set -e; mkdir t; cd t; mkdir "$(printf 'd\\377')"; printf x > "$(printf 'd\\377/caf\\351')"
            ln -s "$(printf 'tgt\\351')" "$(printf 'lnk\\351')"; ln "$(printf 'd\\377/caf\\351')" "$(printf 'hard\\351')"
            cd ..; tar --format=\(format) --sort=name -cf l.tar -C t .
            """], in: dir.path)
        let members = try readAllMembers(try TarReader(path: dir.file("l.tar")))
        let byPath = Dictionary(uniqueKeysWithValues: members.map { ($0.0.path, $0.0) })
        let file = RawPath(Array("./d".utf8) + [0xff, 0x2f] + Array("caf".utf8) + [0xe9])
        #expect(byPath[RawPath(Array("./d".utf8) + [0xff, 0x2f])]?.kind == .directory, "\(byPath.keys)")
        #expect(byPath[file]?.kind == .file)
        #expect(members.first { $0.0.path == file }?.1 == Data("x".utf8))
        let link = byPath[RawPath(Array("./lnk".utf8) + [0xe9])]
        #expect(link?.kind == .symlink)
        #expect(link?.linkTarget == RawPath(Array("tgt".utf8) + [0xe9]))
        let hard = byPath[RawPath(Array("./hard".utf8) + [0xe9])]
        #expect(hard?.kind == .hardlink)
        #expect(hard?.linkTarget == file)
        // Messages show such a name escaped, on one line.
        #expect(file.quoted == #""./d\xff/caf\xe9""#)
    }

    // MARK: dataOffset (what `bale serve` reads archives by)

    /// Every regular member's bytes, read from the file at `dataOffset`, equal what libarchive gives,
    /// in each dialect (PAX and GNU long names put extra header blocks before the data).
    @Test(arguments: ["gnu", "posix", "ustar"])
    func dataOffsetPointsAtEachMembersBytes(format: String) throws {
        let dir = try TemporaryDirectory()
        _ = try Self.makeTree(in: dir, longNames: format != "ustar")
        try patternData(count: 70_001).write(to: URL(fileURLWithPath: dir.file("tree/big.bin")))
        let path = dir.file("t.tar")
        try run(["tar", "--format=\(format)", "--sort=name", "-cf", path, "-C", dir.file("tree"), "."])
        let file = try Data(contentsOf: URL(fileURLWithPath: path))

        let reader = try TarReader(path: path)
        var checked = 0
        while let entry = try reader.next() {
            guard entry.kind == .file else { continue }
            let offset = try #require(reader.dataOffset, "\(entry.path)")
            #expect(offset % 512 == 0)
            let data = try reader.readAll(limit: 1 << 20)
            #expect(file.subdata(in: Int(offset) ..< Int(offset) + data.count) == data, "\(entry.path) at \(offset)")
            checked += 1
        }
        #expect(checked >= 3)
    }

    /// No offset where the bytes are not contiguous in the file: a compressed archive, a sparse member.
    @Test func dataOffsetIsNilForCompressedArchivesAndSparseMembers() throws {
        let dir = try TemporaryDirectory()
        _ = try Self.makeTree(in: dir, longNames: false)
        try run(["sh", "-c", "set -e; truncate -s 3M tree/sparse; printf x | dd of=tree/sparse bs=1 seek=2000000 conv=notrunc 2>/dev/null"],
                in: dir.path)
        try run(["tar", "-czf", dir.file("t.tgz"), "-C", dir.file("tree"), "a.txt"])
        let gz = try TarReader(path: dir.file("t.tgz"))
        #expect(try gz.next() != nil)
        #expect(gz.dataOffset == nil)

        try run(["tar", "--format=posix", "-S", "-cf", dir.file("s.tar"), "-C", dir.file("tree"), "sparse", "a.txt"])
        let sparse = try TarReader(path: dir.file("s.tar"))
        var offsets: [String: Bool] = [:]
        while let entry = try sparse.next() {
            if entry.path.description.hasSuffix("sparse") { #expect(entry.isSparse) }
            offsets[entry.path.description] = sparse.dataOffset != nil
        }
        #expect(offsets.first { $0.key.hasSuffix("sparse") }?.value == false)
        #expect(offsets.first { $0.key.hasSuffix("a.txt") }?.value == true)
    }
}
