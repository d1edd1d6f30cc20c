using System.Diagnostics;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Regions;
using Invalidator.IntegrationTests.Worker;
using Invalidator.Worker.DeadLetters;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Options;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;
using Xunit.Abstractions;
using MsOptions = Microsoft.Extensions.Options.Options;

namespace Invalidator.IntegrationTests.Faults;

/// <summary>
/// A region letter that keeps failing on an error other than its region being unreachable is quarantined after
/// <c>Invalidator:DeadLetter:MaxRedriveTries</c> tries (a poison letter, for <c>dlq replay</c>), so the letters
/// behind it are redriven. The region is real Redis; the letters are in memory, in the order the test needs.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class RedriveQuarantineTests(ServersFixture servers, ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan RetryInterval = TimeSpan.FromMilliseconds(50);

    [Fact]
    public async Task A_letter_failing_on_a_permanent_error_is_quarantined_after_MaxRedriveTries_and_the_letters_behind_it_are_redriven()
    {
        await using var world = await World.StartAsync(servers, "quarantine", maxRedriveTries: 3);
        var clock = Stopwatch.StartNew();

        await Eventually.AssertAsync(() => world.NoneCachedAsync("b", "c"), Deadline, "the letters behind the failing one are redriven");
        output.WriteLine($"letters behind a failing one redriven after {clock.ElapsedMilliseconds} ms (MaxRedriveTries 3, RedriveRetryInterval {RetryInterval.TotalMilliseconds} ms)");
        await Eventually.AssertAsync(() => world.Store.Pending.Count == 0, Deadline, "every letter is marked, the failing one too");

        var poison = Assert.Single(world.Store.Poison);
        Assert.Equal(["a"], poison.Keys);
        Assert.Equal(["label:victim"], poison.Tags);
        Assert.StartsWith("quarantined after 3 redrive tries (memory id 1): ", poison.Reason, StringComparison.Ordinal);
        Assert.Contains("WRONGTYPE", poison.Reason, StringComparison.Ordinal);
        Assert.Equal(2, world.Logs.Count(2008)); // two tries waited, the third quarantined
        Assert.Equal(1, world.Logs.Count(8042));
        Assert.True(await world.CachedAsync("a"), "the quarantined letter is not applied (it waits for dlq replay)");
    }

    /// <summary>The control: with no bound that a test can reach, the failing letter holds up every letter behind it.</summary>
    [Fact]
    public async Task Control_without_the_bound_the_failing_letter_holds_up_the_letters_behind_it()
    {
        await using var world = await World.StartAsync(servers, "quarantine-control", maxRedriveTries: 1000);

        var window = TimeSpan.FromSeconds(3);
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < window)
        {
            Assert.True(await world.CachedAsync("b") && await world.CachedAsync("c"), $"the letters behind were redriven after {clock.Elapsed}");
            await Task.Delay(100);
        }

        Assert.Equal(3, world.Store.Pending.Count);
        Assert.Empty(world.Store.Poison);
        Assert.True(world.Logs.Count(2008) >= 10, $"{world.Logs.Count(2008)} tries of the failing letter in {window}");
    }

    /// <summary>One region on real Redis whose server refuses the tag of letter 1; letters 2 and 3 are fine.</summary>
    private sealed class World : IAsyncDisposable
    {
        private readonly ConnectionMultiplexer _connection;
        private readonly TestRegion _region;
        private readonly ServiceProvider _services;
        private readonly ILoggerFactory _loggers;
        private readonly RegionRedriver _redriver;
        private readonly string _prefix;

        private World(ConnectionMultiplexer connection, TestRegion region, ServiceProvider services, ILoggerFactory loggers, RegionRedriver redriver, MemoryDeadLetterStore store, LogCapture logs, string prefix)
        {
            _connection = connection;
            _region = region;
            _services = services;
            _loggers = loggers;
            _redriver = redriver;
            _prefix = prefix;
            Store = store;
            Logs = logs;
        }

        public MemoryDeadLetterStore Store { get; }

        public LogCapture Logs { get; }

        public static async Task<World> StartAsync(ServersFixture servers, string name, int maxRedriveTries)
        {
            var prefix = ServersFixture.UniqueName(name) + ":";
            var connection = await servers.Redis.ConnectAsync(ServersFixture.East);
            var db = connection.GetDatabase();
            await db.StringSetAsync(prefix + "tag:label:victim", "a string where a tag set belongs");
            await Task.WhenAll(new[] { "a", "b", "c" }.Select(k => db.StringSetAsync(prefix + k, "cached")));

            // The server's WRONGTYPE fails the whole letter (not refused name by name): any error that cannot be pinned on one name.
            var region = new TestRegion(servers.RedisConnectionString("east"), prefix, errors: WholeBatchRedisErrors.Instance);
            var store = new MemoryDeadLetterStore();
            await store.WriteRegionLetterAsync(Letter(["a"], ["label:victim"]), CancellationToken.None);
            await store.WriteRegionLetterAsync(Letter(["b"], []), CancellationToken.None);
            await store.WriteRegionLetterAsync(Letter(["c"], []), CancellationToken.None);

            var logs = new LogCapture();
            var loggers = LoggerFactory.Create(b => b.AddProvider(logs));
            var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
            var options = new InvalidatorOptions { DeadLetter = { MaxRedriveTries = maxRedriveTries, RedriveRetryInterval = RetryInterval } };
            var redriver = new RegionRedriver(
                MsOptions.Create(options), store, store, region.Set, loggers.CreateLogger<RegionRedriver>(), TimeProvider.System,
                new Invalidator.Worker.Events.WorkerEvents([new InvalidatorMetrics(services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>())]));
            await redriver.StartAsync(CancellationToken.None);
            return new World(connection, region, services, loggers, redriver, store, logs, prefix);
        }

        public async Task<bool> CachedAsync(string key) => await _connection.GetDatabase().KeyExistsAsync(_prefix + key);

        public async Task<bool> NoneCachedAsync(params string[] keys)
        {
            foreach (var key in keys)
            {
                if (await CachedAsync(key))
                {
                    return false;
                }
            }

            return true;
        }

        public async ValueTask DisposeAsync()
        {
            await _redriver.StopAsync(CancellationToken.None);
            _redriver.Dispose();
            _region.Dispose();
            _loggers.Dispose();
            await _services.DisposeAsync();
            await _connection.DisposeAsync();
        }

        private static RegionDeadLetter Letter(IReadOnlyCollection<string> keys, IReadOnlyCollection<string> tags) =>
            new("test", keys, tags, "the region failed", 1, [], DateTimeOffset.UtcNow);
    }
}
