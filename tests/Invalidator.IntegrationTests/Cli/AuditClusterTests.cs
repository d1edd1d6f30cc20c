using System.Text.Json;
using Invalidator.Client;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Infrastructure.Redis;
using Invalidator.IntegrationTests.Worker;
using StackExchange.Redis;

namespace Invalidator.IntegrationTests.Cli;

/// <summary><c>audit</c> on a real three-master Redis Cluster: every master is scanned, from one seed node.</summary>
[Collection(RedisClusterCollection.Name)]
public sealed class AuditClusterTests(RedisClusterFixture fixture) : IDisposable
{
    private const string Rules = """
        tables:
          public.customers:
            keys: ["customer:{id}", "user:{{{id}}}:profile"]
            tags: ["tenant:{tenant_id}"]
            leases: true
        """;

    private readonly CliFiles _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public async Task Scans_every_master_and_finds_the_planted_uncovered_keys_across_slots()
    {
        var prefix = ServersFixture.UniqueName("audit") + ":";
        await using var connection = await fixture.Cluster.ConnectAsync();
        var db = connection.GetDatabase();
        var hour = TimeSpan.FromHours(1);
        var customers = Enumerable.Range(1, 600).Select(i => $"customer:{i}").ToList();
        var profiles = Enumerable.Range(1, 30).Select(i => $"user:{{{i}}}:profile").ToList();
        var members = Enumerable.Range(1, 50).Select(i => $"avatar:{i}").ToList();
        var sessions = Enumerable.Range(1, 40).Select(i => $"session:{i}").ToList();
        await AuditCommandTests.SetAsync(db, prefix, customers.Concat(profiles).Concat(members), hour);
        // Lease keys (the protocol's L(K), with the prefix in K): of covered keys, and of a key nothing covers.
        await AuditCommandTests.SetAsync(db, "", profiles.Take(5).Select(p => LeaseProtocol.LeaseKey(prefix + p)), TimeSpan.FromSeconds(30));
        await AuditCommandTests.SetAsync(db, "", [LeaseProtocol.LeaseKey(prefix + "cart:{9}:items")], TimeSpan.FromSeconds(30));
        await db.SetAddAsync(prefix + "tag:tenant:1", [.. members.Select(m => (RedisValue)m)]);
        await AuditCommandTests.SetAsync(db, prefix, sessions, ttl: null);
        var config = Path.Combine(_files.Directory, "settings.json");
        ConfigFile.Write(config, new Dictionary<string, string?>
        {
            ["Invalidator:Kafka:BootstrapServers"] = "127.0.0.1:1",
            ["Invalidator:Kafka:TopicPattern"] = "^none$",
            ["Invalidator:Rules:Path"] = _files.Write("rules.yaml", Rules),
            // One seed node, as an operator may write it: the audit finds the other masters from it.
            ["Invalidator:Regions:cluster:Redis"] = fixture.Cluster.SeedNode(1),
            ["Invalidator:Regions:cluster:KeyPrefix"] = prefix,
        });

        var result = await CliFiles.InvokeAsync("audit", "--config", config, "--json", "--rate", "100000/s");

        Assert.True(result.ExitCode == 1, result.ToString());
        using var report = JsonDocument.Parse(result.Output);
        var region = report.RootElement.GetProperty("regions")[0];
        Assert.Equal(fixture.Cluster.Count, region.GetProperty("nodes").GetArrayLength());
        Assert.Equal(600 + 30 + 50 + 5 + 1 + 1 + 40, region.GetProperty("scanned").GetInt64());
        var covered = region.GetProperty("covered");
        Assert.Equal(600 + 30 + 5, covered.GetProperty("byTemplate").GetInt64());
        Assert.Equal(50, covered.GetProperty("byTagSet").GetInt64());
        Assert.Equal(5, region.GetProperty("coveredBy").GetProperty("(lease keys of covered keys)").GetInt64());
        var shapes = AuditCommandTests.Shapes(region);
        Assert.Equal(["session:{#}", "cart:{{#}}:items:lease"], shapes.Select(s => s.Shape));
        Assert.Equal((40L, 40L), (shapes[0].Keys, shapes[0].WithoutTtl));
        Assert.Equal((1L, 0L), (shapes[1].Keys, shapes[1].WithoutTtl));
    }
}
