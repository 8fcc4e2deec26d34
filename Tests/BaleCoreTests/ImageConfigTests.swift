import Foundation
import Testing
@testable import BaleCore

// Shaped like `docker inspect`-era configs written by the classic builder and by BuildKit.
private let dockerConfig = """
{
  "architecture": "amd64",
  "config": {
    "Hostname": "",
    "User": "nobody",
    "ExposedPorts": { "80/tcp": {}, "443/tcp": {} },
    "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "NGINX_VERSION=1.25.3"],
    "Cmd": ["nginx", "-g", "daemon off;"],
    "Entrypoint": ["/docker-entrypoint.sh"],
    "Volumes": { "/var/cache/nginx": {} },
    "WorkingDir": "/srv",
    "Labels": { "maintainer": "NGINX Docker Maintainers" },
    "StopSignal": "SIGQUIT",
    "Healthcheck": { "Test": ["CMD-SHELL", "curl -f http://localhost/"], "Interval": 30000000000,
                     "Timeout": 5000000000, "Retries": 3 },
    "ArgsEscaped": true,
    "OnBuild": null
  },
  "container": "a1b2c3",
  "created": "2023-11-22T02:44:55.123456789Z",
  "docker_version": "20.10.23",
  "history": [
    { "created": "2023-11-21T05:21:24Z", "created_by": "/bin/sh -c #(nop) ADD file:abc in / " },
    { "created": "2023-11-21T05:21:24Z", "created_by": "/bin/sh -c #(nop)  CMD [\\"bash\\"]", "empty_layer": true },
    { "created": "2023-11-22T02:44:55Z", "created_by": "RUN /bin/sh -c apt-get update # buildkit",
      "comment": "buildkit.dockerfile.v0" }
  ],
  "os": "linux",
  "rootfs": { "type": "layers", "diff_ids": ["\(sha256("1"))", "\(sha256("2"))"] }
}
"""

@Suite("ImageConfig")
struct ImageConfigTests {
    @Test("decodes a realistic Docker config")
    func decodes() throws {
        let c = try JSON.decode(ImageConfig.self, from: bytes(dockerConfig), what: "config")
        #expect(c.architecture == "amd64")
        #expect(c.os == "linux")
        #expect(c.platform.description == "linux/amd64")
        #expect(c.dockerVersion == "20.10.23")
        #expect(c.rootfs.type == "layers")
        #expect(c.rootfs.diffIDs.map(\.string) == [sha256("1"), sha256("2")])
        #expect(c.history?.count == 3)
        #expect(c.history?[1].emptyLayer == true)
        #expect(c.history?[2].comment == "buildkit.dockerfile.v0")
        let cfg = try #require(c.config)
        #expect(cfg.user == "nobody")
        #expect(cfg.exposedPorts?.keys.sorted() == ["443/tcp", "80/tcp"])
        #expect(cfg.env?.count == 2)
        #expect(cfg.cmd == ["nginx", "-g", "daemon off;"])
        #expect(cfg.entrypoint == ["/docker-entrypoint.sh"])
        #expect(cfg.volumes?.keys.sorted() == ["/var/cache/nginx"])
        #expect(cfg.workingDir == "/srv")
        #expect(cfg.labels == ["maintainer": "NGINX Docker Maintainers"])
        #expect(cfg.stopSignal == "SIGQUIT")
        #expect(cfg.healthcheck?.interval == 30_000_000_000)
        #expect(cfg.healthcheck?.retries == 3)
        #expect(cfg.argsEscaped == true)
        #expect(cfg.onBuild == nil)
        let expected = Date(timeIntervalSince1970: 1_700_621_095.123456789)
        #expect(abs(c.createdDate.timeIntervalSince(expected)) < 1e-6)
    }

    @Test("decodes a minimal OCI config with variant and os.version")
    func minimal() throws {
        let json = #"{"architecture":"arm64","os":"linux","variant":"v8","os.version":"6.1","rootfs":{"type":"layers","diff_ids":[]}}"#
        let c = try JSON.decode(ImageConfig.self, from: bytes(json), what: "config")
        #expect(c.platform.description == "linux/arm64/v8")
        #expect(c.platform.osVersion == "6.1")
        #expect(c.rootfs.diffIDs.isEmpty)
        #expect(c.config == nil && c.history == nil)
        // No creation time counts as the epoch.
        #expect(c.createdDate == Date(timeIntervalSince1970: 0))
    }

    @Test("rootfs.type other than layers is refused")
    func rootfsType() throws {
        let json = dockerConfig.replacingOccurrences(of: #""type": "layers""#, with: #""type": "snapshot""#)
        let error = try #require(throws: BaleError.self) {
            try JSON.decode(ImageConfig.self, from: bytes(json), what: "config sha256:cc")
        }
        #expect(error.code == .invalidInput)
        #expect(error.message.hasPrefix("config sha256:cc: invalid JSON: "))
        #expect(error.message.contains("rootfs.type \"snapshot\", expected \"layers\""))
    }

    @Test("a config without rootfs is refused")
    func noRootfs() throws {
        let error = try #require(throws: BaleError.self) {
            try JSON.decode(ImageConfig.self, from: bytes(#"{"architecture":"amd64","os":"linux"}"#), what: "config")
        }
        #expect(error.message == "config: invalid JSON: missing field \"rootfs\"")
    }

    @Test("a bad DiffID is refused")
    func badDiffID() {
        let json = dockerConfig.replacingOccurrences(of: sha256("2"), with: "sha256:1234")
        #expect(throws: BaleError.self) { try JSON.decode(ImageConfig.self, from: bytes(json), what: "config") }
    }

    @Test("an unparsable created time counts as the epoch")
    func badCreated() throws {
        var c = ImageConfig(architecture: "amd64", os: "linux", rootfs: .init(diffIDs: []))
        c.created = "last tuesday"
        #expect(c.createdDate == Date(timeIntervalSince1970: 0))
        c.created = "2024-01-02T03:04:05Z"
        #expect(c.createdDate == Date(timeIntervalSince1970: 1_704_164_645))
    }

    @Test("encodes Docker's field names; empty objects stay objects")
    func encodes() throws {
        var cfg = ContainerConfig()
        cfg.exposedPorts = ["80/tcp": EmptyObject()]
        cfg.cmd = ["sh"]
        var c = ImageConfig(architecture: "amd64", os: "linux", rootfs: .init(diffIDs: [try Digest(parsing: sha256("1"))]))
        c.config = cfg
        c.osVersion = "1"
        let text = String(decoding: try JSON.canonical(c), as: UTF8.self)
        #expect(text == """
            {"architecture":"amd64","config":{"Cmd":["sh"],"ExposedPorts":{"80\\/tcp":{}}},"os":"linux",\
            "os.version":"1","rootfs":{"diff_ids":["\(sha256("1"))"],"type":"layers"}}
            """.replacingOccurrences(of: "\\/", with: "/"))
        #expect(try JSON.decode(ImageConfig.self, from: JSON.canonical(c), what: "c") == c)
    }
}
