import BaleCore
import BaleIO
import Foundation

/// Options of one `bale sync`.
public struct SyncOptions: Sendable {
    /// Platform selection, jobs (blobs copied at once), progress.
    public var copy: CopyOptions
    /// Print what would move, write nothing.
    public var dryRun = false
    /// Go on after an image fails; the failures are listed at the end.
    public var keepGoing = false
    /// Into a registry: keep the source host and whole repository path under the destination
    /// (skopeo's `--scoped`); without it, only the repository's last component, as skopeo sync does.
    public var scoped = false
    /// Earlier archives whose layers an archive destination leaves out (as `save --since`).
    public var since: [String] = []
    public init(copy: CopyOptions) { self.copy = copy }
}

/// What a sync did: one line per image as it goes (`onLine`), then these totals.
public struct SyncReport: Sendable {
    /// Images copied (or, in a dry run, that would be).
    public var copied = 0
    /// Images the destination already held under their name.
    public var upToDate = 0
    /// Layer bytes moved (or that would move): those not already at the destination, each once.
    public var bytes: Int64 = 0
    /// What failed (`--keep-going`): the image or repository, and why.
    public var failures: [(what: String, error: String)] = []
}

/// `bale sync`: the images a list names, from their registries, into one location. Into a registry,
/// a registry tree, an OCI layout or the store each image is its own copy (committed as it
/// completes, so a failure loses only that image); into an archive, all images are one copy, one
/// after another into the one file. Blobs the destination holds are not fetched; an image the
/// destination holds under its name with the same content is not copied at all.
public struct Sync: Sendable {
    public let options: SyncOptions
    public let context: LocationContext

    public init(options: SyncOptions, context: LocationContext) {
        self.options = options
        self.context = context
    }

    /// One image to move.
    struct Item: Sendable {
        var reference: Reference
        var options: RegistryOptions
    }

    /// Runs the sync of `list` into `destination`, telling `onLine` one line per image, in the list's
    /// order.
    public func run(_ list: SyncList, to destination: Location, onLine: (String) -> Void) throws -> SyncReport {
        var report = SyncReport()
        // Links for the list's cert-dir entries (see registryOptions).
        let certificates = (context.temporaryDirectory as NSString).appendingPathComponent("bale-sync-certs-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(atPath: certificates) }
        let items = try resolve(list, certificates: certificates, report: &report)
        if destination.format == RegistryFormat.self {
            let (host, prefix) = try registryTarget(destination)
            let context = context
            try copyEach(items, report: &report, onLine: onLine, target: { item in
                let target = try self.registryName(item.reference, host: host, prefix: prefix)
                let open: @Sendable () throws -> any ImageDestination = {
                    try RegistryDestination(image: target, options: context.registry)
                }
                return Target(shown: "docker://\(target)", held: { self.registryDigest(target) }, lacking: { layers in
                    let destination = try open()
                    defer { destination.abort() }
                    return layers.filter { !destination.contains($0.digest, size: $0.size) }
                }, open: open)
            })
        } else if try isArchive(destination) {
            try copyAll(items, into: destination, report: &report, onLine: onLine)
        } else {
            guard options.since.isEmpty else {
                throw BaleError(.usage, "--since: only an archive destination can leave out layers")
            }
            let held = heldImages(destination)
            let context = context
            // One destination answers what is held while the images are planned: several opened side
            // by side could each create, and on abort remove, a layout's folder under the others.
            // It goes before the copies (a store has one writer hold fewer, a folder it made is removed).
            let probe = try destination.destination(context)
            try copyEach(items, report: &report, onLine: onLine, target: { item in
                Target(shown: destination.description, held: { held[Self.key(item.reference)] },
                       lacking: { $0.filter { !probe.contains($0.digest, size: $0.size) } },
                       open: { try destination.destination(context) })
            }, planned: { probe.abort() })
        }
        return report
    }

    // MARK: The list

    /// The images the list names, each with the connection options of its registry; a repository
    /// whose tags cannot be listed is a failure (kept going past with `keepGoing`).
    func resolve(_ list: SyncList, certificates: String, report: inout SyncReport) throws -> [Item] {
        var items: [Item] = []
        var seen = Set<Reference>()
        for registry in list.registries {
            let options = try registryOptions(registry, certificates: certificates)
            for selection in registry.selections {
                let repository: String
                let tags: [String]
                do {
                    switch selection {
                    case .tags(let repo, let given):
                        repository = repo
                        tags = given.isEmpty ? try client(registry.host, repo, options).tags().sorted() : given
                    case .tagRegex(let repo, let pattern):
                        repository = repo
                        let regex = try NSRegularExpression(pattern: pattern)
                        tags = try client(registry.host, repo, options).tags().sorted().filter { tag in
                            regex.firstMatch(in: tag, range: NSRange(tag.startIndex..., in: tag)) != nil
                        }
                    case .semver(let repo, let constraint):
                        repository = repo
                        tags = try client(registry.host, repo, options).tags().sorted().filter { constraint.matches(tag: $0) }
                    }
                } catch {
                    let what = "\(registry.host)/\(selection.repository)"
                    guard self.options.keepGoing else {
                        let message = (error as? BaleError)?.message ?? "\(error)"
                        throw BaleError((error as? BaleError)?.code ?? .io, "\(list.path): \(what): \(message)", cause: error)
                    }
                    report.failures.append((what, "\(error)"))
                    continue
                }
                for tag in tags {
                    let digest = try? Digest(parsing: tag)
                    let reference = Reference(domain: registry.host, path: repository,
                                              tag: digest == nil ? tag : nil, digest: digest)
                    if seen.insert(reference).inserted { items.append(Item(reference: reference, options: options)) }
                }
            }
        }
        return items
    }

    private func client(_ host: String, _ repository: String, _ options: RegistryOptions) throws -> RegistryClient {
        try RegistryClient(host: host, repository: repository, options: options)
    }

    /// The flags' registry options with what the list says of this registry.
    func registryOptions(_ registry: SyncList.Registry, certificates: String) throws -> RegistryOptions {
        var options = context.registry
        if registry.tlsVerify == false { options.insecure = true }
        if let credential = registry.credential {
            options.credentials = OneLogin(host: registry.host, credential: credential, others: options.credentials)
        }
        if let directory = registry.certDirectory {
            // skopeo's cert-dir holds one registry's files; the client reads docker's certs.d layout
            // (DIR/HOST/…), which a link from HOST to the directory gives.
            try FileManager.default.createDirectory(atPath: certificates, withIntermediateDirectories: true)
            let link = (certificates as NSString).appendingPathComponent(registry.host)
            try? FileManager.default.removeItem(atPath: link)
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: directory)
            options.certificatesDirectory = certificates
        }
        return options
    }

    // MARK: Copies

    /// Where one image goes when each image is its own copy.
    struct Target: Sendable {
        /// The destination as the lines show it.
        var shown: String
        /// What the destination holds under the image's name: the digest of its top manifest or index
        /// and, for a destination that converts, its config's.
        var held: @Sendable () -> Held?
        /// Of these layers, those the destination lacks now.
        var lacking: @Sendable ([Descriptor]) throws -> [Descriptor]
        var open: @Sendable () throws -> any ImageDestination
    }

    /// One image, planned before anything moves.
    struct Prepared: @unchecked Sendable {
        // @unchecked Sendable: handed from the thread that plans to the one that copies, never shared.
        var source: RegistrySource
        var plan: Planned
        /// The layers each image is the first of the list to bring that the destination lacked at the
        /// start: what a dry run announces and, summed, what the copy moves.
        var layers: [Descriptor]
        /// The destination already holds the image under its name.
        var upToDate: Bool
    }

    /// Each image its own copy, committed as it completes, so a failure loses only that image. The
    /// images are planned side by side, then the bytes each is the first of the list to bring are
    /// counted in list order (the same in a dry run as in the copy, whatever finishes first), then the
    /// copies run side by side: `--jobs` blobs at once across all of them, a blob two of them lack
    /// fetched once, commits one at a time (ConcurrentCopies). Until one image is in, they go one at a
    /// time: a copy that fails takes back a destination it created (a layout's folder) whole.
    private func copyEach(_ items: [Item], report: inout SyncReport, onLine: (String) -> Void,
                          target: @escaping @Sendable (Item) throws -> Target, planned done: () -> Void = {}) throws {
        let width = options.copy.jobs
        let planned: [Result<(Prepared, Target), any Error>] = Self.ordered(items.count, width: width) { i in
            Result { try self.prepare(items[i], target(items[i])) }
        }
        done()
        var announced = Set<Digest>()
        let prepared = planned.map { result in
            result.map { item, target in
                var item = item
                if !item.upToDate { item.layers = item.layers.filter { announced.insert($0.digest).inserted } }
                return (item, target)
            }
        }
        var shared = options.copy
        shared.concurrent = ConcurrentCopies(limit: width)
        let copy = shared
        let dryRun = options.dryRun
        var failure: (any Error)?
        Self.ordered(prepared.count, width: dryRun ? 1 : width, oneFirst: true, stopOnFailure: !options.keepGoing,
                     run: { i -> Result<(line: String, copied: Bool, bytes: Int64), any Error> in
            Result {
                let (item, target) = try prepared[i].get()
                let line = "\(items[i].reference) -> \(target.shown)"
                let bytes = item.layers.reduce(0) { $0 + $1.size }
                if item.upToDate { return ("Up to date: \(line)", false, 0) }
                if dryRun { return ("Would copy \(line): \(bytes) bytes", true, bytes) }
                let copied = try Copier(options: copy).copy(from: item.source, to: try target.open())
                return ("Copied \(line): \(bytes) bytes", true, copied.bytesWritten)
            }
        }, succeeded: { (try? $0.get()) != nil }, each: { i, result in
            switch result {
            case .success(let (line, copied, bytes)):
                if copied { report.copied += 1 } else { report.upToDate += 1 }
                report.bytes += bytes
                onLine(line)
            case .failure(let error):
                let message = (error as? BaleError)?.message ?? "\(error)"
                if options.keepGoing {
                    report.failures.append((items[i].reference.string, message))
                } else if failure == nil {
                    failure = BaleError((error as? BaleError)?.code ?? .io, "\(items[i].reference): \(message)", cause: error)
                }
            }
        })
        // Every source, copied or not (a registry source holds nothing open, so the copier's close
        // before this one is harmless).
        for case .success(let (item, _)) in prepared { item.source.close() }
        if let failure { throw failure }
    }

    /// Plans one image: its graph, whether the destination holds it, and which of its layers the
    /// destination lacks.
    private func prepare(_ item: Item, _ target: Target) throws -> (Prepared, Target) {
        let source = try RegistrySource(host: item.reference.domain, image: item.reference, options: item.options)
        do {
            let plan = try Planned(source, options.copy)
            if let held = target.held(), held.matches(plan) {
                return (Prepared(source: source, plan: plan, layers: [], upToDate: true), target)
            }
            return (Prepared(source: source, plan: plan, layers: try target.lacking(plan.layers), upToDate: false), target)
        } catch {
            source.close()
            throw error
        }
    }

    /// Every image into one archive, one copy (the archive has one writer; the copier moves the blobs
    /// of all the images `--jobs` at a time); the images are planned side by side first. The per-image
    /// figures are the layers each is the first to bring.
    private func copyAll(_ items: [Item], into destination: Location, report: inout SyncReport,
                         onLine: (String) -> Void) throws {
        var copy = options.copy
        for earlier in options.since {
            copy.omit.merge(try Incremental.carriedBlobs(inArchive: earlier)) { first, _ in first }
        }
        let planOptions = copy
        let planned: [Result<Prepared, any Error>] = Self.ordered(items.count, width: copy.jobs) { i in
            Result {
                let source = try RegistrySource(host: items[i].reference.domain, image: items[i].reference, options: items[i].options)
                do {
                    let plan = try Planned(source, planOptions)
                    return Prepared(source: source, plan: plan, layers: plan.layers, upToDate: false)
                } catch {
                    source.close()
                    throw error
                }
            }
        }
        let combined = CombinedSource(name: "sync")
        var seen = Set<Digest>()
        var moved: [(String, Int64)] = []
        var failure: (any Error)?
        for (item, result) in zip(items, planned) {
            switch result {
            case .success(let prepared):
                guard failure == nil else { prepared.source.close(); continue }
                combined.add(prepared.source, prepared.plan)
                let bytes = prepared.layers.filter { copy.omit[$0.digest] == nil && seen.insert($0.digest).inserted }
                    .reduce(0) { $0 + $1.size }
                moved.append(("\(item.reference) -> \(destination.description)", bytes))
            case .failure(let error):
                let message = (error as? BaleError)?.message ?? "\(error)"
                if options.keepGoing {
                    report.failures.append((item.reference.string, message))
                } else if failure == nil {
                    failure = BaleError((error as? BaleError)?.code ?? .io, "\(item.reference): \(message)", cause: error)
                }
            }
        }
        if let failure { combined.close(); throw failure }
        if options.dryRun {
            for (line, bytes) in moved {
                onLine("Would copy \(line): \(bytes) bytes")
                report.bytes += bytes
            }
            report.copied += moved.count
            combined.close()
            return
        }
        guard !moved.isEmpty else { combined.close(); return }
        let copied = try Copier(options: copy).copy(from: combined, to: try destination.destination(context))
        for (line, bytes) in moved { onLine("Copied \(line): \(bytes) bytes") }
        report.copied += moved.count
        report.bytes += copied.bytesWritten
    }

    // MARK: The destination

    private func isArchive(_ location: Location) throws -> Bool {
        location.format == DockerArchiveFormat.self || location.format == OCIArchiveFormat.self
    }

    /// `docker://HOST[/PREFIX]`: the host and the repository prefix.
    private func registryTarget(_ location: Location) throws -> (host: String, prefix: String) {
        let (host, image) = try RegistryFormat.parse(location.reference)
        if let image, image.tag != nil || image.digest != nil {
            throw BaleError(.usage, "\(location): a sync destination is a registry and repository prefix, without tag or digest")
        }
        return (host, image?.path ?? "")
    }

    /// Where an image goes in a destination registry: under the prefix, its repository's last
    /// component (skopeo sync's default) or, scoped, its source host and whole path.
    func registryName(_ reference: Reference, host: String, prefix: String) throws -> Reference {
        let tail = options.scoped ? "\(reference.domain)/\(reference.path)"
            : String(reference.path.split(separator: "/").last ?? Substring(reference.path))
        let path = prefix.isEmpty ? tail : "\(prefix)/\(tail)"
        return Reference(domain: host, path: path.lowercased(), tag: reference.tag, digest: reference.digest)
    }

    /// What a registry holds under the name, if anything.
    private func registryDigest(_ target: Reference) -> Held? {
        guard let client = try? RegistryClient(host: target.domain, repository: target.path, options: context.registry),
              let (descriptor, bytes) = try? client.manifest(target.digest?.string ?? target.tag ?? "latest") else { return nil }
        return Held(descriptor: descriptor, config: try? JSON.decode(Manifest.self, from: bytes, what: "manifest").config.digest)
    }

    /// What a location holds, by name (repository path without host and `library/`, and tag or
    /// digest): read through once before the copies. Nothing when it cannot be read (not there yet).
    private func heldImages(_ location: Location) -> [String: Held] {
        guard let source = try? location.source(context) else { return [:] }
        defer { source.close() }
        var held: [String: Held] = [:]
        for image in (try? source.images()) ?? [] {
            let bytes = try? source.document(image.descriptor)
            let config = bytes.flatMap { try? JSONDecoder().decode(Manifest.self, from: $0).config.digest }
            let entry = Held(descriptor: image.descriptor, config: config)
            for name in image.names { held[Self.key(name)] = entry }
            held[Self.key(Reference(domain: "", path: "", tag: nil, digest: image.descriptor.digest))] = entry
        }
        return held
    }

    /// The name an image is known by in any location: registry trees drop the host, stores and
    /// layouts keep it.
    static func key(_ reference: Reference) -> String {
        if let digest = reference.digest { return digest.string }
        var path = Substring(reference.path)
        if path.hasPrefix("library/") { path = path.dropFirst("library/".count) }
        return "\(path):\(reference.tag ?? "latest")"
    }
}

extension Sync {
    /// Runs `run` for each index below `count` on up to `width` threads, and hands each result to
    /// `each` on the calling thread, in index order, as soon as it and those before it are in.
    /// `oneFirst`: one run at a time until one has `succeeded`. `stopOnFailure`: no run starts after
    /// one that did not succeed (those left out are not handed over). Returns once every run started
    /// has ended.
    static func ordered<T>(_ count: Int, width: Int, oneFirst: Bool = false, stopOnFailure: Bool = false,
                           run: @escaping @Sendable (Int) -> T,
                           succeeded: @escaping @Sendable (T) -> Bool = { _ in true },
                           each: (Int, T) -> Void) {
        let runs = OrderedRuns<T>(count: count, widened: !oneFirst)
        for _ in 0..<min(max(1, width), count) {
            Thread.detachNewThread {
                runs.work(run: run, succeeded: succeeded, stopOnFailure: stopOnFailure)
            }
        }
        for index in 0..<count {
            guard let result = runs.result(index) else { break }
            each(index, result)
        }
    }

    /// `ordered`, collecting the results.
    static func ordered<T>(_ count: Int, width: Int, _ run: @escaping @Sendable (Int) -> T) -> [T] {
        var results: [T] = []
        ordered(count, width: width, run: run, each: { results.append($1) })
        return results
    }
}

/// The shared state of `Sync.ordered`'s threads.
private final class OrderedRuns<T>: @unchecked Sendable {
    // @unchecked Sendable: every field is guarded by `condition`.
    private let condition = NSCondition()
    private var results: [T?]
    private var next = 0
    private var running = 0
    private var stopped = false
    private var widened: Bool

    init(count: Int, widened: Bool) {
        results = Array(repeating: nil, count: count)
        self.widened = widened
    }

    func work(run: (Int) -> T, succeeded: (T) -> Bool, stopOnFailure: Bool) {
        while true {
            condition.lock()
            while !stopped && next < results.count && !widened && running > 0 { condition.wait() }
            guard !stopped && next < results.count else { condition.unlock(); return }
            let index = next
            next += 1
            running += 1
            condition.unlock()
            let result = run(index)
            condition.withLock {
                results[index] = result
                running -= 1
                if succeeded(result) { widened = true } else if stopOnFailure { stopped = true }
                condition.broadcast()
            }
        }
    }

    /// The result of run `index`, once in; nil when that run will never start.
    func result(_ index: Int) -> T? {
        condition.withLock {
            while results[index] == nil && (index < next || !stopped) { condition.wait() }
            return results[index]
        }
    }
}

/// What a destination holds under a name.
struct Held {
    var descriptor: Descriptor
    /// Its config's digest, when it is a manifest.
    var config: Digest?

    /// The same image: the same top digest, or (a destination that converted its media types, or
    /// kept one platform) the same config.
    func matches(_ plan: Planned) -> Bool {
        descriptor.digest == plan.root.digest || descriptor.digest == plan.manifest?.digest
            || (config != nil && config == plan.config)
    }
}

/// The layers one image brings, as the copier will select them (one platform, or all).
struct Planned {
    var root: Descriptor
    /// The one platform's manifest, when one is taken.
    var manifest: Descriptor?
    var config: Digest?
    var layers: [Descriptor] = []
    /// Every digest of the image, for a combined source to route.
    var digests: [Digest] = []

    init(_ source: RegistrySource, _ options: CopyOptions) throws {
        guard let image = try source.images().first else {
            throw BaleError(.internal, "\(source.name): no image")
        }
        root = image.descriptor
        let top = root
        let bytes = try source.document(top)
        if try options.allPlatforms || ImageGraph.kind(of: top, bytes: bytes) == .manifest {
            var seen = Set<Digest>()
            var layers: [Descriptor] = []
            var digests: [Digest] = []
            var config: Digest?
            try ImageGraph.walk([top], read: { try source.document($0) }) { descriptor, node in
                guard !Index.isAttestation(descriptor) else { return false }
                digests.append(descriptor.digest)
                if case .manifest(let manifest) = node {
                    if descriptor.digest == top.digest { config = manifest.config.digest }
                    digests.append(manifest.config.digest)
                    for layer in manifest.layers where seen.insert(layer.digest).inserted { layers.append(layer) }
                }
                return true
            }
            (self.layers, self.digests, self.config) = (layers, digests, config)
            if !options.allPlatforms { manifest = top }
            return
        }
        var chain: [Digest] = []
        let (descriptor, manifest) = try ImageGraph.manifest(of: top, platform: options.platform ?? .host, location: source.name) {
            chain.append($0.digest)
            return try source.document($0)
        }
        self.manifest = descriptor
        config = manifest.config.digest
        layers = manifest.layers
        digests = chain + [manifest.config.digest] + manifest.layers.map(\.digest)
    }
}

/// The sources of many images as one, for the one copy into an archive: each digest is read from
/// the source of the image it belongs to.
final class CombinedSource: ImageSource, @unchecked Sendable {
    // @unchecked Sendable: `sources`, `owners` and `selected` are filled before the copy starts and
    // only read while it runs.
    let name: String
    private var sources: [RegistrySource] = []
    private var owners: [Digest: RegistrySource] = [:]
    private var selected: [SourceImage] = []

    init(name: String) { self.name = name }

    func add(_ source: RegistrySource, _ plan: Planned) {
        sources.append(source)
        selected += (try? source.images()) ?? []
        for digest in plan.digests where owners[digest] == nil { owners[digest] = source }
    }

    func images() throws -> [SourceImage] { selected }

    /// The source of a digest: the image's it was planned with, else (a referrer and what it reaches,
    /// found during the copy) the source that read it.
    private func owner(_ descriptor: Descriptor) throws -> RegistrySource {
        guard let source = owners[descriptor.digest] ?? sources.first(where: { $0.holds(descriptor.digest) }) else {
            throw BaleError(.internal, "\(name): \(descriptor.digest) belongs to no image listed")
        }
        return source
    }

    func document(_ descriptor: Descriptor) throws -> Data { try owner(descriptor).document(descriptor) }
    func openBlob(_ descriptor: Descriptor) throws -> any BlobReader { try owner(descriptor).openBlob(descriptor) }
    func referrers(of digest: Digest) throws -> [Referrer] {
        guard let source = owners[digest] ?? sources.first(where: { $0.holds(digest) }) else { return [] }
        return try source.referrers(of: digest)
    }
    func close() { for source in sources { source.close() } }
}

/// The list's login for one registry, the flags' logins for the others.
struct OneLogin: CredentialStore {
    let host: String
    let credential: RegistryCredential
    let others: any CredentialStore
    func credential(for host: String) throws -> RegistryCredential? {
        host == self.host ? credential : try others.credential(for: host)
    }
}

extension SyncList.Selection {
    var repository: String {
        switch self {
        case .tags(let repository, _), .tagRegex(let repository, _), .semver(let repository, _): return repository
        }
    }
}
