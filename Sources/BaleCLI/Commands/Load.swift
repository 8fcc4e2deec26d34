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
            one streaming pass. Every blob is checked against its digest; on any error the store is left \
            as it was. Prints "Loaded image: NAME:TAG" for each name, or "Loaded image ID: sha256:…" for \
            an untagged image.
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var platforms: PlatformOptions

    @Option(name: .shortAndLong, help: ArgumentHelp("Read from this file instead of stdin.", valueName: "file"))
    var input: String?

    @Flag(name: .shortAndLong, help: "Do not print the progress bar.")
    var quiet = false

    func validate() throws {
        if input == nil || input == "-", isatty(0) == 1 {
            throw ValidationError("requested load from stdin, but stdin is a terminal. Use the -i flag or redirect")
        }
    }

    func run() throws {
        // Named here, before the archive location's own message would wrap it in a prefix.
        if let input, input != "-", access(input, R_OK) != 0 { throw BaleError.posix("cannot open", path: input) }
        let context = global.context()
        let store = try context.store()
        let location = try Location(parsing: "docker-archive:" + (input ?? "-"))
        let progress = ProgressBar(label: "Loading", disabled: global.noProgress || quiet)
        defer { progress.finish() }
        let source = try location.source(context)
        let destination: StoreDestination
        do { destination = try StoreDestination(store: store) } catch { source.close(); throw error }
        let report = try Copier(options: platforms.copyOptions(global, progress: progress))
            .copy(from: source, to: destination)
        progress.finish()
        // docker says when a name moved off another image.
        let all = try store.images().images
        var out: TerminalText = ""
        for (name, old) in destination.moved.sorted(by: { $0.key < $1.key }) {
            let oldID = all.first { $0.descriptor.digest == old }?.id.string ?? old.string
            out += "The image \(name.familiar) already exists, renaming the old one with ID \(oldID) to empty string\n"
        }
        for image in report.images {
            if image.names.isEmpty {
                let id = all.first { $0.descriptor.digest == image.descriptor.digest }?.id ?? image.descriptor.digest
                out += "Loaded image ID: \(id)\n"
            }
            for name in image.names { out += "Loaded image: \(name.withDefaultTag().familiar)\n" }
        }
        try write(out)
    }
}
