import Foundation
import Testing
import TestSupport

/// `bale search` over the store, a registry tree and a live registry's catalog (the generic location
/// API: a tree or `docker://HOST` without a name lists every repository and tag).
@Suite struct RegistrySearchTests {
    /// Makes a one-layer image NAME in the store at `root` whose description label is `description`.
    static func make(_ name: String, _ description: String, root: URL, in dir: URL) throws {
        let src = dir.appendingPathComponent("src-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: src, withIntermediateDirectories: true)
        try Data(name.utf8).write(to: src.appendingPathComponent("content"))
        _ = try RegistryPushPullTests.must(["import", "-c", "LABEL org.opencontainers.image.description=\"\(description)\"",
                                            src.path, name], root: root)
    }

    @Test func findsImagesByNameAndDescriptionInTheStoreATreeAndACatalog() throws {
        try Registry.with { registry in
            try Harness.withTemporaryDirectory { dir in
                let seed = dir.appendingPathComponent("seed")
                let home = dir.appendingPathComponent("home")
                try Self.make("\(registry.host)/tools/pgadmin:4", "web console for postgres", root: seed, in: dir)
                try Self.make("\(registry.host)/tools/nginx:1", "reverse proxy", root: seed, in: dir)
                _ = try RegistryPushPullTests.must(["push", "\(registry.host)/tools/pgadmin:4"], root: seed)
                _ = try RegistryPushPullTests.must(["push", "\(registry.host)/tools/nginx:1"], root: seed)

                let tree = dir.appendingPathComponent("tree")
                try Self.make("ops/pgbouncer:1.21", "connection pooler for postgres", root: seed, in: dir)
                try Self.make("ops/redis:7", "cache", root: seed, in: dir)
                _ = try RegistryPushPullTests.must(["copy", "ops/pgbouncer:1.21", "registry-tree:\(tree.path):ops/pgbouncer:1.21"], root: seed)
                _ = try RegistryPushPullTests.must(["copy", "ops/redis:7", "registry-tree:\(tree.path):ops/redis:7"], root: seed)

                try Self.make("postgres:16", "the database", root: home, in: dir)
                try Self.make("busybox:1", "small tools", root: home, in: dir)

                let sources = ["--source", "registry-tree:\(tree.path)", "--source", "docker://\(registry.host)"]
                // By description across all three (postgres appears in each), by name, and nothing else.
                let byDescription = try RegistryPushPullTests.must(["search", "--no-trunc", "--format", "{{.Name}} {{.Source}}"] + sources + ["postgres"], root: home)
                let rows = Set(byDescription.lines)
                #expect(rows == ["postgres store", "ops/pgbouncer registry-tree:\(tree.path)",
                                 "\(registry.host)/tools/pgadmin docker://\(registry.host)"], "\(byDescription)")
                let byName = try RegistryPushPullTests.must(["search", "--format", "{{.Name}}"] + sources + ["nginx"], root: home)
                #expect(byName.lines == ["\(registry.host)/tools/nginx"], "\(byName)")
                let none = try RegistryPushPullTests.must(["search", "--format", "{{.Name}}"] + sources + ["no-such-thing"], root: home)
                #expect(none.lines.isEmpty, "\(none)")
            }
        }
    }
}
