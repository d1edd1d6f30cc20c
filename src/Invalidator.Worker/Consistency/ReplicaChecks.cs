using Invalidator.Core.Rules;
using Invalidator.Worker.Options;
using Invalidator.Worker.Sources.Postgres;
using Npgsql;

namespace Invalidator.Worker.Consistency;

/// <summary>
/// Whether each read replica (<c>Invalidator:Consistency:ReadReplicas</c>) can be waited for: it answers, and it is a
/// standby (<c>pg_is_in_recovery()</c>), whose <c>pg_last_wal_replay_lsn()</c> the wait reads; and in Kafka mode with
/// replica waits, whether the primary (<c>Invalidator:Consistency:Primary</c>) gives <c>pg_current_wal_lsn()</c>.
/// Findings name the key and never a password. Run by <c>rules check --database</c> and at the worker's start.
/// </summary>
internal static class ReplicaChecks
{
    private const string PasswordKeys = "Passfile= or PGPASSFILE";

    /// <summary>The replicas (ordinal order), then the primary when <see cref="NeedsPrimary"/>.</summary>
    public static async Task<IReadOnlyList<ReplicaFinding>> RunAsync(
        ConsistencyOptions consistency, RuleSet? rules, ChangeSourceKind source, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(consistency);
        var findings = new List<ReplicaFinding>(await RunAsync(consistency.ReadReplicas, cancellationToken).ConfigureAwait(false));
        if (NeedsPrimary(consistency, rules, source) && !string.IsNullOrWhiteSpace(consistency.Primary))
        {
            findings.AddRange(await CheckPrimaryAsync(consistency.Primary, cancellationToken).ConfigureAwait(false));
        }

        return findings;
    }

    /// <summary>Kafka mode with some table waiting for the replicas: the primary's position is what is waited for.</summary>
    public static bool NeedsPrimary(ConsistencyOptions consistency, RuleSet? rules, ChangeSourceKind source) =>
        source == ChangeSourceKind.Kafka && consistency.ReadReplicas.Count > 0 && (consistency.WaitForReplicas || rules?.HasReplicaWaitRules == true);

    /// <summary>Each replica, all at once (a start waits for the slowest connect, not their sum); findings in ordinal order of the names.</summary>
    public static async Task<IReadOnlyList<ReplicaFinding>> RunAsync(IReadOnlyDictionary<string, string> replicas, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(replicas);
        var checks = replicas.OrderBy(r => r.Key, StringComparer.Ordinal).Select(r => CheckReplicaAsync(r.Key, r.Value, cancellationToken)).ToList();
        var findings = await Task.WhenAll(checks).ConfigureAwait(false);
        return [.. findings.OfType<ReplicaFinding>()];
    }

    private static async Task<ReplicaFinding?> CheckReplicaAsync(string name, string connectionString, CancellationToken cancellationToken)
    {
        var key = $"Invalidator:Consistency:ReadReplicas:{name}";
        try
        {
            return await IsInRecoveryAsync(connectionString, cancellationToken).ConfigureAwait(false) is true
                ? null
                : new ReplicaFinding(ReplicaProblem.Misconfigured,
                    $"Read replica {name} ({key}) is not a standby (pg_is_in_recovery() is false): point it at a replica your applications read from, not at the primary.");
        }
        catch (Exception ex) when (ex is NpgsqlException or ArgumentException or TimeoutException)
        {
            return Failure($"read replica {name} ({key})", key, connectionString, ex);
        }
    }

    /// <summary>The primary answers and is not in recovery (a standby has no <c>pg_current_wal_lsn()</c>).</summary>
    public static async Task<IReadOnlyList<ReplicaFinding>> CheckPrimaryAsync(string connectionString, CancellationToken cancellationToken)
    {
        const string key = "Invalidator:Consistency:Primary";
        try
        {
            return await IsInRecoveryAsync(connectionString, cancellationToken).ConfigureAwait(false) is true
                ? [new ReplicaFinding(ReplicaProblem.Misconfigured,
                    $"The primary ({key}) is a standby (pg_is_in_recovery() is true), which has no pg_current_wal_lsn(): give the connection string of the primary the replicas stream from.")]
                : [];
        }
        catch (Exception ex) when (ex is NpgsqlException or ArgumentException or TimeoutException)
        {
            return [Failure($"the primary ({key})", key, connectionString, ex)];
        }
    }

    private static async Task<object?> IsInRecoveryAsync(string connectionString, CancellationToken cancellationToken)
    {
        var connection = new NpgsqlConnection(connectionString);
        await using (connection.ConfigureAwait(false))
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            var command = new NpgsqlCommand("SELECT pg_is_in_recovery()", connection);
            await using (command.ConfigureAwait(false))
            {
                return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// A connection that failed. The server refusing the login or the database (SQLSTATE class 28, 3D000) or a string
    /// Npgsql cannot read is a misconfiguration; no answer (refused, timed out, the server starting) is unreachable.
    /// Npgsql's messages name the host and the user, never the password; a string it cannot parse is not quoted when it holds one.
    /// </summary>
    private static ReplicaFinding Failure(string subject, string key, string connectionString, Exception ex) => ex switch
    {
        ArgumentException => new ReplicaFinding(ReplicaProblem.Misconfigured,
            $"{key} is not a valid Npgsql connection string: {PostgresCredentials.DescribeInvalid(connectionString, ex, PasswordKeys)}."),
        PostgresException { SqlState: var state } when state.StartsWith("28", StringComparison.Ordinal) => new ReplicaFinding(ReplicaProblem.Misconfigured,
            $"Cannot log in to {subject}: {PostgresCredentials.DescribeConnectFailure(ex)}. Fix the user and password of {key} (or its Passfile=, PGPASSFILE or ~/.pgpass entry, and the server's pg_hba.conf)."),
        PostgresException { SqlState: "3D000" } => new ReplicaFinding(ReplicaProblem.Misconfigured,
            $"Cannot use {subject}: {PostgresCredentials.DescribeConnectFailure(ex)}. Fix Database= in {key}: the database your applications read."),
        _ => new ReplicaFinding(ReplicaProblem.Unreachable,
            $"Cannot connect to {subject}: {PostgresCredentials.DescribeConnectFailure(ex)}."),
    };
}

/// <summary>What kind of problem a <see cref="ReplicaFinding"/> is: the caller decides how serious each is.</summary>
internal enum ReplicaProblem
{
    /// <summary>It answered, but cannot be used as configured (not a standby, login refused, bad string): fix the configuration.</summary>
    Misconfigured,

    /// <summary>It did not answer (down, refused, timed out): the configuration may be right.</summary>
    Unreachable,
}

/// <summary>One result of <see cref="ReplicaChecks"/>: what is wrong with which key and how to fix it.</summary>
internal sealed record ReplicaFinding(ReplicaProblem Problem, string Message)
{
    /// <summary>As a start-up or <c>rules check</c> finding of <paramref name="severity"/>.</summary>
    public CheckFinding As(CheckSeverity severity) => new(severity, Message);
}
