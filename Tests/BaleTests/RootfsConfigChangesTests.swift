@testable import Bale
import BaleCore
import Foundation
import Testing

@Suite struct RootfsConfigChangesTests {
    /// Applies changes to an empty config and returns the canonical JSON of the result.
    static func apply(_ changes: [String], to start: JSONValue = .object([:])) throws -> String {
        String(decoding: try JSON.canonical(try ConfigChanges.apply(changes, to: start)), as: UTF8.self)
    }

    static let cases: [([String], String)] = [
        (["CMD echo hi"], #"{"Cmd":["/bin/sh","-c","echo hi"]}"#),
        (["cmd [\"/bin/app\", \"--serve\"]"], #"{"Cmd":["/bin/app","--serve"]}"#),
        (["CMD [not json"], #"{"Cmd":["/bin/sh","-c","[not json"]}"#),
        (["ENTRYPOINT [\"/app\"]"], #"{"Entrypoint":["/app"]}"#),
        (["ENTRYPOINT /app -x"], #"{"Entrypoint":["/bin/sh","-c","/app -x"]}"#),
        (["CMD [\"a\"]", "ENTRYPOINT [\"/e\"]"], #"{"Cmd":["a"],"Entrypoint":["/e"]}"#),
        (["ENV A=1 B=\"x y\" C='$A'"], #"{"Env":["A=1","B=x y","C=$A"]}"#),
        (["ENV A 1 2  3"], #"{"Env":["A=1 2  3"]}"#),
        (["ENV A=1", "ENV B=$A-${A}-${Z:-d}-${A:+s}", "ENV A=2"], #"{"Env":["A=2","B=1-1-d-s"]}"#),
        (["ENV P=a\\ b"], #"{"Env":["P=a b"]}"#),
        (["EXPOSE 80 53/udp 8000-8001"], #"{"ExposedPorts":{"53/udp":{},"80/tcp":{},"8000/tcp":{},"8001/tcp":{}}}"#),
        (["LABEL a=b \"c d\"=\"e f\"", "LABEL x y z"], #"{"Labels":{"a":"b","c d":"e f","x":"y z"}}"#),
        (["VOLUME /a /b"], #"{"Volumes":{"/a":{},"/b":{}}}"#),
        (["VOLUME [\"/data\"]"], #"{"Volumes":{"/data":{}}}"#),
        (["USER app:staff"], #"{"User":"app:staff"}"#),
        (["WORKDIR /srv", "WORKDIR app", "WORKDIR ../x"], #"{"WorkingDir":"/srv/x"}"#),
        (["WORKDIR rel"], #"{"WorkingDir":"/rel"}"#),
        (["STOPSIGNAL SIGKILL"], #"{"StopSignal":"SIGKILL"}"#),
        (["STOPSIGNAL 9"], #"{"StopSignal":"9"}"#),
        (["ONBUILD RUN make  install"], #"{"OnBuild":["RUN make  install"]}"#),
        (["HEALTHCHECK NONE"], #"{"Healthcheck":{"Test":["NONE"]}}"#),
        (["HEALTHCHECK --interval=1m30s --timeout=5s --start-period=1.5s --start-interval=100ms --retries=3 CMD curl -f http://x/"],
         #"{"Healthcheck":{"Interval":90000000000,"Retries":3,"StartInterval":100000000,"StartPeriod":1500000000,"Test":["CMD-SHELL","curl -f http://x/"],"Timeout":5000000000}}"#),
        (["HEALTHCHECK CMD [\"/check\", \"-q\"]"], #"{"Healthcheck":{"Test":["CMD","/check","-q"]}}"#),
        (["# a comment", "", "ENV A=1 \\\n  B=2"], #"{"Env":["A=1","B=2"]}"#),
    ]

    @Test(arguments: cases)
    func appliesLikeDocker(changes: [String], expected: String) throws {
        #expect(try Self.apply(changes) == expected)
    }

    @Test func entrypointClearsAnInheritedCmdAndKeepsOtherFields() throws {
        let base: JSONValue = .object(["Cmd": .strings(["old"]), "Hostname": .string("h"), "Env": .strings(["A=0"])])
        #expect(try Self.apply(["ENTRYPOINT /x", "ENV A=1"], to: base)
                == #"{"Entrypoint":["/bin/sh","-c","/x"],"Env":["A=1"],"Hostname":"h"}"#)
    }

    static let errors: [(String, String)] = [
        ("RUN make", "run is not a valid change command"),
        ("FROM x", "from is not a valid change command"),
        ("ENV", "ENV requires at least one argument"),
        ("ENV A", "ENV must have two arguments"),
        ("ENV A=1 B", "Syntax error - can't find = in \"B\". Must be of the form: name=value"),
        ("EXPOSE", "EXPOSE requires at least one argument"),
        ("EXPOSE 70000", "Invalid containerPort: 70000"),
        ("USER a b", "USER requires exactly one argument"),
        ("STOPSIGNAL SIGNOPE", "Invalid signal: SIGNOPE"),
        ("HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments"),
        ("HEALTHCHECK --interval=1 CMD x", "time: missing unit in duration \"1\""),
        ("HEALTHCHECK --interval=1ns CMD x", "Interval \"interval\" cannot be less than 1ms"),
        ("HEALTHCHECK --retries=-1 CMD x", "--retries cannot be negative (-1)"),
        ("HEALTHCHECK --bogus=1 CMD x", "Unknown flag: bogus"),
        ("HEALTHCHECK FOO x", "Unknown type \"FOO\" in HEALTHCHECK (try CMD)"),
        ("HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD"),
        ("ONBUILD ONBUILD RUN x", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
        ("VOLUME [\"\"]", "VOLUME specified can not be an empty string"),
        ("USER --x=1 a", "Unknown flag: x"),
    ]

    @Test(arguments: errors)
    func refusesLikeDocker(change: String, message: String) {
        #expect {
            _ = try Self.apply([change])
        } throws: { ($0 as? BaleError)?.message == message && ($0 as? BaleError)?.code == .usage }
    }

    @Test func aBadInstructionAnywhereAppliesNothing() {
        #expect(throws: BaleError.self) { _ = try Self.apply(["ENV A=1", "RUN x"]) }
    }

    static let durations: [(String, Int64)] = [
        ("0", 0), ("30s", 30_000_000_000), ("1m30s", 90_000_000_000), ("1.5h", 5_400_000_000_000),
        ("250ms", 250_000_000), ("10us", 10_000), ("10µs", 10_000), ("7ns", 7), ("-2s", -2_000_000_000),
    ]

    @Test(arguments: durations)
    func goDurations(text: String, nanoseconds: Int64) throws {
        #expect(try ConfigChanges.goDuration(text) == nanoseconds)
    }

    @Test(arguments: ["", "s", "1", "1x", "1.s.", "--1s"])
    func badGoDurations(text: String) {
        #expect(throws: BaleError.self) { _ = try ConfigChanges.goDuration(text) }
    }
}
