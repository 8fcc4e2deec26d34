import ArgumentParser
import Bale
import BaleCore
import Foundation

/// `bale load`: every image of an archive into the store.
struct Load: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load images from a tar archive (stdin by default).",
        discussion: """
            Reads docker save archives of every Docker version (the classic layout and the OCI layout of \
            Docker 25+) and OCI image layout archives, plain or compressed with gzip, bzip2, xz or zstd, in \
            one streaming pass. Every blob is checked against its digest, and every layer's uncompressed \
            content against the config's DiffIDs; on any error the store is left as it was. A blob the \
            store already holds is kept when its size is right (with --verify-existing: when it hashes to \
            its digest), else replaced by the archive's. Prints "Loaded image: NAME:TAG" for each name, or "Loaded image ID: sha256:…" for \
            an untagged image.

            A split archive (bale save --split-size) is read from -i FILE.000, FILE.sha256, or FILE when \
            only the parts exist: every part is checked against FILE.sha256 first, and a missing or \
            damaged part is named before anything is written; cat FILE.0* | bale load reads it too.
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var platforms: PlatformOptions
    @OptionGroup var referrers: ReferrerOptions

    @Option(name: .shortAndLong, help: ArgumentHelp("Read from this file instead of stdin (a split archive: FILE, FILE.000 or FILE.sha256).", valueName: "file"))
    var input: String?

    @Flag(name: .shortAndLong, help: "Do not print the progress bar.")
    var quiet = false

    @Flag(name: .long, help: "Hash the blobs the store already holds before keeping them (by default one whose size is right is kept; one whose size is wrong is always replaced).")
    var verifyExisting = false

    func validate() throws {
        if input == nil || input == "-", isatty(0) == 1 {
            throw ValidationError("requested load from stdin, but stdin is a terminal. Use the -i flag or redirect")
        }
    }

    func run() throws {
        let progress = ProgressBar(label: "Loading", disabled: global.noProgress || quiet)
        defer { progress.finish() }
        let report = try global.store().load(archive: input, verifyExisting: verifyExisting, options: referrers.applied(to: platforms.copyOptions(global, progress: progress)))
        progress.finish()
        report.copy.warnings.forEach { printError("Warning: \($0)") }
        try write(.lines(report.lines))
    }
}
