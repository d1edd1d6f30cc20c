using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Infrastructure.Redis;
using Invalidator.IntegrationTests.Regions;
using Invalidator.Worker.Regions;
using Xunit.Abstractions;

namespace Invalidator.IntegrationTests.Races;

/// <summary>
/// The failover that loses a delete, on real servers: a primary, its replica and three Sentinels, the region configured
/// by the Sentinels' addresses and <c>serviceName=</c>. The replica is frozen (SIGSTOP, and its connection dropped on the
/// primary), the region deletes on the primary, the primary is SIGKILLed, the replica resumed and promoted by
/// Sentinel; then the keys that came back are counted. Batches the region could not apply are kept as dead letters
/// and redriven through the same region, which follows the failover to the new primary.
/// </summary>
public sealed class FailoverRaceTests(ITestOutputHelper output)
{
    private const int Batches = 10;
    private const int KeysPerBatch = 10;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    /// <summary>The control: every batch reports applied, and after the failover every deleted key is back.</summary>
    [Fact]
    public async Task Without_WaitReplicas_every_batch_reports_applied_and_the_deleted_keys_come_back()
    {
        var race = await RunAsync(waitReplicas: 0);

        Assert.Equal(0, race.Letters);
        Assert.Equal(Batches * KeysPerBatch, race.BackAfterFailover);
        Assert.Equal(race.BackAfterFailover, race.BackAfterRedrive); // nothing to redrive: stale until the TTL
    }

    [Fact]
    public async Task With_WaitReplicas_1_no_batch_is_acknowledged_before_the_replica_has_it_and_after_the_redrive_no_key_is_back()
    {
        var race = await RunAsync(waitReplicas: 1);

        Assert.Equal(Batches, race.Letters); // none acknowledged while the replica could not have it
        Assert.Equal(0, race.BackAfterRedrive); // every change applied once the new primary serves
    }

    private async Task<Outcome> RunAsync(int waitReplicas)
    {
        await using var sentinel = await SentinelRedis.StartAsync(ServersFixture.UniqueName("failover"));
        var redis = sentinel.Servers;
        var batches = Enumerable.Range(0, Batches)
            .Select(b => Enumerable.Range(0, KeysPerBatch).Select(k => $"{sentinel.ServiceName}:item:{b}:{k}").ToList())
            .ToList();
        var keys = batches.SelectMany(b => b).ToList();
        await redis.PrimaryServer.ExecuteAsync("MSET", [.. keys.SelectMany(k => new object[] { k, "cached" })]);
        await redis.WaitUntilReplicatingAsync();
        using var region = new TestRegion(sentinel.RegionRedis, "", configure: r =>
        {
            r.WaitReplicas = waitReplicas;
            r.WaitTimeout = TimeSpan.FromMilliseconds(100);
            r.Resilience.MaxRetryAttempts = 1;
            r.Resilience.BaseDelay = TimeSpan.FromMilliseconds(10);
            r.Resilience.MaxDelay = TimeSpan.FromMilliseconds(50);
            r.Resilience.AttemptTimeout = TimeSpan.FromSeconds(2);
        });
        await Eventually.AssertAsync(() => region.Region.Connection.IsConnected, Deadline, "the region reached the primary through the Sentinels");

        await redis.FreezeReplicaAsync();
        var letters = new List<List<string>>();
        foreach (var batch in batches)
        {
            try
            {
                await region.Region.ApplyAsync(batch, [], CancellationToken.None);
            }
            catch (RegionApplyException)
            {
                letters.Add(batch); // dead-lettered: the change is not acknowledged
            }
        }

        // Without the wait the primary deleted every key; with it, the first batches' deletes reached the primary too
        // (the replica's acknowledgement is what failed), until the region's circuit opened and dead-lettered the rest at once.
        var onPrimary = await redis.PrimaryHoldsAsync(keys);
        Assert.True(waitReplicas == 0 ? onPrimary == 0 : onPrimary <= keys.Count - KeysPerBatch, $"{onPrimary} keys left on the primary");
        await redis.KillPrimaryAsync();
        await redis.ThawReplicaAsync();
        await sentinel.WaitForPromotionAsync();
        var back = await redis.ReplicaHoldsAsync(keys);

        // The old primary comes back empty; Sentinel makes it a replica of the new one, so a WAIT can be acknowledged again.
        await redis.RestartPrimaryAsync();
        foreach (var letter in letters)
        {
            await Eventually.AssertAsync(
                async () =>
                {
                    await region.Region.ApplyAsync(letter, [], CancellationToken.None);
                    return true;
                },
                Deadline,
                "the redrive of a dead-lettered batch applies on the new primary");
        }

        var backAfterRedrive = await redis.ReplicaHoldsAsync(keys);
        output.WriteLine($"WaitReplicas {waitReplicas}: {letters.Count} of {Batches} batches dead-lettered, {back} of {keys.Count} deleted keys back after the failover, {backAfterRedrive} after the redrive");
        return new Outcome(letters.Count, back, backAfterRedrive);
    }

    private readonly record struct Outcome(int Letters, long BackAfterFailover, long BackAfterRedrive);
}
