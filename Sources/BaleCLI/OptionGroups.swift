import ArgumentParser
import Bale
import BaleCore
import Foundation

// The option groups several commands share (GlobalOptions, which every command takes, is in
// GlobalOptions.swift).

/// Options shared by the commands that copy images.
struct PlatformOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The platform to take from a multi-platform image (default: from the store, the whole image as kept; from elsewhere, this host's).", valueName: "os/arch[/variant]"))
    var platform: String?

    @Flag(name: .long, help: "Copy every platform of a multi-platform image.")
    var allPlatforms = false

    func copyOptions(_ global: GlobalOptions, progress: ProgressBar?) throws -> CopyOptions {
        var options = CopyOptions(jobs: global.effectiveJobs, allPlatforms: allPlatforms)
        if let platform { options.platform = try Platform(parsing: platform) }
        if let progress { options.progress = { progress.advance($0) } }
        return options
    }
}

extension GlobalOptions {
    /// The context formats open locations with; `registry` from `RegistryFlags.registryOptions()` for
    /// the commands that take those flags.
    func context(compression: ArchiveCompression = .none, registry: RegistryOptions = RegistryOptions()) -> LocationContext {
        let root = self.root ?? Store.defaultRoot()
        let reserve = self.reserve
        var context = LocationContext(store: { try Store(root: root, reserve: reserve) }, compression: compression)
        context.rootfs.compression.jobs = effectiveJobs
        context.rootfs.sourceDateEpoch = try? RootfsImageOptions.sourceDateEpoch()
        context.registry = registry
        return context
    }
}

/// `--split-size`, shared by the commands that write archives (`save`, `copy`).
struct SplitOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Write an archive file as parts of at most this size (bytes, or with a K, M, G or T suffix, powers of 1024 as split(1)): FILE.000, FILE.001, … and FILE.sha256 for sha256sum -c; load and copy read them back from FILE, FILE.000 or FILE.sha256, and cat FILE.0* is the archive.", valueName: "size"))
    var splitSize: String?

    func validate() throws {
        if let splitSize, (GlobalOptions.byteCount(splitSize) ?? 0) < 1 {
            throw ValidationError("--split-size: \"\(splitSize)\" is not a size of at least 1 byte (bytes, or with a K, M, G or T suffix)")
        }
    }

    /// The part size asked for, in bytes.
    var bytes: Int64? { splitSize.flatMap(GlobalOptions.byteCount) }

    /// `context` with archive destinations split as asked.
    func applied(to context: LocationContext) -> LocationContext {
        var context = context
        context.splitSize = bytes
        return context
    }
}

/// Options shared by `import` and `commit`: --change, --message, --compression-level.
struct RootfsImageFlags: ParsableArguments {
    @Option(name: [.customShort("c"), .long],
            help: ArgumentHelp("Apply a Dockerfile instruction to the image config (CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR); repeatable.", valueName: "change"))
    var change: [String] = []

    @Option(name: .shortAndLong, help: ArgumentHelp("Commit message (the history comment).", valueName: "message"))
    var message: String?

    @Option(name: .long, help: ArgumentHelp("gzip level of the new layer, 1 (fastest) to 9 (smallest); 1-3 ISA-L igzip, 4-9 zlib. Every level writes the same bytes on every x86-64 CPU (ISA-L's match finding is pinned to its portable code; tested under qemu CPU models).", valueName: "n"))
    var compressionLevel: Int = GzipSettings.defaultLevel

    func validate() throws {
        guard (1...9).contains(compressionLevel) else { throw ValidationError("--compression-level must be 1 to 9") }
    }

    /// The library options for these flags.
    func options(_ global: GlobalOptions, names: [String], progress: ProgressBar) throws -> RootfsImageOptions {
        let counter = ProgressCounter(progress)
        var options = RootfsImageOptions(compression: GzipSettings(level: compressionLevel, jobs: global.effectiveJobs,
                                                                   progress: { done, _ in counter.set(done) }))
        options.changes = change
        options.message = message
        options.sourceDateEpoch = try RootfsImageOptions.sourceDateEpoch()
        options.names = try names.map { try Reference(parsing: $0) }
        for name in options.names where name.digest != nil {
            throw BaleError(.usage, "invalid reference \"\(name)\": a new image name cannot carry a digest")
        }
        return options
    }
}

/// Turns the compressor's running totals into `ProgressBar.advance` steps.
final class ProgressCounter: @unchecked Sendable {
    // @unchecked Sendable: `last` is guarded by `lock`.
    private let lock = NSLock()
    private var last: Int64 = 0
    private let bar: ProgressBar
    init(_ bar: ProgressBar) { self.bar = bar }
    func set(_ total: Int64) {
        let step = lock.withLock { () -> Int64 in
            defer { last = max(last, total) }
            return max(0, total - last)
        }
        if step > 0 { bar.advance(step) }
    }
}

/// `--no-referrers`, shared by the commands that copy images (copy, save, load, pull, push, sync).
struct ReferrerOptions: ParsableArguments {
    @Flag(name: .long, help: "Leave out what refers to the images, which copies bring along by default: OCI 1.1 referrers (signatures, SBOMs, attestations whose subject is the image) and cosign's sha256-<hex>.sig, .att and .sbom tags.")
    var noReferrers = false

    /// `options` with referrers left out when asked.
    func applied(to options: CopyOptions) -> CopyOptions {
        var options = options
        options.referrers = !noReferrers
        return options
    }
}
