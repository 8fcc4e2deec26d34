import BaleCore
import Foundation

// A flat root filesystem: a tar (plain, gzip, bzip2, xz or zstd; `-` is stdin or stdout) or a
// directory. It holds no image, only files, so each side makes one:
//
// ```
// read (import)   rootfs:PATH ─▶ one gzip layer (the tar's decompressed bytes verbatim, or the
//                                directory archived deterministically) + a synthesised config and
//                                OCI manifest: a one-layer image, streamed into the destination
// write (export)  image ─▶ its layers flattened bottom to top (whiteouts, opaque directories, hard
//                          links) ─▶ one tar, or files in a directory
// ```
//
// A destination PATH that is an existing directory, or ends in `/`, is a directory (it must be empty);
// anything else is a tar file.

/// `rootfs:PATH`: a flat filesystem, as a tar or a directory.
public enum RootfsFormat: LocationFormat {
    public static let prefix = "rootfs"

    public static func source(path: String, reference: String?, context: LocationContext) throws -> any ImageSource {
        try RootfsSource(input: layerInput(path + (reference.map { ":" + $0 } ?? "")), options: context.rootfs)
    }

    public static func destination(path: String, reference: String?, context: LocationContext) throws -> any ImageDestination {
        let full = path + (reference.map { ":" + $0 } ?? "")
        var isDirectory: ObjCBool = false
        if full.hasSuffix("/") || FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory) && isDirectory.boolValue {
            return RootfsDestination(output: .directory(full))
        }
        return RootfsDestination(output: full == "-" ? .stream(fileDescriptor: 1, name: "<stdout>") : .tar(full))
    }

    /// A path as `import` and `commit` read it: a directory, `-` for stdin, else a tar file.
    public static func layerInput(_ path: String) -> LayerInput {
        if path == "-" { return .standardInput }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            return .directory(path)
        }
        return .file(path)
    }
}
