import ArgumentParser
import Bale
import BaleCore
import Foundation

/// `bale save`: images from the store into one archive.
struct Save: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Save one or more images to a tar archive (streamed to stdout by default).",
        discussion: """
            The docker format holds both the classic docker save layout (manifest.json, repositories) and \
            the OCI layout Docker 25+ writes (oci-layout, index.json, blobs/sha256), so every Docker, \
            skopeo and containerd loads it; the oci format is an OCI image layout in a tar. Blobs shared by \
            several images are written once. An image named by ID keeps all its tags (--no-tags drops \
            them). Layers are written as stored; --compress compresses the whole archive.

            --since ARCHIVE (repeatable) writes an incremental archive: layers that ARCHIVE carries (or \
            itself expected) are left out, and the archive lists them, each with the archive that carried \
            it. bale load refuses it, before writing anything, unless the store already holds them all. \
            docker load cannot read an incremental archive.

            --split-size SIZE cuts the archive (after --compress) into FILE.000, FILE.001, … of at most \
            SIZE each as it is written, for removable media, with FILE.sha256 holding each part's sum \
            (sha256sum -c FILE.sha256 checks them). The set replaces an older one of the same FILE whole. \
            bale load -i FILE.000 checks every part before it reads any; cat FILE.0* | docker load works too.

            Instead of store images, one location may be saved: docker-daemon:NAME[:TAG]|ID (a running \
            Docker engine, --docker-host; docker-daemon: alone is all its images), or any location bale \
            copy reads.
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var platforms: PlatformOptions
    @OptionGroup var referrers: ReferrerOptions

    @Option(name: .shortAndLong, help: ArgumentHelp("Write to this file instead of stdout: replaced when complete; a symlink is followed and kept; a device or FIFO is written into.", valueName: "file"))
    var output: String?

    @Option(name: .long, help: ArgumentHelp("docker or oci.", valueName: "format"))
    var format: SaveFormat = .docker

    @Option(name: .long, help: ArgumentHelp("Whole-archive compression: none, gzip, xz or zstd.", valueName: "algorithm"))
    var compress: ArchiveCompression = .none

    @OptionGroup var split: SplitOptions
    @OptionGroup var docker: DockerHostFlag

    @Option(name: .long, help: ArgumentHelp("Leave out the layers this earlier archive carries (repeatable): an incremental archive, for bale load on a host that loaded the earlier ones.", valueName: "archive"))
    var since: [String] = []

    @Flag(name: .long, help: "Write the images without names.")
    var noTags = false

    @Argument(help: ArgumentHelp("Images to save: names, NAME@DIGEST, IDs or ID prefixes; or one location (docker-daemon:NAME[:TAG]).", valueName: "image"))
    var images: [String]

    func validate() throws {
        if images.isEmpty { throw ValidationError("save needs at least one image") }
        if split.bytes != nil, output == nil || output == "-" {
            throw ValidationError("--split-size writes files: give -o FILE")
        }
        if output == nil || output == "-", isatty(1) == 1 {
            throw ValidationError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
        }
    }

    func run() throws {
        let progress = ProgressBar(label: "Saving", disabled: global.noProgress)
        defer { progress.finish() }
        var options = try referrers.applied(to: platforms.copyOptions(global, progress: progress))
        if noTags { options.names = .none }
        let locations = try images.map { try Location(parsing: $0) }
        if locations.contains(where: { !$0.isStore }) {
            guard locations.count == 1, since.isEmpty else {
                throw ValidationError("save takes store images, or one location alone (without --since)")
            }
            let context = docker.applied(to: global.context())
            _ = try locations[0].save(to: output ?? "-", format: format, compression: compress, splitSize: split.bytes,
                                      context: context, options: options)
            return
        }
        let report = try global.readStore().save(images, to: output ?? "-", format: format, compression: compress,
                                    since: since, splitSize: split.bytes, options: options)
        report.warnings.forEach { printError("Warning: \($0)") }
    }
}

extension SaveFormat: ExpressibleByArgument {}
extension ArchiveCompression: ExpressibleByArgument {}
