import BaleCore
import Foundation

/// Progress on stderr, shown only when stderr is a terminal and `--no-progress` is not given, redrawn
/// at most ten times a second: one line of bytes, rate and (when the total is known) ETA; and, for the
/// commands that follow blobs (`pull`, `push`), one line per blob in flight above it, as docker draws:
///
///     a1b2c3d4e5f6: Downloading [=========>          ]  48.2MB/96.1MB
///     0f9e8d7c6b5a: Downloading [==>                 ]  10.0MB/81.3MB
///     Pulling 58.2MB/177MB 32% ETA 3s 41.0MB/s
final class ProgressBar: @unchecked Sendable {
    // Sendable: all state is guarded by `lock`.
    private let lock = NSLock()
    private let enabled: Bool
    private let label: String
    private let blobVerb: String
    private var total: Int64?
    private var done: Int64 = 0
    private let start = Date()
    private var lastDraw = Date.distantPast
    /// Blobs in flight, in the order they started.
    private var blobs: [(digest: Digest, done: Int64, size: Int64)] = []
    /// Lines on screen now (drawn and not cleared since); the cursor is on the last.
    private var shownLines = 0

    /// Blob lines drawn at most; the rest are counted in one more line.
    static let maxBlobLines = 6

    /// `blobVerb`: the word of the per-blob lines ("Downloading", "Pushing").
    init(label: String, total: Int64? = nil, blobVerb: String = "Copying", disabled: Bool) {
        self.label = label
        self.total = total
        self.blobVerb = blobVerb
        enabled = !disabled && isatty(2) == 1
        if enabled { Self.current.set(self) }
    }

    /// The bar a command is drawing, cleared by `write` and `printError` before they write: a bar left
    /// on screen would run into the next text when stdout and stderr share a terminal.
    static let current = CurrentBar()

    final class CurrentBar: @unchecked Sendable {
        // Sendable: `bar` is guarded by `lock`.
        private let lock = NSLock()
        private var bar: ProgressBar?
        func set(_ bar: ProgressBar) { lock.withLock { self.bar = bar } }
        /// Clears the current bar's lines, if it shows any.
        func clear() { lock.withLock { bar }?.finish() }
    }

    /// Sets the expected total once it is known.
    func setTotal(_ total: Int64?) { lock.withLock { self.total = total } }

    /// Adds `bytes` done.
    func advance(_ bytes: Int64) {
        guard enabled else { return }
        lock.withLock {
            done += bytes
            drawIfDue()
        }
    }

    /// A blob's bytes start to move (again, after a retry: its count starts over).
    func blobStarted(_ blob: Descriptor) {
        guard enabled else { return }
        lock.withLock {
            if let i = blobs.firstIndex(where: { $0.digest == blob.digest }) {
                done -= blobs[i].done
                blobs[i].done = 0
            } else {
                blobs.append((blob.digest, 0, blob.size))
            }
        }
    }

    /// Adds `bytes` done of one blob (and of the whole).
    func blobAdvance(_ digest: Digest, _ bytes: Int64) {
        guard enabled else { return }
        lock.withLock {
            done += bytes
            if let i = blobs.firstIndex(where: { $0.digest == digest }) { blobs[i].done += bytes }
            drawIfDue()
        }
    }

    /// A blob is done (its line goes at the next redraw).
    func blobFinished(_ digest: Digest) {
        guard enabled else { return }
        lock.withLock { blobs.removeAll { $0.digest == digest } }
    }

    /// Clears the lines (a later `advance` draws them again).
    func finish() {
        guard enabled else { return }
        lock.withLock {
            guard shownLines > 0 else { return }
            Output.writeError(Self.clearing(shownLines))
            shownLines = 0
        }
    }

    private func drawIfDue() {
        let now = Date()
        guard now.timeIntervalSince(lastDraw) >= 0.1 else { return }
        lastDraw = now
        let rate = Double(done) / max(now.timeIntervalSince(start), 0.001)
        let lines = Self.render(blobs: blobs.map { ($0.digest.shortHex, $0.done, $0.size) }, verb: blobVerb,
                                label: label, done: done, total: total, rate: rate)
        Output.writeError(Self.clearing(shownLines) + lines.joined(separator: "\n"))
        shownLines = lines.count
    }

    /// From the last of `lines` drawn lines back to the start of the first, cleared to the end of
    /// the screen.
    static func clearing(_ lines: Int) -> String {
        (lines > 1 ? "\u{1b}[\(lines - 1)A" : "") + "\r\u{1b}[J"
    }

    /// The lines to draw: one per blob (at most `maxBlobLines`, then "… and N more"), then the total.
    /// Each fits in 80 columns, so a line never wraps (the cursor arithmetic counts lines).
    static func render(blobs: [(id: String, done: Int64, size: Int64)], verb: String, label: String,
                       done: Int64, total: Int64?, rate: Double) -> [String] {
        var lines = blobs.prefix(maxBlobLines).map { blob in
            let width = 20
            let filled = blob.size > 0 ? Int(min(blob.done, blob.size) * Int64(width) / blob.size) : width
            let bar = String(repeating: "=", count: filled) + (filled < width ? ">" + String(repeating: " ", count: width - filled - 1) : "")
            return "\(blob.id): \(verb) [\(bar)] \(Humanize.size(blob.done))/\(Humanize.size(blob.size))"
        }
        if blobs.count > maxBlobLines { lines.append("… and \(blobs.count - maxBlobLines) more") }
        var line = "\(label) \(Humanize.size(done))"
        if let total, total > 0 {
            line += "/\(Humanize.size(total)) \(min(100, done * 100 / total))%"
            if rate > 0, done < total {
                line += " ETA \(Int(Double(total - done) / rate))s"
            }
        }
        line += " \(Humanize.size(Int64(rate)))/s"
        lines.append(line)
        return lines.map { $0.count > 79 ? String($0.prefix(79)) : $0 }
    }
}
