/// Columns laid out like Go's tabwriter as docker configures it (min width 10, padding 3, spaces): each
/// cell but the last in a row is padded to its column's width.
public struct Table {
    private var rows: [[String]] = []

    public init(header: [String]? = nil) {
        if let header { rows.append(header) }
    }

    /// Adds a row.
    public mutating func append(_ row: [String]) { rows.append(row) }

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
