import Foundation

/// A one-line progress display on stderr (bytes, rate and, when the total is known, ETA), shown only
/// when stderr is a terminal and `--no-progress` is not given. Redrawn at most ten times a second.
final class ProgressBar: @unchecked Sendable {
    // Sendable: all state is guarded by `lock`.
    private let lock = NSLock()
    private let enabled: Bool
    private let label: String
    private var total: Int64?
    private var done: Int64 = 0
    private let start = Date()
    private var lastDraw = Date.distantPast
    /// Whether a line is on screen now (drawn and not cleared since).
    private var shown = false

    init(label: String, total: Int64? = nil, disabled: Bool) {
        self.label = label
        self.total = total
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
        /// Clears the current bar's line, if it shows one.
        func clear() { lock.withLock { bar }?.finish() }
    }

    /// Sets the expected total once it is known.
    func setTotal(_ total: Int64?) { lock.withLock { self.total = total } }

    /// Adds `bytes` done.
    func advance(_ bytes: Int64) {
        guard enabled else { return }
        lock.withLock {
            done += bytes
            let now = Date()
            guard now.timeIntervalSince(lastDraw) >= 0.1 else { return }
            lastDraw = now
            draw(now)
        }
    }

    /// Clears the line (a later `advance` draws it again).
    func finish() {
        guard enabled else { return }
        lock.withLock {
            guard shown else { return }
            shown = false
            Output.writeError("\r\u{1b}[K")
        }
    }

    private func draw(_ now: Date) {
        let elapsed = max(now.timeIntervalSince(start), 0.001)
        let rate = Double(done) / elapsed
        var line = "\(label) \(Humanize.size(done))"
        if let total, total > 0 {
            line += "/\(Humanize.size(total)) \(min(100, done * 100 / total))%"
            if rate > 0, done < total {
                line += " ETA \(Int(Double(total - done) / rate))s"
            }
        }
        line += " \(Humanize.size(Int64(rate)))/s"
        shown = true
        Output.writeError("\r\u{1b}[K" + line)
    }
}
