import Bale
@testable import BaleCLI
import Foundation
import Testing

/// The one Go-template engine behind `inspect -f`, `images --format` and `history --format`.
@Suite struct TemplateTests {
    static let data: JSONValue = .object([
        "Id": .string("sha256:abc"), "Os": .string("linux"), "Size": .int(913),
        "RepoTags": .strings(["app:1", "app:2"]),
        "Config": .object(["Cmd": .strings(["/bin/sh"]), "Env": .null, "Labels": .object(["b": .string("2"), "a": .string("1")])]),
        "Empty": .array([]),
    ])

    static let cases: [(String, String)] = [
        ("{{.Id}}", "sha256:abc"),
        ("{{json .Config}}", #"{"Cmd":["/bin/sh"],"Env":null,"Labels":{"a":"1","b":"2"}}"#),
        ("{{index .RepoTags 0}}", "app:1"),
        ("{{range .RepoTags}}<{{.}}>{{end}}", "<app:1><app:2>"),
        ("{{range .Empty}}x{{else}}none{{end}}", "none"),
        ("{{join .RepoTags \",\"}}", "app:1,app:2"),
        ("{{.Os | upper}} {{lower \"AB\"}} {{upper .Os | lower}}", "LINUX ab linux"),
        ("{{printf \"%s-%d|%5d|%-4s|\" .Os .Size .Size .Os}}", "linux-913|  913|linux|"),
        ("{{.Config.Cmd}} {{.Config.Labels}} {{.Config.Env}} {{.Nope}}", "[/bin/sh] map[a:1 b:2] <nil> <no value>"),
        ("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}", "a=1;b=2;"),
        ("{{if .Empty}}yes{{else}}no{{end}} {{if eq .Os \"linux\"}}L{{end}}", "no L"),
        ("{{if .Empty}}a{{else if eq .Os \"x\"}}b{{else if .Size}}c{{else}}d{{end}}", "c"),
        ("{{range .RepoTags}}{{if eq . \"app:2\"}}{{.}}{{end}}{{end}}", "app:2"),
        ("{{with .Config}}{{index .Labels \"a\"}}{{end}} {{len .RepoTags}}", "1 2"),
        ("a\\tb {{- \"  x\" -}}  c", "a\tb  xc"),
        ("{{json .RepoTags}} {{json \"<&>\"}}", #"["app:1","app:2"] "\u003c\u0026\u003e""#),
        ("{{split \"a:b\" \":\"}} {{(index .RepoTags 1) | upper}}", "[a b] APP:2"),
    ]

    @Test(arguments: cases)
    func executes(template: String, expected: String) throws {
        #expect(try Template(template).execute(Self.data) == expected)
    }

    @Test func refusesBadTemplates() {
        for bad in ["{{.Id", "{{range .RepoTags}}", "{{end}}", "{{nosuch .Id}}", "{{index .RepoTags}}x{{"] {
            #expect(throws: (any Error).self, "\(bad)") { try Template(bad).execute(Self.data) }
        }
        #expect(throws: (any Error).self) { try Template("{{index .RepoTags 5}}").execute(Self.data) }
    }

    @Test func inspectJSONIsIndentedAndOrderedAsDockers() throws {
        let value: JSONValue = .array([.object([
            "Size": .int(3), "Id": .string("sha256:a"), "RepoTags": .array([]), "Comment": .string("a<b"),
            "Config": .object(["Labels": .object(["z": .string("1"), "a": .string("2")]), "Hostname": .string("")]),
        ])])
        let order = ["": ["Id", "RepoTags", "Comment", "Config", "Size"], "Config": ["Hostname", "Labels"]]
        #expect(GoJSON.indented(value, order: order) == """
            [
                {
                    "Id": "sha256:a",
                    "RepoTags": [],
                    "Comment": "a\\u003cb",
                    "Config": {
                        "Hostname": "",
                        "Labels": {
                            "a": "2",
                            "z": "1"
                        }
                    },
                    "Size": 3
                }
            ]
            """)
        #expect(GoJSON.indented(.array([]), order: order) == "[]")
    }

    @Test func listingsUseTheSameEngine() throws {
        let rows = [["Repository": "app", "Tag": "1"]]
        let columns = [(field: "Repository", header: "REPOSITORY"), (field: "Tag", header: "TAG")]
        #expect(try OutputFormat("{{.Repository | upper}}:{{printf \"%3s\" .Tag}}", fields: ["Repository", "Tag"])
                .render(rows, columns: columns) == "APP:  1\n")
        #expect(try OutputFormat("table {{.Repository}}\\t{{lower .Tag}}", fields: ["Repository", "Tag"])
                .render(rows, columns: columns) == "REPOSITORY   tag\napp          1\n")
    }

    @Test func dockerBooleanFlagsTakeAValue() {
        #expect(GlobalOptions.dockerBooleans(["history", "-H=false", "x"]) == ["history", "--no-human", "x"])
        #expect(GlobalOptions.dockerBooleans(["--root=/a", "history", "--human=true"]) == ["--root=/a", "history", "--human"])
        #expect(GlobalOptions.dockerBooleans(["import", "-m", "-H=false", "d"]) == ["import", "-m", "-H=false", "d"])
    }
}
