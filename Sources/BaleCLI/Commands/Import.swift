import ArgumentParser
import Bale
import BaleCore
import Foundation

/// Options shared by `import` and `commit`: --change, --message, --compression-level.
struct RootfsImageFlags: ParsableArguments {
    @Option(name: [.customShort("c"), .long],
            help: ArgumentHelp("Apply a Dockerfile instruction to the image config (CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR); repeatable.", valueName: "change"))
    var change: [String] = []

    @Option(name: .shortAndLong, help: ArgumentHelp("Commit message (the history comment).", valueName: "message"))
    var message: String?

    @Option(name: .long, help: ArgumentHelp("gzip level of the new layer, 1 (fastest) to 9 (smallest); 1-3 ISA-L igzip, 4-9 zlib. Level 3 (the default) gives other bytes on CPUs without AVX2; use 2 or 6 for identical layers on mixed hardware.", valueName: "n"))
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

/// The input argument of `import` and `commit`: a directory, a tar file, or `-`.
func layerInput(_ text: String) -> LayerInput {
    if text == "-" { return .standardInput }
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: text, isDirectory: &isDirectory), isDirectory.boolValue {
        return .directory(text)
    }
    return .file(text)
}

/// `bale import`: a rootfs tarball or directory → a one-layer image.
struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import the contents from a tarball or directory to create a filesystem image.",
        discussion: """
            FILE is a tar archive, plain or compressed (gzip, bzip2, xz, zstd; detected from its bytes), \
            or - for standard input: its decompressed bytes become the layer unchanged, so the layer's \
            DiffID is their SHA-256, as with docker import. DIR is archived deterministically: names \
            sorted, numeric owners without names, modes and mtimes as on disk (mtimes clamped to \
            SOURCE_DATE_EPOCH when it is set), symlinks, hard links, and file capabilities \
            (security.capability, the one extended attribute docker keeps; a v3 capability is stored \
            as v2); sockets and other extended attributes are left out. The layer is compressed by parallel gzip (the same bytes for every --jobs).

            The image is an OCI image for --platform (default: this host). Its creation time is \
            SOURCE_DATE_EPOCH when set, else the newest mtime in the input, so the same input always \
            gives the same image ID (docker uses the current time). -m goes into the config's comment \
            and the history entry; --change instructions are applied to an empty config as docker does. \
            Prints the image ID.
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var flags: RootfsImageFlags

    @Option(name: .long, help: ArgumentHelp("The image's platform, OS/ARCH[/VARIANT] (default: this host).", valueName: "platform"))
    var platform: String?

    @Argument(help: ArgumentHelp("A tar file, a directory, or - for standard input.", valueName: "file|dir|-"))
    var input: String

    @Argument(help: ArgumentHelp("Name for the image, REPOSITORY[:TAG].", valueName: "repository[:tag]"))
    var name: String?

    func run() throws {
        let progress = ProgressBar(label: "Importing", disabled: global.noProgress)
        defer { progress.finish() }
        var options = try flags.options(global, names: name.map { [$0] } ?? [], progress: progress)
        if let platform { options.platform = try Platform(parsing: platform) }
        let result = try global.store().importRootfs(layerInput(input), options: options)
        result.warnings.forEach { printError("Warning: \($0)") }
        try write("\(result.id)\n")
    }
}
