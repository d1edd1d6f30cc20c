using System.Diagnostics;
using System.Globalization;
using System.Text;
using Confluent.Kafka;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Worker;
using Invalidator.TestData;
using Invalidator.Worker.DeadLetters;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace Invalidator.IntegrationTests.Faults;

/// <summary>
/// Issue 17 §0, the invariant rather than the example: thousands of randomly broken real records (bytes flipped, fields
/// deleted, types swapped, numbers and times out of range) through the real Kafka path (mock broker, real Redis). Every
/// record consumed is applied, dead-lettered or counted as ignored, and the committed offset never passes a record
/// that is none of these. The seed is random per run (INVALIDATOR_MUTATION_SEED repeats one) and printed on failure.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class MutatedRecordInvariantTests(ServersFixture servers, ITestOutputHelper output)
{
    private const int Records = 4000;
    private const int SentinelEvery = 40;
    private const int Partitions = 4;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Every_broken_record_is_applied_dead_lettered_or_counted_and_no_offset_passes_one_that_is_none()
    {
        var seed = Environment.GetEnvironmentVariable("INVALIDATOR_MUTATION_SEED") is { Length: > 0 } text
            ? int.Parse(text, CultureInfo.InvariantCulture)
            : Random.Shared.Next();
        output.WriteLine($"seed {seed} (INVALIDATOR_MUTATION_SEED={seed} repeats it)");
        try
        {
            await RunAsync(seed);
        }
        catch (Exception ex) when (ex is not XunitException { Message: var m } || !m.StartsWith("seed ", StringComparison.Ordinal))
        {
            throw new XunitException($"seed {seed} (INVALIDATOR_MUTATION_SEED={seed} repeats it): {ex.Message}", ex);
        }
    }

    private async Task RunAsync(int seed)
    {
        await using var harness = new WorkerHarness(servers, MutationSeeds.Rules, "mutated");
        await harness.CreateTopicAsync(Partitions);
        await servers.Kafka.CreateTopicAsync(harness.DeadLetterTopic, 1);
        var regions = await RegionKeys.ConnectAsync(servers, harness.KeyPrefix);

        // Broken records, and between them good ones of public.t (the topic's table) whose keys must go in both regions.
        var mutator = new RecordMutator(seed);
        var seeds = MutationSeeds.All();
        var random = new Random(seed);
        var sent = new List<(byte[] Key, byte[] Value, string Mutation)>(Records);
        var sentinels = new List<string>();
        for (var i = 0; i < Records; i++)
        {
            if (i % SentinelEvery == 0)
            {
                var id = $"sentinel{i}";
                sentinels.Add($"t:{id}");
                sent.Add(([], Encoding.UTF8.GetBytes($$$"""{"op":"u","after":{"id":"{{{id}}}"},"source":{"schema":"public","table":"t"}}"""), "sentinel"));
                continue;
            }

            var original = seeds[random.Next(seeds.Count)];
            var mutated = mutator.Mutate(original.Topic, original.Key, original.Value);
            sent.Add((mutated.Key, mutated.Value, $"{original.Name}: {mutated.Mutation}"));
        }

        await regions.SetAsync(sentinels);
        var produced = await Task.WhenAll(sent.Select((r, i) => servers.Kafka.ProduceAsync(harness.Topic, i % Partitions, r.Key.Length == 0 ? null : r.Key, r.Value)));
        var byPosition = produced.Select((at, i) => (at, i)).ToDictionary(p => (p.at.Partition.Value, p.at.Offset.Value), p => p.i);

        using var outcomes = new RecordOutcomes(harness.Topic);
        var clock = Stopwatch.StartNew();
        await harness.StartAsync();

        // While the worker runs: the records acknowledged (committed offsets; every partition starts at 0) never
        // outnumber the records it accounted for (each planned record is counted once, with its outcome).
        while (true)
        {
            var committed = (await servers.Kafka.GetCommittedOffsetsAsync(harness.GroupId, harness.Topic)).Values.Sum(o => o ?? 0);
            var accounted = outcomes.Total;
            Assert.True(committed <= accounted, $"seed {seed}: {committed} records acknowledged but only {accounted} applied, dead-lettered or counted ({outcomes})");
            if (committed == Records)
            {
                break;
            }

            Assert.True(clock.Elapsed < Deadline, $"seed {seed}: only {committed} of {Records} records acknowledged within {Deadline.TotalSeconds:0} s ({outcomes})");
            await Task.Delay(TimeSpan.FromMilliseconds(200));
        }

        output.WriteLine($"{Records} records acknowledged in {clock.Elapsed.TotalSeconds:0.0} s: {outcomes}");
        Assert.Equal(Records, outcomes.Total);

        // Every poison record is on the dead-letter topic, raw and unchanged, with a reason; no other letter is there.
        var poison = outcomes.Of("poison");
        var letters = ReadLetters(harness.DeadLetterTopic, (int)poison);
        var lettered = new HashSet<int>();
        foreach (var letter in letters)
        {
            Assert.Equal(DeadLetterKinds.Poison, Header(letter, DeadLetterKinds.KindHeader));
            Assert.False(string.IsNullOrWhiteSpace(Header(letter, DeadLetterKinds.ReasonHeader)));
            var position = (int.Parse(Header(letter, DeadLetterKinds.SourcePartitionHeader), CultureInfo.InvariantCulture), long.Parse(Header(letter, DeadLetterKinds.SourceOffsetHeader), CultureInfo.InvariantCulture));
            Assert.True(byPosition.TryGetValue(position, out var index), $"seed {seed}: a letter for {position}, which was not produced");
            Assert.True(lettered.Add(index), $"seed {seed}: two letters for record {index}");
            Assert.Equal(sent[index].Value, letter.Message.Value);
        }

        Assert.Equal(0, await servers.Kafka.GetEndOffsetsAsync(harness.DeadLetterTopic).ContinueWith(t => t.Result.Values.Sum(), TaskScheduler.Default) - letters.Count);
        Assert.All(lettered, i => Assert.NotEqual("sentinel", sent[i].Mutation));
        var remaining = await regions.RemainingAsync(sentinels, regions.Regions[0]);
        remaining.AddRange(await regions.RemainingAsync(sentinels, regions.Regions[1]));
        Assert.True(remaining.Count == 0, $"seed {seed}: the good records between the broken ones were applied, but {string.Join(", ", remaining)} stayed");
        Assert.True(poison > Records / 10 && outcomes.Of("invalidated") > Records / 10, $"seed {seed}: the mutations should give both outcomes ({outcomes})");
    }

    private List<ConsumeResult<byte[], byte[]>> ReadLetters(string topic, int count)
    {
        using var consumer = new ConsumerBuilder<byte[], byte[]>(servers.Kafka.CreateConsumerConfig(ServersFixture.UniqueName("letters"))).Build();
        consumer.Assign(new TopicPartitionOffset(topic, 0, Offset.Beginning));
        var records = new List<ConsumeResult<byte[], byte[]>>(count);
        while (records.Count < count)
        {
            records.Add(consumer.Consume(Deadline) ?? throw new XunitException($"only {records.Count} of {count} letters on {topic}"));
        }

        return records;
    }

    private static string Header(ConsumeResult<byte[], byte[]> record, string name) =>
        Encoding.UTF8.GetString(record.Message.Headers.GetLastBytes(name));
}
