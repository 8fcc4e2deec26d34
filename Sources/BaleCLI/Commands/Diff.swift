import ArgumentParser
import Bale
import BaleCore

/// `bale diff`: what `commit` would record for a directory, as `docker diff` prints a container's changes.
struct Diff: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what commit would record: the changes between a base image and a directory.",
        discussion: """
            One line per path, sorted, as docker diff prints them: A (added), C (changed, including a \
            directory written because something below it changed) and D (deleted: the base has it, DIR \
            does not). Paths are compared as commit compares them (type, mode, owner, size, mtime, link \
            target, device numbers, file capabilities; not contents). A DIR that holds only the new files \
            shows every other path of the base as D: check before committing. Nothing is stored.
            """)

    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: ArgumentHelp("The image to compare with (name, ID or ID prefix).", valueName: "image"))
    var base: String

    @Argument(help: ArgumentHelp("The directory.", valueName: "dir"))
    var directory: String

    func run() throws {
        try write(.lines(global.readStore().changes(base: base, directory: directory)))
    }
}
