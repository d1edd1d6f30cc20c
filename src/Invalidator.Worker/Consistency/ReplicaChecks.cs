using Invalidator.Worker.Sources.Postgres;
using Npgsql;

namespace Invalidator.Worker.Consistency;

/// <summary>
/// Whether each read replica (<c>Invalidator:Consistency:ReadReplicas</c>) can be waited for: it answers, and it is a
/// standby (<c>pg_is_in_recovery()</c>), whose <c>pg_last_wal_replay_lsn()</c> the wait reads. Findings name the
/// replica's key and never its password.
/// </summary>
internal static class ReplicaChecks
{
    public static async Task<IReadOnlyList<CheckFinding>> RunAsync(IReadOnlyDictionary<string, string> replicas, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(replicas);
        var findings = new List<CheckFinding>();
        foreach (var (name, connectionString) in replicas.OrderBy(r => r.Key, StringComparer.Ordinal))
        {
            var key = $"Invalidator:Consistency:ReadReplicas:{name}";
            try
            {
                var connection = new NpgsqlConnection(connectionString);
                await using (connection.ConfigureAwait(false))
                {
                    await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
                    var command = new NpgsqlCommand("SELECT pg_is_in_recovery()", connection);
                    await using (command.ConfigureAwait(false))
                    {
                        if (await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is not true)
                        {
                            findings.Add(new CheckFinding(CheckSeverity.Error,
                                $"Read replica {name} ({key}) is not a standby (pg_is_in_recovery() is false): point it at a replica your applications read from, not at the primary."));
                        }
                    }
                }
            }
            catch (Exception ex) when (ex is NpgsqlException or ArgumentException or TimeoutException)
            {
                findings.Add(new CheckFinding(CheckSeverity.Error, $"Cannot connect to read replica {name} ({key}): " +
                    (ex is ArgumentException ? PostgresCredentials.DescribeInvalid(connectionString, ex, "Passfile= or PGPASSFILE") : PostgresCredentials.DescribeConnectFailure(ex))));
            }
        }

        return findings;
    }
}
