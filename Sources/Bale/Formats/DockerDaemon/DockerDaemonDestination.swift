import BaleCore
import BaleIO
import Foundation

/// The upload behind a `docker-daemon:` destination: the docker-archive that `ArchiveDestination`
/// writes goes, as it is written, into a bounded channel that a second thread sends as the body of
/// `POST /images/load`. Memory stays bounded (the channel's 4 MiB and one chunk in flight), and no
/// archive is staged on disk.
///
/// The engine loads nothing before it has read the whole tar, so the destination is atomic as docker
/// makes it: `commit` ends the body and waits for the engine's verdict; `discard` breaks the body off,
/// which the engine sees as a failed load.
final class EngineUpload: CommittableSink, @unchecked Sendable {
    // Sendable: `channel` is thread-safe; `task` is set in init and only joined afterwards.
    private let channel = ByteChannel(capacity: 4 << 20)
    private var task: BackgroundTask<Void>?
    private var finished = false

    init(engine: DockerEngine) {
        let channel = self.channel
        task = BackgroundTask {
            do {
                try engine.load(ChannelBlobReader(channel: channel))
            } catch {
                // Writes now throw the engine's error instead of waiting for a reader that left.
                channel.fail(error)
                throw error
            }
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws { try channel.write(bytes) }

    func commit() throws {
        guard !finished else { return }
        finished = true
        channel.finish()
        try task?.join()
    }

    func discard() {
        guard !finished else { return }
        finished = true
        channel.fail(BaleError(.interrupted, "the copy was abandoned"))
        _ = try? task?.join()
    }
}

/// The reading end of the channel, as the request body.
private final class ChannelBlobReader: BlobReader {
    let channel: ByteChannel
    init(channel: ByteChannel) { self.channel = channel }
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int { try channel.read(into: buffer) }
    func close() {}
}
