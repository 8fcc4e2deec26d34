@testable import Bale
import BaleCore
import BaleIO
import Foundation
import TestSupport

/// Helpers for the rootfs tests: synthetic layers, images in a temporary store, and a comparable
/// snapshot of a directory tree.
enum RootfsTestSupport {
    /// A tar made of `build`'s members.
    static func tar(_ build: (TarWriter) throws -> Void) throws -> Data {
        let box = DataBox()
        let writer = try TarWriter(sink: ClosureByteSink { box.data.append(contentsOf: $0) }, name: "test layer")
        try build(writer)
        try writer.finish()
        return box.data
    }

    final class DataBox: @unchecked Sendable { var data = Data() }

    /// An OCI image of plain-tar layers in `store`, named `name`.
    @discardableResult
    static func image(_ store: Store, layers: [Data], name: String) throws -> Digest {
        var descriptors: [Descriptor] = []
        var diffIDs: [JSONValue] = []
        for data in layers {
            let digest = try store.putBlob(data)
            descriptors.append(Descriptor(mediaType: .ociLayer, digest: digest, size: Int64(data.count)))
            diffIDs.append(.string(digest.string))
        }
        let config: JSONValue = .object([
            "architecture": .string("amd64"), "os": .string("linux"), "created": .string("2024-01-01T00:00:00Z"),
            "rootfs": .object(["type": .string("layers"), "diff_ids": .array(diffIDs)]),
            "config": .object(["Env": .strings(["PATH=/bin"])]), "x-unknown": .object(["kept": .bool(true)]),
        ])
        let configBytes = try JSON.canonical(config)
        let configDescriptor = Descriptor(mediaType: .ociConfig, digest: try store.putBlob(configBytes),
                                          size: Int64(configBytes.count))
        let manifest = try JSON.canonical(Manifest(mediaType: .ociManifest, config: configDescriptor, layers: descriptors))
        try store.addImage(Descriptor(mediaType: .ociManifest, digest: try store.putBlob(manifest),
                                      size: Int64(manifest.count)), names: [try Reference(parsing: name)])
        return configDescriptor.digest
    }

    /// A fresh temporary directory.
    static func temporaryDirectory() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bale-rootfs-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Every path under `root` → "kind mode [content|target] [link group]"; hard links show as the
    /// smallest path sharing the inode.
    static func snapshot(_ root: String, mtimes: Bool = false) throws -> [String: String] {
        var out: [String: String] = [:]
        var inodes: [UInt64: String] = [:]
        let paths = (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? []).sorted()
        for path in paths {
            var st = stat()
            guard lstat(root + "/" + path, &st) == 0 else { continue }
            var text: String
            switch st.st_mode & S_IFMT {
            case S_IFDIR: text = "dir"
            case S_IFLNK:
                text = "link -> " + ((try? FileManager.default.destinationOfSymbolicLink(atPath: root + "/" + path)) ?? "?")
            case S_IFREG:
                let data = FileManager.default.contents(atPath: root + "/" + path) ?? Data()
                text = "file \(String(decoding: data.prefix(64), as: UTF8.self)) size=\(data.count)"
                if st.st_nlink > 1 {
                    let first = inodes[UInt64(st.st_ino)] ?? path
                    inodes[UInt64(st.st_ino)] = first
                    text += " inode=\(first)"
                }
            case S_IFIFO: text = "fifo"
            default: text = "other"
            }
            text += " mode=" + String(st.st_mode & 0o7777, radix: 8)
            // Whole seconds: TarWriter's ustar headers carry no fraction.
            if mtimes && (st.st_mode & S_IFMT) != S_IFDIR { text += " mtime=\(st.st_mtim.tv_sec)" }
            out[path] = text
        }
        return out
    }

    /// Runs a command (looked up on PATH), returns its exit status; its stdout goes to `stdout` when given.
    @discardableResult
    static func run(_ arguments: [String], stdout: FileHandle? = nil) throws -> Int32 {
        let result = try ProcessRunner.run(arguments)
        if let stdout { try stdout.write(contentsOf: result.stdout) }
        return result.status
    }

    /// Status and stdout of a shell command.
    static func shell(_ command: String) throws -> (status: Int32, output: String) {
        let result = try ProcessRunner.run(URL(fileURLWithPath: "/bin/sh"), ["-c", command])
        return (result.status, result.out)
    }
}
