using System.Text;
using Confluent.Kafka;
using Invalidator.IntegrationTests.Diagnostics;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.TestData;
using Invalidator.Worker.DeadLetters;

namespace Invalidator.IntegrationTests.Worker;

/// <summary>
/// The worker end to end on the project's record shapes (TestData/RecordShapes): every record on its own topic of a
/// real Kafka-protocol broker, deletes in two real Redis servers. Each record's keys and tag members go, the keys a
/// wrong rendering would name stay, the two undecodable records (and only they) are dead-lettered with their
/// reasons, and every record is counted under its outcome and every unrendered template under
/// <c>invalidator_unresolved_templates_total</c> and in the log, with its reason.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class RecordShapeInvalidationTests(ServersFixture servers)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Every_record_shape_invalidates_what_it_should_and_reports_what_it_cannot()
    {
        await using var harness = new WorkerHarness(servers, File.ReadAllText(RecordShapes.RulesPath), "shapes");
        // The records' topics name the server "mall": this test's own server name replaces it, so it owns its topics.
        var server = ServersFixture.UniqueName("mall");
        var shapes = RecordShapes.All().Select(s => (Shape: s, Topic: string.Join('.', s.Topic.Split('.').Select(p => p == "mall" ? server : p)))).ToList();
        var topics = shapes.Select(s => s.Topic).Distinct(StringComparer.Ordinal).ToList();
        foreach (var (topic, i) in topics.Select((t, i) => (t, i)))
        {
            await servers.Kafka.CreateTopicAsync(topic, 1);
            harness.Settings[$"Invalidator:Kafka:Topics:{i}"] = topic;
        }

        await servers.Kafka.CreateTopicAsync(harness.DeadLetterTopic, 1);
        var regions = await RegionKeys.ConnectAsync(servers, harness.KeyPrefix);
        var keys = shapes.SelectMany(s => s.Shape.Expect.Keys).Distinct().ToList();
        var kept = shapes.SelectMany(s => s.Shape.Expect.Kept).Distinct().ToList();
        var tags = shapes.SelectMany(s => s.Shape.Expect.Tags).Distinct().ToList();
        var keptTags = shapes.SelectMany(s => s.Shape.Expect.KeptTags).Distinct().ToList();
        Assert.Empty(kept.Intersect(keys));
        Assert.Empty(keptTags.Intersect(tags));
        await regions.SetAsync([.. keys, .. kept, .. tags.Concat(keptTags).Select(Member)]);
        foreach (var db in regions.Regions)
        {
            foreach (var tag in tags.Concat(keptTags))
            {
                await db.SetAddAsync(harness.KeyPrefix + "tag:" + tag, Member(tag));
            }
        }

        var produced = new Dictionary<(string Topic, long Offset), RecordShape>();
        foreach (var (shape, topic) in shapes)
        {
            var at = await servers.Kafka.ProduceAsync(topic, 0, shape.Key.Length == 0 ? null : shape.Key, shape.Value.Length == 0 ? null : shape.Value);
            produced[(topic, at.Offset.Value)] = shape;
        }

        var host = await harness.StartAsync();
        foreach (var topic in topics)
        {
            await Eventually.AssertAsync(async () => await servers.Kafka.GetLagAsync(harness.GroupId, topic) == 0, Deadline, $"{topic} is committed to its end");
        }

        // Every discrepancy is collected, so that one run names every record shape that went wrong.
        var problems = new List<string>();
        foreach (var (shape, _) in shapes)
        {
            for (var i = 0; i < regions.Regions.Length; i++)
            {
                var region = servers.Regions[i];
                var remaining = await regions.RemainingAsync([.. shape.Expect.Keys, .. shape.Expect.Tags.Select(Member)], regions.Regions[i]);
                string[] mustStay = [.. shape.Expect.Kept, .. shape.Expect.KeptTags.Select(Member)];
                var lost = mustStay.Except(await regions.RemainingAsync(mustStay, regions.Regions[i]));
                problems.AddRange(remaining.Select(k => $"{shape.Name}: {k} is still cached in {region}"));
                problems.AddRange(lost.Select(k => $"{shape.Name}: {k} was deleted in {region} (a wrong rendering)"));
            }
        }

        // Only the undecodable records are dead-lettered, each with its reason.
        var poison = shapes.Where(s => s.Shape.Expect.Kind == "Poison").ToList();
        var letterCount = (await servers.Kafka.GetEndOffsetsAsync(harness.DeadLetterTopic)).Values.Sum();
        var letters = ReadAll(harness.DeadLetterTopic, (int)letterCount);
        var lettered = new HashSet<RecordShape>();
        foreach (var letter in letters)
        {
            var source = (Header(letter, DeadLetterKinds.SourceTopicHeader), long.Parse(Header(letter, DeadLetterKinds.SourceOffsetHeader), System.Globalization.CultureInfo.InvariantCulture));
            var shape = produced[source];
            lettered.Add(shape);
            var reason = Header(letter, DeadLetterKinds.ReasonHeader);
            if (shape.Expect.Kind != "Poison" || !reason.Contains(shape.Expect.Reason!, StringComparison.Ordinal))
            {
                problems.Add($"{shape.Name}: dead-lettered ({reason})");
            }
        }

        problems.AddRange(poison.Where(p => !lettered.Contains(p.Shape)).Select(p => $"{p.Shape.Name}: not dead-lettered"));

        // Every record counted under its outcome; every template that rendered from no image counted and logged.
        using var http = new WorkerHttp(host);
        var samples = PrometheusText.Parse(await http.MetricsAsync());
        foreach (var group in shapes.GroupBy(s => (s.Topic, s.Shape.Expect.Outcome)))
        {
            var counted = samples.Where(s => s.Name == "invalidator_records_total" && s.Has("topic", group.Key.Topic) && s.Has("outcome", group.Key.Outcome)).Sum(s => s.Value);
            if (group.Count() != counted)
            {
                problems.Add($"{string.Join(", ", group.Select(s => s.Shape.Name))}: {counted} counted as outcome {group.Key.Outcome}, expected {group.Count()}");
            }
        }

        var unresolved = shapes.SelectMany(s => s.Shape.Expect.Unresolved.Select(u => (s.Shape.Name, s.Shape.Expect.Table, u.Template, s.Shape.Expect.Reason)));
        foreach (var group in unresolved.GroupBy(u => (u.Table, u.Template)))
        {
            var counted = samples.Where(s => s.Name == "invalidator_unresolved_templates_total" && s.Has("table", group.Key.Table!) && s.Has("template", group.Key.Template)).Sum(s => s.Value);
            if (group.Count() != counted)
            {
                problems.Add($"{string.Join(", ", group.Select(u => u.Name).Distinct())}: unresolved {group.Key.Template} counted {counted} times, expected {group.Count()}");
            }

            problems.AddRange(group
                .Where(u => !harness.Logs.Entries.Any(e => e.EventId == 3000
                    && e.Message.Contains($"'{u.Template}' of {u.Table}", StringComparison.Ordinal)
                    && e.Message.Contains(u.Reason ?? "", StringComparison.Ordinal)))
                .Select(u => $"{u.Name}: no log of unresolved {u.Template} with reason '{u.Reason}'"));
        }

        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    // The cached key the application registered in a tag's set.
    private static string Member(string tag) => "member-of:" + tag;

    private List<ConsumeResult<byte[], byte[]>> ReadAll(string topic, int count)
    {
        using var consumer = new ConsumerBuilder<byte[], byte[]>(servers.Kafka.CreateConsumerConfig(ServersFixture.UniqueName("reader"))).Build();
        consumer.Assign(new TopicPartitionOffset(topic, 0, Offset.Beginning));
        var records = new List<ConsumeResult<byte[], byte[]>>();
        while (records.Count < count)
        {
            records.Add(consumer.Consume(Deadline) ?? throw new Xunit.Sdk.XunitException($"only {records.Count} of {count} records on {topic}"));
        }

        return records;
    }

    private static string Header(ConsumeResult<byte[], byte[]> record, string name) =>
        Encoding.UTF8.GetString(record.Message.Headers.GetLastBytes(name));
}
