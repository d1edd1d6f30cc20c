using Confluent.Kafka;
using Invalidator.Worker.Options;

namespace Invalidator.Worker.Sources.Kafka;

/// <summary>The brokers, before any consumer exists: closing a consumer that never reached a broker can block for long.</summary>
internal static class KafkaBrokers
{
    /// <summary>
    /// Fails the start with a clear message when no broker answers: librdkafka would otherwise retry quietly
    /// forever and leave a process that looks alive but consumes nothing.
    /// </summary>
    public static async Task CheckAsync(KafkaOptions kafka, CancellationToken stoppingToken)
    {
        var config = KafkaConsumerSettings.BuildAdmin(kafka);
        using var admin = new AdminClientBuilder(config).SetLogHandler((_, _) => { }).Build();
        try
        {
            await Task.Run(() => admin.GetMetadata(kafka.StartupTimeout), stoppingToken).ConfigureAwait(false);
        }
        catch (KafkaException ex)
        {
            throw new InvalidOperationException(
                $"Cannot reach Kafka at {kafka.BootstrapServers} within {kafka.StartupTimeout.TotalSeconds:0} s ({ex.Error.Reason}). " +
                "Check Invalidator:Kafka:BootstrapServers and that the brokers are up.",
                ex);
        }
    }
}
