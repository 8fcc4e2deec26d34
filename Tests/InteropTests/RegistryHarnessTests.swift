import Foundation
import Testing
import TestSupport

/// The test registry itself starts, answers the API and logs requests (so that the registry tests'
/// assertions on its log can fail for the right reason).
@Suite struct RegistryHarnessTests {
    @Test func registryStartsAnswersAndLogsRequests() throws {
        try Registry.with { registry in
            let curl = try Harness.requirePeer("curl")
            let r = try Harness.run(curl, ["-s", "http://\(registry.host)/v2/_catalog"])
            #expect(r.succeeded)
            #expect(r.out.contains("\"repositories\":[]"), "\(r.out)")
            #expect(registry.requests("GET", "/v2/_catalog").count == 1, "\(registry.log)")
        }
    }
}
