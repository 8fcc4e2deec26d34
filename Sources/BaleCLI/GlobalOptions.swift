import ArgumentParser
import Bale
import BaleCore
import Foundation

/// Options every command takes, before or after its name.
public struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The store's root directory (default: $BALE_ROOT, $XDG_DATA_HOME/bale, ~/.local/share/bale; /var/lib/bale as root).", valueName: "dir"))
    public var root: String?

    // Unconditional, so that `--jobs -1` reaches `validate` as a number instead of reading as a
    // missing value followed by an option `-1`.
    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Parallel jobs, a positive number (default: the number of active cores).", valueName: "n"))
    public var jobs: Int?

    @Flag(name: .long, help: "Do not show a progress bar.")
    public var noProgress = false

    @Option(name: .long, help: ArgumentHelp("Free space to keep on the store's file system: writing stops with an error before it falls below (bytes, or with a K, M, G or T suffix; default: 1G or 5 % of the file system, whichever is less; 0: none).", valueName: "size"))
    public var minFree: String?

    public init() {}

    public mutating func validate() throws {
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be a positive number, not \(jobs)") }
        if root == "" { throw ValidationError("--root must not be empty (an empty root would be /)") }
        if let minFree, Self.byteCount(minFree) == nil {
            throw ValidationError("--min-free: \"\(minFree)\" is not a size (bytes, or with a K, M, G or T suffix)")
        }
    }

    /// Opens the store for a command that writes it (creating an empty one when there is none).
    public func store() throws -> Store {
        try Store(root: root ?? Store.defaultRoot(), reserve: reserve)
    }

    /// The disk reserve `--min-free` asks for.
    public var reserve: DiskReserve { DiskReserve(bytes: minFree.flatMap(Self.byteCount)) }

    /// `123`, `64K`, `512M`, `1G`, `2T` (powers of 1024; an optional trailing B or iB) as bytes.
    static func byteCount(_ text: String) -> Int64? {
        var digits = Substring(text.uppercased())
        for suffix in ["IB", "B"] where digits.hasSuffix(suffix) && digits.count > suffix.count {
            digits = digits.dropLast(suffix.count)
            break
        }
        var shift: Int64 = 0
        if let unit = digits.last, let index = "KMGT".firstIndex(of: unit) {
            shift = Int64("KMGT".distance(from: "KMGT".startIndex, to: index) + 1) * 10
            digits = digits.dropLast()
        }
        guard let value = Int64(digits), value >= 0, value <= Int64.max >> shift else { return nil }
        return value << shift
    }

    /// Opens the store for a command that only reads it: nothing is created, and a root with no store
    /// reads as an empty one.
    public func readStore() throws -> Store {
        try Store(readingAt: root ?? Store.defaultRoot())
    }

    /// The number of parallel jobs to use.
    public var effectiveJobs: Int { jobs ?? ProcessInfo.processInfo.activeProcessorCount }

    /// Docker's boolean flags also take a value (`-H=false`, `--human=true`, as Go's pflag allows);
    /// argument-parser knows them as `--human` / `--no-human`. Per command, each spelling of such a flag
    /// and its long name.
    static let invertibleFlags = ["history": ["H": "human", "human": "human"]]

    /// Rewrites `-H=false` / `--human=false` to `--no-human` and `=true` to `--human`, for the command
    /// that has the flag (`arguments` as given, the command name first after any global options).
    static func dockerBooleans(_ arguments: [String]) -> [String] {
        let moved = movingGlobals(arguments)
        guard let command = moved.first, let flags = invertibleFlags[command] else { return arguments }
        return arguments.map { argument in
            guard argument.hasPrefix("-"), let eq = argument.firstIndex(of: "=") else { return argument }
            let name = String(argument[..<eq].drop { $0 == "-" })
            let value = argument[argument.index(after: eq)...].lowercased()
            guard let long = flags[name], let on = ["true": true, "1": true, "false": false, "0": false][value]
            else { return argument }
            return on ? "--" + long : "--no-" + long
        }
    }

    /// argument-parser reads a parent's options only after the subcommand name, so global options given
    /// before it (`bale --root D images`) are moved behind it (`bale images --root D`).
    static func movingGlobals(_ arguments: [String]) -> [String] {
        var globals: [String] = []
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            if a == "--root" || a == "--jobs" || a == "--min-free" {
                globals.append(a)
                if i + 1 < arguments.count { globals.append(arguments[i + 1]) }
                i += 2
            } else if a.hasPrefix("--root=") || a.hasPrefix("--jobs=") || a.hasPrefix("--min-free=") || a == "--no-progress" {
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
