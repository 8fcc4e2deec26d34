@testable import Bale
import BaleCore
import Foundation
import Testing

@Suite struct ImageFilterTests {
    func fixture() throws -> (StoreFixture, [StoredImage]) {
        let f = try StoreFixture()
        try f.image(layers: [Data("1".utf8)], created: "2020-01-01T00:00:00Z", labels: ["tier": "db"], names: ["old:1"])
        try f.image(layers: [Data("2".utf8)], created: "2022-01-01T00:00:00Z", labels: ["tier": "web"], names: ["mid:1", "localhost:5000/team/mid:1"])
        try f.image(layers: [Data("3".utf8)], created: "2024-01-01T00:00:00Z", names: ["new:1"])
        try f.image(layers: [Data("4".utf8)], created: "2023-01-01T00:00:00Z")
        return (f, try f.store.images().images)
    }

    func names(_ filters: [String]) throws -> [String] {
        let (f, images) = try fixture()
        return try ImageFilter(filters).rows(of: images) { try f.store.resolve($0, in: images) }
            .map { $0.name?.familiar ?? "<none>" }
    }

    @Test func noFilterListsEveryNameNewestFirst() throws {
        #expect(try names([]) == ["new:1", "<none>", "mid:1", "localhost:5000/team/mid:1", "old:1"])
    }

    @Test func dangling() throws {
        #expect(try names(["dangling=true"]) == ["<none>"])
        #expect(try names(["dangling=false"]).count == 4)
    }

    @Test func labels() throws {
        #expect(try names(["label=tier"]) == ["mid:1", "localhost:5000/team/mid:1", "old:1"])
        #expect(try names(["label=tier=db"]) == ["old:1"])
    }

    @Test func beforeAndSince() throws {
        #expect(try names(["before=mid:1"]) == ["old:1"])
        #expect(try names(["since=mid:1"]) == ["new:1", "<none>"])
    }

    @Test func referenceGlobs() throws {
        #expect(try names(["reference=mid"]) == ["mid:1"])
        #expect(try names(["reference=*:1"]) == ["new:1", "mid:1", "old:1"])
        #expect(try names(["reference=localhost:5000/*/*"]) == ["localhost:5000/team/mid:1"])
        #expect(try names(["reference=docker.io/library/old"]) == ["old:1"])
    }

    @Test func badFiltersAreUsageErrors() {
        for bad in ["nokey", "color=red", "dangling=maybe", "until=soon"] {
            #expect(throws: BaleError.self) { try ImageFilter([bad]) }
        }
    }
}
