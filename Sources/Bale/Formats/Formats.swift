/// Every kind of location bale reads or writes, one folder each beside this file. A format folder
/// uses the copy protocols (Copy/), BaleIO, BaleCore and Formats/Shared, never another format's folder
/// or the store's internals (only Formats/Store opens the store); the dependency test checks it.
public enum Formats {
    /// The one table from location prefixes to formats. A text with no known prefix is a store name.
    public static let all: [any LocationFormat.Type] = [
        StoreFormat.self, OCILayoutFormat.self, DockerArchiveFormat.self, OCIArchiveFormat.self, RootfsFormat.self,
        RegistryTreeFormat.self,
        RegistryFormat.self,
        DockerRootFormat.self, DockerDaemonFormat.self,
    ]

    /// The format of bare names.
    static let fallback: any LocationFormat.Type = StoreFormat.self
}
