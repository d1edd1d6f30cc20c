using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Invalidator.IntegrationTests.Cli;
using Invalidator.IntegrationTests.Diagnostics;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Infrastructure.Kafka;
using Invalidator.IntegrationTests.Regions;
using Invalidator.IntegrationTests.Worker;
using Invalidator.Worker.DeadLetters;
using Invalidator.Worker.Regions;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Invalidator.IntegrationTests.Faults;

/// <summary>
/// Issue 17 §1, Kafka mode: a tag renders the set name <c>tag:label:victim</c>, but a string key of that name exists, so
/// the server answers <c>WRONGTYPE</c>. The tag alone is poisoned (a poison letter with the server's error, counted in
/// <c>invalidator_region_poison_total</c>); the rest of its batch and every later batch apply at once, and
/// <c>/readyz</c> tells the truth. The control runs the same with the old classification: the region is stuck.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class WrongTypeTagTests(ServersFixture servers, ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    /// <summary>An unrelated change's keys are gone within this (the same bound as a healthy region during another's outage).</summary>
    private static readonly TimeSpan PromptBound = TimeSpan.FromSeconds(5);

    public const string Rules = """
        tables:
          public.customers:
            keys: ["customer:{id}"]
            tags: ["label:{name}"]
        """;

    public static string Customer(int id, string name) => Debezium.Envelope("d", new { id, name }, null);

    [Fact]
    public async Task A_WRONGTYPE_tag_poisons_only_itself_and_unrelated_keys_are_deleted_promptly()
    {
        await using var harness = new WorkerHarness(servers, Rules, "wrongtype");
        FaultSettings.ApplyFastResilience(harness.Settings, servers.Regions);
        harness.Settings["Invalidator:DeadLetter:MaxRedriveAge"] = "00:00:03";
        await harness.CreateTopicAsync(partitions: 1);
        await servers.Kafka.CreateTopicAsync(harness.DeadLetterTopic, 1);
        var keys = await RegionKeys.ConnectAsync(servers, harness.KeyPrefix);
        foreach (var region in keys.Regions)
        {
            await region.StringSetAsync(harness.KeyPrefix + "tag:label:victim", "a string where a tag set belongs");
            await region.SetAddAsync(harness.KeyPrefix + "tag:label:ok", "member:1");
        }

        var unrelated = Enumerable.Range(10, 10).ToList();
        await keys.SetAsync(["customer:1", "customer:2", "member:1", .. unrelated.Select(i => $"customer:{i}")]);
        var host = await harness.StartAsync();
        using var http = new WorkerHttp(host);
        var poisonBefore = await PoisonCountsAsync(http);

        // One batch: the victim's tag is refused, its key and the other record's key and tag member are deleted.
        await harness.ProduceAsync(Customer(1, "victim"));
        await harness.ProduceAsync(Customer(2, "ok"));
        await Eventually.AssertAsync(() => keys.NoneExistAsync(["customer:1", "customer:2", "member:1"]), Deadline, "the rest of the victim's batch is applied in both regions");

        var delays = new List<TimeSpan>();
        foreach (var id in unrelated)
        {
            var clock = Stopwatch.StartNew();
            await harness.ProduceAsync(Customer(id, "other"));
            await Eventually.AssertAsync(() => keys.NoneExistAsync([$"customer:{id}"]), Deadline, $"the unrelated customer:{id} is deleted in both regions");
            delays.Add(clock.Elapsed);
        }

        output.WriteLine($"unrelated keys stayed cached after a WRONGTYPE tag: max {delays.Max().TotalMilliseconds:0} ms, median {delays.Order().ElementAt(delays.Count / 2).TotalMilliseconds:0} ms");
        Assert.All(delays, d => Assert.True(d < PromptBound, $"an unrelated key stayed cached {d}"));
        Assert.True(await keys.AllExistAsync(["tag:label:victim"]), "the worker never touches the refused name itself");

        // One poison letter per region: the tag, with the server's error as its reason. No region letter: nothing waits for a redrive.
        List<DeadLetterRecord> letters = [];
        await Eventually.AssertAsync(
            () => (letters = DeadLetterRecord.ReadAll(servers.Kafka, harness.DeadLetterTopic, Deadline)).Count >= servers.Regions.Count,
            Deadline,
            "a poison letter per region is on the dead-letter topic");
        Assert.Equal(servers.Regions.Order(), letters.Select(l => l.Region).Order());
        Assert.All(letters, l =>
        {
            Assert.Equal((DeadLetterKinds.Poison, DeadLetterKinds.RegionNamesFormat), (l.Kind, l.Format));
            Assert.StartsWith("WRONGTYPE ", l.Reason, StringComparison.Ordinal);
            var letter = RegionDeadLetter.FromJson(l.Value, DeadLetterKinds.Poison);
            Assert.Equal(l.Region, letter.Region);
            Assert.Equal(["label:victim"], letter.Tags);
            Assert.Empty(letter.Keys);
            Assert.Equal(l.Reason, letter.Reason);
        });

        var poison = await PoisonCountsAsync(http);
        Assert.All(servers.Regions, region => Assert.Equal(1, poison[region] - poisonBefore[region]));
        await Eventually.AssertAsync(async () => await servers.Kafka.GetLagAsync(harness.GroupId, harness.Topic) == 0, Deadline, "every record is acknowledged");

        // Readiness is honest: both regions are fine (nothing waits for a redrive), well past MaxRedriveAge.
        var (status, ready) = await http.GetJsonAsync("/readyz");
        Assert.True(status == 200, ready.ToString());
        Assert.All(servers.Regions, region => Assert.True(RegionCheck(ready, region).GetProperty("ok").GetBoolean()));

        // dlq replay re-applies the poison letter once the cause is fixed (the string key removed; a reader tagged a key since).
        foreach (var region in keys.Regions)
        {
            await region.KeyDeleteAsync(harness.KeyPrefix + "tag:label:victim");
            await region.SetAddAsync(harness.KeyPrefix + "tag:label:victim", "member:victim");
        }

        await keys.SetAsync(["member:victim"]);
        using var files = new CliFiles();
        var settings = harness.ProcessSettings();
        settings["Invalidator:Rules:Path"] = files.Write("rules.yaml", Rules);
        var config = Path.Combine(files.Directory, "replay.json");
        ConfigFile.Write(config, settings);
        var replay = await CliFiles.InvokeAsync("dlq", "replay", "--config", config, "--reason", "WRONGTYPE");
        Assert.True(replay.ExitCode == 0, replay.ToString());
        Assert.Contains("applied 2 region poison letters", replay.Output, StringComparison.Ordinal);
        Assert.True(await keys.NoneExistAsync(["member:victim"]), "the replayed tag's members are deleted in both regions");
    }

    /// <summary>
    /// The control: the same scenario with the classification before issue 17 (every Redis error transient). The region
    /// retries, opens its circuit and redrives the letter forever; an unrelated key stays cached, and readiness says so
    /// once the backlog is older than MaxRedriveAge.
    /// </summary>
    [Fact]
    public async Task Control_with_the_old_classification_the_region_is_stuck_and_readyz_says_so()
    {
        await using var harness = new WorkerHarness(servers, Rules, "wrongtype-control");
        FaultSettings.ApplyFastResilience(harness.Settings, servers.Regions);
        // A break longer than the window: with the fast settings' 0.5 s break the unrelated batch could be the half-open
        // probe and get through, so whether the old code showed the stuck region depended on timing.
        foreach (var region in servers.Regions)
        {
            harness.Settings[$"Invalidator:Regions:{region}:Resilience:CircuitBreaker:BreakDuration"] = "00:00:30";
        }

        harness.Settings["Invalidator:DeadLetter:MaxRedriveAge"] = "00:00:03";
        harness.Services = s => s.AddSingleton<RedisErrorClassifier>(LegacyRedisErrors.Instance);
        await harness.CreateTopicAsync(partitions: 1);
        await servers.Kafka.CreateTopicAsync(harness.DeadLetterTopic, 1);
        var keys = await RegionKeys.ConnectAsync(servers, harness.KeyPrefix);
        foreach (var region in keys.Regions)
        {
            await region.StringSetAsync(harness.KeyPrefix + "tag:label:victim", "a string where a tag set belongs");
        }

        await keys.SetAsync(["customer:1", "customer:10"]);
        var host = await harness.StartAsync();
        using var http = new WorkerHttp(host);
        await harness.ProduceAsync(Customer(1, "victim"));
        await Eventually.AssertAsync(() => harness.Logs.Count(2006) >= servers.Regions.Count, Deadline, "the victim's batch is dead-lettered in both regions");
        await Eventually.AssertAsync(
            async () => PrometheusText.Parse(await http.MetricsAsync()) is var samples
                && servers.Regions.All(region => samples.Any(s => s.Name == "invalidator_region_circuit_open" && s.Has("region", region) && s.Value == 1)),
            Deadline,
            "the old classification counted the refusals as an outage: every region's circuit is open");

        var clock = Stopwatch.StartNew();
        await harness.ProduceAsync(Customer(10, "other"));
        var window = TimeSpan.FromSeconds(10);
        while (clock.Elapsed < window)
        {
            Assert.True(await keys.AllExistAsync(["customer:10"]), $"the unrelated key was deleted after {clock.Elapsed}: the control did not reproduce the stuck region");
            await Task.Delay(250);
        }

        output.WriteLine($"old classification: the unrelated key is still cached after {clock.Elapsed.TotalSeconds:0.0} s; redrive tries so far: {harness.Logs.Count(2008)}");
        Assert.True(await keys.AllExistAsync(["customer:1"]), "the victim's own key is not deleted either");
        await Eventually.AssertAsync(
            async () => (await http.GetJsonAsync("/readyz")) is var (code, body) && code == 503 && RegionCheck(body, "east").GetProperty("detail").GetString()!.Contains("MaxRedriveAge", StringComparison.Ordinal),
            Deadline,
            "/readyz says the region's redrive backlog is older than MaxRedriveAge");
        // The status page's backlog age (the same figure as invalidator_redrive_backlog_age_seconds, read from this worker's
        // own status: the metrics exporter of a test process also shows the series of other tests' workers of region east).
        await Eventually.AssertAsync(
            async () => (await http.GetStatusJsonAsync()).Body.GetProperty("regions").EnumerateArray()
                .Any(r => r.GetProperty("name").GetString() == "east" && r.GetProperty("redriveBacklogSeconds") is { ValueKind: JsonValueKind.Number } age && age.GetDouble() > 3),
            Deadline,
            "the status shows east's redrive backlog older than MaxRedriveAge");
    }

    private static JsonElement RegionCheck(JsonElement ready, string region) =>
        ready.GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("name").GetString() == $"region:{region}");

    private async Task<Dictionary<string, double>> PoisonCountsAsync(WorkerHttp http)
    {
        var samples = PrometheusText.Parse(await http.MetricsAsync());
        return servers.Regions.ToDictionary(r => r, r => samples.Where(s => s.Name == "invalidator_region_poison_total" && s.Has("region", r)).Sum(s => s.Value));
    }
}

/// <summary>One record of a dead-letter topic (one partition): its headers and value.</summary>
internal sealed record DeadLetterRecord(string Kind, string? Format, string? Region, string Reason, byte[] Value)
{
    public static List<DeadLetterRecord> ReadAll(KafkaBroker broker, string topic, TimeSpan deadline)
    {
        using var consumer = new ConsumerBuilder<byte[], byte[]>(broker.CreateConsumerConfig(ServersFixture.UniqueName("letters"))).Build();
        var partition = new TopicPartition(topic, 0);
        var end = consumer.QueryWatermarkOffsets(partition, TimeSpan.FromSeconds(10)).High.Value;
        var records = new List<DeadLetterRecord>();
        if (end == 0)
        {
            return records;
        }

        consumer.Assign(new TopicPartitionOffset(partition, Offset.Beginning));
        while (true)
        {
            var record = consumer.Consume(deadline) ?? throw new Xunit.Sdk.XunitException($"{topic} ended early");
            var headers = record.Message.Headers;
            records.Add(new DeadLetterRecord(Header(headers, DeadLetterKinds.KindHeader) ?? "", Header(headers, DeadLetterKinds.FormatHeader), Header(headers, DeadLetterKinds.RegionHeader), Header(headers, DeadLetterKinds.ReasonHeader) ?? "", record.Message.Value));
            if (record.Offset.Value >= end - 1)
            {
                return records;
            }
        }
    }

    private static string? Header(Headers headers, string name) => headers.TryGetLastBytes(name, out var bytes) ? Encoding.UTF8.GetString(bytes) : null;
}
