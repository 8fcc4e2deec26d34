import Foundation
import Testing

/// `bale copy` between locations, run as the built binary.
@Suite struct CopyCLITests {
    @Test func copyWithinTheStoreFinishesAndOnlyAddsAName() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let env: [String: String?] = ["BALE_ROOT": dir.path + "/store", "SOURCE_DATE_EPOCH": "1700000000"]
            try FileManager.default.createDirectory(atPath: dir.path + "/src", withIntermediateDirectories: true)
            try Data("hi\n".utf8).write(to: dir.appendingPathComponent("src/f"))
            let imported = try CLIRunner.bale(["import", dir.path + "/src", "app:1"], environment: env)
            #expect(imported.status == 0, "\(imported)")
            // Before, the store source's shared flock and the store destination's exclusive one were two
            // open file descriptions of one process: the copy waited for itself forever.
            let copied = try CLIRunner.bale(["copy", "app:1", "copy:2"], environment: env, timeout: 60)
            #expect(copied.status == 0, "\(copied)")
            #expect(copied.err.contains("0 blobs written"), "\(copied)")
            let listed = try CLIRunner.bale(["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"], environment: env)
            let lines = listed.lines.sorted()
            #expect(lines.count == 2)
            #expect(Set(lines.map { $0.split(separator: " ").last ?? "" }).count == 1, "\(listed)")
            #expect(lines.first?.hasPrefix("app:1 ") == true && lines.last?.hasPrefix("copy:2 ") == true, "\(listed)")
        }
    }
}
