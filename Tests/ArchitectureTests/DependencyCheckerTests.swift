import Testing

/// The checker on small in-memory trees: each rule reports a planted violation (so the tests on the
/// real tree can fail), and what only looks like one (a comment, a string, a private type) is not.
@Suite struct DependencyCheckerTests {
    static let manifest = SourceFile(path: "Package.swift", contents: """
        let package = Package(name: "x", targets: [
            .systemLibrary(name: "CFoo", path: "Sources/CFoo", pkgConfig: "foo"),
            .systemLibrary(name: "CBar", path: "Sources/CBar"),
            // .systemLibrary(name: "CCommented", path: "Sources/CCommented"),
            .target(name: "Cute"),
        ])
        """)

    /// The offences `rule` finds in `files` (with the manifest above), as "file:line: offence".
    func found(_ rule: Rule, _ files: [String: String]) -> [String] {
        let tree = [Self.manifest] + files.map { SourceFile(path: $0.key, contents: $0.value) }
        return DependencyChecker(files: tree).violations(of: rule).map(\.description)
    }

    @Test func baleCoreImportingAnythingButFoundationIsReported() {
        let files = [
            "Sources/BaleCore/Bad.swift": "import Foundation\nimport BaleIO\n#if canImport(Glibc)\n@preconcurrency import Glibc\n#endif\n",
            "Sources/BaleCore/Good.swift": """
                import struct Foundation.Data
                import Swift
                // import Evil
                /* import Evil */
                let text = "import Evil"
                let block = \"""
                import Evil
                \"""
                """,
            "Sources/BaleIO/Elsewhere.swift": "import CFoo\n",
        ]
        #expect(found(.coreImportsOnlyFoundation, files) == [
            "Sources/BaleCore/Bad.swift:2: imports BaleIO",
            "Sources/BaleCore/Bad.swift:4: imports Glibc",
        ])
    }

    @Test func aCModuleImportedAboveBaleIOIsReported() {
        let files = [
            "Sources/BaleIO/Tar.swift": "import CFoo\nimport CBar\n",
            "Sources/Bale/Store/Store.swift": "import BaleIO\nimport CBar\n",
            "Sources/BaleCLI/Cute.swift": "import Cute\nimport CCommented\n",
            "Sources/BaleCore/Model.swift": "@_implementationOnly import CFoo\n",
        ]
        #expect(found(.cModulesOnlyInBaleIO, files) == [
            "Sources/Bale/Store/Store.swift:2: imports CBar",
            "Sources/BaleCore/Model.swift:1: imports CFoo",
        ])
    }

    @Test func theCLIImportingBaleIOIsReported() {
        let files = [
            "Sources/BaleCLI/Commands/Save.swift": "import Bale\nimport BaleIO\n",
            "Sources/bale/main.swift": "@testable import BaleIO.Tar\n",
            "Sources/BaleCLI/Format/Table.swift": "import Bale\n// import BaleIO\nlet x = BaleIOish()\n",
            "Sources/Bale/Copy/Copier.swift": "import BaleIO\n",
        ]
        #expect(found(.cliDoesNotImportBaleIO, files) == [
            "Sources/BaleCLI/Commands/Save.swift:2: imports BaleIO",
            "Sources/bale/main.swift:1: imports BaleIO",
        ])
    }

    /// Two formats, the shared folder, the copy engine and the store.
    static let layout = [
        "Sources/Bale/Formats/A/ASource.swift": """
            import BaleIO

            /// A format's source.
            public final class ASource: ImageSource {
                struct Nested {}
                func document() -> Nested { Nested() }
            }
            private struct AHelper {}
            """,
        "Sources/Bale/Formats/B/BDestination.swift": """
            @available(*, deprecated) public struct BDestination: ImageDestination, LocationFormat {
                let naming = LayoutNaming.index   // Shared: allowed
                let other: ASource                // another format
                let helper: AHelper               // private to A's file: not A's API, not counted
                let store: Store                  // the store itself
                let sink: TemporaryBlobSink       // Copy/: allowed
            }
            """,
        "Sources/Bale/Formats/B/BQuiet.swift": """
            // ASource is named in this comment, /* Store /* nested */ here */ and in strings only:
            let a = "ASource \\(1 + (2)) Store"
            let b = #"Store "ASource""#
            let c = \"""
                ASource
                \"""
            enum BQuiet {}
            """,
        "Sources/Bale/Formats/Formats.swift": """
            /// The prefix table: names every format, and may (no format folder's rule applies here).
            protocol LocationFormat {}
            enum Formats { static let all: [Any.Type] = [ASource.self, BDestination.self, Store.self] }
            """,
        "Sources/Bale/Formats/Shared/LayoutNaming.swift": "enum LayoutNaming { static let index = \"index.json\" }\n",
        "Sources/Bale/Formats/Store/StoreSource.swift": "struct StoreSource { let store: Store; let file: BlobFile }\n",
        "Sources/Bale/Copy/Copier.swift": """
            protocol ImageSource {}
            protocol ImageDestination {}
            struct TemporaryBlobSink {}
            struct Copier {
                func copy(_ source: any ImageSource, _ format: any LocationFormat) {}
                func named(_ kind: String) -> Any { kind == "b" ? "\\(BDestination.self)" : LayoutNaming.index }
            }
            """,
        "Sources/Bale/Store/Store.swift": "public final class Store {}\nstruct BlobFile {}\n",
    ]

    @Test func aFormatNamingAnotherFormatOrTheStoreIsReported() {
        #expect(found(.formatsStayApart, Self.layout) == [
            "Sources/Bale/Formats/B/BDestination.swift:3: uses ASource (declared in Sources/Bale/Formats/A/)",
            "Sources/Bale/Formats/B/BDestination.swift:5: uses Store (declared in Sources/Bale/Store/)",
        ])
    }

    @Test func theCopyEngineNamingAFormatIsReported() {
        // Inside an interpolation is code: the string does not hide BDestination. LayoutNaming and
        // LocationFormat are declared under Formats/ too (Shared/, Formats/ itself), so the copier
        // may not name them either.
        #expect(found(.copyNamesNoFormat, Self.layout) == [
            "Sources/Bale/Copy/Copier.swift:5: uses LocationFormat (declared in Sources/Bale/Formats/)",
            "Sources/Bale/Copy/Copier.swift:6: uses BDestination (declared in Sources/Bale/Formats/B/)",
            "Sources/Bale/Copy/Copier.swift:6: uses LayoutNaming (declared in Sources/Bale/Formats/Shared/)",
        ])
    }

    @Test func onlyTopLevelNonPrivateTypesAreDeclarations() {
        let code = DependencyChecker.blankCommentsAndStrings("""
            @frozen public struct A { struct Inner {} }
            final class B {
                enum Inner2 {}
            }
            fileprivate enum C {}
            private protocol D {}
            typealias E = [String: Int]
            public actor F {}
            indirect enum G { case a(G) }
            extension A { struct H {} }
            // struct I {}
            let j = "struct J {}"
            """)
        #expect(DependencyChecker.topLevelTypes(in: code) == ["A", "B", "E", "F", "G"])
    }

    @Test func theKnownListMustMatchWhatIsFound() {
        let checker = DependencyChecker(files: [Self.manifest] + Self.layout.map { SourceFile(path: $0.key, contents: $0.value) })
        let known = [
            "Sources/Bale/Formats/B/BDestination.swift: uses ASource (declared in Sources/Bale/Formats/A/)",
            "Sources/Bale/Formats/B/Gone.swift: uses Store (declared in Sources/Bale/Store/)",
        ]
        let (unexpected, stale) = checker.audit(.formatsStayApart, known: known)
        #expect(unexpected.map(\.description)
            == ["Sources/Bale/Formats/B/BDestination.swift:5: uses Store (declared in Sources/Bale/Store/)"])
        #expect(stale == ["Sources/Bale/Formats/B/Gone.swift: uses Store (declared in Sources/Bale/Store/)"])
    }
}
