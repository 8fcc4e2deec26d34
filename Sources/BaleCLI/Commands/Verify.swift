import ArgumentParser
import Bale
import BaleCore

/// `bale verify`: re-hash the store.
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check every blob in the store against its digest.",
        discussion: """
            Re-hashes every blob, and checks that every blob an image needs is present with the size its \
            descriptor gives. --deep also decompresses each layer and compares it with the DiffID in the \
            image config. Each damaged blob is printed on its own line, naming its digest; the exit status \
            is then 3.
            """)

    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "Also check the uncompressed content of each layer against the config's DiffIDs.")
    var deep = false

    func run() throws {
        let report = try global.readStore().verify(deep: deep)
        try write(.lines(report.damage.map(\.message)))
        printError("\(report.blobs) blobs verified (\(Humanize.size(report.bytes))), \(report.damage.count) problems")
        if !report.damage.isEmpty { throw ExitCode(3) }
    }
}
