import ArgumentParser
import Bale
import BaleCore
import Foundation

/// `bale commit`: a base image plus one layer.
struct Commit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a new image from a base image and a directory or tar of changes.",
        discussion: """
            With a TARFILE (plain or compressed, or - for standard input) the new layer is its \
            decompressed bytes, as given. With a DIR the new layer holds the differences between DIR \
            and the base image's flattened tree (what `bale export --dir` writes): new paths, and paths \
            whose type, mode, owner, size, mtime, link target, device numbers or file capabilities \
            (security.capability) changed (contents are not compared, as with docker); deleted files \
            and directories become whiteouts (.wh.NAME). A written path carries its file capabilities, \
            the one extended attribute docker keeps. Owners and capabilities are compared only when \
            run as root, since only root can apply them on export.

            The new config is the base's, with unknown fields kept, plus the layer's DiffID, a history \
            entry (created_by "bale commit", -a, -m), -a as author and --change applied. Its creation \
            time is SOURCE_DATE_EPOCH when set, else the newest mtime in the new layer (never before \
            the base's). The manifest keeps the base's family (Docker or OCI). Prints the image ID, then on \
            stderr, for a DIR, a summary of the layer (added 3, changed 1, deleted 2; layer 412B); `bale \
            diff` (or --dry-run) lists those changes first without storing anything.
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var flags: RootfsImageFlags

    @Option(name: .shortAndLong, help: ArgumentHelp("Author (e.g. \"Jane Doe <jane@example.com>\").", valueName: "author"))
    var author: String?

    @Option(name: .long, help: ArgumentHelp("The image to build on (name, ID or ID prefix).", valueName: "image"))
    var base: String

    @Flag(name: .long, help: "Only print what a DIR's layer would record, as `bale diff` does; store nothing.")
    var dryRun = false

    @Argument(help: ArgumentHelp("A directory, a tar file, or - for standard input.", valueName: "dir|tarfile|-"))
    var input: String

    @Argument(help: ArgumentHelp("Name for the new image, REPOSITORY[:TAG].", valueName: "repository[:tag]"))
    var name: String

    func run() throws {
        if dryRun {
            guard case .directory(let dir) = RootfsFormat.layerInput(input) else {
                throw BaleError(.usage, "--dry-run compares a directory with the base: \(input) is not a directory")
            }
            try write(.lines(global.readStore().changes(base: base, directory: dir)))
            return
        }
        let progress = ProgressBar(label: "Committing", disabled: global.noProgress)
        defer { progress.finish() }
        var options = try flags.options(global, names: [name], progress: progress)
        options.author = author
        let result = try global.store().commitRootfs(base: base, input: RootfsFormat.layerInput(input), options: options)
        result.warnings.forEach { printError("Warning: \($0)") }
        try write("\(result.id)\n")
        if let changes = result.changes {
            printError("\(ChangeSummary(changes)); layer \(Humanize.size(result.layer.compressedSize))")
        }
    }
}
