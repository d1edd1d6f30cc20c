using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Worker;
using Invalidator.RaceHarness;
using Xunit.Abstractions;

namespace Invalidator.IntegrationTests.Races;

/// <summary>
/// The set-after-delete race on real servers (Postgres, the worker in direct mode, Redis): writers update rows while
/// readers load them with a random pause before they populate. Plain deletes must show stale keys, or the harness does
/// not see the race at all; leases must show none, and so must a second delete whose delay exceeds the pause.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class SetAfterDeleteRaceTests(PostgresFixture fixture, ITestOutputHelper output)
{
    [Fact]
    public async Task Plain_deletes_leave_stale_keys_behind_the_race() =>
        RaceAssert.ShowsTheRace(await RunAsync(RaceMode.PlainDelete, "race_plain"));

    [Fact]
    public async Task Leases_refuse_the_raced_populates_and_leave_no_stale_key() =>
        RaceAssert.ClosesTheRace(await RunAsync(RaceMode.Leases, "race_lease"));

    [Fact]
    public async Task A_second_delete_after_the_longest_pause_deletes_the_raced_populates_and_leaves_no_stale_key() =>
        RaceAssert.SecondDeleteClosesTheRace(await RunAsync(RaceMode.SecondDelete, "race_second"));

    [Fact]
    public async Task A_second_delete_sooner_than_the_readers_pause_still_leaves_stale_keys()
    {
        // The control: the delay must exceed the pause. 20 ms is far below the readers' 150 ms.
        var report = await RunAsync(RaceMode.SecondDeleteAfter(TimeSpan.FromMilliseconds(20)), "race_second_short");
        Assert.True(report.StaleKeys > 0, $"populates later than the second delete stay: {report}");
        Assert.NotNull(report.SecondDeleteHits);
    }

    private async Task<RaceReport> RunAsync(RaceMode mode, string name)
    {
        var report = await DirectRace.RunAsync(fixture, mode, name);
        output.WriteLine(report.ToString());
        return report;
    }
}

/// <summary>One race run with the worker in direct mode, streaming the run's own database.</summary>
internal static class DirectRace
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    /// <param name="settings">Worker settings over the mode's, given the run's database.</param>
    /// <param name="readConnectionString">Where readers load from, given the run's database (null: the primary).</param>
    /// <param name="databaseReady">Runs once the run's database has its schema, before the worker starts.</param>
    public static async Task<RaceReport> RunAsync(
        IDirectServers servers, RaceMode mode, string name,
        Func<string, IEnumerable<KeyValuePair<string, string?>>>? settings = null, Func<string, string>? readConnectionString = null,
        Func<string, Task>? databaseReady = null)
    {
        await using var harness = await PostgresWorkerHarness.CreateAsync(servers, RaceTable.Rules(mode), name, RaceTable.Schema($"pub_{name}", RaceAssert.Settings.Rows));
        foreach (var (key, value) in mode.WorkerSettings.Concat(settings?.Invoke(harness.Database) ?? []))
        {
            harness.Settings[key] = value;
        }

        if (databaseReady is not null)
        {
            await databaseReady(harness.Database);
        }

        var worker = await harness.StartAsync();
        await Eventually.AssertAsync(harness.SlotActiveAsync, Deadline, "the worker streams from its slot");
        await using var redis = await servers.Redis.ConnectAsync(0);
        return await RaceHarness.RaceHarness.RunAsync(
            new RaceWorld
            {
                ConnectionString = harness.ConnectionString,
                ReadConnectionString = readConnectionString?.Invoke(harness.Database),
                Redis = redis.GetDatabase(),
                KeyPrefix = harness.KeyPrefix,
                Worker = worker.Services,
                WaitForWorkerAsync = RaceWorld.DirectSourceCatchUp(harness.ConnectionString, harness.Slot),
            },
            mode,
            RaceAssert.Settings);
    }
}

/// <summary>The race tests' workload and what each mode must show, shared by the direct and the Kafka source.</summary>
public static class RaceAssert
{
    // Each row is written about every 0.4 s and a reader pauses up to 150 ms between its read and its populate, so a
    // write (and its delete, a few ms later) often falls into that window.
    public static RaceSettings Settings { get; } = new()
    {
        Rows = 100,
        Writers = 2,
        WritePause = TimeSpan.FromMilliseconds(5),
        Readers = 16,
        MaxPause = TimeSpan.FromMilliseconds(150),
        Duration = TimeSpan.FromSeconds(6),
        MinRowWrites = 300,
    };

    /// <summary>Plain deletes: stale keys are left, or the harness did not see the race and proves nothing.</summary>
    public static void ShowsTheRace(RaceReport report)
    {
        Assert.True(report.StaleKeys > 0, $"the harness must see the race: {report}");
        Assert.Equal(0, report.PopulatesRefused);
        Assert.Null(report.SecondDeleteHits);
    }

    /// <summary>
    /// A second delete later than the longest pause: no key is stale, the second delete found repopulated keys (an
    /// upper bound on the raced populates it removed), nothing refused a populate. Few keys are cached at the end: each
    /// row is written about every 0.4 s, so the second deletes of the run's last 800 ms clear nearly every row. That the
    /// same workload races is shown by plain deletes, and by the same mode with a delay shorter than the pause.
    /// </summary>
    public static void SecondDeleteClosesTheRace(RaceReport report)
    {
        Assert.True(report.StaleKeys == 0, $"no stale key: {report}");
        Assert.True(report.SecondDeleteHits > 0, $"the second delete found repopulated keys: {report}");
        Assert.Equal(0, report.PopulatesRefused);
        Assert.True(report.PopulatesStored >= 500 && report.CachedKeys > 0, $"readers populated, and some keys were left to compare: {report}");
    }

    /// <summary>Leases: populates raced (some were refused), enough keys were cached to compare, and none is stale.</summary>
    public static void ClosesTheRace(RaceReport report)
    {
        Assert.True(report.StaleKeys == 0, $"no stale key: {report}");
        Assert.True(report.PopulatesRefused > 0, $"the race happened and was caught: {report}");
        Assert.True(report.CachedKeys >= Settings.Rows / 4, $"enough keys were cached for the comparison to mean something: {report}");
    }
}
