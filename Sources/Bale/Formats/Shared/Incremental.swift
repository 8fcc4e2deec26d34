import BaleCore
import BaleIO
import Foundation

/// Incremental archives: an archive written `--since` earlier ones leaves out the blobs they carry and
/// says so, so that a loader can check, before it writes anything, that it already has them.
///
/// ```
/// bale-expects.json   first member: {"blobs":{"sha256:…":"base.tar",…}}  digest → archive that carried it
/// index.json          annotation "io.github.bale.expects": the same JSON, for readers that look there
/// ```
public enum Incremental {
    /// The member name of the expectation list; written first so a streaming loader sees it before
    /// any blob.
    public static let memberName = "bale-expects.json"
    /// The index.json annotation with the same list.
    public static let annotation = "io.github.bale.expects"

    /// The document: which blobs the archive expects the loader to hold, and where each came from.
    public struct Expectation: Codable, Sendable, Equatable {
        public var blobs: [String: String]
        public init(blobs: [Digest: String]) {
            self.blobs = Dictionary(uniqueKeysWithValues: blobs.map { ($0.key.string, $0.value) })
        }
        /// The digests, parsed strictly.
        public func digests() throws -> [Digest: String] {
            var out: [Digest: String] = [:]
            for (key, value) in blobs { out[try Digest(parsing: key)] = value }
            return out
        }
    }

    /// The blobs an existing archive carries, read from its member list only (blob data is skipped, by
    /// seeking when the file is not compressed), plus those it itself expected from its own bases: a
    /// loader of the new archive will have loaded all of them. A split archive is read through its parts.
    public static func carriedBlobs(inArchive path: String) throws -> [Digest: String] {
        let reader = try SplitArchive.find(path).map { try TarReader(source: $0.reader(), name: path) }
            ?? TarReader(path: path)
        let label = (path as NSString).lastPathComponent
        var carried: [Digest: String] = [:]
        while let entry = try reader.next() {
            let name = ((try? SafePath.clean(entry.path)) ?? entry.path).string ?? ""
            if entry.kind == .file, name.hasPrefix("blobs/sha256/"),
               let digest = try? Digest(parsing: "sha256:" + name.dropFirst("blobs/sha256/".count)) {
                carried[digest] = label
            } else if entry.kind == .file, name == memberName {
                let data = try reader.readAll(limit: JSON.maxDocumentSize)
                let expectation = try JSON.decode(Expectation.self, from: data, what: "\(path): \(memberName)")
                for (digest, origin) in try expectation.digests() where carried[digest] == nil {
                    carried[digest] = origin
                }
                continue
            }
            try reader.skipData()
        }
        return carried
    }
}
