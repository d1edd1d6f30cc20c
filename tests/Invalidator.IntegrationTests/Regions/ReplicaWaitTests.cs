using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Infrastructure.Redis;
using Invalidator.Worker.Options;
using Invalidator.Worker.Regions;
using StackExchange.Redis;

namespace Invalidator.IntegrationTests.Regions;

/// <summary>
/// <c>Invalidator:Regions:&lt;name&gt;:WaitReplicas</c> on a real primary and replica: an attempt counts as applied only
/// once the replica acknowledged its deletes, so a failover cannot bring a deleted key back. The replica is held back by
/// SIGSTOP plus <c>CLIENT KILL TYPE replica</c>; the control (<c>WaitReplicas: 0</c>) shows the delete that is lost.
/// </summary>
public sealed class ReplicaWaitTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task With_the_replica_running_an_attempt_waits_for_its_acknowledgement_and_succeeds()
    {
        await using var redis = await ReplicatedRedis.StartAsync();
        var key = ServersFixture.UniqueName("wait-ok");
        await redis.PrimaryServer.ExecuteAsync("SET", key, "cached");
        await redis.WaitUntilReplicatingAsync();
        var shortfalls = new AcksMissing();
        using var region = new TestRegion(redis.Primary, "", configure: Wait(replicas: 1), listener: shortfalls);

        var result = await region.Region.ApplyAsync([key], [], CancellationToken.None);

        Assert.Equal(1, result.KeysFound);
        Assert.Empty(shortfalls.Seen); // acknowledged: nothing counted in invalidator_region_replica_acks_missing_total
        // WAIT returned only once the replica had the delete: it has it now, without any further waiting.
        Assert.False(await redis.ReplicaHasAsync(key), "the replica acknowledged the delete before the attempt succeeded");
    }

    [Fact]
    public async Task With_the_replica_cut_off_the_attempt_fails_as_transient_and_is_retried_then_the_region_gives_up()
    {
        await using var redis = await ReplicatedRedis.StartAsync();
        var key = ServersFixture.UniqueName("wait-cut");
        await redis.PrimaryServer.ExecuteAsync("SET", key, "cached");
        await redis.WaitUntilReplicatingAsync();
        var shortfalls = new AcksMissing();
        using var region = new TestRegion(redis.Primary, "", configure: Wait(replicas: 1), listener: shortfalls);
        await redis.FreezeReplicaAsync();

        var failure = await Assert.ThrowsAsync<RegionApplyException>(() => region.Region.ApplyAsync([key], [], CancellationToken.None));

        Assert.Equal(3, failure.Attempts); // the first attempt and both retries: a missing acknowledgement is transient
        // Each attempt that fell short is said once (invalidator_region_replica_acks_missing_total{region="test"} += 3).
        Assert.Equal(3, shortfalls.Seen.Count);
        Assert.All(shortfalls.Seen, e => Assert.Equal(("test", 0L, 1), (e.Region, e.Acknowledged, e.Wanted)));
        var missing = Assert.IsType<ReplicasNotAcknowledgedException>(failure.InnerException);
        Assert.Equal(0, missing.Acknowledged);
        Assert.Equal(1, missing.Wanted);
        Assert.True(region.Region.Errors.IsTransient(missing));
        Assert.Contains("0 of 1 replica(s) acknowledged", failure.Message, StringComparison.Ordinal);

        // The replica comes back: the same invalidations (a redrive of the dead letter) now apply.
        await redis.ThawReplicaAsync();
        await redis.WaitUntilReplicatingAsync();
        await region.Region.ApplyAsync([key], [], CancellationToken.None);
        Assert.False(await redis.ReplicaHasAsync(key));
    }

    /// <summary>
    /// The control: without WaitReplicas the region reports the delete applied while the replica never received it; the
    /// primary then dies and the replica, the only copy left, still holds the key.
    /// </summary>
    [Fact]
    public async Task Control_without_WaitReplicas_the_attempt_succeeds_and_a_primary_crash_loses_the_delete()
    {
        await using var redis = await ReplicatedRedis.StartAsync();
        var key = ServersFixture.UniqueName("wait-control");
        await redis.PrimaryServer.ExecuteAsync("SET", key, "cached");
        await redis.WaitUntilReplicatingAsync();
        using var region = new TestRegion(redis.Primary, "", configure: Wait(replicas: 0));
        await redis.FreezeReplicaAsync();

        var result = await region.Region.ApplyAsync([key], [], CancellationToken.None);
        await redis.KillPrimaryAsync();
        await redis.ThawReplicaAsync();

        Assert.Equal(1, result.KeysFound); // reported applied
        await Eventually.AssertAsync(() => redis.ReplicaHasAsync(key), Deadline, "the thawed replica answers, still holding the deleted key");
    }

    [Fact]
    public async Task With_tags_the_wait_covers_the_set_removals_too()
    {
        await using var redis = await ReplicatedRedis.StartAsync();
        var prefix = ServersFixture.UniqueName("wait-tags") + ":";
        await redis.PrimaryServer.ExecuteAsync("SET", prefix + "m:1", "cached");
        await redis.PrimaryServer.ExecuteAsync("SADD", prefix + "tag:label", "m:1");
        await redis.WaitUntilReplicatingAsync();
        using var region = new TestRegion(redis.Primary, prefix, configure: Wait(replicas: 1));

        var result = await region.Region.ApplyAsync([], ["label"], CancellationToken.None);

        Assert.Equal(1, result.KeysFound);
        Assert.False(await redis.ReplicaHasAsync(prefix + "m:1"));
        Assert.False(await redis.ReplicaHasAsync(prefix + "tag:label"));
    }

    private static Action<RegionOptions> Wait(int replicas) => region =>
    {
        region.WaitReplicas = replicas;
        region.WaitTimeout = TimeSpan.FromMilliseconds(200);
        region.Resilience.MaxRetryAttempts = 2;
        region.Resilience.BaseDelay = TimeSpan.FromMilliseconds(10);
        region.Resilience.MaxDelay = TimeSpan.FromMilliseconds(50);
    };
}

/// <summary>The WAIT shortfalls a region reported, as the metrics read them.</summary>
internal sealed class AcksMissing : Invalidator.Worker.Events.IEventListener<Invalidator.Worker.Events.RegionReplicaAcksMissing>
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<Invalidator.Worker.Events.RegionReplicaAcksMissing> _seen = new();

    public IReadOnlyCollection<Invalidator.Worker.Events.RegionReplicaAcksMissing> Seen => _seen;

    public void On(in Invalidator.Worker.Events.RegionReplicaAcksMissing e) => _seen.Enqueue(e);
}
