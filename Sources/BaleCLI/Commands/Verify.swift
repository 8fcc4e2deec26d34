import ArgumentParser
import Bale
import BaleCore

/// `bale verify`: re-hash the store, and with `--repair` fetch damaged blobs back.
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check every blob in the store against its digest.",
        discussion: """
            Re-hashes every blob, and checks that every blob an image needs is present with the size its \
            descriptor gives. --deep also decompresses each layer and compares it with the DiffID in the \
            image config. Each damaged blob is printed on its own line, naming its digest; the exit status \
            is then 3. --repair LOCATION copies the damaged and missing blobs back from any location that \
            holds them (an archive, a layout, another store's image), each checked against its digest, \
            prints "Repaired: DIGEST" for each, and verifies again.

            --archive FILE… checks archives (or split sets) instead, without loading them and without \
            writing into the store, always as deeply as --deep: one line per problem on stdout, naming the \
            archive, the image and the digest, and exit status 3.
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var registry: RegistryFlags

    @Flag(name: .long, help: "Also check the uncompressed content of each layer against the config's DiffIDs.")
    var deep = false

    @Option(name: .long, help: ArgumentHelp("Copy damaged or missing blobs back from this location (docker-archive:FILE, oci:DIR, …).", valueName: "location"))
    var repair: String?

    @Option(name: .long, parsing: .upToNextOption, help: ArgumentHelp("Check these archives (docker save or OCI, any compression; a split set by FILE, FILE.000 or FILE.sha256) instead of the store: every part against its sum, every blob against its digest, every image complete, each layer against the config's DiffIDs; what an incremental archive expects is listed with whether the store holds it. Nothing is written into the store.", valueName: "file"))
    var archive: [String] = []

    func run() throws {
        if !archive.isEmpty { return try verifyArchives() }
        var report = try global.readStore().verify(deep: deep)
        if let repair, !report.damaged.isEmpty {
            let context = try global.context(registry: registry.registryOptions())
            let location = try Location(parsing: repair)
            let source = try location.source(context)
            let destination: StoreRepairDestination
            do {
                destination = try StoreRepairDestination(store: context.store(), repairing: report.damaged)
            } catch {
                source.close()
                throw error
            }
            _ = try Copier(options: CopyOptions(jobs: global.effectiveJobs)).copy(from: source, to: destination)
            try write(.lines(destination.repaired.sorted().map { "Repaired: \($0)" }))
            report = try global.readStore().verify(deep: deep)
        }
        try write(.lines(report.damage.map(\.message)))
        printError("\(report.blobs) blobs verified (\(Humanize.size(report.bytes))), \(report.damage.count) problems")
        if !report.damage.isEmpty { throw ExitCode(3) }
    }
}
