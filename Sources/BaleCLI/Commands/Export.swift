import ArgumentParser
import Bale
import BaleCore
import Foundation

/// `bale export`: an image's layers flattened into one rootfs.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Flatten an image's layers into one rootfs, as a tar archive or a directory.",
        discussion: """
            Whiteouts and opaque directories are applied, hard links kept, and no .wh. entries are \
            written. The tar goes to standard output unless -o is given (refused on a terminal); \
            directories come first, parents before children, then every other path with its data read \
            from the layer it comes from.

            --dir extracts into a directory that must be empty or absent. Nothing is ever written \
            outside it: members whose name climbs out with "..", whose parent is a symlink or a file, or \
            hard links to paths outside the image are refused (a leading "/" is stripped, as docker \
            does). Ownership and device nodes are applied only as root (device nodes are otherwise \
            skipped with a warning); modes, mtimes and symlinks always. Extended attributes in the \
            layers (file capabilities, user.*, ...) are set after the owner; one the file system or \
            user may not set (e.g. security.capability without root) is skipped with a warning. \
            Sparse files keep their holes. A tar output keeps every member's extended attributes. \
            Each layer file is checked against its digest as it is read; a damaged one fails the \
            export with its digest and exit status 3, leaving no tar or directory. \
            Each layer is read once and applied as read; if extraction fails (a corrupt layer, a full \
            disk), what was written is removed again, leaving the directory empty or absent as found.

            Each refused member is reported on standard error with its layer digest; everything else is \
            still written, and the exit status is then 1.
            """)

    @OptionGroup var global: GlobalOptions

    @Option(name: .shortAndLong, help: ArgumentHelp("Write the tar to this file instead of stdout: replaced when complete; a symlink is followed and kept; a device or FIFO is written into.", valueName: "file"))
    var output: String?

    @Option(name: .long, help: ArgumentHelp("Extract into this directory instead of writing a tar.", valueName: "dir"))
    var dir: String?

    @Argument(help: ArgumentHelp("The image (name, NAME@DIGEST, ID or ID prefix).", valueName: "image"))
    var image: String

    func validate() throws {
        if output != nil && dir != nil { throw ValidationError("-o and --dir cannot be used together") }
        if dir == nil, output == nil || output == "-", isatty(1) == 1 {
            throw ValidationError("cowardly refusing to write a tar to a terminal. Use -o, --dir or redirect")
        }
    }

    func run() throws {
        let store = try global.store()
        let target: RootfsDestination.Output
        if let dir {
            target = .directory(dir)
        } else if let output, output != "-" {
            target = .tar(output)
        } else {
            target = .stream(fileDescriptor: 1, name: "<stdout>")
        }
        let outcome = try store.exportRootfs(image, to: target)
        outcome.warnings.forEach { printError("Warning: \($0)") }
        outcome.refused.forEach { printError("Refused: \($0)") }
        if !outcome.refused.isEmpty {
            throw BaleError(.invalidInput, "\(outcome.refused.count) unsafe member(s) refused")
        }
    }
}
