import Foundation
import Testing
@testable import BaleCore

@Suite("RFC3339")
struct RFC3339Tests {
    // 2024-01-02T03:04:05Z
    static let base = 1_704_164_645.0

    @Test("parses Z, offsets and fractions", arguments: [
        ("2024-01-02T03:04:05Z", base),
        ("2024-01-02T05:04:05+02:00", base),
        ("2024-01-01T22:04:05-05:00", base),
        ("2024-01-02T03:04:05.5Z", base + 0.5),
        ("2024-01-02T03:04:05.123456789Z", base + 0.123456789),
        ("2024-01-02T03:04:05.000000001Z", base + 0.000000001),
        ("2024-01-02T08:34:05.25+05:30", base + 0.25),
        ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59Z", -1),
    ])
    func parses(_ text: String, _ seconds: Double) throws {
        let date = try #require(RFC3339.parse(text))
        #expect(abs(date.timeIntervalSince1970 - seconds) < 1e-6)
    }

    @Test("refuses what is not RFC 3339", arguments: [
        "", "2024-01-02", "2024-01-02 03:04:05Z", "2024-01-02T03:04:05", "yesterday", "2024-13-02T03:04:05Z",
    ])
    func refuses(_ text: String) {
        #expect(RFC3339.parse(text) == nil)
    }

    @Test("formats in UTC with Go's trimmed fraction", arguments: [
        (0.0, "1970-01-01T00:00:00Z"),
        (base, "2024-01-02T03:04:05Z"),
        (base + 0.5, "2024-01-02T03:04:05.5Z"),
        (base + 0.25, "2024-01-02T03:04:05.25Z"),
        (base + 0.123, "2024-01-02T03:04:05.123Z"),
        (base + 0.123456, "2024-01-02T03:04:05.123456Z"),
        (-1.0, "1969-12-31T23:59:59Z"),
        (-0.5, "1969-12-31T23:59:59.5Z"),
        // A fraction that rounds up to a whole second carries into the seconds.
        (1.9999999999, "1970-01-01T00:00:02Z"),
        (base + 0.9999999, "2024-01-02T03:04:06Z"),
        // Nanosecond digits are past what a Date holds; they round to the microsecond.
        (base + 0.123456789, "2024-01-02T03:04:05.123457Z"),
    ])
    func formats(_ seconds: Double, _ expected: String) {
        #expect(RFC3339.format(Date(timeIntervalSince1970: seconds)) == expected)
    }

    @Test("format after parse gives back Go's text", arguments: [
        "2024-01-02T03:04:05Z", "2024-01-02T03:04:05.1Z", "2023-11-22T02:44:55.123Z", "2023-11-22T02:44:55.123456Z",
        "1970-01-01T00:00:00Z", "2106-02-07T06:28:16Z",
    ])
    func roundTrip(_ text: String) throws {
        #expect(RFC3339.format(try #require(RFC3339.parse(text))) == text)
    }

    @Test("offsets normalise to UTC on output")
    func offsetToUTC() throws {
        #expect(RFC3339.format(try #require(RFC3339.parse("2024-01-02T05:04:05.5+02:00"))) == "2024-01-02T03:04:05.5Z")
    }
}
