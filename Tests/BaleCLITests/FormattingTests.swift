@testable import BaleCLI
import Foundation
import Testing

@Suite struct FormattingTests {
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
