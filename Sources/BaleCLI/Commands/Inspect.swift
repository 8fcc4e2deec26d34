import ArgumentParser
import Bale
import BaleCore
import Foundation

/// `bale inspect`: JSON of manifest and config, as `docker image inspect` prints it.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show detailed information on one or more images, as a JSON array.",
        discussion: """
            Keys as docker's: Id, RepoTags, RepoDigests, Parent, Comment, Created, DockerVersion, Author, \
            Config, Architecture, Variant, Os, Size, RootFS; plus Descriptor (the media type, digest and \
            size of the image's manifest or index in the store) and Manifest (the platform manifest's \
            descriptor).
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("Images to inspect (name, NAME@DIGEST, ID or ID prefix).", valueName: "image"))
    var images: [String]

    func validate() throws {
        if images.isEmpty { throw ValidationError("inspect needs at least one image") }
    }

    func run() throws {
        let store = try global.store()
        let all = try store.images().images
        var objects: [Any] = []
        var failed: [BaleError] = []
        for text in images {
            do {
                objects.append(try Self.object(for: store.resolve(text, in: all)))
            } catch let error as BaleError {
                failed.append(error)
            }
        }
        let data = try JSONSerialization.data(withJSONObject: objects,
                                              options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        write(String(decoding: data, as: UTF8.self) + "\n")
        failed.forEach { printError("Error: " + $0.message) }
        if !failed.isEmpty { throw ExitCode(1) }
    }

    /// docker's inspect object for an image. `Config` is taken from the config's own bytes, so fields
    /// bale does not model are shown too.
    static func object(for image: StoredImage) throws -> [String: Any] {
        let raw = (try? JSONSerialization.jsonObject(with: image.config.bytes)) as? [String: Any] ?? [:]
        let config = image.config.value
        func descriptor(_ d: Descriptor) -> [String: Any] {
            ["mediaType": d.mediaType.rawValue, "digest": d.digest.string, "size": d.size]
        }
        var object: [String: Any] = [
            "Id": image.id.string,
            "RepoTags": image.names.filter { $0.tag != nil }.map(\.familiar),
            "RepoDigests": Array(Set(image.names.map { "\($0.familiarName)@\(image.descriptor.digest)" })).sorted(),
            "Parent": "",
            "Comment": config.comment ?? "",
            "Created": config.created ?? "",
            "DockerVersion": config.dockerVersion ?? "",
            "Author": config.author ?? "",
            "Config": raw["config"] ?? NSNull(),
            "Architecture": config.architecture,
            "Os": config.os,
            "Size": image.size,
            "RootFS": ["Type": config.rootfs.type, "Layers": config.rootfs.diffIDs.map(\.string)],
            "Descriptor": descriptor(image.descriptor),
            "Manifest": descriptor(image.manifestDescriptor),
        ]
        if let v = config.variant { object["Variant"] = v }
        if let v = config.osVersion { object["OsVersion"] = v }
        return object
    }
}
