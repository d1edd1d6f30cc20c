using System.ComponentModel.DataAnnotations;

namespace Invalidator.Worker.Options;

internal sealed class KafkaOptions
{
    /// <summary><c>Invalidator:Kafka:BootstrapServers</c>.</summary>
    [Required(ErrorMessage = "Invalidator:Kafka:BootstrapServers is required (for example localhost:9092).")]
    public string BootstrapServers { get; set; } = "";

    /// <summary><c>Invalidator:Kafka:GroupId</c>: a new group starts from the earliest offset, so no change is skipped.</summary>
    [Required(ErrorMessage = "Invalidator:Kafka:GroupId is required (for example invalidator).")]
    public string GroupId { get; set; } = "invalidator";

    /// <summary><c>Invalidator:Kafka:Topics</c>: the Debezium topics to read. Give this or <see cref="TopicPattern"/>.</summary>
    public List<string> Topics { get; set; } = [];

    /// <summary><c>Invalidator:Kafka:TopicPattern</c>: a regular expression of topics to read.</summary>
    public string? TopicPattern { get; set; }

    /// <summary><c>Invalidator:Kafka:Consumer</c>: any librdkafka consumer setting, applied over the worker's defaults.</summary>
    public Dictionary<string, string> Consumer { get; set; } = new(StringComparer.Ordinal);

    /// <summary>How long the start waits for the brokers to answer before it gives up with a clear error.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan StartupTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary><c>Invalidator:Kafka:Producer</c>: librdkafka settings for the dead-letter producer.</summary>
    public Dictionary<string, string> Producer { get; set; } = new(StringComparer.Ordinal);
}
