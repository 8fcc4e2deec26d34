import BaleCore

/// Columns laid out like Go's tabwriter as docker configures it (min width 10, padding 3, spaces): each
/// cell but the last in a row is padded to its column's width. Cells are escaped (`DisplayText`) before
/// they are measured, so a name from an archive can neither break a row nor colour the screen.
public struct Table {
    private var rows: [[String]] = []

    public init(header: [String]? = nil) {
        if let header { append(header) }
    }

    /// Adds a row.
    public mutating func append(_ row: [String]) { rows.append(row.map { DisplayText.escaped($0) }) }

    /// The laid-out text, one line per row, each ending in a newline.
    public func render() -> String {
        let columns = rows.map(\.count).max() ?? 0
        var widths = [Int](repeating: 0, count: columns)
        for row in rows {
            for (i, cell) in row.enumerated() where i < row.count - 1 {
                widths[i] = max(widths[i], max(cell.count + 3, 10))
            }
        }
        var out = ""
        for row in rows {
            for (i, cell) in row.enumerated() {
                out += cell
                if i < row.count - 1 { out += String(repeating: " ", count: widths[i] - cell.count) }
            }
            out += "\n"
        }
        return out
    }
}
