import Foundation
import FuzzTargets
import Testing

/// Replays testdata/fuzz/TARGET/ through the entry point `make fuzz` drives for TARGET: every input a
/// fuzzer once crashed bale with (named crash-…, minimised) and the hand-written seeds beside them must
/// now be refused cleanly or accepted.
@Suite struct FuzzRegressionTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("testdata/fuzz")

    @Test(arguments: FuzzTarget.allCases)
    func corpusBehaves(_ target: FuzzTarget) throws {
        let folder = Self.corpus.appendingPathComponent(target.rawValue)
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        // Every target keeps at least one input here, so a renamed folder cannot pass by being empty.
        #expect(!names.isEmpty, "no inputs in \(folder.path)")
        for name in names {
            let data = try Data(contentsOf: folder.appendingPathComponent(name))
            let broken = target.check(data)
            #expect(broken == nil, "testdata/fuzz/\(target.rawValue)/\(name): \(broken ?? "")")
        }
    }
}
