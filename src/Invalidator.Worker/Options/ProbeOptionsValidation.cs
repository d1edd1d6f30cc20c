using System.Text.RegularExpressions;
using Npgsql;

namespace Invalidator.Worker.Options;

/// <summary>The checks of <c>Invalidator:Probe</c>; each message names the key and how to fix it.</summary>
internal static partial class ProbeOptionsValidation
{
    private static readonly TimeSpan MinInterval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxDeadline = TimeSpan.FromHours(1);

    public static void Validate(ProbeOptions probe, ChangeSourceKind source, List<string> failures)
    {
        // The table's rule is built in whether or not this worker probes, so its name is checked either way.
        if (!TableName().IsMatch(probe.Table))
        {
            failures.Add($"Invalidator:Probe:Table is '{probe.Table}': write it as schema.table in lower case letters, digits and '_' (the default is public.invalidator_canary).");
        }

        if (!probe.Enabled)
        {
            return;
        }

        if (probe.Interval < MinInterval || probe.Interval > TimeSpan.FromHours(1))
        {
            failures.Add($"Invalidator:Probe:Interval is {probe.Interval}: set it between 00:00:00.100 and 01:00:00 (the default is 00:00:05).");
        }

        if (probe.Objective <= TimeSpan.Zero)
        {
            failures.Add($"Invalidator:Probe:Objective is {probe.Objective}: set it above zero, to the freshness you promise (the default is 00:00:01).");
        }

        if (probe.Deadline <= probe.Objective || probe.Deadline > MaxDeadline)
        {
            failures.Add($"Invalidator:Probe:Deadline is {probe.Deadline}: set it above Invalidator:Probe:Objective ({probe.Objective}) and at most 01:00:00 (the default is 00:01:00); a canary not gone by then counts as lost.");
        }

        if (source == ChangeSourceKind.Kafka)
        {
            if (string.IsNullOrWhiteSpace(probe.ConnectionString))
            {
                failures.Add("Invalidator:Probe:ConnectionString is empty: in Kafka mode the probe writes its canary row to the database Debezium captures; give that database's connection string (or set Invalidator:Probe:Enabled to false).");
            }
            else
            {
                try
                {
                    _ = new NpgsqlConnectionStringBuilder(probe.ConnectionString);
                }
                catch (Exception ex) when (ex is ArgumentException or FormatException or KeyNotFoundException)
                {
                    failures.Add($"Invalidator:Probe:ConnectionString is not a valid Npgsql connection string: {ex.Message}");
                }
            }
        }
        else if (!string.IsNullOrWhiteSpace(probe.ConnectionString))
        {
            failures.Add("Invalidator:Probe:ConnectionString is set, but in direct mode (Invalidator:Source = Postgres) the probe writes through the source's own connection: remove it.");
        }
    }

    [GeneratedRegex("^[a-z_][a-z0-9_]*\\.[a-z_][a-z0-9_]*$")]
    private static partial Regex TableName();
}
