import ArgumentParser
import Bale
import BaleCore
import Foundation

/// `bale push`: an image of the store to a registry (a copy NAME → docker://NAME), or to DESTINATION.
struct Push: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Upload an image from the store to a registry.",
        discussion: """
            NAME is read as docker reads it (see bale pull) and names both the image in the store and \
            where it goes: HOST[:PORT]/REPO:TAG. DESTINATION, when given, is where it goes instead: \
            another image name read the same way (HOST[:PORT]/REPO[:TAG]), or any location \
            (docker://HOST/REPO:TAG, oci:DIR, …). Blobs the repository holds are skipped, blobs \
            another repository of the same registry holds (one the image's other names live in, or \
            one this process read) are mounted instead of uploaded, the rest uploaded, each streamed \
            in one request (a blob whose upload is cut is read again from the store and sent in a new \
            upload session); manifests go first, the tag last, so an interrupted push leaves the tag \
            as it was and a rerun skips what is there. Prints docker's lines: "The push refers to \
            repository [HOST/REPO]", per layer "ID: Layer already exists", "ID: Mounted from REPO" \
            or "ID: Pushed", then "TAG: digest: sha256:… size: N" (with -q, only the name). On a \
            terminal, a progress line per layer in flight and one for the whole.
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var registry: RegistryFlags
    @OptionGroup var referrers: ReferrerOptions

    @Flag(name: .shortAndLong, help: "Print only the image name.")
    var quiet = false

    @Argument(help: ArgumentHelp("The image in the store: NAME[:TAG].", valueName: "name"))
    var name: String

    @Argument(help: ArgumentHelp("Where to push instead of NAME's registry (any location).", valueName: "destination"))
    var destination: String?

    func run() throws {
        var reference = try Reference(parsing: name)
        guard reference.digest == nil else {
            throw BaleError(.usage, "invalid reference \"\(name)\": push a tag, not a digest")
        }
        reference = reference.withDefaultTag()
        let context = try global.context(registry: registry.registryOptions())
        let lines = LinePrinter(quiet: quiet)
        let store = try context.store()
        let image = try store.image(reference.string)
        // A DESTINATION without a location prefix is an image name, read as docker reads it
        // (`bale push app:1 registry.local:5000/app:1`), not a store name: push never tags locally.
        var pushed = reference
        var explicit: Location?
        if let destination {
            let location = try Location(parsing: destination)
            if location.format.prefix != StoreFormat.prefix || destination.hasPrefix(StoreFormat.prefix + ":") {
                explicit = location
            } else {
                pushed = try Reference(parsing: destination).withDefaultTag()
                guard pushed.digest == nil else {
                    throw BaleError(.usage, "invalid reference \"\(destination)\": push to a tag, not a digest")
                }
            }
        }
        let target: any ImageDestination
        if let explicit {
            target = try explicit.destination(context)
        } else {
            lines.print("The push refers to repository [\(pushed.name)]")
            target = try RegistryDestination(image: pushed, options: context.registry)
        }
        // Where layers can be mounted from: the repositories of the image's other names on the same
        // registry hold them if they were pushed; those of the store's other names on it may (a base).
        for other in image.names where other.domain == pushed.domain && other.path != pushed.path {
            BlobOrigins.shared.note(host: other.domain, repository: other.path,
                                    digests: image.manifest.value.layers.map(\.digest))
        }
        let sameRegistry = try store.names().filter { $0.domain == pushed.domain && $0.path != pushed.path }
        BlobOrigins.shared.noteCandidates(host: pushed.domain, repositories: sameRegistry.map(\.path))
        let source = try StoreSource(store: store, selecting: [reference.string])
        let progress = ProgressBar(label: "Pushing", blobVerb: "Pushing", disabled: global.noProgress || quiet)
        defer { progress.finish() }
        var options = referrers.applied(to: CopyOptions(jobs: global.effectiveJobs))
        options.blobProgress = { progress.blobAdvance($0.digest, $1) }
        options.onBlob = { event in
            switch event {
            case .held(let blob, let from):
                lines.print("\(blob.digest.shortHex): \(from.map { "Mounted from \($0)" } ?? "Layer already exists")")
            case .started(let blob): progress.blobStarted(blob)
            case .copied(let blob):
                progress.blobFinished(blob.digest)
                lines.print("\(blob.digest.shortHex): Pushed")
            }
        }
        let report = try Copier(options: options).copy(from: source, to: target)
        progress.finish()
        if let root = report.images.first?.descriptor {
            lines.print("\(pushed.tag ?? "latest"): digest: \(root.digest) size: \(root.size)")
        }
        try lines.check()
        if quiet { try write("\(pushed)\n") }
    }
}
