import BaleCore
import BaleIO
import Foundation

/// Where one layer of a data root lives, and its tar's size (counted from its tar-split).
struct LayerRecord: Sendable {
    let diffID: Digest
    /// `image NAME (ID): layer N (sha256:…)`, in every message about this layer (the copier puts the
    /// location first, and where it copies blob by blob, the digest again).
    let what: String
    let tarSplit: String
    /// The driver's directory holding the layer's files.
    let files: String
    /// The rebuilt tar's size in bytes.
    let size: Int64

    init(root: String, driver: String, diffID: Digest, chainID: Digest, what: String) throws {
        self.diffID = diffID
        self.what = what
        let layerdb = "\(root)/image/\(driver)/layerdb/sha256/\(chainID.encoded)"
        func field(_ file: String) throws -> String {
            do {
                let data = try RegularFile.read("\(layerdb)/\(file)", limit: 4096)
                return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            } catch {
                throw BaleError(.notFound, "\(what): no layer record \(layerdb)/\(file) (chain ID \(chainID))", cause: error)
            }
        }
        guard try field("diff") == diffID.string else {
            throw BaleError(.integrity, "\(what): \(layerdb)/diff does not name this layer")
        }
        let cacheID = try field("cache-id")
        guard !cacheID.isEmpty, !cacheID.contains("/"), cacheID != ".", cacheID != ".." else {
            throw BaleError(.invalidInput, "\(what): \(layerdb)/cache-id is not a directory name")
        }
        switch driver {
        case "vfs": files = "\(root)/vfs/dir/\(cacheID)"
        case "overlay2", "overlay": files = "\(root)/\(driver)/\(cacheID)/diff"
        default:
            throw BaleError(.unsupported, "\(what): storage driver \(driver) is not one bale reads (vfs, overlay2)")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: files, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw BaleError(.notFound, "\(what): its files are missing (no directory \(files))")
        }
        tarSplit = "\(layerdb)/tar-split.json.gz"
        var size: Int64 = 0
        do {
            let entries = try TarSplitEntries(path: tarSplit)
            while let entry = try entries.next() {
                size += entry.type == .segment ? Int64(entry.payload?.count ?? 0) : entry.size ?? 0
            }
        } catch {
            throw BaleError(.invalidInput, "\(what): damaged tar-split \(tarSplit)", cause: error)
        }
        self.size = size
    }
}

/// One entry of a tar-split file (github.com/vbatts/tar-split `tar/storage.Entry`): a raw segment of
/// the tar (headers, padding; base64 in `payload`), or a file whose bytes are elsewhere (`payload` is
/// then its CRC-64, big-endian; hard links and empty files have size 0).
struct TarSplitEntry: Decodable {
    enum Kind: Int, Decodable { case file = 1, segment = 2 }
    let type: Kind
    let name: String?
    let name_raw: Data?
    let size: Int64?
    let payload: Data?

    /// The name as the tar header gives it (`name_raw` when it is not UTF-8).
    var nameBytes: [UInt8] { name_raw.map { Array($0) } ?? Array((name ?? "").utf8) }
}

/// The entries of a `tar-split.json.gz`, one JSON object a line, read as they are needed.
final class TarSplitEntries {
    private let fd: Int32
    private let gunzip: GunzipSource
    private var buffer: [UInt8] = []
    private var start = 0
    private var atEnd = false
    private let decoder = JSONDecoder()
    /// Lines longer than this are not tar-split (a header segment is at most a few KiB, PAX ones
    /// a little more).
    private static let maxLine = 16 << 20

    init(path: String) throws {
        fd = try RegularFile.open(path)
        gunzip = GunzipSource(source: FileDescriptorSource(fileDescriptor: fd, name: path), name: path, bufferSize: 1 << 16)
    }

    deinit { Foundation.close(fd) }

    func next() throws -> TarSplitEntry? {
        while true {
            if let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = buffer[start..<newline]
                start = newline + 1
                if line.isEmpty { continue }
                return try decoder.decode(TarSplitEntry.self, from: Data(line))
            }
            if atEnd {
                guard start == buffer.count else {
                    let line = buffer[start...]
                    start = buffer.count
                    return try decoder.decode(TarSplitEntry.self, from: Data(line))
                }
                return nil
            }
            buffer.removeSubrange(0..<start)
            start = 0
            guard buffer.count < Self.maxLine else {
                throw BaleError(.invalidInput, "a line of over \(Self.maxLine) bytes")
            }
            let old = buffer.count
            buffer.append(contentsOf: repeatElement(0, count: 1 << 16))
            let n = try buffer.withUnsafeMutableBytes { raw in
                try gunzip.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[old...]))
            }
            buffer.removeSubrange((old + n)...)
            if n == 0 { atEnd = true }
        }
    }
}

/// A layer's tar, rebuilt from its tar-split and its files as it is read: segments as recorded, each
/// file's bytes from the driver's directory (by the name its header gives, confined to that directory,
/// symlinks not followed). Checks each file's size and CRC-64 against the tar-split, naming the layer
/// and the file, and the stream's length. The stream is not hashed here: the layer's descriptor digest
/// is its DiffID, and every copy checks the digest of what it puts, so the bytes are hashed once.
final class LayerAssembler: BlobReader {
    private let layer: LayerRecord
    private let entries: TarSplitEntries
    private var produced: Int64 = 0
    /// Bytes of the current segment not yet returned.
    private var segment: Data = Data()
    private var segmentOffset = 0
    /// The file being copied: descriptor, name, bytes left, running CRC, expected CRC.
    private var file: (fd: Int32, name: String, left: Int64, crc: CRC64ISO, expected: Data?)?
    private var done = false

    init(_ layer: LayerRecord) throws {
        self.layer = layer
        do { entries = try TarSplitEntries(path: layer.tarSplit) } catch {
            throw BaleError(.notFound, "\(layer.what): its tar-split \(layer.tarSplit) is gone", cause: error)
        }
    }

    deinit { close() }

    func close() {
        if let f = file { Foundation.close(f.fd); file = nil }
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while !done {
            if segmentOffset < segment.count {
                let n = min(buffer.count, segment.count - segmentOffset)
                segment.withUnsafeBytes { raw in
                    buffer.baseAddress!.copyMemory(from: raw.baseAddress! + segmentOffset, byteCount: n)
                }
                segmentOffset += n
                return emit(buffer, n)
            }
            if var f = file {
                if f.left > 0 {
                    let n = Foundation.read(f.fd, buffer.baseAddress, Int(min(Int64(buffer.count), f.left)))
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw BaleError.posix("\(layer.what): reading file \(f.name)", path: layer.files)
                    }
                    guard n > 0 else {
                        throw BaleError(.integrity, "\(layer.what): file \(f.name) is shorter than when the layer was made (\(f.left) bytes missing): it changed after the fact")
                    }
                    f.crc.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                    f.left -= Int64(n)
                    file = f
                    return emit(buffer, n)
                }
                close()
                if let expected = f.expected, Array(expected) != f.crc.bytes {
                    throw BaleError(.integrity, "\(layer.what): file \(f.name) changed after the layer was made (its CRC-64 differs from the tar-split's)")
                }
                continue
            }
            try advance()
        }
        return 0
    }

    private func emit(_ buffer: UnsafeMutableRawBufferPointer, _ n: Int) -> Int {
        produced += Int64(n)
        return n
    }

    /// Takes the next entry: a segment to return, a file to open, or the end (checked).
    private func advance() throws {
        let entry: TarSplitEntry?
        do { entry = try entries.next() } catch {
            throw BaleError(.invalidInput, "\(layer.what): damaged tar-split \(layer.tarSplit)", cause: error)
        }
        guard let entry else {
            done = true
            guard produced == layer.size else {
                throw BaleError(.integrity, "\(layer.what): the rebuilt tar is \(produced) bytes, not the \(layer.size) the layer was")
            }
            return
        }
        switch entry.type {
        case .segment:
            segment = entry.payload ?? Data()
            segmentOffset = 0
        case .file:
            guard let size = entry.size, size > 0 else { return }
            let raw = RawPath(entry.nameBytes)
            let name = raw.string ?? "\(raw)"
            let fd = try open(raw, name: name)
            var st = stat()
            guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, Int64(st.st_size) == size else {
                Foundation.close(fd)
                throw BaleError(.integrity, "\(layer.what): file \(name) changed after the layer was made (\(Int64(st.st_size)) bytes on disk, \(size) in the tar-split)")
            }
            file = (fd, name, size, CRC64ISO(), entry.payload)
        }
    }

    /// Opens a member's file under the layer's directory, one component at a time, following no
    /// symlink: the name comes from the tar-split, which must not reach outside the layer.
    private func open(_ raw: RawPath, name: String) throws -> Int32 {
        let cleaned: RawPath
        do { cleaned = try SafePath.clean(raw, allowAbsolute: true) } catch {
            throw BaleError(.invalidInput, "\(layer.what): damaged tar-split: file \(name)", cause: error)
        }
        var dir = Foundation.open(layer.files, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dir >= 0 else {
            throw BaleError.posix("\(layer.what): its files are missing: cannot open", path: layer.files)
        }
        let components = cleaned.bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true)
        for (i, component) in components.enumerated() {
            let last = i == components.count - 1
            let flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (last ? O_NONBLOCK : O_DIRECTORY)
            let next = (Array(component) + [0]).withUnsafeBufferPointer { c in
                c.baseAddress!.withMemoryRebound(to: CChar.self, capacity: c.count) { openat(dir, $0, flags) }
            }
            let code = errno
            Foundation.close(dir)
            guard next >= 0 else {
                let why = code == ENOENT ? "it is missing" : String(cString: strerror(code))
                throw BaleError(code == ENOENT ? .notFound : .io,
                                "\(layer.what): file \(name): \(why) (changed after the layer was made?)")
            }
            dir = next
        }
        guard !components.isEmpty else {
            Foundation.close(dir)
            throw BaleError(.invalidInput, "\(layer.what): damaged tar-split: a file with an empty name")
        }
        _ = fcntl(dir, F_SETFL, fcntl(dir, F_GETFL) & ~O_NONBLOCK)
        return dir
    }
}
