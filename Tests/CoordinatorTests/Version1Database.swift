import Foundation
@testable import JobStore

extension MigrationTests {
    /// A database in schema version 1 (`version1`) at a new temporary path, holding one job
    /// ('old') with one task of `sampleCount` samples, its unit 1 done (completed at 5) and two
    /// scored samples, plus `extraRows` (SQL inserts): the fixture of every migration test.
    /// The caller removes the file.
    static func version1Database(sampleCount: Int, extraRows: String = "") throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("adaneg-v1-\(UUID().uuidString).sqlite").path
        let db = try SQLiteConnection(path: path)
        try db.execute(version1)
        try db.execute("""
            INSERT INTO schema_version (version) VALUES (1);
            INSERT INTO jobs (id, name, spec_yaml, plan_json, created_at) VALUES (1, 'old', 'name: old', '{}', 0);
            INSERT INTO tasks (id, job_id, ood_index, ood_name, sample_count) VALUES (1, 1, 1, 'x', \(sampleCount));
            INSERT INTO units (id, task_id, first_sample, sample_count, state, completed_at) VALUES (1, 1, 0, 2, 'done', 5);
            INSERT INTO samples (task_id, position, set_index, item_index, label) VALUES (1, 0, 0, 0, 0), (1, 1, 1, 0, -1);
            INSERT INTO results (task_id, position, pred, conf) VALUES (1, 0, 0, 0.5), (1, 1, 1, 0.25);
            \(extraRows)
            """)
        return path
    }
}
