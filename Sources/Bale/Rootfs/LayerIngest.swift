import BaleCore
import BaleIO
import Foundation

/// Where a layer's uncompressed tar comes from.
public enum LayerInput: Sendable {
    /// A tar file, compressed or not (gzip, bzip2, xz, lzma, zstd detected); stored verbatim.
    case file(String)
    /// A tar on standard input, as `.file`.
    case standardInput
    /// A directory, archived deterministically.
    case directory(String)
}

/// How a layer is compressed into the store.
public struct GzipSettings: Sendable {
    /// gzip level 1...9.
    public var level: Int
    /// Parallel deflate jobs.
    public var jobs: Int
    /// Progress callback: (uncompressed bytes, compressed bytes).
    public var progress: (@Sendable (Int64, Int64) -> Void)?

    /// The default level: `ParallelGzip.defaultLevel`.
    public static let defaultLevel = ParallelGzip.defaultLevel

    /// Level and jobs.
    public init(level: Int = 6, jobs: Int, progress: (@Sendable (Int64, Int64) -> Void)? = nil) {
        self.level = level
        self.jobs = jobs
        self.progress = progress
    }
}

/// A gzip layer blob written into a sink, and what its input showed.
struct IngestedLayer {
    var result: CompressionResult
    /// Newest member mtime in the layer (nil for an empty layer, or a whiteout-only one).
    var newest: TarTime?
}

/// Turns an uncompressed tar stream into a gzip layer blob in a `BlobSink` (the store, an OCI layout,
/// a staging directory) in one pass: read → `ParallelGzip`, which hashes input (the DiffID) and output
/// (the digest) → the sink's temp file → renamed to its digest.
struct LayerCompressor {
    let settings: GzipSettings
    let sink: any BlobSink

    /// Compresses what `read` (ByteSource semantics) gives. `tee` gets each block of input as
    /// `ParallelGzip.compress` reads it. `check` runs after the last byte and before the blob is renamed
    /// into place: a failure there leaves no blob.
    func compress(tee: ((ByteBlock) throws -> Void)? = nil, check: () throws -> Void = {},
                  read: (UnsafeMutableRawBufferPointer) throws -> Int) throws -> CompressionResult {
        var result: CompressionResult?
        _ = try sink.putProduced { output in
            var out = output
            let gzip = ParallelGzip(level: settings.level, jobs: settings.jobs)
            let compressed = try gzip.compress(read: read, write: { try out.write($0) }, tee: tee,
                                               progress: settings.progress)
            try check()
            result = compressed
            return (compressed.digest, compressed.compressedSize)
        }
        guard let result else { throw BaleError(.internal, "the layer compressor produced nothing") }
        return result
    }

    /// Compresses a tar file or stdin verbatim: decompressed (never re-serialised, so the DiffID is the
    /// SHA-256 of the decompressed input, as docker's import has it) and gzipped. A second thread parses
    /// the same bytes as tar on the way, which checks that the input is a tar and finds its newest mtime,
    /// without a second read: the compressor's input blocks go to it through a channel, uncopied.
    func compressTar(_ input: LayerInput) throws -> IngestedLayer {
        let name: String
        let fd: Int32
        switch input {
        case .file(let path):
            fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw BaleError.posix("cannot open", path: path) }
            name = path
        case .standardInput:
            fd = 0
            name = "<stdin>"
        case .directory:
            throw BaleError(.internal, "compressTar called for a directory")
        }
        defer { if fd != 0 { close(fd) } }
        let source = try DecompressingSource(source: FileDescriptorSource(fileDescriptor: fd, name: name), name: name)
        let channel = ByteChannel()
        let parser = BackgroundTask<TarTime?> {
            do {
                let reader = try TarReader(chunks: ChannelSource(channel: channel), name: name)
                var newest: TarTime?
                while let entry = try reader.next() { newest = max(newest ?? entry.mtime, entry.mtime) }
                // libarchive stops at the end-of-archive blocks; take (and drop) whatever follows.
                while try !channel.nextChunk().isEmpty {}
                return newest
            } catch {
                channel.cancel()
                throw error
            }
        }
        func joinParser() throws -> TarTime? {
            do {
                return try parser.join()
            } catch let error as BaleError where error.code == .invalidInput {
                throw BaleError(.invalidInput, "\(name) is not a tar archive: \(error.message)", cause: error)
            }
        }
        var newest: TarTime?
        let result: CompressionResult
        var sourceFailed = false
        do {
            result = try compress(tee: { try channel.send($0) }, check: {
                channel.finish()
                newest = try joinParser()
            }) { buffer in
                do {
                    return try source.read(into: buffer)
                } catch {
                    sourceFailed = true
                    throw error
                }
            }
        } catch {
            channel.fail(error)
            if sourceFailed {
                // The input itself is bad (a gzip CRC, a truncated xz): the parser only saw that failure
                // passed on through the channel, so its complaint would just repeat it, wrapped.
                _ = try? parser.join()
                throw error
            }
            // The parser's complaint (not a tar) explains a failure better than "reading side stopped".
            _ = try joinParser()
            throw error
        }
        return IngestedLayer(result: result, newest: newest)
    }

    /// Compresses a tar stream produced on a second thread by `produce` (a directory archiver, a
    /// differ), through a bounded channel into the compressor.
    func compressProduced(name: String, produce: @escaping @Sendable (TarWriter) throws -> TarTime?) throws -> IngestedLayer {
        let channel = ByteChannel()
        let producer = BackgroundTask<TarTime?> {
            do {
                let writer = try TarWriter(sink: ChannelSink(channel: channel), name: name)
                let newest = try produce(writer)
                try writer.finish()
                channel.finish()
                return newest
            } catch {
                channel.fail(error)
                throw error
            }
        }
        var newest: TarTime?
        let result: CompressionResult
        do {
            result = try compress(check: { newest = try producer.join() }) { try channel.read(into: $0) }
        } catch {
            channel.cancel()
            _ = try producer.join()     // the producer's own error, when it failed first
            throw error
        }
        return IngestedLayer(result: result, newest: newest)
    }
}
