/// CLIP's image preprocessing exactly as OpenAI CLIP and OpenOOD run it with torchvision on a
/// Pillow image: `Resize(resize, BICUBIC)` of the shorter side, `CenterCrop(crop)`, `ToTensor()`,
/// `Normalize(mean, std)`.
///
/// The resize reproduces Pillow's `ImagingResample` bit for bit: separable bicubic (a = −0.5)
/// with the filter widened by the scale when shrinking (antialiasing), coefficients normalised
/// then rounded to 22-bit fixed point, a horizontal pass rounded to 8 bits, then a vertical pass.
/// Only the pixels that survive the centre crop are computed; each output pixel depends only on
/// its own coefficients, so the result is identical.
public struct ImagePreprocessor: Sendable, Equatable {
    public var resize: Int
    public var crop: Int
    public var mean: (Float, Float, Float)
    public var std: (Float, Float, Float)

    public static let clipMean: (Float, Float, Float) = (0.48145466, 0.4578275, 0.40821073)
    public static let clipStd: (Float, Float, Float) = (0.26862954, 0.26130258, 0.27577711)

    public init(resize: Int, crop: Int, mean: (Float, Float, Float) = clipMean, std: (Float, Float, Float) = clipStd) {
        precondition(resize > 0 && crop > 0, "resize and crop must be positive")
        self.resize = resize
        self.crop = crop
        self.mean = mean
        self.std = std
    }

    public static func == (a: ImagePreprocessor, b: ImagePreprocessor) -> Bool {
        a.resize == b.resize && a.crop == b.crop && a.mean == b.mean && a.std == b.std
    }

    /// Values per output: `3 × crop × crop`.
    public var outputCount: Int { 3 * crop * crop }

    // MARK: Geometry (torchvision)

    /// torchvision's `Resize(int)`: the shorter side becomes `resize`, the longer one
    /// `int(resize · long / short)` (truncated).
    public func resizedSize(width: Int, height: Int) -> (width: Int, height: Int) {
        let short = min(width, height), long = max(width, height)
        let newLong = Int((Double(resize) * Double(long) / Double(short)).rounded(.towardZero))
        return width <= height ? (resize, newLong) : (newLong, resize)
    }

    /// torchvision's `center_crop` offsets: zero padding `(left, top)` when the image is smaller
    /// than the crop, then `int(round((size − crop) / 2))` with Python's half-to-even rounding.
    static func cropOrigin(size: Int, crop: Int) -> Int {
        if crop > size { return -((crop - size) / 2) }
        let diff = size - crop
        let half = diff / 2
        if diff % 2 == 0 { return half }
        return half % 2 == 0 ? half : half + 1 // round(half + 0.5) to even
    }

    // MARK: Pipeline

    /// Preprocesses `image` into `3 × crop × crop` normalised CHW values.
    public func callAsFunction(_ image: RGBImage) -> [Float] {
        var out = [Float](repeating: 0, count: outputCount)
        out.withUnsafeMutableBufferPointer { process(image, into: $0) }
        return out
    }

    /// Preprocesses into a caller-provided buffer of `outputCount` floats: the bytes of
    /// `processBytes`, through ToTensor + Normalize as one lookup table per channel.
    public func process(_ image: RGBImage, into out: UnsafeMutableBufferPointer<Float>) {
        precondition(out.count >= outputCount, "output buffer too small")
        var bytes = [UInt8](repeating: 0, count: outputCount)
        bytes.withUnsafeMutableBufferPointer { processBytes(image, into: $0) }
        var lut = [Float](repeating: 0, count: 3 * 256)
        let means = [mean.0, mean.1, mean.2], stds = [std.0, std.1, std.2]
        for c in 0..<3 {
            for v in 0..<256 { lut[c * 256 + v] = (Float(v) / 255 - means[c]) / stds[c] }
        }
        let plane = crop * crop
        for c in 0..<3 {
            for i in 0..<plane { out[c * plane + i] = lut[c * 256 + Int(bytes[c * plane + i])] }
        }
    }

    /// The resized, centre-cropped image as uint8, channel-major (`3 × crop × crop`), before
    /// normalisation: what the GPU path uploads (a quarter of the bytes of fp32) and normalises
    /// on the device. Where the crop reaches past the image the bytes are 0, which normalise to
    /// the same value the fp32 path writes there.
    public func processBytes(_ image: RGBImage, into out: UnsafeMutableBufferPointer<UInt8>) {
        precondition(out.count >= outputCount, "output buffer too small")
        let (rw, rh) = resizedSize(width: image.width, height: image.height)
        let left = Self.cropOrigin(size: rw, crop: crop)
        let top = Self.cropOrigin(size: rh, crop: crop)
        // The region of the resized image inside the crop window.
        let x0 = max(0, left), x1 = min(rw, left + crop)
        let y0 = max(0, top), y1 = min(rh, top + crop)
        let plane = crop * crop
        for i in 0..<outputCount { out[i] = 0 }
        let regionWidth = x1 - x0
        guard regionWidth > 0, y1 > y0 else { return }
        let region = PillowResample.resize(image, toWidth: rw, height: rh, columns: x0..<x1, rows: y0..<y1)
        region.withUnsafeBufferPointer { src in
            for y in y0..<y1 {
                let oy = y - top
                let srcRow = (y - y0) * regionWidth * 3
                for x in x0..<x1 {
                    let s = srcRow + (x - x0) * 3
                    let o = oy * crop + (x - left)
                    out[o] = src[s]
                    out[plane + o] = src[s + 1]
                    out[2 * plane + o] = src[s + 2]
                }
            }
        }
    }
}

// MARK: - Pillow's bicubic resampling

enum PillowResample {
    static let precisionBits = 32 - 8 - 2

    static func bicubic(_ xIn: Double) -> Double {
        let a = -0.5
        let x = abs(xIn)
        if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
        if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
        return 0
    }

    /// `precompute_coeffs` + `normalize_coeffs_8bpc` for output positions `range`: per output, the
    /// first input index and the fixed-point weights.
    static func coefficients(inSize: Int, outSize: Int, range: Range<Int>) -> (starts: [Int], counts: [Int], weights: [Int32], stride: Int) {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1)
        let support = 2.0 * filterScale
        let ksize = Int(support.rounded(.up)) * 2 + 1
        var starts: [Int] = [], counts: [Int] = []
        var weights = [Int32](repeating: 0, count: range.count * ksize)
        var k = [Double](repeating: 0, count: ksize)
        for (slot, xx) in range.enumerated() {
            let center = (Double(xx) + 0.5) * scale
            let ss = 1.0 / filterScale
            var xmin = Int(center - support + 0.5) // C truncation toward zero
            if xmin < 0 { xmin = 0 }
            var xmax = Int(center + support + 0.5)
            if xmax > inSize { xmax = inSize }
            xmax -= xmin
            var ww = 0.0
            for x in 0..<max(xmax, 0) {
                let w = bicubic((Double(x + xmin) - center + 0.5) * ss)
                k[x] = w
                ww += w
            }
            for x in 0..<max(xmax, 0) {
                if ww != 0 { k[x] /= ww }
                let scaled = k[x] * Double(1 << precisionBits)
                weights[slot * ksize + x] = Int32(k[x] < 0 ? (-0.5 + scaled).rounded(.towardZero) : (0.5 + scaled).rounded(.towardZero))
            }
            starts.append(xmin)
            counts.append(max(xmax, 0))
        }
        return (starts, counts, weights, ksize)
    }

    @inline(__always)
    static func clip8(_ v: Int32) -> UInt8 {
        let shifted = v >> Int32(precisionBits)
        return shifted <= 0 ? 0 : shifted >= 255 ? 255 : UInt8(shifted)
    }

    /// Pillow's `im.resize((width, height), BICUBIC)` restricted to `columns × rows` of the output.
    /// Returns that region as packed RGB.
    ///
    /// Pass order follows Pillow ≥ 11: the vertical pass runs first when the height shrinks by more
    /// than twice as many pixels as the width does, otherwise the horizontal pass does. The order
    /// matters because the intermediate image is rounded to 8 bits.
    static func resize(_ image: RGBImage, toWidth width: Int, height: Int, columns: Range<Int>, rows: Range<Int>) -> [UInt8] {
        guard !columns.isEmpty, !rows.isEmpty else { return [] }
        let needHorizontal = width != image.width
        let needVertical = height != image.height
        let shrinkY = image.height - height, shrinkX = image.width - width
        let verticalFirst = shrinkY > 0 && shrinkY > shrinkX * 2
        let horizontal = needHorizontal ? coefficients(inSize: image.width, outSize: width, range: columns) : nil
        let vertical = needVertical ? coefficients(inSize: image.height, outSize: height, range: rows) : nil

        // The input rows and columns the requested region depends on.
        func span(_ c: (starts: [Int], counts: [Int], weights: [Int32], stride: Int)?, _ range: Range<Int>) -> Range<Int> {
            guard let c else { return range }
            let lo = c.starts.min() ?? 0
            let hi = zip(c.starts, c.counts).map { $0.0 + $0.1 }.max() ?? lo
            return lo..<hi
        }
        let inRows = span(vertical, rows)
        let inCols = span(horizontal, columns)
        // Start from the input block that matters.
        var block = Plane(width: inCols.count, height: inRows.count, pixels: [])
        block.pixels.reserveCapacity(inCols.count * inRows.count * 3)
        for y in inRows {
            let rowStart = (y * image.width + inCols.lowerBound) * 3
            block.pixels += image.pixels[rowStart..<(rowStart + inCols.count * 3)]
        }
        if verticalFirst {
            if let v = vertical { block = verticalPass(block, v, rowOffset: inRows.lowerBound) }
            if let h = horizontal { block = horizontalPass(block, h, columnOffset: inCols.lowerBound) }
        } else {
            if let h = horizontal { block = horizontalPass(block, h, columnOffset: inCols.lowerBound) }
            if let v = vertical { block = verticalPass(block, v, rowOffset: inRows.lowerBound) }
        }
        return block.pixels
    }

    /// A packed RGB block.
    struct Plane {
        var width: Int
        var height: Int
        var pixels: [UInt8]
    }

    /// Each output column `j` = Σ weights · input columns `starts[j] − columnOffset …`.
    static func horizontalPass(_ src: Plane, _ c: (starts: [Int], counts: [Int], weights: [Int32], stride: Int), columnOffset: Int) -> Plane {
        let outWidth = c.starts.count
        var out = Plane(width: outWidth, height: src.height, pixels: [UInt8](repeating: 0, count: outWidth * src.height * 3))
        let half = Int32(1 << (precisionBits - 1))
        src.pixels.withUnsafeBufferPointer { s in
            out.pixels.withUnsafeMutableBufferPointer { d in
                c.weights.withUnsafeBufferPointer { kk in
                    for y in 0..<src.height {
                        let inRow = y * src.width * 3
                        let outRow = y * outWidth * 3
                        for xx in 0..<outWidth {
                            let xmin = c.starts[xx] - columnOffset, count = c.counts[xx]
                            let k = xx * c.stride
                            var s0 = half, s1 = half, s2 = half
                            for x in 0..<count {
                                let p = inRow + (xmin + x) * 3
                                let w = kk[k + x]
                                s0 &+= Int32(s[p]) &* w
                                s1 &+= Int32(s[p + 1]) &* w
                                s2 &+= Int32(s[p + 2]) &* w
                            }
                            d[outRow + xx * 3] = clip8(s0)
                            d[outRow + xx * 3 + 1] = clip8(s1)
                            d[outRow + xx * 3 + 2] = clip8(s2)
                        }
                    }
                }
            }
        }
        return out
    }

    /// Each output row `j` = Σ weights · input rows `starts[j] − rowOffset …`.
    static func verticalPass(_ src: Plane, _ c: (starts: [Int], counts: [Int], weights: [Int32], stride: Int), rowOffset: Int) -> Plane {
        let outHeight = c.starts.count
        let rowBytes = src.width * 3
        var out = Plane(width: src.width, height: outHeight, pixels: [UInt8](repeating: 0, count: rowBytes * outHeight))
        let half = Int32(1 << (precisionBits - 1))
        // Row-at-a-time accumulation: the inner loop runs over contiguous bytes and vectorises.
        var acc = [Int32](repeating: 0, count: rowBytes)
        src.pixels.withUnsafeBufferPointer { s in
            out.pixels.withUnsafeMutableBufferPointer { d in
                acc.withUnsafeMutableBufferPointer { a in
                    guard let sBase = s.baseAddress, let dBase = d.baseAddress, let aBase = a.baseAddress else { return }
                    for yy in 0..<outHeight {
                        let ymin = c.starts[yy] - rowOffset, count = c.counts[yy]
                        let k = yy * c.stride
                        for i in 0..<rowBytes { aBase[i] = half }
                        for y in 0..<count {
                            let w = c.weights[k + y]
                            let row = sBase + (ymin + y) * rowBytes
                            for i in 0..<rowBytes { aBase[i] &+= Int32(row[i]) &* w }
                        }
                        let outRow = dBase + yy * rowBytes
                        for i in 0..<rowBytes { outRow[i] = clip8(aBase[i]) }
                    }
                }
            }
        }
        return out
    }
}
