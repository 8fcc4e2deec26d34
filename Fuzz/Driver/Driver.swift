import Foundation
import FuzzTargets

/// The target this process fuzzes, from BALE_FUZZ_TARGET (one libFuzzer process per target, so each
/// keeps its own corpus and coverage).
private let target: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["BALE_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
        FileHandle.standardError.write(Data("BaleFuzz: set BALE_FUZZ_TARGET to one of: \(names)\n".utf8))
        exit(2)
    }
    return target
}()

/// libFuzzer's entry point: a broken rule aborts, so libFuzzer keeps the input as a crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = bytes.map { Data(bytes: $0, count: count) } ?? Data()
    if let broken = target.check(data) {
        FileHandle.standardError.write(Data("BaleFuzz \(target.rawValue): \(broken)\n".utf8))
        abort()
    }
    return 0
}

/// libFuzzer's driver, for the entry point below.
@_silgen_name("LLVMFuzzerRunDriver")
private func runDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ test: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// SwiftPM links an executable target to `<module>_main` rather than to `main` (libFuzzer's main would
/// otherwise be it), so this hands control to libFuzzer's driver with the same arguments.
@_cdecl("BaleFuzz_main")
public func baleFuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return runDriver(&argc, &argv, fuzzOneInput)
}
