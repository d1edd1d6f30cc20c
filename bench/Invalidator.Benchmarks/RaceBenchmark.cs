using Invalidator.Benchmarks.Races;

namespace Invalidator.Benchmarks;

/// <summary>
/// The races a cache-aside application meets, each run against its defences on real servers, printed as one Markdown
/// table (docs/consistency.md, README): the set-after-delete race (plain delete, leases, second delete, both), the
/// Redis failover that loses a delete (<c>WaitReplicas</c> 0 and 1) and the lagging read replica (plain, leases alone,
/// a second delete shorter than the lag, <c>waitForReplicas</c> with leases and with a second delete).
/// </summary>
internal static class RaceBenchmark
{
    private const string Name = "race";

    /// <summary>The races, by their <c>--race</c> name, in the table's order.</summary>
    public static IReadOnlyList<string> Races { get; } = ["set-after-delete", "failover", "replica"];

    public static async Task RunAsync(Scale scale, ResultTable table, IReadOnlyDictionary<string, string?> overrides, IReadOnlySet<string> races)
    {
        var rows = new List<RaceRow>();
        if (races.Contains("set-after-delete"))
        {
            await HarnessRaces.RunSetAfterDeleteAsync(scale, rows, overrides).ConfigureAwait(false);
        }

        if (races.Contains("failover"))
        {
            await FailoverRace.RunAsync(scale, rows, overrides).ConfigureAwait(false);
        }

        if (races.Contains("replica"))
        {
            await HarnessRaces.RunReplicaLagAsync(scale, rows, overrides).ConfigureAwait(false);
        }

        foreach (var row in rows)
        {
            table.Add(Name, $"{row.Race}: {row.Defence}", row.StaleKeys, "stale keys", $"of {row.CachedKeys:N0} cached; extra deletes: {row.ExtraDeletes}; waits: {row.Waits}; refused: {RaceRow.N(row.RefusedPopulates)}");
        }

        Console.WriteLine();
        Console.WriteLine(RaceRow.TableHeader);
        foreach (var row in rows)
        {
            Console.WriteLine(row.TableRow());
        }

        Console.WriteLine();
    }
}
