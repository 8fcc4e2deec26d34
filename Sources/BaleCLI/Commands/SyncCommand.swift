import ArgumentParser
import Bale
import BaleCore
import Foundation

/// `bale sync`: the images a list names, from their registries, into one location.
struct SyncCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Copy the images a list names from their registries into one location.",
        discussion: """
            LIST is skopeo sync's YAML: per source registry, images (repository: a list of tags and \
            digests; an empty list is every tag), images-by-tag-regex (repository: a regular expression \
            a tag must contain a match of), images-by-semver (repository: a constraint such as ">= 1.2, \
            < 2" or "^3.1 || ~4.0.2" that tags read as versions must satisfy), tls-verify (false: plain \
            HTTP or unverified TLS), credentials (username, password) and cert-dir (that registry's \
            *.crt, client.cert and client.key). Or a plain list: one reference a line (docker's name \
            rules), # comments, blank lines. The form is told from the content.

            DESTINATION is any location: an archive (all the images in one file, one after another), \
            an OCI layout, a registry tree, the store, or docker://HOST[/PREFIX]: each image goes to \
            PREFIX/NAME:TAG, NAME the last component of its repository, as skopeo sync does (--scoped: \
            PREFIX/SOURCEHOST/REPOSITORY:TAG). An image the destination holds under its name is up to \
            date and not copied; blobs the destination holds are not fetched. The images move side by \
            side, --jobs blobs at once across them, a layer several images lack fetched once. One line \
            per image, in the list's order, then the totals; the bytes are the layer bytes moved (not \
            already at the destination), each on the line of the first image in the list to bring it.
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var platforms: PlatformOptions
    @OptionGroup var referrers: ReferrerOptions
    @OptionGroup var registry: RegistryFlags

    @Flag(name: .long, help: "Print what would be copied, and the layer bytes that would move; write nothing.")
    var dryRun = false

    @Flag(name: .long, help: "Go on after an image fails; list the failures at the end (exit status still non-zero).")
    var keepGoing = false

    @Flag(name: .long, help: "Into a registry: keep the source host and whole repository path under the destination.")
    var scoped = false

    @Option(name: .long, help: ArgumentHelp("Into an archive: leave out the layers this earlier archive carries (repeatable), as save --since.", valueName: "archive"))
    var since: [String] = []

    @Argument(help: ArgumentHelp("The list: skopeo sync YAML, or one reference a line.", valueName: "list"))
    var list: String

    @Argument(help: ArgumentHelp("Where to write.", valueName: "destination"))
    var destination: String

    func run() throws {
        let parsed = try SyncList(path: list)
        let to = try Location(parsing: destination)
        let context = try global.context(registry: registry.registryOptions())
        let progress = ProgressBar(label: "Syncing", disabled: global.noProgress || dryRun)
        defer { progress.finish() }
        var options = SyncOptions(copy: try referrers.applied(to: platforms.copyOptions(global, progress: progress)))
        options.dryRun = dryRun
        options.keepGoing = keepGoing
        options.scoped = scoped
        options.since = since
        let report = try Sync(options: options, context: context).run(parsed, to: to) { line in
            progress.finish()
            print(line)
        }
        progress.finish()
        let verb = dryRun ? "Would copy" : "Copied"
        print("\(verb) \(report.copied) image(s), \(report.bytes) bytes (\(Humanize.size(report.bytes))); \(report.upToDate) up to date")
        guard report.failures.isEmpty else {
            for failure in report.failures { printError("Failed: \(failure.what): \(failure.error)") }
            throw BaleError(.io, "\(report.failures.count) of the listed images failed")
        }
    }
}
