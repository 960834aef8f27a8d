import Foundation
import Testing

/// `--device` on the command line, on a machine without a usable GPU (CI's, and any machine:
/// the driver override points at a file that does not exist, so the answer never depends on the
/// host): `cuda` exits 2 naming what is missing, `auto` falls back to the CPU with the same bytes
/// as `cpu`, a bad spec exits 2 naming the flag, and `doctor` says why there is no GPU.
@Suite("Device flag", .serialized)
struct DeviceFlagTests {
    static let noGPU: [String: String?] = ["ADANEG_CUDA_DRIVER_LIBRARY": "/nonexistent/libcuda.so.1"]

    func imageList(in s: Scratch) throws -> String {
        let images = TextCommandsTests.fixtures.appendingPathComponent("images")
        let list = ["drawing.png", "drawing_odd.png", "drawing_grey.png"].map { images.appendingPathComponent($0).path }
        try (list.joined(separator: "\n") + "\n").write(toFile: s.path("images.txt"), atomically: true, encoding: .utf8)
        return s.path("images.txt")
    }

    func texts(in s: Scratch) throws -> String {
        try "a photo of a cat\na dog\n".write(toFile: s.path("texts.txt"), atomically: true, encoding: .utf8)
        return s.path("texts.txt")
    }

    @Test("--device cuda without a GPU: exit 2 naming the missing driver, on every command that takes it")
    func cudaWithoutGPU() throws {
        let s = try Scratch()
        let model = try TextCommandsTests.model(in: s)
        let list = try imageList(in: s), texts = try texts(in: s)
        try "cat\ndog\n".write(toFile: s.path("classes.txt"), atomically: true, encoding: .utf8)
        let commands: [[String]] = [
            ["embed-images", "--model", model, "--images", list, "--out", s.path("i.npy"), "--device", "cuda"],
            ["embed-text", "--model", model, "--texts", texts, "--out", s.path("t.npy"), "--device", "cuda"],
            ["mine-negatives", "--model", model, "--classes", s.path("classes.txt"), "--out", s.path("neg"), "--device", "cuda:1"],
            ["worker", "--coordinator", "http://127.0.0.1:9", "--device", "cuda"],
            ["run", s.path("missing.yaml"), "--device", "cuda"],
        ]
        for args in commands {
            let r = try CLI.run(args, environment: Self.noGPU)
            #expect(r.status == 2, "\(args[0]): \(r.stderr)")
            let lines = r.stderr.split(separator: "\n").filter { $0.hasPrefix("error:") }
            #expect(lines.count == 1, "\(args[0]): \(r.stderr)")
            #expect(r.stderr.contains("--device cuda") && r.stderr.contains("libcuda.so.1") && r.stderr.contains("not found"), "\(args[0]): \(r.stderr)")
        }
        #expect(!s.exists("i.npy") && !s.exists("t.npy"))
    }

    @Test("--device auto without a GPU: one note, and the same bytes as --device cpu")
    func autoFallsBack() throws {
        let s = try Scratch()
        let model = try TextCommandsTests.model(in: s)
        let list = try imageList(in: s), texts = try texts(in: s)
        for (command, input, flag) in [("embed-images", list, "--images"), ("embed-text", texts, "--texts")] {
            let cpu = try CLI.run([command, "--model", model, flag, input, "--out", s.path("\(command)-cpu.npy"), "--device", "cpu"], environment: Self.noGPU)
            #expect(cpu.status == 0, "\(cpu.stderr)")
            #expect(!cpu.stderr.contains("device"), "\(cpu.stderr)")
            let auto = try CLI.run([command, "--model", model, flag, input, "--out", s.path("\(command)-auto.npy"), "--device", "auto"], environment: Self.noGPU)
            #expect(auto.status == 0, "\(auto.stderr)")
            #expect(auto.stderr.components(separatedBy: "device auto: no usable GPU").count == 2, "\(auto.stderr)")
            #expect(auto.stderr.contains("running on the CPU"), "\(auto.stderr)")
            let a = try Data(contentsOf: URL(fileURLWithPath: s.path("\(command)-cpu.npy")))
            let b = try Data(contentsOf: URL(fileURLWithPath: s.path("\(command)-auto.npy")))
            #expect(!a.isEmpty && a == b, "\(command): auto and cpu outputs differ")
            // And the default is the CPU: no flag, the same bytes.
            let plain = try CLI.run([command, "--model", model, flag, input, "--out", s.path("\(command)-plain.npy")], environment: Self.noGPU)
            #expect(plain.status == 0)
            #expect(try Data(contentsOf: URL(fileURLWithPath: s.path("\(command)-plain.npy"))) == a)
        }
    }

    @Test("a bad device spec exits 2 naming --device", arguments: ["tpu", "cuda:-1", "cuda:", "cuda:x", "cuda:01"])
    func badSpec(_ spec: String) throws {
        let s = try Scratch()
        let model = try TextCommandsTests.model(in: s)
        let list = try imageList(in: s)
        for args in [["embed-images", "--model", model, "--images", list, "--out", s.path("i.npy"), "--device", spec],
                     ["worker", "--coordinator", "http://127.0.0.1:9", "--device", spec],
                     ["run", s.path("missing.yaml"), "--device", spec]] {
            let r = try CLI.run(args, environment: Self.noGPU)
            #expect(r.status == 2, "\(args[0]) \(spec): \(r.stderr)")
            #expect(r.stderr.contains("--device") && r.stderr.contains("'\(spec)'"), "\(args[0]) \(spec): \(r.stderr)")
        }
    }

    @Test("--batch-size out of range on worker, run and embed-images: exit 2 naming the flag")
    func batchSizeRange() throws {
        let s = try Scratch()
        for args in [["worker", "--coordinator", "http://127.0.0.1:9", "--batch-size", "0"], ["run", s.path("missing.yaml"), "--batch-size", "0"],
                     ["embed-images", "--model", s.path("none"), "--images", s.path("none.txt"), "--out", s.path("x.npy"), "--batch-size", "9223372036854775807"],
                     ["embed-images", "--model", s.path("none"), "--images", s.path("none.txt"), "--out", s.path("x.npy"), "--batch-size", "0"]] {
            let r = try CLI.run(args, environment: Self.noGPU)
            #expect(r.status == 2 && r.stderr.contains("--batch-size must be in 1...65536"), "\(args[0]): \(r.stderr)")
        }
    }

    @Test("--precision fp32 with --device cuda is refused before any GPU is looked for; fp16 on the CPU too")
    func precisionRules() throws {
        let s = try Scratch()
        let model = try TextCommandsTests.model(in: s)
        let list = try imageList(in: s)
        let fp32 = try CLI.run(["embed-images", "--model", model, "--images", list, "--out", s.path("i.npy"), "--device", "cuda", "--precision", "fp32"],
                               environment: Self.noGPU)
        #expect(fp32.status == 2)
        #expect(fp32.stderr.contains("--precision fp32 is not available on the GPU"), "\(fp32.stderr)")
        let fp16 = try CLI.run(["embed-images", "--model", model, "--images", list, "--out", s.path("i.npy"), "--precision", "fp16"], environment: Self.noGPU)
        #expect(fp16.status == 2)
        #expect(fp16.stderr.contains("fp16 runs only on a GPU"), "\(fp16.stderr)")
    }

    @Test("doctor without a GPU: 'not available' with the reason, in text and JSON")
    func doctorGPUSection() throws {
        let text = try CLI.run(["doctor", "--seconds", "0"], environment: Self.noGPU)
        #expect(text.status == 0, "\(text.stderr)")
        let line = try #require(text.stdout.split(separator: "\n").first { $0.hasPrefix("gpu:") })
        #expect(line.contains("not available:") && line.contains("libcuda.so.1") && line.contains("/nonexistent/libcuda.so.1"), "\(line)")

        let json = try CLI.run(["doctor", "--seconds", "0", "--json"], environment: Self.noGPU)
        #expect(json.status == 0, "\(json.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let gpu = try #require(object["gpu"] as? [String: Any])
        #expect(gpu["available"] as? Bool == false)
        #expect((gpu["reason"] as? String)?.contains("/nonexistent/libcuda.so.1") == true, "\(gpu)")
        #expect((gpu["gpus"] as? [Any])?.isEmpty == true)
    }
}
