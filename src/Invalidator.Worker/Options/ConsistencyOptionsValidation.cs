using Invalidator.Core.Rules;
using Invalidator.Worker.Sources.Postgres;
using Npgsql;

namespace Invalidator.Worker.Options;

/// <summary>Checks the replica wait of <c>Invalidator:Consistency</c>; each message names the key to fix, never a password.</summary>
internal static class ConsistencyOptionsValidation
{
    private const string Example = "Host=replica1;Database=app;Username=invalidator;Password=...";

    public static void Validate(ConsistencyOptions consistency, ChangeSourceKind source, List<string> failures)
    {
        foreach (var (name, connectionString) in consistency.ReadReplicas)
        {
            var key = $"Invalidator:Consistency:ReadReplicas:{name}";
            if (string.IsNullOrWhiteSpace(connectionString))
            {
                failures.Add($"{key} is empty: give the replica's Npgsql connection string (for example {Example}), or remove the key.");
            }
            else
            {
                ConnectionString(key, connectionString, failures);
            }
        }

        if (!string.IsNullOrWhiteSpace(consistency.Primary))
        {
            ConnectionString("Invalidator:Consistency:Primary", consistency.Primary, failures);
        }

        if (consistency.WaitForReplicas && consistency.ReadReplicas.Count == 0)
        {
            failures.Add("Invalidator:Consistency:WaitForReplicas is true but Invalidator:Consistency:ReadReplicas names no replica: " +
                $"add Invalidator:Consistency:ReadReplicas:<name> = the connection string of each replica your applications read from (for example {Example}), or turn WaitForReplicas off.");
        }

        // In Kafka mode Debezium's source.lsn is before the commit: only the primary's current position is safe to wait for.
        if (consistency.WaitForReplicas && consistency.ReadReplicas.Count > 0 && source == ChangeSourceKind.Kafka && string.IsNullOrWhiteSpace(consistency.Primary))
        {
            failures.Add(PrimaryMissing("Invalidator:Consistency:WaitForReplicas is true"));
        }
    }

    /// <summary>
    /// Rules with <c>waitForReplicas: true</c> against the options: replicas to wait for, and in Kafka mode the primary
    /// whose position is waited for. Checked at start, with the rules file loaded.
    /// </summary>
    public static IReadOnlyList<string> ValidateRules(RuleSet rules, ConsistencyOptions consistency, ChangeSourceKind source)
    {
        if (!rules.HasReplicaWaitRules || consistency.WaitForReplicas)
        {
            return []; // the options' own check covers every table
        }

        var tables = string.Join(", ", rules.Tables.Values.Where(t => t.WaitForReplicas).OrderBy(t => t.Line).Select(t => $"{t.Table} (line {t.Line})"));
        var said = $"{rules.SourcePath} says waitForReplicas: true for {tables}";
        if (consistency.ReadReplicas.Count == 0)
        {
            return [$"{said}, but Invalidator:Consistency:ReadReplicas names no replica: add Invalidator:Consistency:ReadReplicas:<name> = " +
                $"the connection string of each replica your applications read from (for example {Example}), or remove waitForReplicas from the rules."];
        }

        return source == ChangeSourceKind.Kafka && string.IsNullOrWhiteSpace(consistency.Primary) ? [PrimaryMissing(said)] : [];
    }

    private static string PrimaryMissing(string said) =>
        $"{said} with Invalidator:Source Kafka, but Invalidator:Consistency:Primary is empty: Debezium's source.lsn comes before the change's commit, " +
        "so the worker waits for the primary's pg_current_wal_lsn() when a batch is sealed; give the primary's connection string " +
        "(a user that may run SELECT pg_current_wal_lsn() is enough).";

    private static void ConnectionString(string key, string connectionString, List<string> failures)
    {
        try
        {
            _ = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or KeyNotFoundException)
        {
            failures.Add($"{key} is not a valid Npgsql connection string: " +
                PostgresCredentials.DescribeInvalid(connectionString, ex, "Passfile= or PGPASSFILE") + ".");
        }
    }
}
