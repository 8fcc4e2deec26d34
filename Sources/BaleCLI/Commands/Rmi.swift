import ArgumentParser
import Bale
import BaleCore

/// `bale rmi`: untag and remove images, with docker's rules and output.
struct Rmi: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove one or more images.",
        discussion: """
            By name: the name is removed (Untagged: NAME:TAG); an image that loses its last name is deleted \
            (Deleted: sha256:ID). By ID or ID prefix: all its names are removed and the image deleted; an \
            image with several names needs --force. Blobs no remaining image uses are removed from the store.
            """)

    @OptionGroup var global: GlobalOptions

    @Flag(name: .shortAndLong, help: "Remove an image that has several names; ignore images that do not exist.")
    var force = false

    @Argument(help: ArgumentHelp("Images to remove.", valueName: "image"))
    var images: [String]

    func validate() throws {
        if images.isEmpty { throw ValidationError("rmi needs at least one image") }
    }

    func run() throws {
        let (events, errors) = try global.store().remove(images, force: force)
        write(events.map { event -> String in
            switch event {
            case .untagged(let name): return "Untagged: \(name.familiar)\n"
            case .deleted(let id): return "Deleted: \(id)\n"
            }
        }.joined())
        let reported = errors.filter { !(force && $0.code == .notFound) }
        reported.forEach { printError("Error: " + $0.message) }
        if !reported.isEmpty { throw ExitCode(1) }
    }
}
