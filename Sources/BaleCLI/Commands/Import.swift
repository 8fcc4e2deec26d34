import ArgumentParser
import Bale
import BaleCore
import Foundation

/// `bale import`: a rootfs tarball or directory → a one-layer image.
struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import the contents from a tarball or directory to create a filesystem image.",
        discussion: """
            FILE is a tar archive, plain or compressed (gzip, bzip2, xz, zstd; detected from its bytes), \
            or - for standard input: its decompressed bytes become the layer unchanged, so the layer's \
            DiffID is their SHA-256, as with docker import. DIR is archived deterministically: names \
            sorted, numeric owners without names, modes and mtimes as on disk (mtimes clamped to \
            SOURCE_DATE_EPOCH when it is set), symlinks, hard links, and file capabilities \
            (security.capability, the one extended attribute docker keeps; a v3 capability is stored \
            as v2); sockets and other extended attributes are left out. The layer is compressed by parallel gzip (the same bytes for every --jobs).

            The image is an OCI image for --platform (default: this host). Its creation time is \
            SOURCE_DATE_EPOCH when set, else the newest mtime in the input, so the same input always \
            gives the same image ID (docker uses the current time). -m goes into the config's comment \
            and the history entry; --change instructions are applied to an empty config as docker does. \
            Prints the image ID.
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var flags: RootfsImageFlags

    @Option(name: .long, help: ArgumentHelp("The image's platform, OS/ARCH[/VARIANT] (default: this host).", valueName: "platform"))
    var platform: String?

    @Argument(help: ArgumentHelp("A tar file, a directory, or - for standard input.", valueName: "file|dir|-"))
    var input: String

    @Argument(help: ArgumentHelp("Name for the image, REPOSITORY[:TAG].", valueName: "repository[:tag]"))
    var name: String?

    func run() throws {
        let progress = ProgressBar(label: "Importing", disabled: global.noProgress)
        defer { progress.finish() }
        var options = try flags.options(global, names: name.map { [$0] } ?? [], progress: progress)
        if let platform { options.platform = try Platform(parsing: platform) }
        let result = try global.store().importRootfs(RootfsFormat.layerInput(input), options: options)
        result.warnings.forEach { printError("Warning: \($0)") }
        try write("\(result.id)\n")
    }
}
