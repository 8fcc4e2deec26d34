import BaleCore
import BaleIO
import Foundation
import Testing

@Suite struct ByteStreamsTests {
    @Test func digestingSinkHashesAndForwards() throws {
        let collected = DataSink()
        let sink = DigestingSink(collected)
        let data = patternData(count: 300_001)
        // Uneven pieces: the digest must not depend on how the stream is cut.
        var offset = 0
        for size in [1, 4095, 65536, 100_000] {
            try sink.write(data[offset ..< offset + size])
            offset += size
        }
        try sink.write(data[offset...])
        #expect(collected.data == data)
        #expect(sink.byteCount == Int64(data.count))
        #expect(sink.digest == SHA256Hasher.digest(data))
    }

    @Test func digestingSinkKnownVector() throws {
        let sink = DigestingSink(ClosureByteSink { _ in })
        try sink.write(Data("abc".utf8))
        #expect(sink.digest.string
            == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func digestingSinkDoesNotCountRejectedBytes() {
        struct Refuse: Error {}
        let sink = DigestingSink(ClosureByteSink { _ in throw Refuse() })
        #expect(throws: Refuse.self) { try sink.write(Data("x".utf8)) }
        #expect(sink.byteCount == 0)
    }

    @Test func digestingSourceHashesWhatPassesAndDrains() throws {
        let data = patternData(count: 200_000)
        let source = DigestingSource(DataByteSource(data))
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1000, alignment: 1)
        defer { buffer.deallocate() }
        #expect(try source.read(into: buffer) == 1000)
        try source.drain()
        #expect(source.byteCount == 200_000)
        #expect(source.digest == SHA256Hasher.digest(data))
    }

    @Test func fileDescriptorSourceReportsTheName() {
        let source = FileDescriptorSource(fileDescriptor: -1, name: "bad-fd")
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 1)
        defer { buffer.deallocate() }
        let error = #expect(throws: BaleError.self) { try source.read(into: buffer) }
        #expect(error?.message.hasPrefix("bad-fd: read:") == true)
    }
}
