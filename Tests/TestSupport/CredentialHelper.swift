import Foundation

/// Fake Docker credential helpers for tests: `docker-credential-test`, which keeps each server's
/// credential JSON in a file of its own directory (the protocol docker's helpers speak: `get` and
/// `erase` read the server URL on stdin, `store` reads `{"ServerURL","Username","Secret"}`; a server it
/// holds nothing for is "credentials not found in native keychain", status 1), and
/// `docker-credential-broken`, which always fails with "the keyring is locked". Each call's action is
/// appended to `<store>/calls`.
public enum CredentialHelper {
    /// Writes both helpers into `bin` (created if missing), keeping credentials under `store`.
    public static func install(bin: String, store: String) throws {
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
        let test = """
            #!/bin/sh
            key() { printf %s "$1" | tr '/:' '__'; }
            echo "$1" >> '\(store)/calls'
            case "$1" in
            get) read -r server; f='\(store)/'"$(key "$server")"
                 if [ -f "$f" ]; then cat "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
            store) cat > '\(store)/incoming'
                 server=$(sed -n 's/.*"ServerURL":"\\([^"]*\\)".*/\\1/p' '\(store)/incoming')
                 mv '\(store)/incoming' '\(store)/'"$(key "$server")" ;;
            erase) read -r server; rm -f '\(store)/'"$(key "$server")" ;;
            *) echo "unknown action $1" >&2; exit 1 ;;
            esac
            """
        let broken = "#!/bin/sh\necho 'the keyring is locked' >&2\nexit 1\n"
        for (name, script) in [("test", test), ("broken", broken)] {
            let path = bin + "/docker-credential-" + name
            try Data(script.utf8).write(to: URL(fileURLWithPath: path))
            chmod(path, 0o755)
        }
    }

    /// The file `docker-credential-test` keeps `server`'s credential in.
    public static func file(for server: String, store: String) -> String {
        store + "/" + server.replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: ":", with: "_")
    }
}
