using System.Text.Json;

namespace Invalidator.Worker.Diagnostics;

/// <summary>One partition's lag as librdkafka last reported it.</summary>
/// <param name="LagMessages">Log-end offset minus committed offset; null when librdkafka does not know the log end yet.</param>
internal readonly record struct PartitionOffsets(long? LagMessages);

/// <summary>
/// Reads per-partition lag from librdkafka's statistics JSON (<c>statistics.interval.ms</c>). The consumer's
/// statistics handler only keeps the string; parsing happens here, when someone reads the lag (a scrape,
/// the status page), so the consume loop never pays for it.
/// </summary>
internal static class KafkaStatistics
{
    private const long Unknown = -1001; // RD_KAFKA_OFFSET_INVALID

    public static Dictionary<(string Topic, int Partition), PartitionOffsets> Parse(string json)
    {
        var result = new Dictionary<(string, int), PartitionOffsets>();
        using var document = JsonDocument.Parse(json);
        if (!document.RootElement.TryGetProperty("topics", out var topics) || topics.ValueKind != JsonValueKind.Object)
        {
            return result;
        }

        foreach (var topic in topics.EnumerateObject())
        {
            if (!topic.Value.TryGetProperty("partitions", out var partitions) || partitions.ValueKind != JsonValueKind.Object)
            {
                continue;
            }

            foreach (var entry in partitions.EnumerateObject())
            {
                var partition = entry.Value;
                var id = Int(partition, "partition");
                if (id < 0)
                {
                    continue; // -1 is librdkafka's internal "unassigned" partition.
                }

                var high = Int(partition, "hi_offset");
                if (high < 0)
                {
                    continue; // No fetch answered yet: the log end is not known.
                }

                var committed = Int(partition, "committed_offset");
                long? lag = Int(partition, "consumer_lag") is var reported and >= 0 ? reported : null;
                if (committed < 0)
                {
                    // Nothing committed: a new group starts at the earliest offset, so everything retained is unacknowledged.
                    lag ??= high - Math.Max(Int(partition, "lo_offset"), 0);
                }

                result[(topic.Name, (int)id)] = new PartitionOffsets(lag);
            }
        }

        return result;
    }

    private static long Int(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var number)
            ? number
            : Unknown;
}
