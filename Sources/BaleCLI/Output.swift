import BaleCore
import Foundation

// The one place bale prints: `write` (stdout) and `printError` (stderr).
//
// Everything printed is `TerminalText`: the CLI's own words are string literals and go out as they are;
// every value interpolated into them (a name, a message, a table cell) is escaped with `DisplayText`,
// because it may come from an archive. An error renders line by line, each line escaped.
//
// Writes go straight to the descriptors with write(2), never through FileHandle (whose `write(_: Data)`
// traps on any error). SIGPIPE is ignored (`BaleCommand.main`), so a reader that left shows as EPIPE:
// stdout's errors are thrown (EPIPE as `outputClosed`, which ends the command quietly with status 1);
// stderr's cannot be reported anywhere, so they are remembered and turn a success into status 1.

/// Text bound for the terminal: literal parts are written as they are, interpolated values escaped.
struct TerminalText: ExpressibleByStringInterpolation {
    fileprivate(set) var text: String

    init(stringLiteral value: String) { text = value }
    init(stringInterpolation: StringInterpolation) { text = stringInterpolation.text }
    /// Text the CLI laid out itself from escaped parts (a rendered table, a template's output).
    init(escaped text: String) { self.text = text }

    /// Each item escaped, on a line of its own.
    static func lines(_ items: some Sequence<some CustomStringConvertible>) -> TerminalText {
        TerminalText(escaped: items.map { DisplayText.escaped($0.description) + "\n" }.joined())
    }

    static func + (a: TerminalText, b: TerminalText) -> TerminalText { TerminalText(escaped: a.text + b.text) }
    static func += (a: inout TerminalText, b: TerminalText) { a.text += b.text }

    struct StringInterpolation: StringInterpolationProtocol {
        fileprivate var text = ""
        init(literalCapacity: Int, interpolationCount: Int) { text.reserveCapacity(literalCapacity) }
        mutating func appendLiteral(_ literal: String) { text += literal }
        /// A value from anywhere: escaped.
        mutating func appendInterpolation(_ value: some CustomStringConvertible) {
            text += DisplayText.escaped(value.description)
        }
        /// An error: its lines, each escaped, joined by real newlines.
        mutating func appendInterpolation(_ error: BaleError) {
            text += error.lines.map { DisplayText.escaped($0) }.joined(separator: "\n")
        }
        /// Text already made safe.
        mutating func appendInterpolation(_ safe: TerminalText) { text += safe.text }
    }
}

/// Writes to standard output without a trailing newline (clearing a progress bar first). Throws when
/// stdout cannot be written: `outputClosed` for a reader that left, `io` otherwise.
func write(_ text: TerminalText) throws {
    ProgressBar.current.clear()
    try Output.write(text.text, to: 1, name: "<stdout>")
}

/// Writes one line to standard error (clearing a progress bar first). A failure cannot be reported;
/// it is remembered and makes the exit status 1.
func printError(_ text: TerminalText) {
    ProgressBar.current.clear()
    Output.writeError(text.text + "\n")
}

enum Output {
    /// Set when a write to stderr failed.
    static let stderrFailed = FailureFlag()

    final class FailureFlag: @unchecked Sendable {
        // Sendable: `value` is guarded by `lock`.
        private let lock = NSLock()
        private var value = false
        func set() { lock.withLock { value = true } }
        var isSet: Bool { lock.withLock { value } }
    }

    /// Writes all of `text`, retrying short writes and EINTR.
    static func write(_ text: String, to fd: Int32, name: String) throws {
        var text = text
        try text.withUTF8 { bytes in
            var done = 0
            while done < bytes.count {
                let n = Foundation.write(fd, bytes.baseAddress! + done, bytes.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw BaleError.posix("write", path: name)
                }
                done += n
            }
        }
    }

    /// Writes to stderr, remembering a failure (used by the progress bar too).
    static func writeError(_ text: String) {
        do { try write(text, to: 2, name: "<stderr>") } catch { stderrFailed.set() }
    }
}
