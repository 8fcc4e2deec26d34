import ArgumentParser
import Bale
import BaleCore
import Foundation

/// `bale images`: list the store, as `docker images` does.
struct Images: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List images in the store.",
        discussion: """
            Columns: REPOSITORY TAG IMAGE ID CREATED SIZE, newest first. IMAGE ID is the config digest, as \
            docker shows it. SIZE is the bytes the image's blobs take in the store (compressed layers), \
            unlike docker's SIZE, which is the unpacked size; .VirtualSize gives that unpacked size (the \
            sum of the layers' uncompressed sizes). Untagged images show as <none>.

            REPOSITORY[:TAG] may be a glob pattern, as docker's: 'app*', 'team/*:1', 'example.com/*/*' \
            (* does not match /).

            Filters (--filter KEY=VALUE, repeatable): dangling=true|false, label=KEY or label=KEY=VALUE, \
            before=IMAGE, since=IMAGE, reference=PATTERN (a glob on the name and tag), until=TIME.

            --format: table (default), json (one object per line), or a template such as \
            '{{.Repository}}:{{.Tag}}' or 'table {{.ID}}\\t{{.Size}}'. Fields: .Repository .Tag .Digest \
            .ID .CreatedAt .CreatedSince .Size .VirtualSize; templates take docker's functions (json, \
            join, upper, lower, printf, index, …).

            --tree shows each image (by name, one line per image) with, under it, the platforms of a \
            multi-platform image (as docker image ls --tree; those not in the store marked) and what refers \
            to it: OCI 1.1 referrers and cosign attachments (artifact type, digest, and the tag of a cosign \
            attachment).

            --source docker-daemon: lists a running Docker engine's images instead of the store's (its own \
            list, as docker images shows it, SIZE the engine's; --docker-host picks the engine), with the \
            same columns, -q and --format; filters and REPOSITORY[:TAG] apply to the store only.
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("Only images with this name (and tag); a glob pattern such as 'app*'.", valueName: "repository[:tag]"))
    var repository: String?

    @Flag(name: .shortAndLong, help: "Show all images (bale keeps no intermediate images, so this is the default list).")
    var all = false

    @Flag(name: .shortAndLong, help: "Only show image IDs.")
    var quiet = false

    @Flag(name: .long, help: "Show digests.")
    var digests = false

    @Flag(name: .long, help: "Do not truncate output.")
    var noTrunc = false

    @Option(name: [.short, .long], help: ArgumentHelp("Filter output (KEY=VALUE).", valueName: "filter"))
    var filter: [String] = []

    @Option(name: .long, help: ArgumentHelp("table, json or a template.", valueName: "format"))
    var format: String?

    @Flag(name: .long, help: "Show each image with its platforms and what refers to it (signatures, SBOMs, attestations) underneath.")
    var tree = false

    @Option(name: .long, help: ArgumentHelp("List this location instead of the store (docker-daemon:).", valueName: "location"))
    var source: String?

    @OptionGroup var docker: DockerHostFlag

    static let fields = ["Repository", "Tag", "Digest", "ID", "CreatedAt", "CreatedSince", "Size",
                         "Containers", "SharedSize", "UniqueSize", "VirtualSize"]

    func validate() throws {
        if source != nil, repository != nil || !filter.isEmpty {
            throw ValidationError("--source lists every image of the location: REPOSITORY[:TAG] and --filter apply to the store only")
        }
        if source != nil, tree {
            throw ValidationError("--tree shows the store's images; it does not go with --source")
        }
    }

    func run() throws {
        if let source { return try list(source) }
        var filters = filter
        if let repository {
            // A positional REPO[:TAG] is a reference filter, glob patterns and all (docker does the same).
            filters.append("reference=" + repository)
        }
        let imageFilter = try ImageFilter(filters)
        let output = try OutputFormat(format, fields: Self.fields)
        let store = try global.readStore()
        let (images, problems) = try store.images()
        problems.forEach { printError("Warning: \($0.message)") }
        let rows = try imageFilter.rows(of: images) { try store.resolve($0, in: images) }
        if quiet {
            try write(.lines(rows.map { noTrunc ? $0.image.id.string : $0.image.id.shortHex }))
            return
        }
        if tree {
            try write(TerminalText(escaped: try Self.tree(rows, store: store)))
            return
        }
        let now = Date()
        // The unpacked size may mean decompressing a layer once (then it is recorded): only when shown.
        let unpacked = output.uses("VirtualSize")
        let records = try rows.map { row -> [String: String] in
            let image = row.image
            return [
                "Repository": row.name?.familiarName ?? "<none>",
                "Tag": row.name?.tag ?? "<none>",
                "Digest": image.descriptor.digest.string,
                "ID": noTrunc ? image.id.string : image.id.shortHex,
                "CreatedAt": Humanize.timestamp(image.created),
                "CreatedSince": Humanize.ago(image.created, now: now),
                "Size": Humanize.size(image.size),
                "Containers": "N/A", "SharedSize": "N/A", "UniqueSize": "N/A",
                "VirtualSize": unpacked ? Humanize.size(try store.unpackedSize(of: image)) : "",
            ]
        }
        var columns: [(field: String, header: String)] = [("Repository", "REPOSITORY"), ("Tag", "TAG")]
        if digests { columns.append(("Digest", "DIGEST")) }
        columns += [("ID", "IMAGE ID"), ("CreatedSince", "CREATED"), ("Size", "SIZE")]
        try write(TerminalText(escaped: output.render(records, columns: columns)))
    }

    /// `--tree`: one line per image (its names, ID and size), then its platforms and referrers,
    /// drawn as docker image ls --tree draws them.
    static func tree(_ rows: [ImageRow], store: Store) throws -> String {
        var seen = Set<Digest>()
        var table = Table(header: ["IMAGE", "ID", "SIZE"])
        for row in rows where seen.insert(row.image.descriptor.digest).inserted {
            let image = row.image
            let names = image.names.isEmpty ? "<none>:<none>" : image.names.map(\.familiar).joined(separator: ", ")
            table.append([names, image.id.shortHex, Humanize.size(image.size)])
            let tree = try store.tree(of: image)
            var children = tree.platforms.map { p in
                [p.platform.map(\.description) ?? "unknown", p.manifest.digest.shortHex, p.present ? "" : "(not in the store)"]
            }
            children += tree.referrers.map { r in
                [r.descriptor.artifactType ?? r.descriptor.mediaType.rawValue, r.descriptor.digest.shortHex, r.tag ?? ""]
            }
            for (i, child) in children.enumerated() {
                table.append([(i == children.count - 1 ? "└─ " : "├─ ") + child[0]] + child.dropFirst())
            }
        }
        // An empty last cell (no tag) leaves the padding of the one before it: trimmed.
        return table.render().split(separator: "\n").map { line in
            String(line.reversed().drop { $0 == " " }.reversed()) + "\n"
        }.joined()
    }

    /// `--source LOCATION`: the location's own listing, one row per name (an untagged image: one row).
    private func list(_ text: String) throws {
        let output = try OutputFormat(format, fields: Self.fields)
        let listed = try Location(parsing: text).list(docker.applied(to: global.context()))
            .sorted { ($0.created ?? .distantPast) > ($1.created ?? .distantPast) }
        if quiet {
            try write(.lines(listed.map { noTrunc ? $0.id.string : $0.id.shortHex }))
            return
        }
        let now = Date()
        let records = listed.flatMap { image -> [[String: String]] in
            let names: [Reference?] = image.names.isEmpty ? [nil] : image.names
            return names.map { name in [
                "Repository": name?.familiarName ?? "<none>",
                "Tag": name?.tag ?? "<none>",
                "Digest": "<none>",
                "ID": noTrunc ? image.id.string : image.id.shortHex,
                "CreatedAt": image.created.map(Humanize.timestamp) ?? "",
                "CreatedSince": image.created.map { Humanize.ago($0, now: now) } ?? "",
                "Size": Humanize.size(image.size),
                "Containers": "N/A", "SharedSize": "N/A", "UniqueSize": "N/A", "VirtualSize": Humanize.size(image.size),
            ] }
        }
        var columns: [(field: String, header: String)] = [("Repository", "REPOSITORY"), ("Tag", "TAG")]
        if digests { columns.append(("Digest", "DIGEST")) }
        columns += [("ID", "IMAGE ID"), ("CreatedSince", "CREATED"), ("Size", "SIZE")]
        try write(TerminalText(escaped: output.render(records, columns: columns)))
    }
}
