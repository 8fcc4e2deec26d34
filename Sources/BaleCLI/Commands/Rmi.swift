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
            image with several names needs --force. NAME@DIGEST removes that digest reference: the image's \
            names in that repository (bale shows NAME@DIGEST for each), and the image when no name is left. \
            What refers to a deleted image (signatures, SBOMs, attestations) goes with it; a cosign \
            attachment's name is reported Untagged. Blobs no remaining image uses are removed from the store.
            """)

    @OptionGroup var global: GlobalOptions

    @Flag(name: .shortAndLong, help: "Remove an image that has several names; an image that does not exist is reported but is no failure.")
    var force = false

    @Flag(name: .long, help: "Do not delete untagged parents (bale keeps no parent images: accepted for docker's scripts).")
    var noPrune = false

    @Argument(help: ArgumentHelp("Images to remove.", valueName: "image"))
    var images: [String]

    func validate() throws {
        if images.isEmpty { throw ValidationError("rmi needs at least one image") }
    }

    func run() throws {
        let (events, errors) = try global.store().remove(images, force: force)
        var out: TerminalText = ""
        for event in events {
            switch event {
            case .untagged(let name): out += "Untagged: \(name.familiar)\n"
            case .deleted(let id): out += "Deleted: \(id)\n"
            }
        }
        try write(out)
        // As docker: with -f, a missing image is still reported, but the status stays 0.
        errors.forEach { printError("Error: \($0.message)") }
        if errors.contains(where: { !(force && $0.code == .notFound) }) { throw ExitCode(1) }
    }
}
