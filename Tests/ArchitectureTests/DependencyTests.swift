import Foundation
import Testing

/// Violations tolerated, by rule, as `Violation.key`s ("file: offence", no line numbers). Empty since
/// the restructure of issue #9, and meant to stay so; each rule's test fails on any violation not
/// listed here AND on any listed one that is gone, so the list cannot go stale.
let knownViolations: [Rule: [String]] = [:]

/// The layering rules of DESIGN.md section 4 on the real source tree (like go-containerregistry's
/// cmd/crane/depcheck_test.go): each rule is one test, and a failure lists every offending file
/// with the import or type it names.
@Suite struct DependencyTests {
    /// The package root, found from this file's place in the tree (Tests/ArchitectureTests/).
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Package.swift and every Swift file under Sources/, paths from the package root.
    static func tree() throws -> [SourceFile] {
        let sources = packageRoot.appendingPathComponent("Sources")
        guard let walk = FileManager.default.enumerator(atPath: sources.path) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: sources.path])
        }
        var files = [SourceFile(path: "Package.swift", contents: try String(
            contentsOf: packageRoot.appendingPathComponent("Package.swift"), encoding: .utf8))]
        for case let path as String in walk where path.hasSuffix(".swift") {
            files.append(SourceFile(path: "Sources/" + path, contents: try String(
                contentsOf: sources.appendingPathComponent(path), encoding: .utf8)))
        }
        return files
    }

    /// Fails with every violation of `rule` not in `knownViolations`, and every known one now gone.
    func check(_ rule: Rule) throws {
        let (unexpected, stale) = DependencyChecker(files: try Self.tree()).audit(rule, known: knownViolations[rule] ?? [])
        if !unexpected.isEmpty {
            Issue.record("""
                Broken rule "\(rule)" (\(unexpected.count) violation\(unexpected.count == 1 ? "" : "s")):
                \(unexpected.map { "  \($0)" }.joined(separator: "\n"))
                """)
        }
        if !stale.isEmpty {
            Issue.record("""
                Fixed, so remove from knownViolations[.\(rule.rawValue)] in Tests/ArchitectureTests/DependencyTests.swift:
                \(stale.map { "  \($0)" }.joined(separator: "\n"))
                """)
        }
    }

    /// The checker sees the real tree: without this, a wrong root would make every rule pass on nothing.
    @Test func theTreeIsFound() throws {
        let checker = DependencyChecker(files: try Self.tree())
        let paths = checker.files.map(\.path)
        for folder in ["Sources/BaleCore/", "Sources/BaleIO/", "Sources/Bale/Copy/", "Sources/Bale/Formats/",
                       "Sources/Bale/Store/", "Sources/BaleCLI/", "Sources/bale/"] {
            #expect(paths.contains { $0.hasPrefix(folder) }, "no Swift file under \(folder)")
        }
        #expect(checker.cModules.isSuperset(of: ["CArchive", "CZlib", "CLzma", "CIsal", "CLinux"]),
                "C modules read from Package.swift: \(checker.cModules.sorted())")
        #expect(checker.declarations["Store"] == "Sources/Bale/Store/")
    }

    @Test func baleCoreImportsOnlyFoundation() throws { try check(.coreImportsOnlyFoundation) }

    @Test func cModulesAreImportedOnlyInBaleIO() throws { try check(.cModulesOnlyInBaleIO) }

    @Test func theCLIDoesNotImportBaleIO() throws { try check(.cliDoesNotImportBaleIO) }

    @Test func formatsUseNoOtherFormatNorTheStoresInternals() throws { try check(.formatsStayApart) }

    @Test func copyNamesNoConcreteFormat() throws { try check(.copyNamesNoFormat) }
}
