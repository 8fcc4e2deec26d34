import Foundation

/// Docker's human-readable sizes and durations (docker/go-units), so bale's listings read the same.
public enum Humanize {
    /// `HumanSizeWithPrecision(size, 3)`: `%.3g` and a decimal unit, e.g. `4.26MB`, `0B`, `1e+03kB`.
    public static func size(_ bytes: Int64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1000, unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return String(format: "%.3g", value) + units[unit]
    }

    /// `HumanDuration`: `Less than a second`, `About a minute`, `3 weeks`…
    public static func duration(_ interval: TimeInterval) -> String {
        let seconds = Int(interval)
        if seconds < 1 { return "Less than a second" }
        if seconds == 1 { return "1 second" }
        if seconds < 60 { return "\(seconds) seconds" }
        let minutes = Int(interval / 60)
        if minutes == 1 { return "About a minute" }
        if minutes < 60 { return "\(minutes) minutes" }
        let hours = Int(interval / 3600 + 0.5)
        if hours == 1 { return "About an hour" }
        if hours < 48 { return "\(hours) hours" }
        if hours < 24 * 7 * 2 { return "\(hours / 24) days" }
        if hours < 24 * 30 * 2 { return "\(hours / 24 / 7) weeks" }
        if hours < 24 * 365 * 2 { return "\(hours / 24 / 30) months" }
        return "\(Int(interval / 3600 / 24 / 365)) years"
    }

    /// `N units ago`, from a creation date.
    public static func ago(_ date: Date, now: Date = Date()) -> String {
        duration(now.timeIntervalSince(date)) + " ago"
    }

    /// Go's `time.Time.String()` in UTC: `2024-05-01 10:00:00 +0000 UTC`.
    public static func timestamp(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return f.string(from: date) + " +0000 UTC"
    }

    /// Docker's `Ellipsis`: at most `max` characters, the last one `…` when cut.
    public static func ellipsis(_ s: String, _ max: Int) -> String {
        s.count <= max ? s : String(s.prefix(max - 1)) + "…"
    }
}
