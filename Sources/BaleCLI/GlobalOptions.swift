import ArgumentParser
import Bale
import BaleCore
import Foundation

/// Options every command takes, before or after its name.
public struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The store's root directory (default: $BALE_ROOT, $XDG_DATA_HOME/bale, ~/.local/share/bale; /var/lib/bale as root).", valueName: "dir"))
    public var root: String?

    @Option(name: .long, help: ArgumentHelp("Parallel jobs (default: the number of active cores).", valueName: "n"))
    public var jobs: Int?

    @Flag(name: .long, help: "Do not show a progress bar.")
    public var noProgress = false

    public init() {}

    public mutating func validate() throws {
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
    }

    /// Opens the store.
    public func store() throws -> Store {
        try Store(root: root ?? Store.defaultRoot())
    }

    /// The number of parallel jobs to use.
    public var effectiveJobs: Int { jobs ?? ProcessInfo.processInfo.activeProcessorCount }

    /// argument-parser reads a parent's options only after the subcommand name, so global options given
    /// before it (`bale --root D images`) are moved behind it (`bale images --root D`).
    static func movingGlobals(_ arguments: [String]) -> [String] {
        var globals: [String] = []
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            if a == "--root" || a == "--jobs" {
                globals.append(a)
                if i + 1 < arguments.count { globals.append(arguments[i + 1]) }
                i += 2
            } else if a.hasPrefix("--root=") || a.hasPrefix("--jobs=") || a == "--no-progress" {
                globals.append(a)
                i += 1
            } else {
                break
            }
        }
        guard i < arguments.count, !globals.isEmpty else { return arguments }
        return [arguments[i]] + globals + arguments[(i + 1)...]
    }
}

/// Writes to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Writes to standard output without a trailing newline.
func write(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}
