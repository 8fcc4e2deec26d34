import BaleCore
import CLinux
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Extended attributes of file-system objects (xattr(7)), as tar members carry them in PAX
/// `SCHILY.xattr.NAME` records (`TarEntry.xattrs`).
///
/// Nothing here follows a final symbolic link: values are read with `lgetxattr` and set through an open
/// descriptor (`fsetxattr`) or with `lsetxattr`. Errors are `BaleError(.io)` whose `cause` is the
/// `POSIXError` of the call, so a caller can tell "not permitted / not supported here" (which moby turns
/// into warnings) from real failures.
public enum ExtendedAttributes {
    /// The name of the file-capabilities attribute (capabilities(7)), the one attribute moby archives.
    public static let capability = "security.capability"

    /// The value of the attribute `name` of `path` itself (a final symlink is not followed); `nil` when
    /// the object has no such attribute or its file system has no extended attributes at all.
    public static func value(_ name: String, path: String) throws -> Data? {
        try value(name, path: RawPath(path))
    }

    /// `value(_:path:)` for a path that may not be UTF-8.
    public static func value(_ name: String, path: RawPath) throws -> Data? {
        var buffer = [UInt8](repeating: 0, count: 256)
        while true {
            let n = buffer.withUnsafeMutableBytes { out in path.withCString { lgetxattr($0, name, out.baseAddress, out.count) } }
            if n >= 0 { return Data(buffer[0 ..< n]) }
            let code = errno
            switch code {
            case ENODATA, ENOTSUP, EOPNOTSUPP: return nil
            case ERANGE:
                // The value grew past the buffer: ask for its size, then read again.
                let size = path.withCString { lgetxattr($0, name, nil, 0) }
                if size < 0 {
                    if errno == ENODATA { return nil }
                    throw error("cannot read extended attribute \(name)", path: path.description, errno: errno)
                }
                buffer = [UInt8](repeating: 0, count: max(size, buffer.count * 2))
            default:
                throw error("cannot read extended attribute \(name)", path: path.description, errno: code)
            }
        }
    }

    /// Sets the attribute `name` of the open file `fileDescriptor`; `path` names it in errors.
    public static func set(_ name: String, value: Data, fileDescriptor: Int32, path: String) throws {
        let status = value.withUnsafeBytes { fsetxattr(fileDescriptor, name, $0.baseAddress, $0.count, 0) }
        guard status == 0 else { throw error("cannot set extended attribute \(name)", path: path, errno: errno) }
    }

    /// Sets the attribute `name` of `path` itself: a final symlink is not followed (the link gets it).
    public static func set(_ name: String, value: Data, path: String) throws {
        try set(name, value: value, path: RawPath(path))
    }

    /// `set(_:value:path:)` for a path that may not be UTF-8.
    public static func set(_ name: String, value: Data, path: RawPath) throws {
        let status = value.withUnsafeBytes { bytes in path.withCString { lsetxattr($0, name, bytes.baseAddress, bytes.count, 0) } }
        guard status == 0 else { throw error("cannot set extended attribute \(name)", path: path.description, errno: errno) }
    }

    /// The errno behind an error thrown here, if it is one.
    public static func errorNumber(_ error: any Error) -> Int32? {
        guard let cause = (error as? BaleError)?.cause as? POSIXError else { return nil }
        return cause.code.rawValue
    }

    private static func error(_ what: String, path: String, errno code: Int32) -> BaleError {
        var error = BaleError.posix(what, path: path, errno: code)
        if let posix = POSIXErrorCode(rawValue: code) { error.cause = POSIXError(posix) }
        return error
    }
}
