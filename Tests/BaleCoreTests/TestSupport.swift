import Foundation

/// A digest string made of one repeated hex character, for fixtures.
func sha256(_ c: Character) -> String { "sha256:" + String(repeating: c, count: 64) }

/// UTF-8 bytes of a JSON fixture.
func bytes(_ json: String) -> Data { Data(json.utf8) }
