import BaleCore
import Crypto
import Foundation

// Crypto also declares a `Digest` protocol; bale's digest type is spelled `BaleCore.Digest` here.

/// Incremental SHA-256 (swift-crypto, which uses the CPU's SHA extensions) producing a `Digest`.
public struct SHA256Hasher {
    private var state = Crypto.SHA256()

    public init() {}

    /// Adds bytes to the hash.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        state.update(bufferPointer: bytes)
    }

    /// Adds bytes to the hash.
    public mutating func update(_ data: Data) {
        state.update(data: data)
    }

    /// The digest of everything added so far.
    public func finalize() -> BaleCore.Digest {
        Digest(sha256Bytes: state.finalize())
    }

    /// The digest of `data`.
    public static func digest(_ data: Data) -> BaleCore.Digest {
        var h = SHA256Hasher()
        h.update(data)
        return h.finalize()
    }
}
