using System.Text.Json.Serialization;
using Invalidator.Worker.Cli.Audit;
using Invalidator.Worker.Cli.Diff;
using Invalidator.Worker.Cli.Replay;

namespace Invalidator.Worker.Cli;

/// <summary>
/// The JSON of the CLI reports (<c>--json</c>), a public contract: each report is a record, written with camelCase
/// names in declaration order, nulls written, indented. Dictionary keys (regions, rules, outcomes) stay as they are.
/// </summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(ReplaySummaryJson))]
[JsonSerializable(typeof(AuditReportJson))]
[JsonSerializable(typeof(DiffReportJson))]
[JsonSerializable(typeof(ExplainJson))]
internal sealed partial class ReportJsonContext : JsonSerializerContext;
