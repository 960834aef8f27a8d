import Coordinator
import Foundation
import JobPlan
import JobProtocol
@testable import Report
import Testing

@Suite("Report bad input")
struct BadInputTests {
    func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("report-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test("a missing database is refused, not created")
    func missingDatabase() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("nope.sqlite").path
        await #expect(throws: ReportError.missingDatabase(path)) { try await ReportLoader.load(databasePath: path, job: "x") }
        #expect(!FileManager.default.fileExists(atPath: path))
        await #expect(throws: ReportError.missingDatabase(dir.path)) { try await ReportLoader.load(databasePath: dir.path, job: "x") }
    }

    @Test("an unknown job names the jobs the database holds")
    func unknownJob() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("db.sqlite").path
        _ = try Coordinator(databasePath: path)
        do {
            _ = try await ReportLoader.load(databasePath: path, job: "missing-job")
            Issue.record("expected a failure")
        } catch {
            #expect(error == .unknownJob(name: "missing-job", known: []))
            #expect(error.description == "no job named 'missing-job' (the database holds no jobs)")
        }
    }

    @Test("a database from a newer schema version is refused with the versions", .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3")))
    func newerSchema() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("db.sqlite").path
        _ = try Coordinator(databasePath: path)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        p.arguments = [path, "UPDATE schema_version SET version = 99"]
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        do {
            _ = try await ReportLoader.load(databasePath: path, job: "x")
            Issue.record("expected a failure")
        } catch {
            #expect(error.description.contains("schema version 99"))
            #expect(error.description.contains("upgrade adaneg"))
        }
    }

    @Test("a file that is not a database gives a clear error")
    func notADatabase() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("junk.sqlite").path
        try Data(repeating: 7, count: 4096).write(to: URL(fileURLWithPath: path))
        await #expect(throws: ReportError.self) { try await ReportLoader.load(databasePath: path, job: "x") }
    }

    @Test("an unwritable output path is refused with the reason")
    func unwritableOutput() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let missingParent = dir.appendingPathComponent("no/such/dir/report.html").path
        #expect(throws: ReportError.self) { try ReportOutput.write("x", to: missingParent) }
        do { try ReportOutput.write("x", to: missingParent) } catch {
            #expect(error.description.contains("does not exist"))
        }
        #expect(throws: ReportError.self) { try ReportOutput.write("x", to: dir.path) }
        do { try ReportOutput.write("x", to: dir.path) } catch {
            #expect(error.description.contains("is a folder"))
        }
        let ok = dir.appendingPathComponent("r.txt").path
        try ReportOutput.write("hello", to: ok)
        #expect(try String(contentsOfFile: ok, encoding: .utf8) == "hello")
    }
}
