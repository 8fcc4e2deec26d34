import BaleCore
import BaleIO
import Foundation
import Testing
import TestSupport

/// Deterministic test inputs and helpers that run the system's gzip.
enum GzipTestSupport {
    /// `size` bytes alternating compressible text runs and pseudo-random runs, the same for a given seed.
    static func mixedData(size: Int, seed: UInt64 = 1) -> Data {
        var rng = SplitMix64(seed: seed)
        var bytes = [UInt8]()
        bytes.reserveCapacity(size)
        let words = ["layer", "image", "manifest", "sha256", "config", "blob", "tar", "usr/lib/", "\n", " "]
        while bytes.count < size {
            let run = Int(rng.next() % 20_000) + 1
            if rng.next() % 3 == 0 {
                for _ in 0..<run { bytes.append(UInt8(truncatingIfNeeded: rng.next())) }
            } else {
                var written = 0
                while written < run {
                    let w = Array(words[Int(rng.next() % UInt64(words.count))].utf8)
                    bytes.append(contentsOf: w)
                    written += w.count
                }
            }
        }
        return Data(bytes.prefix(size))
    }

    /// `size` bytes rich in long matches, the same for a given seed: lines of words and numbers, and copies
    /// of earlier spans (8 to 600 bytes, from up to 32 KiB back), each copy often followed by a changed
    /// byte, so long matches end and others begin a byte or two later. That is where ISA-L's vector
    /// long-match extension chooses other matches than its C code.
    static func longMatchData(size: Int, seed: UInt64 = 1) -> Data {
        var rng = SplitMix64(seed: seed)
        var bytes = [UInt8]()
        bytes.reserveCapacity(size + 1024)
        let words = ["static", "int", "return", "struct", "const", "char", "(", ")", "{", "}", ";", "=", "->",
                     "uint32_t", "size", "next_in", "avail_out", "#define", "if", "else"]
        while bytes.count < size {
            if bytes.count > 1024 && rng.next() % 3 == 0 {
                let start = bytes.count - Int(rng.next() % UInt64(min(bytes.count, 32 << 10))) - 1
                let length = Int(rng.next() % 593) + 8
                for k in 0..<length { bytes.append(bytes[start + k]) }   // may overlap its own output, as deflate allows
                if rng.next() % 2 == 0 { bytes.append(UInt8(truncatingIfNeeded: rng.next())) }
            } else {
                for _ in 0..<Int(rng.next() % 12 + 1) {
                    bytes.append(contentsOf: Array(words[Int(rng.next() % UInt64(words.count))].utf8))
                    bytes.append(0x20)
                }
                bytes.append(contentsOf: Array(String(rng.next() % 100_000).utf8))
                bytes.append(0x0a)
            }
        }
        return Data(bytes.prefix(size))
    }

    /// About `size` bytes of real files, taking one file from each of `directories` in turn (each walked
    /// recursively in name order, regular files only, each file cut to at most 128 KiB). The default mix
    /// resembles `make bench`'s corpus: text and data from /usr/share and /usr/include, code from /usr/lib.
    static func systemFileData(size: Int,
                               directories: [String] = ["/usr/share", "/usr/include", "/usr/lib/python3.11"]) throws -> Data {
        let fm = FileManager.default
        func files(_ dir: String, limit: Int) -> [String] {
            var found: [String] = []
            var pending = [dir]
            while let current = pending.first, found.count < limit {
                pending.removeFirst()
                let names = ((try? fm.contentsOfDirectory(atPath: current)) ?? []).sorted()
                for name in names {
                    let path = current + "/" + name
                    guard let type = (try? fm.attributesOfItem(atPath: path))?[.type] as? FileAttributeType else { continue }
                    if type == .typeRegular { found.append(path) } else if type == .typeDirectory { pending.append(path) }
                }
            }
            return found
        }
        let lists = directories.map { files($0, limit: 2000) }
        var out = Data()
        var i = 0
        while out.count < size && lists.contains(where: { i < $0.count }) {
            for list in lists where i < list.count && out.count < size {
                guard let handle = FileHandle(forReadingAtPath: list[i]) else { continue }
                defer { try? handle.close() }
                out.append(try handle.read(upToCount: min(128 * 1024, size - out.count)) ?? Data())
            }
            i += 1
        }
        return out
    }

    /// A tiny seeded generator so inputs are reproducible across runs.
    struct SplitMix64 {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// SHA-256 of `data` as a Digest.
    static func sha256(_ data: Data) -> BaleCore.Digest { SHA256Hasher.digest(data) }

    /// A fresh temporary file holding `data`; the caller removes it.
    static func temporaryFile(_ data: Data, suffix: String = ".gz") throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("bale-gz-\(UUID().uuidString)\(suffix)")
        try data.write(to: url)
        return url
    }

    /// Runs /usr/bin/gzip with `arguments`, feeding `stdin` from a file; returns (status, stdout).
    static func gzip(_ arguments: [String], stdinFile: URL? = nil) throws -> (Int32, Data) {
        try run("/usr/bin/gzip", arguments, stdinFile: stdinFile)
    }

    /// Runs `tool` with `arguments`, feeding `stdin` from a file; returns (status, stdout).
    static func run(_ tool: String, _ arguments: [String], stdinFile: URL? = nil) throws -> (Int32, Data) {
        let input = try stdinFile.map { try Data(contentsOf: $0) }
        let result = try ProcessRunner.run(URL(fileURLWithPath: tool), arguments, stdin: input)
        return (result.status, result.stdout)
    }

    /// `gzip -t` on `compressed` passes.
    static func gzipAccepts(_ compressed: Data) throws -> Bool {
        let file = try temporaryFile(compressed)
        defer { try? FileManager.default.removeItem(at: file) }
        return try gzip(["-t", file.path]).0 == 0
    }

    /// `gzip -dc` of `compressed`.
    static func gunzipWithSystem(_ compressed: Data) throws -> Data {
        let file = try temporaryFile(compressed)
        defer { try? FileManager.default.removeItem(at: file) }
        let (status, data) = try gzip(["-dc", file.path])
        #expect(status == 0)
        return data
    }

    /// `gzip -<level> -n -c` of `data`.
    static func gzipWithSystem(_ data: Data, level: Int = 6) throws -> Data {
        let file = try temporaryFile(data, suffix: ".raw")
        defer { try? FileManager.default.removeItem(at: file) }
        let (status, out) = try gzip(["-\(level)", "-n", "-c"], stdinFile: file)
        #expect(status == 0)
        return out
    }
}

/// Collects values from @Sendable callbacks; the lock is needed because the callback type is @Sendable.
final class Collector<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [T] = []
    func append(_ item: T) { lock.withLock { items.append(item) } }
    var values: [T] { lock.withLock { items } }
}

/// An error thrown by test callbacks.
struct InjectedError: Error, Equatable {
    let where_: String
}
