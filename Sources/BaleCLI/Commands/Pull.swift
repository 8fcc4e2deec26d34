import ArgumentParser
import Bale
import BaleCore
import Foundation

/// `bale pull`: an image from a registry into the store (a copy docker://NAME → NAME).
struct Pull: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Download an image from a registry into the store.",
        discussion: """
            NAME is read as docker reads it: a first component with a dot or a colon, or localhost, is \
            the registry (HOST[:PORT]); anything else is on Docker Hub (docker.io, library/ added to a \
            one-component name), whose pulls try the configured registry mirrors first. Without a tag, \
            :latest. A multi-platform image gives this host's platform unless --platform or \
            --all-platforms says otherwise. Every manifest is checked against the digest asked for (or \
            the one the tag resolved to), every blob against its digest; a dropped connection resumes \
            where it stopped (HTTP Range). Layers the store holds are not downloaded again. Prints \
            docker's lines: "TAG: Pulling from REPO", per layer "ID: Already exists" or "ID: Pull \
            complete", "Digest: sha256:…", "Status: …", then the full name (with -q, only the name). \
            On a terminal, a progress line per layer in flight and one for the whole. \
            TLS: see --insecure and --certs-dir.
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var platforms: PlatformOptions
    @OptionGroup var referrers: ReferrerOptions
    @OptionGroup var registry: RegistryFlags

    @Flag(name: .shortAndLong, help: "Print only the image name.")
    var quiet = false

    @Argument(help: ArgumentHelp("The image: NAME[:TAG|@DIGEST].", valueName: "name"))
    var name: String

    func run() throws {
        var reference = try Reference(parsing: name)
        if reference.digest == nil { reference = reference.withDefaultTag() }
        let context = try global.context(registry: registry.registryOptions())
        let lines = LinePrinter(quiet: quiet)
        lines.print("\(reference.digest?.string ?? reference.tag ?? "latest"): Pulling from \(reference.path)")
        let source = try RegistrySource(host: reference.domain, image: reference, options: context.registry)
        let store = try context.store()
        // "Image is up to date" when the name already pointed at what the registry gives.
        let before = reference.digest == nil ? (try? store.image(reference.string))?.descriptor.digest : nil
        let progress = ProgressBar(label: "Pulling", blobVerb: "Downloading", disabled: global.noProgress || quiet)
        defer { progress.finish() }
        var options = try referrers.applied(to: platforms.copyOptions(global, progress: nil))
        options.blobProgress = { progress.blobAdvance($0.digest, $1) }
        options.names = reference.digest == nil ? .only(reference) : .none
        options.onBlob = { event in
            switch event {
            case .held(let blob, _): lines.print("\(blob.digest.shortHex): Already exists")
            case .started(let blob): progress.blobStarted(blob)
            case .copied(let blob):
                progress.blobFinished(blob.digest)
                lines.print("\(blob.digest.shortHex): Pull complete")
            }
        }
        let destination: any ImageDestination
        do { destination = try StoreDestination(store: store) } catch { source.close(); throw error }
        let report = try Copier(options: options).copy(from: source, to: destination)
        progress.finish()
        try lines.check()
        let digest = report.images.first?.descriptor.digest
        if source.servedBy != reference.domain { lines.print("Served by mirror \(source.servedBy)") }
        if let digest { lines.print("Digest: \(digest)") }
        let familiar = reference.familiar
        if before != nil && before == digest && report.blobsWritten == 0 {
            lines.print("Status: Image is up to date for \(familiar)")
        } else {
            lines.print("Status: Downloaded newer image for \(familiar)")
        }
        try lines.check()
        try write("\(reference)\n")
    }
}

/// docker's progress lines on stdout, printed as the copier's workers report them (one at a time);
/// none with `quiet`. A failed write is kept and thrown by `check`.
final class LinePrinter: @unchecked Sendable {
    // @unchecked Sendable: `failure` is guarded by `lock`, which also keeps lines whole.
    private let lock = NSLock()
    private let quiet: Bool
    private var failure: (any Error)?
    init(quiet: Bool) { self.quiet = quiet }

    func print(_ line: String) {
        guard !quiet else { return }
        lock.withLock {
            guard failure == nil else { return }
            do { try write("\(line)\n") } catch { failure = error }
        }
    }

    func check() throws {
        if let failure = lock.withLock({ failure }) { throw failure }
    }
}
