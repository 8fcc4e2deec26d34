import Foundation
import Testing

/// Issue #14 against the real daemon: the same commands on docker and on bale, the same answers.
@Suite(.enabled(if: Harness.peersAvailable("dockerd", "docker", "tar", "sh")))
struct DockerHabitsInteropTests {
    /// Top-level keys of `inspect`'s JSON (docker's 8-space indent), and ContainerConfig's (12 spaces).
    static func keys(_ json: String, indent: Int) -> [String] {
        let prefix = String(repeating: " ", count: indent) + "\""
        return json.split(separator: "\n").compactMap { line in
            guard line.hasPrefix(prefix), let end = line.dropFirst(prefix.count).firstIndex(of: "\""),
                  line[end...].hasPrefix("\":") else { return nil }
            return String(line[line.index(line.startIndex, offsetBy: prefix.count)..<end])
        }
    }

    @Test func baleAnswersAsTheDaemonDoes() throws {
        try Harness.withTemporaryDirectory { d in
            let store = d.appendingPathComponent("store")
            let sh = try Harness.run(URL(fileURLWithPath: "/bin/sh"), ["-c", """
                cd '\(d.path)' && mkdir -p r/etc && printf 'hi\\n' > r/etc/a && tar -C r -cf r.tar .
                """])
            try #require(sh.succeeded, "\(sh)")
            let tar = d.appendingPathComponent("r.tar")
            let tarBytes = try Data(contentsOf: tar)
            for arguments in [["import", tar.path, "imp:1"], ["import", "-", "example.com/team/app:1"]] {
                let r = try Harness.bale(arguments, root: store, stdin: tarBytes)
                try #require(r.succeeded, "\(r)")
            }
            let archive = d.appendingPathComponent("imp.tar")
            try #require(try Harness.bale(["save", "-o", archive.path, "imp:1"], root: store).succeeded)

            try DockerDaemon.with { docker in
                try docker.must(["import", tar.path, "imp:1"])
                try docker.must(["import", "-", "example.com/team/app:1"], stdin: tarBytes)
                func both(_ arguments: [String]) throws -> (docker: RunResult, bale: RunResult) {
                    (try docker.run(arguments), try Harness.bale(arguments, root: store))
                }

                // Item 5: the import comment, from a file and from stdin.
                for name in ["imp:1", "example.com/team/app:1"] {
                    let history = try both(["history", "--format", "{{.Comment}}", name])
                    #expect(history.bale.out == history.docker.out, "\(history)")
                    #expect(history.bale.out == "Imported from -\n")
                    let comment = try both(["inspect", "-f", "{{.Comment}}", name])
                    #expect(comment.bale.out == comment.docker.out)
                }
                let tag = try both(["tag", "app", "x"])
                #expect(tag.docker.status == 1 && tag.bale.status == 1)
                #expect(tag.docker.err.contains("No such image: app:latest") && tag.bale.err.contains("No such image: app:latest"),
                        "\(tag)")

                // Item 2: inspect -f, the JSON's key order, a missing image.
                let id = try both(["inspect", "-f", "{{.Id}}", "imp:1"])
                #expect(id.docker.out.range(of: #"^sha256:[0-9a-f]{64}\n$"#, options: .regularExpression) != nil)
                #expect(id.bale.out.range(of: #"^sha256:[0-9a-f]{64}\n$"#, options: .regularExpression) != nil)
                // The same image in both (bale's, loaded): the same ID.
                try docker.must(["load", "-i", archive.path])
                #expect(try docker.must(["inspect", "-f", "{{.Id}}", "imp:1"]).out == id.bale.out)
                let json = try both(["inspect", "imp:1"])
                let dockerKeys = Self.keys(json.docker.out, indent: 8)
                let baleKeys = Self.keys(json.bale.out, indent: 8)
                #expect(dockerKeys.filter(baleKeys.contains) == baleKeys.filter(dockerKeys.contains), "\(json)")
                #expect(Set(dockerKeys).subtracting(baleKeys) == ["GraphDriver", "Metadata"])
                #expect(Self.keys(json.docker.out, indent: 12).prefix(17) == Self.keys(json.bale.out, indent: 12).prefix(17))
                let missing = try both(["inspect", "nosuch"])
                #expect(missing.docker.status == 1 && missing.bale.status == 1)
                #expect(missing.docker.out == missing.bale.out && missing.bale.out == "[]\n", "\(missing)")

                // Item 4: flag forms, globs, rmi -f of an absent image.
                for flag in ["-H=false", "--human=false"] {
                    let history = try both(["history", flag, "imp:1"])
                    #expect(history.bale.succeeded && history.docker.succeeded)
                    #expect(history.bale.lines.first == history.docker.lines.first, "\(history)")
                }
                for pattern in ["imp*", "example.com/*/*"] {
                    let images = try both(["images", "--format", "{{.Repository}}:{{.Tag}}", pattern])
                    #expect(images.bale.out == images.docker.out, "\(images)")
                    #expect(!images.bale.out.isEmpty)
                }
                let rmi = try both(["rmi", "-f", "nosuch"])
                #expect(rmi.docker.status == 0 && rmi.bale.status == 0, "\(rmi)")
                #expect(rmi.docker.err.contains("No such image: nosuch") && rmi.bale.err.contains("No such image: nosuch"))
                #expect(try both(["rmi", "--no-prune", "example.com/team/app:1"]).bale.succeeded)
            }
        }
    }

    /// An image docker made (its `created` times have fractions of a second), saved by docker and
    /// loaded into bale: history's and images' times and the other columns read as docker prints them
    /// (SIZE aside: bale's is the stored layer's, see README "Sizes"), and inspect's templates print
    /// what the image leaves out as docker does.
    @Test func aDockerImageReadsTheSameInBothHistories() throws {
        try Harness.withTemporaryDirectory { d in
            let sh = try Harness.run(URL(fileURLWithPath: "/bin/sh"), ["-c", """
                cd '\(d.path)' && mkdir -p r/etc && printf 'hi\\n' > r/etc/a && tar -C r -cf r.tar .
                """])
            try #require(sh.succeeded, "\(sh)")
            let store = d.appendingPathComponent("store")
            let saved = d.appendingPathComponent("docker.tar")
            try DockerDaemon.with { docker in
                try docker.must(["import", "-c", "CMD [\"/bin/sh\"]", "-c", "EXPOSE 80/tcp 53/udp", "-c", "VOLUME /data", "-m", "from docker", d.appendingPathComponent("r.tar").path, "made:1"])
                let created = try docker.must(["inspect", "-f", "{{.Created}}", "made:1"]).out
                #expect(created.contains("."), "docker import records fractions of a second: \(created)")
                try docker.must(["save", "-o", saved.path, "made:1"])
                let load = try Harness.bale(["load", "-i", saved.path], root: store)
                try #require(load.succeeded, "\(load)")
                for arguments in [["history", "--format", "{{.ID}}|{{.CreatedAt}}|{{.CreatedBy}}|{{.Comment}}", "made:1"],
                                  ["history", "--no-trunc", "--format", "{{.ID}} {{.CreatedAt}}", "made:1"],
                                  ["images", "--format", "{{.ID}} {{.CreatedAt}}", "made"],
                                  ["inspect", "-f", "{{.Created}} {{.Comment}}", "made:1"],
                                  // Members the image leaves out print as docker's Go types' zero values.
                                  ["inspect", "-f", "{{.Config.Cmd}}|{{.Config.Entrypoint}}|{{.Config.Labels}}|{{.Config.OnBuild}}|"
                                      + "{{.Config.Shell}}|{{.Config.Healthcheck}}|{{.Config.StopSignal}}|{{.Config.ArgsEscaped}}|"
                                      + "{{json .Config.Entrypoint}}|{{.RepoTags}}|{{.Config.ExposedPorts}}|{{.Config.Volumes}}", "made:1"],
                                  // A struct's members in its order, as Go marshals it.
                                  ["inspect", "-f", "{{json .RootFS}}", "made:1"]] {
                    let expected = try docker.must(arguments).out
                    let got = try Harness.bale(arguments, root: store)
                    #expect(got.succeeded && got.out == expected, "\(arguments): docker \(expected) bale \(got)")
                }
                // -H=false: CREATED AT where CREATED was; its column as docker's. (CreatedSince is
                // left out everywhere: a second may pass between the two commands.)
                let plain = ["history", "-H=false", "made:1"]
                let theirs = try docker.must(plain).lines.map { $0.prefix(36) }
                let ours = try Harness.bale(plain, root: store).lines.map { $0.prefix(36) }
                #expect(ours == theirs, "\(theirs) vs \(ours)")
            }
        }
    }
}
