import ArgumentParser
import Bale

/// `--docker-host`, for the commands that may reach a Docker engine (`docker-daemon:` locations).
struct DockerHostFlag: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The Docker engine docker-daemon: locations talk to, unix:///PATH (default: $DOCKER_HOST, else unix:///var/run/docker.sock); needs permission to use the socket.", valueName: "host"))
    var dockerHost: String?

    /// `context` with this engine.
    func applied(to context: LocationContext) -> LocationContext {
        var context = context
        if let dockerHost { context.dockerHost = dockerHost }
        return context
    }
}
