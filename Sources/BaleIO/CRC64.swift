/// CRC-64 with the ISO polynomial, bit-reflected, as Go's `hash/crc64` computes it with
/// `crc64.MakeTable(crc64.ISO)`: the checksum tar-split (and so Docker's layer store) keeps for every
/// file of a layer. No listed package provides CRC-64, and it is a table and a loop.
///
/// Slicing by 8 (eight tables, eight bytes a step), as Go does for long inputs, so checking every file
/// of a layer costs little next to hashing it.
public struct CRC64ISO: Sendable {
    /// Go's `crc64.ISO`, reflected.
    static let polynomial: UInt64 = 0xD800_0000_0000_0000

    /// `tables[k][b]`: the CRC of byte `b` followed by `k` zero bytes.
    private static let tables: [[UInt64]] = {
        var first = [UInt64](repeating: 0, count: 256)
        for i in 0..<256 {
            var crc = UInt64(i)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ polynomial : crc >> 1 }
            first[i] = crc
        }
        var tables = [first]
        for k in 1..<8 {
            tables.append((0..<256).map { i in
                let previous = tables[k - 1][i]
                return first[Int(previous & 0xff)] ^ (previous >> 8)
            })
        }
        return tables
    }()

    private var crc: UInt64 = ~0

    public init() {}

    /// Adds bytes.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var crc = self.crc
        Self.tables.withUnsafeBufferPointer { t in
            let t0 = t[0], t1 = t[1], t2 = t[2], t3 = t[3], t4 = t[4], t5 = t[5], t6 = t[6], t7 = t[7]
            var i = 0
            let n = bytes.count
            while n - i >= 8 {
                crc ^= UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                crc = t7[Int(crc & 0xff)] ^ t6[Int((crc >> 8) & 0xff)] ^ t5[Int((crc >> 16) & 0xff)]
                    ^ t4[Int((crc >> 24) & 0xff)] ^ t3[Int((crc >> 32) & 0xff)] ^ t2[Int((crc >> 40) & 0xff)]
                    ^ t1[Int((crc >> 48) & 0xff)] ^ t0[Int(crc >> 56)]
                i += 8
            }
            while i < n {
                crc = t0[Int((crc ^ UInt64(bytes[i])) & 0xff)] ^ (crc >> 8)
                i += 1
            }
        }
        self.crc = crc
    }

    /// The checksum of everything added so far.
    public var value: UInt64 { ~crc }

    /// The checksum as Go's `Sum(nil)` gives it: eight bytes, big-endian.
    public var bytes: [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * UInt64($0))) } }
}
