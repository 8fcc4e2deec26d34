import BaleCore
import Foundation

/// `NAME` or `store:NAME`: the local store.
public enum StoreFormat: LocationFormat {
    public static let prefix = "store"
    public static let hasPath = false
    public static let referenceIsName = true
    public static func source(path: String, reference: String?, context: LocationContext) throws -> any ImageSource {
        guard let reference else { throw BaleError(.usage, "store: name an image") }
        return try StoreSource(store: context.store(), selecting: [reference])
    }
    public static func destination(path: String, reference: String?, context: LocationContext) throws -> any ImageDestination {
        if let reference { _ = try Reference(parsing: reference) }
        return try StoreDestination(store: context.store())
    }
}
