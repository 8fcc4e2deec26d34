import Foundation

/// The one error type of bale: a code callers can branch on, a message that names the location and the
/// digest, and an optional cause. Rendered as one line per link of the cause chain.
public struct BaleError: Error, Sendable, CustomStringConvertible, LocalizedError {
    /// What kind of failure this is; decides the exit status of the command.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Kind: String, Sendable { case usage, notFound, invalidReference, invalidInput,
            integrity, conflict, io, outputClosed, unsupported, interrupted, `internal` }
        fileprivate let kind: Kind
        /// Bad command-line usage.
        public static let usage = Code(kind: .usage)
        /// An image, blob or file that is not there.
        public static let notFound = Code(kind: .notFound)
        /// A reference (name, tag, digest) that does not parse.
        public static let invalidReference = Code(kind: .invalidReference)
        /// Malformed input: bad JSON, bad archive, unsafe paths.
        public static let invalidInput = Code(kind: .invalidInput)
        /// Bytes that do not match their digest or size.
        public static let integrity = Code(kind: .integrity)
        /// The operation conflicts with the state (e.g. an ID shared by several tags without `-f`).
        public static let conflict = Code(kind: .conflict)
        /// A system call failed.
        public static let io = Code(kind: .io)
        /// The reader of the output went away (`EPIPE`, e.g. `bale images | head -1`): the command stops
        /// with a failure status but, as other tools do, without a message.
        public static let outputClosed = Code(kind: .outputClosed)
        /// Something valid that bale does not handle.
        public static let unsupported = Code(kind: .unsupported)
        /// Cancelled by a signal or by another error.
        public static let interrupted = Code(kind: .interrupted)
        /// A bug in bale.
        public static let `internal` = Code(kind: .internal)
        public var description: String { kind.rawValue }
    }

    public var code: Code
    public var message: String
    public var cause: (any Error)?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// The message followed by each cause on its own line, indented; a cause whose text the lines
    /// before already hold (a wrapper that quoted it) is left out, so most errors print one line.
    public var description: String { lines.joined(separator: "\n") }

    /// The lines of `description`: the message, then each cause not already quoted. A printer escapes
    /// each line on its own (`DisplayText`), so a newline inside a message never forges another line.
    public var lines: [String] {
        var lines = [message]
        var next: (any Error)? = cause
        while let error = next {
            let text: String
            if let bale = error as? BaleError {
                text = bale.message
                next = bale.cause
            } else {
                text = String(describing: error)
                next = nil
            }
            if !lines.contains(where: { $0.contains(text) }) { lines.append("  caused by: " + text) }
        }
        return lines
    }

    public var errorDescription: String? { description }

    /// Whether this error or one of its causes is `outputClosed`: a wrapper (the copier naming the
    /// destination) does not turn a reader that left into a failure worth a message.
    public var isOutputClosed: Bool {
        var next: (any Error)? = self
        while let error = next as? BaleError {
            if error.code == .outputClosed { return true }
            next = error.cause
        }
        return false
    }
}

extension BaleError {
    /// An `io` error from `errno`, naming the path.
    /// `EPIPE` gets the code `outputClosed`: the reader left, which is no failure worth a message.
    public static func posix(_ what: String, path: String, errno code: Int32 = errno) -> BaleError {
        BaleError(code == EPIPE ? .outputClosed : .io, "\(path): \(what): \(String(cString: strerror(code)))")
    }
}
