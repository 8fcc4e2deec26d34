import Foundation
import Testing

/// `bale import`, `export` and `commit` run as the built binary (`BALE_BIN`, else `.build/debug/bale`).
@Suite struct RootfsCLITests {
    static let bale = ProcessInfo.processInfo.environment["BALE_BIN"]
        ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path + "/.build/debug/bale"

    /// Runs a shell command with its output in files (a pipe would wait for EOF, which a daemon the
    /// command starts can hold off forever); returns status, stdout and stderr.
    @discardableResult
    static func sh(_ command: String, env: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bale-sh-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "{ \(command)\n} >'\(dir)/out' 2>'\(dir)/err' </dev/null"]
        p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        let out = FileManager.default.contents(atPath: dir + "/out") ?? Data()
        let err = FileManager.default.contents(atPath: dir + "/err") ?? Data()
        return (p.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }

    @Test func importPrintsTheImageIDAndExportCommitRoundTrip() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("bale-cli-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let env = ["BALE_ROOT": root + "/store", "SOURCE_DATE_EPOCH": "1700000000"]
        _ = try Self.sh("mkdir -p \(root)/src/d && echo hi > \(root)/src/d/f && echo x > \(root)/src/x", env: env)
        let first = try Self.sh("'\(Self.bale)' import -c 'ENV A=1' -m hello \(root)/src r:1", env: env)
        #expect(first.status == 0)
        #expect(first.out.range(of: #"^sha256:[0-9a-f]{64}\n$"#, options: .regularExpression) != nil)
        // From stdin, gzipped: the same tree gives another layer (tar's bytes differ), but a valid image.
        let stdin = try Self.sh("tar -C \(root)/src -cz . | '\(Self.bale)' import - r:2", env: env)
        #expect(stdin.status == 0)
        let again = try Self.sh("'\(Self.bale)' import -c 'ENV A=1' -m hello \(root)/src r:3", env: env)
        #expect(again.out == first.out)

        let roundTrip = try Self.sh("""
            set -e; B='\(Self.bale)'
            $B export --dir \(root)/ed r:1; rm \(root)/ed/x; echo y > \(root)/ed/d/g
            $B commit -a me -m edit --base r:1 \(root)/ed r:4
            $B export r:4 | tar -t | sort | tr '\\n' ' '
            """, env: env)
        #expect(roundTrip.status == 0, "\(roundTrip.err)")
        #expect(roundTrip.out.hasSuffix("d/ d/f d/g "))
        #expect(try Self.sh("'\(Self.bale)' export -o \(root)/out.tar r:4 && tar -tf \(root)/out.tar | wc -l", env: env).out
                    .trimmingCharacters(in: .whitespacesAndNewlines) == "3")
    }

    @Test func usageErrorsExitWithStatusTwoAndChangeErrorsAreDockers() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("bale-cli-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let env = ["BALE_ROOT": root + "/store"]
        _ = try Self.sh("mkdir -p \(root)/src", env: env)
        let bad = try Self.sh("'\(Self.bale)' import -c 'RUN x' \(root)/src", env: env)
        #expect(bad.status == 2)
        #expect(bad.err.contains("run is not a valid change command"))
        #expect(try Self.sh("'\(Self.bale)' export -o a --dir b x", env: env).status == 2)
        #expect(try Self.sh("'\(Self.bale)' import --compression-level 10 \(root)/src", env: env).status == 2)
    }
}
