import Foundation
import TestSupport

// Runs the built `bale` executable for end-to-end CLI tests through the shared runner in
// Tests/TestSupport. `CLIRunner` keeps the names the CLI tests call; each forwards to `ProcessRunner`.

/// What a finished bale run left behind.
typealias BaleRun = TestSupport.RunResult
typealias RunError = TestSupport.HarnessError

/// Locates and runs bale; namespaced so test files stay free to name their own helpers.
enum CLIRunner {
    /// The bale executable: `$BALE_BIN`, else `bale` beside the test bundle, else `.build/debug/bale`
    /// under the package root.
    static func executable() throws -> URL { try ProcessRunner.baleBinary() }

    /// Runs bale with `arguments` and optional stdin, with `environment` added to the inherited one
    /// (a nil value removes a variable). Throws when bale is still running after `timeout` seconds.
    static func bale(
        _ arguments: [String], stdin: Data? = nil, environment: [String: String?] = [:], timeout: TimeInterval = 120
    ) throws -> BaleRun {
        try ProcessRunner.bale(arguments, stdin: stdin, environment: environment, timeout: timeout)
    }

    /// Runs `program` as `bale` runs above.
    static func run(
        _ program: URL, _ arguments: [String], stdin: Data? = nil, environment: [String: String?] = [:],
        timeout: TimeInterval = 120
    ) throws -> BaleRun {
        try ProcessRunner.run(program, arguments, stdin: stdin, environment: environment, timeout: timeout)
    }

    /// Calls `body` with a fresh empty directory (e.g. a `--root`) and removes it afterwards.
    static func withTemporaryDirectory<T>(_ body: (URL) throws -> T) throws -> T {
        try ProcessRunner.withTemporaryDirectory(prefix: "bale-cli", body)
    }
}
