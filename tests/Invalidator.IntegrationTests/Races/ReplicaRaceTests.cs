using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Infrastructure.Postgres;
using Invalidator.RaceHarness;
using Xunit.Abstractions;

namespace Invalidator.IntegrationTests.Races;

/// <summary>
/// The lagging read replica on real servers, the worker in direct mode: readers load rows from a streaming standby that
/// applies each commit <see cref="ReplicaRace.ApplyDelay"/> late. The worker deletes at the primary's commit, so a
/// reader that misses in between stores the old row: plain deletes leave stale keys, and so do leases (the reader
/// takes its lease after the delete: the control that shows they do not cover it). Waiting for the replica (the keys
/// deleted again once it replayed the change) with leases, or with a second delete counted from then, leaves none.
/// </summary>
[Collection(ReplicatedPostgresCollection.Name)]
public sealed class ReplicaRaceTests(ReplicatedPostgresFixture fixture, ITestOutputHelper output)
{
    [Fact]
    public async Task Plain_deletes_leave_keys_stale_from_the_lagging_replica() =>
        ReplicaRace.ShowsTheRace(await RunAsync(RaceMode.PlainDelete, "rrace_plain"));

    [Fact]
    public async Task Leases_alone_leave_keys_stale_from_the_lagging_replica() =>
        ReplicaRace.ShowsTheRace(await RunAsync(RaceMode.Leases, "rrace_lease"));

    [Fact]
    public async Task Waiting_for_the_replica_with_leases_leaves_no_stale_key() =>
        ReplicaRace.ClosesTheRace(await RunAsync(RaceMode.WaitForReplicas(leases: true), "rrace_wait_lease"));

    [Fact]
    public async Task Waiting_for_the_replica_with_a_second_delete_leaves_no_stale_key() =>
        ReplicaRace.ClosesTheRace(await RunAsync(RaceMode.WaitForReplicas(leases: false, RaceMode.SecondDeleteDelay), "rrace_wait_second"));

    private async Task<RaceReport> RunAsync(RaceMode mode, string name)
    {
        var pair = fixture.Servers;
        await pair.SetApplyDelayAsync(ReplicaRace.ApplyDelay);
        try
        {
            var report = await DirectRace.RunAsync(
                fixture,
                mode,
                name,
                database => ReplicaRace.WorkerSettings(pair.Standby.ConnectionString(database)),
                database => pair.Standby.ConnectionString(database),
                database => ReplicaRace.StandbyHasTheTableAsync(pair, database));
            output.WriteLine(report.ToString());
            return report;
        }
        finally
        {
            await pair.SetApplyDelayAsync(TimeSpan.Zero);
        }
    }
}

/// <summary>
/// The same race with the worker reading Kafka: Debezium's <c>source.lsn</c> is before the commit, so the worker waits
/// for the primary's position (<c>Invalidator:Consistency:Primary</c>) read when the batch was cut.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class KafkaReplicaRaceTests(ServersFixture servers, ReplicatedPostgresFixture replicated, ITestOutputHelper output) : IClassFixture<ReplicatedPostgresFixture>
{
    [Fact]
    public async Task Leases_alone_leave_keys_stale_from_the_lagging_replica() =>
        ReplicaRace.ShowsTheRace(await RunAsync(RaceMode.Leases, "krrace_lease"));

    [Fact]
    public async Task Waiting_for_the_replica_with_leases_leaves_no_stale_key() =>
        ReplicaRace.ClosesTheRace(await RunAsync(RaceMode.WaitForReplicas(leases: true), "krrace_wait_lease"));

    [Fact]
    public async Task Waiting_for_the_replica_with_a_second_delete_leaves_no_stale_key() =>
        ReplicaRace.ClosesTheRace(await RunAsync(RaceMode.WaitForReplicas(leases: false, RaceMode.SecondDeleteDelay), "krrace_wait_second"));

    private async Task<RaceReport> RunAsync(RaceMode mode, string name)
    {
        var pair = replicated.Servers;
        await pair.SetApplyDelayAsync(ReplicaRace.ApplyDelay);
        var report = await KafkaRace.RunAsync(
            servers,
            pair.Primary,
            mode,
            name,
            database => new Dictionary<string, string?>(ReplicaRace.WorkerSettings(pair.Standby.ConnectionString(database)))
            {
                ["Invalidator:Consistency:Primary"] = pair.Primary.ConnectionString(database),
            },
            database => pair.Standby.ConnectionString(database),
            database => ReplicaRace.StandbyHasTheTableAsync(pair, database));
        output.WriteLine(report.ToString());
        return report;
    }
}

/// <summary>The replica race's lag, settings and what each mode must show, for both sources.</summary>
internal static class ReplicaRace
{
    /// <summary>How late the standby applies each commit: far longer than the worker takes to delete.</summary>
    public static readonly TimeSpan ApplyDelay = TimeSpan.FromMilliseconds(250);

    public static IEnumerable<KeyValuePair<string, string?>> WorkerSettings(string standby) =>
        [new("Invalidator:Consistency:ReadReplicas:standby", standby), new("Invalidator:Consistency:ReplicaWaitMax", "00:00:10")];

    /// <summary>The run's database and rows reached the standby (they come late too), so readers can load from it.</summary>
    public static Task StandbyHasTheTableAsync(ReplicatedPostgres pair, string database) =>
        Eventually.AssertAsync(
            async () =>
            {
                try
                {
                    return await pair.Standby.ScalarAsync<long>(database, "SELECT count(*) FROM race_items") == RaceAssert.Settings.Rows;
                }
                catch (Npgsql.PostgresException)
                {
                    return false; // the database or the table is not there yet
                }
            },
            TimeSpan.FromSeconds(30),
            "the standby replayed the race table");

    /// <summary>Without the replica wait: readers stored old rows from the standby after the delete.</summary>
    public static void ShowsTheRace(RaceReport report)
    {
        Assert.True(report.StaleKeys > 0, $"the harness must see the replica race: {report}");
        Assert.Null(report.ReplicaDeleteHits);
    }

    /// <summary>With it: no key is stale, and the replica delete found values stored from the lagging standby (the race happened).</summary>
    public static void ClosesTheRace(RaceReport report)
    {
        Assert.True(report.StaleKeys == 0, $"no stale key: {report}");
        Assert.True(report.ReplicaDeleteHits > 0, $"the replica delete found keys stored from the lagging standby: {report}");
        Assert.True(report.CachedKeys > 0, $"some keys were left to compare: {report}");
    }
}
