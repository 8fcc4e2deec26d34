import Foundation
import Testing
import TestSupport

/// `rmi` and `prune -a` racing `load`, `save` and `export` of the same image, 20 rounds each, started
/// a little later each round so that they meet the other command at different points. Every command
/// ends with success or a one-line error; the store verifies after each round; a load leaves the image
/// whole or absent; a save or export either writes a complete file or leaves none.
@Suite(.serialized, .enabled(if: Harness.peersAvailable("python3")))
struct RaceTests {
    static let rounds = 20

    /// Runs the commands at once (each `arguments` against `store`, the `i`-th started after
    /// `delays[i]` seconds) and returns their results in order.
    func together(_ commands: [[String]], store: URL, delays: [Double]) throws -> [RunResult] {
        let box = Results(count: commands.count)
        DispatchQueue.concurrentPerform(iterations: commands.count) { i in
            usleep(UInt32(delays[i] * 1_000_000))
            box.set(i, Result { try Harness.bale(commands[i], root: store) })
        }
        return try box.all.map { try $0.get() }
    }

    func expectCleanEnd(_ result: RunResult, _ round: Int) {
        #expect(!result.signalled, "round \(round): \(result)")
        if !result.succeeded {
            #expect(result.errLines.count == 1, "round \(round): one line of error expected: \(result)")
        }
    }

    /// A store with `img:1` (two 1 MiB layers), the layout it came from, and its docker-archive.
    func withImage(_ body: (_ directory: URL, _ layout: URL, _ archive: URL) throws -> Void) throws {
        try Harness.withSavedImage("img:1=layers=2,files=4,size=262144") { directory, layout, _, archive in
            try body(directory, layout, archive)
        }
    }

    func delays(_ round: Int) -> [Double] { [Double(round % 3) * 0.02, Double(round % 10) * 0.01, Double(round % 7) * 0.015] }

    @Test func rmiAndPruneRacingLoad() throws {
        try withImage { directory, _, archive in
            let store = directory.appendingPathComponent("store")
            for round in 0..<Self.rounds {
                let results = try together([["load", "-q", "-i", archive.path], ["rmi", "-f", "img:1"], ["prune", "-a"]],
                                           store: store, delays: delays(round))
                results.forEach { expectCleanEnd($0, round) }
                let verify = try Harness.bale(["verify", "--deep"], root: store)
                #expect(verify.succeeded, "round \(round): \(verify)")
                let images = try Harness.bale(["images", "-q"], root: store)
                #expect(images.succeeded && images.lines.count <= 1, "round \(round): \(images)")
                if !images.lines.isEmpty {
                    // A listed image is whole: it saves (every blob read and checked again).
                    let save = try Harness.bale(["save", "-o", directory.appendingPathComponent("check.tar").path, "img:1"], root: store)
                    #expect(save.succeeded, "round \(round): \(save)")
                }
                _ = try Harness.bale(["rmi", "-f", "img:1"], root: store)
            }
        }
    }

    /// `command` writes `output` from the store while rmi and prune remove the image; `check` judges a
    /// file it wrote.
    func racingWrite(_ command: String, check: (URL, URL, Int) throws -> Void) throws {
        try withImage { directory, layout, _ in
            let store = directory.appendingPathComponent("store")
            let output = directory.appendingPathComponent("out.tar")
            for round in 0..<Self.rounds {
                try? FileManager.default.removeItem(at: output)
                let copy = try Harness.bale(["copy", "oci:\(layout.path):img:1", "img:1"], root: store)
                try #require(copy.succeeded, "\(copy)")
                let results = try together([[command, "-o", output.path, "img:1"], ["rmi", "-f", "img:1"], ["prune", "-a"]],
                                           store: store, delays: delays(round))
                results.forEach { expectCleanEnd($0, round) }
                let verify = try Harness.bale(["verify", "--deep"], root: store)
                #expect(verify.succeeded, "round \(round): \(verify)")
                let written = FileManager.default.fileExists(atPath: output.path)
                if results[0].succeeded {
                    #expect(written, "round \(round): \(command) succeeded without writing \(output.path)")
                    if written { try check(directory, output, round) }
                } else {
                    #expect(!written, "round \(round): a failed \(command) left \(output.path)")
                }
                // Nothing half-written beside the output either.
                let strays = try FileManager.default.contentsOfDirectory(atPath: directory.path)
                    .filter { $0.hasPrefix(".out.tar") || $0.hasPrefix("out.tar.") }
                #expect(strays.isEmpty, "round \(round): \(command) left \(strays)")
            }
        }
    }

    @Test func rmiAndPruneRacingSave() throws {
        try racingWrite("save") { directory, output, round in
            // A complete archive: it loads into a fresh store, every blob checked, and verifies deep.
            let fresh = directory.appendingPathComponent("fresh-\(round)")
            let load = try Harness.bale(["load", "-q", "-i", output.path], root: fresh)
            #expect(load.succeeded, "round \(round): the saved archive does not load: \(load)")
            #expect(try Harness.bale(["verify", "--deep"], root: fresh).succeeded, "round \(round)")
            try? FileManager.default.removeItem(at: fresh)
        }
    }

    @Test func rmiAndPruneRacingExport() throws {
        var expected: [String]?
        try racingWrite("export") { _, output, round in
            // A complete rootfs: the same members as every other complete export (the first one seen).
            let list = try ProcessRunner.run(["tar", "-tf", output.path])
            #expect(list.succeeded, "round \(round): \(list)")
            if let expected {
                #expect(list.lines == expected, "round \(round): the export differs from the first complete one")
            } else {
                expected = list.lines
                #expect(list.lines.count >= 8, "round \(round): \(list.lines)")
            }
        }
    }
}

/// Results of concurrent commands by position.
private final class Results: @unchecked Sendable {
    // Sendable: guarded by `lock`.
    private let lock = NSLock()
    private var results: [Result<RunResult, any Error>]
    init(count: Int) { results = Array(repeating: .failure(HarnessError("not run")), count: count) }
    func set(_ i: Int, _ r: Result<RunResult, any Error>) { lock.withLock { results[i] = r } }
    var all: [Result<RunResult, any Error>] { lock.withLock { results } }
}
