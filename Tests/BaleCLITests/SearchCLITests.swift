import Foundation
import Testing

/// `bale search` over the store, an OCI layout and a docker archive, run as the built binary.
@Suite struct SearchCLITests {
    static let longDescription = "A tiny web server that serves static files from /srv and nothing else, quickly"

    /// A store (`store`) with web:1 and web:latest (described) and tools:2 (titled), and, made from
    /// another store, a docker archive holding db:9 (described) and an OCI layout holding cache:7
    /// (titled). Calls `body` with the environment and the two source locations.
    static func withSources(_ body: (_ env: [String: String?], _ archive: String, _ layout: String) throws -> Void) throws {
        try CLIRunner.withTemporaryDirectory { dir throws in
            let env: [String: String?] = ["BALE_ROOT": dir.path + "/store", "SOURCE_DATE_EPOCH": "1700000000",
                                          "XDG_CONFIG_HOME": dir.path + "/config", "DOCKER_CONFIG": dir.path + "/docker"]
            var other = env
            other["BALE_ROOT"] = dir.path + "/other"
            try FileManager.default.createDirectory(atPath: dir.path + "/src", withIntermediateDirectories: true)
            func make(_ name: String, _ label: String, _ environment: [String: String?], content: String) throws {
                try Data(content.utf8).write(to: dir.appendingPathComponent("src/f"))
                let run = try CLIRunner.bale(["import", "-c", "LABEL " + label, dir.path + "/src", name], environment: environment)
                #expect(run.status == 0, "\(run)")
            }
            try make("web:1", "org.opencontainers.image.description=\"\(longDescription)\"", env, content: "web")
            try make("tools:2", "org.opencontainers.image.title=\"Handy Tools\"", env, content: "tools")
            try make("db:9", "org.opencontainers.image.description=\"postgres database\"", other, content: "db")
            try make("cache:7", "org.opencontainers.image.title=\"Redis-like Cache\"", other, content: "cache")
            for (args, environment) in [(["tag", "web:1", "web:latest"], env),
                                        (["save", "-o", dir.path + "/db.tar", "db:9"], other),
                                        (["copy", "cache:7", "oci:\(dir.path)/layout"], other)] {
                let run = try CLIRunner.bale(args, environment: environment)
                #expect(run.status == 0, "\(run)")
            }
            try body(env, "docker-archive:\(dir.path)/db.tar", "oci:\(dir.path)/layout")
        }
    }

    @Test func findsByNameTagTitleAndDescriptionAcrossSources() throws {
        try Self.withSources { env, archive, layout throws in
            func search(_ args: [String]) throws -> [String] {
                let run = try CLIRunner.bale(["search"] + args + ["--source", archive, "--source", layout,
                                                                  "--format", "{{.Name}}|{{.Tags}}|{{.Source}}"], environment: env)
                #expect(run.status == 0, "\(run)")
                return run.lines
            }
            #expect(try search(["WEB"]) == ["web|1, latest|store"])
            #expect(try search(["handy"]) == ["tools|2|store"])
            #expect(try search(["Database"]) == ["db|9|\(archive)"])
            #expect(try search(["cache"]) == ["cache|7|\(layout)"])
            #expect(try search(["latest"]) == ["web|1, latest|store"])
            #expect(try search(["nothing-like-this"]) == [])
            #expect(try search([""]) == ["tools|2|store", "web|1, latest|store", "db|9|\(archive)", "cache|7|\(layout)"])
            #expect(try search(["", "--limit", "2"]).count == 2)
            #expect(try search(["", "--filter", "source=\(layout)"]) == ["cache|7|\(layout)"])
            #expect(try search(["", "--filter", "label=org.opencontainers.image.title"]) == ["tools|2|store", "cache|7|\(layout)"])
            #expect(try search(["", "--filter", "label=org.opencontainers.image.title=Handy Tools"]) == ["tools|2|store"])
        }
    }

    @Test func theTableHasDockersColumnsAndCutsTheDescription() throws {
        try Self.withSources { env, archive, _ throws in
            let table = try CLIRunner.bale(["search", "o", "--source", archive], environment: env)
            #expect(table.status == 0, "\(table)")
            #expect(table.lines.first?.split(separator: " ", omittingEmptySubsequences: true)
                    == ["NAME", "DESCRIPTION", "TAGS", "SOURCE"], "\(table)")
            let cut = String(Self.longDescription.prefix(44)) + "…"
            #expect(table.lines.contains { $0.hasPrefix("web ") && $0.contains(cut) && $0.hasSuffix("store") }, "\(table)")
            #expect(table.lines.contains { $0.hasPrefix("tools ") && $0.contains("Handy Tools") }, "\(table)")
            #expect(table.lines.contains { $0.hasPrefix("db ") && $0.contains("postgres database") && $0.hasSuffix(archive) }, "\(table)")
            let full = try CLIRunner.bale(["search", "web", "--no-trunc"], environment: env)
            #expect(full.out.contains(Self.longDescription), "\(full)")
            let json = try CLIRunner.bale(["search", "web", "--format", "json", "--no-trunc"], environment: env)
            let row = try JSONSerialization.jsonObject(with: Data(json.lines.first?.utf8 ?? "".utf8)) as? [String: String]
            #expect(row == ["Name": "web", "Description": Self.longDescription, "Title": "", "Tags": "1, latest", "Source": "store"], "\(json)")
        }
    }

    /// A store image whose config blob is gone gives a warning naming it, and the rest is still found
    /// (as `images` lists what it can); its name is listed, without a description.
    @Test func aDamagedImageIsSkippedWithAWarning() throws {
        try CLIRunner.withTemporaryDirectory { dir throws in
            let env: [String: String?] = ["BALE_ROOT": dir.path + "/store"]
            try FileManager.default.createDirectory(atPath: dir.path + "/src", withIntermediateDirectories: true)
            for name in ["good:1", "bad:1"] {
                try Data(name.utf8).write(to: dir.appendingPathComponent("src/f"))
                let run = try CLIRunner.bale(["import", dir.path + "/src", name], environment: env)
                #expect(run.status == 0, "\(run)")
            }
            let id = try CLIRunner.bale(["images", "--no-trunc", "--format", "{{.ID}}", "bad"], environment: env).out
            try FileManager.default.removeItem(atPath: dir.path + "/store/blobs/sha256/" + id.dropFirst(7).trimmingCharacters(in: .newlines))
            let run = try CLIRunner.bale(["search", "", "--format", "{{.Name}}"], environment: env)
            #expect(run.status == 0, "\(run)")
            #expect(run.lines == ["bad", "good"], "\(run)")
            #expect(run.err.hasPrefix("Warning: store: bad:1: sha256:"), "\(run)")
        }
    }

    @Test(arguments: ["stars=3", "is-official=true", "is-automated=true"])
    func hubOnlyFiltersAreRefused(filter: String) throws {
        try CLIRunner.withTemporaryDirectory { dir throws in
            let run = try CLIRunner.bale(["search", "x", "--filter", filter], environment: ["BALE_ROOT": dir.path])
            #expect(run.status == 2, "\(run)")
            #expect(run.err.contains("no meaning in an offline search"), "\(run)")
        }
    }

    @Test func anEmptyStoreFindsNothingAndCreatesNothing() throws {
        try CLIRunner.withTemporaryDirectory { dir throws in
            let run = try CLIRunner.bale(["search", "x"], environment: ["BALE_ROOT": dir.path + "/none"])
            #expect(run.status == 0, "\(run)")
            #expect(run.lines.count == 1, "\(run)")
            #expect(!FileManager.default.fileExists(atPath: dir.path + "/none"))
        }
    }
}
