import BaleCore
import Foundation

/// A modification time with nanoseconds, as tar (PAX `mtime`) can carry it.
public struct TarTime: Hashable, Comparable, Sendable {
    /// Seconds since the Unix epoch (negative before 1970).
    public var seconds: Int64
    /// 0 ..< 1_000_000_000.
    public var nanoseconds: Int32

    /// A time of `seconds` since the epoch plus `nanoseconds`.
    public init(seconds: Int64, nanoseconds: Int32 = 0) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    /// The Unix epoch, the usual normalised time.
    public static let epoch = TarTime(seconds: 0)

    public static func < (a: TarTime, b: TarTime) -> Bool {
        (a.seconds, a.nanoseconds) < (b.seconds, b.nanoseconds)
    }
}

/// One header of a tar archive, as `TarReader` reports it and `TarWriter` writes it.
///
/// A plain value: it owns no libarchive memory and survives the reader moving on.
public struct TarEntry: Hashable, Sendable {
    /// What a tar member is.
    public enum Kind: String, Hashable, Sendable {
        /// A regular file with `size` bytes of data.
        case file
        /// A directory.
        case directory
        /// A symbolic link; `linkTarget` is its target, as stored.
        case symlink
        /// A hard link; `linkTarget` is the archive path of an earlier member.
        case hardlink
        /// A character device (`devMajor`, `devMinor`).
        case characterDevice
        /// A block device (`devMajor`, `devMinor`).
        case blockDevice
        /// A named pipe.
        case fifo
        /// Anything else libarchive reports (a socket, an unknown type flag).
        case other
    }

    /// One data extent of a sparse file; the bytes between extents are holes (zeros).
    public struct SparseExtent: Hashable, Sendable {
        /// Offset of the extent in the file.
        public var offset: Int64
        /// Length of the extent.
        public var length: Int64

        /// An extent of `length` bytes at `offset`.
        public init(offset: Int64, length: Int64) {
            self.offset = offset
            self.length = length
        }
    }

    /// The member name exactly as stored (after PAX/GNU long-name records are applied): it may start
    /// with `./` or `/`, contain `..`, or end in `/`; clean it with `SafePath` before using it.
    /// Bytes, as stored: a name that is not UTF-8 (Latin-1 names from old root filesystems) is kept as it
    /// is, never repaired, so it reaches the file system and the next archive unchanged.
    public var path: RawPath
    /// The member type.
    public var kind: Kind
    /// Size of the data in bytes (for a sparse file, the full logical size including holes).
    public var size: Int64
    /// Permission bits including set-user-ID, set-group-ID and sticky (`0o7777` at most).
    public var mode: UInt32
    /// Owner ID.
    public var uid: Int64
    /// Group ID.
    public var gid: Int64
    /// Owner name, "" when absent.
    public var uname: String
    /// Group name, "" when absent.
    public var gname: String
    /// Modification time.
    public var mtime: TarTime
    /// Symlink target or hardlink target, as stored (bytes, like `path`); `nil` for other kinds.
    public var linkTarget: RawPath?
    /// Device major number (devices only, else 0).
    public var devMajor: UInt32
    /// Device minor number (devices only, else 0).
    public var devMinor: UInt32
    /// Extended attributes (PAX `SCHILY.xattr.*` and `LIBARCHIVE.xattr.*` records), name → value.
    public var xattrs: [String: Data]
    /// The data extents of a sparse member (GNU or PAX sparse formats); `nil` for ordinary members.
    public var sparseMap: [SparseExtent]?

    /// A header with the given name, kind and size; everything else zero or empty.
    public init(path: RawPath, kind: Kind, size: Int64 = 0, mode: UInt32 = 0o644, uid: Int64 = 0,
                gid: Int64 = 0, uname: String = "", gname: String = "", mtime: TarTime = .epoch,
                linkTarget: RawPath? = nil, devMajor: UInt32 = 0, devMinor: UInt32 = 0,
                xattrs: [String: Data] = [:], sparseMap: [SparseExtent]? = nil) {
        self.path = path
        self.kind = kind
        self.size = size
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.uname = uname
        self.gname = gname
        self.mtime = mtime
        self.linkTarget = linkTarget
        self.devMajor = devMajor
        self.devMinor = devMinor
        self.xattrs = xattrs
        self.sparseMap = sparseMap
    }

    /// Whether the member is stored sparse (its data has holes that are not in the archive).
    public var isSparse: Bool { sparseMap != nil }
}
