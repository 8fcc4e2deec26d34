import Bale
import BaleCore
import BaleIO
import Foundation

/// The entry points that `make fuzz` drives with libFuzzer (Fuzz/Package.swift) and that
/// FuzzRegressionTests replays over testdata/fuzz/ in every `make test`: one function per kind of
/// untrusted input bale parses.
///
/// A target returns normally whatever the bytes are, as long as bale behaves: `check` returns a
/// description of the broken rule otherwise (the fuzzer then aborts with it, so the input is kept).
/// The rules: no trap, no sanitizer report, no hang; bad input is refused with a `BaleError` (nothing
/// else escapes); a decoded document survives encoding; an accepted reference or digest prints as text
/// that parses back to it; a refused archive leaves the store as it was and no temporary file, and a
/// loaded one leaves a store that verifies.
public enum FuzzTarget: String, CaseIterable, Sendable {
    case reference, digest, manifest, index, config
    /// docker's manifest.json, as the only member of an archive that `load` reads (its decoder is
    /// internal to the archive reader). docker's `repositories` file is not a target: bale skips it
    /// unread, as docker does when manifest.json is there.
    case dockerManifest = "docker-manifest"
    /// `--change` lines (one per line of the input).
    case change
    /// The tar reader (libarchive, every compression it detects) over arbitrary bytes.
    case tar
    /// A whole archive through `load` into a temporary store.
    case load
    /// A registry's `WWW-Authenticate` header (one per line of the input).
    case authChallenge = "auth-challenge"
    /// A registry's `Link` header, and the URL it names resolved against the request's.
    case link
    /// A `bale sync` list: skopeo sync YAML or the text form.
    case syncList = "sync-list"

    /// Runs the target over `data`: nil when bale behaved, else what went wrong.
    public func check(_ data: Data) -> String? {
        do {
            try run(data)
            return nil
        } catch let error as Broken {
            return error.rule
        } catch is BaleError {
            // Refused. Messages may quote the input's control characters as they are: the CLI escapes
            // them when it prints (one print layer), so they are not a rule here.
            return nil
        } catch {
            return "error that is not a BaleError: \(type(of: error)): \(error)"
        }
    }

    private func run(_ data: Data) throws {
        switch self {
        case .reference:
            let reference = try Reference(parsing: String(decoding: data, as: UTF8.self))
            // What bale prints must parse back to the same reference.
            let again = try Reference(parsing: reference.string)
            guard again == reference else { throw Broken("\(reference.string) parses back as \(again.string)") }
            _ = reference.familiar
        case .digest:
            let digest = try Digest(parsing: String(decoding: data, as: UTF8.self))
            guard try Digest(parsing: digest.string) == digest else { throw Broken("\(digest) does not parse back") }
        case .manifest:
            let manifest = try JSON.decode(Manifest.self, from: data, what: "manifest")
            try roundTrip(manifest)
        case .index:
            let index = try JSON.decode(Index.self, from: data, what: "index")
            try roundTrip(index)
        case .config:
            let config = try JSON.decode(ImageConfig.self, from: data, what: "config")
            try roundTrip(config)
        case .dockerManifest:
            var archive = Data()
            let writer = try TarWriter(sink: ClosureByteSink { archive.append(contentsOf: $0) }, name: "manifest.tar")
            try writer.writeFile(path: "manifest.json", data: data)
            try writer.finish()
            try Load.shared.run(archive)
        case .change:
            let lines = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
            _ = try ConfigChanges.apply(lines, to: .null)
        case .tar:
            let reader = try TarReader(source: DataByteSource(data), name: "fuzz.tar")
            var count = 0
            while try reader.next() != nil, count < 10_000 {
                // Alternate between reading and skipping, the two ways bale leaves an entry.
                if count % 2 == 0 { _ = try reader.readAll(limit: 1 << 20) } else { try reader.skipData() }
                count += 1
            }
        case .load:
            try Load.shared.run(data)
        case .authChallenge:
            for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
                for challenge in AuthChallenge.parse(String(line)) {
                    guard challenge.scheme == challenge.scheme.lowercased() else {
                        throw Broken("challenge scheme \(challenge.scheme) is not lowercased")
                    }
                }
            }
        case .link:
            let header = String(decoding: data, as: UTF8.self)
            if let next = RegistryClient.nextLink(header), let base = URL(string: "https://registry.test/v2/_catalog") {
                _ = try RegistryClient.resolve(next, against: base)
            }
        case .syncList:
            _ = try SyncList(text: String(decoding: data, as: UTF8.self), path: "fuzz.yml")
        }
    }

    /// A document bale decoded must encode and decode again to the same value.
    private func roundTrip<T: Codable & Equatable>(_ value: T) throws {
        let bytes = try JSON.canonical(value)
        let again = try JSON.decode(T.self, from: bytes, what: "re-encoded")
        guard again == value else { throw Broken("\(T.self) does not survive encoding: \(String(decoding: bytes, as: UTF8.self))") }
    }
}

/// A rule bale broke (as opposed to input it rightly refused).
struct Broken: Error {
    let rule: String
    init(_ rule: String) { self.rule = rule }
}

/// The temporary directory of `load`: the archive file, a store and the copier's temporary directory,
/// made for each input and removed after it.
final class Load: @unchecked Sendable {
    static let shared = Load()

    let root: String
    private let lock = NSLock()

    private init() {
        root = NSTemporaryDirectory() + "/bale-fuzz-load-\(getpid())-\(UUID().uuidString)"
    }

    func run(_ data: Data) throws {
        lock.lock()
        defer { lock.unlock() }
        let fm = FileManager.default
        let archive = root + "/input.tar"
        let storeRoot = root + "/store"
        let temp = root + "/tmp"
        // Nothing outlives the input, so a test run leaves no directory behind either.
        defer { try? fm.removeItem(atPath: root) }
        try fm.createDirectory(atPath: temp, withIntermediateDirectories: true)
        guard fm.createFile(atPath: archive, contents: data) else { throw Broken("cannot write \(archive)") }
        let store = try Store(root: storeRoot)
        let before = try Self.files(storeRoot)
        do {
            let source = try ArchiveSource(path: archive, reference: nil)
            let destination: StoreDestination
            do { destination = try StoreDestination(store: store) } catch { source.close(); throw error }
            var options = CopyOptions(jobs: 1)
            options.temporaryDirectory = temp
            _ = try Copier(options: options).copy(from: source, to: destination)
        } catch {
            // Refused: the store is exactly as it was, and nothing is left in the temporary directory.
            let after = try Self.files(storeRoot)
            guard after == before else {
                throw Broken("refused load changed the store: \(after.subtracting(before).sorted()) appeared, \(before.subtracting(after).sorted()) went (\(error))")
            }
            let leftovers = try fm.contentsOfDirectory(atPath: temp)
            guard leftovers.isEmpty else { throw Broken("refused load left \(leftovers) in the temporary directory (\(error))") }
            throw error
        }
        // Loaded: the store holds what its index says, each blob matching its digest.
        let report = try store.verify(deep: false)
        guard report.damage.isEmpty else {
            throw Broken("store fails verify after a load: \(report.damage.map(\.description).joined(separator: "; "))")
        }
        let leftovers = try fm.contentsOfDirectory(atPath: temp)
        guard leftovers.isEmpty else { throw Broken("load left \(leftovers) in the temporary directory") }
    }

    /// Every path under `root` (files and directories) with its size, relative to `root`.
    static func files(_ root: String) throws -> Set<String> {
        var result = Set<String>()
        guard let walker = FileManager.default.enumerator(atPath: root) else { return result }
        while let path = walker.nextObject() as? String {
            let size = (walker.fileAttributes?[.size] as? NSNumber)?.int64Value ?? 0
            let isDirectory = walker.fileAttributes?[.type] as? FileAttributeType == .typeDirectory
            result.insert(isDirectory ? path + "/" : "\(path) \(size)")
        }
        return result
    }
}
