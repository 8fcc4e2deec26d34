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
            guard let eq = argument.firstIndex(of: "=") else {
                throw BaleError(.usage, "bad format of filter \"\(argument)\": expected KEY=VALUE")
            }
            let key = argument[..<eq].lowercased()
            let value = String(argument[argument.index(after: eq)...])
            switch key {
            case "label":
                if let e = value.firstIndex(of: "=") {
                    labels.append((String(value[..<e]), String(value[value.index(after: e)...])))
                } else {
                    labels.append((value, nil))
                }
            case "source": sources.append(value)
            case "stars", "is-official", "is-automated":
                throw BaleError(.usage, "invalid filter '\(key)': Docker Hub's \(key) has no meaning in an offline search (filters: label, source)")
            default:
                throw BaleError(.usage, "invalid filter '\(key)' (filters: label, source)")
            }
        }
    }

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
    /// repository's name, one of its tags, or an image's title or description), one result each,
    /// sorted by name. `sourceName` fills the SOURCE column. A source that reads its input once (an
    /// archive) is staged under `temporaryDirectory` first, as a copy would stage it. An image whose
    /// documents cannot be read (a damaged store entry) is left out with a warning, as `images` does,
    /// so one bad image does not hide the rest. The source is closed.
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

        // Each image is read once, whatever number of names it has.
        var labelsOf: [Digest: [String: String]] = [:]
        var tagsOf: [String: Set<String>] = [:]
        var imagesOf: [String: [(tag: String, labels: [String: String])]] = [:]
        var warnings: [String] = []
        for image in try source.images() {
            guard !image.names.isEmpty else { continue }
            let labels: [String: String]
            do {
                labels = try labelsOf[image.descriptor.digest] ?? Self.labels(of: image.descriptor, in: source)
            } catch let error as BaleError {
                warnings.append("\(image.names.map(\.familiar).joined(separator: ", ")): skipped: \(error.message)")
                continue
            }
            labelsOf[image.descriptor.digest] = labels
            guard filter.accepts(labels: labels) else { continue }
            for name in image.names {
                let repository = name.familiarName
                let tag = name.tag ?? name.digest.map(\.string) ?? ""
                tagsOf[repository, default: []].insert(tag)
                imagesOf[repository, default: []].append((tag, labels))
            }
        }
        let needle = term.lowercased()
        let results = imagesOf.keys.sorted().compactMap { repository -> SearchResult? in
            let images = imagesOf[repository] ?? []
            let tags = (tagsOf[repository] ?? []).sorted()
            // The row shows the `latest` image's title and description, else the first that has one.
            let shown = images.filter { $0.tag == "latest" } + images
            let title = shown.lazy.compactMap { $0.labels[titleKey] }.first { !$0.isEmpty } ?? ""
            let description = shown.lazy.compactMap { $0.labels[descriptionKey] }.first { !$0.isEmpty } ?? ""
            let texts = [repository] + tags + images.flatMap { [$0.labels[titleKey], $0.labels[descriptionKey]].compactMap { $0 } }
            guard needle.isEmpty || texts.contains(where: { $0.lowercased().contains(needle) }) else { return nil }
            return SearchResult(name: repository, title: title, description: description, tags: tags, source: sourceName)
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
