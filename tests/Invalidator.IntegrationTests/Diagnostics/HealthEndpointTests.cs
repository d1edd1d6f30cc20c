using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Confluent.Kafka;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Worker;

namespace Invalidator.IntegrationTests.Diagnostics;

/// <summary><c>/healthz</c> and <c>/readyz</c> of a running worker: status codes, and JSON bodies that say why.</summary>
[Collection(ServersCollection.Name)]
public sealed class HealthEndpointTests(ServersFixture servers)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Readyz_fails_until_the_worker_owns_a_partition_while_healthz_reports_the_live_loop()
    {
        await using var harness = new WorkerHarness(servers, ObservedWorker.Rules, "ready");
        await harness.CreateTopicAsync(partitions: 1);

        // Another member of the group holds the only partition: the worker joins but gets nothing.
        using var holder = new ConsumerBuilder<Ignore, Ignore>(servers.Kafka.CreateConsumerConfig(harness.GroupId)).Build();
        holder.Subscribe(harness.Topic);
        await Eventually.AssertAsync(() => { holder.Consume(TimeSpan.FromMilliseconds(100)); return holder.Assignment.Count == 1; }, Deadline, "the holder owns the partition");
        using var stopHolder = new CancellationTokenSource();
        var holding = Task.Run(() =>
        {
            while (!stopHolder.IsCancellationRequested)
            {
                holder.Consume(TimeSpan.FromMilliseconds(100)); // Keeps it a well-behaved member through the worker's join.
            }
        });

        var host = await harness.StartAsync();
        using var http = new WorkerHttp(host);
        await Eventually.AssertAsync(async () => Check(await http.GetJsonAsync("/healthz"), "loop:kafka") is { } loop && loop.GetProperty("ok").GetBoolean(), Deadline, "/healthz reports the Kafka loop turning");

        var (healthStatus, health) = await http.GetJsonAsync("/healthz");
        Assert.Equal(200, healthStatus);
        Assert.Equal("healthy", health.GetProperty("status").GetString());
        var (readyStatus, ready) = await http.GetJsonAsync("/readyz");
        Assert.Equal(503, readyStatus);
        Assert.Equal("not_ready", ready.GetProperty("status").GetString());
        var source = Check((readyStatus, ready), "source")!.Value;
        Assert.False(source.GetProperty("ok").GetBoolean());
        Assert.Contains("no partitions assigned", source.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.True(Check((readyStatus, ready), "region:east")!.Value.GetProperty("ok").GetBoolean(), "the regions themselves are fine");

        // The holder leaves: the partition moves to the worker, which becomes ready and says which partition.
        await stopHolder.CancelAsync();
        await holding;
        holder.Close();
        await Eventually.AssertAsync(async () => (await http.GetJsonAsync("/readyz")).Status == 200, Deadline, "/readyz turns 200 once the worker owns the partition");
        var (_, readyNow) = await http.GetJsonAsync("/readyz");
        Assert.Equal("ready", readyNow.GetProperty("status").GetString());
        Assert.Contains($"{harness.Topic}[0]", Check((200, readyNow), "source")!.Value.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unreachable_region_fails_readyz_until_it_is_deliberately_dead_lettered_and_recovers_after_redrive()
    {
        await using var harness = new WorkerHarness(servers, ObservedWorker.Rules, "outage");
        await harness.CreateTopicAsync(partitions: 1);
        harness.Settings["Invalidator:Kafka:Consumer:statistics.interval.ms"] = "100";
        harness.Settings["Invalidator:Regions:east:Resilience:MaxRetryAttempts"] = "1";
        harness.Settings["Invalidator:Regions:east:Resilience:AttemptTimeout"] = "00:00:01";
        harness.Settings["Invalidator:DeadLetter:RedriveRetryInterval"] = "00:00:00.200";
        var host = await harness.StartAsync();
        using var http = new WorkerHttp(host);
        await Eventually.AssertAsync(async () => (await http.GetJsonAsync("/readyz")).Status == 200, Deadline, "the worker is ready");

        var east = servers.RegionIndex("east");
        await servers.Redis.KillAsync(east);
        try
        {
            await Eventually.AssertAsync(async () => (await http.GetJsonAsync("/readyz")).Status == 503, Deadline, "/readyz fails while east is down");
            var region = Check(await http.GetJsonAsync("/readyz"), "region:east")!.Value;
            Assert.False(region.GetProperty("ok").GetBoolean());
            Assert.Contains("not connected to", region.GetProperty("detail").GetString(), StringComparison.Ordinal);
            Assert.True(Check(await http.GetJsonAsync("/readyz"), "region:west")!.Value.GetProperty("ok").GetBoolean(), "west stays ready");

            // Changes arrive while east is down: east's share goes to the dead-letter topic, so the batch is
            // acknowledged and the worker is ready again, deliberately dead-lettering for east.
            await servers.Kafka.ProduceManyAsync(harness.Topic, Enumerable.Range(1, 5).Select(id => (0, (string?)null, (string?)Debezium.Envelope("d", new { id, email = $"e{id}@x.y" }, null))));
            await Eventually.AssertAsync(async () => RegionState(await StatusAsync(http), "east") is ("dead-lettering", not null), Deadline, "the status page shows east dead-lettering with its last error");
            await Eventually.AssertAsync(async () => (await http.GetJsonAsync("/readyz")).Status == 200, Deadline, "a region that is deliberately dead-lettered keeps the worker ready");
            await Eventually.AssertAsync(async () => LagMessages(await StatusAsync(http)) == 0, Deadline, "the dead-lettered batch is acknowledged: lag 0");
            var (liveStatus, live) = await http.GetJsonAsync("/healthz");
            Assert.True(liveStatus == 200, $"a worker whose region is down is alive: {live}");
        }
        finally
        {
            await servers.Redis.StartAsync(east);
        }

        await Eventually.AssertAsync(async () => RegionState(await StatusAsync(http), "east").State == "ok", Deadline, "east is ok again once the redrive applied its dead letters");
        Assert.Equal(200, (await http.GetJsonAsync("/readyz")).Status);
    }

    [Fact]
    public async Task A_port_in_use_stops_the_start_with_an_error_naming_the_key()
    {
        await using var harness = new WorkerHarness(servers, ObservedWorker.Rules, "port");
        await harness.CreateTopicAsync(partitions: 1);
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        harness.Settings["Invalidator:Http:Urls"] = $"http://127.0.0.1:{((IPEndPoint)taken.LocalEndpoint).Port}";

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => harness.StartAsync());

        Assert.Contains("Invalidator:Http:Urls", error.Message, StringComparison.Ordinal);
    }

    private static JsonElement? Check((int Status, JsonElement Body) response, string name) =>
        response.Body.GetProperty("checks").EnumerateArray().Where(c => c.GetProperty("name").GetString() == name).Select(c => (JsonElement?)c).FirstOrDefault();

    private static async Task<JsonElement> StatusAsync(WorkerHttp http) => (await http.GetStatusJsonAsync()).Body;

    private static long? LagMessages(JsonElement status) =>
        status.GetProperty("partitions").EnumerateArray().Select(p => p.GetProperty("lagMessages")).FirstOrDefault() is { ValueKind: JsonValueKind.Number } lag ? lag.GetInt64() : null;

    private static (string? State, string? LastError) RegionState(JsonElement status, string region)
    {
        var view = status.GetProperty("regions").EnumerateArray().Single(r => r.GetProperty("name").GetString() == region);
        return (view.GetProperty("state").GetString(), view.GetProperty("lastError").GetString());
    }
}
