using System.Text;
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
/// Issue 17 §0 in the Kafka consumer's deserializers: a value the decoder cannot read is no value, a record it cannot
/// decode is poison with the reason, and nothing escapes to Confluent (which would wrap it and move past the record).
/// Only a deserialization error is taken for a record to dead-letter; other consume errors are retried by librdkafka.
/// </summary>
public sealed class UnreadableRecordTests : IDisposable
{
    private const string Topic = "srv.public.t";

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly string _directory = Directory.CreateTempSubdirectory("unreadable-record-").FullName;
    private readonly PlanningDeserializer _deserializer;
    private readonly OpenBatch _open;

    public UnreadableRecordTests()
    {
        var path = Path.Combine(_directory, "rules.yaml");
        File.WriteAllText(path, "tables:\n  public.t:\n    keys: [\"t:{id}\"]\n");
        var events = new WorkerEvents([new InvalidatorMetrics(_services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>())]);
        var planner = new RecordIntake(LiveRules.Fixed(LoadedRules.Load(path, _time.GetUtcNow()).Rules), WorkerMode.Live, events, NullLogger<RecordIntake>.Instance, _time);
        _open = new OpenBatch(planner, new BatchFill(new BatchingOptions(), _time), int.MaxValue);
        _deserializer = new PlanningDeserializer(_open);
    }

    public void Dispose()
    {
        _services.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public void The_issue_s_record_with_microseconds_in_ts_ms_is_planned_without_a_commit_time()
    {
        var planned = Deserialize("""{"op":"c","after":{"id":1},"source":{"schema":"public","table":"t","ts_ms":1562202942666382}}""");

        Assert.Equal(RecordOutcome.Invalidated, planned.Planned.Outcome);
        Assert.Null(planned.Planned.CommitTime);
        Assert.Equal(["t:1"], _open.Batch.Invalidations.Keys);
    }

    [Fact]
    public void A_record_with_a_decimal_scale_no_database_has_is_poison_with_the_scale_as_its_reason()
    {
        var value = """{"schema":{"type":"struct","fields":[{"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"-2147483648"},"field":"id"}]},"payload":{"id":"AQ=="}}""";

        var planned = Deserialize(value);

        Assert.True(planned.Planned.IsPoison);
        Assert.Contains("scale -2147483648", planned.Planned.PoisonReason, StringComparison.Ordinal);
        Assert.Equal(Encoding.UTF8.GetBytes(value), planned.PoisonValue);
    }

    [Theory]
    [InlineData(ErrorCode.Local_ValueDeserialization, true)]
    [InlineData(ErrorCode.Local_KeyDeserialization, true)]
    [InlineData(ErrorCode.Local_TimedOut, false)]
    [InlineData(ErrorCode.UnknownTopicOrPart, false)]
    public void Only_a_deserialization_error_gives_a_raw_record_to_dead_letter(ErrorCode code, bool dead)
    {
        var raw = new ConsumeResult<byte[], byte[]>
        {
            TopicPartitionOffset = new TopicPartitionOffset(Topic, 0, 7),
            Message = new Message<byte[], byte[]> { Key = [], Value = "{"u8.ToArray() },
        };

        var found = KafkaChangeSource.Undeserializable(new ConsumeException(raw, new Error(code), new InvalidOperationException("boom")));

        Assert.Equal(dead, found is not null);
    }

    private PlannedMessage Deserialize(string value)
    {
        ((IDeserializer<KeyKept?>)_deserializer).Deserialize([], isNull: true, new SerializationContext(MessageComponentType.Key, Topic));
        return ((IDeserializer<PlannedMessage>)_deserializer).Deserialize(Encoding.UTF8.GetBytes(value), isNull: false, new SerializationContext(MessageComponentType.Value, Topic));
    }
}
