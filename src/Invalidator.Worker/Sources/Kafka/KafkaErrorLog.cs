using Confluent.Kafka;
using Invalidator.Worker.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Invalidator.Worker.Sources.Kafka;

/// <summary>
/// Logs a Kafka client's non-fatal errors, at most once per error code every 10 s: with a broker down,
/// librdkafka reports a failed connect on every reconnect attempt, which would bury every other line.
/// </summary>
internal sealed class KafkaErrorLog(ILogger logger, TimeProvider time)
{
    private readonly RateLimitedLog _limit = new(TimeSpan.FromSeconds(10), time);

    public void Report(Error error)
    {
        if (_limit.ShouldLog(error.Code, out var suppressed))
        {
            Log.KafkaError(logger, error.Code.ToString(), error.Reason, suppressed);
        }
    }

    /// <summary>librdkafka's own log lines, which it would otherwise print to stderr: debug level, errors already go to <see cref="Report"/>.</summary>
    public void Trace(LogMessage message) => Log.KafkaClientLog(logger, message.Name, message.Facility, message.Message);
}
