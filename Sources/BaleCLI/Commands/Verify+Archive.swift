import ArgumentParser
import Bale
import BaleCore
import Foundation

extension Verify {
    /// `verify --archive FILE…`: one line per problem on stdout, notes on stderr, exit 3 on any problem.
    func verifyArchives() throws {
        if repair != nil { throw BaleError(.usage, "--repair mends the store; it does not go with --archive") }
        let store = try? global.readStore()
        var problems = 0
        for path in archive {
            let report = try ArchiveCheck.check(path, store: store)
            try write(.lines(report.problems))
            report.notes.forEach { printError("Note: \($0)") }
            printError("\(path): \(report.images) image(s), \(report.blobs) blobs checked, \(report.problems.count) problems")
            problems += report.problems.count
        }
        if problems > 0 { throw ExitCode(3) }
    }
}
