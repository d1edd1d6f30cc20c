using Confluent.Kafka;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Events;
using Invalidator.Worker.Options;
using Invalidator.Worker.Processing;
using Invalidator.Worker.RulesReload;
using Invalidator.Worker.Sources.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Invalidator.Worker.Tests.Sources.Kafka;

/// <summary>
/// The Kafka consumer's deserializers plan each record as Confluent hands it over: a batch takes the live rules version
/// at its first record and keeps it for the others, as the sources did before planning moved into the deserializers.
/// </summary>
public sealed class PlanningDeserializerTests : IDisposable
{
    private const string Topic = "dbserver1.public.customers";
    private static readonly byte[] Key = """{"id": 7}"""u8.ToArray();
    private static readonly byte[] Value = """{"before":null,"after":{"id":7},"source":{"schema":"public","table":"customers"},"op":"u"}"""u8.ToArray();

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly string _directory = Directory.CreateTempSubdirectory("planning-deserializer-").FullName;
    private readonly string _path;
    private readonly WorkerEvents _events;

    public PlanningDeserializerTests()
    {
        _path = Path.Combine(_directory, "rules.yaml");
        WriteRules("customer:{id}");
        _events = new WorkerEvents([new InvalidatorMetrics(_services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>())]);
    }

    public void Dispose()
    {
        _services.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public void A_batch_takes_the_reloaded_rules_at_its_first_record_and_keeps_them_for_the_rest()
    {
        var live = new LiveRules(LoadedRules.Load(_path, _time.GetUtcNow()));
        var reloader = new RulesReloader(live, _events, NullLoggerFactory.Instance, _time);
        var planner = new RecordIntake(live, WorkerMode.Live, _events, NullLogger<RecordIntake>.Instance, _time);
        var open = new OpenBatch(planner, new BatchFill(new BatchingOptions(), _time), int.MaxValue);
        var deserializer = new PlanningDeserializer(open);

        Consume(deserializer, open, offset: 0);
        Assert.Equal(["customer:7"], open.Batch.Invalidations.Keys);

        // Reloaded mid-batch: the open batch's later records keep the version its first record took.
        WriteRules("client:{id}");
        Assert.Equal(RulesReloadResult.Applied, reloader.Reload(RulesReloader.FileChanged));
        Consume(deserializer, open, offset: 1);
        Assert.Equal(["customer:7"], open.Batch.Invalidations.Keys);
        Assert.NotEqual(live.Current.Version, planner.Rules.Version);

        // The next batch's first record takes the new version, even though the reload came before the batch existed.
        open.Cut(new SourceBatch());
        Consume(deserializer, open, offset: 2);
        Assert.Equal(live.Current.Version, planner.Rules.Version);
        Assert.Equal(["client:7"], open.Batch.Invalidations.Keys);
    }

    [Fact]
    public void A_poison_record_comes_back_with_its_key_and_value_for_the_dead_letter_and_another_record_without()
    {
        var planner = new RecordIntake(LiveRules.Fixed(LoadedRules.Load(_path, _time.GetUtcNow()).Rules), WorkerMode.Live, _events, NullLogger<RecordIntake>.Instance, _time);
        var open = new OpenBatch(planner, new BatchFill(new BatchingOptions(), _time), int.MaxValue);
        var deserializer = new PlanningDeserializer(open);
        var poison = "{not json"u8.ToArray();

        var message = Consume(deserializer, open, offset: 0, poison);
        Assert.True(message.Planned.IsPoison);
        Assert.Equal(Key, message.PoisonKey);
        Assert.Equal(poison, message.PoisonValue);

        message = Consume(deserializer, open, offset: 1);
        Assert.False(message.Planned.IsPoison);
        Assert.Equal((null, null), (message.PoisonKey, message.PoisonValue));
    }

    /// <summary>What Confluent's Consume does with one record (the key's deserializer, then the value's), then the runner's tracking.</summary>
    private static PlannedMessage Consume(PlanningDeserializer deserializer, OpenBatch open, long offset, byte[]? value = null)
    {
        ((IDeserializer<KeyKept?>)deserializer).Deserialize(Key, isNull: false, new SerializationContext(MessageComponentType.Key, Topic));
        var message = ((IDeserializer<PlannedMessage>)deserializer).Deserialize(value ?? Value, isNull: false, new SerializationContext(MessageComponentType.Value, Topic));
        open.Add(SourceRead.Record(new SourcePartition(Topic, 0), offset, offset + 1, message.Planned.CommitTime, poison: null));
        return message;
    }

    private void WriteRules(string template) =>
        File.WriteAllText(_path, $"tables:\n  public.customers:\n    keys: [\"{template}\"]\n");
}
