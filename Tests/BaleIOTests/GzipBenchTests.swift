import BaleCore
import BaleIO
import Foundation
import Testing

/// Throughput figures on a real corpus, only when asked for:
/// `BALE_GZIP_BENCH=1 BALE_GZIP_BENCH_FILE=/tmp/corpus.tar swift test -c release --filter GzipBench`
/// (optionally `BALE_GZIP_BENCH_ENGINES=isal-1,isal-3,zlib-6`).
@Suite(.enabled(if: ProcessInfo.processInfo.environment["BALE_GZIP_BENCH"] == "1"))
struct GzipBenchTests {
    static var corpus: String {
        ProcessInfo.processInfo.environment["BALE_GZIP_BENCH_FILE"] ?? "/tmp/gz-corpus.tar"
    }

    /// Runs `body` with a read callback over the corpus file (plain read(2), 1 MiB at a time).
    func withCorpusReader<T>(_ path: String, _ body: ((UnsafeMutableRawBufferPointer) throws -> Int) throws -> T) throws -> T {
        let fd = open(path, O_RDONLY)
        try #require(fd >= 0, "cannot open \(path)")
        defer { close(fd) }
        return try body { buffer in
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n < 0 { throw BaleError.posix("read", path: path) }
            return n
        }
    }

    /// User + system CPU time of this process so far, to tell parallelism from a busy machine.
    static func cpuSeconds() -> Double {
        #if os(Linux)
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        let user = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        let system = Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        return user + system
        #else
        return 0
        #endif
    }

    /// The engines to measure: `BALE_GZIP_BENCH_ENGINES=isal-1,isal-3,zlib-6`, else levels 1, 2, 3 and 6.
    static var engines: [DeflateEngine] {
        guard let list = ProcessInfo.processInfo.environment["BALE_GZIP_BENCH_ENGINES"] else {
            return [1, 2, 3, 6].compactMap { DeflateEngine(level: $0) }
        }
        return list.split(separator: ",").compactMap { item -> DeflateEngine? in
            let parts = item.split(separator: "-")
            guard parts.count == 2, let level = Int(parts[1]) else { return nil }
            return parts[0] == "isal" ? .isal(level: level) : .zlib(level: level)
        }
    }

    @Test func compressAndDecompressThroughput() throws {
        let path = Self.corpus
        var compressedCopy = Data()
        for engine in Self.engines {
            for jobs in [1, 2] {
                var sink = Data()
                let keep = jobs == 2 && engine == ParallelGzip(jobs: 1).engine
                let start = Date()
                let cpuStart = Self.cpuSeconds()
                let result = try withCorpusReader(path) { reader in
                    try ParallelGzip(engine: engine, jobs: jobs).compress(read: reader, write: { bytes in
                        if keep { sink.append(contentsOf: bytes) }
                    }, progress: nil)
                }
                let seconds = Date().timeIntervalSince(start)
                let cpu = Self.cpuSeconds() - cpuStart
                let mbs = Double(result.uncompressedSize) / 1e6 / seconds
                print(String(format: "bale gzip %@ jobs %d: %.2f s (cpu %.2f s), %.1f MB/s in, %lld -> %lld bytes",
                             engine.description, jobs, seconds, cpu, mbs, result.uncompressedSize,
                             result.compressedSize))
                #expect(result.uncompressedSize > 0)
                if keep { compressedCopy = sink }
            }
        }
        guard !compressedCopy.isEmpty else { return }
        let hashStart = Date()
        var hasher = SHA256Hasher()
        hasher.update(compressedCopy)
        _ = hasher.finalize()
        print(String(format: "SHA-256 alone: %.1f MB/s", Double(compressedCopy.count) / 1e6 /
                     Date().timeIntervalSince(hashStart)))
        let start = Date()
        let (_, result) = try Gunzip().decompress(compressedCopy)
        let seconds = Date().timeIntervalSince(start)
        print(String(format: "bale gunzip: %.2f s, %.1f MB/s out", seconds,
                     Double(result.uncompressedSize) / 1e6 / seconds))
        #expect(result.compressedSize == Int64(compressedCopy.count))
    }
}
