import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Rows of a 2-D float `.npy` file, read on demand with one `pread` per row: workers pick the
/// rows of their unit, the coordinator the rows a lease holder asks for and the rows behind its
/// bank entries, and none loads (or copies) a whole feature file. Reading through the open file
/// rather than a memory mapping means a file truncated underneath gives a short read (the row
/// is missing, an error the callers name), never a `SIGBUS` that would kill the process.
public final class NPYRowReader: @unchecked Sendable {
    public let path: String
    public let rows: Int
    public let cols: Int
    private let dtype: NPYArray.DType
    private let descriptor: Int32
    /// Where the data start in the file.
    private let dataOffset: Int

    public init(path: String) throws(NPYError) {
        let header = try NPYFile.readHeader(path)
        guard header.shape.count == 2 else { throw .unsupportedRank(path: path, shape: header.shape) }
        // Non-blocking, so a FIFO swapped in since the header was read cannot hang the open;
        // anything but a regular file is refused.
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw .unreadable(path: path, reason: "not a regular file")
        }
        guard Int(info.st_size) - header.dataOffset >= header.dataBytes else {
            close(fd)
            throw .truncated(path: path, expectedBytes: header.dataBytes, foundBytes: max(0, Int(info.st_size) - header.dataOffset))
        }
        // Every dtype the reader parses is converted by `DType.convert`, the conversion
        // `score-features` reads through: float16 feature files score in jobs as they do there.
        self.path = path
        descriptor = fd
        dataOffset = header.dataOffset
        dtype = header.dtype
        rows = header.shape[0]
        cols = header.shape[1]
    }

    deinit { close(descriptor) }

    /// Reads row `index`'s bytes as stored into `out` (`cols × dtype.byteWidth` bytes); false
    /// on a short read (the file shrank since it was opened) or an I/O error.
    private func readStored(_ index: Int, into out: UnsafeMutableRawBufferPointer) -> Bool {
        let width = cols * dtype.byteWidth
        var done = 0
        while done < width {
            let n = pread(descriptor, out.baseAddress! + done, width - done, off_t(dataOffset + index * width + done))
            if n > 0 {
                done += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return false
            }
        }
        return true
    }

    /// Copies row `index` into `out` (length `cols`); false if the row does not exist or
    /// cannot be read.
    @discardableResult
    public func copyRow(_ index: Int, into out: UnsafeMutableBufferPointer<Float>) -> Bool {
        guard index >= 0, index < rows, out.count >= cols, cols > 0 else { return false }
        let row = UnsafeMutableBufferPointer(rebasing: out[0..<cols])
        let stored = UnsafeMutableRawBufferPointer.allocate(byteCount: cols * dtype.byteWidth, alignment: 8)
        defer { stored.deallocate() }
        guard readStored(index, into: stored) else { return false }
        dtype.convert(UnsafeRawBufferPointer(stored), first: 0, into: row)
        return true
    }

    /// Row `index` as little-endian float32 bytes into `out` (`cols × 4` bytes): a float32
    /// file's bytes are read straight into `out` (no conversion per value); other types go
    /// through `DType.convert`, as `copyRow` does. False if the row does not exist or cannot be
    /// read. The coordinator serves a leased unit's rows this way (`GET /v1/units/{unit}/rows`).
    @discardableResult
    public func copyRowBytes(_ index: Int, into out: UnsafeMutableRawBufferPointer) -> Bool {
        guard index >= 0, index < rows, out.count >= cols * 4, cols > 0 else { return false }
        if dtype == .float32 { return readStored(index, into: UnsafeMutableRawBufferPointer(rebasing: out[0..<cols * 4])) }
        var row = [Float](repeating: 0, count: cols)
        guard row.withUnsafeMutableBufferPointer({ copyRow(index, into: $0) }) else { return false }
        for (i, v) in row.enumerated() { out.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: i * 4, as: UInt32.self) }
        return true
    }

    /// Row `index` as a new array, or nil if it does not exist.
    public func row(_ index: Int) -> [Float]? {
        var out = [Float](repeating: 0, count: cols)
        let ok = out.withUnsafeMutableBufferPointer { copyRow(index, into: $0) }
        return ok ? out : nil
    }
}
