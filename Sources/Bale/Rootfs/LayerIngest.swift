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

    /// Level and jobs.
    public init(level: Int = 6, jobs: Int, progress: (@Sendable (Int64, Int64) -> Void)? = nil) {
        self.level = level
        self.jobs = jobs
        self.progress = progress
    }
}

/// A gzip layer blob written into the store, and what its input showed.
struct IngestedLayer {
    var result: CompressionResult
    /// Newest member mtime in the layer (nil for an empty layer, or a whiteout-only one).
    var newest: TarTime?
}

extension Store {
    /// Compresses one uncompressed tar stream into a gzip layer blob (one pass: read → ParallelGzip,
    /// which hashes input and output → temp file under `ingest/` → rename to `blobs/sha256/<digest>`).
    /// `read` has ByteSource semantics. Callers hold the exclusive lock.
    /// `tee` gets each block of input as `ParallelGzip.compress` reads it. `check` runs after the last
    /// byte and before the blob is renamed into place: a failure there leaves no blob.
    func ingestGzipLayer(_ compression: GzipSettings, tee: ((ByteBlock) throws -> Void)? = nil,
                         check: () throws -> Void = {},
                         read: (UnsafeMutableRawBufferPointer) throws -> Int) throws -> CompressionResult {
        let file = try AtomicFile(directory: ingestDir)
        do {
            let gzip = ParallelGzip(level: compression.level, jobs: compression.jobs)
            let result = try gzip.compress(read: read, write: { try file.write($0) }, tee: tee,
                                           progress: compression.progress)
            try check()
            if hasBlob(result.digest) {
                file.discard()
            } else {
                try file.commit(to: blobPath(result.digest))
            }
            return result
        } catch {
            file.discard()
            throw error
        }
    }

    /// Ingests a tar file or stdin verbatim: decompressed (never re-serialised, so the DiffID is the
    /// SHA-256 of the decompressed input, as docker's import has it) and gzipped. A second thread parses
    /// the same bytes as tar on the way, which checks that the input is a tar and finds its newest mtime,
    /// without a second read: the compressor's input blocks go to it through a channel, uncopied.
    func ingestTarFile(_ input: LayerInput, compression: GzipSettings) throws -> IngestedLayer {
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
            throw BaleError(.internal, "ingestTarFile called for a directory")
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
            result = try ingestGzipLayer(compression, tee: { try channel.send($0) }, check: {
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

    /// Ingests a tar stream produced on a second thread by `produce` (a directory archiver, a differ),
    /// through a bounded channel into the compressor.
    func ingestProduced(compression: GzipSettings, name: String,
                        produce: @escaping @Sendable (TarWriter) throws -> TarTime?) throws -> IngestedLayer {
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
            result = try ingestGzipLayer(compression, check: { newest = try producer.join() }) {
                try channel.read(into: $0)
            }
        } catch {
            channel.cancel()
            _ = try producer.join()     // the producer's own error, when it failed first
            throw error
        }
        return IngestedLayer(result: result, newest: newest)
    }
}
