import Foundation
import Testing

/// Issue #14 "Docker habits", run as the built binary: what a docker user types and sees.
@Suite struct DockerHabitsCLITests {
    /// A store with `imp:1` imported from a small tree, in a fresh directory; `body` gets the root and
    /// the directory.
    static func withImage<T>(_ body: (_ root: String, _ dir: String) throws -> T) throws -> T {
        try CLIRunner.withTemporaryDirectory { dir in
            let src = dir.appendingPathComponent("src/etc")
            try FileManager.default.createDirectory(at: src, withIntermediateDirectories: true)
            try Data("hi\n".utf8).write(to: src.appendingPathComponent("a"))
            try Data("x\n".utf8).write(to: dir.appendingPathComponent("src/b"))
            let root = dir.path + "/store"
            let r = try CLIRunner.bale(["--root", root, "import", "-c", "CMD [\"/bin/sh\"]", dir.path + "/src", "imp:1"],
                                       environment: ["SOURCE_DATE_EPOCH": "1700000000"])
            guard r.status == 0 else { throw RunError("\(r)") }
            return try body(root, dir.path)
        }
    }

    // Item 1: the bar is cleared before the product is written, as a user sees it on a terminal.
    @Test func progressBarIsClearedBeforeTheImageID() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let src = dir.appendingPathComponent("src")
            try FileManager.default.createDirectory(at: src, withIntermediateDirectories: true)
            // Big enough for the bar to be drawn (it draws on the first progress step).
            try Data((0..<(8 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 13) })
                .write(to: src.appendingPathComponent("f"))
            let bale = try CLIRunner.executable().path
            let root = dir.path + "/store"
            let typescript = dir.path + "/typescript"
            let archive = dir.path + "/big.tar"
            let steps = [("--root '\(root)' import \(src.path) big:1", "sha256:"),
                         ("--root '\(root)' commit --base big:1 \(src.path) big:2", "sha256:"),
                         ("--root '\(root)' save -o \(archive) big:2", nil),
                         ("--root '\(root)2' load -i \(archive)", "Loaded image: ")]
            for (command, product) in steps {
                // script(1) runs bale on a pty, so stdout and stderr share one terminal.
                let r = try CLIRunner.run(URL(fileURLWithPath: "/usr/bin/script"),
                                          ["-qec", "'\(bale)' \(command)", typescript])
                #expect(r.status == 0, "\(r)")
                let screen = try String(contentsOfFile: typescript, encoding: .utf8)
                #expect(screen.contains("\u{1b}[J"), "no progress bar was drawn: \(screen.debugDescription)")
                // Whatever the command writes after the bar starts on a cleared line (save writes nothing).
                guard let product else { continue }
                let found = try #require(screen.range(of: product), "\(screen.debugDescription)")
                let before = screen[..<found.lowerBound]
                #expect(before.isEmpty || before.hasSuffix("\u{1b}[J") || before.hasSuffix("\n"),
                        "\(command): the output shares a line with the bar: \(screen.debugDescription)")
            }
        }
    }

    // Item 2: inspect -f and docker's JSON.
    @Test func inspectFormatsAndPrintsDockersJSON() throws {
        try Self.withImage { root, _ in
            let id = try CLIRunner.bale(["--root", root, "inspect", "-f", "{{.Id}}", "imp:1"])
            #expect(id.status == 0)
            #expect(id.out.range(of: #"^sha256:[0-9a-f]{64}\n$"#, options: .regularExpression) != nil, "\(id)")
            let t = try CLIRunner.bale(["--root", root, "inspect", "--format",
                                        "{{json .Config.Cmd}}|{{index .RepoTags 0}}|{{range .RepoTags}}<{{.}}>{{end}}|{{.Os | upper}}|{{.Comment}}",
                                        "imp:1"])
            #expect(t.out == "[\"/bin/sh\"]|imp:1|<imp:1>|LINUX|Imported from -\n", "\(t)")
            let json = try CLIRunner.bale(["--root", root, "inspect", "imp:1"])
            #expect(json.out.hasPrefix("[\n    {\n        \"Id\": \"sha256:"), "\(json)")
            for key in ["\"Comment\": \"Imported from -\"", "\"ContainerConfig\": {", "\"VirtualSize\": ",
                        "\"Hostname\": \"\"", "\"Env\": null"] {
                #expect(json.out.contains(key), "\(key)")
            }
            let order = ["\"Id\"", "\"RepoTags\"", "\"Comment\"", "\"Created\"", "\"ContainerConfig\"", "\"Config\"",
                         "\"Os\"", "\"Size\"", "\"VirtualSize\"", "\"RootFS\""].map { json.out.range(of: $0)?.lowerBound }
            #expect(order.allSatisfy { $0 != nil } && order.map { $0! } == order.map { $0! }.sorted(), "docker's key order")
            let missing = try CLIRunner.bale(["--root", root, "inspect", "nosuch"])
            #expect(missing.status == 1)
            #expect(missing.out == "[]\n")
            #expect(missing.err == "Error: No such image: nosuch\n")
        }
    }

    // Item 3: unknown commands, before or after global options.
    @Test func unknownCommandsAreNamed() throws {
        for arguments in [["frobnicate"], ["--root", "/nonexistent/s", "frobnicate"], ["run", "x"]] {
            let r = try CLIRunner.bale(arguments)
            let name = arguments.first == "--root" ? "frobnicate" : arguments[0]
            #expect(r.status == 2)
            #expect(r.err == "bale: '\(name)' is not a bale command.\nSee 'bale --help'.\n", "\(r)")
        }
        let load = try CLIRunner.bale(["--root", "/nonexistent/s", "load", "-i", "nosuch.tar"])
        #expect(load.status == 1)
        #expect(load.err.contains("nosuch.tar") && !load.err.contains("docker-archive:"), "\(load)")
    }

    // Item 4: docker's flag forms.
    @Test func dockersFlagFormsAndGlobs() throws {
        try Self.withImage { root, _ in
            for flag in ["-H=false", "--human=false"] {
                let r = try CLIRunner.bale(["--root", root, "history", flag, "imp:1"])
                #expect(r.status == 0, "\(r)")
                #expect(r.lines.first?.hasPrefix("IMAGE          CREATED AT             CREATED BY") == true, "\(r)")
                #expect(r.lines.last?.contains("2023-11-14T22:13:20Z") == true, "\(r)")
            }
            _ = try CLIRunner.bale(["--root", root, "tag", "imp:1", "team/app:1"])
            let list = { (pattern: String) throws -> [String] in
                try CLIRunner.bale(["--root", root, "images", "--format", "{{.Repository}}:{{.Tag}}", pattern]).lines
            }
            #expect(try list("im*") == ["imp:1"])
            #expect(try list("team/*:1") == ["team/app:1"])
            #expect(try list("*") == ["imp:1"])       // * does not match /
            let forced = try CLIRunner.bale(["--root", root, "rmi", "-f", "--no-prune", "nosuch"])
            #expect(forced.status == 0)
            #expect(forced.err == "Error: No such image: nosuch\n")
            #expect(try CLIRunner.bale(["--root", root, "rmi", "nosuch"]).status == 1)
        }
    }

    // Item 5: names and history as docker writes them.
    @Test func namesAndHistoryAsDockerWritesThem() throws {
        try Self.withImage { root, _ in
            let history = try CLIRunner.bale(["--root", root, "history", "--format", "{{.Comment}}", "imp:1"])
            #expect(history.out == "Imported from -\n")
            let tag = try CLIRunner.bale(["--root", root, "tag", "app", "x"])
            #expect(tag.status == 1)
            #expect(tag.err == "Error: No such image: app:latest\n")
            let digest = try CLIRunner.bale(["--root", root, "inspect", "-f", "{{.Descriptor.digest}}", "imp:1"]).out
                .trimmingCharacters(in: .newlines)
            let rmi = try CLIRunner.bale(["--root", root, "rmi", "imp@" + digest])
            #expect(rmi.status == 0, "\(rmi)")
            #expect(rmi.lines.first == "Untagged: imp@" + digest)
            #expect(rmi.lines.last?.hasPrefix("Deleted: sha256:") == true)
        }
    }

    // Item 6: diff and commit's summary.
    @Test func diffShowsWhatCommitRecords() throws {
        try Self.withImage { root, dir in
            // The image's own tree (import clamped its mtimes), then a deletion and a new file.
            let tree = dir + "/tree"
            #expect(try CLIRunner.bale(["--root", root, "export", "--dir", tree, "imp:1"]).status == 0)
            try FileManager.default.removeItem(atPath: tree + "/b")
            try Data("new\n".utf8).write(to: URL(fileURLWithPath: tree + "/etc/c"))
            let diff = try CLIRunner.bale(["--root", root, "diff", "--base", "imp:1", tree])
            #expect(diff.out == "D /b\nC /etc\nA /etc/c\n", "\(diff)")
            let dry = try CLIRunner.bale(["--root", root, "commit", "--dry-run", "--base", "imp:1", tree, "x:1"])
            #expect(dry.out == diff.out)
            #expect(try CLIRunner.bale(["--root", root, "images", "-q", "x"]).out.isEmpty)
            let commit = try CLIRunner.bale(["--root", root, "commit", "--base", "imp:1", tree, "x:1"])
            #expect(commit.status == 0)
            #expect(commit.err.hasPrefix("added 1, changed 1, deleted 1; layer "), "\(commit)")
        }
    }

    // Item 7: reading does not create.
    @Test func readersCreateNoStore() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let root = dir.path + "/none"
            let cases: [([String], Int32)] = [
                (["images"], 0), (["images", "-q"], 0), (["inspect", "x"], 1), (["history", "x"], 1),
                (["save", "-o", dir.path + "/x.tar", "x"], 1), (["verify"], 0), (["diff", "--base", "x", dir.path], 1),
            ]
            for (arguments, status) in cases {
                let r = try CLIRunner.bale(["--root", root] + arguments)
                #expect(r.status == status, "\(r)")
                #expect(!FileManager.default.fileExists(atPath: root), "\(arguments) created the store")
            }
            #expect(try CLIRunner.bale(["--root", root, "images"]).out == "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n")
            #expect(try CLIRunner.bale(["--root", root, "inspect", "x"]).err == "Error: No such image: x\n")
        }
    }

    // Item 8: SIZE is the stored size; VirtualSize the unpacked one.
    @Test func virtualSizeIsTheUnpackedSize() throws {
        try Self.withImage { root, _ in
            let r = try CLIRunner.bale(["--root", root, "images", "--format", "{{.Size}} {{.VirtualSize}}"])
            let inspect = try CLIRunner.bale(["--root", root, "inspect", "-f", "{{.Size}} {{.VirtualSize}}", "imp:1"])
            let sizes = inspect.out.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Int($0) }
            #expect(sizes.count == 2 && sizes[1] > sizes[0], "\(inspect)")
            // A 3-file tar is three 512-byte headers and blocks plus the end: 4 kB or so unpacked.
            #expect(r.out.split(separator: " ").count == 2 && r.out.hasSuffix("kB\n"), "\(r)")
        }
    }

    // Item 9: make install puts the binary, the man page and the three shells' completions in place.
    @Test func makeInstallPlacesBinaryManPageAndCompletions() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent()
            let prefix = dir.path + "/usr"
            let r = try CLIRunner.run(URL(fileURLWithPath: "/usr/bin/make"),
                                      ["-C", package.path, "install", "PREFIX=" + prefix,
                                       "BALE_BIN=" + CLIRunner.executable().path])
            #expect(r.status == 0, "\(r)")
            #expect(FileManager.default.isExecutableFile(atPath: prefix + "/bin/bale"))
            #expect(FileManager.default.fileExists(atPath: prefix + "/share/man/man1/bale.1"))
            let scripts = ["/share/bash-completion/completions/bale": "complete -o filenames -F _bale bale",
                           "/share/zsh/site-functions/_bale": "#compdef bale",
                           "/share/fish/vendor_completions.d/bale.fish": "complete -c 'bale'"]
            for (path, marker) in scripts {
                let text = (try? String(contentsOfFile: prefix + path, encoding: .utf8)) ?? ""
                #expect(text.contains(marker), "\(path)")
                #expect(text.contains("diff"), "\(path) lacks the diff command")
            }
        }
    }
}
