import Foundation
import Testing

/// Issue #10, the classes the CLI meets: output that cannot be written, FIFOs where files are expected,
/// sha512 digests, terminal injection, an empty root, `--jobs -1`, a damaged layer on export. Each runs
/// the built binary through /bin/sh (redirections, FIFOs and pipes are the point).
@Suite struct HostileCLITests {
    static let bale = RootfsCLITests.bale

    @discardableResult
    static func sh(_ command: String, env: [String: String] = [:], timeout: TimeInterval = 60) throws
        -> (status: Int32, out: String, err: String)
    {
        let run = try CLIRunner.run(URL(fileURLWithPath: "/bin/sh"), ["-c", command], environment: env, timeout: timeout)
        return (run.status, run.out, run.err)
    }

    /// A store at `dir/store` with images a:1 and b:1 imported from small trees; `SOURCE_DATE_EPOCH`
    /// set so that runs agree.
    static func withStore<T>(_ body: (_ dir: String, _ env: [String: String]) throws -> T) throws -> T {
        try CLIRunner.withTemporaryDirectory { url in
            let dir = url.path
            let env = ["BALE_ROOT": dir + "/store", "SOURCE_DATE_EPOCH": "1700000000"]
            let setup = try sh("""
                set -e; B='\(bale)'; cd '\(dir)'
                mkdir -p src/d src2; echo hi > src/d/f; echo other > src2/g
                $B import src a:1 >/dev/null; $B import src2 b:1 >/dev/null; $B save -o a.tar a:1
                """, env: env)
            #expect(setup.status == 0, "\(setup.err)")
            return try body(dir, env)
        }
    }

    /// Class 2: every command that prints fails cleanly when stdout is full or closed (status 1, one
    /// message, no trap), and quietly when the reader left (EPIPE).
    @Test(arguments: ["images", "inspect a:1", "history a:1", "save a:1", "export a:1", "import src c:1",
                      "load -i a.tar"])
    func outputErrorsAreMessagesNotTraps(command: String) throws {
        try Self.withStore { dir, env in
            let b = "cd '\(dir)'; '\(Self.bale)' \(command)"
            let full = try Self.sh(b + " >/dev/full", env: env)
            #expect(full.status == 1, "\(full)")
            #expect(full.err.contains("No space left on device"), "\(full.err)")
            #expect(!full.err.contains("Fatal error"))
            let closed = try Self.sh("exec 1>&-; " + b, env: env)
            #expect(closed.status == 1, "\(closed)")
            #expect(closed.err.contains("Bad file descriptor"), "\(closed.err)")
            // The reader is gone before bale writes: EPIPE, not SIGPIPE, and no message.
            let pipe = try Self.sh("cd '\(dir)'; (sleep 0.5; \(b) 2>err; echo $? >status) | true; cat status err", env: env)
            #expect(pipe.out == "1\n", "\(pipe)")
        }
    }

    /// Class 2: a stderr that cannot be written makes the status non-zero.
    @Test func aMissingArchiveIsNamedOnce() throws {
        try CLIRunner.withTemporaryDirectory { url in
            let missing = url.path + "/nothing.tar"
            let load = try Self.sh("'\(Self.bale)' --root '\(url.path)/store' load -i '\(missing)'")
            #expect(load.status != 0)
            #expect(load.err == "Error: \(missing): open: No such file or directory\n", "\(load.err)")
            let copy = try Self.sh("'\(Self.bale)' --root '\(url.path)/store' copy 'docker-archive:\(missing)' 'oci:\(url.path)/l'")
            #expect(copy.err == "Error: docker-archive:\(missing): \(missing): open: No such file or directory\n", "\(copy.err)")
        }
    }

    /// An argument that is not UTF-8 (a file named in Latin-1) is refused as such. Before, Swift's
    /// decoding replaced its bytes and the existing file was reported missing.
    @Test func aNonUTF8ArgumentIsRefusedAsSuch() throws {
        try CLIRunner.withTemporaryDirectory { url in
            let run = try Self.sh("""
                cd '\(url.path)'; name="$(printf 'caf\\351.tar')"; : > "$name"
                '\(Self.bale)' --root '\(url.path)/store' load -i "$name"
                """)
            #expect(run.status == 2, "\(run)")
            #expect(run.err == "Error: argument 5 (\"caf\u{FFFD}.tar\") is not UTF-8: bale takes paths and names in UTF-8 only\n", "\(run.err)")
        }
    }

    @Test func aFullStderrIsAFailure() throws {
        try Self.withStore { dir, env in
            // copy succeeds and reports on stderr only.
            let run = try Self.sh("cd '\(dir)'; '\(Self.bale)' copy a:1 oci:o 2>/dev/full", env: env)
            #expect(run.status == 1, "\(run)")
        }
    }

    /// Class 7: a FIFO where a regular file is expected is refused at once, never waited on.
    @Test func fifosWhereFilesAreExpectedAreRefused() throws {
        try Self.withStore { dir, env in
            let run = try Self.sh("""
                cd '\(dir)'; B='\(Self.bale)'
                $B copy a:1 oci:lay 2>/dev/null; cp -r lay lay2; cp -r store store2
                rm lay/index.json; mkfifo lay/index.json
                $B copy oci:lay x:1; echo "index $?"
                for f in lay2/blobs/sha256/*; do rm $f; mkfifo $f; done
                $B copy oci:lay2 x:2; echo "blob $?"
                mkfifo since.tar; $B save --since since.tar a:1 >/dev/null; echo "since $?"
                for f in store2/blobs/sha256/*; do rm $f; mkfifo $f; done
                $B --root store2 export a:1 >/dev/null; echo "export $?"
                $B --root store2 verify >/dev/null; echo "verify $?"
                """, env: env, timeout: 30)
            #expect(run.out == "index 1\nblob 1\nsince 1\nexport 1\nverify 3\n", "\(run)")
            #expect(run.err.contains("lay/index.json: not a regular file (a FIFO)"), "\(run.err)")
            #expect(run.err.contains("since.tar: not a regular file (a FIFO)"), "\(run.err)")
        }
    }

    /// Class 8: a sha512 digest is refused as unsupported, not reported as corrupt content.
    @Test func sha512IsRefusedAsUnsupported() throws {
        try Self.withStore { dir, env in
            let hex = String(repeating: "0", count: 128)
            let run = try Self.sh("""
                cd '\(dir)'; mkdir -p l/blobs/sha512
                echo '{"imageLayoutVersion":"1.0.0"}' > l/oci-layout
                echo '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha512:\(hex)","size":2}]}' > l/index.json
                printf '{}' > l/blobs/sha512/\(hex)
                '\(Self.bale)' copy oci:l x:1
                """, env: env)
            #expect(run.status == 1, "\(run)")
            #expect(run.err.contains("sha512 digests are not supported"), "\(run.err)")
        }
    }

    /// Class 9: strings from input reach the terminal escaped: a newline cannot forge a line, an ESC
    /// cannot colour the screen, in tables and in error messages.
    @Test func inputIsEscapedBeforeItIsPrinted() throws {
        try Self.withStore { dir, env in
            let history = try Self.sh("""
                cd '\(dir)'; B='\(Self.bale)'
                $B import -m "$(printf 'hi\\033[31m\\nError: forged')" src e:1 >/dev/null
                $B history e:1
                """, env: env)
            #expect(history.status == 0, "\(history)")
            #expect(!history.out.contains("\u{1b}"))
            #expect(history.out.contains(#"hi\x1b[31m\nError: forged"#), "\(history.out)")
            #expect(!history.out.contains("\nError: forged"))
            // A docker-archive whose manifest names an invalid reference with a newline and an ESC.
            let load = try Self.sh("""
                cd '\(dir)'; mkdir t; cd t
                printf '[{"Config":"c.json","RepoTags":["a\\\\u001b[31m\\\\nError: forged"],"Layers":[]}]' > manifest.json
                printf '{}' > c.json; tar -cf ../bad.tar manifest.json c.json; cd ..
                '\(Self.bale)' load -i bad.tar
                """, env: env)
            #expect(load.status != 0, "\(load)")
            #expect(!load.err.contains("\u{1b}"), "\(load.err)")
            #expect(load.err.split(separator: "\n").filter { $0.hasPrefix("Error:") }.count == 1, "\(load.err)")
            #expect(load.err.contains(#"\nError: forged"#), "\(load.err)")
        }
    }

    /// Class 10: an empty root is a usage error, never `/`.
    @Test func anEmptyRootIsAUsageError() throws {
        try CLIRunner.withTemporaryDirectory { url in
            let flag = try Self.sh("cd '\(url.path)'; '\(Self.bale)' --root '' images")
            #expect(flag.status == 2, "\(flag)")
            #expect(flag.err.contains("--root must not be empty"))
            let env = try Self.sh("cd '\(url.path)'; BALE_ROOT= '\(Self.bale)' tag x y")
            #expect(env.status == 2, "\(env)")
            #expect(env.err.contains("the store root is empty"))
        }
    }

    /// Class 12: `--jobs -1` names the rule, not a missing value.
    @Test func negativeJobsSayWhatIsWrong() throws {
        let run = try Self.sh("'\(Self.bale)' images --jobs -1")
        #expect(run.status == 2)
        #expect(run.err.contains("--jobs must be a positive number"), "\(run.err)")
    }

    /// Class 12: export re-checks the layer digests it reads: a layer file swapped for another valid
    /// layer fails with the layer's digest, status 3, and leaves no tar and no directory.
    @Test func exportRefusesADamagedLayer() throws {
        try Self.withStore { dir, env in
            let run = try Self.sh("""
                cd '\(dir)'; B='\(Self.bale)'
                set -- $(for f in store/blobs/sha256/*; do [ "$(head -c2 $f | od -An -tx1 | tr -d ' ')" = 1f8b ] && echo $f; done)
                cp $1 t; cp $2 $1; cp t $2
                $B export -o out.tar a:1; echo "tar $?"; ls out.tar 2>/dev/null
                $B export --dir ed a:1; echo "dir $?"; ls ed 2>/dev/null
                $B export a:1 | wc -c
                """, env: env)
            #expect(run.out.replacingOccurrences(of: " ", with: "") == "tar3\ndir3\n0\n", "\(run)")
            // A gzip layer whose DiffID is checked is refused on its content (the inflated bytes are
            // hashed instead of the compressed ones); the message names the layer either way.
            #expect(run.err.contains("invalid diffID") || run.err.contains("content does not match its digest"), "\(run.err)")
        }
    }

    /// Class 12, an uncompressed layer (as docker save writes them): the same check on libarchive's
    /// own read path.
    @Test func exportRefusesADamagedPlainLayer() throws {
        try CLIRunner.withTemporaryDirectory { url in
            let run = try Self.sh("""
                set -e; cd '\(url.path)'; B='\(Self.bale)'; export BALE_ROOT="$PWD/store"
                mkdir a; echo one > a/f; tar -C a -cf l.tar f; mv l.tar a/
                d=$(sha256sum a/l.tar | cut -d' ' -f1)
                printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' $d > a/c.json
                printf '[{"Config":"c.json","RepoTags":["p:1"],"Layers":["l.tar"]}]' > a/manifest.json
                tar -C a -cf p.tar manifest.json c.json l.tar; $B load -i p.tar >/dev/null
                echo two > f; tar -cf other.tar f; cp other.tar store/blobs/sha256/$d
                set +e
                $B export -o out.tar p:1; echo "tar $?"; ls out.tar 2>/dev/null
                $B export --dir ed p:1; echo "dir $?"; ls ed 2>/dev/null
                true
                """)
            #expect(run.out == "tar 3\ndir 3\n", "\(run)")
            #expect(run.err.contains("content does not match its digest"), "\(run.err)")
        }
    }
}
