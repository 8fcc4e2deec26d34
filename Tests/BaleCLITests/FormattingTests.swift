@testable import BaleCLI
import Foundation
import Testing

@Suite struct FormattingTests {
    @Test func progressDrawsALinePerBlobThenTheTotal() {
        let lines = ProgressBar.render(blobs: [("a1b2c3d4e5f6", 50_000_000, 100_000_000), ("0f9e8d7c6b5a", 0, 81_300_000)],
                                       verb: "Downloading", label: "Pulling", done: 50_000_000, total: 200_000_000, rate: 25_000_000)
        #expect(lines == [
            "a1b2c3d4e5f6: Downloading [==========>         ] 50MB/100MB",
            "0f9e8d7c6b5a: Downloading [>                   ] 0B/81.3MB",
            "Pulling 50MB/200MB 25% ETA 6s 25MB/s",
        ])
        // Many blobs: six lines, then a count; a finished blob's bar is full; nothing wraps at 80.
        let many = (0..<9).map { ("\($0)", Int64(10), Int64(10)) }
        let drawn = ProgressBar.render(blobs: many, verb: "Pushing", label: String(repeating: "x", count: 120),
                                       done: 90, total: nil, rate: 0)
        #expect(drawn.count == ProgressBar.maxBlobLines + 2)
        #expect(drawn[0] == "0: Pushing [====================] 10B/10B")
        #expect(drawn[ProgressBar.maxBlobLines] == "… and 3 more")
        #expect(drawn.allSatisfy { $0.count < 80 })
    }

    @Test func progressClearsEveryLineItDrew() {
        #expect(ProgressBar.clearing(0) == "\r\u{1b}[J")
        #expect(ProgressBar.clearing(1) == "\r\u{1b}[J")
        #expect(ProgressBar.clearing(3) == "\u{1b}[2A\r\u{1b}[J")
    }

    static let sizeCases: [(Int64, String)] = [
        (0, "0B"), (999, "999B"), (1000, "1kB"), (4_260_000, "4.26MB"), (133_000_000, "133MB"),
        (999_999, "1e+03kB"), (1_500_000_000, "1.5GB"),
    ]
    @Test(arguments: sizeCases)
    func sizes(bytes: Int64, text: String) {
        #expect(Humanize.size(bytes) == text)
    }

    static let durationCases: [(Double, String)] = [
        (0.5, "Less than a second"), (1, "1 second"), (59, "59 seconds"), (60, "About a minute"),
        (119, "About a minute"), (120, "2 minutes"), (3599, "59 minutes"), (3600, "About an hour"),
        (5400, "2 hours"), (47 * 3600, "47 hours"), (48 * 3600, "2 days"), (13 * 86400, "13 days"),
        (14 * 86400, "2 weeks"), (59 * 86400, "8 weeks"), (60 * 86400, "2 months"), (729 * 86400, "24 months"),
        (730 * 86400, "2 years"),
    ]
    @Test(arguments: durationCases)
    func durations(seconds: Double, text: String) {
        #expect(Humanize.duration(seconds) == text)
    }

    @Test func tableMatchesDockersTabwriter() {
        var t = Table(header: ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"])
        t.append(["busybox", "latest", "3f57d9401f8d", "2 weeks ago", "4.26MB"])
        #expect(t.render() == """
            REPOSITORY   TAG       IMAGE ID       CREATED       SIZE
            busybox      latest    3f57d9401f8d   2 weeks ago   4.26MB

            """)
    }

    @Test func ellipsis() {
        #expect(Humanize.ellipsis("short", 45) == "short")
        let long = String(repeating: "x", count: 50)
        #expect(Humanize.ellipsis(long, 45) == String(repeating: "x", count: 44) + "…")
    }

    @Test func templates() throws {
        let rows = [["Repository": "app", "Tag": "1"], ["Repository": "web", "Tag": "2"]]
        let columns = [(field: "Repository", header: "REPOSITORY"), (field: "Tag", header: "TAG")]
        #expect(try OutputFormat("{{.Repository}}:{{.Tag}}", fields: ["Repository", "Tag"]).render(rows, columns: columns)
                == "app:1\nweb:2\n")
        #expect(try OutputFormat("table {{.Tag}}\\t{{.Repository}}", fields: ["Repository", "Tag"]).render(rows, columns: columns)
                == "TAG       REPOSITORY\n1         app\n2         web\n")
        #expect(try OutputFormat("json", fields: ["Repository", "Tag"]).render(rows, columns: columns)
                == "{\"Repository\":\"app\",\"Tag\":\"1\"}\n{\"Repository\":\"web\",\"Tag\":\"2\"}\n")
        #expect(throws: (any Error).self) { try OutputFormat("{{.Nope}}", fields: ["Repository"]) }
        #expect(throws: (any Error).self) { try OutputFormat("{{.Repository", fields: ["Repository"]) }
    }

    @Test func globalOptionsMoveBehindTheCommand() {
        #expect(GlobalOptions.movingGlobals(["--root", "/s", "images", "-q"]) == ["images", "--root", "/s", "-q"])
        #expect(GlobalOptions.movingGlobals(["--no-progress", "--jobs=2", "rmi", "x"]) == ["rmi", "--no-progress", "--jobs=2", "x"])
        #expect(GlobalOptions.movingGlobals(["images", "--root", "/s"]) == ["images", "--root", "/s"])
        #expect(GlobalOptions.movingGlobals(["--help"]) == ["--help"])
    }
}
