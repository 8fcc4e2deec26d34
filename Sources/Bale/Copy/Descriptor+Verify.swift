import BaleCore
import BaleIO
import Foundation

extension Descriptor {
    /// Checks that `data` is what this descriptor describes (size, then digest); `location` starts the
    /// error message ("store", "docker-archive:x.tar").
    public func verify(_ data: Data, in location: String) throws {
        // The size first: a document of the wrong size is not hashed at all.
        if Int64(data.count) != size {
            try HashingCopy.check((digest, Int64(data.count)), against: (digest, size), name: "\(location): \(digest)")
        }
        try HashingCopy.check((SHA256Hasher.digest(data), size), against: (digest, size), name: "\(location): \(digest)")
    }

    /// Refuses a document descriptor over the JSON size cap before anything is read.
    public func checkDocumentSize(in location: String) throws {
        guard size <= Int64(JSON.maxDocumentSize) else {
            throw BaleError(.invalidInput, "\(location): \(digest): \(size) bytes is over the \(JSON.maxDocumentSize)-byte limit for JSON documents")
        }
    }
}
