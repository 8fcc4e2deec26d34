import Foundation
import FuzzTargets

/// The target this process fuzzes, from BALE_FUZZ_TARGET (one libFuzzer process per target, so each
/// keeps its own corpus and coverage).
private let target: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["BALE_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
        fputs("BaleFuzz: set BALE_FUZZ_TARGET to one of: \(names)\n", stderr)
        exit(2)
    }
    return target
}()

/// libFuzzer's entry point: a broken rule aborts, so libFuzzer keeps the input as a crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = bytes.map { Data(bytes: $0, count: count) } ?? Data()
    if let broken = target.check(data) {
        fputs("BaleFuzz \(target.rawValue): \(broken)\n", stderr)
        abort()
    }
    return 0
}
