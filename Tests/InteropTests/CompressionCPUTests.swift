import Foundation
import Testing

/// Whether a layer's bytes depend on the CPU that compressed it. ISA-L picks portable C, SSE4.2, AVX,
/// AVX2 or AVX-512 code at run time, and most of its variants write different bytes (unpinned, level 3
/// gave three different layers here: AVX-512 host, AVX2, older); bale pins every ISA-L function that
/// chooses matches to its portable variant and leaves only the Huffman encoder, whose variants write the
/// same bits, to the dispatch (DeflateIsal.swift). `qemu-x86_64 -cpu MODEL` makes bale see another CPU,
/// so the same import is compared across every dispatch tier on one machine: Opteron_G2 (2006, no SSE4.2:
/// ISA-L's portable code; the oldest model bale runs on, as the Swift runtime needs CMPXCHG16B, which
/// qemu's Opteron_G1 lacks), Nehalem (SSE4.2), SandyBridge (AVX), Haswell (AVX2), and the host itself
/// (AVX-512 on this project's machines; qemu 7.2 cannot emulate AVX-512). Every level must
/// give one layer digest under every model: the default (ISA-L 3), ISA-L 1 and 2, and zlib's 6.
@Suite(.serialized) struct CompressionCPUTests {
    static let isX86_64: Bool = {
        var info = utsname()
        uname(&info)
        return withUnsafeBytes(of: info.machine) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) } == "x86_64"
    }()

    static let models = ["host", "Opteron_G2", "Nehalem", "SandyBridge", "Haswell"]

    /// The largest blob of a one-image store: its only layer.
    static func layerDigest(_ store: String) throws -> String {
        try RootfsInteropTests.sh("ls -S '\(store)/blobs/sha256' | head -n 1").out
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test(.enabled(if: isX86_64, "CPU models are emulated for x86_64 only"))
    func everyLevelGivesTheSameLayerOnEveryCPUModel() throws {
        guard try RootfsInteropTests.available("qemu-x86_64") else { return }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("bale-cpu-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        // About 2.5 MiB of varied, compressible text (three 1 MiB blocks of the parallel compressor), and
        // about 8 MiB of real files (C headers and programs), whose long matches are where ISA-L's vector
        // long-match extension and its C one part ways.
        #expect(try RootfsInteropTests.sh("""
            mkdir -p '\(root)/tree' && cd '\(root)/tree' && \
            for i in $(seq 1 6); do seq -f "line %g of file $i: the quick brown fox $((i * 7))" 1 18000 > "f$i"; done && \
            cd / && tar -cf '\(root)/real.tar' usr/include/linux \
              $(find usr/bin -maxdepth 1 -type f -size -1M | LC_ALL=C sort | head -n 40)
            """).status == 0)
        let bale = RootfsInteropTests.bale
        let env = ["SOURCE_DATE_EPOCH": "1700000000"]
        for (input, what) in [("tree", "text"), ("real.tar", "real files")] {
            for level in [nil, 1, 2, 6] as [Int?] {
                let flag = level.map { "--compression-level \($0) " } ?? ""
                let name = (level.map { "level \($0)" } ?? "the default level") + " on \(what)"
                var digests: [String: String] = [:]
                for cpu in Self.models {
                    let store = "\(root)/store-\(input)-\(level ?? 0)-\(cpu)"
                    let runner = cpu == "host" ? "" : "qemu-x86_64 -cpu \(cpu) "
                    let run = try RootfsInteropTests.sh(
                        "\(runner)'\(bale)' --root '\(store)' --no-progress import \(flag)'\(root)/\(input)' t:1",
                        env: env)
                    #expect(run.status == 0, "\(name) on \(cpu): \(run.err)")
                    digests[cpu] = try Self.layerDigest(store)
                }
                #expect(Set(digests.values).count == 1, "\(name): \(digests)")
                #expect(digests["host"]?.count == 64)
            }
        }
    }
}
