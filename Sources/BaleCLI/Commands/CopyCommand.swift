import ArgumentParser
import Bale
import BaleCore
import Foundation

/// `bale copy`: the general converter.
struct CopyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy",
        abstract: "Copy images from one location to another.",
        discussion: """
            Locations: NAME[:TAG] or store:NAME (the local store), docker-archive:FILE[:NAME[:TAG]] or \
            docker-archive:FILE:@N (a docker save tarball; FILE - is stdin or stdout), oci:DIR[:REF] (an \
            OCI image layout), oci-archive:FILE[:REF], rootfs:PATH (a flat filesystem: read, a tar in any \
            compression or a directory becomes the one-layer image import makes; written, the image is \
            flattened as export does, into a tar file, or into PATH when it is an existing directory or \
            ends in /; - is stdin or stdout), registry-tree:DIR[:NAME[:TAG|@DIGEST]] (a Distribution \
            registry's storage, DIR holding docker/registry/v2; NAME is the repository as stored, e.g. \
            library/alpine; read without NAME: every tag of every repository; written without NAME: each \
            image to the repository of its name without the host), docker://HOST[:PORT]/NAME[:TAG|@DIGEST] (an image in a \
            registry; docker://HOST alone, as a source: every repository and tag of its catalog), \
            docker-root:DIR[:NAME[:TAG]|:ID] (a Docker \
            engine's data root such as /var/lib/docker, read without the daemon and never written: every image, \
            or one by name or image ID; needs read access to the whole data root, usually root), \
            docker-daemon:NAME[:TAG]|ID (a running Docker engine over its API socket, --docker-host, \
            $DOCKER_HOST or /var/run/docker.sock, which needs permission to use it; read as docker save \
            gives it, written as docker load takes it; as a source, docker-daemon: alone is every image \
            of the engine). A blob the destination already holds is not \
            copied again; every blob is checked against its digest on the way in. A name in the \
            destination location renames the (single) image copied. --split-size writes an archive \
            destination as parts FILE.000, FILE.001, … plus FILE.sha256 (see save); an archive source \
            may be such a set, named FILE, FILE.000 or FILE.sha256, its parts checked before any is read.
            """,
        aliases: ["convert"])

    @OptionGroup var global: GlobalOptions
    @OptionGroup var platforms: PlatformOptions
    @OptionGroup var referrers: ReferrerOptions
    @OptionGroup var registry: RegistryFlags
    @OptionGroup var split: SplitOptions
    @OptionGroup var docker: DockerHostFlag

    @Argument(help: ArgumentHelp("Where to read.", valueName: "source"))
    var source: String

    @Argument(help: ArgumentHelp("Where to write.", valueName: "destination"))
    var destination: String

    func run() throws {
        let from = try Location(parsing: source)
        let to = try Location(parsing: destination)
        let context = try global.context(registry: registry.registryOptions())
        let progress = ProgressBar(label: "Copying", disabled: global.noProgress)
        defer { progress.finish() }
        let report = try Copier(options: referrers.applied(to: platforms.copyOptions(global, progress: progress)))
            .copy(from: from, to: to, context: docker.applied(to: split.applied(to: context)))
        progress.finish()
        report.warnings.forEach { printError("Warning: \($0)") }
        report.refused.forEach { printError("Refused: \($0)") }
        printError("Copied \(report.images.count) image(s): \(report.blobsWritten) blobs written (\(Humanize.size(report.bytesWritten))), \(report.blobsSkipped) already there")
        for (old, new) in report.converted.sorted(by: { $0.key < $1.key }) {
            printError("Converted \(old) to OCI media types: \(new)")
        }
        if !report.refused.isEmpty {
            throw BaleError(.invalidInput, "\(report.refused.count) unsafe member(s) refused")
        }
    }
}
