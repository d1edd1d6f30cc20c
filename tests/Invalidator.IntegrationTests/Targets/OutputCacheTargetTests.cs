using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Worker;

namespace Invalidator.IntegrationTests.Targets;

/// <summary>
/// Target OutputCache on real Redis with the real library: an ASP.NET Core application caches tagged responses in the
/// Redis output cache of region east; the worker (Kafka mode, through the mock broker) evicts them by the rules' tags
/// and keys (as tags), and region west stays plain Redis keys.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class OutputCacheTargetTests(ServersFixture servers)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private const string Rules = """
        tables:
          public.customers:
            keys: ["customer:{id}"]
          public.tenants:
            tags: ["tenant:{id}"]
        """;

    private static object Customer(int id, int tenant) => new { id, email = $"c{id}@example.com", name = "N", tenant_id = tenant };

    [Fact]
    public async Task A_changed_row_evicts_the_responses_tagged_with_its_key_and_the_next_request_is_a_miss()
    {
        var instance = ServersFixture.UniqueName("oc-key") + ":";
        await using var app = await OutputCacheApp.StartAsync(servers.RedisConnectionString("east"), instance);
        Assert.Equal("customer 7 render 1", await app.GetCustomerAsync(7, tenant: 1));
        Assert.Equal("customer 8 render 1", await app.GetCustomerAsync(8, tenant: 1));
        Assert.Equal("customer 7 render 1", await app.GetCustomerAsync(7, tenant: 1));

        await using var harness = StartWorker("oc-key", instance);
        await harness.CreateTopicAsync();
        await harness.StartAsync();
        await harness.ProduceAsync(Debezium.Envelope("u", Customer(7, 1), Customer(7, 1)));

        await Eventually.AssertAsync(
            async () => await app.GetCustomerAsync(7, tenant: 1) != "customer 7 render 1",
            Deadline,
            "the response tagged customer:7 is evicted, so the next request renders it again");
        Assert.Equal("customer 7 render 2", await app.GetCustomerAsync(7, tenant: 1));
        Assert.Equal("customer 8 render 1", await app.GetCustomerAsync(8, tenant: 1));
        Assert.Contains(harness.Logs.Entries, e => e.EventId == 2100 && e.Message.Contains($"instance name '{instance}'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_tag_evicts_every_response_tagged_with_it()
    {
        var instance = ServersFixture.UniqueName("oc-tag") + ":";
        await using var app = await OutputCacheApp.StartAsync(servers.RedisConnectionString("east"), instance);
        await app.GetCustomerAsync(1, tenant: 5);
        await app.GetCustomerAsync(2, tenant: 5);
        await app.GetCustomerAsync(3, tenant: 6);

        await using var harness = StartWorker("oc-tag", instance);
        await harness.CreateTopicAsync();
        await harness.StartAsync();
        await harness.ProduceAsync(Debezium.Envelope("u", new { id = 5, name = "old" }, new { id = 5, name = "new" }, table: "tenants"));

        await Eventually.AssertAsync(
            async () => await app.GetCustomerAsync(1, tenant: 5) == "customer 1 render 2" && await app.GetCustomerAsync(2, tenant: 5) == "customer 2 render 2",
            Deadline,
            "both responses tagged tenant:5 are evicted");
        Assert.Equal("customer 3 render 1", await app.GetCustomerAsync(3, tenant: 6));
    }

    private WorkerHarness StartWorker(string name, string instance)
    {
        var harness = new WorkerHarness(servers, Rules, name);
        harness.Settings["Invalidator:Regions:east:Target"] = "OutputCache";
        harness.Settings["Invalidator:Regions:east:KeyPrefix"] = "";
        harness.Settings["Invalidator:Regions:east:OutputCache:InstanceName"] = instance;
        return harness;
    }
}
