import BaleIO
import Foundation
import Testing

/// CRC-64/GO-ISO, the checksum tar-split keeps per file: the catalogued check value, and the sliced
/// loop against a bit-at-a-time reference on every length and split.
struct CRC64Tests {
    func checksum(_ bytes: [UInt8]) -> UInt64 {
        var crc = CRC64ISO()
        bytes.withUnsafeBytes { crc.update($0) }
        return crc.value
    }

    /// The polynomial's definition, one bit at a time.
    func reference(_ bytes: [UInt8]) -> UInt64 {
        var crc: UInt64 = ~0
        for byte in bytes {
            crc ^= UInt64(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xD800_0000_0000_0000 : crc >> 1 }
        }
        return ~crc
    }

    @Test func checkValue() {
        #expect(checksum(Array("123456789".utf8)) == 0xB909_56C7_75A4_1001)
        #expect(checksum([]) == 0)
    }

    @Test func slicedLoopMatchesTheReference() {
        var generator = SystemRandomNumberGenerator()
        for length in [1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000, 4097] {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(checksum(bytes) == reference(bytes), "length \(length)")
            // Fed in two parts, split anywhere: the same checksum.
            let cut = length / 3
            var crc = CRC64ISO()
            bytes[..<cut].withUnsafeBytes { crc.update($0) }
            bytes[cut...].withUnsafeBytes { crc.update($0) }
            #expect(crc.value == reference(bytes))
        }
    }

    @Test func bytesAreBigEndianAsGoSums() {
        var crc = CRC64ISO()
        Array("123456789".utf8).withUnsafeBytes { crc.update($0) }
        #expect(crc.bytes == [0xB9, 0x09, 0x56, 0xC7, 0x75, 0xA4, 0x10, 0x01])
    }
}
