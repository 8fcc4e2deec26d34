import BaleCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One row of `images`: an image under one of its names (or none).
public struct ImageRow: Sendable {
    public let image: StoredImage
    /// nil for an untagged image's single row.
    public let name: Reference?
}

/// docker's `images` filters (`--filter K=V`, FORMATS.md section 8): dangling, label, before, since,
/// reference, until. A positional `REPO[:TAG]` acts as a reference filter.
public struct ImageFilter: Sendable {
    var dangling: Bool?
    var labels: [(key: String, value: String?)] = []
    var before: [String] = []
    var since: [String] = []
    var references: [String] = []
    var until: [Date] = []

    /// `KEY=VALUE` split at the first `=`, the key lowercased (docker's `--filter` form, also `search`'s).
    static func split(_ argument: String) throws -> (key: String, value: String) {
        guard let eq = argument.firstIndex(of: "=") else {
            throw BaleError(.usage, "bad format of filter \"\(argument)\": expected KEY=VALUE")
        }
        return (argument[..<eq].lowercased(), String(argument[argument.index(after: eq)...]))
    }

    /// A `label=` filter's value: `KEY` or `KEY=VALUE`.
    static func label(_ value: String) -> (key: String, value: String?) {
        guard let e = value.firstIndex(of: "=") else { return (value, nil) }
        return (String(value[..<e]), String(value[value.index(after: e)...]))
    }

    /// Parses `KEY=VALUE` filters; unknown keys and bad values are usage errors.
    public init(_ arguments: [String]) throws {
        for argument in arguments {
            let (key, value) = try Self.split(argument)
            switch key {
            case "dangling":
                switch value.lowercased() {
                case "true", "1": dangling = true
                case "false", "0": dangling = false
                default: throw BaleError(.usage, "invalid filter 'dangling=\(value)': expected true or false")
                }
            case "label": labels.append(Self.label(value))
            case "before": before.append(value)
            case "since": since.append(value)
            case "reference": references.append(value)
            case "until":
                guard let date = Self.parseTime(value) else {
                    throw BaleError(.usage, "invalid filter 'until=\(value)': expected a timestamp or a duration like 24h")
                }
                until.append(date)
            default:
                throw BaleError(.usage, "invalid filter '\(key)'")
            }
        }
    }

    /// RFC 3339 time, Unix seconds, or a Go duration before now (`10m`, `24h`, `1h30m`).
    static func parseTime(_ s: String, now: Date = Date()) -> Date? {
        if let d = RFC3339.parse(s) { return d }
        if let secs = Double(s) { return Date(timeIntervalSince1970: secs) }
        var total = 0.0
        var number = ""
        for c in s {
            if c.isNumber || c == "." { number.append(c); continue }
            guard let n = Double(number) else { return nil }
            switch c {
            case "h": total += n * 3600
            case "m": total += n * 60
            case "s": total += n
            default: return nil
            }
            number = ""
        }
        return number.isEmpty && total > 0 ? now.addingTimeInterval(-total) : nil
    }

    /// The rows that pass every filter, sorted newest first (then by name), as docker sorts them.
    public func rows(of images: [StoredImage], resolve: (String) throws -> StoredImage) throws -> [ImageRow] {
        let beforeDates = try before.map { try resolve($0).created }
        let sinceDates = try since.map { try resolve($0).created }
        // docker keeps one image per ID: an unnamed manifest whose config a named image has (the form
        // a load moved the name off, e.g. a registry's before a `docker save`'s) is that image, not a
        // `<none>` one, so it is not listed; `prune -a` still removes it.
        let namedIDs = Set(images.filter { !$0.names.isEmpty }.map(\.id))
        var rows: [ImageRow] = []
        for image in images {
            if image.names.isEmpty, namedIDs.contains(image.id) { continue }
            if let dangling, dangling != image.names.isEmpty { continue }
            if let limit = beforeDates.min(), !(image.created < limit) { continue }
            if let limit = sinceDates.max(), !(image.created > limit) { continue }
            if let limit = until.min(), !(image.created < limit) { continue }
            let imageLabels = image.config.value.config?.labels ?? [:]
            if !labels.allSatisfy({ l in imageLabels[l.key].map { v in l.value.map { $0 == v } ?? true } ?? false }) {
                continue
            }
            let names: [Reference?] = image.names.isEmpty ? [nil] : image.names
            for name in names {
                if !references.isEmpty {
                    guard let name, references.contains(where: { Self.matches(pattern: $0, name) }) else { continue }
                }
                rows.append(ImageRow(image: image, name: name))
            }
        }
        return rows.sorted {
            if $0.image.created != $1.image.created { return $0.image.created > $1.image.created }
            return ($0.name?.string ?? "~") < ($1.name?.string ?? "~")
        }
    }

    /// docker's reference filter: `path.Match` against familiar `name:tag`, familiar name, full
    /// `name:tag` and full name. fnmatch with FNM_PATHNAME has path.Match's rules (`*` stops at `/`).
    static func matches(pattern: String, _ name: Reference) -> Bool {
        let tagged = name.tag.map { ":" + $0 } ?? ""
        let candidates = [name.familiarName + tagged, name.familiarName, name.name + tagged, name.name]
        return candidates.contains { fnmatch(pattern, $0, FNM_PATHNAME) == 0 }
    }
}
