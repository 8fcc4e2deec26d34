import Foundation
import Testing
import TestSupport

/// Faults a user meets: a file system that fills up in the middle of a command, and `rmi`/`prune` run
/// while another command reads or writes the same images. Whatever happens, the command either does
/// all of its work or fails with a clear one-line error, leaving the store verifiable, every image in
/// it whole, and no temporary file anywhere.
///
/// The full file system is a small tmpfs mounted for the test (root only; in CI a failed mount fails
/// the test, elsewhere the suite is skipped when not root).
@Suite(.serialized, .enabled(if: Harness.isCI || getuid() == 0))
struct FaultInjectionTests {
    /// A tmpfs of `megabytes` at `directory/name`, unmounted whatever `body` does.
    func withFullFileSystem<T>(in directory: URL, megabytes: Int, _ body: (URL) throws -> T) throws -> T {
        let mount = directory.appendingPathComponent("small-fs")
        try FileManager.default.createDirectory(at: mount, withIntermediateDirectories: true)
        let mounted = try Harness.run(try Harness.requirePeer("mount"),
                                      ["-t", "tmpfs", "-o", "size=\(megabytes)m,mode=0755", "tmpfs", mount.path])
        try #require(mounted.succeeded, "cannot mount a tmpfs (the fault tests need root): \(mounted)")
        defer {
            let unmounted = try? Harness.run(try Harness.requirePeer("umount"), [mount.path])
            if unmounted?.succeeded != true { _ = try? Harness.run(try Harness.requirePeer("umount"), ["-l", mount.path]) }
        }
        return try body(mount)
    }

    /// An image of four 8 MiB incompressible layers (32 MiB: more than the small file systems hold), as
    /// `big:1` in a store at `directory/seed`, and its docker-archive at `directory/archive.tar`.
    func withBigImage<T>(_ body: (_ directory: URL, _ seed: URL, _ archive: URL) throws -> T) throws -> T {
        try Harness.withSavedImage("big:1=layers=4,files=4,size=2097152") { directory, _, seed, archive in
            try body(directory, seed, archive)
        }
    }

    /// Every path under `root` with the size of each file: a store's state, to compare before and after.
    static func snapshot(_ root: URL) -> [String] {
        var entries: [String] = []
        let walker = FileManager.default.enumerator(atPath: root.path)
        while let path = walker?.nextObject() as? String {
            let size = (walker?.fileAttributes?[.size] as? NSNumber)?.int64Value ?? 0
            let isDirectory = walker?.fileAttributes?[.type] as? FileAttributeType == .typeDirectory
            entries.append(isDirectory ? path + "/" : "\(path) \(size)")
        }
        return entries.sorted()
    }

    /// The command failed on the full file system with one line naming the cause.
    func expectNoSpaceError(_ result: RunResult, _ what: String) {
        #expect(!result.succeeded && !result.signalled, "\(what) should fail: \(result)")
        #expect(result.errLines.count == 1, "\(what): one line of error expected: \(result.err)")
        #expect(result.err.contains("No space left on device"), "\(what): the error should say the disk is full: \(result.err)")
    }

    /// The store verifies (every blob re-hashed, every image's blobs present, layers decompressed).
    func expectStoreWhole(_ store: URL, _ what: String) throws {
        let verify = try Harness.bale(["verify", "--deep"], root: store)
        #expect(verify.succeeded, "\(what): \(verify)")
    }

    /// A store on `mount` holding one small image already (which must come out untouched), and a
    /// temporary directory beside it for TMPDIR.
    func smallStore(on mount: URL, layouts: URL) throws -> (store: URL, temp: URL) {
        let store = mount.appendingPathComponent("store")
        let temp = mount.appendingPathComponent("tmp")
        try FileManager.default.createDirectory(at: temp, withIntermediateDirectories: true)
        let small = try Harness.makeLayout(in: layouts, named: "small", images: ["small:1=layers=1,files=1,size=1024"])
        let copy = try Harness.bale(["copy", "oci:\(small.path):small:1", "small:1"], root: store)
        try #require(copy.succeeded, "\(copy)")
        return (store, temp)
    }

    @Test func loadOntoAFullFileSystem() throws {
        try withBigImage { directory, _, archive in
            try withFullFileSystem(in: directory, megabytes: 16) { mount in
                let (store, temp) = try smallStore(on: mount, layouts: directory)
                let before = Self.snapshot(store)
                let load = try Harness.bale(["load", "-q", "-i", archive.path], root: store, environment: ["TMPDIR": temp.path])
                expectNoSpaceError(load, "load")
                #expect(Self.snapshot(store) == before, "load changed the store")
                #expect(Self.snapshot(temp) == [], "load left temporary files")
                try expectStoreWhole(store, "after the failed load")
            }
        }
    }

    @Test func importOntoAFullFileSystem() throws {
        try withBigImage { directory, seed, _ in
            let rootfs = directory.appendingPathComponent("rootfs.tar")
            let export = try Harness.bale(["export", "-o", rootfs.path, "big:1"], root: seed)
            try #require(export.succeeded, "\(export)")
            try withFullFileSystem(in: directory, megabytes: 16) { mount in
                let (store, temp) = try smallStore(on: mount, layouts: directory)
                let before = Self.snapshot(store)
                let result = try Harness.bale(["import", rootfs.path, "imported:1"], root: store, environment: ["TMPDIR": temp.path])
                expectNoSpaceError(result, "import")
                #expect(Self.snapshot(store) == before, "import changed the store")
                #expect(Self.snapshot(temp) == [], "import left temporary files")
                try expectStoreWhole(store, "after the failed import")
            }
        }
    }

    /// `save` and `export` write to the full file system from a store elsewhere: they fail, leave no
    /// partial output or temporary file there, and the store is untouched.
    @Test(arguments: [["save", "-o"], ["export", "-o"]])
    func writeOntoAFullFileSystem(_ command: [String]) throws {
        try withBigImage { directory, seed, _ in
            try withFullFileSystem(in: directory, megabytes: 16) { mount in
                let temp = mount.appendingPathComponent("tmp")
                try FileManager.default.createDirectory(at: temp, withIntermediateDirectories: true)
                let before = Self.snapshot(seed)
                let output = mount.appendingPathComponent("out.tar")
                let result = try Harness.bale(command + [output.path, "big:1"], root: seed, environment: ["TMPDIR": temp.path])
                expectNoSpaceError(result, command[0])
                #expect(Self.snapshot(mount) == ["tmp/"], "\(command[0]) left files behind: \(Self.snapshot(mount))")
                #expect(Self.snapshot(seed) == before, "\(command[0]) changed the store")
                try expectStoreWhole(seed, "after the failed \(command[0])")
            }
        }
    }
}
