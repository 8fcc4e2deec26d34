import BaleCore
import Foundation

// An archive cut into parts for removable media, as `split -d -a 3` and `sha256sum` would leave it:
//
// ```
// NAME.000      the first SIZE bytes of the stream
// NAME.001      the next SIZE bytes …          every part but the last is exactly SIZE bytes;
// NAME.00N      the rest (1 … SIZE bytes)      no empty last part is ever written
// NAME.sha256   "<hex>  NAME.000\n" …          one line a part, `sha256sum -c NAME.sha256` checks it
// ```
//
// `cat NAME.0*` is the archive again (any tar reader, docker load); part numbers grow past three digits
// only beyond 1000 parts, where the sum file, not a glob, gives the order.

/// A sink that can be made visible as a whole, or given up: an `-o` file (`OutputFile`) or a split
/// archive's set of parts (`SplitFileSink`).
public protocol CommittableSink: ByteSink, AnyObject {
    /// Makes what was written visible under its final name(s).
    func commit() throws
    /// Gives up; nothing written is left under a final name (safe to call more than once).
    func discard()
}

extension OutputFile: CommittableSink {}

/// Writes one stream as a split archive (the sketch above), rolling over to the next part as the bytes
/// pass and hashing each part on the way (no part is read back): bytes gather in 1 MiB blocks, and each
/// full block is hashed on a second thread while this one writes it (`HashingCopy.Hasher`), so the sums
/// cost no time of the writer's.
///
/// Atomic as a set: each part is an `AtomicFile` next to NAME, sealed (fsynced, closed) when full; at
/// `commit` the parts are renamed into place, the parts of an older, longer set of the same NAME beyond
/// the new last one are removed (a set is never a mix of two), and the sum file is written last, so a
/// set whose commit was cut short fails its own check. `discard` (or deinit without `commit`) removes
/// every temp file and leaves what was there before.
public final class SplitFileSink: CommittableSink {
    /// NAME as given (the parts are NAME.000 …).
    public let path: String
    /// The largest part, in bytes.
    public let partSize: Int64
    private let directory: String
    private let base: String
    /// Parts done: the sealed temp file, its size and its digest.
    private var parts: [(file: AtomicFile, size: Int64, digest: BaleCore.Digest)] = []
    private var current: AtomicFile?
    private var currentSize: Int64 = 0
    /// The current part's hashing thread, and the block being filled (not yet written or hashed).
    private var hasher: HashingCopy.Hasher?
    private var block: ByteBlock?
    private var settled = false

    /// Prepares to write NAME.000 … next to `path`, each at most `partSize` bytes (> 0). Nothing is
    /// created until the first byte arrives. Throws `.usage` when `path` is a directory.
    public init(path: String, partSize: Int64) throws {
        guard partSize > 0 else { throw BaleError(.usage, "\(path): the part size must be at least 1 byte") }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw BaleError(.usage, "\(path): is a directory")
        }
        self.path = path
        self.partSize = partSize
        let directory = (path as NSString).deletingLastPathComponent
        self.directory = directory.isEmpty ? "." : directory
        base = (path as NSString).lastPathComponent
    }

    deinit { discard() }

    /// The name of part `n` (0-based): NAME.000, NAME.001, …
    public static func partName(_ base: String, _ n: Int) -> String {
        let number = String(n)
        return base + "." + String(repeating: "0", count: max(0, 3 - number.count)) + number
    }

    /// The sum file of the set NAME: NAME.sha256.
    public static func sumName(_ base: String) -> String { base + ".sha256" }

    /// Bytes written so far, over all parts.
    public var byteCount: Int64 { parts.reduce(currentSize) { $0 + $1.size } }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard !settled else { throw BaleError(.internal, "\(path): write after commit or discard") }
        var rest = bytes
        while !rest.isEmpty {
            if current == nil || currentSize == partSize { try roll() }
            guard let hasher else { return }
            let n = Int(min(Int64(rest.count), partSize - currentSize))
            var taken = 0
            while taken < n {
                let filling = block ?? hasher.spare(capacity: HashingCopy.defaultBlockSize)
                _ = try filling.fill { buffer in
                    let k = min(buffer.count, n - taken)
                    if k > 0, let from = rest.baseAddress {
                        buffer.baseAddress?.copyMemory(from: from + taken, byteCount: k)
                    }
                    taken += k
                    return k
                }
                block = filling
                if filling.count == filling.capacity { try flush() }
            }
            currentSize += Int64(n)
            rest = UnsafeRawBufferPointer(rebasing: rest[(rest.startIndex + n)...])
        }
    }

    /// Hands the block to the hasher and writes it meanwhile.
    private func flush() throws {
        guard let filled = block, let hasher, let file = current else { return }
        block = nil
        guard filled.count > 0 else { return }
        hasher.hash(filled)
        try file.write(filled.bytes)
    }

    /// Seals the full part, if any, and opens the next: called only when a byte is waiting for it, so
    /// the last part is never empty.
    private func roll() throws {
        try sealCurrent()
        hasher = HashingCopy.Hasher()
        current = try AtomicFile(directory: directory, prefix: ".\(Self.partName(base, parts.count)).tmp-",
                                 nameInErrors: "\(directory)/\(Self.partName(base, parts.count))")
    }

    private func sealCurrent() throws {
        guard let file = current, let hashing = hasher else { return }
        try flush()
        current = nil
        hasher = nil
        let digest = hashing.finish()
        try file.seal()
        parts.append((file, currentSize, digest))
        currentSize = 0
    }

    /// Renames the parts into place, removes the stale parts of an older set beyond them, and writes the
    /// sum file last. An empty stream still makes one (empty) part, so the set exists.
    public func commit() throws {
        guard !settled else { throw BaleError(.internal, "\(path): commit after commit or discard") }
        do {
            if parts.isEmpty && current == nil { try roll() }
            try sealCurrent()
            var sums = ""
            for (n, part) in parts.enumerated() {
                sums += "\(part.digest.encoded)  \(Self.partName(base, n))\n"
            }
            let sumFile = try AtomicFile(directory: directory, prefix: ".\(Self.sumName(base)).tmp-",
                                         nameInErrors: "\(directory)/\(Self.sumName(base))")
            defer { sumFile.discard() }
            try sumFile.write(Data(sums.utf8))
            try sumFile.seal()
            for (n, part) in parts.enumerated() {
                try part.file.commit(to: "\(directory)/\(Self.partName(base, n))")
            }
            var stale = parts.count
            while unlink("\(directory)/\(Self.partName(base, stale))") == 0 { stale += 1 }
            try sumFile.commit(to: "\(directory)/\(Self.sumName(base))")
            settled = true
        } catch {
            discard()
            throw error
        }
    }

    /// Removes every temp file (parts not yet renamed, the current one). Safe to call more than once.
    public func discard() {
        guard !settled else { return }
        settled = true
        hasher?.stop()
        hasher = nil
        block = nil
        current?.discard()
        current = nil
        for part in parts { part.file.discard() }
        parts = []
    }
}

/// A split archive on the reading side: its parts, found from any of `NAME`, `NAME.000` or
/// `NAME.sha256`, checked against the sum file, then read as one stream.
public struct SplitArchive: Sendable {
    /// The sum file (NAME.sha256).
    public let sumFile: String
    /// The parts in order, as paths, with the digest the sum file gives each.
    public let parts: [(path: String, digest: BaleCore.Digest)]

    /// The split archive `path` names, or nil when `path` is an ordinary file: `path` is NAME.sha256 or
    /// NAME.000, or NAME itself does not exist but NAME.000 does. Throws when the sum file is missing
    /// or malformed.
    public static func find(_ path: String) throws -> SplitArchive? {
        let base: String
        if path.hasSuffix(".sha256") {
            base = String(path.dropLast(".sha256".count))
        } else if path.hasSuffix(".000") {
            base = String(path.dropLast(".000".count))
        } else if !FileManager.default.fileExists(atPath: path), FileManager.default.fileExists(atPath: path + ".000") {
            base = path
        } else {
            return nil
        }
        return try SplitArchive(sumFile: base + ".sha256")
    }

    /// Reads the sum file: `sha256sum` lines (`<hex>  <name>` or `<hex> *<name>`), names relative to the
    /// sum file's folder.
    public init(sumFile: String) throws {
        self.sumFile = sumFile
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: sumFile))
        } catch {
            throw BaleError(.notFound, "\(sumFile): missing (the split archive's part sums)")
        }
        let directory = (sumFile as NSString).deletingLastPathComponent
        var parts: [(String, BaleCore.Digest)] = []
        for (number, line) in String(decoding: data, as: UTF8.self).split(separator: "\n").enumerated() {
            let fields = line.split(separator: " ", maxSplits: 1)
            guard fields.count == 2, let digest = try? BaleCore.Digest(sha256Hex: String(fields[0])) else {
                throw BaleError(.invalidInput, "\(sumFile): line \(number + 1): not \"<sha256 hex>  <part>\"")
            }
            var name = fields[1]
            if name.hasPrefix(" ") || name.hasPrefix("*") { name = name.dropFirst() }
            guard !name.isEmpty, !name.contains("/") else {
                throw BaleError(.invalidInput, "\(sumFile): line \(number + 1): a part must be a file beside the sum file, not \"\(name)\"")
            }
            parts.append((directory.isEmpty ? String(name) : "\(directory)/\(name)", digest))
        }
        guard !parts.isEmpty else { throw BaleError(.invalidInput, "\(sumFile): lists no parts") }
        self.parts = parts
    }

    /// Hashes every part and throws one error naming each part that is missing or does not match its
    /// sum (`NAME.002: missing; NAME.001: sha256 mismatch (expected …, got …)`), before any of the
    /// archive is read. Parts are hashed concurrently (at most `jobs` at once).
    public func check(jobs: Int = 1) throws {
        let parts = self.parts
        let checks = PartChecks(count: parts.count)
        DispatchQueue.concurrentPerform(iterations: max(1, min(jobs, parts.count))) { _ in
            while let i = checks.next() {
                let (path, expected) = parts[i]
                guard FileManager.default.fileExists(atPath: path) else {
                    checks.record(i, "\(path): missing")
                    continue
                }
                do {
                    let actual = try Self.hash(path)
                    if actual != expected {
                        checks.record(i, "\(path): sha256 mismatch (expected \(expected.encoded), got \(actual.encoded))")
                    }
                } catch let error as BaleError {
                    checks.record(i, error.message)
                } catch {
                    checks.record(i, "\(path): \(error)")
                }
            }
        }
        let found = checks.problems
        guard found.isEmpty else { throw BaleError(.integrity, found.joined(separator: "; ")) }
    }

    private static func hash(_ path: String) throws -> BaleCore.Digest {
        let fd = try RegularFile.open(path)
        defer { close(fd) }
        var hasher = SHA256Hasher()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        let source = FileDescriptorSource(fileDescriptor: fd, name: path)
        while case let n = try source.read(into: buffer), n > 0 {
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0 ..< n]))
        }
        return hasher.finalize()
    }

    /// The parts as one stream, opened one after the other.
    public func reader() -> any ByteSource { PartsSource(paths: parts.map(\.path)) }
}

/// Reads files one after the other as one stream; each is opened when the one before it ends.
private final class PartsSource: ByteSource {
    private let paths: [String]
    private var index = 0
    private var fd: Int32 = -1

    init(paths: [String]) { self.paths = paths }

    deinit { if fd >= 0 { close(fd) } }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while index < paths.count {
            if fd < 0 { fd = try RegularFile.open(paths[index]) }
            let n = try FileDescriptorSource(fileDescriptor: fd, name: paths[index]).read(into: buffer)
            if n > 0 { return n }
            close(fd)
            fd = -1
            index += 1
        }
        return 0
    }
}

/// The parts' checks shared by the hashing threads: the next part to hash, and what was found, by part.
private final class PartChecks: @unchecked Sendable {
    // Sendable: every field is guarded by `lock`.
    private let lock = NSLock()
    private let count: Int
    private var nextIndex = 0
    private var found: [Int: String] = [:]

    init(count: Int) { self.count = count }

    func next() -> Int? {
        lock.withLock {
            guard nextIndex < count else { return nil }
            defer { nextIndex += 1 }
            return nextIndex
        }
    }

    func record(_ index: Int, _ problem: String) {
        lock.withLock { found[index] = problem }
    }

    /// The problems in part order.
    var problems: [String] { lock.withLock { found.sorted { $0.key < $1.key }.map(\.value) } }
}
