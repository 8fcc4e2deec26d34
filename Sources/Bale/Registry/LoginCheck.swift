import BaleCore

/// The check `bale login` makes before it saves a login: that the registry accepts the credential.
/// `Login.login` takes it as a parameter, so the command's logic is tested with a checker of the test's
/// own; this is the one the CLI passes.
public enum LoginCheck {
    /// Throws when the registry at `host` (`localhost:5000`, `docker.io`) refuses `credential` or cannot
    /// be reached; returns when it accepts it.
    public static func verify(host: String, credential: RegistryCredential, options: RegistryOptions) throws {
        // The registry HTTP client lands on another branch; at the merge this body becomes a call to
        // its authenticated ping (`GET /v2/` with the credential through Basic or the Bearer flow).
        throw BaleError(.unsupported, "\(host): login cannot check credentials yet: this build has no registry client")
    }
}
