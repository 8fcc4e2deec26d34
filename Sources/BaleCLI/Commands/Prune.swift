import ArgumentParser
import Bale
import BaleCore

/// `bale prune`: reclaim space.
struct Prune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove blobs no image uses and leftovers of interrupted commands.",
        discussion: """
            Removes blobs that no image in the store references and temporary files that interrupted \
            commands left in the store's ingest area, and prints the space reclaimed. With --all, untagged \
            (<none>) images are removed first.
            """)

    @OptionGroup var global: GlobalOptions

    @Flag(name: .shortAndLong, help: "Also remove untagged images.")
    var all = false

    func run() throws {
        let report = try global.store().prune(untagged: all)
        var out: TerminalText = ""
        for image in report.images { out += "Deleted image: \(image)\n" }
        for blob in report.blobs { out += "Deleted blob: \(blob)\n" }
        out += "Total reclaimed space: \(Humanize.size(report.bytes))\n"
        try write(out)
    }
}
