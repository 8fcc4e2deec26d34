import BaleCore
import Foundation

// `bale search`: docker search's table over what is at hand instead of Docker Hub. Every location is
// read through the generic `ImageSource` API (the store, layouts, archives, and whatever other formats
// the location table holds), so a new location kind is searchable without a line here.

/// One row of `bale search`: a repository as one source holds it.
public struct SearchResult: Sendable, Equatable {
    /// The repository, in docker's familiar form (`app`, `team/app`, `reg.local:5000/app`).
    public var name: String
    /// `org.opencontainers.image.title`, when an image of the repository has it.
    public var title: String
    /// `org.opencontainers.image.description`, when an image of the repository has it.
    public var description: String
    /// The repository's tags in the source, sorted.
    public var tags: [String]
    /// The source, as the user named it (`store` for the store).
    public var source: String

    public init(name: String, title: String, description: String, tags: [String], source: String) {
        self.name = name
        self.title = title
        self.description = description
        self.tags = tags
        self.source = source
    }
}

/// The filters `bale search` takes (`--filter KEY=VALUE`): `label=KEY` or `label=KEY=VALUE` (an image
/// of the repository carries the label; only such images' tags are listed) and `source=LOCATION` (rows
/// of that source only; repeatable, any of them). docker's `stars`, `is-official` and `is-automated`
/// describe Docker Hub's catalogue, which an offline search does not have: they are refused.
public struct SearchFilter: Sendable {
    var labels: [(key: String, value: String?)] = []
    var sources: [String] = []

    public init(_ arguments: [String]) throws {
        for argument in arguments {
            let (key, value) = try ImageFilter.split(argument)
            switch key {
            case "label": labels.append(ImageFilter.label(value))
            case "source": sources.append(value)
            case "stars", "is-official", "is-automated":
                throw BaleError(.usage, "invalid filter '\(key)': Docker Hub's \(key) has no meaning in an offline search (filters: label, source)")
            default:
                throw BaleError(.usage, "invalid filter '\(key)' (filters: label, source)")
            }
        }
    }

    /// Whether the filter looks at images' labels (every image must then be read).
    var readsLabels: Bool { !labels.isEmpty }

    /// Whether rows of the source called `name` are wanted.
    public func accepts(source name: String) -> Bool { sources.isEmpty || sources.contains(name) }

    func accepts(labels present: [String: String]) -> Bool {
        labels.allSatisfy { want in present[want.key].map { want.value == nil || $0 == want.value } ?? false }
    }
}

public enum Search {
    /// The annotation and label keys whose values are searched and shown.
    public static let titleKey = "org.opencontainers.image.title"
    public static let descriptionKey = "org.opencontainers.image.description"

    /// The repositories of `source` that match `term` (case-insensitive, a substring of the
    /// repository's name, one of its tags, or its title or description), one result each, sorted by
    /// name. `sourceName` fills the SOURCE column.
    ///
    /// A repository's title and description are those of one image, as Docker Hub gives a repository
    /// one description: its `latest` tag's, else its first image's in the source's order. Only that
    /// image is read (a manifest and a config), so a source that lists many tags (a registry) costs
    /// one image per repository; a label filter reads every image. An image that cannot be read (a
    /// damaged store entry) gives a warning, and the next image stands in for it.
    ///
    /// A source that reads its input once (an archive) is staged under `temporaryDirectory` first, as a
    /// copy would stage it. The source is closed.
    public static func search(_ term: String, in source: any ImageSource, sourceName: String,
                              filter: SearchFilter, temporaryDirectory: String = NSTemporaryDirectory())
        throws -> (results: [SearchResult], warnings: [String]) {
        defer { source.close() }
        var staging: TemporaryBlobSink?
        if let streaming = source as? any StreamingImageSource {
            let sink = try TemporaryBlobSink(parent: temporaryDirectory)
            staging = sink
            try streaming.stage(into: sink)
        }
        defer { withExtendedLifetime(staging) {} }

        // Each repository's tags and images, in the source's order; nothing is read yet.
        var entriesOf: [String: [(tag: String, image: Descriptor, name: Reference)]] = [:]
        for image in try source.images() {
            for name in image.names {
                entriesOf[name.familiarName, default: []].append((name.tag ?? name.digest?.string ?? "", image.descriptor, name))
            }
        }
        // Each image is read at most once, whatever number of names it has; nil: unreadable.
        var read: [Digest: [String: String]?] = [:]
        var warnings: [String] = []
        func labels(_ entry: (tag: String, image: Descriptor, name: Reference)) -> [String: String]? {
            if let known = read[entry.image.digest] { return known }
            var labels: [String: String]?
            do {
                labels = try Self.labels(of: entry.image, in: source)
            } catch let error as BaleError {
                warnings.append("\(entry.name.familiar): \(error.message)")
            } catch {
                warnings.append("\(entry.name.familiar): \(error)")
            }
            read[entry.image.digest] = .some(labels)
            return labels
        }
        let needle = term.lowercased()
        var results: [SearchResult] = []
        for repository in entriesOf.keys.sorted() {
            var entries = entriesOf[repository] ?? []
            if filter.readsLabels {
                entries = entries.filter { labels($0).map(filter.accepts(labels:)) ?? false }
                if entries.isEmpty { continue }
            }
            let tags = Set(entries.map(\.tag)).sorted()
            let shown = (entries.filter { $0.tag == "latest" } + entries).lazy.compactMap { labels($0) }.first ?? [:]
            let title = shown[titleKey] ?? "", description = shown[descriptionKey] ?? ""
            guard needle.isEmpty || ([repository, title, description] + tags).contains(where: { $0.lowercased().contains(needle) })
            else { continue }
            results.append(SearchResult(name: repository, title: title, description: description, tags: tags, source: sourceName))
        }
        return (results, warnings)
    }

    /// An image's labels as search reads them: the annotations of its index (outermost first), then of
    /// its manifest (this host's platform, else the first image of the index), then the config's
    /// `Labels`; the first place that sets a key wins.
    static func labels(of descriptor: Descriptor, in source: any ImageSource) throws -> [String: String] {
        var labels: [String: String] = [:]
        func add(_ more: [String: String]?) { labels.merge(more ?? [:]) { first, _ in first } }
        var current = descriptor
        for _ in 0...ImageGraph.maxIndexDepth {
            let bytes = try source.document(current)
            guard try ImageGraph.kind(of: current, bytes: bytes) == .index else {
                let manifest = try JSON.decode(Manifest.self, from: bytes, what: "manifest \(current.digest) in \(source.name)")
                add(manifest.annotations)
                let config = try JSON.decode(ImageConfig.self, from: source.document(manifest.config),
                                             what: "config \(manifest.config.digest) in \(source.name)")
                add(config.config?.labels)
                return labels
            }
            let index = try JSON.decode(Index.self, from: bytes, what: "index \(current.digest) in \(source.name)")
            add(index.annotations)
            let present: (Descriptor) -> Bool = { (try? source.document($0)) != nil }
            guard let next = ImageGraph.entry(of: index, for: .host, present: present)
                    ?? index.manifests.first(where: { !Index.isAttestation($0) && present($0) }) else {
                return labels
            }
            current = next
        }
        throw BaleError(.invalidInput, "index \(descriptor.digest) in \(source.name): indexes nested deeper than \(ImageGraph.maxIndexDepth)")
    }
}
