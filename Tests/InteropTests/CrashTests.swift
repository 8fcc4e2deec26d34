import Foundation
import Testing
import TestSupport

/// A load killed with SIGKILL at any moment leaves the store as before or as after, and two loads of
/// the same archive into one store at once both succeed (the store's flock serialises them).
@Suite(.enabled(if: Harness.peersAvailable("python3")))
struct CrashTests {
    /// An archive of one image with four 8 MiB incompressible layers (gzip barely shrinks them), so a
    /// load takes long enough to be killed in the middle.
    func withLargeArchive<T>(_ body: (URL, URL, String) throws -> T) throws -> T {
        try Harness.withSavedImage("big:1=layers=4,files=4,size=2097152") { directory, layout, _, archive in
            try body(directory, archive, try LayoutReader.image("big:1", in: layout).configDigest)
        }
    }

    /// Starts `bale load` and kills it after `delay` seconds (it may have finished by then).
    func killedLoad(_ archive: URL, store: URL, after delay: Double) throws {
        let load = try BackgroundProcess(try Harness.baleBinary(), ["--root", store.path, "load", "-i", archive.path])
        usleep(UInt32(delay * 1_000_000))
        load.kill(SIGKILL)
    }

    @Test func killedLoadsLeaveTheStoreConsistent() throws {
        try withLargeArchive { directory, archive, id in
            let store = directory.appendingPathComponent("store")
            for delay in [0.01, 0.05, 0.15, 0.4, 1.0] {
                try killedLoad(archive, store: store, after: delay)
                let verify = try Harness.bale(["verify"], root: store)
                #expect(verify.succeeded, "after a kill at \(delay) s: \(verify)")
                let images = try Harness.bale(["images", "-q", "--no-trunc"], root: store)
                #expect(images.succeeded)
                // Absent or complete: a listed image is whole (verify checked every blob it names).
                #expect(images.lines == [] || images.lines == [id], "after a kill at \(delay) s: \(images.out)")
                let rmi = try Harness.bale(["rmi", "-f", "big:1"], root: store)
                #expect(rmi.status == 0 || rmi.status == 1)
            }
            let load = try Harness.bale(["load", "-i", archive.path], root: store)
            #expect(load.succeeded, "\(load)")
            #expect(try Harness.bale(["images", "-q", "--no-trunc"], root: store).lines == [id])
            #expect(try Harness.bale(["verify", "--deep"], root: store).succeeded)
        }
    }

    @Test func twoLoadsAtOnceBothSucceed() throws {
        try withLargeArchive { directory, archive, id in
            let store = directory.appendingPathComponent("store")
            let results = ResultBox()
            DispatchQueue.concurrentPerform(iterations: 2) { _ in
                results.add(Result { try Harness.bale(["load", "-i", archive.path], root: store) })
            }
            for result in results.all {
                let r = try result.get()
                #expect(r.succeeded, "\(r)")
                #expect(r.lines == ["Loaded image: big:1"])
            }
            #expect(try Harness.bale(["images", "-q", "--no-trunc"], root: store).lines == [id])
            #expect(try Harness.bale(["verify"], root: store).succeeded)
        }
    }
}

/// Results collected from concurrent work.
final class ResultBox: @unchecked Sendable {
    // Sendable: guarded by `lock`.
    private let lock = NSLock()
    private var results: [Result<RunResult, any Error>] = []
    func add(_ r: Result<RunResult, any Error>) { lock.withLock { results.append(r) } }
    var all: [Result<RunResult, any Error>] { lock.withLock { results } }
}
