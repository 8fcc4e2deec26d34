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
          help: "Print sizes and dates in human-readable form (-H=false and --human=false as docker takes them).")
    var human = true

    @Option(name: .long, help: ArgumentHelp("table, json or a template.", valueName: "format"))
    var format: String?

    @Argument(help: ArgumentHelp("The image.", valueName: "image"))
    var image: String

    func run() throws {
        let output = try OutputFormat(format, fields: ["ID", "CreatedAt", "CreatedSince", "CreatedBy", "Size", "Comment"])
        let store = try global.readStore()
        let stored = try store.image(image)
        let now = Date()
        let records = stored.history.enumerated().map { (i, entry) -> [String: String] in
            let id = i > 0 ? "<missing>" : (noTrunc ? stored.id.string : stored.id.shortHex)
            let created = entry.created.flatMap(RFC3339.parse)
            let by = (entry.createdBy ?? "").replacingOccurrences(of: "\t", with: " ")
            // As docker's history formatter: CreatedAt is always RFC 3339; -H=false shows it (and
            // plain byte counts) where the human forms would be. Whole seconds: docker's history API
            // carries Unix seconds, so a build's `…:57.325412Z` prints as `…:57Z`.
            let at = created.map { RFC3339.format(Date(timeIntervalSince1970: $0.timeIntervalSince1970.rounded(.down))) } ?? ""
            return [
                "ID": id,
                "CreatedAt": at,
                "CreatedSince": human ? created.map { Humanize.ago($0, now: now) } ?? "N/A" : at,
                "CreatedBy": noTrunc ? by : Humanize.ellipsis(by, 45),
                "Size": human ? Humanize.size(entry.size) : String(entry.size),
                "Comment": entry.comment ?? "",
            ]
        }
        if quiet {
            try write(.lines(records.map { $0["ID"]! }))
            return
        }
        try write(TerminalText(escaped: output.render(records, columns: [("ID", "IMAGE"),
                                                   human ? ("CreatedSince", "CREATED") : ("CreatedAt", "CREATED AT"),
                                                   ("CreatedBy", "CREATED BY"), ("Size", "SIZE"),
                                                   ("Comment", "COMMENT")])))
    }
}
