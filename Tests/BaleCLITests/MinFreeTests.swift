@testable import BaleCLI
import Testing

/// `--min-free SIZE`: the sizes it takes.
@Suite struct MinFreeTests {
    @Test func sizesParseAsPowersOf1024() {
        #expect(GlobalOptions.byteCount("0") == 0)
        #expect(GlobalOptions.byteCount("123") == 123)
        #expect(GlobalOptions.byteCount("64K") == 64 << 10)
        #expect(GlobalOptions.byteCount("512m") == 512 << 20)
        #expect(GlobalOptions.byteCount("1G") == 1 << 30)
        #expect(GlobalOptions.byteCount("1GiB") == 1 << 30)
        #expect(GlobalOptions.byteCount("2TB") == 2 << 40)
    }

    @Test func otherTextIsRefused() {
        for bad in ["", "G", "-1", "1.5G", "1P", "ten", "99999999999T"] {
            #expect(GlobalOptions.byteCount(bad) == nil, "\(bad)")
        }
    }

    @Test func theOptionMovesBehindTheCommandLikeTheOtherGlobals() {
        #expect(GlobalOptions.movingGlobals(["--min-free", "1G", "load", "-i", "x"]) == ["load", "--min-free", "1G", "-i", "x"])
        #expect(GlobalOptions.movingGlobals(["--min-free=1G", "load"]) == ["load", "--min-free=1G"])
    }
}
