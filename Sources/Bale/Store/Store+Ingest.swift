import BaleCore
import BaleIO
import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension Store {
    /// Streams a blob into the store: a temp file under `ingest/`, hashed and counted while written,
    /// compared with `expected` (digest and size) when given, fsynced, then renamed into `blobs/`. On any
    /// error the temp file is removed and nothing else changes. Callers hold the exclusive lock.
    public func ingest(_ reader: any BlobReader, expected: Descriptor?,
                       policy: BlobWritePolicy? = nil) throws -> (digest: Digest, size: Int64) {
        try BlobFile.write(reader, expected: expected, temporaryDirectory: ingestDir,
                           policy: policy ?? BlobWritePolicy(reserve: reserve)) { blobPath($0) }
    }

    /// Stores the blob `produce` writes (see `BlobSink.putProduced`). Callers hold the exclusive lock.
    public func ingestProduced(_ produce: (any ByteSink) throws -> (digest: Digest, size: Int64),
                               policy: BlobWritePolicy? = nil) throws -> (digest: Digest, size: Int64) {
        try BlobFile.produce(temporaryDirectory: ingestDir, policy: policy ?? BlobWritePolicy(reserve: reserve),
                             finalPath: { blobPath($0) }, produce)
    }

    /// Removes what commands that died left behind (killed, or crashed before issue #10 bounded every
    /// walk): the files in ingest/ and the blobs index.json does not reach. Every writer holds the
    /// exclusive lock from its first blob to its commit, so with it held, such files are no command's.
    /// Called as a copy into the store commits, after the walk that commit makes anyway.
    func removeLeftovers() throws {
        if let names = try? FileManager.default.contentsOfDirectory(atPath: ingestDir) {
            for name in names { try? FileManager.default.removeItem(atPath: ingestDir + "/" + name) }
        }
        _ = try collectGarbage(loadIndex())
    }

    /// Removes the blobs in `candidates` that index.json does not reach (what an aborted or finished
    /// copy staged but no image uses). Callers hold the exclusive lock.
    func removeUnreachable(_ candidates: Set<Digest>) throws {
        guard !candidates.isEmpty else { return }
        let keep = try reachableBlobs(loadIndex())
        for digest in candidates where !keep.contains(digest) {
            unlink(blobPath(digest))
        }
    }
}
