using Confluent.Kafka;
using Invalidator.Worker.Options;

namespace Invalidator.Worker.Sources.Kafka;

/// <summary>
/// The dead-letter producer's configuration: the worker's defaults, the consumer's way into the cluster
/// (<c>security.protocol</c>, <c>sasl.*</c>, <c>ssl.*</c>) unless <c>Invalidator:Kafka:Producer</c> gives its own, then
/// <c>Invalidator:Kafka:Producer</c> over them. A cluster that needs SASL or TLS is configured once, for the consumer,
/// and the producer reaches the same brokers the same way.
/// </summary>
internal static class DeadLetterProducerSettings
{
    public static ProducerConfig Build(KafkaOptions kafka)
    {
        var config = new ProducerConfig
        {
            BootstrapServers = kafka.BootstrapServers,
            Acks = Acks.All,
            EnableIdempotence = true,
            ClientId = "invalidator-dead-letters",
            // Poison records are kept whole, oversized ones included; a letter the broker refuses is split or
            // stored as a reference (KafkaDeadLetterWriter), never retried forever.
            MessageMaxBytes = 64 * 1024 * 1024,
        };

        // All or nothing: the producer's own security settings are never mixed with the consumer's.
        if (!kafka.Producer.Keys.Any(IsSecurity))
        {
            foreach (var (key, value) in kafka.Consumer.Where(p => IsSecurity(p.Key)))
            {
                config.Set(key, value);
            }
        }

        foreach (var (key, value) in kafka.Producer)
        {
            config.Set(key, value);
        }

        return config;
    }

    /// <summary>
    /// An admin client that reaches the brokers exactly as the producer does, and never creates the topic it asks about
    /// (a metadata request from a producer may auto-create it; the topic appears with the first letter).
    /// </summary>
    public static AdminClientConfig BuildCheck(KafkaOptions kafka)
    {
        var admin = new AdminClientConfig(Build(kafka).Where(p => !ProducerOnly.Contains(p.Key)).ToDictionary(p => p.Key, p => p.Value));
        admin.Set("allow.auto.create.topics", "false");
        admin.ClientId = "invalidator-dead-letters-check";
        return admin;
    }

    /// <summary>Whether a librdkafka setting says how the client reaches and authenticates to the brokers.</summary>
    public static bool IsSecurity(string key) =>
        key == "security.protocol" || key.StartsWith("sasl.", StringComparison.Ordinal) || key.StartsWith("ssl.", StringComparison.Ordinal)
        || key == "enable.ssl.certificate.verification";

    private static readonly HashSet<string> ProducerOnly = new(StringComparer.Ordinal)
    {
        "acks", "request.required.acks", "enable.idempotence", "message.timeout.ms", "delivery.timeout.ms", "linger.ms",
        "queue.buffering.max.ms", "batch.num.messages", "batch.size", "compression.type", "compression.codec", "retries",
        "message.send.max.retries", "queue.buffering.max.messages", "queue.buffering.max.kbytes", "partitioner",
        "enable.gapless.guarantee", "transactional.id", "transaction.timeout.ms", "sticky.partitioning.linger.ms",
    };
}
