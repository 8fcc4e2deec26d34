import BaleCore
import Foundation

// The two small stream protocols every reader and writer in BaleIO speaks. They are deliberately
// minimal (one method each) so a pipe, a file, a hashing wrapper or a test buffer can stand behind a
// `TarReader` or a `TarWriter` without adapters.

/// A pull-style source of bytes.
///
/// `read(into:)` fills a prefix of the buffer and returns how many bytes it wrote; `0` means end of
/// stream. It may return fewer bytes than the buffer holds. Errors thrown here reach the caller of the
/// consumer (e.g. `TarReader.next()`) as the `cause` of the consumer's error.
public protocol ByteSource {
    /// Reads up to `buffer.count` bytes into `buffer`; returns the count, `0` at end of stream.
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

/// A push-style sink of bytes. `write` must consume every byte or throw.
public protocol ByteSink {
    /// Writes all of `bytes`, or throws.
    mutating func write(_ bytes: UnsafeRawBufferPointer) throws
}

extension ByteSink {
    /// Writes all of `data`, or throws.
    public mutating func write(_ data: Data) throws {
        try data.withUnsafeBytes { try write($0) }
    }
}

extension ByteSink where Self: AnyObject {
    /// Writes all of `data`, or throws. (Class sinks are written through a `let` reference.)
    public func write(_ data: Data) throws {
        var sink = self
        try data.withUnsafeBytes { try sink.write($0) }
    }
}

/// A `ByteSource` made of a closure.
public struct ClosureByteSource: ByteSource {
    private let body: (UnsafeMutableRawBufferPointer) throws -> Int

    /// Wraps `body`, which has the contract of `ByteSource.read(into:)`.
    public init(_ body: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) {
        self.body = body
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try body(buffer)
    }
}

/// A `ByteSink` made of a closure.
public struct ClosureByteSink: ByteSink {
    private let body: (UnsafeRawBufferPointer) throws -> Void

    /// Wraps `body`, which has the contract of `ByteSink.write(_:)`.
    public init(_ body: @escaping (UnsafeRawBufferPointer) throws -> Void) {
        self.body = body
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        try body(bytes)
    }
}

/// A `ByteSource` over `Data` held in memory (documents, tests).
public struct DataByteSource: ByteSource {
    private let data: Data
    private var position: Int

    /// Reads `data` from its start.
    public init(_ data: Data) {
        self.data = data
        self.position = data.startIndex
    }

    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let count = min(buffer.count, data.endIndex - position)
        guard count > 0 else { return 0 }
        data.copyBytes(to: buffer.bindMemory(to: UInt8.self), from: position ..< position + count)
        position += count
        return count
    }
}

/// A `ByteSource` reading a file descriptor it does not own (it never closes it). Retries `EINTR`.
public struct FileDescriptorSource: ByteSource {
    /// The descriptor read from.
    public let fileDescriptor: Int32
    /// Name used in error messages (a path, or "<stdin>").
    public let name: String

    /// Reads `fileDescriptor`; `name` appears in error messages.
    public init(fileDescriptor: Int32, name: String) {
        self.fileDescriptor = fileDescriptor
        self.name = name
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        while true {
            let n = Foundation.read(fileDescriptor, base, buffer.count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw BaleError.posix("read", path: name)
        }
    }
}

/// A `ByteSink` writing to a file descriptor it does not own (it never closes it). Retries short
/// writes and `EINTR`.
public struct FileDescriptorSink: ByteSink {
    /// The descriptor written to.
    public let fileDescriptor: Int32
    /// Name used in error messages (a path, or "<stdout>").
    public let name: String

    /// Writes to `fileDescriptor`; `name` appears in error messages.
    public init(fileDescriptor: Int32, name: String) {
        self.fileDescriptor = fileDescriptor
        self.name = name
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        try writeAll(fileDescriptor, bytes, name: name)
    }
}

/// Writes every byte of `bytes` to `fd`, retrying short writes and `EINTR`.
/// Writes all of `bytes` to `fd`, retrying short writes and EINTR; `name` is for messages.
public func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, name: String) throws {
    guard var base = bytes.baseAddress else { return }
    var remaining = bytes.count
    while remaining > 0 {
        let n = Foundation.write(fd, base, remaining)
        if n < 0 {
            if errno == EINTR { continue }
            throw BaleError.posix("write", path: name)
        }
        remaining -= n
        base += n
    }
}

/// A `ByteSink` that passes bytes on to another sink while hashing (SHA-256) and counting them, so the
/// digest of what is written is computed on the way out, never by a second read.
///
/// A class, so the caller keeps a reference to read `digest` and `byteCount` after handing the sink to
/// a writer.
public final class DigestingSink: ByteSink {
    private var base: any ByteSink
    private var hasher = SHA256Hasher()
    /// Bytes passed through so far.
    public private(set) var byteCount: Int64 = 0

    /// Wraps `base`; every byte written goes to `base` first and is hashed once `base` accepted it.
    public init(_ base: any ByteSink) {
        self.base = base
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        try base.write(bytes)
        hasher.update(bytes)
        byteCount += Int64(bytes.count)
    }

    /// SHA-256 of every byte written so far.
    public var digest: BaleCore.Digest { hasher.finalize() }
}

/// A `ByteSource` that hashes (SHA-256) and counts the bytes read through it, e.g. to compute a blob's
/// digest while libarchive decompresses and parses it.
///
/// A class, so the caller keeps a reference to read `digest` after handing the source to a reader.
/// libarchive stops reading at the tar end-of-archive marker, so call `drain()` before reading `digest`
/// when the digest must cover the whole stream.
public final class DigestingSource: ByteSource {
    private var base: any ByteSource
    private var hasher = SHA256Hasher()
    /// Bytes read through so far.
    public private(set) var byteCount: Int64 = 0

    /// Wraps `base`.
    public init(_ base: any ByteSource) {
        self.base = base
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try base.read(into: buffer)
        if n > 0 {
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0 ..< n]))
            byteCount += Int64(n)
        }
        return n
    }

    /// Reads and hashes whatever is left in `base`, up to its end.
    public func drain() throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        defer { buffer.deallocate() }
        while try read(into: buffer) > 0 {}
    }

    /// SHA-256 of every byte read so far.
    public var digest: BaleCore.Digest { hasher.finalize() }
}
