import BaleCore
import BaleIO
import Foundation
import Testing
import TestSupport

/// A temporary directory removed when the value is released.
final class TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/bale-io-test-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard let made else { throw BaleError.posix("mkdtemp", path: NSTemporaryDirectory()) }
        path = String(cString: made)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }

    /// Names in the directory, sorted.
    func contents() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path).sorted()
    }
}

/// A `ByteSink` collecting everything in memory.
final class DataSink: ByteSink {
    var data = Data()

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        data.append(contentsOf: bytes)
    }
}

/// Runs a program (looked up on PATH unless a path) and returns its standard output; throws when it
/// exits non-zero.
@discardableResult
func run(_ arguments: [String], in directory: String? = nil, input: Data? = nil) throws -> Data {
    let result = try ProcessRunner.run(arguments, stdin: input,
                                       currentDirectory: directory.map { URL(fileURLWithPath: $0) })
    guard result.succeeded else { throw HarnessError("\(result)") }
    return result.stdout
}

/// Whether a program is on PATH.
func hasProgram(_ name: String) -> Bool {
    ProcessRunner.which(name) != nil
}

/// Reads every member of an archive into (entry, data) pairs.
func readAllMembers(_ reader: TarReader, limit: Int = 64 << 20) throws -> [(TarEntry, Data)] {
    var members: [(TarEntry, Data)] = []
    while let entry = try reader.next() {
        members.append((entry, try reader.readAll(limit: limit)))
    }
    return members
}

/// Deterministic pseudo-random bytes (xorshift), so big-file tests need no fixture.
func patternData(count: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> Data {
    var state = seed
    var bytes = [UInt8](repeating: 0, count: count)
    for index in 0 ..< count {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        bytes[index] = UInt8(truncatingIfNeeded: state)
    }
    return Data(bytes)
}
