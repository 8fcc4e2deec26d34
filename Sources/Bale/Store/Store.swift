import BaleCore
import BaleIO
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// bale's local image store. It **is** an OCI image layout, so peers (skopeo, umoci) read it directly:
///
/// ```
/// ROOT/oci-layout            {"imageLayoutVersion":"1.0.0"}
/// ROOT/index.json            one descriptor per tag; ref.name = full normalised reference
///                            (docker.io/library/centos:latest); untagged images have no ref.name
/// ROOT/blobs/sha256/<hex>    content, named by the digest of its bytes
/// ROOT/ingest/               temp files of blobs being written; prune removes stale ones
/// ROOT/.lock                 flock: one writer at a time; readers take it shared
/// ```
///
/// Guarantees: a blob appears under `blobs/` only after its bytes were hashed and matched; `index.json` is
/// replaced atomically and only after every blob it names is present; so a command killed at any instant
/// leaves the store as before or as after.
public final class Store: @unchecked Sendable {
    // Sendable: the only mutable state is on disk, guarded by the flock; the class holds paths only.

    /// The store's root directory.
    public let root: String
    /// The flock shared by this object's holders (`acquireLock`).
    private let lockState = StoreLockState()

    /// Whether this handle only reads: opened by `init(readingAt:)`, it creates nothing.
    let readOnly: Bool

    /// The free space blob writes leave on the store's file system (`--min-free`).
    public let reserve: DiskReserve

    /// Opens the store at `root`, creating an empty layout when there is none. Blob writes stop before
    /// the file system's free space falls below `reserve`.
    public init(root: String, reserve: DiskReserve = DiskReserve()) throws {
        try Self.checkRoot(root)
        self.root = root
        self.reserve = reserve
        readOnly = false
        try createLayoutIfNeeded()
    }

    /// Opens the store at `root` for reading only (`images`, `inspect`, `history`, `save`, `verify`):
    /// nothing is created, and a root that holds no store yet reads as an empty one.
    public init(readingAt root: String) throws {
        try Self.checkRoot(root)
        self.root = root
        reserve = DiskReserve()
        readOnly = true
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: root, isDirectory: &isDir), !isDir.boolValue {
            throw BaleError(.invalidInput, "\(root): the store root is not a directory")
        }
        if FileManager.default.fileExists(atPath: layoutPath) { try checkLayoutVersion() }
    }

    /// An empty root would put the store's paths at the file system's root (`/blobs`, `/index.json`,
    /// `/.lock`): it is refused, never taken to mean `/` or the current directory.
    private static func checkRoot(_ root: String) throws {
        guard !root.isEmpty else {
            throw BaleError(.usage, "the store root is empty: give --root a directory (or unset BALE_ROOT)")
        }
    }

    /// Whether a read-only handle looks at a root with no store in it (no index.json yet).
    var isAbsent: Bool { readOnly && access(indexPath, F_OK) != 0 }

    /// The store root bale uses by default: `$BALE_ROOT`, else `/var/lib/bale` as root, else
    /// `$XDG_DATA_HOME/bale`, else `~/.local/share/bale`. A `BALE_ROOT` set but empty is returned
    /// as it is, so that opening the store refuses it instead of silently using another root.
    public static func defaultRoot(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let r = environment["BALE_ROOT"] { return r }
        if geteuid() == 0 { return "/var/lib/bale" }
        if let x = environment["XDG_DATA_HOME"], !x.isEmpty { return x + "/bale" }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.local/share/bale"
    }

    // MARK: Paths

    var indexPath: String { root + "/index.json" }
    var layoutPath: String { root + "/oci-layout" }
    var ingestDir: String { root + "/ingest" }
    var lockPath: String { root + "/.lock" }

    /// Where the blob with this digest lives (the digest's parts are validated hex, so this is safe).
    public func blobPath(_ digest: Digest) -> String {
        "\(root)/blobs/\(digest.algorithm.rawValue)/\(digest.encoded)"
    }

    private func createLayoutIfNeeded() throws {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: root, isDirectory: &isDir), !isDir.boolValue {
            throw BaleError(.invalidInput, "\(root): the store root is not a directory")
        }
        if fm.fileExists(atPath: layoutPath) && fm.fileExists(atPath: indexPath) {
            try checkLayoutVersion()
            for dir in [root + "/blobs/sha256", ingestDir] where !fm.fileExists(atPath: dir) {
                try makeDirectory(dir)
            }
            return
        }
        try makeDirectory(root + "/blobs/sha256")
        try makeDirectory(ingestDir)
        try withLock(exclusive: true) {
            if !fm.fileExists(atPath: layoutPath) {
                try writeAtomically(Data(#"{"imageLayoutVersion":"1.0.0"}"#.utf8), to: layoutPath)
            }
            if !fm.fileExists(atPath: indexPath) {
                try writeAtomically(try JSON.canonical(Index(mediaType: .ociIndex, manifests: [])), to: indexPath)
            }
        }
    }

    private func checkLayoutVersion() throws {
        struct Layout: Decodable { let imageLayoutVersion: String }
        let bytes = try readFile(layoutPath, limit: 4096)
        let layout = try JSON.decode(Layout.self, from: bytes, what: layoutPath)
        guard layout.imageLayoutVersion == "1.0.0" else {
            throw BaleError(.unsupported, "\(layoutPath): image layout version \(layout.imageLayoutVersion), expected 1.0.0")
        }
    }

    private func makeDirectory(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw BaleError(.io, "\(path): cannot create directory", cause: error)
        }
    }

    // MARK: Locking

    /// Runs `body` holding the store's flock: exclusive for writers, shared for readers, so a reader
    /// never sees a writer's half state and two writers never interleave.
    public func withLock<T>(exclusive: Bool, _ body: () throws -> T) throws -> T {
        let lock = try acquireLock(exclusive: exclusive)
        defer { lock.release() }
        return try body()
    }

    /// Takes the store's flock until the returned handle is released. Holders of this `Store` object
    /// share one flock: a writer that also reads (a copy from the store into itself, a commit on a
    /// base image) holds it once, exclusively, instead of waiting for itself; another `Store` object,
    /// like another process, waits.
    func acquireLock(exclusive: Bool) throws -> StoreLock {
        try lockState.acquire(exclusive: exclusive, path: lockPath)
        return StoreLock(state: lockState, exclusive: exclusive)
    }
    // MARK: Blobs

    /// Whether a blob with this digest is in the store.
    public func hasBlob(_ digest: Digest) -> Bool {
        access(blobPath(digest), F_OK) == 0
    }

    /// Size of a stored blob, or nil when absent.
    public func blobSize(_ digest: Digest) -> Int64? {
        var st = stat()
        guard stat(blobPath(digest), &st) == 0 else { return nil }
        return Int64(st.st_size)
    }

    /// Reads a small blob (a manifest, index or config), checking its digest and, when given, its size.
    public func readDocument(_ descriptor: Descriptor) throws -> Data {
        try descriptor.checkDocumentSize(in: "store \(root)")
        let path = blobPath(descriptor.digest)
        guard hasBlob(descriptor.digest) else {
            throw BaleError(.notFound, "\(descriptor.digest): blob missing from the store (\(path))")
        }
        let data = try readFile(path, limit: JSON.maxDocumentSize)
        try descriptor.verify(data, in: "store \(root)")
        return data
    }

    /// Stores `data` as a blob (hash, compare with `expected` when given, fsync, rename). Returns its
    /// descriptor-ready digest. Existing blobs are not rewritten.
    @discardableResult
    public func putBlob(_ data: Data, expected: Digest? = nil) throws -> Digest {
        let digest = SHA256Hasher.digest(data)
        if let expected, expected != digest {
            throw BaleError(.integrity, "\(expected): content does not match its digest (it hashes to \(digest))")
        }
        if !BlobFile.isIntact(blobPath(digest), digest: digest, size: Int64(data.count), verify: false) {
            try writeAtomically(data, to: blobPath(digest), tempDirectory: ingestDir)
        }
        return digest
    }

    // MARK: Files

    /// Reads a whole file, refusing files over `limit` bytes.
    func readFile(_ path: String, limit: Int) throws -> Data {
        let data = try RegularFile.read(path, limit: limit + 1)
        guard data.count <= limit else {
            throw BaleError(.invalidInput, "\(path): over the \(limit)-byte limit")
        }
        return data
    }

    /// Replaces a file atomically (see `BlobFile.replace`), its temp file in `tempDirectory`.
    func writeAtomically(_ data: Data, to path: String, tempDirectory: String? = nil) throws {
        try BlobFile.replace(path, with: data, temporaryDirectory: tempDirectory)
    }
}

/// A hold on the store's flock, from `Store.acquireLock` until `release` (or deinit). A writer holds
/// it exclusively for its whole run, so whatever is in `ingest/` while the lock is free belongs to a
/// command that died.
final class StoreLock: @unchecked Sendable {
    // Sendable: `state` is thread-safe; `held` is written once more, by the owner's one release.
    private let state: StoreLockState
    private let exclusive: Bool
    private var held = true

    fileprivate init(state: StoreLockState, exclusive: Bool) {
        self.state = state
        self.exclusive = exclusive
    }

    /// Runs `body` when this is the process's only writer hold, and no other is taken meanwhile.
    func whileSoleWriter(_ body: () throws -> Void) rethrows {
        guard exclusive else { return }
        try state.whileSoleWriter(body)
    }

    func release() {
        guard held else { return }
        held = false
        state.release(exclusive: exclusive)
    }

    deinit { release() }
}

/// One `Store` object's flock and how many holders share it. flock locks belong to an open file
/// description, so two opens of the lock file in one process exclude each other: a copy whose source
/// held the lock shared and whose destination then asked for it exclusively waited forever. Here the
/// holders of one `Store` share one descriptor; the lock is exclusive while any holder wants it so, and
/// goes back to shared, then free, as they release.
final class StoreLockState: @unchecked Sendable {
    // Sendable: every field is guarded by `mutex`.
    private let mutex = NSLock()
    private var fd: Int32 = -1
    /// The flock held on `fd` (LOCK_UN while readers go unlocked, see `acquire`).
    private var held = LOCK_UN
    private var shared = 0
    private var exclusive = 0

    func acquire(exclusive wantsExclusive: Bool, path: String) throws {
        mutex.lock()
        defer { mutex.unlock() }
        if fd < 0 {
            if wantsExclusive {
                fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            } else {
                // A reader opens the lock read-only (flock needs no write access), so a store it may only
                // read can still be read. A reader never creates it: with no lock file, no bale writer has
                // been there (a writer creates it before it writes anything), and every file a writer
                // makes appears by an atomic rename, so the reader goes on unlocked and leaves no trace.
                // O_NONBLOCK: a FIFO planted as the lock must not hang the open (flock ignores the flag).
                fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
                if fd < 0 && errno == ENOENT {
                    shared += 1
                    return
                }
            }
            guard fd >= 0 else { throw BaleError.posix("cannot open lock file", path: path) }
        }
        let needed = wantsExclusive || exclusive > 0 ? LOCK_EX : LOCK_SH
        if needed != held && !(needed == LOCK_SH && held == LOCK_EX) {
            while flock(fd, needed) != 0 {
                if errno != EINTR {
                    let error = BaleError.posix("cannot lock the store", path: path)
                    if held == LOCK_UN { close(fd); fd = -1 }
                    throw error
                }
            }
            held = needed
        }
        if wantsExclusive { exclusive += 1 } else { shared += 1 }
    }

    /// Runs `body` only when a single exclusive hold is taken in this process, and keeps others from
    /// being taken while it runs.
    func whileSoleWriter(_ body: () throws -> Void) rethrows {
        mutex.lock()
        defer { mutex.unlock() }
        guard exclusive == 1 else { return }
        try body()
    }

    func release(exclusive wasExclusive: Bool) {
        mutex.lock()
        defer { mutex.unlock() }
        if wasExclusive { exclusive -= 1 } else { shared -= 1 }
        guard fd >= 0 else { return }
        if exclusive == 0 && shared == 0 {
            _ = flock(fd, LOCK_UN)
            close(fd)
            fd = -1
            held = LOCK_UN
        } else if wasExclusive && exclusive == 0 {
            _ = flock(fd, LOCK_SH)    // a reader of this store still holds it
            held = LOCK_SH
        }
    }
}
