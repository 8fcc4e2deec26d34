import ArgumentParser
import Bale
import BaleCore
import Foundation

/// `bale inspect`: JSON of manifest and config, as `docker image inspect` prints it.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show detailed information on one or more images, as a JSON array.",
        discussion: """
            Keys and their order as docker's: Id, RepoTags, RepoDigests, Parent, Comment, Created, \
            Container, ContainerConfig, DockerVersion, Author, Config, Architecture, Variant, Os, \
            OsVersion, Size, VirtualSize, RootFS; plus Descriptor (the media type, digest and size of the \
            image's manifest or index in the store), Manifest (the platform manifest's descriptor) and, when \
            anything refers to the image, Referrers (each OCI 1.1 referrer or cosign attachment: mediaType, \
            artifactType, digest, size, a cosign tag, annotations). \
            Size is the bytes of the image's blobs in the store (compressed); VirtualSize is the unpacked \
            size, the sum of the layers' uncompressed sizes (docker's size).

            -f/--format runs a Go template over each image, as docker does: '{{.Id}}', '{{json .Config}}', \
            '{{index .RepoTags 0}}', '{{range .RepoTags}}{{.}} {{end}}', with pipelines and the functions \
            json, index, printf, join, split, upper, lower, title, len, eq, not, and, or.
            """)

    @OptionGroup var global: GlobalOptions

    @Option(name: .shortAndLong, help: ArgumentHelp("Format the output using the given Go template.", valueName: "template"))
    var format: String?

    @Argument(help: ArgumentHelp("Images to inspect (name, NAME@DIGEST, ID or ID prefix).", valueName: "image"))
    var images: [String]

    func validate() throws {
        if images.isEmpty { throw ValidationError("inspect needs at least one image") }
    }

    func run() throws {
        var template = try format.map { try Template($0) }
        template?.zeroes = ImageDescription.goZeroes
        template?.sets = ImageDescription.goSets
        template?.order = ImageDescription.memberOrder
        let store = try global.readStore()
        var values: [JSONValue] = []
        var failed: [BaleError] = []
        for text in images {
            do {
                let image = try store.image(text)
                values.append(try GoJSON.value(store.describe(image)))
            } catch let error as BaleError {
                failed.append(error)
            }
        }
        if let template {
            let text = try values.map { try template.execute($0) + "\n" }.joined()
            try write(TerminalText(escaped: DisplayText.escaped(text, keepingLayout: true)))
        } else {
            try write(TerminalText(escaped: GoJSON.indented(.array(values), order: ImageDescription.memberOrder) + "\n"))
        }
        failed.forEach { printError("Error: \($0.message)") }
        if !failed.isEmpty { throw ExitCode(1) }
    }
}
