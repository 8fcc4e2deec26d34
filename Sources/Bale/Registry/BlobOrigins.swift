import BaleCore
import Foundation

/// Which repositories of which registry are known to hold a blob, so that a push to another
/// repository of the same registry mounts it (`POST …?mount=&from=`) instead of uploading it: what this
/// process pulled or pushed, plus what a command notes (`push` notes the repositories the pushed image's
/// other names live in).
public final class BlobOrigins: @unchecked Sendable {
    // @unchecked Sendable: `repositories` is guarded by `lock`.
    private let lock = NSLock()
    private var repositories: [String: [Digest: [String]]] = [:]
    private var others: [String: [String]] = [:]

    /// The process's record.
    public static let shared = BlobOrigins()

    /// Notes that `repository` on `host` holds `digests`.
    public func note(host: String, repository: String, digests: [Digest]) {
        lock.withLock {
            for digest in digests where !(repositories[host]?[digest]?.contains(repository) ?? false) {
                repositories[host, default: [:]][digest, default: []].append(repository)
            }
        }
    }

    /// Notes repositories of `host` that may hold blobs a push needs (the other names of the store on
    /// that registry): a push asks each (`HEAD`) before it mounts from it.
    public func noteCandidates(host: String, repositories names: [String]) {
        lock.withLock {
            for name in names where !(others[host]?.contains(name) ?? false) { others[host, default: []].append(name) }
        }
    }

    /// Repositories on `host` known to hold `digest`, in the order they were noted.
    public func repositories(host: String, holding digest: Digest) -> [String] {
        lock.withLock { repositories[host]?[digest] ?? [] }
    }

    /// Repositories on `host` that may hold anything (see `noteCandidates`).
    public func candidates(host: String) -> [String] {
        lock.withLock { others[host] ?? [] }
    }
}
