import ArgumentParser
import Bale
import BaleCore
import Foundation

/// `bale search`: docker search's table over the store and the locations given, offline.
struct SearchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Search the store and other locations for images.",
        discussion: """
            Finds repositories whose name, one of whose tags, or whose title or description (the \
            org.opencontainers.image.title and org.opencontainers.image.description labels of the \
            config, or annotations of the manifest or index, of the repository's latest tag, else of its \
            first image) contains TERM, ignoring case. \
            Reads the store, then each --source location in order (any location copy reads: \
            oci:DIR, oci-archive:FILE, docker-archive:FILE, …; a location without a name lists every \
            image it holds). Nothing is fetched from Docker Hub. An image whose manifest or config \
            cannot be read gives a warning naming it, and the next image of its repository stands in.

            Columns: NAME DESCRIPTION TAGS SOURCE, one row per repository and source; DESCRIPTION is the \
            description, else the title. DESCRIPTION and TAGS are cut at 45 characters (as docker search \
            cuts descriptions) unless --no-trunc.

            Filters (--filter KEY=VALUE, repeatable): label=KEY or label=KEY=VALUE (only images carrying \
            the label count, and only their tags are listed), source=LOCATION (rows of that source only, \
            named as in the SOURCE column; "store" for the store). docker's stars, is-official and \
            is-automated describe Docker Hub and are refused.

            --format: table (default), json (one object per line), or a template such as \
            '{{.Name}}\\t{{.Tags}}'. Fields: .Name .Description .Title .Tags .Source.
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var registry: RegistryFlags

    @Argument(help: ArgumentHelp("What to look for (empty: everything).", valueName: "term"))
    var term: String

    @Option(name: .long, help: ArgumentHelp("Also search this location (repeatable).", valueName: "location"))
    var source: [String] = []

    @Option(name: .long, help: ArgumentHelp("At most this many results.", valueName: "n"))
    var limit = 25

    @Flag(name: .long, help: "Do not truncate output.")
    var noTrunc = false

    @Option(name: [.short, .long], help: ArgumentHelp("Filter output (KEY=VALUE).", valueName: "filter"))
    var filter: [String] = []

    @Option(name: .long, help: ArgumentHelp("table, json or a template.", valueName: "format"))
    var format: String?

    static let fields = ["Name", "Description", "Title", "Tags", "Source"]
    /// docker search's cut of the description.
    static let width = 45

    func validate() throws {
        if limit < 1 { throw ValidationError("--limit must be a positive number, not \(limit)") }
    }

    func run() throws {
        let searchFilter = try SearchFilter(filter)
        let output = try OutputFormat(format, fields: Self.fields)
        let context = try global.context(registry: registry.registryOptions())
        var results: [SearchResult] = []
        func search(_ source: any ImageSource, named name: String) throws {
            let found = try Search.search(term, in: source, sourceName: name, filter: searchFilter,
                                          temporaryDirectory: context.temporaryDirectory)
            found.warnings.forEach { printError("Warning: \(name): \($0)") }
            results += found.results
        }
        let store = "store"
        if searchFilter.accepts(source: store) { try search(StoreSource(everythingIn: global.readStore()), named: store) }
        for location in source where searchFilter.accepts(source: location) {
            try search(Location(parsing: location).source(context), named: location)
        }
        let records = results.prefix(limit).map { result -> [String: String] in
            [
                "Name": result.name,
                "Description": cut(result.description.isEmpty ? result.title : result.description),
                "Title": cut(result.title),
                "Tags": cut(result.tags.joined(separator: ", ")),
                "Source": result.source,
            ]
        }
        let columns = [("Name", "NAME"), ("Description", "DESCRIPTION"), ("Tags", "TAGS"), ("Source", "SOURCE")]
        try write(TerminalText(escaped: output.render(records, columns: columns.map { (field: $0.0, header: $0.1) })))
    }

    /// docker's cut: newlines become spaces, and text over `width` characters keeps `width - 1` and `…`.
    func cut(_ text: String) -> String {
        let flat = text.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
        guard !noTrunc, flat.count > Self.width else { return flat }
        return flat.prefix(Self.width - 1) + "…"
    }
}
