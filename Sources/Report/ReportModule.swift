/// Aggregation and rendering of stored results (tables, JSON, CSV, Markdown, HTML).
/// Filled in by the reporter issue.
enum ReportModule {}
