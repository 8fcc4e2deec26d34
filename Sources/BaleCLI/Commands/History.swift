import ArgumentParser
import Bale
import BaleCore
import Foundation

/// `bale history`: an image's layer history, newest first, as `docker history` shows it.
struct History: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the history of an image.",
        discussion: """
            Columns: IMAGE CREATED CREATED BY SIZE COMMENT, newest first; IMAGE is the image ID on the top \
            row and <missing> below, as docker shows pulled images. SIZE is the stored (usually compressed) \
            size of the entry's layer. --format: table, json, or a template with the fields .ID \
            .CreatedAt .CreatedSince .CreatedBy .Size .Comment.
            """)

    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "Do not truncate output.")
    var noTrunc = false

    @Flag(name: .shortAndLong, help: "Only show image IDs.")
    var quiet = false

    @Flag(name: [.customShort("H"), .long], inversion: .prefixedNo,
          help: "Print sizes and dates in human-readable form.")
    var human = true

    @Option(name: .long, help: ArgumentHelp("table, json or a template.", valueName: "format"))
    var format: String?

    @Argument(help: ArgumentHelp("The image.", valueName: "image"))
    var image: String

    func run() throws {
        let output = try OutputFormat(format, fields: ["ID", "CreatedAt", "CreatedSince", "CreatedBy", "Size", "Comment"])
        let store = try global.store()
        let stored = try store.resolve(image, in: store.images().images)
        let now = Date()
        let records = Self.entries(of: stored).enumerated().map { (i, entry) -> [String: String] in
            let id = i > 0 ? "<missing>" : (noTrunc ? stored.id.string : stored.id.shortHex)
            let created = entry.created.flatMap(RFC3339.parse)
            let by = (entry.createdBy ?? "").replacingOccurrences(of: "\t", with: " ")
            return [
                "ID": id,
                "CreatedAt": created.map { human ? Humanize.timestamp($0) : RFC3339.format($0) } ?? "",
                "CreatedSince": created.map { human ? Humanize.ago($0, now: now) : RFC3339.format($0) } ?? "N/A",
                "CreatedBy": noTrunc ? by : Humanize.ellipsis(by, 45),
                "Size": human ? Humanize.size(entry.size) : String(entry.size),
                "Comment": entry.comment ?? "",
            ]
        }
        if quiet {
            write(records.map { $0["ID"]! + "\n" }.joined())
            return
        }
        write(try output.render(records, columns: [("ID", "IMAGE"), ("CreatedSince", "CREATED"),
                                                   ("CreatedBy", "CREATED BY"), ("Size", "SIZE"),
                                                   ("Comment", "COMMENT")]))
    }

    struct Entry {
        var created: String?
        var createdBy: String?
        var comment: String?
        var size: Int64
    }

    /// History entries newest first, each non-empty one paired with its layer in order. Without a
    /// history, one entry per layer.
    static func entries(of image: StoredImage) -> [Entry] {
        let layers = image.manifest.value.layers
        guard let history = image.config.value.history, !history.isEmpty else {
            return layers.reversed().map { Entry(created: image.config.value.created, size: $0.size) }
        }
        var next = 0
        var entries: [Entry] = []
        for h in history {
            var size: Int64 = 0
            if h.emptyLayer != true, next < layers.count {
                size = layers[next].size
                next += 1
            }
            entries.append(Entry(created: h.created, createdBy: h.createdBy, comment: h.comment, size: size))
        }
        return entries.reversed()
    }
}
