import Bale
import BaleCore
import Foundation
import Testing

/// `Store.load` and `Store.save`: what the commands print is decided here, without a process.
@Suite struct LoadSaveOperationsTests {
    @Test func loadSaysWhichNameMovedAndWhatItLoadedAsDockerDoes() throws {
        let a = try StoreFixture()
        let saved = try a.image(layers: [Data("one".utf8)], names: ["app:1"])
        let untagged = try a.image(layers: [Data("two".utf8)], created: "2024-06-01T00:00:00Z")
        let tar = a.root + "-save.tar"
        defer { try? FileManager.default.removeItem(atPath: tar) }
        try a.store.save(["app:1", untagged.id.string], to: tar, format: .docker, compression: .none,
                         options: CopyOptions())

        let b = try StoreFixture()
        let old = try b.image(layers: [Data("old".utf8)], names: ["app:1"])
        let report = try b.store.load(archive: tar, options: CopyOptions())
        #expect(report.lines == [
            "The image app:1 already exists, renaming the old one with ID \(old.id) to empty string",
            "Loaded image: app:1",
            "Loaded image ID: \(untagged.id)",
        ])
        #expect(report.loaded.map(\.id) == [saved.id, untagged.id])
    }

    @Test func saveWithoutNamesAndAsOCI() throws {
        let a = try StoreFixture()
        try a.image(layers: [Data("one".utf8)], names: ["app:1"])
        let tar = a.root + "-save.tar"
        defer { try? FileManager.default.removeItem(atPath: tar) }
        var options = CopyOptions()
        options.names = .none
        try a.store.save(["app:1"], to: tar, format: .oci, compression: .gzip, options: options)
        let b = try StoreFixture()
        let report = try b.store.load(archive: tar, options: CopyOptions())
        #expect(report.loaded.count == 1 && report.loaded[0].names.isEmpty)
        #expect(report.lines.count == 1 && report.lines[0].hasPrefix("Loaded image ID: sha256:"))
    }
}
