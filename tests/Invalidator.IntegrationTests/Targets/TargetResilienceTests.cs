using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Infrastructure.Redis;
using Invalidator.IntegrationTests.Regions;
using Invalidator.IntegrationTests.Worker;
using Invalidator.Worker.Options;
using Invalidator.Worker.Regions;
using Microsoft.Extensions.Logging;

namespace Invalidator.IntegrationTests.Targets;

/// <summary>
/// The region's resilience pipeline wraps whatever the target does: FusionCache's and the output cache's failures
/// reach it as Redis errors (retried, then the region's <see cref="RegionApplyException"/> that dead-letters the
/// batch), never swallowed by the library, and the region works again once its Redis is back. A Redis server of
/// its own, so stopping it disturbs no other test.
/// </summary>
public sealed class TargetResilienceTests : IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private RedisServers? _redis;

    private RedisServers Redis => _redis!;

    public async Task InitializeAsync() => _redis = await RedisServers.StartNewAsync(1);

    public async Task DisposeAsync()
    {
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_FusionCache_region_whose_Redis_is_down_fails_after_its_retries_and_invalidates_once_it_is_back()
    {
        var setup = FusionCacheSetup.Unique("fc-down");
        using var region = new TestRegion(Redis.ConnectionString(0), "", configure: r =>
        {
            r.Target = RegionTarget.FusionCache;
            r.FusionCache = new FusionCacheTargetOptions { CacheName = setup.CacheName, CacheKeyPrefix = setup.CacheKeyPrefix, InstanceName = setup.InstanceName };
            QuickRetries(r);
        });

        await Redis.StopAsync(0);
        var failure = await Assert.ThrowsAsync<RegionApplyException>(() => region.Region.ApplyAsync(["customer:1"], ["tenant:1"], CancellationToken.None));

        Assert.Equal(3, failure.Attempts); // the first attempt and MaxRetryAttempts retries: the errors were transient
        await Redis.StartAsync(0);
        await Eventually.AssertAsync(() => SucceedsAsync(region.Region, ["customer:1"], ["tenant:1"]), Deadline, "the region applies again once its Redis is back");

        // Its L2 and backplane work on the reconnected connection. (A node whose own subscription was down when a
        // message went out would miss it: the backplane is pub/sub. So the pod starts once Redis is back.)
        await using var pod = await FusionCachePod.StartAsync(Redis.ConnectionString(0), setup);
        await pod.ReadAsync("customer:1", "Ada v1");
        await region.Region.ApplyAsync(["customer:1"], [], CancellationToken.None);
        await Eventually.AssertAsync(async () => await pod.InMemoryAsync("customer:1") is null, Deadline, "the remove reached the pod's L1 through the backplane");
    }

    [Fact]
    public async Task An_OutputCache_region_whose_Redis_is_down_fails_after_its_retries_and_applies_once_it_is_back()
    {
        using var region = new TestRegion(Redis.ConnectionString(0), "", configure: r =>
        {
            r.Target = RegionTarget.OutputCache;
            r.OutputCache = new OutputCacheTargetOptions { InstanceName = ServersFixture.UniqueName("oc-down") };
            QuickRetries(r);
        });

        await Redis.StopAsync(0);
        var failure = await Assert.ThrowsAsync<RegionApplyException>(() => region.Region.ApplyAsync(["customer:1"], ["tenant:1"], CancellationToken.None));

        Assert.Equal(3, failure.Attempts);
        await Redis.StartAsync(0);
        await Eventually.AssertAsync(() => SucceedsAsync(region.Region, ["customer:1"], ["tenant:1"]), Deadline, "the region applies again once its Redis is back");
    }

    [Theory]
    [InlineData(nameof(RegionTarget.FusionCache))]
    [InlineData(nameof(RegionTarget.OutputCache))]
    public void With_leases_for_every_table_a_region_of_another_target_warns_that_it_has_no_lease_keys(string targetName)
    {
        // By name: a theory is public, and the worker's RegionTarget is internal.
        var target = Enum.Parse<RegionTarget>(targetName);
        var logs = new LogCapture();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(logs));

        using var region = new TestRegion(Redis.ConnectionString(0), "", leasesForAll: true, configure: r => r.Target = target, loggers: loggers);

        var warning = Assert.Single(logs.Entries, e => e.EventId == 2101);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.StartsWith($"Region test ({target}) has no lease keys: Invalidator:Consistency:Leases (and a rule's leases: true) do not apply to it", warning.Message, StringComparison.Ordinal);
    }

    private static void QuickRetries(RegionOptions region)
    {
        region.Resilience.MaxRetryAttempts = 2;
        region.Resilience.BaseDelay = TimeSpan.FromMilliseconds(10);
        region.Resilience.MaxDelay = TimeSpan.FromMilliseconds(20);
        region.Resilience.AttemptTimeout = TimeSpan.FromSeconds(2);
    }

    private static async Task<bool> SucceedsAsync(RegionInvalidator region, string[] keys, string[] tags)
    {
        try
        {
            await region.ApplyAsync(keys, tags, CancellationToken.None);
            return true;
        }
        catch (RegionApplyException)
        {
            return false;
        }
    }
}
