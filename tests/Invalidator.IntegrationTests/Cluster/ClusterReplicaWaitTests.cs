using System.Globalization;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Infrastructure.Redis;
using Invalidator.IntegrationTests.Regions;
using Invalidator.Worker.Regions;

namespace Invalidator.IntegrationTests.Cluster;

/// <summary>
/// <c>WaitReplicas</c> on a real Redis Cluster: <c>WAIT</c> goes to every node that received an attempt's deletes and to
/// no other (the fixture's masters have no replicas, so each WAIT answers 0 and the attempt fails, which is what shows
/// where the WAITs went: <c>INFO commandstats</c> on each node).
/// </summary>
[Collection(RedisClusterCollection.Name)]
public sealed class ClusterReplicaWaitTests(RedisClusterFixture fixture)
{
    private readonly string _prefix = ServersFixture.UniqueName("cluster-wait") + ":";

    private RedisCluster Cluster => fixture.Cluster;

    /// <summary>A region that waits for one replica per node (the cluster has none: every WAIT falls short), one retry.</summary>
    private TestRegion WaitingRegion() => new(Cluster.SeedNode(0), _prefix, configure: r =>
    {
        r.WaitReplicas = 1;
        r.WaitTimeout = TimeSpan.FromMilliseconds(20);
        r.Resilience.MaxRetryAttempts = 1;
        r.Resilience.BaseDelay = TimeSpan.Zero;
    });

    [Fact]
    public async Task Each_node_that_received_deletes_is_sent_WAIT_and_a_node_without_replicas_fails_the_attempt()
    {
        using var region = WaitingRegion();
        var before = await WaitCallsAsync();

        var failure = await Assert.ThrowsAsync<RegionApplyException>(
            () => region.Region.ApplyAsync(Enumerable.Range(0, 300).Select(i => $"item:{i}").ToList(), [], CancellationToken.None));

        Assert.IsType<ReplicasNotAcknowledgedException>(failure.InnerException);
        Assert.Equal(2, failure.Attempts);
        var after = await WaitCallsAsync();
        // 300 keys land on every master: each got one WAIT per attempt.
        Assert.Equal(before.Select(b => b + 2), after);
    }

    [Fact]
    public async Task A_node_that_received_no_delete_is_not_asked()
    {
        using var region = WaitingRegion();
        var before = await WaitCallsAsync();

        // One hash tag: one slot, one node.
        await Assert.ThrowsAsync<RegionApplyException>(() => region.Region.ApplyAsync(["{one}:a", "{one}:b"], [], CancellationToken.None));

        var after = await WaitCallsAsync();
        var asked = Enumerable.Range(0, Cluster.Count).Where(i => after[i] != before[i]).ToList();
        var node = Assert.Single(asked);
        Assert.Equal(before[node] + 2, after[node]);
    }

    /// <summary>Each node's count of WAIT calls so far (<c>cmdstat_wait:calls=N</c>; 0 before its first).</summary>
    private async Task<long[]> WaitCallsAsync()
    {
        var calls = new long[Cluster.Count];
        for (var i = 0; i < Cluster.Count; i++)
        {
            foreach (var line in (await Cluster.RedisCliAsync(i, "INFO", "commandstats")).Split('\n'))
            {
                if (line.StartsWith("cmdstat_wait:calls=", StringComparison.Ordinal))
                {
                    var value = line["cmdstat_wait:calls=".Length..];
                    calls[i] = long.Parse(value[..value.IndexOf(',', StringComparison.Ordinal)], CultureInfo.InvariantCulture);
                }
            }
        }

        return calls;
    }
}
