import BaleCore
import Foundation

/// `oci:DIR[:REF]`: an OCI image layout directory.
public enum OCILayoutFormat: LocationFormat {
    public static let prefix = "oci"
    public static func source(path: String, reference: String?, context: LocationContext) throws -> any ImageSource {
        try OCILayoutSource(root: path, reference: reference)
    }
    public static func destination(path: String, reference: String?, context: LocationContext) throws -> any ImageDestination {
        try OCILayoutDestination(root: path, reference: reference)
    }
}
