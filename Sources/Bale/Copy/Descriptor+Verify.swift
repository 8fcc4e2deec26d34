import BaleCore
import BaleIO
import Foundation

extension Descriptor {
    /// Checks that `data` is what this descriptor describes (size, then digest); `location` starts the
    /// error message ("store", "docker-archive:x.tar").
    public func verify(_ data: Data, in location: String) throws {
        guard Int64(data.count) == size else {
            throw BaleError(.integrity, "\(location): \(digest): \(data.count) bytes, its descriptor gives \(size)")
        }
        let actual = SHA256Hasher.digest(data)
        guard actual == digest else {
            throw BaleError(.integrity, "\(location): \(digest): content does not match the digest (it hashes to \(actual))")
        }
    }

    /// Refuses a document descriptor over the JSON size cap before anything is read.
    public func checkDocumentSize(in location: String) throws {
        guard size <= Int64(JSON.maxDocumentSize) else {
            throw BaleError(.invalidInput, "\(location): \(digest): \(size) bytes is over the \(JSON.maxDocumentSize)-byte limit for JSON documents")
        }
    }
}
